//! The chain rule on y = σ(w₂ · σ(w₁ · x)): dy/dw₂ and dy/dw₁ written out factor by factor,
//! and the same numbers from burn's autodiff.

use anyhow::Result;
use burn::tensor::Device;
use burn::tensor::activation::sigmoid;
use gradlab::report::plot_lines;

use crate::common::{tensor, values};
use crate::plot;
use crate::report::Context;
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

// ANCHOR: run
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
// ANCHOR_END: run

/// Print every intermediate and factor of the chain rule and autodiff's answers; draw
/// `chain-rule.svg` (y along each weight and its tangent there).
pub fn report(ctx: &Context, x: f64, w1: f64, w2: f64) -> Result<()> {
    let r = run(ctx.device, x, w1, w2);
    println!("y = σ(w₂·σ(w₁·x)) with x = {x}, w₁ = {w1}, w₂ = {w2}");
    println!(
        "  a = w₁·x = {:.6}   h = σ(a) = {:.6}   b = w₂·h = {:.6}   y = σ(b) = {:.6}",
        r.a, r.h, r.b, r.y
    );
    println!("  dy/db = σ′(b) = y(1 − y) = {:.6}", r.dy_db);
    println!("  dh/da = σ′(a) = h(1 − h) = {:.6}", r.dh_da);
    println!("  dy/dw₂ = dy/db · h = {:.6} · {:.6} = {:.8}", r.dy_db, r.h, r.dy_dw2);
    println!(
        "  dy/dw₁ = dy/db · w₂ · dh/da · x = {:.6} · {} · {:.6} · {} = {:.8}",
        r.dy_db, w2, r.dh_da, x, r.dy_dw1
    );
    println!(
        "autodiff: y = {:.6}, dy/dw₂ = {:.8}, dy/dw₁ = {:.8}",
        r.y_autodiff, r.dy_dw2_autodiff, r.dy_dw1_autodiff
    );
    ctx.plot("chain-rule.svg", |p| {
        let y = |w: &[f64]| sigma(w[1] * sigma(w[0] * x));
        let names = ["w₁".to_string(), "w₂".to_string()];
        let lines = plot::tangent_lines(y, &[w1, w2], &[r.dy_dw1, r.dy_dw2], &names, 3.0);
        let title = format!("y = σ(w₂·σ(w₁·x)) around w₁ = {w1}, w₂ = {w2}");
        plot_lines(p, &title, "offset t", "y", &lines, false)
    })
}
