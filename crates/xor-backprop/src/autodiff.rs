//! The same 3→4→1 network on burn tensors, differentiated by burn's autodiff and trained on
//! any backend. Weights come from (and go back to) the hand-written [`Mlp`], so both paths
//! start from the same point and can be compared step by step.

use burn::module::{Module, Param};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::manual::{Gradients, HIDDEN, Mlp, X, Y};

/// h = σ(X · W1), ŷ = σ(h · W2).
#[derive(Module, Debug)]
pub struct XorNet {
    /// `[3, HIDDEN]`.
    pub w1: Param<Tensor<2>>,
    /// `[HIDDEN, 1]`.
    pub w2: Param<Tensor<2>>,
}

fn tensor<const D: usize>(values: Vec<f64>, shape: [usize; D], device: &Device, dtype: DType) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape).convert_dtype(dtype), (device, dtype))
}

fn read(t: Tensor<2>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

impl XorNet {
    /// The network with `m`'s weights, as tensors of `dtype` on `device`.
    pub fn from_mlp(m: &Mlp, device: &Device, dtype: DType) -> Self {
        XorNet {
            w1: Param::from_tensor(tensor(
                m.w1.iter().flatten().copied().collect(),
                [3, HIDDEN],
                device,
                dtype,
            )),
            w2: Param::from_tensor(tensor(m.w2.to_vec(), [HIDDEN, 1], device, dtype)),
        }
    }

    /// The weights back as a hand-written [`Mlp`].
    pub fn to_mlp(&self) -> Mlp {
        let flat: Vec<f64> = read(self.w1.val()).into_iter().chain(read(self.w2.val())).collect();
        Mlp::from_flat(&flat)
    }

    /// ŷ for the four XOR inputs.
    ///
    /// # Shapes
    /// - `x`: `[4, 3]` → `[4, 1]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = sigmoid(x.matmul(self.w1.val())); // [4, HIDDEN]
        sigmoid(h.matmul(self.w2.val())) // [4, 1]
    }
}

/// The XOR inputs and targets as tensors.
pub fn data(device: &Device, dtype: DType) -> (Tensor<2>, Tensor<2>) {
    (
        tensor(X.iter().flatten().copied().collect(), [4, 3], device, dtype),
        tensor(Y.to_vec(), [4, 1], device, dtype),
    )
}

/// L = ½ Σ (ŷ − y)².
pub fn loss(out: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    (out - y).powi_scalar(2).sum().mul_scalar(0.5)
}

/// ∂L/∂W1 and ∂L/∂w2 at `m`'s weights, by burn's autodiff on `device` in `dtype`.
pub fn gradients(m: &Mlp, device: &Device, dtype: DType) -> Gradients {
    let device = device.clone().autodiff();
    let net = XorNet::from_mlp(m, &device, dtype);
    let (x, y) = data(&device, dtype);
    let grads = loss(net.forward(x), y).backward();
    let w1 = read(net.w1.val().grad(&grads).expect("W1 takes part in the loss"));
    let w2 = read(net.w2.val().grad(&grads).expect("W2 takes part in the loss"));
    let flat: Vec<f64> = w1.into_iter().chain(w2).collect();
    let as_mlp = Mlp::from_flat(&flat);
    Gradients {
        w1: as_mlp.w1,
        w2: as_mlp.w2,
    }
}

/// Train with autodiff and plain gradient descent (burn's SGD, no momentum) from `init`;
/// the loss is read back every `every` steps (each read waits for the device).
pub fn train(init: &Mlp, device: &Device, lr: f64, iterations: usize, every: usize) -> (Mlp, Vec<(usize, f64)>) {
    let device = device.clone().autodiff();
    let dtype = DType::F32;
    let mut net = XorNet::from_mlp(init, &device, dtype);
    let (x, y) = data(&device, dtype);
    let mut optim = SgdConfig::new().init();
    let mut curve = Vec::new();
    for it in 0..=iterations {
        let l = loss(net.forward(x.clone()), y.clone());
        if it % every.max(1) == 0 || it == iterations {
            curve.push((it, l.clone().into_scalar::<f64>()));
        }
        if it == iterations {
            break;
        }
        let grads = GradientsParams::from_grads(l.backward(), &net);
        net = optim.step(lr, net, grads);
    }
    (net.valid().to_mlp(), curve)
}
