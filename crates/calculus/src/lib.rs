//! The seed's calculus examples, each derivative three ways: by hand (the formula), by burn's
//! autodiff on the configured backend, and (in the tests) by finite differences.
//!
//! One module per example: [`sigmoid`], [`derivative`], [`descent`], [`surface`], [`partial`],
//! [`chain`], [`normal`], [`taylor`], [`conv`]; [`common`] holds the shared helpers and
//! [`plot`] the pictures that are not line plots.

pub mod chain;
pub mod common;
pub mod conv;
pub mod derivative;
pub mod descent;
pub mod normal;
pub mod partial;
pub mod plot;
pub mod sigmoid;
pub mod surface;
pub mod taylor;

use std::path::PathBuf;

use gradlab::{AdapterChoice, BackendConfig, BackendName};
use serde::{Deserialize, Serialize};

/// `calculus`'s configuration (defaults = `configs/calculus.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalculusConfig {
    /// `auto`, `flex`, `ndarray`, `wgpu` or `vulkan`.
    pub backend: BackendName,
    /// wgpu/vulkan adapter.
    pub adapter: AdapterChoice,
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
            out_dir: "runs/calculus".into(),
            data_dir: "datasets".into(),
        }
    }
}

impl CalculusConfig {
    /// The backend part.
    pub fn backend_config(&self) -> BackendConfig {
        BackendConfig {
            backend: self.backend,
            adapter: self.adapter,
        }
    }
}
