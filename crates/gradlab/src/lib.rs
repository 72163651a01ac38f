//! gradlab's shared runtime: everything the model crates have in common.
//!
//! - [`backend`]: config → `burn::tensor::Device`, with the adapter actually used.
//! - [`config`]: defaults < TOML files < CLI flags; unknown keys rejected; resolved config saved.
//! - [`data`]: IDX files, seeded stratified splits, checked downloads.
//! - [`checkpoint`]: model files and resumable training checkpoints.
//! - [`guard`]: stopping a training run whose loss diverged.
//! - [`report`], [`progress`]: metrics files, plots, confusion matrices, progress bars.
//! - [`runs`]: `run-NNN` folders and the `latest` pointer.
//! - [`io`]: atomic file writes.
//! - [`launches`]: counting the GPU kernels a piece of work launches (CubeCL's launch hook).
//! - [`onnx`]: ONNX export (burn-onnx), with documented input/output names.
//! - [`parallel`]: data-parallel training steps over several devices (burn's gradient
//!   accumulation on the main device).
//! - `remote` (cargo feature `remote`): Burn's remote backend, client and server.
//! - [`token`]: access tokens for the servers and their clients.

pub mod backend;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod exchange;
pub mod guard;
pub mod io;
pub mod launches;
pub mod onnx;
pub mod parallel;
pub mod progress;
#[cfg(feature = "remote")]
pub mod remote;
pub mod report;
pub mod runs;
pub mod signal;
pub mod token;

pub use backend::{Adapter, AdapterChoice, BackendConfig, BackendName, RemoteUrl, ResolvedBackend};

/// The workspace root of the checkout this crate was *built* from (a compile-time path): for
/// tests and tools that run inside that checkout. Binaries never use it (a copied or installed
/// binary must not read, or download into, its build checkout; `tests/workspace/architecture.rs` keeps
/// it out of their code): they find data with [`data::source`].
pub fn workspace_root() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Build a module with `init` (its constructor) right after seeding the device's random
/// number generator with `seed`, so the same seed always gives the same parameters.
///
/// burn's generator may be process-wide and its parameters are initialised lazily, on first
/// use; two threads that seed and draw at the same time (two runs in one process, parallel
/// tests) would interleave their draws. So a process-wide lock is held from the seeding until
/// every parameter has been materialised. Data order is seeded separately, in the data loader.
pub fn seeded<M: burn::module::Module>(device: &burn::tensor::Device, seed: u64, init: impl FnOnce() -> M) -> M {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    let module = init();
    // Reading every parameter forces its lazy initialisation while the lock is held (clones
    // share the initialisation, so `module` keeps the values drawn here).
    drop(module.clone().into_record());
    module
}

/// What every gradlab binary does first, in `main`, before anything else runs: keep Mesa's
/// device-selection layer quiet ([`backend::quiet_vulkan_layers`]), put CubeCL's caches in
/// the user's cache folder ([`backend::cubecl_cache_in_user_dir`]) and, with the `remote`
/// feature, mark the process as a binary, so that a remote server lost mid-run ends it with one
/// `error:` line instead of a panic.
pub fn startup() {
    #[cfg(feature = "remote")]
    remote::mark_binary();
    backend::quiet_vulkan_layers();
    backend::cubecl_cache_in_user_dir();
}

/// `n` and the noun, singular or plural: `count(1, "sentence")` is "1 sentence",
/// `count(2, "sentence")` "2 sentences" (nouns whose plural adds an `s`).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A binary's exit: success, or the error chain on one `error: …` line and exit code 2.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Resolve a relative path to a file or folder the user keeps (a data folder, a reference
/// file): the first place [`data::source`] finds it, else `path` from the current folder.
pub fn locate(path: &std::path::Path) -> std::path::PathBuf {
    match data::source::find(path, None) {
        data::source::DataFile::Path(p) if p.exists() => p,
        _ => data::source::find_dir(path),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_say_one_thing_or_several_things() {
        assert_eq!(super::count(1, "training sentence"), "1 training sentence");
        assert_eq!(super::count(0, "image"), "0 images");
        assert_eq!(super::count(1000, "image"), "1000 images");
    }
}
