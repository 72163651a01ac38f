//! Hand-derived backprop against burn's autodiff and finite differences, training on flex and
//! wgpu (lavapipe), and the binary end to end.

use burn::tensor::DType;
use gradlab::BackendName;
use xor_backprop::autodiff;
use xor_backprop::config::XorConfig;
use xor_backprop::manual::{self, Mlp, max_relative_error};

fn device(name: BackendName) -> burn::tensor::Device {
    gradlab_testkit::backend(name).device
}

/// Random weights at several scales, so the sigmoids are both near-linear and saturated.
fn random_nets() -> Vec<Mlp> {
    (0..10u64)
        .map(|s| {
            let mut m = Mlp::init(100 + s);
            let scale = 0.5 + s as f64 / 3.0;
            m.w1.iter_mut()
                .flatten()
                .chain(m.w2.iter_mut())
                .for_each(|w| *w *= scale);
            m
        })
        .collect()
}

#[test]
fn hand_gradients_equal_autodiff_and_finite_differences_in_f64_on_cpu() {
    let flex = device(BackendName::Flex);
    assert!(flex.supports_dtype(DType::F64));
    for m in random_nets() {
        let hand = m.gradients().flat();
        let auto = autodiff::gradients(&m, &flex, DType::F64).flat();
        let fd = manual::finite_difference(&m, manual::FD_STEP);
        assert!(
            max_relative_error(&hand, &auto, 1e-12) <= 1e-10,
            "hand vs autodiff: {hand:?} {auto:?}"
        );
        assert!(
            max_relative_error(&hand, &fd, 1e-8) <= 1e-5,
            "hand vs finite difference"
        );
    }
}

#[test]
fn hand_gradients_equal_autodiff_in_f32_on_wgpu() {
    if !gradlab_testkit::can_run(BackendName::Wgpu, "xor autodiff") {
        return;
    }
    // f32 carries ~1.2e-7 relative precision; a gradient here passes through ~10 roundings
    // (two matmuls, two sigmoids, their derivatives). 1e-4 leaves a wide margin over the few
    // 1e-6 observed, and still catches any wrong derivative (those are off by O(1)).
    let wgpu = device(BackendName::Wgpu);
    for m in random_nets().into_iter().take(3) {
        let hand = m.gradients().flat();
        let auto = autodiff::gradients(&m, &wgpu, DType::F32).flat();
        let err = max_relative_error(&hand, &auto, 1e-6);
        assert!(err <= 1e-4, "relative error {err:e}");
    }
}

fn assert_solves(name: BackendName) {
    let cfg = XorConfig::default();
    let init = Mlp::init(cfg.seed);
    let (hand, _) = manual::train(init.clone(), cfg.learning_rate, cfg.iterations, cfg.log_every);
    let (auto, curve) = autodiff::train(&init, &device(name), cfg.learning_rate, cfg.iterations, cfg.log_every);
    let out = auto.forward().out;
    assert!(manual::solves_xor(&out), "{name}: {out:?}");
    assert!(curve.last().unwrap().1 < curve[0].1 / 100.0, "{name}: loss {curve:?}");
    // The f32 autodiff run follows the f64 hand-derived one.
    let max = manual::max_abs_difference(&hand.flat(), &auto.flat());
    assert!(max < 1e-3, "{name}: weights differ by {max}");
}

#[test]
fn autodiff_training_solves_xor_on_flex() {
    assert_solves(BackendName::Flex);
}

#[test]
fn autodiff_training_solves_xor_on_wgpu() {
    if !gradlab_testkit::can_run(BackendName::Wgpu, "xor training") {
        return;
    }
    assert_solves(BackendName::Wgpu);
}

#[test]
fn shipped_config_equals_the_defaults() {
    let path = gradlab::workspace_root().join("configs/xor-backprop.toml");
    let cfg: XorConfig = gradlab::config::load_layers(&[path]).unwrap();
    assert_eq!(cfg, XorConfig::default());
}

fn xor(args: &[&str], cwd: &std::path::Path) -> (bool, String) {
    let o = gradlab_testkit::run(env!("CARGO_BIN_EXE_xor-backprop"), args, cwd, None);
    (o.status.success(), gradlab_testkit::text(&o))
}

