//! The `mnist-cnn` binary end to end: clear errors with a non-zero exit, and a tiny
//! train → eval → predict round trip.

use std::path::Path;
use std::process::Output;

use gradlab_testkit::text;

fn mnist_cnn(args: &[&str], cwd: &Path) -> Output {
    gradlab_testkit::run(env!("CARGO_BIN_EXE_mnist-cnn"), args, cwd, None)
}

fn fails_with(args: &[&str], cwd: &Path, needles: &[&str]) {
    let o = mnist_cnn(args, cwd);
    let t = text(&o);
    assert!(!o.status.success(), "{args:?} should fail:\n{t}");
    assert!(!t.contains("panicked"), "{args:?} panicked:\n{t}");
    for n in needles {
        assert!(t.contains(n), "{args:?}: expected `{n}` in:\n{t}");
    }
}

#[test]
fn config_errors_name_the_file_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("typo.toml"), "epochs = 1\nbatchsize = 8\n").unwrap();
    fails_with(
        &["--config", "typo.toml"],
        d,
        &["typo.toml", "line 2", "unknown field `batchsize`"],
    );
    std::fs::write(d.join("backend.toml"), "backend = \"cuda\"\n").unwrap();
    fails_with(&["--config", "backend.toml"], d, &["backend.toml", "cuda"]);
    std::fs::write(d.join("type.toml"), "epochs = \"five\"\n").unwrap();
    fails_with(&["--config", "type.toml"], d, &["type.toml", "epochs"]);
    std::fs::write(d.join("range.toml"), "batch_size = 0\n").unwrap();
    fails_with(&["--config", "range.toml"], d, &["`batch_size` = 0 is out of range"]);
    std::fs::write(d.join("adapter.toml"), "adapter = \"gpu9\"\n").unwrap();
    fails_with(
        &["--config", "adapter.toml"],
        d,
        &["adapter.toml", "bad adapter `gpu9`"],
    );
    fails_with(&["--config", "missing.toml"], d, &["missing.toml"]);
    fails_with(&["--backend", "tpu"], d, &["tpu", "flex"]);
    fails_with(&["--lr=-1"], d, &["`learning_rate` = -1 is out of range"]);
    fails_with(&["train", "--epochs", "0"], d, &["`epochs` = 0 is out of range"]);
    fails_with(&["--adapter", "discrete:x"], d, &["bad adapter"]);
}

#[test]
fn missing_data_and_models_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("fashion.toml"),
        "dataset = \"fashion-mnist\"\nfashion_dir = \"no-such-dir\"\n",
    )
    .unwrap();
    fails_with(
        &["--backend", "flex", "--config", "fashion.toml", "--out", "o"],
        d,
        &[
            "Fashion-MNIST not found in no-such-dir",
            "apt-get install dataset-fashion-mnist",
        ],
    );
    std::fs::write(d.join("mnist.toml"), "dataset = \"mnist\"\nmnist_dir = \"m\"\n").unwrap();
    std::fs::create_dir(d.join("m")).unwrap();
    std::fs::write(d.join("m/train-images-idx3-ubyte.gz"), b"corrupt").unwrap();
    fails_with(
        &["--backend", "flex", "--config", "mnist.toml", "--out", "o"],
        d,
        &["train-images-idx3-ubyte.gz", "SHA-256", "delete it to download again"],
    );
    let o = mnist_cnn(&["--backend", "flex", "eval", "--out", "nothing-here"], d);
    assert!(!o.status.success());
    assert!(text(&o).contains("no previous run"), "{}", text(&o));
    fails_with(
        &["--backend", "flex", "predict", "--model", "nope.bpk", "--index", "0"],
        d,
        &["nope.bpk"],
    );
    std::fs::write(d.join("garbage.bpk"), b"not a model").unwrap();
    fails_with(
        &["--backend", "flex", "predict", "--model", "garbage.bpk", "--index", "0"],
        d,
        &["garbage.bpk"],
    );
}

#[test]
fn tiny_train_eval_predict_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let common = ["--backend", "flex", "--out", "runs", "--test-limit", "100"];
    let mut train: Vec<&str> = common.to_vec();
    train.extend(["train", "--epochs", "1", "--train-limit", "96"]);
    let o = mnist_cnn(&train, d);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for needle in [
        "backend: flex on",
        "Total params: 93322",
        "epoch 1/1",
        "test accuracy",
        "runs/run-001/model.bpk",
    ] {
        assert!(t.contains(needle), "missing `{needle}` in:\n{t}");
    }
    assert_eq!(std::fs::read_to_string(d.join("runs/latest")).unwrap(), "run-001");
    let saved = std::fs::read_to_string(d.join("runs/run-001/config.toml")).unwrap();
    assert!(
        saved.contains("train_limit = 96") && saved.contains("backend = \"flex\""),
        "{saved}"
    );

    let mut eval: Vec<&str> = common.to_vec();
    eval.push("eval");
    let o = mnist_cnn(&eval, d);
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("on 100 images") && t.contains("recall"),
        "{t}"
    );

    let mut predict: Vec<&str> = common.to_vec();
    predict.extend(["predict", "--index", "3"]);
    let o = mnist_cnn(&predict, d);
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("predicted digit:") && t.contains("true label"),
        "{t}"
    );
    predict.pop();
    predict.push("100");
    let o = mnist_cnn(&predict, d);
    assert!(!o.status.success() && text(&o).contains("out of range"), "{}", text(&o));

    // A second run never overwrites the first.
    let o = mnist_cnn(&train, d);
    assert!(o.status.success(), "{}", text(&o));
    assert!(d.join("runs/run-001/model.bpk").exists() && d.join("runs/run-002/model.bpk").exists());
}
