//! Saving and loading models and training checkpoints.
//!
//! A checkpoint is three files in one folder: `model-eNNNN.bpk`, `optim-eNNNN.bpk` and, written
//! last, `checkpoint.json` naming them and carrying the loop state. Each is written atomically,
//! and older epoch files are removed only after the new `checkpoint.json` is in place, so at
//! every instant the folder holds one complete, loadable checkpoint.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A module's parameters as bytes (burnpack format).
pub fn module_bytes<M: Module>(module: M) -> Result<Vec<u8>> {
    let bytes = module
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("serialising model")?;
    Ok(bytes.to_vec())
}

/// Load parameters from [`module_bytes`] into `module` (which fixes the architecture and the
/// device). `what` names the source in errors.
pub fn load_module_bytes<M: Module>(module: M, bytes: Vec<u8>, what: &str) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| anyhow::anyhow!("{}", brief(&format!("{e}"))))
        .with_context(|| format!("{what}: not a model file saved by gradlab"))?;
    let module = module
        .try_load_record(record)
        .map_err(|e| anyhow::anyhow!("{}", brief(&format!("{e}"))))
        .with_context(|| format!("{what}: does not match this model's architecture (a model of another kind?)"))?;
    let bad = non_finite(&module);
    if bad > 0 {
        bail!(
            "{what}: {bad} parameter value(s) are NaN or infinite: the file is damaged (gradlab never saves \
             such a model; a diverged run is refused before it is saved)"
        );
    }
    Ok(module)
}

/// Largest `model.json` or `checkpoint.json` read (a few KB when gradlab writes them).
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// A manifest's text, at most [`MAX_MANIFEST_BYTES`] and UTF-8.
fn read_text(path: &Path) -> Result<String> {
    let bytes = crate::io::read_bounded(path, MAX_MANIFEST_BYTES, "gradlab's manifest reader")?;
    String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("{}: not UTF-8 text ({e})", path.display()))
}

/// How many of `module`'s float parameter values are NaN or infinite.
pub fn non_finite<M: Module>(module: &M) -> usize {
    struct Count(usize);
    impl burn::module::ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<burn::tensor::Tensor<D>>) {
            self.0 += p.val().into_data().iter::<f64>().filter(|v| !v.is_finite()).count();
        }
    }
    let mut count = Count(0);
    module.visit(&mut count);
    count.0
}

