//! The workspace-level tests as one test binary, a module per file (the layout cargo's book
//! suggests for large suites). `launches` stays a binary of its own: CubeCL's launch hook counts
//! every thread's kernels, so no other test may run kernels in its process.

use std::path::{Path, PathBuf};

mod architecture;
mod book;
mod cross_backend;
mod scripts;

/// The checkout's root folder.
fn root() -> PathBuf {
    gradlab::workspace_root()
}

/// A file's text; a missing file fails the test naming it.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir` (recursively) whose extension is `ext`; none when `dir` is missing.
fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p, ext));
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out
}
