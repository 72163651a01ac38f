//! Training behaviour: the loss goes down on a CPU and a GPU backend, and a resumed run ends
//! where an uninterrupted one does.

use crate::common;

use burn::module::Module;
use common::{backend, small_config};
use gradlab::BackendName;
use mnist_cnn::config::MnistConfig;
use mnist_cnn::inference::evaluate;
use mnist_cnn::model::Cnn;
use mnist_cnn::training::{TrainOptions, train};

const RESUME: TrainOptions = TrainOptions {
    resume: true,
    verbose: false,
};

fn loss_goes_down(name: BackendName) {
    let out = tempfile::tempdir().unwrap();
    let cfg = small_config(name, 640, 200, out.path());
    let b = backend(name);
    let splits = mnist_cnn::data::load(&cfg).unwrap();
    let fresh = gradlab::seeded(&b.device, cfg.seed, || Cnn::new(&b.device));
    let before = evaluate(&fresh, splits.test.clone(), 100, &b.device).unwrap();
    let run = train(&cfg, &b, &splits, &TrainOptions::default()).unwrap();
    assert_eq!(run.history.len(), 1);
    let after = &run.test;
    assert!(
        after.loss < before.loss - 0.3,
        "{name}: held-out loss went from {:.4} to {:.4}",
        before.loss,
        after.loss
    );
    assert!(
        after.accuracy > before.accuracy,
        "{name}: {} -> {}",
        before.accuracy,
        after.accuracy
    );
    for f in [
        "model.bpk",
        "config.toml",
        "metrics.csv",
        "metrics.json",
        "curves.svg",
        "report.json",
    ] {
        assert!(run.run_dir.join(f).exists(), "{name}: {f} missing");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.run_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["backend"]["backend"], name.as_str());
    assert!(!report["backend"]["adapter"]["name"].as_str().unwrap().is_empty());
    assert_eq!(report["parameters"], 93_322);
}

#[test]
fn short_run_lowers_the_loss_on_flex() {
    loss_goes_down(BackendName::Flex);
}

#[test]
fn short_run_lowers_the_loss_on_wgpu() {
    if !gradlab_testkit::can_run(BackendName::Wgpu, "mnist-cnn training") {
        return;
    }
    loss_goes_down(BackendName::Wgpu);
}

#[test]
fn resumed_run_matches_an_uninterrupted_one() {
    let b = backend(BackendName::Flex);
    let straight_dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(BackendName::Flex, 192, 100, straight_dir.path());
    cfg.epochs = 2;
    let splits = mnist_cnn::data::load(&cfg).unwrap();
    let straight = train(&cfg, &b, &splits, &TrainOptions::default()).unwrap();

    // "Interrupted" after epoch 1: only the checkpoint of epoch 1 exists.
    let resumed_dir = tempfile::tempdir().unwrap();
    let mut first = cfg.clone();
    first.out_dir = resumed_dir.path().to_path_buf();
    first.epochs = 1;
    let partial = train(&first, &b, &splits, &TrainOptions::default()).unwrap();
    std::fs::remove_file(&partial.model_path).unwrap(); // as if it crashed before the end
    let mut second = first.clone();
    second.epochs = 2;
    let resumed = train(&second, &b, &splits, &RESUME).unwrap();
    assert_eq!(resumed.run_dir, partial.run_dir, "resume continues the same run folder");
    assert_eq!(resumed.history.len(), 2);
    // The first epoch's figures come back from the checkpoint (JSON: equal to within an ulp).
    assert!((resumed.history[0].train_loss - partial.history[0].train_loss).abs() < 1e-12);
    assert!((resumed.history[0].valid_loss - partial.history[0].valid_loss).abs() < 1e-12);
    let (a, c) = (&straight.history[1], &resumed.history[1]);
    assert!((a.train_loss - c.train_loss).abs() < 1e-5, "{a:?} vs {c:?}");
    assert!((straight.test.loss - resumed.test.loss).abs() < 1e-5);

    let (la, lc) = (outputs(&straight.model), outputs(&resumed.model));
    let max = la.iter().zip(&lc).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(max < 1e-5, "logits differ by {max}");

    // Changing a setting that shapes the run is refused.
    let mut other = second.clone();
    other.batch_size = 16;
    let err = train(&other, &b, &splits, &RESUME).unwrap_err();
    assert!(format!("{err:#}").contains("`batch_size` was 32, now 16"), "{err:#}");
}

/// The model's logits for a fixed input: equal weights give equal logits.
fn outputs(model: &Cnn) -> Vec<f32> {
    let device = burn::tensor::Device::flex();
    let x = burn::tensor::Tensor::<4>::ones([2, 1, 28, 28], &device).mul_scalar(0.5);
    model.valid().forward(x).into_data().iter::<f32>().collect()
}

#[test]
fn a_refused_resume_writes_nothing_and_a_finished_run_continues_into_a_new_folder() {
    let b = backend(BackendName::Flex);
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(BackendName::Flex, 96, 50, dir.path());
    let splits = mnist_cnn::data::load(&cfg).unwrap();
    let first = train(&cfg, &b, &splits, &TrainOptions::default()).unwrap();
    let run = first.run_dir.clone();
    let files = ["config.toml", "model.bpk", "model.json", "report.json", "metrics.csv"];
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(run.join(f)).unwrap()).collect();

    // Settings that shape the run (now including test_limit and fast_path) are refused, and the
    // refusal leaves the run folder as it was.
    for (what, changed) in [
        (
            "`test_limit` was 50, now 40",
            MnistConfig {
                test_limit: 40,
                epochs: 2,
                ..cfg.clone()
            },
        ),
        (
            "`fast_path` was true, now false",
            MnistConfig {
                fast_path: false,
                epochs: 2,
                ..cfg.clone()
            },
        ),
        (
            "`batch_size` was 32, now 16",
            MnistConfig {
                batch_size: 16,
                epochs: 2,
                ..cfg.clone()
            },
        ),
    ] {
        let err = train(&changed, &b, &splits, &RESUME).unwrap_err();
        assert!(format!("{err:#}").contains(what), "{err:#}");
    }
    // A finished run asked for no more epochs is refused too.
    let err = train(&cfg, &b, &splits, &RESUME).unwrap_err();
    assert!(format!("{err:#}").contains("finished its 1 epochs"), "{err:#}");
    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(run.join(f)).unwrap()).collect();
    assert!(before == after, "a refused resume changed the run folder");
    assert!(!dir.path().join("run-002").exists());

    // More epochs: the finished run is kept as it is; the continuation is a new run folder
    // that records its parent and is itself resumable from the start.
    let more = MnistConfig {
        epochs: 2,
        ..cfg.clone()
    };
    let cont = train(&more, &b, &splits, &RESUME).unwrap();
    assert_eq!(cont.run_dir, dir.path().join("run-002"));
    assert_eq!(cont.history.len(), 2);
    assert_eq!(cont.history[0].epoch, 1);
    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(run.join(f)).unwrap()).collect();
    assert!(before == after, "continuing a finished run changed it");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cont.run_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["parent"]["after_epoch"], 1);
    assert!(
        report["parent"]["run"].as_str().unwrap().ends_with("run-001"),
        "{report}"
    );
}
