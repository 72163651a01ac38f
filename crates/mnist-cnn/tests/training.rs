//! Training behaviour: the loss goes down on a CPU and a GPU backend, and a resumed run ends
//! where an uninterrupted one does.

mod common;

use burn::module::Module;
use common::{backend, small_config};
use gradlab::BackendName;
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
