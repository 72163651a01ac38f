//! P(a < X < b) for X ~ N(μ, σ²) by numerical integration of the density (trapezoid and
//! Simpson rules, with the error shrinking as n grows) and exactly by the error function:
//! P = ½ [erf((b − μ)/(σ√2)) − erf((a − μ)/(σ√2))].

use anyhow::{Result, bail};
use burn::tensor::Device;

use crate::common::{linspace, tensor, values};
use crate::plot;
use crate::report::Context;

/// The density φ(x; μ, σ).
pub fn density(x: f64, mu: f64, sigma: f64) -> f64 {
    let z = (x - mu) / sigma;
    (-0.5 * z * z).exp() / (sigma * (2.0 * std::f64::consts::PI).sqrt())
}

// ANCHOR: exact
/// The exact probability by the error function.
pub fn exact(a: f64, b: f64, mu: f64, sigma: f64) -> f64 {
    let s = sigma * std::f64::consts::SQRT_2;
    0.5 * (libm::erf((b - mu) / s) - libm::erf((a - mu) / s))
}
// ANCHOR_END: exact

// ANCHOR: trapezoid
/// Trapezoid rule with `n` intervals over samples `ys` (n + 1 of them), step `h`.
pub fn trapezoid(ys: &[f64], h: f64) -> f64 {
    let n = ys.len() - 1;
    h * (0.5 * ys[0] + ys[1..n].iter().sum::<f64>() + 0.5 * ys[n])
}
// ANCHOR_END: trapezoid

// ANCHOR: simpson
/// Simpson's rule (n even).
pub fn simpson(ys: &[f64], h: f64) -> f64 {
    let n = ys.len() - 1;
    let odd: f64 = ys.iter().skip(1).step_by(2).take(n / 2).sum();
    let even: f64 = ys.iter().skip(2).step_by(2).take(n / 2 - 1).sum();
    h / 3.0 * (ys[0] + 4.0 * odd + 2.0 * even + ys[n])
}
// ANCHOR_END: simpson

/// One row of the convergence table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Intervals.
    pub n: usize,
    /// Trapezoid estimate.
    pub trapezoid: f64,
    /// Simpson estimate.
    pub simpson: f64,
}

/// The integral every way.
#[derive(Debug, Clone)]
pub struct NormalReport {
    /// By the error function.
    pub exact: f64,
    /// For n = 2, 4, 8, …
    pub rows: Vec<Row>,
}

/// Integrate φ over (a, b), sampling the density on the device (float32) for each n.
pub fn run(device: &Device, a: f64, b: f64, mu: f64, sigma: f64) -> Result<NormalReport> {
    if !(sigma > 0.0 && sigma.is_finite()) {
        bail!("σ must be positive, got {sigma}");
    }
    if a.partial_cmp(&b) != Some(std::cmp::Ordering::Less) {
        bail!("the interval needs a < b, got a = {a}, b = {b}");
    }
    let mut rows = Vec::new();
    for k in 1..=10 {
        let n = 1usize << k;
        let xs = linspace(a, b, n + 1);
        // φ evaluated on the device: exp(−z²/2) / (σ√(2π)).
        let z = tensor(&xs, device).sub_scalar(mu).div_scalar(sigma);
        let ys = values(
            z.powi_scalar(2)
                .mul_scalar(-0.5)
                .exp()
                .div_scalar(sigma * (2.0 * std::f64::consts::PI).sqrt()),
        );
        let h = (b - a) / n as f64;
        rows.push(Row {
            n,
            trapezoid: trapezoid(&ys, h),
            simpson: simpson(&ys, h),
        });
    }
    Ok(NormalReport {
        exact: exact(a, b, mu, sigma),
        rows,
    })
}

/// Print the exact probability and the trapezoid and Simpson estimates with their errors as n
/// doubles; draw `normal.svg` (the density, the area shaded).
pub fn report(ctx: &Context, a: f64, b: f64, mu: f64, sigma: f64) -> Result<()> {
    let r = run(ctx.device, a, b, mu, sigma)?;
    println!(
        "P({a} < X < {b}), X ~ N({mu}, {sigma}²): by the error function {:.10}",
        r.exact
    );
    println!("(the density is sampled in float32 on the device: errors below ~1e-8 are rounding)");
    println!(
        "{:>6} {:>14} {:>10} {:>14} {:>10}",
        "n", "trapezoid", "error", "Simpson", "error"
    );
    for row in &r.rows {
        println!(
            "{:>6} {:>14.10} {:>10.2e} {:>14.10} {:>10.2e}",
            row.n,
            row.trapezoid,
            (row.trapezoid - r.exact).abs(),
            row.simpson,
            (row.simpson - r.exact).abs()
        );
    }
    ctx.plot("normal.svg", |p| {
        let (lo, hi) = (a.min(mu - 4.0 * sigma), b.max(mu + 4.0 * sigma));
        let curve: Vec<(f64, f64)> = linspace(lo, hi, 401)
            .into_iter()
            .map(|x| (x, density(x, mu, sigma)))
            .collect();
        plot::shaded_area(p, &format!("P({a} < X < {b}) = {:.4}", r.exact), &curve, a, b)
    })
}
