//! Helpers every example uses: grids, host ↔ tensor conversion, elementwise derivatives by
//! autodiff, finite differences.

use burn::tensor::{Device, Tensor, TensorData};

/// `n` evenly spaced points from `a` to `b` inclusive.
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![a];
    }
    (0..n).map(|i| a + (b - a) * i as f64 / (n - 1) as f64).collect()
}

/// A 1-D tensor (the device's default float type) holding `xs`.
pub fn tensor(xs: &[f64], device: &Device) -> Tensor<1> {
    let data: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(data, [xs.len()]), device)
}

/// A tensor's values, as `f64`.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

// ANCHOR: elementwise_derivative
/// `f(xs)` and `f′(xs)` for an elementwise `f`, the derivative by burn's autodiff: since
/// `∂(Σᵢ f(xᵢ))/∂xⱼ = f′(xⱼ)`, one backward pass of the sum gives every derivative.
pub fn elementwise_derivative(device: &Device, xs: &[f64], f: impl Fn(Tensor<1>) -> Tensor<1>) -> (Vec<f64>, Vec<f64>) {
    let device = device.clone().autodiff();
    let x = tensor(xs, &device).require_grad();
    let y = f(x.clone());
    let grads = y.clone().sum().backward();
    let dy = x.grad(&grads).expect("x takes part in f");
    (values(y), values(dy))
}
// ANCHOR_END: elementwise_derivative

/// f and f′ on a grid: f′ by autodiff beside f′ by its formula.
#[derive(Debug, Clone)]
pub struct DerivativeCheck {
    /// The grid.
    pub xs: Vec<f64>,
    /// f(x), computed on the device.
    pub values: Vec<f64>,
    /// f′(x) by autodiff.
    pub autodiff: Vec<f64>,
    /// f′(x) by its formula, in f64.
    pub formula: Vec<f64>,
    /// Largest |autodiff − formula|.
    pub max_error: f64,
}

/// Differentiate the elementwise `f` on `xs` by autodiff and compare with `formula`.
pub fn check_derivative(
    device: &Device,
    xs: Vec<f64>,
    f: impl Fn(Tensor<1>) -> Tensor<1>,
    formula: impl Fn(f64) -> f64,
) -> DerivativeCheck {
    let (values, autodiff) = elementwise_derivative(device, &xs, f);
    let formula: Vec<f64> = xs.iter().map(|&x| formula(x)).collect();
    let max_error = max_abs_diff(&autodiff, &formula);
    DerivativeCheck {
        xs,
        values,
        autodiff,
        formula,
        max_error,
    }
}

/// Central difference (f(x + h) − f(x − h)) / 2h.
pub fn central_difference(f: impl Fn(f64) -> f64, x: f64, h: f64) -> f64 {
    (f(x + h) - f(x - h)) / (2.0 * h)
}

/// Largest |aᵢ − bᵢ|.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}
