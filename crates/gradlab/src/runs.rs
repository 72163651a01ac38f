//! Run folders: `<out_dir>/run-NNN/`, one per training run, and `<out_dir>/latest`, a small
//! text file naming the newest. Every model crate writes its runs this way.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Create the next `run-NNN` folder in `out_dir` and point `latest` at it.
pub fn new_run_dir(out_dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let next = std::fs::read_dir(out_dir)?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("run-")?.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let name = format!("run-{next:03}");
    let dir = out_dir.join(&name);
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    crate::io::atomic_write(&out_dir.join("latest"), name.as_bytes())?;
    Ok(dir)
}

/// The run folder `<out_dir>/latest` names.
pub fn latest_run(out_dir: &Path) -> Result<PathBuf> {
    let pointer = out_dir.join("latest");
    let name = std::fs::read_to_string(&pointer)
        .with_context(|| format!("no previous run: cannot read {}", pointer.display()))?;
    let dir = out_dir.join(name.trim());
    if !dir.is_dir() {
        bail!("{} names {}, which does not exist", pointer.display(), dir.display());
    }
    Ok(dir)
}

/// The model file of the latest finished run in `out_dir` (`file` inside it), or a clear error
/// when there is none.
pub fn latest_file(out_dir: &Path, file: &str) -> Result<PathBuf> {
    let p = latest_run(out_dir)?.join(file);
    if !p.exists() {
        bail!(
            "{} does not exist (the latest run has not finished; train first or pass --model)",
            p.display()
        );
    }
    Ok(p)
}
