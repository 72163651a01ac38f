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
    std::fs::write(d.join("range.toml"), "epochs = 2\nbatch_size = 0\n").unwrap();
    // The error names the layer that set the value: the file and line, or the flag.
    fails_with(
        &["--config", "range.toml"],
        d,
        &["range.toml line 2: config: `batch_size` = 0 is out of range"],
    );
    std::fs::write(d.join("adapter.toml"), "adapter = \"gpu9\"\n").unwrap();
    fails_with(
        &["--config", "adapter.toml"],
        d,
        &["adapter.toml", "bad adapter `gpu9`"],
    );
    fails_with(&["--config", "missing.toml"], d, &["missing.toml"]);
    fails_with(&["--backend", "tpu"], d, &["tpu", "flex"]);
    fails_with(&["--lr=-1"], d, &["--lr: config: `learning_rate` = -1 is out of range"]);
    fails_with(
        &["--config", "range.toml", "train", "--epochs", "0", "--batch-size", "8"],
        d,
        &["--epochs: config: `epochs` = 0 is out of range"],
    );
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
    // Another crate's model: named as such, not a dump of burn's record.
    std::fs::create_dir_all(d.join("s/run-001/model")).unwrap();
    std::fs::write(
        d.join("s/run-001/model/model.json"),
        r#"{"format": "gradlab-sentiment/1"}"#,
    )
    .unwrap();
    std::fs::write(d.join("s/run-001/model/model.bpk"), b"not a cnn").unwrap();
    fails_with(
        &[
            "--backend",
            "flex",
            "predict",
            "--model",
            "s/run-001/model",
            "--index",
            "0",
        ],
        d,
        &["this is a sentiment model", "not an mnist-cnn model"],
    );
    fails_with(
        &["--backend", "flex", "predict", "--model", "s/run-001", "--index", "0"],
        d,
        &["s/run-001: not a run folder or a model (no model.bpk inside)"],
    );
    let o = mnist_cnn(&["--backend", "flex", "eval", "--out", "nothing-here"], d);
    assert!(!o.status.success());
    assert!(text(&o).contains("no finished run in nothing-here"), "{}", text(&o));
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
        "convolutions: fastconv's fused conv+ReLU(+pool) kernels (fast_path, flex)",
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

    // eval and predict take the test limit from the model (100), not from a flag, and say which
    // forward pass ran: with the fast path on flex, fastconv's packed one.
    let packed = "forward: fastconv's packed inference forward (fast_path, flex)";
    let common = ["--backend", "flex", "--out", "runs"];
    let mut eval: Vec<&str> = common.to_vec();
    eval.push("eval");
    let o = mnist_cnn(&eval, d);
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("on 100 images") && t.contains("recall") && t.contains(packed),
        "{t}"
    );

    let mut predict: Vec<&str> = common.to_vec();
    predict.extend(["predict", "--index", "3"]);
    let o = mnist_cnn(&predict, d);
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("predicted digit:") && t.contains("true label") && t.contains(packed),
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

#[test]
fn a_flag_is_accepted_only_where_it_has_an_effect() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exe = env!("CARGO_BIN_EXE_mnist-cnn");
    gradlab_testkit::assert_refused(
        exe,
        &[
            &["eval", "--epochs", "3"],
            &["eval", "--seed", "7"],
            &["predict", "--index", "0", "--lr", "1"],
            &["predict", "--index", "0", "--dataset", "mnist"],
            &["--epochs", "2", "eval"],
            &["predict", "--index", "0", "--fit", "mnist"],
        ],
        d,
    );
    for sub in ["eval", "predict"] {
        let training = [
            "--epochs",
            "--lr",
            "--batch-size",
            "--seed",
            "--train-limit",
            "--resume",
        ];
        let help = gradlab_testkit::help_without(exe, sub, &training, d);
        assert!(help.contains("--model") && help.contains("--backend"), "{help}");
    }
    let help = text(&mnist_cnn(&["train", "--help"], d));
    assert!(
        help.contains("--epochs") && help.contains("--seed") && !help.contains("--image"),
        "{help}"
    );
}

/// `test accuracy X% (loss Y)` of a training run, or `accuracy X% (loss Y)` of an eval.
fn accuracy_and_loss(t: &str) -> String {
    let at = t.find("accuracy ").unwrap_or_else(|| panic!("no accuracy in:\n{t}"));
    t[at..].split(") ").next().unwrap().to_string()
}

