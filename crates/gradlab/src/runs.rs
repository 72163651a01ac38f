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

/// A run folder made on first use: for commands that write files only in some cases (plots
/// unless `--no-plot`), so a run that writes nothing, or fails before writing, leaves no empty
/// `run-NNN` behind, and a run that writes never overwrites an earlier one.
#[derive(Debug)]
pub struct LazyRunDir {
    out_dir: PathBuf,
    dir: std::cell::OnceCell<PathBuf>,
}

impl LazyRunDir {
    /// Runs go into `<out_dir>/run-NNN/`.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        LazyRunDir {
            out_dir: out_dir.into(),
            dir: std::cell::OnceCell::new(),
        }
    }

    /// The path of `name` in this run's folder, creating the folder (and moving `latest`) the
    /// first time.
    pub fn file(&self, name: &str) -> Result<PathBuf> {
        if let Some(d) = self.dir.get() {
            return Ok(d.join(name));
        }
        let d = new_run_dir(&self.out_dir)?;
        Ok(self.dir.get_or_init(|| d).join(name))
    }

    /// The folder, if it was made.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.get().map(PathBuf::as_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lazy_run_folder_appears_on_first_use_and_never_reuses_a_run() {
        let tmp = tempfile::tempdir().unwrap();
        let first = LazyRunDir::new(tmp.path());
        assert!(first.dir().is_none());
        assert!(!tmp.path().join("run-001").exists(), "nothing made before use");
        let a = first.file("a.svg").unwrap();
        assert_eq!(a, tmp.path().join("run-001/a.svg"));
        assert_eq!(first.file("b.svg").unwrap(), tmp.path().join("run-001/b.svg"));
        let second = LazyRunDir::new(tmp.path());
        assert_eq!(second.file("a.svg").unwrap(), tmp.path().join("run-002/a.svg"));
        assert_eq!(latest_run(tmp.path()).unwrap(), tmp.path().join("run-002"));
    }
}
