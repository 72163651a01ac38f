//! Data-parallel steps compared with one device: shared by `parallel.rs` and `remote.rs`.
#![allow(dead_code)]

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::Device;
use gradlab::BackendName;
use gradlab::exchange::module_tensors;
use mnist_cnn::data::{MnistBatcher, MnistItem};
use mnist_cnn::model::Cnn;
use mnist_cnn::training::step_grads;

use crate::common::small_config;

/// Largest gradient difference allowed (float32 sums in another order; the gradients
/// themselves are ~1e-3–1e-1).
pub const GRAD_TOL: f32 = 1e-5;
/// Largest loss difference allowed.
pub const LOSS_TOL: f64 = 1e-6;

/// The gradients as named arrays: what an SGD step with learning rate 1 (no momentum, no decay)
/// takes away from each parameter of a copy of the model.
pub fn grads_as_values(model: &Cnn, grads: GradientsParams) -> Vec<(String, Vec<f32>)> {
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
pub fn descend(model: Cnn, g: &[(String, Vec<f32>)], lr: f32) -> Cnn {
    let mut tensors = module_tensors(&model).unwrap();
    for (t, (name, grad)) in tensors.iter_mut().zip(g) {
        assert_eq!(&t.name, name);
        for (v, d) in t.values.iter_mut().zip(grad) {
            *v -= lr * d;
        }
    }
    gradlab::exchange::load_tensors(model, tensors).unwrap()
}

pub fn largest_difference(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> (f32, String) {
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

pub fn digits(n: usize) -> Vec<MnistItem> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(BackendName::Flex, 0, 0, dir.path());
    let splits = mnist_cnn::data::load(&cfg).unwrap();
    (0..n).map(|i| splits.train.get(i).unwrap()).collect()
}

/// Three gradient-descent steps on 32 real digits each: at each, the loss, the hit count and every gradient from
/// `devices` (split in shares) equal those of `devices[0]` alone on the whole batch.
pub fn same_steps_as_one_device(devices: &[Device], what: &str) {
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
