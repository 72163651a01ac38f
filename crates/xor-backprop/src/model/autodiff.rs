//! The same 3→4→1 network on burn tensors, differentiated by burn's autodiff on any backend
//! (trained by [`crate::training::train_by_autodiff`]). Weights come from (and go back to) the
//! hand-written [`Mlp`], so both paths start from the same point and can be compared step by
//! step.

use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::{DType, Device, Tensor};

use super::HIDDEN;
use super::manual::{Gradients, Mlp};
use crate::data::{tensor, tensors};
// The training loop lives in `training`; it is also named here, where the tests look for it.
pub use crate::training::train_by_autodiff as train;

/// h = σ(X · W1), ŷ = σ(h · W2).
#[derive(Module, Debug)]
pub struct XorNet {
    /// `[3, HIDDEN]`.
    pub w1: Param<Tensor<2>>,
    /// `[HIDDEN, 1]`.
    pub w2: Param<Tensor<2>>,
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

    // ANCHOR: forward
    /// ŷ for the four XOR inputs.
    ///
    /// # Shapes
    /// - `x`: `[4, 3]` → `[4, 1]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = sigmoid(x.matmul(self.w1.val())); // [4, HIDDEN]
        sigmoid(h.matmul(self.w2.val())) // [4, 1]
    }
    // ANCHOR_END: forward
}

/// L = ½ Σ (ŷ − y)².
pub fn loss(out: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    (out - y).powi_scalar(2).sum().mul_scalar(0.5)
}

// ANCHOR: gradients
/// ∂L/∂W1 and ∂L/∂w2 at `m`'s weights, by burn's autodiff on `device` in `dtype`.
pub fn gradients(m: &Mlp, device: &Device, dtype: DType) -> Gradients {
    let device = device.clone().autodiff();
    let net = XorNet::from_mlp(m, &device, dtype);
    let (x, y) = tensors(&device, dtype);
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
// ANCHOR_END: gradients
