//! Reference-framework timings: `scripts/reference.py` times the seed CNN's training step
//! (the same shapes, loss and optimizer, and the same fixed batch of real mnist-5k digits as
//! the bench, [`crate::workloads::DIGIT_BATCH_RULE`]) in TensorFlow-Keras and/or PyTorch where
//! they are installed and writes a JSON file; the bench reads and checks it before it starts and
//! prints gradlab's throughput as a ratio of each. Never needed by tests.

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
    /// Which images were timed (`batch_rule`, file, label histogram).
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

/// The file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceFile {
    /// Per framework.
    pub results: Vec<Reference>,
    /// When and where (free text from the script).
    #[serde(default)]
    pub machine: serde_json::Value,
    /// Which images were timed.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

/// Refuse a reference file whose figures were not measured on the bench's own batch
/// ([`crate::workloads::DIGIT_BATCH_RULE`]): a file from before the script fed real digits
/// timed random pixels, and its ratios would compare unlike things.
pub fn check_batch_rule(file: &ReferenceFile, path: &Path) -> anyhow::Result<()> {
    let want = crate::workloads::DIGIT_BATCH_RULE;
    for r in file.results.iter().filter(|r| r.images_per_second.is_some()) {
        let rule = r
            .data
            .as_ref()
            .and_then(|d| d.get("batch_rule"))
            .and_then(|v| v.as_str());
        if rule != Some(want) {
            anyhow::bail!(
                "{}: the {} figure was timed on {}, not on the bench's batch ({want}); \
                 run `python3 scripts/reference.py` again",
                path.display(),
                r.framework,
                rule.map_or(
                    "unrecorded data (random pixels, before real digits)".to_string(),
                    |r| format!("`{r}`")
                )
            );
        }
    }
    Ok(())
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
