//! `xor-backprop`'s configuration: defaults (equal to `configs/xor-backprop.toml`) < `--config`
//! files < CLI flags.

use std::path::PathBuf;

use anyhow::Result;
use gradlab::config::check_range;
use gradlab::{AdapterChoice, BackendName};
use serde::{Deserialize, Serialize};

// `backend`, `adapter`, `remote_url`, `remote_token_file` and `out_dir`, which the shared command line overrides.
gradlab::run_config!(XorConfig);

/// Everything a run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XorConfig {
    /// `auto`, `flex`, `ndarray`, `wgpu` or `vulkan` (for the autodiff path).
    pub backend: BackendName,
    /// wgpu/vulkan adapter.
    pub adapter: AdapterChoice,
    /// `backend = "remote"`: the gradlab-serve to run on, `ws://HOST:PORT`.
    pub remote_url: Option<gradlab::RemoteUrl>,
    /// `backend = "remote"`: the file whose first line is the server's access token (else
    /// `$GRADLAB_REMOTE_TOKEN`, else none).
    pub remote_token_file: Option<PathBuf>,
    /// Full-batch gradient steps.
    pub iterations: usize,
    /// Gradient-descent step size (1.0 is the seed's update rule).
    pub learning_rate: f64,
    /// Seed of the initial weights.
    pub seed: u64,
    /// Record the loss every N steps.
    pub log_every: usize,
    /// Where runs go: each run that writes files makes a new `<out_dir>/run-NNN/`.
    pub out_dir: PathBuf,
}

impl Default for XorConfig {
    fn default() -> Self {
        XorConfig {
            backend: BackendName::Auto,
            adapter: AdapterChoice::Default,
            remote_url: None,
            remote_token_file: None,
            iterations: 10_000,
            learning_rate: 1.0,
            seed: 1,
            log_every: 100,
            out_dir: "runs/xor-backprop".into(),
        }
    }
}

impl XorConfig {
    /// Check every value; errors name the key and the value.
    pub fn validate(&self) -> Result<()> {
        check_range("iterations", self.iterations, 1, 100_000_000)?;
        check_range("learning_rate", self.learning_rate, 1e-12, 1e3)?;
        check_range("log_every", self.log_every, 1, 100_000_000)?;
        Ok(())
    }
}
