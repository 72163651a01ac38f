//! σ(x) = 1 / (1 + e^(−x)) and its derivative σ′(x) = σ(x)(1 − σ(x)), the latter by burn's
//! autodiff and by the formula.

use burn::tensor::Device;
use burn::tensor::activation::sigmoid;

use crate::common::{elementwise_derivative, linspace, max_abs_diff};

/// σ and σ′ on a grid.
#[derive(Debug, Clone)]
pub struct SigmoidReport {
    /// Grid on [−10, 10].
    pub xs: Vec<f64>,
    /// σ(x), computed on the device.
    pub sigma: Vec<f64>,
    /// σ′(x) by autodiff.
    pub autodiff: Vec<f64>,
    /// σ′(x) = σ(x)(1 − σ(x)), in f64.
    pub formula: Vec<f64>,
    /// Largest |autodiff − formula|.
    pub max_error: f64,
}

/// σ(x) in f64.
pub fn sigma(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Evaluate on `n` points of [−10, 10].
pub fn run(device: &Device, n: usize) -> SigmoidReport {
    let xs = linspace(-10.0, 10.0, n);
    let (s, autodiff) = elementwise_derivative(device, &xs, sigmoid);
    let formula: Vec<f64> = xs.iter().map(|&x| sigma(x) * (1.0 - sigma(x))).collect();
    let max_error = max_abs_diff(&autodiff, &formula);
    SigmoidReport {
        xs,
        sigma: s,
        autodiff,
        formula,
        max_error,
    }
}
