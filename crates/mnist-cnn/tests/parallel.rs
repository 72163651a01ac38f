//! Data-parallel training (`devices = [...]`, `--devices`): a step split across two devices
//! computes the same loss and gradients as one device on the whole batch — two flex devices,
//! flex with ndarray and flex with wgpu (gradients moved between backends) — for several steps
//! of the seed CNN;
//! and the CLI trains with `--devices` and refuses bad ones.

mod common;

use std::path::Path;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::Device;
use common::{backend, small_config};
use gradlab::BackendName;
use gradlab::exchange::module_tensors;
use mnist_cnn::data::{MnistBatcher, MnistItem};
use mnist_cnn::model::Cnn;
use mnist_cnn::training::step_grads;

/// Largest gradient difference allowed (float32 sums in another order; the gradients
/// themselves are ~1e-3–1e-1).
const GRAD_TOL: f32 = 1e-5;
/// Largest loss difference allowed.
const LOSS_TOL: f64 = 1e-6;

/// The gradients as named arrays: what an SGD step with learning rate 1 (no momentum, no decay)
/// takes away from each parameter of a copy of the model.
fn grads_as_values(model: &Cnn, grads: GradientsParams) -> Vec<(String, Vec<f32>)> {
    let before = module_tensors(model).unwrap();
    let mut sgd = SgdConfig::new().init();
    let after = module_tensors(&sgd.step(1.0, model.clone(), grads)).unwrap();
    before
        .into_iter()
        .zip(after)
        .map(|(b, a)| (b.name, b.values.iter().zip(&a.values).map(|(x, y)| x - y).collect()))
        .collect()
}

/// `model` after a plain gradient-descent step of `lr` with the gradients `g`.
fn descend(model: Cnn, g: &[(String, Vec<f32>)], lr: f32) -> Cnn {
    let mut tensors = module_tensors(&model).unwrap();
    for (t, (name, grad)) in tensors.iter_mut().zip(g) {
        assert_eq!(&t.name, name);
        for (v, d) in t.values.iter_mut().zip(grad) {
            *v -= lr * d;
        }
    }
    gradlab::exchange::load_tensors(model, tensors).unwrap()
}

fn largest_difference(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> (f32, String) {
    let mut worst = (0f32, String::new());
    for ((name, x), (name_b, y)) in a.iter().zip(b) {
        assert_eq!(name, name_b);
        for (p, q) in x.iter().zip(y) {
            if (p - q).abs() > worst.0 {
                worst = ((p - q).abs(), name.clone());
            }
        }
    }
    worst
}

fn digits(n: usize) -> Vec<MnistItem> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(BackendName::Flex, 0, 0, dir.path());
    let splits = mnist_cnn::data::load(&cfg).unwrap();
    (0..n).map(|i| splits.train.get(i).unwrap()).collect()
}

/// Three gradient-descent steps on 32 real digits each: at each, the loss, the hit count and every gradient from
/// `devices` (split in shares) equal those of `devices[0]` alone on the whole batch.
fn same_steps_as_one_device(devices: &[Device], what: &str) {
    let main = devices[0].clone();
    let items = digits(96);
    let mut one = gradlab::seeded(&main, 7, || Cnn::new(&main)).with_fast_path(true);
    let mut split = one.clone();
    for step in 0..3 {
        let chunk = items[step * 32..(step + 1) * 32].to_vec();
        let (g1, l1, h1) = step_grads(&one, MnistBatcher.batch(chunk.clone(), &main), &devices[..1]);
        let (g2, l2, h2) = step_grads(&split, MnistBatcher.batch(chunk, &main), devices);
        let (l1, l2) = (l1.into_scalar::<f64>(), l2.into_scalar::<f64>());
        assert!((l1 - l2).abs() < LOSS_TOL, "{what}, step {step}: loss {l1} vs {l2}");
        assert_eq!(
            h1.into_scalar::<i64>(),
            h2.into_scalar::<i64>(),
            "{what}, step {step}: hits"
        );
        let (v1, v2) = (grads_as_values(&one, g1), grads_as_values(&split, g2));
        let (worst, at) = largest_difference(&v1, &v2);
        println!("{what}, step {step}: loss {l1:.6} vs {l2:.6}, largest gradient difference {worst:.2e} ({at})");
        assert!(
            worst < GRAD_TOL,
            "{what}, step {step}: gradients differ by {worst} in {at}"
        );
        one = descend(one, &v1, 0.05);
        split = descend(split, &v2, 0.05);
    }
}

#[test]
fn two_flex_devices_step_as_one() {
    let flex = backend(BackendName::Flex).device.autodiff();
    same_steps_as_one_device(&[flex.clone(), flex], "flex + flex");
}

#[test]
fn flex_with_ndarray_steps_as_flex_alone() {
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
fn the_cli_trains_data_parallel_and_refuses_bad_devices() {
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
    let o = mnist_cnn(&[&["train", "--devices", "flex,ndarray"][..], &small].concat(), d);
    let text = gradlab_testkit::text(&o);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("data-parallel over 2 devices") && text.contains("flex is the main device"),
        "{text}"
    );
    let report = std::fs::read_to_string(d.join("runs/run-001/report.json")).unwrap();
    assert!(report.contains("\"ndarray\""), "the devices are recorded: {report}");
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
