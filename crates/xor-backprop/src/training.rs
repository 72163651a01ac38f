//! Training: the seed's single layer by its own update rule, and the 3→4→1 network by gradient
//! descent twice from the same weights — by hand in `f64` and by burn's autodiff in `f32` on
//! the configured backend — and the run folder `seed` and `train` write.
//!
//! Run folders are `<out_dir>/run-NNN/` (`latest` names the newest), each holding
//! `config.toml` (the resolved config), `metrics.csv` and `metrics.json` (the loss at every
//! logged iteration, per engine), the plot (`seed-loss.svg` or `loss.svg`) and `report.json`.
//! `--no-plot` writes no run folder at all.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{DType, Device};
use gradlab::ResolvedBackend;
use gradlab::report::{Line, plot_lines, write_json, write_run_report};
use serde_json::json;

use crate::config::XorConfig;
use crate::data::tensors;
use crate::inference::{Prediction, print_seed, print_train};
use crate::model::autodiff::{XorNet, loss};
use crate::model::manual::{self, Mlp, max_abs_difference, max_relative_error, single_layer_init, single_layer_step};

/// A loss curve: `(iteration, loss)` at iteration 0, every `log_every` iterations and at the
/// last.
pub type Curve = Vec<(usize, f64)>;

/// Whether `it` of `iterations` is a logged iteration.
fn logged(it: usize, every: usize, iterations: usize) -> bool {
    it.is_multiple_of(every.max(1)) || it == iterations
}

/// The seed's update rule ([`single_layer_step`]) repeated `iterations` times.
pub fn single_layer_train(mut w: [f64; 3], iterations: usize) -> [f64; 3] {
    for _ in 0..iterations {
        w = single_layer_step(w);
    }
    w
}

/// Train by hand for `iterations` full-batch steps; the loss is recorded every `every` steps.
pub fn train_by_hand(mut m: Mlp, lr: f64, iterations: usize, every: usize) -> (Mlp, Curve) {
    let mut curve = vec![(0, m.loss())];
    for it in 1..=iterations {
        m.step(lr);
        if logged(it, every, iterations) {
            curve.push((it, m.loss()));
        }
    }
    (m, curve)
}

/// The autodiff engine's optimizer: plain gradient descent (burn's SGD, no momentum), the
/// update the hand-written engine makes.
pub fn optimizer() -> ModuleOptimizer {
    SgdConfig::new().init()
}

/// Train with autodiff and plain gradient descent (burn's SGD, no momentum) from `init`;
/// the loss is read back every `every` steps (each read waits for the device).
pub fn train_by_autodiff(init: &Mlp, device: &Device, lr: f64, iterations: usize, every: usize) -> (Mlp, Curve) {
    let device = device.clone().autodiff();
    let dtype = DType::F32;
    let mut net = XorNet::from_mlp(init, &device, dtype);
    let (x, y) = tensors(&device, dtype);
    let mut optim = optimizer();
    let mut curve = Vec::new();
    for it in 0..=iterations {
        let l = loss(net.forward(x.clone()), y.clone());
        if logged(it, every, iterations) {
            curve.push((it, l.clone().into_scalar::<f64>()));
        }
        if it == iterations {
            break;
        }
        let grads = GradientsParams::from_grads(l.backward(), &net);
        net = optim.step(lr, net, grads);
    }
    (net.valid().to_mlp(), curve)
}

/// The seed's single layer after training.
#[derive(Debug, Clone)]
pub struct SeedRun {
    /// w1, w2 and the bias weight w3.
    pub weights: [f64; 3],
    /// Its loss as it trained.
    pub curve: Curve,
    /// Its answers.
    pub prediction: Prediction,
}

/// Train the seed's single layer from `cfg.seed` for `cfg.iterations` updates.
pub fn run_seed(cfg: &XorConfig) -> SeedRun {
    let loss = |w: &[f64; 3]| manual::loss(&manual::single_layer_outputs(w));
    let mut w = single_layer_init(cfg.seed);
    let mut curve = vec![(0, loss(&w))];
    let mut it = 0;
    while it < cfg.iterations {
        // On to the next logged iteration.
        let every = cfg.log_every.max(1);
        let steps = (every - it % every).min(cfg.iterations - it);
        w = single_layer_train(w, steps);
        it += steps;
        curve.push((it, loss(&w)));
    }
    SeedRun {
        weights: w,
        curve,
        prediction: Prediction::of_single_layer(&w),
    }
}

