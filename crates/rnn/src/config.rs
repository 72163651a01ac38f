//! `rnn`'s run configuration: defaults (equal to `configs/rnn.toml`) < `--config` files < CLI
//! flags, validated once.

use std::path::PathBuf;

use anyhow::Result;
use gradlab::config::{RunConfig, check_range, invalid};
use gradlab::{AdapterChoice, BackendConfig, BackendName};
use serde::{Deserialize, Serialize};

/// Which implementation of BPTT trains the cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// Hand-derived BPTT in f64 on the CPU (`manual.rs`), one stream, exactly min-char-rnn.
    Manual,
    /// The cell on burn tensors with autodiff (`model.rs`) on the configured backend, `batch_size`
    /// streams.
    Burn,
}

// `backend`, `adapter`, `remote_url`, `remote_token_file` and `out_dir`, which the shared command line overrides.
gradlab::run_config!(RnnConfig);

/// Everything a training run needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RnnConfig {
    /// `auto`, `flex`, `ndarray`, `wgpu` or `vulkan` (the `burn` engine).
    pub backend: BackendName,
    /// wgpu/vulkan adapter.
    pub adapter: AdapterChoice,
    /// `backend = "remote"`: the gradlab-serve to run on, `ws://HOST:PORT`.
    pub remote_url: Option<gradlab::RemoteUrl>,
    /// `backend = "remote"`: the file whose first line is the server's access token (else
    /// `$GRADLAB_REMOTE_TOKEN`, else none).
    pub remote_token_file: Option<PathBuf>,
    /// The corpus (UTF-8 text).
    pub data_file: PathBuf,
    /// Use only the first N characters (0 = all).
    pub limit: usize,
    /// Fraction held out (the end of the text) for validation.
    pub valid_fraction: f64,
    /// `manual` or `burn`.
    pub engine: Engine,
    /// Hidden units `H`.
    pub hidden: usize,
    /// Characters per BPTT chunk `T`.
    pub seq_length: usize,
    /// Parallel streams (`burn` engine; `manual` needs 1).
    pub batch_size: usize,
    /// Adagrad's learning rate.
    pub learning_rate: f64,
    /// Gradients are clipped to ±clip.
    pub clip: f64,
    /// Standard deviation of the initial weights.
    pub init_scale: f64,
    /// Passes over the training text.
    pub epochs: usize,
    /// Validate, sample and save every N steps (and at the end).
    pub eval_every: usize,
    /// Characters in each progress sample.
    pub sample_len: usize,
    /// Seed for weights and sampling.
    pub seed: u64,
    /// Where runs are written: `<out_dir>/run-NNN/`.
    pub out_dir: PathBuf,
}

impl Default for RnnConfig {
    fn default() -> Self {
        RnnConfig {
            backend: BackendName::Auto,
            adapter: AdapterChoice::Default,
            remote_url: None,
            remote_token_file: None,
            data_file: "datasets/austen/prideprejudice.txt".into(),
            limit: 0,
            valid_fraction: 0.1,
            engine: Engine::Manual,
            hidden: 100,
            seq_length: 25,
            batch_size: 1,
            learning_rate: 0.1,
            clip: 5.0,
            init_scale: 0.01,
            epochs: 20,
            eval_every: 25_000,
            sample_len: 200,
            seed: 42,
            out_dir: "runs/rnn".into(),
        }
    }
}

/// The largest hidden size a config or a model file may ask for: Whh alone is `hidden²` f64
/// values (128 MiB at 4,096) in the manual engine.
pub const MAX_HIDDEN: usize = 4096;

impl RnnConfig {
    /// Check every value; errors name the key and the value.
    pub fn validate(&self) -> Result<()> {
        check_range("valid_fraction", self.valid_fraction, 0.001, 0.9)?;
        check_range("hidden", self.hidden, 1, MAX_HIDDEN)?;
        check_range("seq_length", self.seq_length, 1, 100_000)?;
        check_range("batch_size", self.batch_size, 1, 65_536)?;
        check_range("learning_rate", self.learning_rate, 1e-12, 100.0)?;
        check_range("clip", self.clip, 1e-6, 1e6)?;
        check_range("init_scale", self.init_scale, 0.0, 10.0)?;
        check_range("epochs", self.epochs, 1, 100_000)?;
        check_range("eval_every", self.eval_every, 1, usize::MAX)?;
        check_range("sample_len", self.sample_len, 0, 1_000_000)?;
        if self.engine == Engine::Manual && self.batch_size != 1 {
            return Err(invalid(
                "batch_size",
                format!(
                    "config: `batch_size` = {} needs `engine = \"burn\"`; the manual engine is min-char-rnn (one stream)",
                    self.batch_size
                ),
            ));
        }
        Ok(())
    }

    /// The backend a training run resolves: the configured one for the burn engine; flex for
    /// the manual engine, which never touches a burn backend (resolving flex is free: no GPU
    /// probing).
    pub fn training_backend_config(&self) -> BackendConfig {
        match self.engine {
            Engine::Burn => self.backend_config(),
            Engine::Manual => BackendConfig {
                backend: BackendName::Flex,
                ..Default::default()
            },
        }
    }
}
