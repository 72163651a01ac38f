//! Where a data file named in a config is found at run time, so a binary works wherever it is:
//! in the checkout, copied elsewhere, or installed with `cargo install`.
//!
//! A relative path from a config (`datasets/mnist-5k/mnist_5k.csv.gz`, …) is looked for, in
//! order:
//!
//! 1. from the current folder (a checkout, or the user's own file);
//! 2. in `$GRADLAB_DATA`, a folder holding the data sets (the repository's `datasets/` or a
//!    copy: the leading `datasets/` of the path is dropped there);
//! 3. from every folder above the current one (a sub-folder of a checkout);
//! 4. from the executable's folder and every folder above it (`target/release/` inside a
//!    checkout, or a kit that ships `datasets/` beside the binaries);
//! 5. for the small data sets shipped with gradlab (mnist-5k, the movie reviews, *Pride and
//!    Prejudice*): the copy compiled into the binary ([`Bundled`]), when the path is the
//!    data set's own.
//!
//! Nothing is looked up at the build checkout's compile-time path: a moved binary never reads,
//! or downloads into, the checkout it was built in.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The environment variable naming a folder of data sets.
pub const DATA_ENV: &str = "GRADLAB_DATA";

/// A data set compiled into the binaries, under the path configs name it by.
#[derive(Debug)]
pub struct Bundled {
    /// Its path relative to the repository root, e.g. `datasets/mnist-5k/mnist_5k.csv.gz`.
    pub path: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

/// A data file found by [`find`]: on disk, or bundled in the binary.
#[derive(Debug, Clone)]
pub enum DataFile {
    /// A file (which may not exist when nothing was found; reading it then names it).
    Path(PathBuf),
    /// The binary's own copy.
    Bundled(&'static Bundled),
}

impl DataFile {
    /// The file's bytes; errors name the file.
    pub fn read(&self) -> Result<Cow<'static, [u8]>> {
        match self {
            DataFile::Path(p) => Ok(Cow::Owned(std::fs::read(p).with_context(|| {
                format!(
                    "cannot read {} (looked in the current folder, ${DATA_ENV}, the folders above, and beside the executable)",
                    p.display()
                )
            })?)),
            DataFile::Bundled(b) => Ok(Cow::Borrowed(b.bytes)),
        }
    }

    /// How to name it in messages and reports.
    pub fn describe(&self) -> String {
        match self {
            DataFile::Path(p) => p.display().to_string(),
            DataFile::Bundled(b) => format!("{} (the copy built into this binary)", b.path),
        }
    }
}

/// The folders a relative path is tried from, in order (see the module docs).
fn candidates(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    if let Some(dir) = std::env::var_os(DATA_ENV).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        out.push(dir.join(path.strip_prefix("datasets").unwrap_or(path)));
        out.push(dir.join(path));
    }
    if let Ok(cwd) = std::env::current_dir() {
        out.extend(cwd.ancestors().skip(1).map(|a| a.join(path)));
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        out.extend(exe_dir.ancestors().map(|a| a.join(path)));
    }
    out
}

/// Find the data file `path` (see the module docs); `bundled` is the binary's copy of the data
/// set it may name. An absolute path is taken as it is.
pub fn find(path: &Path, bundled: Option<&'static Bundled>) -> DataFile {
    if path.is_absolute() {
        return DataFile::Path(path.to_path_buf());
    }
    if let Some(found) = candidates(path).into_iter().find(|p| p.is_file()) {
        return DataFile::Path(found);
    }
    match bundled {
        Some(b) if Path::new(b.path) == path => DataFile::Bundled(b),
        _ => DataFile::Path(path.to_path_buf()),
    }
}

/// Find the folder `path` the same way (no bundled copy): the first candidate that exists, else
/// `$GRADLAB_DATA`'s place for it when that is set, else `path` from the current folder (where
/// a download would then create it).
pub fn find_dir(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let all = candidates(path);
    if let Some(found) = all.iter().find(|p| p.is_dir()) {
        return found.clone();
    }
    match std::env::var_os(DATA_ENV).filter(|d| !d.is_empty()) {
        Some(_) => all[1].clone(),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static DEMO: Bundled = Bundled {
        path: "datasets/demo/x.txt",
        bytes: b"bundled",
    };

    #[test]
    fn a_missing_file_falls_back_to_the_bundled_copy_only_under_its_own_name() {
        let found = find(Path::new("datasets/demo/x.txt"), Some(&DEMO));
        assert!(matches!(found, DataFile::Bundled(_)), "{found:?}");
        assert_eq!(&*found.read().unwrap(), b"bundled");
        assert!(found.describe().contains("built into this binary"));
        let other = find(Path::new("datasets/demo/other.txt"), Some(&DEMO));
        assert!(matches!(other, DataFile::Path(_)));
        let err = format!("{:#}", other.read().unwrap_err());
        assert!(
            err.contains("datasets/demo/other.txt") && err.contains("GRADLAB_DATA"),
            "{err}"
        );
    }

    #[test]
    fn absolute_paths_are_taken_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "disk").unwrap();
        assert!(matches!(find(&p, Some(&DEMO)), DataFile::Path(q) if q == p));
        assert_eq!(find_dir(dir.path()), dir.path());
    }
}
