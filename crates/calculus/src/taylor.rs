//! Taylor polynomials of eˣ around 0, Pₙ(x) = Σ_{k<n} xᵏ/k! (n terms), against eˣ on [−2, 2].

use anyhow::Result;
use burn::tensor::{Device, Tensor};
use gradlab::report::{Line, plot_lines};

use crate::common::{linspace, max_abs_diff, tensor, values};
use crate::report::Context;

/// One polynomial's curve and error.
#[derive(Debug, Clone)]
pub struct Approximation {
    /// Terms.
    pub terms: usize,
    /// Pₙ on the grid.
    pub values: Vec<f64>,
    /// max |eˣ − Pₙ(x)| on the grid.
    pub max_error: f64,
}

/// eˣ and its approximations.
#[derive(Debug, Clone)]
pub struct TaylorReport {
    /// The grid.
    pub xs: Vec<f64>,
    /// eˣ on the device.
    pub exp: Vec<f64>,
    /// One per requested n.
    pub approximations: Vec<Approximation>,
}

// ANCHOR: polynomial
/// Pₙ on tensors, by Horner's rule: 1 + x(1 + x/2(1 + x/3(…))).
pub fn polynomial(x: Tensor<1>, terms: usize) -> Tensor<1> {
    let mut acc = x.zeros_like().add_scalar(1.0);
    for k in (1..terms).rev() {
        acc = (x.clone() * acc).div_scalar(k as f64).add_scalar(1.0);
    }
    acc
}
// ANCHOR_END: polynomial

/// Evaluate on `points` points of [−2, 2] for each number of terms.
pub fn run(device: &Device, terms: &[usize], points: usize) -> TaylorReport {
    let xs = linspace(-2.0, 2.0, points);
    let x = tensor(&xs, device);
    let exp = values(x.clone().exp());
    let approximations = terms
        .iter()
        .map(|&n| {
            let v = values(polynomial(x.clone(), n));
            let max_error = max_abs_diff(&v, &exp);
            Approximation {
                terms: n,
                values: v,
                max_error,
            }
        })
        .collect();
    TaylorReport {
        xs,
        exp,
        approximations,
    }
}

/// Print each polynomial's largest error on [−2, 2]; draw `taylor.svg` (eˣ and the
/// polynomials).
pub fn report(ctx: &Context, terms: &[usize]) -> Result<()> {
    let r = run(ctx.device, terms, 201);
    for a in &r.approximations {
        println!(
            "  {} term(s): max |eˣ − Pₙ(x)| on [−2, 2] = {:.6}",
            a.terms, a.max_error
        );
    }
    ctx.plot("taylor.svg", |p| {
        let pts = |v: &[f64]| r.xs.iter().copied().zip(v.iter().copied()).collect();
        let mut lines = vec![Line::new("eˣ", pts(&r.exp))];
        lines.extend(
            r.approximations
                .iter()
                .map(|a| Line::new(format!("{} terms", a.terms), pts(&a.values))),
        );
        plot_lines(p, "Taylor polynomials of eˣ around 0", "x", "", &lines, false)
    })
}
