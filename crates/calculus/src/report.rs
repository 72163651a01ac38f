//! What every example's `report` takes — the device its tensor work runs on and where its plots
//! go — and the report that [`sigmoid`](crate::sigmoid) and [`derivative`](crate::derivative)
//! share: a [`DerivativeCheck`] as a table and a plot.

use std::path::Path;

use anyhow::Result;
use burn::tensor::Device;
use gradlab::report::{Line, plot_lines};
use gradlab::runs::LazyRunDir;

use crate::common::DerivativeCheck;

/// The device and the plots of one run.
pub struct Context<'a> {
    /// The configured backend's device.
    pub device: &'a Device,
    /// The run folder, `<out_dir>/run-NNN/`, made when the first plot is drawn; `None` when no
    /// plots are drawn (`--no-plot`).
    plots: Option<LazyRunDir>,
}

impl<'a> Context<'a> {
    /// Tensor work on `device`; plots, if `plot`, in a new run folder under `out_dir`.
    pub fn new(device: &'a Device, out_dir: &Path, plot: bool) -> Self {
        Context {
            device,
            plots: plot.then(|| LazyRunDir::new(out_dir)),
        }
    }

    /// Draw the plot `name` with `draw` into the run folder and print its path; nothing when
    /// plots are off.
    pub fn plot(&self, name: &str, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        let Some(run_dir) = &self.plots else {
            return Ok(());
        };
        let path = run_dir.file(name)?;
        draw(&path)?;
        println!("plot: {}", path.display());
        Ok(())
    }
}

/// Print one line per point of `at` (points of the grid), made by
/// `row(x, f(x), f′(x) by autodiff, f′(x) by the formula)`, then the largest difference
/// between autodiff and `formula` (the formula as written).
pub fn print_check(check: &DerivativeCheck, at: &[f64], row: impl Fn(f64, f64, f64, f64) -> String, formula: &str) {
    for &x in at {
        let i = check.xs.iter().position(|&v| (v - x).abs() < 1e-9).unwrap_or(0);
        println!("{}", row(x, check.values[i], check.autodiff[i], check.formula[i]));
    }
    println!(
        "largest |autodiff − {formula}| over {} points: {:.2e}",
        check.xs.len(),
        check.max_error
    );
}

/// Draw f, f′ by autodiff and f′ by the formula, labelled `labels` in that order, into the
/// plot `name` titled `title`.
pub fn plot_check(ctx: &Context, check: &DerivativeCheck, name: &str, title: &str, labels: [&str; 3]) -> Result<()> {
    ctx.plot(name, |path| {
        let pts = |v: &[f64]| check.xs.iter().copied().zip(v.iter().copied()).collect();
        let [f, autodiff, formula] = labels;
        plot_lines(
            path,
            title,
            "x",
            "",
            &[
                Line::new(f, pts(&check.values)),
                Line::new(autodiff, pts(&check.autodiff)),
                Line::new(formula, pts(&check.formula)),
            ],
            false,
        )
    })
}
