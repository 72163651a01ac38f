//! The chain rule on y = σ(w₂ · σ(w₁ · x)): dy/dw₂ and dy/dw₁ written out factor by factor,
//! and the same numbers from burn's autodiff.

use burn::tensor::Device;
use burn::tensor::activation::sigmoid;

use crate::common::{tensor, values};
use crate::sigmoid::sigma;

/// Every intermediate and factor of the hand computation, and autodiff's answers.
#[derive(Debug, Clone)]
pub struct ChainReport {
    /// a = w₁·x.
    pub a: f64,
    /// h = σ(a).
    pub h: f64,
    /// b = w₂·h.
    pub b: f64,
    /// y = σ(b).
    pub y: f64,
    /// σ′(b) = y(1 − y).
    pub dy_db: f64,
    /// σ′(a) = h(1 − h).
    pub dh_da: f64,
    /// dy/dw₂ = σ′(b) · h.
    pub dy_dw2: f64,
    /// dy/dw₁ = σ′(b) · w₂ · σ′(a) · x.
    pub dy_dw1: f64,
    /// y by autodiff's forward pass.
    pub y_autodiff: f64,
    /// dy/dw₂ by autodiff.
    pub dy_dw2_autodiff: f64,
    /// dy/dw₁ by autodiff.
    pub dy_dw1_autodiff: f64,
}

/// Compute both ways.
pub fn run(device: &Device, x: f64, w1: f64, w2: f64) -> ChainReport {
    let a = w1 * x;
    let h = sigma(a);
    let b = w2 * h;
    let y = sigma(b);
    let dy_db = y * (1.0 - y);
    let dh_da = h * (1.0 - h);
    let dy_dw2 = dy_db * h;
    let dy_dw1 = dy_db * w2 * dh_da * x;

    let ad = device.clone().autodiff();
    let w1t = tensor(&[w1], &ad).require_grad();
    let w2t = tensor(&[w2], &ad).require_grad();
    let yt = sigmoid(w2t.clone() * sigmoid(w1t.clone().mul_scalar(x)));
    let grads = yt.clone().sum().backward();
    ChainReport {
        a,
        h,
        b,
        y,
        dy_db,
        dh_da,
        dy_dw2,
        dy_dw1,
        y_autodiff: values(yt)[0],
        dy_dw2_autodiff: values(w2t.grad(&grads).expect("w2 takes part"))[0],
        dy_dw1_autodiff: values(w1t.grad(&grads).expect("w1 takes part"))[0],
    }
}