#[test]
fn eval_and_predict_use_the_models_own_split_whatever_the_flags_say() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = mnist_cnn(
        &[
            "--backend",
            "flex",
            "--out",
            "runs",
            "train",
            "--seed",
            "7",
            "--epochs",
            "1",
            "--train-limit",
            "320",
            "--test-limit",
            "150",
        ],
        d,
    );
    let trained = text(&o);
    assert!(o.status.success(), "{trained}");
    let at_end = accuracy_and_loss(&trained[trained.find("test accuracy").unwrap()..]);

    // Default flags say seed 42 and no test limit; the model was trained on seed 7's split.
    let o = mnist_cnn(&["--backend", "flex", "--out", "runs", "eval"], d);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("note: scoring the model on the test split it was trained with"),
        "{t}"
    );
    assert!(t.contains("`seed` = 7 (the model's), not 42"), "{t}");
    assert_eq!(accuracy_and_loss(&t[t.find("model ").unwrap()..]), at_end, "{t}");
    assert!(t.contains("on 150 images"), "{t}");

    // The model folder carries what it was trained on.
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("runs/run-001/model.json")).unwrap()).unwrap();
    assert_eq!(info["format"], "gradlab-mnist-cnn/1");
    assert_eq!(info["config"]["seed"], 7);
    assert_eq!(info["config"]["test_limit"], 150);
    assert_eq!(info["config"]["fast_path"], true);

    // predict --index counts in the same split (150 images: index 150 is out of range).
    let o = mnist_cnn(&["--backend", "flex", "--out", "runs", "predict", "--index", "150"], d);
    assert!(
        !o.status.success() && text(&o).contains("the model's test split has 150 images"),
        "{}",
        text(&o)
    );
    // --model takes the run folder too.
    let o = mnist_cnn(&["--backend", "flex", "eval", "--model", "runs/run-001"], d);
    assert!(o.status.success() && text(&o).contains(&at_end), "{}", text(&o));
}

#[test]
fn a_diverging_run_stops_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = mnist_cnn(
        &[
            "--backend",
            "flex",
            "--out",
            "runs",
            "--lr",
            "10",
            "--epochs",
            "3",
            "--train-limit",
            "640",
            "--test-limit",
            "100",
        ],
        d,
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "a diverged run must fail:\n{t}");
    assert!(t.contains("diverged") && t.contains("learning_rate"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(
        !d.join("runs/run-001/model.bpk").exists(),
        "no model is saved from a diverged run"
    );
}

/// SIGINT (Ctrl-C) in the middle of a real training run, then `--resume`: the final figures
/// are those of a run that was never interrupted.
#[cfg(unix)]
#[test]
fn ctrl_c_mid_epoch_then_resume_ends_where_an_uninterrupted_run_ends() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = |out: &str| -> Vec<String> {
        [
            "--backend",
            "flex",
            "--out",
            out,
            "train",
            "--epochs",
            "3",
            "--train-limit",
            "1600",
            "--test-limit",
            "200",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let straight = mnist_cnn(&args("straight").iter().map(String::as_str).collect::<Vec<_>>(), d);
    let straight = text(&straight);
    let expected = accuracy_and_loss(&straight[straight.find("test accuracy").unwrap()..]);

    let mut child = Command::new(env!("CARGO_BIN_EXE_mnist-cnn"))
        .args(args("interrupted"))
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The first epoch's line: epoch 2 has just begun.
    let seen: Vec<String> = lines
        .by_ref()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("epoch 1/3"))
        .collect();
    // Ctrl-C is SIGINT. A process started in the background by a shell without job control
    // inherits SIGINT as ignored (POSIX), and so does this test's child: there SIGTERM, whose
    // default action is the same, stands in for it.
    let signal = if sigint_ignored() { "-TERM" } else { "-INT" };
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(!exit.success(), "the run ended before the signal: {seen:?}");
    let run = d.join("interrupted/run-001");
    assert!(!run.join("model.bpk").exists(), "interrupted before the end");
    assert!(
        run.join("checkpoint/checkpoint.json").exists(),
        "the first epoch's checkpoint is there"
    );

    let mut resume = args("interrupted");
    resume.push("--resume".into());
    let o = mnist_cnn(&resume.iter().map(String::as_str).collect::<Vec<_>>(), d);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("resuming") && t.contains("after epoch"), "{t}");
    assert_eq!(
        accuracy_and_loss(&t[t.find("test accuracy").unwrap()..]),
        expected,
        "{t}"
    );
    assert!(run.join("model.bpk").exists());
}

/// Whether this process ignores SIGINT (Linux: bit 1 of `SigIgn` in /proc/self/status).
fn sigint_ignored() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & (1 << 1) != 0)
}

