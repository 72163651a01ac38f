//! `bench`'s configuration: defaults (equal to `configs/bench.toml`) < `--config` files < CLI
//! flags; `--quick` replaces the sweep and the budget with small ones.

use std::path::PathBuf;

use anyhow::Result;
use gradlab::BackendName;
use gradlab::config::{check_range, invalid};
use serde::{Deserialize, Serialize};

use crate::timing::Budget;
use crate::workloads::ModelName;

/// Everything a bench run needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BenchConfig {
    /// Backends to try (each unusable one is listed as skipped, with the reason).
    pub backends: Vec<BackendName>,
    /// wgpu/vulkan adapter.
    pub adapter: gradlab::AdapterChoice,
    /// The `remote` backend's gradlab-serve, `ws://HOST:PORT`; none: a server on loopback in
    /// the bench's own process, serving flex (the protocol's overhead, no network).
    pub remote_url: Option<gradlab::RemoteUrl>,
    /// That server's access token file (else `$GRADLAB_REMOTE_TOKEN`).
    pub remote_token_file: Option<PathBuf>,
    /// Models to time.
    pub models: Vec<ModelName>,
    /// Batch sizes of the sweep.
    pub batch_sizes: Vec<usize>,
    /// Untimed calls after the first.
    pub warmup: usize,
    /// At least this many timed repetitions per measurement.
    pub min_reps: usize,
    /// At most this many.
    pub max_reps: usize,
    /// Seconds after which no more repetitions are added (beyond `min_reps`).
    pub max_seconds: f64,
    /// Run the conformance check.
    pub conformance: bool,
    /// Batch size of the conformance check.
    pub conformance_batch: usize,
    /// Training steps before comparing the loss again.
    pub conformance_steps: usize,
    /// Weights and batches.
    pub seed: u64,
    /// Reference-framework timings written by `scripts/reference.py` (read when present).
    pub reference: PathBuf,
    /// Where runs are written: `<out_dir>/run-NNN/`.
    pub out_dir: PathBuf,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            backends: vec![
                BackendName::Flex,
                BackendName::Ndarray,
                BackendName::Wgpu,
                BackendName::Vulkan,
            ],
            adapter: gradlab::AdapterChoice::Default,
            remote_url: None,
            remote_token_file: None,
            models: ModelName::ALL.to_vec(),
            batch_sizes: vec![1, 8, 32, 128, 512],
            warmup: 2,
            min_reps: 5,
            max_reps: 50,
            max_seconds: 2.0,
            conformance: true,
            conformance_batch: 8,
            conformance_steps: 3,
            seed: 42,
            reference: "runs/bench/reference.json".into(),
            out_dir: "runs/bench".into(),
        }
    }
}

/// The largest batch the bench builds: the CNN's activations at 4,096 images are about 1.4 GB
/// on the host, and the sweep's point is the trend, not exhausting memory.
pub const MAX_BATCH: usize = 4096;
/// Most batch sizes in one sweep.
pub const MAX_BATCH_SIZES: usize = 16;

impl BenchConfig {
    /// The `--quick` settings: one batch size (32), a short budget, conformance on batch 32.
    pub fn quick(mut self) -> Self {
        self.batch_sizes = vec![32];
        self.warmup = 1;
        self.min_reps = 3;
        self.max_reps = 5;
        self.max_seconds = 0.5;
        // The conformance check on the timed batch: a wgpu/vulkan kernel compiled (and tuned)
        // for one serves the other, instead of every kernel being compiled for two shapes.
        self.conformance_batch = 32;
        self
    }

    /// Check every value.
    pub fn validate(&self) -> Result<()> {
        if self.backends.is_empty() {
            return Err(invalid("backends", "config: `backends` is empty"));
        }
        if self.models.is_empty() {
            return Err(invalid("models", "config: `models` is empty"));
        }
        if self.batch_sizes.is_empty() || self.batch_sizes.len() > MAX_BATCH_SIZES {
            return Err(invalid(
                "batch_sizes",
                format!(
                    "config: `batch_sizes` lists {} sizes (allowed 1 ..= {MAX_BATCH_SIZES})",
                    self.batch_sizes.len()
                ),
            ));
        }
        for &b in &self.batch_sizes {
            check_range("batch_sizes", b, 1, MAX_BATCH)?;
        }
        if self.backends.contains(&BackendName::Auto) {
            return Err(invalid(
                "backends",
                "config: `backends` lists `auto`; name the backends to compare (flex, ndarray, wgpu, vulkan)",
            ));
        }
        check_range("min_reps", self.min_reps, 1, 1_000_000)?;
        check_range("max_reps", self.max_reps, self.min_reps, 1_000_000)?;
        check_range("max_seconds", self.max_seconds, 0.0, 3600.0)?;
        check_range("conformance_batch", self.conformance_batch, 1, 4096)?;
        check_range("conformance_steps", self.conformance_steps, 0, 1000)?;
        Ok(())
    }

    /// The timing budget.
    pub fn budget(&self) -> Budget {
        Budget {
            warmup: self.warmup,
            min_reps: self.min_reps,
            max_reps: self.max_reps,
            max_seconds: self.max_seconds,
        }
    }
}
