//! Tensor files shared with other frameworks: safetensors (read and written with the
//! `safetensors` crate) and PyTorch `.pt` state_dicts (read with burn-store's reader), and a
//! burn module's parameters as named float32 arrays (burn-store's `ModuleSnapshot`).
//!
//! A file's tensors are checked against the names and shapes a model expects before any is
//! used; each problem — a missing or extra tensor, a wrong shape, a dtype other than float32, a
//! truncated or unreadable file — is an error naming the file and the tensor.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use burn::module::Module;
use burn::store::{ModuleSnapshot, ModuleStore, PytorchStore, bridge};
use burn::tensor::{DType, TensorData};

/// Largest tensor file read (the models here are a few MB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The kind of a tensor file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// `.safetensors` (Hugging Face's format: a JSON header and raw little-endian arrays).
    Safetensors,
    /// A PyTorch `torch.save(model.state_dict(), …)` file (`.pt`/`.pth`; read only).
    Pytorch,
}

impl FileKind {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Safetensors => "safetensors",
            FileKind::Pytorch => "pytorch",
        }
    }
}

/// A named float32 array, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Its name in the file or the module (`conv1.weight`).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, `shape.iter().product()` of them.
    pub values: Vec<f32>,
}

impl NamedTensor {
    /// A tensor; panics if the value count does not match the shape (a programming error).
    pub fn new(name: impl Into<String>, shape: Vec<usize>, values: Vec<f32>) -> Self {
        let name = name.into();
        assert_eq!(shape.iter().product::<usize>(), values.len(), "{name}: shape {shape:?}");
        NamedTensor { name, shape, values }
    }
}

/// A tensor as a file holds it: float32 values, or the dtype it has instead.
#[derive(Debug, Clone)]
pub struct FileTensor {
    /// Its name in the file.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values when it is float32, else its dtype's name.
    pub values: Result<Vec<f32>, String>,
}

/// Every tensor of `path`, read as `kind`, sorted by name.
pub fn read_file(path: &Path, kind: FileKind) -> Result<Vec<FileTensor>> {
    let mut tensors = match kind {
        FileKind::Safetensors => read_safetensors(path)?,
        FileKind::Pytorch => read_pytorch(path)?,
    };
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tensors)
}

fn read_safetensors(path: &Path) -> Result<Vec<FileTensor>> {
    let bytes = crate::io::read_bounded(path, MAX_FILE_BYTES, "gradlab's model-file reader")?;
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a readable safetensors file ({e})", path.display()))?;
    Ok(file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = match view.dtype() {
                safetensors::Dtype::F32 => Ok(view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()),
                other => Err(format!("{other:?}")),
            };
            FileTensor {
                name,
                shape: view.shape().to_vec(),
                values,
            }
        })
        .collect())
}

fn read_pytorch(path: &Path) -> Result<Vec<FileTensor>> {
    crate::io::check_size(path, MAX_FILE_BYTES, "gradlab's model-file reader")?;
    // The names as the file has them: burn-store would otherwise renumber `nn.Sequential`'s
    // indices (0, 3, 6, …) to 0, 1, 2, ….
    let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
    let all = store
        .get_all_tensors()
        .map_err(|e| anyhow::anyhow!("{}: not a readable PyTorch state_dict ({e})", path.display()))?;
    all.values()
        .map(|t| {
            let values = if t.dtype == DType::F32 {
                let data = bridge::to_data(t)
                    .map_err(|e| anyhow::anyhow!("{}: tensor `{}` cannot be read ({e:?})", path.display(), t.name))?;
                Ok(data
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("{}: tensor `{}`: {e:?}", path.display(), t.name))?)
            } else {
                Err(format!("{:?}", t.dtype))
            };
            Ok(FileTensor {
                name: t.name.clone(),
                shape: t.shape.to_vec(),
                values,
            })
        })
        .collect()
}

/// `found` (the tensors of `file`) checked against `expected` (name → shape): every expected
/// tensor present with its shape and float32, nothing else. Returns them in `expected`'s order.
pub fn expect(
    file: &Path,
    found: Vec<FileTensor>,
    expected: &[(String, Vec<usize>)],
    what: &str,
) -> Result<Vec<NamedTensor>> {
    let mut by_name: HashMap<String, FileTensor> = found.into_iter().map(|t| (t.name.clone(), t)).collect();
    let extra: Vec<String> = {
        let mut names: Vec<&String> = by_name
            .keys()
            .filter(|n| !expected.iter().any(|(e, _)| e == *n))
            .collect();
        names.sort();
        names.into_iter().map(|n| format!("`{n}`")).collect()
    };
    let missing: Vec<String> = expected
        .iter()
        .filter(|(n, _)| !by_name.contains_key(n))
        .map(|(n, s)| format!("`{n}` {s:?}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}: missing tensor(s) {} of {what}{}",
            file.display(),
            missing.join(", "),
            if extra.is_empty() {
                String::new()
            } else {
                format!("; the file has {} instead", extra.join(", "))
            }
        );
    }
    ensure!(
        extra.is_empty(),
        "{}: tensor(s) {} are not part of {what}",
        file.display(),
        extra.join(", ")
    );
    let mut out = Vec::with_capacity(expected.len());
    for (name, shape) in expected {
        let t = by_name.remove(name).expect("checked above");
        ensure!(
            t.shape == *shape,
            "{}: tensor `{name}` has shape {:?}; {what} needs {shape:?}",
            file.display(),
            t.shape
        );
        let values = t.values.map_err(|dtype| {
            anyhow::anyhow!(
                "{}: tensor `{name}` is {dtype}; gradlab reads float32 tensors (save the weights as float32)",
                file.display()
            )
        })?;
        let bad = values.iter().filter(|v| !v.is_finite()).count();
        ensure!(
            bad == 0,
            "{}: tensor `{name}` holds {bad} non-finite value(s) (NaN or ±inf): {what} with them predicts nothing",
            file.display()
        );
        out.push(NamedTensor::new(name.clone(), t.shape, values));
    }
    Ok(out)
}

