//! Conformance: from the same weights and the same batch, do the backends compute the same
//! thing? Compared per model and per backend pair:
//!
//! | quantity | measure | tolerance |
//! |---|---|---|
//! | inference outputs | max abs difference / max(1, max abs output) | [`OUTPUT_TOL`] |
//! | loss | abs difference / max(1, abs loss) | [`LOSS_TOL`] |
//! | gradients (every parameter) | max abs difference / max abs gradient | [`GRAD_TOL`] |
//! | loss after K plain SGD steps | abs difference / max(1, abs loss) | [`TRAINED_TOL`] |
//!
//! Everything is f32. Summation order differs between backends (blocked GEMMs, tree
//! reductions on GPUs), so single results differ by a few units in the last place (~6e-8
//! relative) and a sum of n terms by up to about √n of them in the usual case. Measured here,
//! the largest difference on any quantity of any model, for every pair of ndarray, flex, wgpu
//! and vulkan (lavapipe), is 3.8e-7 (`bench --conformance-only --backends
//! flex,ndarray,wgpu,vulkan` prints the table; again 3.8e-7 on 2026-12-01 with `mnist-cnn-fast`
//! on wgpu/vulkan running fastconv's CubeCL kernels, whose pairs reach 3.2e-7). The tolerances are 1e-5: about 26× the largest
//! measured difference, which leaves room for other
//! reduction orders (a real GPU's tiled kernels, other thread counts), while a real fault — a
//! wrong derivative, a dropped term, a mis-ordered layout — is off by 1e-3 or more. (Before,
//! 1e-4 let errors 260× larger than anything measured pass.) The K steps use plain SGD, not
//! the models' Adam/Adagrad: measured here, the RNN's 1.5e-7 gradient differences became a
//! 5e-3 loss difference after three Adagrad steps (its first steps are ≈ lr·sign(g), so a
//! near-zero gradient entry whose sign differs between backends moves a weight by the full
//! learning rate) — a property of the optimizer, not a backend fault.

use anyhow::Result;
use gradlab::{BackendName, ResolvedBackend};
use serde::{Deserialize, Serialize};

use crate::workloads::{ModelName, Probe, build, reference_weights};

/// Tolerance on inference outputs (see the module docs for why 1e-5).
pub const OUTPUT_TOL: f64 = 1e-5;
/// Tolerance on the loss.
pub const LOSS_TOL: f64 = 1e-5;
/// Tolerance on gradients.
pub const GRAD_TOL: f64 = 1e-5;
/// Tolerance on the loss after K steps.
pub const TRAINED_TOL: f64 = 1e-5;

/// The largest differences between two backends on one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairResult {
    /// The model.
    pub model: ModelName,
    /// First backend.
    pub a: BackendName,
    /// Second backend.
    pub b: BackendName,
    /// Outputs (relative, see module docs).
    pub outputs: f64,
    /// Loss.
    pub loss: f64,
    /// Gradients.
    pub grads: f64,
    /// Loss after K steps.
    pub loss_after: f64,
    /// All four within tolerance.
    pub pass: bool,
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// Compare two probes of the same model.
pub fn compare(model: ModelName, a: (BackendName, &Probe), b: (BackendName, &Probe)) -> PairResult {
    let (pa, pb) = (a.1, b.1);
    let outputs = max_diff(&pa.outputs, &pb.outputs) / max_abs(&pa.outputs).max(1.0);
    let loss = (pa.loss - pb.loss).abs() / pa.loss.abs().max(1.0);
    let grads = max_diff(&pa.grads, &pb.grads) / max_abs(&pa.grads).max(f64::MIN_POSITIVE);
    let loss_after = (pa.loss_after - pb.loss_after).abs() / pa.loss_after.abs().max(1.0);
    let ok = |x: f64, tol: f64| x.is_finite() && x <= tol;
    PairResult {
        model,
        a: a.0,
        b: b.0,
        outputs,
        loss,
        grads,
        loss_after,
        pass: ok(outputs, OUTPUT_TOL) && ok(loss, LOSS_TOL) && ok(grads, GRAD_TOL) && ok(loss_after, TRAINED_TOL),
    }
}

/// Probe every model on every backend (batch `batch`, `k` training steps) and compare every
/// pair of backends.
pub fn run(
    models: &[ModelName],
    backends: &[ResolvedBackend],
    batch: usize,
    k: usize,
    seed: u64,
) -> Result<Vec<PairResult>> {
    let mut out = Vec::new();
    for &model in models {
        let weights = reference_weights(model, seed)?;
        let mut probes = Vec::new();
        // A model is compared only where it is itself (mnist-cnn-fast elsewhere is the stock
        // model again, already compared as mnist-cnn).
        for b in backends.iter().filter(|b| model.not_on(&b.device).is_none()) {
            let mut w = build(model, &b.device, batch, &weights, seed)?;
            probes.push((b.backend, w.probe(k)?));
        }
        for i in 0..probes.len() {
            for j in i + 1..probes.len() {
                out.push(compare(model, (probes[i].0, &probes[i].1), (probes[j].0, &probes[j].1)));
            }
        }
    }
    Ok(out)
}

/// The conformance table.
pub fn table(results: &[PairResult]) -> String {
    let mut s = format!(
        "{:<15} {:<17} {:>10} {:>10} {:>10} {:>12}  result\n",
        "model", "backends", "outputs", "loss", "gradients", "after K SGD"
    );
    for r in results {
        s.push_str(&format!(
            "{:<15} {:<17} {:>10.2e} {:>10.2e} {:>10.2e} {:>12.2e}  {}\n",
            r.model.as_str(),
            format!("{} vs {}", r.a, r.b),
            r.outputs,
            r.loss,
            r.grads,
            r.loss_after,
            if r.pass { "ok" } else { "DISAGREE" }
        ));
    }
    s.push_str(&format!(
        "tolerances: outputs {OUTPUT_TOL:.0e}, loss {LOSS_TOL:.0e}, gradients {GRAD_TOL:.0e} (relative to the largest), loss after K SGD steps {TRAINED_TOL:.0e}\n"
    ));
    s
}
