//! `gradcheck`: every entry of ∂L/∂W1 and ∂L/∂w2 at random weights, by the hand-derived
//! backward pass, by burn's autodiff and by central finite differences, side by side.
//!
//! Recorded, it writes a run folder like `seed` and `train`: `config.toml`, `gradients.csv`
//! (one row per weight), `gradcheck.svg` and `report.json`.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::DType;
use gradlab::ResolvedBackend;
use gradlab::report::{Line, plot_lines};
use serde_json::json;

use crate::config::XorConfig;
use crate::model::autodiff;
use crate::model::manual::{FD_STEP, Mlp, finite_difference, max_relative_error};
use crate::training::start_run_dir;

/// The gradient at one set of weights, three ways, in [`Mlp::flat`] order.
#[derive(Debug, Clone)]
pub struct GradCheck {
    /// The type autodiff computed in.
    pub dtype: DType,
    /// By the hand-derived backward pass (`f64`).
    pub hand: Vec<f64>,
    /// By burn's autodiff.
    pub autodiff: Vec<f64>,
    /// By central finite differences of step [`FD_STEP`] (`f64`).
    pub finite_difference: Vec<f64>,
}

impl GradCheck {
    /// The three gradients at `m`'s weights; autodiff in `f64` where the backend computes it
    /// exactly (the CPU backends), else in `f32` (wgpu kernels run in f32).
    pub fn at(m: &Mlp, backend: &ResolvedBackend) -> Self {
        let dtype = if !backend.backend.is_wgpu() && backend.device.supports_dtype(DType::F64) {
            DType::F64
        } else {
            DType::F32
        };
        GradCheck {
            dtype,
            hand: m.gradients().flat(),
            autodiff: autodiff::gradients(m, &backend.device, dtype).flat(),
            finite_difference: finite_difference(m, FD_STEP),
        }
    }

    /// Largest relative error, hand vs finite difference (floor 1e-8).
    pub fn hand_vs_finite_difference(&self) -> f64 {
        max_relative_error(&self.hand, &self.finite_difference, 1e-8)
    }

    /// Largest relative error, hand vs autodiff (floor 1e-8).
    pub fn hand_vs_autodiff(&self) -> f64 {
        max_relative_error(&self.hand, &self.autodiff, 1e-8)
    }

    /// The relative error of each hand-derived entry against `other`, as plot points (exact
    /// agreement drawn at 1e-17, on the log axis).
    fn relative_errors(&self, other: &[f64]) -> Vec<(f64, f64)> {
        self.hand
            .iter()
            .zip(other)
            .enumerate()
            .map(|(i, (h, o))| (i as f64, ((h - o).abs() / h.abs().max(1e-8)).max(1e-17)))
            .collect()
    }
}

/// The name of entry `i` in [`Mlp::flat`] order: `W1[row,col]`, then `w2[j]`.
fn weight_name(i: usize) -> String {
    if i < 12 {
        format!("W1[{},{}]", i / 4, i % 4)
    } else {
        format!("w2[{}]", i - 12)
    }
}

/// The `gradcheck` command: the three gradients at the weights of `cfg.seed`, printed entry by
/// entry with the largest relative errors and, when `record`, written to a run folder.
pub fn gradcheck(cfg: &XorConfig, backend: &ResolvedBackend, record: bool) -> Result<()> {
    let started = Instant::now();
    let run_dir = start_run_dir(cfg, record)?;
    let g = GradCheck::at(&Mlp::init(cfg.seed), backend);
    let dtype = g.dtype;
    println!(
        "∂L/∂w at random weights (seed {}); autodiff in {dtype:?} on {}",
        cfg.seed, backend.backend
    );
    println!(
        "{:>8} {:>16} {:>16} {:>16}",
        "weight", "hand", "autodiff", "finite diff"
    );
    let mut csv = String::from("weight,hand,autodiff,finite_difference\n");
    for (i, ((h, a), f)) in g.hand.iter().zip(&g.autodiff).zip(&g.finite_difference).enumerate() {
        let name = weight_name(i);
        println!("{name:>8} {h:>16.10} {a:>16.10} {f:>16.10}");
        csv.push_str(&format!("{name},{h},{a},{f}\n"));
    }
    println!(
        "largest relative error, hand vs finite difference: {:.2e}",
        g.hand_vs_finite_difference()
    );
    println!(
        "largest relative error, hand vs autodiff:          {:.2e}",
        g.hand_vs_autodiff()
    );
    let Some(dir) = run_dir else { return Ok(()) };
    gradlab::io::atomic_write(&dir.join("gradients.csv"), csv.as_bytes())?;
    let path = dir.join("gradcheck.svg");
    plot_lines(
        &path,
        "relative error of each hand-derived gradient entry",
        "weight (W1 row-major, then w2)",
        "relative error (log; exact = 1e-17)",
        &[
            Line::markers(format!("vs autodiff ({dtype:?})"), g.relative_errors(&g.autodiff)),
            Line::markers("vs central finite difference", g.relative_errors(&g.finite_difference)),
        ],
        true,
    )?;
    println!("plot: {}", path.display());
    crate::training::write_report(
        &dir,
        backend.to_json(),
        json!({
            "command": "gradcheck",
            "config": cfg,
            "autodiff_dtype": format!("{dtype:?}"),
            "finite_difference_step": FD_STEP,
            "max_relative_error": {
                "hand_vs_autodiff": g.hand_vs_autodiff(),
                "hand_vs_finite_difference": g.hand_vs_finite_difference(),
            },
            "seconds": started.elapsed().as_secs_f64(),
        }),
    )
}