/// Largest model or optimizer file read (the models here are a few MB): a bigger one is
/// refused before it is read.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// The first line of a library's error, cut to 200 characters: burn's record errors can list a
/// whole module tree, which helps nobody on a terminal.
fn brief(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// Save a module's parameters to `path` (burnpack format) atomically.
pub fn save_module<M: Module>(module: M, path: &Path) -> Result<()> {
    let bytes = module_bytes(module).with_context(|| format!("writing {}", path.display()))?;
    crate::io::atomic_write(path, &bytes)
}

/// Load parameters saved by [`save_module`] into `module` (which fixes the architecture and
/// the device).
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M> {
    let bytes = crate::io::read_bounded(path, MAX_MODEL_BYTES, "gradlab's model reader")
        .with_context(|| format!("cannot read model file {}", path.display()))?;
    load_module_bytes(module, bytes, &path.display().to_string())
}

/// A saved model folder holds `model.bpk` (the weights) and `model.json` (a `format` tag plus
/// whatever the crate needs to rebuild the model). Given `path` — the folder, or a file in it —
/// read `model.json`, check its `format` against `format`, and return the folder and the parsed
/// description. `kind` names the model in errors ("a sentiment model").
pub fn read_model_manifest<T: DeserializeOwned>(path: &Path, kind: &str, format: &str) -> Result<(PathBuf, T)> {
    let dir = if path.is_file() {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path.to_path_buf()
    };
    let json_path = dir.join("model.json");
    let text = read_text(&json_path).with_context(|| {
        format!(
            "cannot read {} (is {} {kind} folder?)",
            json_path.display(),
            path.display()
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not {kind} description", json_path.display()))?;
    let found = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if found != format {
        match found.strip_prefix("gradlab-").and_then(|f| f.split('/').next()) {
            Some(other) if !format.starts_with(&format!("gradlab-{other}/")) => bail!(
                "{}: this is a {other} model (format {found:?}), not {kind}: give the run folder of \
                 a model this command trained",
                json_path.display()
            ),
            _ => bail!(
                "{}: format {found:?}, expected {format:?} ({kind})",
                json_path.display()
            ),
        }
    }
    let manifest =
        serde_json::from_value(value).with_context(|| format!("{}: not {kind} description", json_path.display()))?;
    Ok((dir, manifest))
}

/// The saved state of a training loop.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CheckpointIndex<S> {
    /// Last finished epoch.
    pub epoch: usize,
    /// Model file, relative to the checkpoint folder.
    pub model: String,
    /// Optimizer file, relative to the checkpoint folder.
    pub optimizer: String,
    /// Crate-specific loop state (metrics so far, …).
    pub state: S,
}

/// Write a checkpoint for `epoch` into `dir`.
pub fn save_checkpoint<M: Module, S: Serialize>(
    dir: &Path,
    epoch: usize,
    model: M,
    optim: &ModuleOptimizer,
    state: S,
) -> Result<()> {
    let model_file = format!("model-e{epoch:04}.bpk");
    let optim_file = format!("optim-e{epoch:04}.bpk");
    save_module(model, &dir.join(&model_file))?;
    let optim_bytes = optim
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("serialising optimizer state")?;
    crate::io::atomic_write(&dir.join(&optim_file), &optim_bytes)?;
    let index = CheckpointIndex {
        epoch,
        model: model_file.clone(),
        optimizer: optim_file.clone(),
        state,
    };
    crate::report::write_json(&dir.join("checkpoint.json"), &index)?;
    // Only now is it safe to drop the previous epoch's files.
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let stale = (name.starts_with("model-e") || name.starts_with("optim-e"))
            && name.ends_with(".bpk")
            && name != model_file
            && name != optim_file;
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Load the checkpoint in `dir`: the model, the optimizer and the loop state.
pub fn load_checkpoint<M: Module, S: DeserializeOwned>(
    dir: &Path,
    model: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, CheckpointIndex<S>)> {
    let index_path = dir.join("checkpoint.json");
    let text = read_text(&index_path)
        .with_context(|| format!("no checkpoint to resume from: cannot read {}", index_path.display()))?;
    let index: CheckpointIndex<S> =
        serde_json::from_str(&text).with_context(|| format!("{}: corrupt checkpoint index", index_path.display()))?;
    // The files it names are in its own folder: a name with a path in it (`../x`, `/etc/x`)
    // would read a file from anywhere.
    for name in [&index.model, &index.optimizer] {
        let plain = Path::new(name).file_name().is_some_and(|f| f == name.as_str()) && name != "..";
        if !plain {
            bail!(
                "{}: corrupt checkpoint index: it names {name:?}, not a file of its own folder",
                index_path.display()
            );
        }
    }
    let named = |what: &str| format!("{} names {what}", index_path.display());
    let model = load_module(model, &dir.join(&index.model)).with_context(|| named("the model"))?;
    let optim_path: PathBuf = dir.join(&index.optimizer);
    let bytes = crate::io::read_bounded(&optim_path, MAX_MODEL_BYTES, "gradlab's checkpoint reader")
        .with_context(|| format!("cannot read optimizer state {}", optim_path.display()))
        .with_context(|| named("the optimizer state"))?;
    let optim =
        load_optimizer(optim, bytes).with_context(|| format!("{}: corrupt optimizer state", optim_path.display()))?;
    Ok((model, optim, index))
}

/// An optimizer state from a burnpack file's bytes. burn-optim 0.22.1's `load_record` panics on
/// a state tensor that carries no parameter id (a damaged file can say so), so the file is read
/// and checked here first; any other panic of burn's while loading it is an error too.
fn load_optimizer(optim: ModuleOptimizer, bytes: Vec<u8>) -> Result<ModuleOptimizer> {
    // Shared once, so the check's reader and burn's loader see the same buffer (no copy).
    let bytes = Bytes::from_bytes_vec(bytes).shared();
    let reader = burn_pack::Reader::from_bytes(bytes.clone()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for tensor in reader.into_tensors().map_err(|e| anyhow::anyhow!("{e:?}"))? {
        if tensor.param_id.is_none() {
            bail!("its tensor {:?} names no parameter", tensor.name);
        }
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| optim.from_bytes(bytes)))
        .map_err(|_| anyhow::anyhow!("burn could not load it"))?
        .map_err(|e| anyhow::anyhow!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Demo {
        format: String,
        size: u32,
    }

    #[test]
    fn model_manifest_from_folder_or_file_with_format_checked() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("model.json"), r#"{"format": "demo/1", "size": 3}"#).unwrap();
        std::fs::write(d.join("model.bpk"), b"x").unwrap();
        for p in [d.to_path_buf(), d.join("model.bpk")] {
            let (folder, m): (PathBuf, Demo) = read_model_manifest(&p, "a demo model", "demo/1").unwrap();
            assert_eq!(folder, d);
            assert_eq!(m.size, 3);
        }
        let e = read_model_manifest::<Demo>(d, "a demo model", "demo/2").unwrap_err();
        assert!(
            format!("{e:#}").contains("format \"demo/1\", expected \"demo/2\""),
            "{e:#}"
        );
        let e = read_model_manifest::<Demo>(&d.join("nowhere"), "a demo model", "demo/1").unwrap_err();
        assert!(
            format!("{e:#}").contains("is") && format!("{e:#}").contains("a demo model folder"),
            "{e:#}"
        );
        std::fs::write(d.join("model.json"), "{ nope").unwrap();
        let e = read_model_manifest::<Demo>(d, "a demo model", "demo/1").unwrap_err();
        assert!(format!("{e:#}").contains("not a demo model description"), "{e:#}");
    }

    /// Regression (found by mnist-cnn's hostile-input test in a cold CI run, 2026-12-06): an
    /// optimizer state whose tensor carries no parameter id made burn-optim 0.22.1 panic
    /// ("Optimizer record tensors should carry a parameter id."); `--resume` now refuses it.
    #[test]
    fn an_optimizer_state_whose_tensor_names_no_parameter_is_refused() {
        let adam = || burn::optim::AdamConfig::new().init();
        let tensor = |id| {
            burn_pack::Tensor::new(
                "1.moment_1".into(),
                burn::tensor::DType::F32,
                [2],
                id,
                Bytes::from_bytes_vec(vec![0; 8]),
            )
        };
        let file = |id| burn_pack::Writer::new(vec![tensor(id)]).into_bytes().unwrap().to_vec();
        // The same file with its parameter id loads.
        assert!(load_optimizer(adam(), file(Some(1))).is_ok());
        // burn's own loader panics on it: the reason for the check.
        let burn_alone = std::panic::catch_unwind(|| adam().from_bytes(Bytes::from_bytes_vec(file(None))).map(|_| ()));
        assert!(burn_alone.is_err(), "burn-optim no longer panics: the check may go");
        let Err(e) = load_optimizer(adam(), file(None)) else {
            panic!("a state tensor without a parameter id loaded");
        };
        assert!(format!("{e:#}").contains("names no parameter"), "{e:#}");
    }
}
