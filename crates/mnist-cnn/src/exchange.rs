//! The seed CNN's weights in other frameworks' names and layouts, for files that leave and
//! enter gradlab (`mnist-cnn export`, `mnist-cnn import`).
//!
//! | tensor | burn (gradlab) | PyTorch seed model (`nn.Sequential`) | Keras seed model |
//! |---|---|---|---|
//! | conv1 weight / bias | `conv1.weight` [32, 1, 3, 3] (out, in, kh, kw) / `conv1.bias` [32] | `0.weight` [32, 1, 3, 3] / `0.bias` | `conv1.weight` [3, 3, 1, 32] (kh, kw, in, out) / `conv1.bias` |
//! | conv2 | `conv2.*` [64, 32, 3, 3] | `3.*` [64, 32, 3, 3] | `conv2.*` [3, 3, 32, 64] |
//! | conv3 | `conv3.*` [64, 64, 3, 3] | `6.*` [64, 64, 3, 3] | `conv3.*` [3, 3, 64, 64] |
//! | dense 576→64 | `fc1.weight` [576, 64] (in, out), rows in (c, h, w) order | `9.weight` [64, 576] (out, in), columns (c, h, w) | `fc1.weight` [576, 64] (in, out), rows in (h, w, c) order |
//! | dense 64→10 | `fc2.weight` [64, 10] | `11.weight` [10, 64] | `fc2.weight` [64, 10] |
//!
//! The PyTorch names are those `torch.nn.Module.load_state_dict` of `scripts/reference.py`'s
//! `nn.Sequential` seed model expects; the Keras names are those `scripts/keras_to_safetensors.py`
//! writes (the Keras layers in order, their arrays untouched). Keras flattens the last feature
//! map channels-last, so the first dense layer's rows are permuted (row `(h·3 + w)·64 + c` of the
//! Keras kernel is row `c·9 + h·3 + w` here): leaving that out gives a model that loads and is
//! silently wrong.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use burn::tensor::Device;
use gradlab::ResolvedBackend;
use gradlab::exchange::{FileKind, NamedTensor};

use crate::config::MnistConfig;
use crate::inference::{EvalResult, evaluate, save_model};
use crate::model::Cnn;

/// Whose names and layouts a weights file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// gradlab's own: burn's parameter paths and layouts.
    Burn,
    /// The PyTorch seed model's `state_dict`.
    Pytorch,
    /// The Keras seed model's weights, as `scripts/keras_to_safetensors.py` writes them.
    Keras,
}

impl Layout {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Burn => "burn",
            Layout::Pytorch => "pytorch",
            Layout::Keras => "keras",
        }
    }
}

/// The five layers: burn name and PyTorch `nn.Sequential` index.
const LAYERS: [(&str, &str); 5] = [
    ("conv1", "0"),
    ("conv2", "3"),
    ("conv3", "6"),
    ("fc1", "9"),
    ("fc2", "11"),
];
/// Convolution layers: (in, out) channels; kernels are 3×3.
const CONVS: [(usize, usize); 3] = [(1, 32), (32, 64), (64, 64)];
/// Dense layers: (in, out).
const DENSES: [(usize, usize); 2] = [(576, 64), (64, 10)];
/// The last feature map flattened into fc1: (channels, height, width).
const FLAT: (usize, usize, usize) = (64, 3, 3);

/// The file name of a layer's tensor in `layout`.
fn file_name(layout: Layout, layer: usize, param: &str) -> String {
    let (burn, torch) = LAYERS[layer];
    match layout {
        Layout::Pytorch => format!("{torch}.{param}"),
        Layout::Burn | Layout::Keras => format!("{burn}.{param}"),
    }
}