/// One engine's trained 3→4→1 network.
#[derive(Debug, Clone)]
pub struct EngineRun {
    /// The trained weights (those of the autodiff run read back from the device).
    pub weights: Mlp,
    /// Its loss as it trained.
    pub curve: Curve,
    /// Its answers (computed in `f64` from its weights).
    pub prediction: Prediction,
    /// Wall-clock seconds of its training.
    pub seconds: f64,
}

impl EngineRun {
    /// The loss at the last iteration.
    pub fn final_loss(&self) -> f64 {
        self.curve.last().map_or(f64::NAN, |&(_, l)| l)
    }
}

/// The 3→4→1 network trained by both engines from the same weights.
#[derive(Debug, Clone)]
pub struct TrainRun {
    /// By hand, in `f64`.
    pub hand: EngineRun,
    /// By autodiff, in `f32` on the backend.
    pub autodiff: EngineRun,
}

impl TrainRun {
    /// Largest |hand − autodiff| over the trained weights.
    pub fn weights_max_abs_difference(&self) -> f64 {
        max_abs_difference(&self.hand.weights.flat(), &self.autodiff.weights.flat())
    }

    /// Largest relative difference between the trained weights (floor 1e-8).
    pub fn weights_max_relative_error(&self) -> f64 {
        max_relative_error(&self.hand.weights.flat(), &self.autodiff.weights.flat(), 1e-8)
    }
}

/// Train the 3→4→1 network from `cfg.seed` by hand, then by autodiff on `device`.
pub fn run_train(cfg: &XorConfig, device: &Device) -> TrainRun {
    let init = Mlp::init(cfg.seed);
    let timed = |train: &dyn Fn() -> (Mlp, Curve)| {
        let t0 = Instant::now();
        let (weights, curve) = train();
        EngineRun {
            prediction: Prediction::of_mlp(&weights),
            weights,
            curve,
            seconds: t0.elapsed().as_secs_f64(),
        }
    };
    let (lr, n, every) = (cfg.learning_rate, cfg.iterations, cfg.log_every);
    TrainRun {
        hand: timed(&|| train_by_hand(init.clone(), lr, n, every)),
        autodiff: timed(&|| train_by_autodiff(&init, device, lr, n, every)),
    }
}

/// A new run folder under `cfg.out_dir` holding the resolved config, named on stdout; `None`
/// when nothing is to be written (`--no-plot`).
pub(crate) fn start_run_dir(cfg: &XorConfig, record: bool) -> Result<Option<PathBuf>> {
    if !record {
        return Ok(None);
    }
    let dir = gradlab::runs::new_run_dir(&cfg.out_dir)?;
    gradlab::config::save_resolved(cfg, &dir)?;
    println!("run folder: {}", dir.display());
    Ok(Some(dir))
}

/// The `seed` command: train the single layer, print what it answers and, when `record`,
/// write a run folder (config, metrics, `seed-loss.svg`, report).
pub fn seed(cfg: &XorConfig, record: bool) -> Result<()> {
    let started = Instant::now();
    let run_dir = start_run_dir(cfg, record)?;
    let run = run_seed(cfg);
    print_seed(cfg, &run);
    let Some(dir) = run_dir else { return Ok(()) };
    write_metrics(&dir, &[("loss", &run.curve)])?;
    let path = dir.join("seed-loss.svg");
    plot_lines(
        &path,
        "single layer on XOR: every output goes to 0.5, the loss stalls at 4 × ½ × 0.5² = 0.5",
        "iteration",
        "loss ½Σ(ŷ−y)²",
        &[Line::new("single layer", to_points(&run.curve))],
        false,
    )?;
    println!("plot: {}", path.display());
    let p = &run.prediction;
    write_report(
        &dir,
        json!("the seed's update rule: f64 on the CPU (no burn backend)"),
        json!({
            "command": "seed",
            "config": cfg,
            "final_loss": run.curve.last().map(|&(_, l)| l),
            "weights": run.weights,
            "outputs": p.outputs,
            "accuracy": p.accuracy,
            "solved": p.solved,
            "seconds": started.elapsed().as_secs_f64(),
        }),
    )
}

