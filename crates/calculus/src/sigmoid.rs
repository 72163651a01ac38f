//! σ(x) = 1 / (1 + e^(−x)) and its derivative σ′(x) = σ(x)(1 − σ(x)), the latter by burn's
//! autodiff and by the formula.

use burn::tensor::Device;
use burn::tensor::activation::sigmoid;

use crate::common::{DerivativeCheck, check_derivative, linspace};

/// σ(x) in f64.
pub fn sigma(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// σ and σ′ on `n` points of [−10, 10]; the formula is σ′ = σ(1 − σ).
pub fn run(device: &Device, n: usize) -> DerivativeCheck {
    check_derivative(device, linspace(-10.0, 10.0, n), sigmoid, |x| {
        sigma(x) * (1.0 - sigma(x))
    })
}