/// Every tensor a file in `layout` must hold, with its shape, in layer order.
pub fn expected(layout: Layout) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (i, &(cin, cout)) in CONVS.iter().enumerate() {
        let w = match layout {
            Layout::Burn | Layout::Pytorch => vec![cout, cin, 3, 3],
            Layout::Keras => vec![3, 3, cin, cout],
        };
        out.push((file_name(layout, i, "weight"), w));
        out.push((file_name(layout, i, "bias"), vec![cout]));
    }
    for (j, &(din, dout)) in DENSES.iter().enumerate() {
        let w = match layout {
            Layout::Pytorch => vec![dout, din],
            Layout::Burn | Layout::Keras => vec![din, dout],
        };
        out.push((file_name(layout, 3 + j, "weight"), w));
        out.push((file_name(layout, 3 + j, "bias"), vec![dout]));
    }
    out
}

/// `[rows, cols]` → `[cols, rows]`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// A 3×3 kernel `[kh, kw, in, out]` (Keras) → `[out, in, kh, kw]` (burn), or back (`back`).
fn conv_kernel(values: &[f32], cin: usize, cout: usize, back: bool) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for y in 0..3 {
        for x in 0..3 {
            for i in 0..cin {
                for o in 0..cout {
                    let keras = ((y * 3 + x) * cin + i) * cout + o;
                    let burn = ((o * cin + i) * 3 + y) * 3 + x;
                    if back {
                        out[keras] = values[burn];
                    } else {
                        out[burn] = values[keras];
                    }
                }
            }
        }
    }
    out
}

/// fc1's rows from Keras's (h, w, c) flatten order to burn's (c, h, w), or back (`back`).
fn flatten_rows(values: &[f32], back: bool) -> Vec<f32> {
    let (ch, h, w) = FLAT;
    let width = DENSES[0].1;
    let mut out = vec![0.0; values.len()];
    for c in 0..ch {
        for y in 0..h {
            for x in 0..w {
                let burn = (c * h + y) * w + x;
                let keras = (y * w + x) * ch + c;
                let (to, from) = if back { (keras, burn) } else { (burn, keras) };
                out[to * width..(to + 1) * width].copy_from_slice(&values[from * width..(from + 1) * width]);
            }
        }
    }
    out
}

/// The tensors of a file in `layout` (in [`expected`]'s order, checked) as burn's parameters.
fn to_burn(layout: Layout, tensors: Vec<NamedTensor>) -> Vec<NamedTensor> {
    convert(layout, tensors, false)
}

/// burn's parameters (in [`expected`]`(Burn)`'s order) as the tensors of a file in `layout`.
fn from_burn(layout: Layout, tensors: Vec<NamedTensor>) -> Vec<NamedTensor> {
    convert(layout, tensors, true)
}

/// One direction of the layout change; `back`: burn → `layout`.
fn convert(layout: Layout, tensors: Vec<NamedTensor>, back: bool) -> Vec<NamedTensor> {
    let (from, to) = if back {
        (Layout::Burn, layout)
    } else {
        (layout, Layout::Burn)
    };
    let (names, shapes) = (expected(from), expected(to));
    tensors
        .into_iter()
        .enumerate()
        .map(|(k, t)| {
            let (layer, is_weight) = (k / 2, k % 2 == 0);
            let values = match (layout, is_weight, layer) {
                (_, false, _) | (Layout::Burn, _, _) => t.values,
                (Layout::Pytorch, true, 0..=2) => t.values,
                (Layout::Pytorch, true, _) => {
                    let (din, dout) = DENSES[layer - 3];
                    if back {
                        transpose(&t.values, din, dout)
                    } else {
                        transpose(&t.values, dout, din)
                    }
                }
                (Layout::Keras, true, 0..=2) => {
                    let (cin, cout) = CONVS[layer];
                    conv_kernel(&t.values, cin, cout, back)
                }
                (Layout::Keras, true, 3) => flatten_rows(&t.values, back),
                (Layout::Keras, true, _) => t.values,
            };
            debug_assert_eq!(t.name, names[k].0);
            let (name, shape) = shapes[k].clone();
            NamedTensor::new(name, shape, values)
        })
        .collect()
}

