//! `mnist-cnn export --format onnx`: the graph it writes (names, symbolic batch axis, opset,
//! weights), what it refuses, and — by another runtime — onnxruntime's logits for the exported
//! trained model on 100 test digits against gradlab's own (`scripts/onnx_run.py logits`).

use std::path::Path;
use std::process::Output;

use burn::data::dataset::Dataset;
use burn::tensor::{Tensor, TensorData};
use gradlab::onnx::{Dim, Port, describe};
use gradlab_testkit::{python_with, text};
use mnist_cnn::exchange::export_onnx;
use mnist_cnn::inference::load_model;
use mnist_cnn::model::Cnn;

fn mnist_cnn(args: &[&str], cwd: &Path) -> Output {
    gradlab_testkit::run(env!("CARGO_BIN_EXE_mnist-cnn"), args, cwd, None)
}

fn port(name: &str, dims: &[Option<i64>]) -> Port {
    Port {
        name: name.into(),
        dims: dims
            .iter()
            .map(|d| d.map_or_else(|| Dim::Symbolic("batch".into()), Dim::Fixed))
            .collect(),
    }
}

#[test]
fn the_onnx_graph_has_the_documented_names_a_symbolic_batch_and_every_weight() {
    let dir = tempfile::tempdir().unwrap();
    let device = gradlab::backend::host_device();
    let model = gradlab::seeded(&device, 3, || Cnn::new(&device));
    let path = dir.path().join("cnn.onnx");
    let bytes = export_onnx(&model, Path::new("runs/run-007/model.bpk"), &path).unwrap();
    assert_eq!(bytes, std::fs::metadata(&path).unwrap().len());

    let about = describe(&path).unwrap();
    assert_eq!(about.opset, gradlab::onnx::OPSET);
    assert_eq!(about.inputs, [port("images", &[None, Some(1), Some(28), Some(28)])]);
    assert_eq!(about.outputs, [port("logits", &[None, Some(10)])]);
    // 5 layers × (weight, bias): every one of the 93,322 parameters, embedded.
    assert_eq!(about.weights, (10, 93_322));
    // The operators docs/crates/mnist-cnn.md lists, first uses in graph order: the convolution
    // blocks, the flatten with a symbolic batch (Shape, Gather, Concat, Reshape), the dense layers.
    assert_eq!(
        about.operators,
        [
            "Conv", "Relu", "MaxPool", "Shape", "Gather", "Concat", "Reshape", "MatMul", "Add"
        ]
    );
    assert!(
        about.producer.starts_with("gradlab ") && about.producer.ends_with(" (burn-onnx 0.22.0 exporter)"),
        "{}",
        about.producer
    );
    assert_eq!(about.metadata["source"], "runs/run-007/model.bpk");

    // Never over an existing file; the first file stays as it was.
    let before = std::fs::read(&path).unwrap();
    let err = export_onnx(&model, Path::new("x"), &path).unwrap_err().to_string();
    assert!(err.contains("exists") && err.contains("cnn.onnx"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn describe_names_a_file_that_is_not_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.onnx");
    std::fs::write(&path, b"\xff\xff\xffnot a protobuf").unwrap();
    let err = format!("{:#}", describe(&path).unwrap_err());
    assert!(err.contains("junk.onnx") && err.contains("not an ONNX model"), "{err}");
}

/// Train a tiny model in `d` (`runs/run-001`, test split of 100 images) and export it.
fn trained_and_exported(d: &Path) -> String {
    let o = mnist_cnn(
        &[
            "--backend",
            "flex",
            "--out",
            "runs",
            "--test-limit",
            "100",
            "train",
            "--epochs",
            "1",
            "--train-limit",
            "96",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = mnist_cnn(&["--out", "runs", "export", "--format", "onnx", "cnn.onnx"], d);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    t
}

#[test]
fn onnxruntime_gives_gradlabs_logits_on_100_test_digits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let printed = trained_and_exported(d);
    for needle in [
        "cnn.onnx (ONNX opset 18",
        "input  images: [batch, 1, 28, 28]",
        "output logits: [batch, 10]",
        "runs/run-001/model.bpk",
    ] {
        assert!(printed.contains(needle), "missing `{needle}` in:\n{printed}");
    }
    // `--layout` is for safetensors; an existing file is never replaced.
    let o = mnist_cnn(
        &[
            "--out",
            "runs",
            "export",
            "--format",
            "onnx",
            "--layout",
            "pytorch",
            "other.onnx",
        ],
        d,
    );
    assert!(
        !o.status.success() && text(&o).contains("--layout pytorch is for safetensors"),
        "{}",
        text(&o)
    );
    assert!(!d.join("other.onnx").exists());
    let before = std::fs::read(d.join("cnn.onnx")).unwrap();
    let o = mnist_cnn(&["--out", "runs", "export", "--format", "onnx", "cnn.onnx"], d);
    assert!(!o.status.success() && text(&o).contains("exists"), "{}", text(&o));
    assert_eq!(std::fs::read(d.join("cnn.onnx")).unwrap(), before);

    let Some(python) = python_with(&["onnxruntime", "numpy"], "the onnxruntime check") else {
        return;
    };
    // gradlab's logits for the model's first 100 test images, as `predict` computes them.
    let device = gradlab::backend::host_device();
    let loaded = load_model(&d.join("runs/run-001/model.bpk"), &device).unwrap();
    let splits = mnist_cnn::data::load(&loaded.info.config).unwrap();
    assert_eq!(splits.test.len(), 100);
    let images: Vec<Vec<f32>> = (0..100)
        .map(|i| {
            splits
                .test
                .get(i)
                .unwrap()
                .pixels
                .iter()
                .map(|&p| p as f32 / 255.0)
                .collect()
        })
        .collect();
    let flat: Vec<f32> = images.concat();
    let x = Tensor::<4>::from_data(TensorData::new(flat, [100, 1, 28, 28]), &device);
    let ours: Vec<f32> = loaded.model.forward(x).into_data().try_to_vec::<f32>().unwrap();

    std::fs::write(
        d.join("images.json"),
        serde_json::json!({ "images": images }).to_string(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/onnx_run.py");
    let o = std::process::Command::new(&python)
        .arg(&script)
        .args(["logits", "cnn.onnx", "images.json", "ort.json"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // Images of the wrong size are refused by the script, naming the file and the shape.
    std::fs::write(d.join("short.json"), r#"{"images": [[0.0, 0.5]]}"#).unwrap();
    let bad = std::process::Command::new(&python)
        .arg(&script)
        .args(["logits", "cnn.onnx", "short.json", "short-out.json"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(
        !bad.status.success() && text(&bad).contains("short.json: expected rows of 784 pixels, found shape (1, 2)"),
        "{}",
        text(&bad)
    );
    assert!(!d.join("short-out.json").exists());
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("ort.json")).unwrap()).unwrap();
    let theirs: Vec<Vec<f64>> = serde_json::from_value(doc["logits"].clone()).unwrap();
    assert_eq!(theirs.len(), 100);

    let argmax = |row: &[f64]| (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
    let mut max_diff = 0f64;
    for (k, row) in theirs.iter().enumerate() {
        let mine: Vec<f64> = ours[k * 10..(k + 1) * 10].iter().map(|&v| v as f64).collect();
        for (a, b) in mine.iter().zip(row) {
            max_diff = max_diff.max((a - b).abs());
        }
        assert_eq!(
            argmax(&mine),
            argmax(row),
            "digit {k}: gradlab {mine:?}, onnxruntime {row:?}"
        );
    }
    // Straight to the terminal (the figure the README quotes; libtest captures eprintln!).
    let line = format!(
        "onnxruntime {}: max |logit difference| on 100 test digits {max_diff:.2e}\n",
        doc["onnxruntime"].as_str().unwrap_or("?")
    );
    std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes()).ok();
    assert!(max_diff <= 1e-5, "onnxruntime and gradlab differ by {max_diff}");
}
