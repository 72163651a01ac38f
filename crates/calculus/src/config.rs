//! `calculus`'s configuration: defaults (equal to `configs/calculus.toml`) < `--config` files <
//! CLI flags.

use std::path::PathBuf;

use gradlab::{AdapterChoice, BackendName};
use serde::{Deserialize, Serialize};

// `backend`, `adapter`, `remote_url`, `remote_token_file` and `out_dir`, which the shared command line overrides.
gradlab::run_config!(CalculusConfig);

/// `calculus`'s configuration (defaults = `configs/calculus.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalculusConfig {
    /// `auto`, `flex`, `ndarray`, `wgpu`, `vulkan` or `remote`.
    pub backend: BackendName,
    /// wgpu/vulkan adapter.
    pub adapter: AdapterChoice,
    /// `backend = "remote"`: the gradlab-serve to run on, `ws://HOST:PORT`.
    pub remote_url: Option<gradlab::RemoteUrl>,
    /// `backend = "remote"`: the file whose first line is the server's access token (else
    /// `$GRADLAB_REMOTE_TOKEN`, else none).
    pub remote_token_file: Option<PathBuf>,
    /// Where plots go.
    pub out_dir: PathBuf,
    /// Folder holding `mnist-5k/` (for `conv2d`'s real digit).
    pub data_dir: PathBuf,
}

impl Default for CalculusConfig {
    fn default() -> Self {
        CalculusConfig {
            backend: BackendName::Auto,
            adapter: AdapterChoice::Default,
            remote_url: None,
            remote_token_file: None,
            out_dir: "runs/calculus".into(),
            data_dir: "datasets".into(),
        }
    }
}