#[test]
fn every_subcommand_runs_on_flex_and_wgpu_without_plots() {
    let dir = tempfile::tempdir().unwrap();
    for backend in gradlab_testkit::runnable(&["flex", "wgpu"], "xor-backprop's subcommands") {
        let (ok, t) = xor(&["seed", "--no-plot"], dir.path());
        assert!(ok && t.contains("output 0.50") && t.contains("single layer"), "{t}");
        let (ok, t) = xor(
            &["train", "--no-plot", "--backend", backend, "--iterations", "300"],
            dir.path(),
        );
        assert!(ok && t.contains(&format!("autodiff on {backend}")), "{t}");
        let (ok, t) = xor(&["gradcheck", "--no-plot", "--backend", backend], dir.path());
        assert!(ok && t.contains("hand vs autodiff"), "{t}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "--no-plot wrote files"
    );
}

#[test]
fn plots_are_written_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, t) = xor(&["seed", "--out", "p"], dir.path());
    assert!(ok, "{t}");
    let (ok, t) = xor(&["train", "--backend", "flex", "--out", "p"], dir.path());
    assert!(ok && t.contains("autodiff: solved"), "{t}");
    let (ok, t) = xor(&["gradcheck", "--backend", "flex", "--out", "p"], dir.path());
    assert!(ok && t.contains("autodiff in F64"), "{t}");
    // One run folder per run: nothing is overwritten by the next.
    for (run, f) in [
        ("run-001", "seed-loss.svg"),
        ("run-002", "loss.svg"),
        ("run-003", "gradcheck.svg"),
    ] {
        let svg = std::fs::read_to_string(dir.path().join("p").join(run).join(f)).unwrap();
        assert!(svg.len() > 1000 && svg.contains("<polyline"), "{f} looks empty");
    }
    let (ok, t) = xor(&["seed", "--out", "p"], dir.path());
    assert!(ok && t.contains("p/run-004/seed-loss.svg"), "{t}");
}

#[test]
fn a_flag_is_accepted_only_where_it_has_an_effect() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_xor-backprop");
    gradlab_testkit::assert_refused(
        exe,
        &[
            &["seed", "--lr", "2"],
            &["seed", "--backend", "flex"],
            &["gradcheck", "--iterations", "5"],
            &["gradcheck", "--lr", "0.5"],
            &["--lr", "2", "seed"],
        ],
        dir.path(),
    );
    let help = gradlab_testkit::help_without(exe, "seed", &["--lr"], dir.path());
    assert!(help.contains("--iterations"), "{help}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, t) = xor(&["--lr=0"], dir.path());
    assert!(
        !ok && t.contains("--lr: config: `learning_rate` = 0 is out of range"),
        "{t}"
    );
    std::fs::write(dir.path().join("x.toml"), "iterations = 5\nhidden = 8\n").unwrap();
    let (ok, t) = xor(&["--config", "x.toml"], dir.path());
    assert!(
        !ok && t.contains("x.toml") && t.contains("unknown field `hidden`"),
        "{t}"
    );
}

