//! f(x) = x² + 5x + 6 and f′(x) = 2x + 5: the derivative by burn's autodiff against the
//! power rule.

use burn::tensor::{Device, Tensor};

use crate::common::{elementwise_derivative, linspace, max_abs_diff};

/// f(x) = x² + 5x + 6 on tensors.
pub fn f_tensor(x: Tensor<1>) -> Tensor<1> {
    x.clone().powi_scalar(2) + x.mul_scalar(5.0).add_scalar(6.0)
}

/// f(x) in f64.
pub fn f(x: f64) -> f64 {
    x * x + 5.0 * x + 6.0
}

/// f′(x) = 2x + 5, by the power rule.
pub fn f_prime(x: f64) -> f64 {
    2.0 * x + 5.0
}

/// f and f′ on a grid.
#[derive(Debug, Clone)]
pub struct DerivativeReport {
    /// Grid on [−10, 5].
    pub xs: Vec<f64>,
    /// f(x) on the device.
    pub values: Vec<f64>,
    /// f′ by autodiff.
    pub autodiff: Vec<f64>,
    /// f′ = 2x + 5.
    pub analytic: Vec<f64>,
    /// Largest |autodiff − analytic|.
    pub max_error: f64,
}

/// Evaluate on `n` points of [−10, 5].
pub fn run(device: &Device, n: usize) -> DerivativeReport {
    let xs = linspace(-10.0, 5.0, n);
    let (values, autodiff) = elementwise_derivative(device, &xs, f_tensor);
    let analytic: Vec<f64> = xs.iter().map(|&x| f_prime(x)).collect();
    let max_error = max_abs_diff(&autodiff, &analytic);
    DerivativeReport {
        xs,
        values,
        autodiff,
        analytic,
        max_error,
    }
}