/// `model`'s weights as a safetensors file in `layout` at `path` (never over an existing file),
/// with gradlab's version and the layout in the file's metadata.
pub fn export_safetensors(model: &Cnn, layout: Layout, path: &Path) -> Result<()> {
    let burn = gradlab::exchange::module_tensors(model)?;
    // The module's own order is its field order; the layout tables use layer order.
    let burn = order_like(burn, &expected(Layout::Burn));
    let metadata = BTreeMap::from([
        (
            "producer".to_string(),
            format!("gradlab mnist-cnn {}", env!("CARGO_PKG_VERSION")),
        ),
        ("layout".to_string(), layout.as_str().to_string()),
    ]);
    gradlab::exchange::write_safetensors(path, &from_burn(layout, burn), metadata)
}

/// The ONNX graph's input: float32 images, pixels scaled to 0..1 (white digit on black).
pub const ONNX_INPUT: &str = "images";
/// The ONNX graph's output: float32 class logits (softmax gives the probabilities).
pub const ONNX_OUTPUT: &str = "logits";

/// `model` as an ONNX file at `path` (never over an existing file): opset
/// [`gradlab::onnx::OPSET`], input [`ONNX_INPUT`] `[batch, 1, 28, 28]`, output [`ONNX_OUTPUT`]
/// `[batch, 10]`, `batch` symbolic; the weights embedded under their burn names
/// (`conv1.weight`, OIHW; `fc1.weight`, in×out as in burn's layout: the graph multiplies by it
/// as is). The graph is burn's stock layers (the fast path is the same function). `source`
/// names the model file in the metadata. Returns the file's size in bytes.
pub fn export_onnx(model: &Cnn, source: &Path, path: &Path) -> Result<u64> {
    let model = model.clone().with_fast_path(false);
    let device = gradlab::backend::host_device();
    let images = |batch| burn::tensor::Tensor::<4>::zeros([batch, 1, 28, 28], &device);
    let signature = gradlab::onnx::Signature {
        input: ONNX_INPUT.into(),
        output: ONNX_OUTPUT.into(),
        doc: "gradlab's seed CNN on 28x28 digits: images [batch, 1, 28, 28] float32, pixels 0..1 \
              (white digit on black, as MNIST) -> logits [batch, 10] (softmax for probabilities)"
            .into(),
        metadata: BTreeMap::from([("source".to_string(), source.display().to_string())]),
    };
    gradlab::onnx::export(&model, (images(2), images(3)), Cnn::forward, &signature, path)
}

/// `tensors` in the order of `expected`'s names (each is present: they come from the model).
fn order_like(mut tensors: Vec<NamedTensor>, expected: &[(String, Vec<usize>)]) -> Vec<NamedTensor> {
    let rank = |t: &NamedTensor| expected.iter().position(|(n, _)| *n == t.name).unwrap_or(usize::MAX);
    tensors.sort_by_key(rank);
    tensors
}

/// The seed CNN with the weights of `path` (a `kind` file in `layout`) on `device`. Every
/// tensor is checked first: a missing, extra, misshapen or non-float32 one is an error naming it.
pub fn import(path: &Path, kind: FileKind, layout: Layout, device: &Device) -> Result<Cnn> {
    let found = gradlab::exchange::read_file(path, kind)?;
    let what = format!("the seed CNN in the {} layout", layout.as_str());
    let tensors = gradlab::exchange::expect(path, found, &expected(layout), &what)?;
    gradlab::exchange::load_tensors(Cnn::new(device), to_burn(layout, tensors))
}

/// What `mnist-cnn import` made.
#[derive(Debug)]
pub struct Imported {
    /// The new run folder.
    pub run_dir: std::path::PathBuf,
    /// The model file in it.
    pub model_path: std::path::PathBuf,
    /// The imported model on the config's test split.
    pub test: EvalResult,
}

