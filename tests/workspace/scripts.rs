//! The GPU scripts, without a GPU: `gpu-report.sh --dry-run` prints its plan, `gpu-kit.sh
//! --list` the kit's files (CI runs these, not the kit's release build or the report), and
//! `reference.py --device cuda` says clearly that there is no CUDA device where there is none
//! (a stand-in `torch` module whose CUDA is absent, so no real torch is needed).

use std::path::Path;
use std::process::{Command, Output};

use gradlab_testkit::text;

use crate::root;

fn bash(script: &str, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(root().join("scripts").join(script))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn gpu_report_dry_run_prints_every_step_with_its_limit_and_runs_nothing() {
    let out = tempfile::tempdir().unwrap();
    let report = out.path().join("report");
    let o = bash("gpu-report.sh", &["--dry-run", "--out", report.to_str().unwrap()]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for step in [
        "machine",
        "torch-cuda-32",
        "torch-cuda-256",
        "bench-mnist-cnn",
        "bench-sentiment",
        "bench-rnn",
        "bench-xor-backprop",
        "mnist-cnn-auto",
        "mnist-cnn-wgpu",
        "fashion-mnist-wgpu",
    ] {
        assert!(t.contains(&format!("  {step} ")), "no step {step} in:\n{t}");
    }
    assert!(
        t.contains("--backends flex,wgpu,vulkan,spirv") && t.contains("--batch-sizes 1,32,256,1024"),
        "{t}"
    );
    assert!(t.contains("reference.py --device cuda --batch 256"), "{t}");
    // The limits add up to less than a device command's 10 minutes.
    let total: u64 = t
        .split("at most ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total in:\n{t}"));
    assert!(total < 600, "{total} s");
    assert!(!report.exists(), "a dry run wrote {}", report.display());

    let o = bash("gpu-report.sh", &["--frobnicate"]);
    assert!(
        !o.status.success() && text(&o).contains("unknown argument '--frobnicate'"),
        "{}",
        text(&o)
    );
}

#[test]
fn gpu_kit_list_names_the_binaries_scripts_and_data() {
    let o = bash("gpu-kit.sh", &["--list"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for file in [
        "bench ",
        "mnist-cnn ",
        "gpu-report.sh",
        "reference.py",
        "datasets/mnist-5k/mnist_5k.csv.gz",
        "KIT.txt",
    ] {
        assert!(t.contains(file), "no {file} in:\n{t}");
    }
    // Every script and data file the kit copies is in the checkout.
    assert!(!t.contains("(missing)"), "{t}");
}

#[test]
fn reference_py_says_there_is_no_cuda_device() {
    let Some(python) = gradlab_testkit::python_with(&[], "reference.py --device cuda") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake/torch");
    std::fs::create_dir_all(fake.join("nn")).unwrap();
    std::fs::write(fake.join("nn/__init__.py"), "").unwrap();
    std::fs::write(
        fake.join("__init__.py"),
        "__version__ = '0.0-stand-in'\nclass version:\n    cuda = None\n\
         class cuda:\n    @staticmethod\n    def is_available():\n        return False\n",
    )
    .unwrap();
    let out = dir.path().join("ref.json");
    let o = Command::new(python)
        .arg(root().join("scripts/reference.py"))
        .args(["--device", "cuda", "--reps", "1", "--out"])
        .arg(&out)
        .env("PYTHONPATH", dir.path().join("fake"))
        .current_dir(root())
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("torch: no CUDA device: torch 0.0-stand-in sees none (this torch is built without CUDA"),
        "{t}"
    );
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(Path::new(&out)).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "only torch is timed on cuda: {doc}");
    assert!(
        results[0]["error"].as_str().unwrap().starts_with("no CUDA device"),
        "{doc}"
    );
}

/// The whole report with stand-in binaries (shell scripts that print what they were asked and,
/// for Fashion-MNIST, fail as a missing data set does): every step runs, report.md has the
/// table with each step's result, a failed step's own error line, and the logs.
#[test]
fn gpu_report_runs_every_step_and_writes_report_md() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let stub = "#!/bin/sh\necho \"backend: stand-in $(basename \"$0\") $*\"\n\
                case \"$*\" in *fashion*) echo \"error: Fashion-MNIST not found (stand-in)\" >&2; exit 2;; esac\n";
    for name in ["bench", "mnist-cnn"] {
        let path = bin.join(name);
        std::fs::write(&path, stub).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let report = dir.path().join("report");
    let o = bash(
        "gpu-report.sh",
        &["--bin", bin.to_str().unwrap(), "--out", report.to_str().unwrap()],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("| step | result | seconds |"), "{md}");
    for ok in [
        "machine",
        "bench-mnist-cnn",
        "bench-xor-backprop",
        "mnist-cnn-auto",
        "mnist-cnn-wgpu",
    ] {
        assert!(md.contains(&format!("| {ok} | ok |")), "{ok} not ok in:\n{md}");
    }
    assert!(
        md.contains("| fashion-mnist-wgpu | failed (exit status 2): error: Fashion-MNIST not found (stand-in) |"),
        "{md}"
    );
    // Each bench run got the plan's arguments.
    let bench_log = std::fs::read_to_string(report.join("bench-mnist-cnn.log")).unwrap();
    assert!(
        bench_log.contains("--models mnist-cnn,mnist-cnn-fast --batch-sizes 1,32,256,1024"),
        "{bench_log}"
    );
    // A second report never writes into the first one's folder.
    let o = bash(
        "gpu-report.sh",
        &["--bin", bin.to_str().unwrap(), "--out", report.to_str().unwrap()],
    );
    assert!(!o.status.success() && text(&o).contains("exists"), "{}", text(&o));
}

/// `scripts/speed_table.py --smoke` (the side-by-side speed table, issue 30) runs every part —
/// a tiny model trained and exported to ONNX, onnxruntime, the reference frameworks (each
/// named as timed or not installed), the bench on flex — and prints a well-formed table and
/// JSON. Only its shape is checked: no figure is asserted (speed is the script's to print).
#[test]
fn speed_table_smoke_prints_every_column_and_row() {
    let Some(python) = gradlab_testkit::python_with(&["onnxruntime", "numpy"], "speed_table.py --smoke") else {
        return;
    };
    let bins = gradlab_testkit::workspace_bin("bench").parent().unwrap().to_path_buf();
    gradlab_testkit::workspace_bin("mnist-cnn");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("table.json");
    let o = Command::new(python)
        .arg(root().join("scripts/speed_table.py"))
        .args(["--smoke", "--bin-dir"])
        .arg(&bins)
        .arg("--out")
        .arg(&out)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for want in [
        "machine: ",
        "gradlab fast: ",
        "onnxruntime: onnxruntime ",
        "tensorflow",
        "torch",
    ] {
        assert!(t.contains(want), "no {want:?} in:\n{t}");
    }
    let header = t
        .lines()
        .find(|l| l.starts_with("task "))
        .unwrap_or_else(|| panic!("no header:\n{t}"));
    assert!(
        header.contains("gradlab fast") && header.contains("fast / onnxruntime"),
        "{header}"
    );
    for row in ["inference  2", "training   2"] {
        assert!(t.lines().any(|l| l.starts_with(row)), "no {row:?} row:\n{t}");
    }
    // The inference row holds gradlab's fast path over onnxruntime.
    assert!(
        t.lines().any(|l| l.starts_with("inference  2") && l.contains('×')),
        "{t}"
    );
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for (side, cell) in [
        ("gradlab fast", "infer 2"),
        ("gradlab fast", "train 2"),
        ("onnxruntime", "infer 2"),
    ] {
        let v = &doc["figures"][side][cell][0];
        assert!(v.as_f64().is_some_and(|v| v > 0.0), "{side} {cell}: {doc}");
    }
}
