//! f(x) = x² + 5x + 6 and f′(x) = 2x + 5: the derivative by burn's autodiff against the
//! power rule.

use anyhow::Result;
use burn::tensor::{Device, Tensor};

use crate::common::{DerivativeCheck, check_derivative, linspace};
use crate::report::{Context, plot_check, print_check};

// ANCHOR: f_tensor
/// f(x) = x² + 5x + 6 on tensors.
pub fn f_tensor(x: Tensor<1>) -> Tensor<1> {
    x.clone().powi_scalar(2) + x.mul_scalar(5.0).add_scalar(6.0)
}
// ANCHOR_END: f_tensor

/// f(x) in f64.
pub fn f(x: f64) -> f64 {
    x * x + 5.0 * x + 6.0
}

// ANCHOR: f_prime
/// f′(x) = 2x + 5, by the power rule.
pub fn f_prime(x: f64) -> f64 {
    2.0 * x + 5.0
}
// ANCHOR_END: f_prime

/// f and f′ on `n` points of [−10, 5]; the formula is the power rule, 2x + 5.
pub fn run(device: &Device, n: usize) -> DerivativeCheck {
    check_derivative(device, linspace(-10.0, 5.0, n), f_tensor, f_prime)
}

/// Print f and f′ at a few points and the largest error of autodiff; draw `derivative.svg`.
pub fn report(ctx: &Context) -> Result<()> {
    let r = run(ctx.device, 151);
    print_check(
        &r,
        &[-10.0, -5.0, -2.5, 0.0, 5.0],
        |x, f, autodiff, formula| {
            format!("  x = {x:>5}: f = {f:>8.3}  f′ autodiff = {autodiff:>8.3}  2x + 5 = {formula:>8.3}")
        },
        "(2x + 5)",
    );
    plot_check(
        ctx,
        &r,
        "derivative.svg",
        "f(x) = x² + 5x + 6 and f′(x)",
        ["f(x)", "f′(x) by autodiff", "2x + 5"],
    )
}
