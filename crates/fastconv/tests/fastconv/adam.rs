//! `fastconv::adam::FusedAdam` against burn's `Adam` with the same settings: bit-equal
//! parameters and moments after each of several steps (ranks 1, 2 and 4, a transposed view, an
//! f64 tensor that takes burn's path), and through `ModuleOptimizer` on a module, with the
//! optimizer state written by one and read by the other.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{Adam, AdamConfig, AdamState, GradientsParams, ModuleOptimizer, Optimizer};
use burn::tensor::{DType, Device, Distribution, Tensor};
use fastconv::adam::FusedAdam;

const BETAS: (f32, f32) = (0.9, 0.999);
const EPSILON: f32 = 1e-7;

fn stock() -> Adam {
    AdamConfig::new()
        .with_beta_1(BETAS.0)
        .with_beta_2(BETAS.1)
        .with_epsilon(EPSILON)
        .build()
}

fn fused() -> FusedAdam {
    FusedAdam::new(BETAS.0, BETAS.1, EPSILON)
}

/// The tensor's values as bits (f32 or f64), in logical order (also `on_worker`'s tests).
pub(crate) fn bits<const D: usize>(t: &Tensor<D>) -> Vec<u64> {
    let data = t.clone().into_data();
    match t.dtype() {
        DType::F64 => data.iter::<f64>().map(f64::to_bits).collect(),
        _ => data.iter::<f32>().map(|v| u64::from(v.to_bits())).collect(),
    }
}

fn same_state<const D: usize>(a: &AdamState<D>, b: &AdamState<D>, what: &str) {
    assert_eq!(a.momentum.time, b.momentum.time, "{what}: time");
    assert_eq!(
        bits(&a.momentum.moment_1),
        bits(&b.momentum.moment_1),
        "{what}: first moment"
    );
    assert_eq!(
        bits(&a.momentum.moment_2),
        bits(&b.momentum.moment_2),
        "{what}: second moment"
    );
}

/// Six steps of both optimizers from `param`, fresh random gradients each step (some zero, some
/// large), compared bit for bit after each.
fn steps_agree<const D: usize>(param: Tensor<D>, what: &str) -> u64 {
    let (fused, stock) = (fused(), stock());
    let (mut p_f, mut p_s) = (param.clone(), param);
    let (mut s_f, mut s_s): (Option<AdamState<D>>, Option<AdamState<D>>) = (None, None);
    for step in 0..6 {
        let scale = [1.0, 1e-3, 50.0, 0.0, 1.0, 1e-6][step];
        let g = Tensor::<D>::random(p_f.shape(), Distribution::Normal(0.0, 1.0), &p_f.device()).mul_scalar(scale);
        let g = g.cast(p_f.dtype());
        let lr = [1e-3, 1e-3, 3e-4, 1e-2, 1e-3, 0.1][step];
        let (np, ns) = Optimizer::step(&fused, lr, p_f.clone(), g.clone(), s_f.take());
        (p_f, s_f) = (np, ns);
        let (np, ns) = Optimizer::step(&stock, lr, p_s.clone(), g, s_s.take());
        (p_s, s_s) = (np, ns);
        assert_eq!(bits(&p_f), bits(&p_s), "{what}, step {step}: parameters");
        same_state(
            s_f.as_ref().unwrap(),
            s_s.as_ref().unwrap(),
            &format!("{what}, step {step}"),
        );
    }
    fused.fused_steps()
}

#[test]
fn fused_adam_equals_burns_adam_bit_for_bit() {
    let device = Device::flex();
    let normal = Distribution::Normal(0.0, 0.5);
    // Every step of an f32 tensor in the fused pass; none of the f64 one.
    assert_eq!(
        steps_agree(Tensor::<1>::random([64], normal, &device), "rank 1 (a bias)"),
        6
    );
    assert_eq!(
        steps_agree(Tensor::<2>::random([576, 64], normal, &device), "rank 2 (dense1)"),
        6
    );
    assert_eq!(
        steps_agree(Tensor::<4>::random([64, 32, 3, 3], normal, &device), "rank 4 (conv2)"),
        6
    );
    let view = Tensor::<2>::random([6, 9], normal, &device).transpose();
    assert_eq!(steps_agree(view, "a transposed view"), 6);
    let f64_param = Tensor::<2>::random([5, 7], normal, &device).cast(DType::F64);
    assert_eq!(steps_agree(f64_param, "f64 (burn's path)"), 0);
}

#[derive(Module, Debug)]
struct Two {
    a: Linear,
    b: Linear,
}

fn two(device: &Device) -> Two {
    Two {
        a: LinearConfig::new(12, 8).init(device),
        b: LinearConfig::new(8, 3).init(device),
    }
}

fn train(model: Two, optim: &mut ModuleOptimizer, steps: usize, seed: u64) -> Two {
    let device = model.a.weight.val().device();
    let mut model = model;
    for step in 0..steps {
        device.seed(seed + step as u64);
        let x = Tensor::<2>::random([5, 12], Distribution::Normal(0.0, 1.0), &device);
        let loss = model.b.forward(model.a.forward(x).tanh()).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    model
}

fn weights(m: &Two) -> Vec<u64> {
    [m.a.weight.val(), m.b.weight.val()].iter().flat_map(bits).collect()
}

#[test]
fn a_module_trains_the_same_and_the_state_moves_between_the_two() {
    // burn puts a loaded optimizer state on `Device::default()` (wgpu, when compiled in) until
    // the next step moves it: held like the other tests that touch wgpu.
    let _wgpu = super::wgpu_lock();
    let device = Device::flex().autodiff();
    device.seed(3);
    let start = two(&device);
    let counted = fused();
    let mut fused_optim = counted.clone().init();
    let mut stock_optim = ModuleOptimizer::from(stock());
    let f = train(start.clone(), &mut fused_optim, 4, 10);
    let s = train(start, &mut stock_optim, 4, 10);
    assert_eq!(weights(&f), weights(&s), "four steps through ModuleOptimizer");
    assert_eq!(counted.fused_steps(), 4 * 4, "four parameters, four steps, all fused");
    // Each state file read by the other optimizer: four more steps, still the same.
    let fused_then_stock = ModuleOptimizer::from(stock())
        .from_bytes(fused_optim.into_bytes().unwrap())
        .unwrap();
    let stock_then_fused = fused().init().from_bytes(stock_optim.into_bytes().unwrap()).unwrap();
    let (mut a, mut b) = (fused_then_stock, stock_then_fused);
    let (fa, fb) = (train(f.clone(), &mut a, 4, 20), train(s.clone(), &mut b, 4, 20));
    let mut all_fused = fused_optim;
    let ff = train(f, &mut all_fused, 4, 20);
    assert_eq!(weights(&fa), weights(&ff), "fused state continued by burn's Adam");
    assert_eq!(weights(&fb), weights(&ff), "burn's state continued by the fused Adam");
}
