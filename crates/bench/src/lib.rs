//! `bench`: one command that times every backend on every model of the workspace, and checks
//! that the backends compute the same thing.
//!
//! - [`workloads`]: each model's training and inference step, built from shared weights.
//! - [`timing`]: first-call cost, warm-up, synchronised repetitions, peak memory.
//! - [`conformance`]: outputs, loss, gradients and trained loss compared across backends.
//! - [`report`]: the terminal table, `report.json`, `results.csv` and the throughput charts.
//! - [`reference`]: reference-framework timings from `scripts/reference.py`.
//! - [`config`]: the run configuration.

pub mod config;
pub mod conformance;
pub mod reference;
pub mod report;
pub mod timing;
pub mod workloads;

use anyhow::Result;
use gradlab::{BackendConfig, BackendName, ResolvedBackend};
use serde::{Deserialize, Serialize};

use crate::config::BenchConfig;
use crate::timing::{Timing, measure};
use crate::workloads::{ModelName, build, reference_weights};

/// A backend the bench tried.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackendStatus {
    /// The backend.
    pub backend: BackendName,
    /// `used` or `skipped`.
    pub status: String,
    /// The adapter (when used) or why it was skipped.
    pub detail: String,
    /// The resolved backend as JSON (when used).
    pub resolved: Option<serde_json::Value>,
}

/// Resolve every configured backend; unusable ones come back as skipped with the reason.
pub fn resolve_backends(cfg: &BenchConfig) -> (Vec<ResolvedBackend>, Vec<BackendStatus>) {
    let mut ok = Vec::new();
    let mut status = Vec::new();
    for &b in &cfg.backends {
        let (config, note) = match remote_config(cfg, b) {
            Ok(found) => found,
            Err(e) => {
                status.push(BackendStatus {
                    backend: b,
                    status: "skipped".into(),
                    detail: format!("{e:#}"),
                    resolved: None,
                });
                continue;
            }
        };
        match gradlab::backend::resolve(&config) {
            Ok(r) => {
                status.push(BackendStatus {
                    backend: b,
                    status: "used".into(),
                    detail: format!("{}{note}", r.describe()),
                    resolved: Some(r.to_json()),
                });
                ok.push(r);
            }
            Err(e) => status.push(BackendStatus {
                backend: b,
                status: "skipped".into(),
                detail: e.to_string(),
                resolved: None,
            }),
        }
    }
    (ok, status)
}

/// The backend config for `b`, and a note for its status line: for `remote` without a
/// `remote_url`, a server on loopback inside this process, serving flex (started once, kept
/// for the process's life), so the bench measures the protocol's overhead with no network.
fn remote_config(cfg: &BenchConfig, b: BackendName) -> anyhow::Result<(BackendConfig, &'static str)> {
    let mut config = BackendConfig::local(b, cfg.adapter);
    if b != BackendName::Remote {
        return Ok((config, ""));
    }
    if let Some(url) = &cfg.remote_url {
        config.remote = Some(gradlab::backend::RemoteSpec {
            url: url.clone(),
            token_file: cfg.remote_token_file.clone(),
        });
        return Ok((config, ""));
    }
    #[cfg(feature = "remote")]
    {
        static LOOPBACK: std::sync::OnceLock<Result<gradlab::remote::Loopback, String>> = std::sync::OnceLock::new();
        let server = LOOPBACK.get_or_init(|| {
            gradlab::remote::Loopback::start(&gradlab::backend::host_backend(), None).map_err(|e| format!("{e:#}"))
        });
        let server = server
            .as_ref()
            .map_err(|e| anyhow::anyhow!("starting a loopback server: {e}"))?;
        config.remote = Some(gradlab::backend::RemoteSpec {
            url: server.url().clone(),
            token_file: None,
        });
        Ok((config, " (a loopback server in this process, serving flex)"))
    }
    #[cfg(not(feature = "remote"))]
    {
        Err(gradlab::backend::BackendError::RemoteNotBuilt.into())
    }
}

/// For `--quick`: leave `vulkan` out when `wgpu` already runs on the same adapter through the
/// Vulkan API (then the two are one code path, and timing both only compiles every GPU kernel
/// twice). Its status says so. Returns whether it was left out.
pub fn drop_vulkan_twin(backends: &mut Vec<ResolvedBackend>, status: &mut [BackendStatus]) -> bool {
    let find = |n: BackendName| backends.iter().position(|b| b.backend == n);
    let (Some(w), Some(v)) = (find(BackendName::Wgpu), find(BackendName::Vulkan)) else {
        return false;
    };
    let (wa, va) = (&backends[w].adapter, &backends[v].adapter);
    if !(wa.api == "vulkan" && wa == va) {
        return false;
    }
    let detail = format!(
        "left out by --quick: wgpu already runs on {} through Vulkan (the same code path); \
         `--backends wgpu,vulkan` or a full run times both",
        wa.name
    );
    backends.remove(v);
    for s in status.iter_mut().filter(|s| s.backend == BackendName::Vulkan) {
        s.status = "skipped".into();
        s.detail = detail.clone();
        s.resolved = None;
    }
    true
}

/// One (model, backend, batch) measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    /// The model.
    pub model: ModelName,
    /// The backend.
    pub backend: BackendName,
    /// Items per step (images, sentences, streams, samples).
    pub batch: usize,
    /// What an item is.
    pub unit: String,
    /// Items one step processes (`batch`, or `25·batch` characters for the RNN).
    pub items_per_step: usize,
    /// The training step.
    pub train: Timing,
    /// The inference step.
    pub infer: Timing,
}

/// Time every model on every backend at every batch size; `progress` sees each result.
pub fn run_timings(
    cfg: &BenchConfig,
    backends: &[ResolvedBackend],
    mut progress: impl FnMut(&Measurement),
) -> Result<Vec<Measurement>> {
    let budget = cfg.budget();
    let mut out = Vec::new();
    for &model in &cfg.models {
        let weights = reference_weights(model, cfg.seed)?;
        for b in backends.iter().filter(|b| model.not_on(&b.device).is_none()) {
            for &batch in &cfg.batch_sizes {
                let mut w = build(model, &b.device, batch, &weights, cfg.seed)?;
                let items = w.items();
                let train = measure(items, &budget, &b.device, || w.train_step())?;
                let infer = measure(items, &budget, &b.device, || w.infer_step())?;
                let m = Measurement {
                    model,
                    backend: b.backend,
                    batch,
                    unit: model.unit().into(),
                    items_per_step: items,
                    train,
                    infer,
                };
                progress(&m);
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// The machine, for the report.
pub fn machine() -> serde_json::Value {
    let os = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_else(|_| std::env::consts::OS.into());
    serde_json::json!({
        "cpu": gradlab::backend::cpu_model(),
        "logical_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "os": os,
        "arch": std::env::consts::ARCH,
        // The burn in Cargo.lock when this binary was built (build.rs).
        "burn": env!("GRADLAB_BURN_VERSION"),
        "gradlab": env!("CARGO_PKG_VERSION"),
    })
}