/// A healthy run prints no `error:` line, even where a Vulkan instance is made without a
/// desktop session (no `XDG_RUNTIME_DIR`: Mesa's device-selection layer used to make libwayland
/// complain two to six times a run). Covers the default backend (`auto` probes adapters) and
/// both wgpu backends.
#[test]
fn a_healthy_run_prints_no_error_line_without_a_desktop_session() {
    let dir = tempfile::tempdir().unwrap();
    for backend in gradlab_testkit::runnable(&["auto", "wgpu", "vulkan"], "the quiet-run check") {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-cnn"))
            .args([
                "--backend",
                backend,
                "--out",
                "runs",
                "train",
                "--epochs",
                "1",
                "--train-limit",
                "64",
                "--test-limit",
                "32",
            ])
            .current_dir(dir.path())
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("NODEVICE_SELECT")
            .env_remove("DRI_PRIME")
            .env_remove("MESA_VK_DEVICE_SELECT")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success(),
            "{backend}: {}{stderr}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert!(
            !stderr.lines().any(|l| l.starts_with("error")),
            "{backend}: a healthy run printed an error line:\n{stderr}"
        );
        // The run says which code computed the convolutions, and records it.
        let stdout = String::from_utf8_lossy(&o.stdout);
        let run = gradlab::runs::latest_run(&dir.path().join("runs")).unwrap();
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
        let used = report["backend"]["backend"].as_str().unwrap_or_default().to_string();
        let path = report["conv_path"].as_str().unwrap_or_default();
        assert!(stdout.contains(&format!("convolutions: {path}")), "{stdout}");
        if used != "flex" {
            assert_eq!(
                path,
                format!("fastconv's fused conv+ReLU(+pool) CubeCL kernels (fast_path, {used})")
            );
            assert!(!stdout.contains("freed memory is kept"), "{stdout}");
        }
    }
}

/// Without a Vulkan driver, wgpu would come up on OpenGL, where burn's reductions fail part-way
/// through a run (a panic in a kernel thread): refused at start with what to install.
#[test]
fn wgpu_without_a_vulkan_driver_is_a_clear_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    for backend in ["wgpu", "vulkan"] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-cnn"))
            .args([
                "--backend",
                backend,
                "--out",
                "runs",
                "train",
                "--epochs",
                "1",
                "--train-limit",
                "64",
            ])
            .current_dir(dir.path())
            .env("VK_ICD_FILENAMES", "/nonexistent/no-driver.json")
            .env("VK_DRIVER_FILES", "/nonexistent/no-driver.json")
            .output()
            .unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{backend}:\n{t}");
        assert!(!t.contains("panicked"), "{backend}:\n{t}");
        assert!(
            t.contains("apt-get install libvulkan1 mesa-vulkan-drivers"),
            "{backend}:\n{t}"
        );
        assert!(
            !dir.path().join("runs/run-001").exists(),
            "no run folder for a run that cannot start"
        );
    }
}

/// A copied (or `cargo install`ed) binary works from any folder: it finds no checkout, so it
/// trains on the mnist-5k copy built into it and gets the same result as in the checkout.
#[test]
fn a_copied_binary_works_outside_the_checkout_with_the_same_result() {
    let exe = env!("CARGO_BIN_EXE_mnist-cnn");
    let out = tempfile::tempdir().unwrap();
    let runs = out.path().join("in-checkout");
    let args = |runs: &str| -> Vec<String> {
        [
            "--backend",
            "flex",
            "--out",
            runs,
            "train",
            "--epochs",
            "1",
            "--train-limit",
            "320",
            "--test-limit",
            "100",
        ]
        .map(String::from)
        .to_vec()
    };
    let a = args(runs.to_str().unwrap());
    let inside = mnist_cnn(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        &gradlab::workspace_root(),
    );
    let inside = text(&inside);
    let b = args("runs");
    let (o, dir) = gradlab_testkit::run_elsewhere(exe, &b.iter().map(String::as_str).collect::<Vec<_>>());
    let elsewhere = text(&o);
    assert!(o.status.success(), "{elsewhere}");
    assert!(elsewhere.contains("the copy built into this binary"), "{elsewhere}");
    let result = |t: &str| accuracy_and_loss(&t[t.find("test accuracy").unwrap()..]);
    assert_eq!(result(&elsewhere), result(&inside), "{elsewhere}\n---\n{inside}");
    assert!(dir.path().join("runs/run-001/model.bpk").exists());
}

