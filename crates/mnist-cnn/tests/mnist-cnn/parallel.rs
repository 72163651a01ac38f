//! Data-parallel training (`devices = [...]`, `--devices`): a step split across two devices
//! computes the same loss and gradients as one device on the whole batch — two flex devices,
//! flex with ndarray (where built: feature `ndarray`) and flex with wgpu (gradients moved between
//! backends) — for several steps of the seed CNN;
//! and the CLI trains with `--devices` and refuses bad ones.

use crate::common;
use crate::steps;

use std::path::Path;

use burn::data::dataloader::batcher::Batcher;
use common::backend;
use gradlab::BackendName;
use mnist_cnn::data::MnistBatcher;
use mnist_cnn::model::Cnn;
use mnist_cnn::training::step_grads;
use steps::{GRAD_TOL, LOSS_TOL, digits, grads_as_values, largest_difference, same_steps_as_one_device};

#[test]
fn two_flex_devices_step_as_one() {
    let flex = backend(BackendName::Flex).device.autodiff();
    same_steps_as_one_device(&[flex.clone(), flex], "flex + flex");
}

#[test]
fn flex_with_ndarray_steps_as_flex_alone() {
    if !gradlab_testkit::can_run(BackendName::Ndarray, "data-parallel flex + ndarray") {
        return;
    }
    let flex = backend(BackendName::Flex).device.autodiff();
    let ndarray = backend(BackendName::Ndarray).device.autodiff();
    same_steps_as_one_device(&[flex, ndarray], "flex + ndarray");
}

#[test]
fn flex_with_wgpu_steps_as_flex_alone() {
    if !gradlab_testkit::can_run(BackendName::Wgpu, "data-parallel flex + wgpu") {
        return;
    }
    let flex = backend(BackendName::Flex).device.autodiff();
    let wgpu = backend(BackendName::Wgpu).device.autodiff();
    same_steps_as_one_device(&[flex, wgpu], "flex + wgpu");
}

#[test]
fn three_devices_and_a_batch_that_does_not_divide() {
    let flex = backend(BackendName::Flex).device.autodiff();
    let main = flex.clone();
    let items = digits(7);
    let model = gradlab::seeded(&main, 3, || Cnn::new(&main)).with_fast_path(true);
    let (g1, l1, _) = step_grads(
        &model,
        MnistBatcher.batch(items.clone(), &main),
        std::slice::from_ref(&flex),
    );
    let (g3, l3, _) = step_grads(
        &model,
        MnistBatcher.batch(items, &main),
        &[flex.clone(), flex.clone(), flex],
    );
    assert!((l1.into_scalar::<f64>() - l3.into_scalar::<f64>()).abs() < LOSS_TOL);
    let (worst, at) = largest_difference(&grads_as_values(&model, g1), &grads_as_values(&model, g3));
    assert!(worst < GRAD_TOL, "shares 3+2+2: {worst} in {at}");
}

fn mnist_cnn(args: &[&str], cwd: &Path) -> std::process::Output {
    gradlab_testkit::run(env!("CARGO_BIN_EXE_mnist-cnn"), args, cwd, None)
}

#[test]
fn the_cli_trains_data_parallel_with_ndarray_where_built_and_refuses_bad_devices() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small = [
        "--train-limit",
        "64",
        "--test-limit",
        "32",
        "--epochs",
        "1",
        "--out",
        "runs",
    ];
    // A second backend where this build has one to spare (ndarray is opt-in), else a second flex.
    let second = if BackendName::Ndarray.is_built() {
        "ndarray"
    } else {
        "flex"
    };
    let devices = format!("flex,{second}");
    let o = mnist_cnn(&[&["train", "--devices", &devices][..], &small].concat(), d);
    let text = gradlab_testkit::text(&o);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("data-parallel over 2 devices") && text.contains("flex is the main device"),
        "{text}"
    );
    let report = std::fs::read_to_string(d.join("runs/run-001/report.json")).unwrap();
    assert!(
        report.contains(&format!("\"{second}\"")),
        "the devices are recorded: {report}"
    );
    if !BackendName::Ndarray.is_built() {
        // A backend this build lacks: a clear error saying how to build it, no run folder.
        let o = mnist_cnn(&[&["train", "--devices", "flex,ndarray"][..], &small].concat(), d);
        let text = gradlab_testkit::text(&o);
        assert!(!o.status.success() && !text.contains("panicked"), "{text}");
        assert!(text.contains("--features ndarray"), "{text}");
        assert!(!d.join("runs/run-002").exists(), "{text}");
    }
    for (args, needle) in [
        (
            &["train", "--devices", "flex,cuda"][..],
            "device `cuda`: unknown backend",
        ),
        (&["train", "--devices", "auto,flex"], "name the backend"),
        (&["--backend", "ndarray", "train", "--devices", "flex,flex"], "disagree"),
    ] {
        let o = mnist_cnn(&[args, &small].concat(), d);
        let text = gradlab_testkit::text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {text}");
        assert!(text.contains(needle), "{args:?}: {text}");
    }
}
