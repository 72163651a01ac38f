//! f(x, y) = sin(√(x² + y²)) on a grid, with its gradient by burn's autodiff against the
//! chain rule: ∂f/∂x = cos(r)·x/r, ∂f/∂y = cos(r)·y/r, r = √(x² + y²).
//!
//! At the origin the gradient does not exist: near 0, f ≈ r, a cone whose slope depends on
//! the direction. The formula there is 0/0 and autodiff returns NaN; this module says so.

use anyhow::Result;
use burn::tensor::Device;

use crate::common::{linspace, tensor, values};
use crate::plot;
use crate::report::Context;

/// The surface and its gradient field.
#[derive(Debug, Clone)]
pub struct SurfaceReport {
    /// Grid coordinates (both axes).
    pub axis: Vec<f64>,
    /// f at every grid point, row-major `[y][x]`.
    pub z: Vec<f64>,
    /// ∂f/∂x and ∂f/∂y by autodiff, row-major.
    pub grad: Vec<(f64, f64)>,
    /// Largest difference between autodiff and the chain-rule formula.
    pub max_error: f64,
}

/// f(x, y) in f64.
pub fn f(x: f64, y: f64) -> f64 {
    (x * x + y * y).sqrt().sin()
}

// ANCHOR: gradient
/// ∇f by the chain rule; `None` where it does not exist (the origin).
pub fn gradient(x: f64, y: f64) -> Option<(f64, f64)> {
    let r = (x * x + y * y).sqrt();
    (r > 0.0).then(|| (r.cos() * x / r, r.cos() * y / r))
}
// ANCHOR_END: gradient

// ANCHOR: autodiff_gradient
/// ∇f at the given points by autodiff (NaN where it does not exist).
pub fn autodiff_gradient(device: &Device, points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let device = device.clone().autodiff();
    let xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    let x = tensor(&xs, &device).require_grad();
    let y = tensor(&ys, &device).require_grad();
    let z = (x.clone().powi_scalar(2) + y.clone().powi_scalar(2)).sqrt().sin();
    let grads = z.sum().backward();
    let gx = values(x.grad(&grads).expect("x takes part in f"));
    let gy = values(y.grad(&grads).expect("y takes part in f"));
    gx.into_iter().zip(gy).collect()
}
// ANCHOR_END: autodiff_gradient

/// Evaluate on an `n × n` grid over [−6, 6]².
pub fn run(device: &Device, n: usize) -> SurfaceReport {
    let axis = linspace(-6.0, 6.0, n);
    let points: Vec<(f64, f64)> = axis.iter().flat_map(|&y| axis.iter().map(move |&x| (x, y))).collect();
    let z = points.iter().map(|&(x, y)| f(x, y)).collect();
    let grad = autodiff_gradient(device, &points);
    let max_error = points
        .iter()
        .zip(&grad)
        .filter_map(|(&(x, y), &(gx, gy))| gradient(x, y).map(|(ax, ay)| (gx - ax).abs().max((gy - ay).abs())))
        .fold(0.0, f64::max);
    SurfaceReport {
        axis,
        z,
        grad,
        max_error,
    }
}

/// Print the largest error of autodiff on the grid and ∇f at three points, the origin among
/// them; draw `surface.svg` (f) and `surface-gradient.svg` (∇f by autodiff).
pub fn report(ctx: &Context, grid: usize) -> Result<()> {
    let r = run(ctx.device, grid);
    println!("f(x, y) = sin(√(x² + y²)) on a {grid}×{grid} grid over [−6, 6]²");
    println!("largest |∇f autodiff − chain rule| on the grid: {:.2e}", r.max_error);
    for &(x, y) in &[(1.0, 2.0), (-3.0, 0.5), (0.0, 0.0)] {
        let ad = autodiff_gradient(ctx.device, &[(x, y)])[0];
        match gradient(x, y) {
            Some((gx, gy)) => println!(
                "  ∇f({x}, {y}) = ({gx:.5}, {gy:.5}) by the chain rule, ({:.5}, {:.5}) by autodiff",
                ad.0, ad.1
            ),
            None => println!(
                "  ∇f({x}, {y}) does not exist: near the origin f ≈ √(x² + y²), a cone whose slope depends on \
                 the direction (the formula is 0/0 there, and autodiff {})",
                if ad.0.is_finite() && ad.1.is_finite() {
                    "returns a finite number that means nothing"
                } else {
                    "gives no finite value either"
                }
            ),
        }
    }
    ctx.plot("surface.svg", |p| {
        plot::surface(p, "f(x, y) = sin(√(x² + y²))", &r.axis, &r.z)
    })?;
    ctx.plot("surface-gradient.svg", |p| {
        let n = r.axis.len();
        let points: Vec<(f64, f64)> = r
            .axis
            .iter()
            .flat_map(|&y| r.axis.iter().map(move |&x| (x, y)))
            .collect();
        let step = if n > 1 { r.axis[1] - r.axis[0] } else { 1.0 };
        plot::gradient_field(p, "∇f by autodiff (arrows point uphill)", &points, &r.grad, step)
    })
}
