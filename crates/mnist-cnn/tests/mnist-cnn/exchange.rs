//! Weights that leave and enter gradlab: the seed CNN exported and imported in burn's,
//! PyTorch's and Keras's names and layouts, checked against the frameworks themselves.
//!
//! The fixtures in `tests/fixtures/` were made once by `python3 scripts/exchange_fixtures.py`
//! (torch 2.15, tf_keras 2.21): the seed CNN with each framework's own seeded weights, saved as a
//! user would bring it, and the framework's logits on the first 8 images of the bench's fixed
//! batch (image (k·503) mod n of mnist-5k, pixels/255).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use burn::tensor::{Device, Tensor, TensorData};
use common::backend;
use gradlab::BackendName;
use gradlab::exchange::{FileKind, NamedTensor, module_tensors, write_safetensors};
use gradlab_testkit::text;
use mnist_cnn::exchange::{Layout, expected, export_safetensors, import};
use mnist_cnn::model::Cnn;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn mnist_cnn(args: &[&str], cwd: &Path) -> Output {
    gradlab_testkit::run(env!("CARGO_BIN_EXE_mnist-cnn"), args, cwd, None)
}

/// The framework's logits in `logits.json` and the images they were computed on.
fn reference(framework: &str) -> (Vec<Vec<f64>>, Tensor<4>) {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("logits.json")).unwrap()).unwrap();
    let logits: Vec<Vec<f64>> = serde_json::from_value(doc[framework]["logits"].clone()).unwrap();
    let file = gradlab::data::digits_csv::find(Path::new("datasets/mnist-5k/mnist_5k.csv.gz"));
    let (pixels, labels) = gradlab::data::digits_csv::read_file(&file).unwrap();
    let n = labels.len();
    let mut x = Vec::new();
    for k in 0..logits.len() {
        let i = (k * 503) % n;
        x.extend(pixels[i * 784..(i + 1) * 784].iter().map(|&p| p as f32 / 255.0));
    }
    let want: Vec<u64> = serde_json::from_value(doc["images"]["labels"].clone()).unwrap();
    let got: Vec<u64> = (0..logits.len()).map(|k| labels[(k * 503) % n] as u64).collect();
    assert_eq!(got, want, "the fixture's images are the bench's fixed batch");
    let device = backend(BackendName::Flex).device;
    let images = Tensor::from_data(TensorData::new(x, [logits.len(), 1, 28, 28]), &device);
    (logits, images)
}

fn largest_difference(model: &Cnn, framework: &str) -> f64 {
    let (want, images) = reference(framework);
    let got: Vec<f64> = model.forward(images).into_data().iter::<f64>().collect();
    let want: Vec<f64> = want.into_iter().flatten().collect();
    assert_eq!(got.len(), want.len());
    got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

fn flex() -> Device {
    backend(BackendName::Flex).device
}

/// PyTorch's weights (its `.pt` state_dict and the same as safetensors) and Keras's give, in
/// gradlab, the logits the frameworks gave. A transpose or Keras's flatten order left out
/// changes them by far more than 1e-5.
#[test]
fn pytorch_and_keras_weights_give_the_frameworks_own_logits() {
    let device = flex();
    for (file, kind, layout, framework) in [
        ("torch_seed_cnn.pt", FileKind::Pytorch, Layout::Pytorch, "torch"),
        (
            "torch_seed_cnn.safetensors",
            FileKind::Safetensors,
            Layout::Pytorch,
            "torch",
        ),
        (
            "keras_seed_cnn.safetensors",
            FileKind::Safetensors,
            Layout::Keras,
            "keras",
        ),
    ] {
        let model = import(&fixture(file), kind, layout, &device).unwrap();
        let diff = largest_difference(&model.clone().with_fast_path(false), framework);
        assert!(diff < 1e-5, "{file}: largest logit difference {diff:e}");
        let fast = largest_difference(&model.with_fast_path(true), framework);
        assert!(
            fast < 1e-5,
            "{file} on the fast path: largest logit difference {fast:e}"
        );
        // The README's figures (`cargo test --release --workspace --test exchange -- --nocapture`).
        eprintln!("{file}: largest |logit difference| {diff:.1e} (stock layers), {fast:.1e} (fast path)");
    }
}

/// Export then import gives the same parameters, bit for bit, in every layout.
#[test]
fn export_then_import_is_bit_exact_in_every_layout() {
    let device = flex();
    let model = gradlab::seeded(&device, 3, || Cnn::new(&device));
    let before = module_tensors(&model).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for layout in [Layout::Burn, Layout::Pytorch, Layout::Keras] {
        let path = dir.path().join(format!("{}.safetensors", layout.as_str()));
        export_safetensors(&model, layout, &path).unwrap();
        let back = import(&path, FileKind::Safetensors, layout, &device).unwrap();
        let after = module_tensors(&back).unwrap();
        assert_eq!(after.len(), before.len());
        for (a, b) in after.iter().zip(&before) {
            assert_eq!(a.name, b.name, "{layout:?}");
            let same = a.values.iter().zip(&b.values).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same && a.shape == b.shape, "{layout:?}: {} changed", a.name);
        }
    }
}

