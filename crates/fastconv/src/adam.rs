//! Adam in one pass per parameter on flex: burn's `Adam` (no weight decay, no AMSGrad) runs
//! thirteen element-wise tensor operations per parameter and step — each a separate flex call
//! with its own output allocation — where this reads the gradient once and updates the
//! parameter and both moments in place.
//!
//! Architecture Invariant: [`FusedAdam`] computes exactly what burn's `Adam` computes, bit for
//! bit: the same f32 operations in the same order on every element (flex's scalar operations
//! take their scalar as f32, so the learning rate is rounded to f32 as there). Its state is
//! burn's [`AdamState`], so a checkpoint written with one loads into the other. Anywhere but an f32
//! tensor on flex it hands the step to burn's `Adam`. Tests:
//! `tests/fastconv/adam.rs` (bit-equal parameters and moments over several steps, state files
//! exchanged both ways).

use burn::backend::Flex;
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{DType, Device, Tensor};
use burn_flex::FlexTensor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Adam with burn's defaults for what it leaves out (no weight decay, no AMSGrad, no gradient
/// clipping); [`FusedAdam::init`] makes the [`ModuleOptimizer`] a training loop steps.
#[derive(Clone)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// burn's Adam with the same settings, for tensors that are not f32 on flex.
    stock: Adam,
    /// Parameter updates done in the fused pass (clones share it).
    fused: Arc<AtomicU64>,
}

impl std::fmt::Debug for FusedAdam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FusedAdam")
            .field("beta_1", &self.beta_1)
            .field("beta_2", &self.beta_2)
            .field("epsilon", &self.epsilon)
            .finish()
    }
}

impl FusedAdam {
    /// Adam with decay rates `beta_1`, `beta_2` and `epsilon` (burn's `AdamConfig` fields of the
    /// same names).
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        let stock = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .build();
        FusedAdam {
            beta_1,
            beta_2,
            epsilon,
            stock,
            fused: Arc::default(),
        }
    }

    /// How many parameter updates this optimizer (and its clones) did in the fused pass; the
    /// others went to burn's Adam.
    pub fn fused_steps(&self) -> u64 {
        self.fused.load(Ordering::Relaxed)
    }

    /// The module optimizer that steps every parameter with this Adam.
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

/// Whether `t` is an f32 tensor on flex (not tracked by autodiff: the optimizer's tensors are
/// the parameters' inner values).
fn on_flex<const D: usize>(t: &Tensor<D>) -> bool {
    let device = t.device();
    crate::is_fast(&device) && !device.is_autodiff() && t.dtype() == DType::F32
}

/// An f32 flex tensor's primitive, whose storage is exactly its elements in order (a view is
/// copied out first), so it can be updated in place.
fn dense_flex<const D: usize>(t: Tensor<D>) -> FlexTensor {
    let n = t.shape().num_elements();
    let device = t.device();
    let f = match t.try_into_primitive::<Flex>() {
        Ok(f) => f,
        // Not reachable: callers check `on_flex` first; said rather than assumed.
        Err(e) => panic!("an f32 tensor on {device:?} is not a flex tensor: {e:?}"),
    };
    let exact = |f: &FlexTensor| f.as_slice::<f32>().map(<[f32]>::len) == Some(n) && f.storage::<f32>().len() == n;
    if exact(&f) { f } else { f.to_contiguous() }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let shape = tensor.shape();
        let same = |t: &Tensor<D>| on_flex(t) && t.shape() == shape;
        let state_ok = state.as_ref().is_none_or(|s| {
            s.momentum.max_moment_2.is_none() && same(&s.momentum.moment_1) && same(&s.momentum.moment_2)
        });
        if !(on_flex(&tensor) && same(&grad) && state_ok) {
            return self.stock.step(lr, tensor, grad, state);
        }
        let mut p = dense_flex(tensor);
        let g = dense_flex(grad);
        let g = g.storage::<f32>();
        let (f1, f2) = (1.0 - self.beta_1, 1.0 - self.beta_2);
        let (mut m, mut v, time) = match state {
            Some(s) => {
                let s = s.momentum;
                (dense_flex(s.moment_1), dense_flex(s.moment_2), s.time + 1)
            }
            None => (
                FlexTensor::empty(shape.clone(), DType::F32),
                FlexTensor::empty(shape.clone(), DType::F32),
                1,
            ),
        };
        // The scalars as burn's `AdaptiveMomentum::transform` computes them.
        let t = time as i32;
        let bias_correction2_sqrt = (1.0 - self.beta_2.powi(t)).sqrt();
        let combined = bias_correction2_sqrt / (1.0 - self.beta_1.powi(t));
        let eps = self.epsilon * bias_correction2_sqrt;
        let lr = lr as f32;
        let (ms, vs, ps) = (m.storage_mut::<f32>(), v.storage_mut::<f32>(), p.storage_mut::<f32>());
        if time == 1 {
            // burn's first step: m = g·(1 − β1), v = g²·(1 − β2), with no earlier moment.
            for (((m, v), p), &g) in ms.iter_mut().zip(vs.iter_mut()).zip(ps.iter_mut()).zip(g) {
                (*m, *v) = (g * f1, (g * g) * f2);
                *p = update(*p, *m, *v, (combined, eps, lr));
            }
        } else {
            for (((m, v), p), &g) in ms.iter_mut().zip(vs.iter_mut()).zip(ps.iter_mut()).zip(g) {
                *m = *m * self.beta_1 + g * f1;
                *v = *v * self.beta_2 + (g * g) * f2;
                *p = update(*p, *m, *v, (combined, eps, lr));
            }
        }
        self.fused.fetch_add(1, Ordering::Relaxed);
        let tensor = Tensor::from_primitive::<Flex>(p);
        let momentum = AdaptiveMomentumState::new(
            time,
            Tensor::from_primitive::<Flex>(m),
            Tensor::from_primitive::<Flex>(v),
        );
        (tensor, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// `p − lr·(m·combined / (√v + eps))`, in burn's order: `mul_scalar`, `div` by `sqrt` then
/// `add_scalar`, `mul_scalar(lr)`, `sub`.
#[inline(always)]
fn update(p: f32, m: f32, v: f32, (combined, eps, lr): (f32, f32, f32)) -> f32 {
    p - ((m * combined) / (v.sqrt() + eps)) * lr
}