/// `--remote` to an address where nothing listens: exit code 2, one error naming what to do,
/// no run folder. Built without the `remote` feature the error says how to build it; with it,
/// that no server answers at the URL.
#[test]
fn remote_without_a_server_or_without_the_feature_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("ws://127.0.0.1:{}", gradlab_testkit::free_port());
    let o = mnist_cnn(&["--remote", &url, "--out", "runs", "--epochs", "1"], dir.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    let expected = if cfg!(feature = "remote") {
        "no server answers there"
    } else {
        "built without Burn's remote backend; build with `--features remote`"
    };
    assert!(t.contains(expected) && !t.contains("panicked"), "{t}");
    assert!(!dir.path().join("runs").exists(), "a run folder was made");
}

#[test]
fn spirv_without_the_feature_says_how_to_build_it() {
    // With the feature, `spirv` runs on a Vulkan GPU and is refused on a software adapter; that
    // build is linted by CI, not run (it crashes lavapipe), so only the default build is tested.
    if cfg!(feature = "spirv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = mnist_cnn(&["--backend", "spirv", "--out", "runs", "--epochs", "1"], dir.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("built without CubeCL's SPIR-V compiler; build with `--features spirv`") && !t.contains("panicked"),
        "{t}"
    );
    assert!(!dir.path().join("runs").exists(), "a run folder was made");
}