/// The `train` command: train both engines, print the comparison and, when `record`, write a
/// run folder (config, metrics, `loss.svg`, report).
pub fn train(cfg: &XorConfig, backend: &ResolvedBackend, record: bool) -> Result<()> {
    let started = Instant::now();
    let run_dir = start_run_dir(cfg, record)?;
    let run = run_train(cfg, &backend.device);
    print_train(cfg, backend.backend.as_str(), &run);
    let Some(dir) = run_dir else { return Ok(()) };
    write_metrics(
        &dir,
        &[("hand_loss", &run.hand.curve), ("autodiff_loss", &run.autodiff.curve)],
    )?;
    let path = dir.join("loss.svg");
    plot_lines(
        &path,
        "XOR, 3→4→1: loss by hand-derived backprop and by autodiff",
        "iteration",
        "loss ½Σ(ŷ−y)² (log)",
        &[
            Line::new("hand (f64)", to_points(&run.hand.curve)),
            Line::new(
                format!("autodiff on {} (f32)", backend.backend),
                to_points(&run.autodiff.curve),
            ),
        ],
        true,
    )?;
    println!("plot: {}", path.display());
    let engine = |e: &EngineRun, dtype: &str| {
        json!({
            "dtype": dtype,
            "final_loss": e.final_loss(),
            "outputs": e.prediction.outputs,
            "accuracy": e.prediction.accuracy,
            "solved": e.prediction.solved,
            "seconds": e.seconds,
        })
    };
    write_report(
        &dir,
        backend.to_json(),
        json!({
            "command": "train",
            "config": cfg,
            "hand": engine(&run.hand, "f64"),
            "autodiff": engine(&run.autodiff, "f32"),
            "weights_max_abs_difference": run.weights_max_abs_difference(),
            "weights_max_relative_error": run.weights_max_relative_error(),
            "seconds": started.elapsed().as_secs_f64(),
        }),
    )
}

/// A curve as plot points.
fn to_points(curve: &Curve) -> Vec<(f64, f64)> {
    curve.iter().map(|&(i, l)| (i as f64, l)).collect()
}

/// Write `metrics.csv` (`iteration` and one column per curve) and `metrics.json` (one object
/// per logged iteration, the same keys) into `dir`. The curves share their iterations.
fn write_metrics(dir: &Path, curves: &[(&str, &Curve)]) -> Result<()> {
    let (_, first) = curves.first().context("no curve to write")?;
    let mut csv = std::iter::once("iteration")
        .chain(curves.iter().map(|(name, _)| *name))
        .collect::<Vec<_>>()
        .join(",");
    csv.push('\n');
    let mut rows = Vec::new();
    for (row, &(it, _)) in first.iter().enumerate() {
        let mut obj = serde_json::Map::new();
        obj.insert("iteration".into(), json!(it));
        csv.push_str(&it.to_string());
        for (name, curve) in curves {
            let loss = curve[row].1;
            obj.insert((*name).into(), json!(loss));
            csv.push_str(&format!(",{loss}"));
        }
        csv.push('\n');
        rows.push(serde_json::Value::Object(obj));
    }
    gradlab::io::atomic_write(&dir.join("metrics.csv"), csv.as_bytes())?;
    write_json(&dir.join("metrics.json"), &rows)
}

/// `report.json` of an xor-backprop run: the crate, its version, what ran it (`backend`) and
/// `body`'s keys.
pub(crate) fn write_report(dir: &Path, backend: serde_json::Value, body: serde_json::Value) -> Result<()> {
    write_run_report(dir, "xor-backprop", env!("CARGO_PKG_VERSION"), backend, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::solves_xor;
    use crate::model::manual::single_layer_outputs;

    #[test]
    fn single_layer_cannot_learn_xor() {
        let w = single_layer_train(single_layer_init(1), 10_000);
        let out = single_layer_outputs(&w);
        for o in out {
            assert!((o - 0.5).abs() < 0.02, "output {o} should approach 0.5");
        }
        assert!(!solves_xor(&out));
        // The input weights go to zero: by symmetry nothing else lowers the loss.
        assert!(w[0].abs() < 0.1 && w[1].abs() < 0.1, "{w:?}");
    }

    #[test]
    fn the_seed_run_logs_every_log_every_and_the_last_iteration() {
        let cfg = XorConfig {
            iterations: 250,
            log_every: 100,
            ..XorConfig::default()
        };
        let run = run_seed(&cfg);
        let its: Vec<usize> = run.curve.iter().map(|&(i, _)| i).collect();
        assert_eq!(its, [0, 100, 200, 250]);
        assert_eq!(run.weights, single_layer_train(single_layer_init(cfg.seed), 250));
    }

    #[test]
    fn metrics_have_one_row_per_logged_iteration() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (vec![(0, 0.5), (10, 0.25)], vec![(0, 0.5), (10, 0.125)]);
        write_metrics(dir.path(), &[("hand_loss", &a), ("autodiff_loss", &b)]).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert_eq!(csv, "iteration,hand_loss,autodiff_loss\n0,0.5,0.5\n10,0.25,0.125\n");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("metrics.json")).unwrap()).unwrap();
        assert_eq!(json[1]["iteration"], 10);
        assert_eq!(json[1]["autodiff_loss"], 0.125);
    }
}
