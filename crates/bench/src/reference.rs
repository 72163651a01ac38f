//! Reference-framework timings: `scripts/reference.py` times the seed CNN's training step
//! (batch 32, the same shapes, loss and optimizer) in TensorFlow-Keras and/or PyTorch where they
//! are installed and writes a JSON file; the bench reads it and prints gradlab's throughput as
//! a ratio of each. Never needed by tests.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One framework's entry in the reference file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// `tensorflow` or `torch`.
    pub framework: String,
    /// Its version, when installed.
    #[serde(default)]
    pub version: Option<String>,
    /// Median training images/s at `batch`, when measured.
    #[serde(default)]
    pub images_per_second: Option<f64>,
    /// Batch size.
    #[serde(default)]
    pub batch: Option<usize>,
    /// Why there is no figure (e.g. "not installed").
    #[serde(default)]
    pub error: Option<String>,
}

/// The file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceFile {
    /// Per framework.
    pub results: Vec<Reference>,
    /// When and where (free text from the script).
    #[serde(default)]
    pub machine: serde_json::Value,
}

/// Read the reference file: `Ok(None)` when it does not exist, an error naming the file when
/// it is not valid.
pub fn read(path: &Path) -> anyhow::Result<Option<ReferenceFile>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let f = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: not a reference file written by scripts/reference.py: {e}",
                    path.display()
                )
            })?;
            Ok(Some(f))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}
