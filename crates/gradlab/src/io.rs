//! File output that never leaves a half-written file behind.
//!
//! Architecture Invariant: everything a user keeps (models, checkpoints, configs, reports) is
//! written with [`atomic_write`]: to a temporary file in the same folder, flushed to disk, then
//! renamed over the target. A crash or Ctrl-C leaves either the old file or the new one.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Write `bytes` to `path` atomically (write a sibling temp file, fsync, rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    let file_name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Persist the rename itself.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Refuse to write over `path`: an error naming it when something is there already. Every file
/// gradlab exports is new (a user's file is never replaced); call this before the work that
/// makes the bytes, so a refused export costs nothing.
pub fn ensure_new(path: &Path) -> Result<()> {
    anyhow::ensure!(
        !path.exists(),
        "{} exists: gradlab does not overwrite it (choose another name or remove it)",
        path.display()
    );
    Ok(())
}

/// The bytes of `path`, refusing (before reading) a file over `max` bytes; `reader` names what
/// reads it in the error (e.g. "`eval --text`").
pub fn read_bounded(path: &Path, max: u64, reader: &str) -> Result<Vec<u8>> {
    check_size(path, max, reader)?;
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// An error naming `path` unless it exists and holds at most `max` bytes (see [`read_bounded`]).
pub fn check_size(path: &Path, max: u64, reader: &str) -> Result<()> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= max,
        "{}: {size} bytes is more than {reader} reads (at most {max})",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/model.bin");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn failure_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the file should go makes the rename fail.
        let p = dir.path().join("taken");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("x"), b"keep").unwrap();
        let err = format!("{:#}", atomic_write(&p, b"new").unwrap_err());
        assert!(err.contains("taken"), "{err}");
        assert_eq!(std::fs::read(p.join("x")).unwrap(), b"keep");
    }
}