/// `mnist-cnn import`: a new run folder holding the weights of `path` as a gradlab model
/// (`model.bpk` + `model.json`, scored on `cfg`'s test split like a trained model, and a
/// `report.json` naming the source), so `eval` and `predict` use it like one trained here.
pub fn import_run(
    cfg: &MnistConfig,
    backend: &ResolvedBackend,
    path: &Path,
    kind: FileKind,
    layout: Layout,
) -> Result<Imported> {
    // The file is read and checked before a run folder is made.
    let model = import(path, kind, layout, &backend.device)?.with_fast_path(cfg.fast_path);
    let splits = crate::data::load(cfg)?;
    let run_dir = gradlab::runs::new_run_dir(&cfg.out_dir)?;
    gradlab::config::save_resolved(cfg, &run_dir)?;
    let data = format!(
        "imported from {} ({} file, {} layout), trained outside gradlab; scored on {}",
        path.display(),
        kind.as_str(),
        layout.as_str(),
        splits.description
    );
    let test = evaluate(&model, splits.test, 256, &backend.device)?;
    let model_path = save_model(&run_dir, &model, cfg, &data)?;
    gradlab::report::write_run_report(
        &run_dir,
        "mnist-cnn",
        env!("CARGO_PKG_VERSION"),
        backend.to_json(),
        serde_json::json!({
            "command": "import",
            "source": {"file": path.display().to_string(), "kind": kind, "layout": layout},
            "data": data,
            "config": cfg,
            "test": test,
        }),
    )?;
    Ok(Imported {
        run_dir,
        model_path,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting(layout: Layout) -> Vec<NamedTensor> {
        let mut next = 0.0f32;
        expected(layout)
            .into_iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                let values = (0..n)
                    .map(|_| {
                        next += 1.0;
                        next
                    })
                    .collect();
                NamedTensor::new(name, shape, values)
            })
            .collect()
    }

    #[test]
    fn every_layout_converts_to_burn_and_back_exactly() {
        for layout in [Layout::Burn, Layout::Pytorch, Layout::Keras] {
            let file = counting(layout);
            let burn = to_burn(layout, file.clone());
            let names: Vec<(String, Vec<usize>)> = burn.iter().map(|t| (t.name.clone(), t.shape.clone())).collect();
            assert_eq!(names, expected(Layout::Burn), "{layout:?}");
            assert_eq!(from_burn(layout, burn), file, "{layout:?}");
        }
    }

    #[test]
    fn layouts_move_the_values_where_each_framework_keeps_them() {
        // PyTorch's fc2 is [out, in]: its element (o, i) is burn's (i, o).
        let torch = counting(Layout::Pytorch);
        let burn = to_burn(Layout::Pytorch, torch.clone());
        let (o, i) = (7, 33);
        assert_eq!(burn[8].values[i * 10 + o], torch[8].values[o * 64 + i]);
        // Keras's conv2 kernel is [kh, kw, in, out].
        let keras = counting(Layout::Keras);
        let burn = to_burn(Layout::Keras, keras.clone());
        let (y, x, ci, co) = (2, 1, 5, 60);
        assert_eq!(
            burn[2].values[((co * 32 + ci) * 3 + y) * 3 + x],
            keras[2].values[((y * 3 + x) * 32 + ci) * 64 + co]
        );
        // Keras flattens (h, w, c): feature (c = 10, h = 2, w = 0) is its row (2·3 + 0)·64 + 10.
        let (c, h, w) = (10, 2, 0);
        let (burn_row, keras_row) = (c * 9 + h * 3 + w, (h * 3 + w) * 64 + c);
        assert_eq!(
            burn[6].values[burn_row * 64..burn_row * 64 + 64],
            keras[6].values[keras_row * 64..keras_row * 64 + 64]
        );
    }
}