/// Write `tensors` as a safetensors file at `path` with `metadata` in its header (atomically;
/// an existing file is never overwritten).
pub fn write_safetensors(path: &Path, tensors: &[NamedTensor], metadata: BTreeMap<String, String>) -> Result<()> {
    crate::io::ensure_new(path)?;
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.shape.clone(), b)
                .map_err(|e| anyhow::anyhow!("tensor `{}`: {e}", t.name))?;
            Ok((t.name.clone(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    let data = safetensors::serialize(views, Some(metadata.into_iter().collect()))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let data = canonical_header(data)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    crate::io::atomic_write(path, &data)
}

/// `file` (a safetensors file) with its JSON header's keys in sorted order: the safetensors crate
/// writes the metadata from a `HashMap`, so without this two exports of one model differed in the
/// order of their metadata. The header keeps its length (the same keys and values, reordered),
/// so the padding and every data offset stay as they are.
fn canonical_header(mut file: Vec<u8>) -> Result<Vec<u8>> {
    let len = u64::from_le_bytes(file[..8].try_into()?) as usize;
    let header = &file[8..8 + len];
    let text = std::str::from_utf8(header)?.trim_end_matches(' ');
    // serde_json's `Map` is ordered by key (no `preserve_order` in this workspace).
    let value: serde_json::Value = serde_json::from_str(text)?;
    let sorted = serde_json::to_string(&value)?;
    anyhow::ensure!(
        sorted.len() == text.len(),
        "a safetensors header changed length when sorted"
    );
    file[8..8 + sorted.len()].copy_from_slice(sorted.as_bytes());
    Ok(file)
}

/// Every parameter of `module` by its path (`conv1.weight`), in burn's layouts, as float32.
pub fn module_tensors<M: Module>(module: &M) -> Result<Vec<NamedTensor>> {
    module
        .collect(None, None, false)
        .into_iter()
        .map(|t| {
            let (name, shape) = (t.name.clone(), t.shape.to_vec());
            let data = bridge::into_data(t)
                .map_err(|e| anyhow::anyhow!("parameter `{name}` cannot be read ({e:?})"))?
                .convert::<f32>();
            let values = data
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("parameter `{name}`: {e:?}"))?;
            Ok(NamedTensor::new(name, shape, values))
        })
        .collect()
}

/// `module` with its parameters replaced by `tensors` (burn names and layouts); every parameter
/// must be given.
pub fn load_tensors<M: Module>(mut module: M, tensors: Vec<NamedTensor>) -> Result<M> {
    let packs = tensors
        .into_iter()
        .map(|t| bridge::from_data(TensorData::new(t.values, t.shape), t.name, None))
        .collect();
    let result = module.apply(packs, None, None, false);
    ensure!(
        result.errors.is_empty() && result.missing.is_empty() && result.unused.is_empty(),
        "the tensors do not fit the model:\n{result}"
    );
    Ok(module)
}

/// `module`'s parameters as a safetensors file at `path` in burn's names and layouts (never
/// over an existing file), with `producer` and the text of the model's manifest (the
/// `model.json` beside the chosen model file: vocabulary, encoder, shapes — what the arrays need
/// to be used) in the file's metadata under `gradlab_model_json`.
pub fn export_module<M: Module>(module: &M, path: &Path, producer: &str, model_file: &Path) -> Result<()> {
    let manifest = model_file.with_file_name("model.json");
    let text = std::fs::read_to_string(&manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    let metadata = BTreeMap::from([
        ("producer".to_string(), producer.to_string()),
        ("layout".to_string(), "burn".to_string()),
        ("gradlab_model_json".to_string(), text),
    ]);
    write_safetensors(path, &module_tensors(module)?, metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by mnist-cnn's SIGKILL test, which compares a killed export with an
    /// earlier one byte for byte): the metadata came out in a `HashMap`'s order, so two exports
    /// of one model differed. Now the header's keys are sorted and the file reads back.
    #[test]
    fn two_exports_of_the_same_tensors_are_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let tensors = vec![
            NamedTensor::new("b.weight", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]),
            NamedTensor::new("a.bias", vec![3], vec![0.5, -0.5, 0.25]),
        ];
        let metadata: BTreeMap<String, String> = ["producer", "layout", "zeta", "alpha", "m", "q", "x"]
            .iter()
            .map(|k| (k.to_string(), format!("value of {k}")))
            .collect();
        let files: Vec<Vec<u8>> = (0..8)
            .map(|i| {
                let p = dir.path().join(format!("t{i}.safetensors"));
                write_safetensors(&p, &tensors, metadata.clone()).unwrap();
                std::fs::read(&p).unwrap()
            })
            .collect();
        assert!(files.windows(2).all(|w| w[0] == w[1]), "exports differ");
        let back = read_file(&dir.path().join("t0.safetensors"), FileKind::Safetensors).unwrap();
        assert_eq!(back.len(), 2);
    }
}
