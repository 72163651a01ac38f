//! Splits one training step of the seed CNN on flex into its phases — forward + loss, backward,
//! optimizer — and times each, stock and fast path interleaved (medians of 60 steps, batch from
//! the first argument, 32 by default); the fast path's step on one of rayon's threads, as
//! `mnist-cnn train` runs it (`fastconv::on_worker`). Freed memory is kept for reuse, as
//! `mnist-cnn` does with `fast_path` (`--malloc-defaults` as second argument: glibc's defaults).
//!
//! `cargo build --release --workspace --examples && target/release/examples/step_phases [batch]`

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use mnist_cnn::model::Cnn;

fn main() {
    let batch: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(32);
    let malloc_defaults = std::env::args().nth(2).as_deref() == Some("--malloc-defaults");
    let kept = !malloc_defaults && fastconv::memory::keep_freed_memory();
    let device = gradlab::backend::host_device().autodiff();
    let mut models = [false, true].map(|fast| {
        let m = gradlab::seeded(&device, 7, || Cnn::new(&device)).with_fast_path(fast);
        (m, mnist_cnn::training::optimizer(fast), Vec::new())
    });
    let images: Tensor<4> = Tensor::random([batch, 1, 28, 28], Distribution::Default, &device);
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % 10).collect();
    let targets: Tensor<1, Int> = Tensor::from_data(TensorData::new(labels, [batch]), &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for rep in 0..70 {
        for (fast, (model, optim, times)) in [false, true].into_iter().zip(models.iter_mut()) {
            let mut step = || {
                let t0 = Instant::now();
                let loss = loss_fn.forward(model.forward(images.clone()), targets.clone());
                device.sync().unwrap();
                let t1 = Instant::now();
                let grads = GradientsParams::from_grads(loss.backward(), &*model);
                device.sync().unwrap();
                let t2 = Instant::now();
                *model = optim.step(1e-3, model.clone(), grads);
                device.sync().unwrap();
                let t3 = Instant::now();
                [t1 - t0, t2 - t1, t3 - t2].map(|d| d.as_secs_f64() * 1e3)
            };
            // The fast path's step on one of rayon's threads, as `mnist-cnn train` runs it.
            let phases = if fast { fastconv::on_worker(step) } else { step() };
            if rep >= 10 {
                times.push(phases);
            }
        }
    }
    println!(
        "flex, batch {batch}, medians of 60 interleaved steps, ms; malloc: {}",
        if kept { "freed memory kept" } else { "defaults" }
    );
    for ((_, _, times), name) in models.iter().zip(["stock", "fast"]) {
        let med = |i: usize| {
            let mut v: Vec<f64> = times.iter().map(|t| t[i]).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (f, b, o) = (med(0), med(1), med(2));
        println!(
            "{name:<6} forward+loss {f:.3}  backward {b:.3}  optimizer {o:.3}  total {:.3} = {:.0} images/s",
            f + b + o,
            batch as f64 / (f + b + o) * 1e3
        );
    }
}