/// Run xor-backprop in `dir` with `args` (which say `--out p`), check it succeeded and named
/// its run folder `p/run-NNN`, and return that folder.
fn run_folder(args: &[&str], dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let (ok, t) = xor(args, dir);
    let name = format!("p/run-{n:03}");
    assert!(ok && t.contains(&format!("run folder: {name}\n")), "{t}");
    dir.join(name)
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn train_writes_config_metrics_plot_and_report_into_its_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_folder(&["train", "--backend", "flex", "--out", "p"], dir.path(), 1);
    let cfg: XorConfig = gradlab::config::load_layers(&[run.join("config.toml")]).unwrap();
    assert_eq!(cfg.backend, BackendName::Flex);
    assert_eq!(cfg.iterations, XorConfig::default().iterations);
    // The loss of both engines at iteration 0, every log_every iterations and the last.
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "iteration,hand_loss,autodiff_loss");
    assert_eq!(rows.len(), 1 + cfg.iterations / cfg.log_every + 1);
    let metrics = read_json(&run.join("metrics.json"));
    let last = metrics.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["iteration"], cfg.iterations);
    assert!(
        std::fs::read_to_string(run.join("loss.svg"))
            .unwrap()
            .contains("<polyline")
    );
    let report = read_json(&run.join("report.json"));
    assert_eq!(report["crate"], "xor-backprop");
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["command"], "train");
    assert_eq!(report["config"]["iterations"], cfg.iterations);
    assert_eq!(report["backend"]["backend"], "flex");
    assert_eq!(report["backend"]["adapter"]["device_type"], "cpu");
    for (engine, column, dtype) in [("hand", "hand_loss", "f64"), ("autodiff", "autodiff_loss", "f32")] {
        let e = &report[engine];
        assert_eq!(e["dtype"], dtype, "{engine}");
        assert!(e["seconds"].as_f64().unwrap() >= 0.0, "{engine}");
        assert_eq!(e["final_loss"], last[column], "{engine}");
        assert_eq!(e["accuracy"], 1.0, "{engine}");
        assert_eq!(e["solved"], true, "{engine}");
        assert_eq!(e["outputs"].as_array().unwrap().len(), 4);
    }
    assert!(
        report["weights_max_relative_error"].as_f64().unwrap() < 1e-3,
        "{report}"
    );
    assert!(
        report["weights_max_abs_difference"].as_f64().unwrap() < 1e-3,
        "{report}"
    );
    assert!(report["seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn seed_and_gradcheck_write_run_folders_too() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_folder(&["seed", "--iterations", "250", "--out", "p"], dir.path(), 1);
    assert!(run.join("config.toml").is_file() && run.join("seed-loss.svg").is_file());
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("iteration,loss"));
    let its: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(its, ["0", "100", "200", "250"]);
    let report = read_json(&run.join("report.json"));
    assert_eq!(report["command"], "seed");
    assert_eq!(
        report["backend"],
        "the seed's update rule: f64 on the CPU (no burn backend)"
    );
    assert_eq!(report["config"]["iterations"], 250);
    assert_eq!(report["solved"], false);
    assert_eq!(report["weights"].as_array().unwrap().len(), 3);
    assert_eq!(report["outputs"].as_array().unwrap().len(), 4);
    let last_loss: f64 = csv.lines().last().unwrap().split(',').nth(1).unwrap().parse().unwrap();
    // serde_json parses floats to within one ulp.
    let final_loss = report["final_loss"].as_f64().unwrap();
    assert!(
        (final_loss - last_loss).abs() <= 1e-12 * last_loss,
        "{final_loss} vs {last_loss}"
    );
    assert!(report["accuracy"].as_f64().unwrap() <= 1.0 && report["seconds"].as_f64().unwrap() >= 0.0);

    let run = run_folder(&["gradcheck", "--backend", "flex", "--out", "p"], dir.path(), 2);
    assert!(run.join("config.toml").is_file() && run.join("gradcheck.svg").is_file());
    let csv = std::fs::read_to_string(run.join("gradients.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("weight,hand,autodiff,finite_difference"));
    assert_eq!(csv.lines().count(), 1 + 16);
    let report = read_json(&run.join("report.json"));
    assert_eq!(report["command"], "gradcheck");
    assert_eq!(report["backend"]["backend"], "flex");
    assert_eq!(report["autodiff_dtype"], "F64");
    assert_eq!(report["config"]["seed"], 1);
    assert_eq!(report["finite_difference_step"], 1e-4);
    let err = &report["max_relative_error"];
    assert!(err["hand_vs_autodiff"].as_f64().unwrap() <= 1e-10, "{report}");
    assert!(err["hand_vs_finite_difference"].as_f64().unwrap() <= 1e-5, "{report}");
}

#[test]
fn two_runs_make_two_folders() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["train", "--backend", "flex", "--iterations", "200", "--out", "p"];
    let (ok, t) = xor(&args, dir.path());
    assert!(ok, "{t}");
    let first = std::fs::read_to_string(dir.path().join("p/run-001/report.json")).unwrap();
    run_folder(&args, dir.path(), 2);
    // The first run's files are untouched; the second has its own, and `latest` names it.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("p/run-001/report.json")).unwrap(),
        first
    );
    for f in ["config.toml", "metrics.csv", "metrics.json", "loss.svg", "report.json"] {
        assert!(dir.path().join("p/run-002").join(f).is_file(), "{f}");
    }
    assert_eq!(
        gradlab::runs::latest_run(&dir.path().join("p")).unwrap(),
        dir.path().join("p/run-002")
    );
}