/// The tensors of a valid file in `layout`, for breaking.
fn tensors(layout: Layout) -> Vec<NamedTensor> {
    expected(layout)
        .into_iter()
        .map(|(name, shape)| {
            let n = shape.iter().product();
            NamedTensor::new(name, shape, vec![0.01; n])
        })
        .collect()
}

fn import_error(path: &Path, layout: Layout) -> String {
    match import(path, FileKind::Safetensors, layout, &flex()) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => format!("{e:#}"),
    }
}

/// Every kind of bad file is an error naming the file and the tensor at fault.
#[test]
fn bad_files_are_errors_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, t: &[NamedTensor]| {
        let p = dir.path().join(name);
        write_safetensors(&p, t, Default::default()).unwrap();
        p
    };
    let mut missing = tensors(Layout::Pytorch);
    missing.retain(|t| t.name != "9.bias");
    let e = import_error(&write("missing.safetensors", &missing), Layout::Pytorch);
    assert!(e.contains("missing.safetensors") && e.contains("`9.bias` [64]"), "{e}");

    let mut extra = tensors(Layout::Pytorch);
    extra.push(NamedTensor::new("12.weight", vec![2], vec![0.0, 1.0]));
    let e = import_error(&write("extra.safetensors", &extra), Layout::Pytorch);
    assert!(
        e.contains("`12.weight`") && e.contains("not part of the seed CNN"),
        "{e}"
    );

    // A PyTorch file read as gradlab's own layout: every name is wrong, and the error says which.
    let e = import_error(&write("torch.safetensors", &tensors(Layout::Pytorch)), Layout::Burn);
    assert!(
        e.contains("`conv1.weight` [32, 1, 3, 3]") && e.contains("`0.weight`"),
        "{e}"
    );

    let mut shape = tensors(Layout::Keras);
    shape[6] = NamedTensor::new("fc1.weight", vec![64, 576], vec![0.0; 576 * 64]);
    let e = import_error(&write("shape.safetensors", &shape), Layout::Keras);
    assert!(
        e.contains("`fc1.weight` has shape [64, 576]") && e.contains("[576, 64]"),
        "{e}"
    );

    // float64 weights are refused, not silently kept in another precision.
    let good = write("good.safetensors", &tensors(Layout::Burn));
    let data = std::fs::read(&good).unwrap();
    let file = safetensors::SafeTensors::deserialize(&data).unwrap();
    let wide: Vec<(String, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, v)| {
            if name == "conv2.bias" {
                let f64s = v
                    .data()
                    .chunks_exact(4)
                    .flat_map(|b| (f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).to_le_bytes());
                (name, v.shape().to_vec(), f64s.collect())
            } else {
                (name, v.shape().to_vec(), v.data().to_vec())
            }
        })
        .collect();
    let views = wide.iter().map(|(name, shape, bytes)| {
        let dtype = if name == "conv2.bias" {
            safetensors::Dtype::F64
        } else {
            safetensors::Dtype::F32
        };
        (
            name.clone(),
            safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes).unwrap(),
        )
    });
    let f64_path = dir.path().join("f64.safetensors");
    std::fs::write(&f64_path, safetensors::serialize(views, None).unwrap()).unwrap();
    let e = import_error(&f64_path, Layout::Burn);
    assert!(e.contains("`conv2.bias` is F64") && e.contains("float32"), "{e}");

    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &data[..data.len() / 2]).unwrap();
    let e = import_error(&truncated, Layout::Burn);
    assert!(
        e.contains("truncated.safetensors: not a readable safetensors file"),
        "{e}"
    );

    let pt_as_safetensors = import_error(&fixture("torch_seed_cnn.pt"), Layout::Pytorch);
    assert!(
        pt_as_safetensors.contains("not a readable safetensors file"),
        "{pt_as_safetensors}"
    );
    let e = match import(&good, FileKind::Pytorch, Layout::Burn, &flex()) {
        Ok(_) => panic!("a safetensors file read as a PyTorch file was accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("good.safetensors: not a readable PyTorch state_dict"), "{e}");
}

/// `import` makes a run folder `eval` and `predict` use like a trained one; `export` writes the
/// layouts and never overwrites a file.
#[test]
fn import_makes_a_model_eval_uses_and_export_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (d, exe) = (dir.path(), env!("CARGO_BIN_EXE_mnist-cnn"));
    let pt = fixture("torch_seed_cnn.pt");
    let import = [
        "import",
        "--from",
        "pytorch",
        pt.to_str().unwrap(),
        "--backend",
        "flex",
        "--out",
        "runs",
    ];
    let t = gradlab_testkit::succeeds(exe, &import, d);
    assert!(t.contains("(pytorch file, pytorch layout): test accuracy"), "{t}");
    let report = std::fs::read_to_string(d.join("runs/run-001/report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        (&report["command"], &report["source"]["layout"]),
        (&"import".into(), &"pytorch".into())
    );
    let accuracy = report["test"]["accuracy"].as_f64().unwrap();
    let t = gradlab_testkit::succeeds(exe, &["eval", "--backend", "flex", "--out", "runs"], d);
    assert!(t.contains("runs/run-001/model.bpk (imported"), "{t}");
    assert!(t.contains(&format!("accuracy {:.2}%", 100.0 * accuracy)), "{t}");
    let t = gradlab_testkit::succeeds(exe, &["predict", "--index", "3", "--out", "runs"], d);
    assert!(t.contains("predicted digit:"), "{t}");

    // Export in PyTorch's layout gives back the fixture's arrays, byte for byte.
    let export = ["export", "--layout", "pytorch", "--out", "runs", "w.safetensors"];
    let t = gradlab_testkit::succeeds(exe, &export, d);
    assert!(t.contains("wrote w.safetensors (safetensors, pytorch layout)"), "{t}");
    let (ours, theirs) = (
        std::fs::read(d.join("w.safetensors")).unwrap(),
        std::fs::read(fixture("torch_seed_cnn.safetensors")).unwrap(),
    );
    let (ours, theirs) = (
        safetensors::SafeTensors::deserialize(&ours).unwrap(),
        safetensors::SafeTensors::deserialize(&theirs).unwrap(),
    );
    let (mut names, mut want) = (ours.names(), theirs.names());
    names.sort();
    want.sort();
    assert_eq!(names, want);
    for name in names {
        let (a, b) = (ours.tensor(name).unwrap(), theirs.tensor(name).unwrap());
        assert_eq!((a.shape(), a.data()), (b.shape(), b.data()), "{name}");
    }
    // A second export to the same file (in another layout) is refused and leaves it as it was.
    let again = ["export", "--layout", "keras", "--out", "runs", "w.safetensors"];
    let (shapes, meta) = gradlab_testkit::export_file(exe, &again, d, &d.join("w.safetensors"));
    assert_eq!(
        (shapes.len(), meta.get("layout").map(String::as_str)),
        (10, Some("pytorch"))
    );

    // A file in another layout than said: the missing tensors are named, and no run folder made.
    let keras = fixture("keras_seed_cnn.safetensors");
    let o = mnist_cnn(
        &[
            "import",
            "--from",
            "safetensors",
            "--layout",
            "pytorch",
            keras.to_str().unwrap(),
            "--out",
            "runs",
        ],
        d,
    );
    assert!(
        !o.status.success() && text(&o).contains("missing tensor(s) `0.weight` [32, 1, 3, 3]"),
        "{}",
        text(&o)
    );
    assert!(!d.join("runs/run-002").exists());
    // A bad file makes no run folder.
    std::fs::write(d.join("junk.safetensors"), b"not a tensor file").unwrap();
    let o = mnist_cnn(
        &["import", "--from", "safetensors", "junk.safetensors", "--out", "runs"],
        d,
    );
    assert!(
        !o.status.success() && text(&o).contains("junk.safetensors: not a readable"),
        "{}",
        text(&o)
    );
    assert!(!d.join("runs/run-002").exists());
}