/// SIGKILL — no handler runs, as when a machine loses power — at seeded random moments of
/// training and of export. After every kill each earlier run folder and export is as it was and
/// loads; an export is either absent or whole (byte for byte the export of an unkilled run); a
/// run with a checkpoint continues with `--resume`; and the last `--resume` finishes the run.
#[cfg(unix)]
#[test]
fn sigkill_at_random_points_of_training_and_export_loses_nothing() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exe = env!("CARGO_BIN_EXE_mnist-cnn");
    let train = |epochs: &str, resume: bool| -> Vec<String> {
        let mut a: Vec<String> = [
            "--backend",
            "flex",
            "--out",
            "runs",
            "train",
            "--epochs",
            epochs,
            "--train-limit",
            "640",
            "--test-limit",
            "64",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if resume {
            a.push("--resume".into());
        }
        a
    };
    // A finished run and its two exports: what must survive every kill.
    let started = Instant::now();
    let o = mnist_cnn(&train("1", false).iter().map(String::as_str).collect::<Vec<_>>(), d);
    assert!(o.status.success(), "{}", text(&o));
    let one_run = started.elapsed();
    let first = d.join("runs/run-001");
    let kept: Vec<(std::path::PathBuf, Vec<u8>)> = ["model.bpk", "model.json", "report.json", "config.toml"]
        .iter()
        .map(|f| (first.join(f), std::fs::read(first.join(f)).unwrap()))
        .collect();
    let export = |format: &str, file: &str| -> Vec<String> {
        [
            "--backend",
            "flex",
            "export",
            "--model",
            "runs/run-001",
            "--format",
            format,
            file,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut reference = Vec::new();
    let mut export_time = Duration::ZERO;
    for format in ["safetensors", "onnx"] {
        let file = format!("reference.{format}");
        let t = Instant::now();
        let o = mnist_cnn(&export(format, &file).iter().map(String::as_str).collect::<Vec<_>>(), d);
        export_time = export_time.max(t.elapsed());
        assert!(o.status.success(), "{}", text(&o));
        reference.push((format, std::fs::read(d.join(&file)).unwrap()));
    }

    let intact = |after: &str| {
        for (path, bytes) in &kept {
            assert!(
                std::fs::read(path).unwrap() == *bytes,
                "after {after}: {} changed",
                path.display()
            );
        }
        mnist_cnn::inference::load_model(&first, &burn::tensor::Device::flex())
            .unwrap_or_else(|e| panic!("after {after}: the earlier run no longer loads: {e:#}"));
        for (format, bytes) in &reference {
            let path = d.join(format!("reference.{format}"));
            assert!(
                std::fs::read(&path).unwrap() == *bytes,
                "after {after}: {} changed",
                path.display()
            );
        }
    };
    let spawn = |args: &[String]| {
        Command::new(exe)
            .args(args)
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let kill_after = |args: &[String], delay: Duration| -> bool {
        let mut child = spawn(args);
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return false; // finished before the kill
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        true
    };
    let mut rng = gradlab_testkit::hostile::Rng::new(0x0c0f_fee5);
    let ms = |d: Duration| d.as_millis().max(1) as usize;

    // Exports killed anywhere between their start and their end.
    let mut export_kills = 0;
    for i in 0..12 {
        let (format, bytes) = &reference[i % 2];
        let file = format!("killed-{i}.{format}");
        let delay = Duration::from_millis(rng.below(ms(export_time) * 12 / 10) as u64);
        export_kills += kill_after(&export(format, &file), delay) as usize;
        if let Ok(got) = std::fs::read(d.join(&file)) {
            assert!(got == *bytes, "export {i} killed after {delay:?} left a partial {file}");
        }
        intact(&format!("export {i}"));
    }

    // Training (3 epochs) killed at random moments; each next try resumes when the killed run
    // left a checkpoint, and starts afresh when it did not. A fixed delay cannot aim at a run
    // whose start-up dominates (a cold first run is slower than three warm epochs), so the kill
    // waits for the run's own progress: none (a random moment of start-up and the first epoch),
    // or its first or second checkpoint write, then a random few milliseconds more.
    let checkpoint_writes = |since: std::time::SystemTime| -> usize {
        let mut newest = 0;
        for entry in std::fs::read_dir(d.join("runs")).unwrap().flatten() {
            let json = entry.path().join("checkpoint/checkpoint.json");
            if let Ok(m) = std::fs::metadata(&json).and_then(|m| m.modified())
                && m >= since
            {
                let text = std::fs::read_to_string(&json).unwrap_or_default();
                // The index names the epoch it holds; a write in progress reads as none.
                let epoch = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("epoch").and_then(|e| e.as_u64()))
                    .unwrap_or(0) as usize;
                newest = newest.max(epoch.max(1));
            }
        }
        newest
    };
    let kill_training = |args: &[String], rng: &mut gradlab_testkit::hostile::Rng| -> bool {
        let since = std::time::SystemTime::now() - Duration::from_millis(5);
        let wait_for = rng.below(3); // 0: no checkpoint yet; 1 or 2: that many epochs done
        let extra = Duration::from_millis(rng.below(15) as u64);
        let early = Duration::from_millis(rng.below(ms(one_run) / 2 + 1) as u64);
        let mut child = spawn(args);
        let spawned = Instant::now();
        let give_up = spawned + Duration::from_secs(120);
        let mut reached: Option<Instant> = None;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // A run the kill missed must have finished its epochs, not been refused.
                assert!(status.success(), "{args:?} exited with {status} before the kill");
                return false; // finished before the kill
            }
            let now = Instant::now();
            assert!(now < give_up, "a 3-epoch run of 640 digits took over 120 s");
            if reached.is_none()
                && (if wait_for == 0 {
                    now >= spawned + early
                } else {
                    checkpoint_writes(since) >= wait_for
                })
            {
                reached = Some(now);
            }
            if reached.is_some_and(|r| now >= r + extra) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        true
    };
    let mut train_kills = 0;
    let mut resumed = 0;
    for i in 0..6 {
        let latest = std::fs::read_to_string(d.join("runs/latest")).unwrap();
        let run = d.join("runs").join(latest.trim());
        // A killed run (a checkpoint, no model yet) resumes; after a finished one, a new run.
        let resume = run != first && run.join("checkpoint/checkpoint.json").exists() && !run.join("model.bpk").exists();
        resumed += resume as usize;
        train_kills += kill_training(&train("3", resume), &mut rng) as usize;
        intact(&format!("training kill {i}"));
        for entry in std::fs::read_dir(d.join("runs")).unwrap().flatten() {
            let p = entry.path();
            if p.join("model.bpk").exists() && p.join("model.json").exists() {
                mnist_cnn::inference::load_model(&p, &burn::tensor::Device::flex())
                    .unwrap_or_else(|e| panic!("after training kill {i}: {} does not load: {e:#}", p.display()));
            }
        }
    }
    // The last killed run continues to its end.
    let latest = std::fs::read_to_string(d.join("runs/latest")).unwrap();
    let run = d.join("runs").join(latest.trim());
    let resume = run.join("checkpoint/checkpoint.json").exists() && !run.join("model.bpk").exists();
    let o = mnist_cnn(&train("3", resume).iter().map(String::as_str).collect::<Vec<_>>(), d);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    if resume {
        assert!(t.contains("resuming"), "{t}");
        assert!(
            run.join("model.bpk").exists(),
            "the resumed run finished in its own folder"
        );
    }
    intact("the last run");
    println!(
        "SIGKILL: {export_kills} of 12 exports and {train_kills} of 6 training runs killed \
         ({resumed} resumed from a killed run's checkpoint); every earlier run and export intact"
    );
    assert!(export_kills > 0 && train_kills > 0, "no process was killed");
}
