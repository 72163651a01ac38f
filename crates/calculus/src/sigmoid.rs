//! σ(x) = 1 / (1 + e^(−x)) and its derivative σ′(x) = σ(x)(1 − σ(x)), the latter by burn's
//! autodiff and by the formula.

use anyhow::Result;
use burn::tensor::Device;
use burn::tensor::activation::sigmoid;

use crate::common::{DerivativeCheck, check_derivative, linspace};
use crate::report::{Context, plot_check, print_check};

// ANCHOR: sigma
/// σ(x) in f64.
pub fn sigma(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
// ANCHOR_END: sigma

// ANCHOR: run
/// σ and σ′ on `n` points of [−10, 10]; the formula is σ′ = σ(1 − σ).
pub fn run(device: &Device, n: usize) -> DerivativeCheck {
    check_derivative(device, linspace(-10.0, 10.0, n), sigmoid, |x| {
        sigma(x) * (1.0 - sigma(x))
    })
}
// ANCHOR_END: run

/// Print σ(0) and σ′(0), σ and σ′ at a few points and the largest error of autodiff; draw
/// `sigmoid.svg`.
pub fn report(ctx: &Context) -> Result<()> {
    let r = run(ctx.device, 201);
    let i0 = r.xs.iter().position(|&x| x == 0.0).unwrap_or(100);
    println!(
        "σ(0) = {:.6}, σ′(0) by autodiff = {:.6} (σ(0)(1 − σ(0)) = 0.25)",
        r.values[i0], r.autodiff[i0]
    );
    print_check(
        &r,
        &[-10.0, -5.0, -2.0, 0.0, 2.0, 5.0, 10.0],
        |x, s, autodiff, formula| {
            format!("  x = {x:>5}: σ = {s:.6}  σ′ autodiff = {autodiff:.6}  σ(1−σ) = {formula:.6}")
        },
        "σ(1−σ)",
    );
    plot_check(
        ctx,
        &r,
        "sigmoid.svg",
        "σ(x) and σ′(x)",
        ["σ(x)", "σ′(x) by autodiff", "σ(x)(1 − σ(x))"],
    )
}
