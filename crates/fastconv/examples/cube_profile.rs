//! Times each seed-CNN convolution block on wgpu (or vulkan) — forward alone, and forward +
//! backward — through fastconv's CubeCL kernels and through burn's stock layers, side by side,
//! and prints the adapter: where a training step's time goes on the GPU path.
//!
//! `cargo build --release --workspace --examples && target/release/examples/cube_profile [batch] [wgpu|vulkan]`

use std::time::Instant;

use burn::nn::pool::MaxPool2dConfig;
use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use gradlab::BackendName;

fn median_ms(reps: usize, device: &Device, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            device.sync().expect("device sync");
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn block(x: Tensor<4>, w: Tensor<4>, b: Tensor<1>, pool: bool, fast: bool) -> Tensor<4> {
    match (fast, pool) {
        (true, true) => fastconv::conv_relu_pool(x, w, b),
        (true, false) => fastconv::conv_relu(x, w, b),
        (false, _) => {
            let y = relu(conv2d(x, w, Some(b), ConvOptions::new([1, 1], [0, 0], [1, 1], 1)));
            if pool {
                MaxPool2dConfig::new([2, 2]).init().forward(y)
            } else {
                y
            }
        }
    }
}

/// (label, input shape, weight shape, pooled) of the seed CNN's three blocks at batch `n`.
type Layer = (&'static str, [usize; 4], [usize; 4], bool);

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let name = match args.next().as_deref() {
        Some("vulkan") => BackendName::Vulkan,
        _ => BackendName::Wgpu,
    };
    let backend = match gradlab::backend::resolve(&gradlab::BackendConfig {
        backend: name,
        ..Default::default()
    }) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cube_profile: {e}");
            std::process::exit(2);
        }
    };
    println!("{}; batch {n}; medians of 10 calls, ms", backend.describe());
    let layers: [Layer; 3] = [
        ("conv1+pool", [n, 1, 28, 28], [32, 1, 3, 3], true),
        ("conv2+pool", [n, 32, 13, 13], [64, 32, 3, 3], true),
        ("conv3", [n, 64, 5, 5], [64, 64, 3, 3], false),
    ];
    println!(
        "{:<12} {:>10} {:>10} {:>14} {:>14} {:>14} {:>14}",
        "block", "fwd cube", "fwd stock", "+bwd, no dx", "stock, no dx", "+bwd cube", "+bwd stock"
    );
    for layer in layers {
        one_block(&backend.device, layer);
    }
    chained(&backend.device, &layers, n);
}

/// One block alone: forward, and forward + backward without and (but for the first block,
/// whose input needs no gradient in a network) with the input's gradient.
fn one_block(device: &Device, (label, xs, ws, pool): Layer) {
    // Tensors on the autodiff device: untracked ones run the plain forward.
    let ad = device.clone().autodiff();
    let x: Tensor<4> = Tensor::random(xs, Distribution::Normal(0.0, 1.0), &ad);
    let w: Tensor<4> = Tensor::random(ws, Distribution::Normal(0.0, 0.3), &ad);
    let b: Tensor<1> = Tensor::random([ws[0]], Distribution::Normal(0.0, 0.3), &ad);
    let forward = |fast: bool| {
        median_ms(10, device, || {
            drop(block(x.clone(), w.clone(), b.clone(), pool, fast));
        })
    };
    let both = |fast: bool, input_grad: bool| {
        median_ms(10, device, || {
            let xa = if input_grad {
                x.clone().require_grad()
            } else {
                x.clone()
            };
            let (wa, ba) = (w.clone().require_grad(), b.clone().require_grad());
            drop(block(xa, wa, ba, pool, fast).sum().backward());
        })
    };
    let with_dx = |fast: bool| {
        if xs[1] > 1 {
            format!("{:.2}", both(fast, true))
        } else {
            "-".into()
        }
    };
    println!(
        "{label:<12} {:>10.2} {:>10.2} {:>14.2} {:>14.2} {:>14} {:>14}",
        forward(true),
        forward(false),
        both(true, false),
        both(false, false),
        with_dx(true),
        with_dx(false),
    );
}

/// The three blocks chained as in the CNN (the image untracked, every weight and bias tracked),
/// forward and backward.
fn chained(device: &Device, layers: &[Layer], n: usize) {
    let ad = device.clone().autodiff();
    let params: Vec<_> = layers
        .iter()
        .map(|(_, _, ws, _)| {
            (
                Tensor::<4>::random(*ws, Distribution::Normal(0.0, 0.3), &ad).require_grad(),
                Tensor::<1>::random([ws[0]], Distribution::Normal(0.0, 0.3), &ad).require_grad(),
            )
        })
        .collect();
    let image: Tensor<4> = Tensor::random([n, 1, 28, 28], Distribution::Normal(0.0, 1.0), &ad);
    let chain = |fast: bool| {
        median_ms(10, device, || {
            let mut x = image.clone();
            for ((_, _, _, pool), (w, b)) in layers.iter().zip(&params) {
                x = block(x, w.clone(), b.clone(), *pool, fast);
            }
            drop(x.sum().backward());
        })
    };
    println!("{:<12} {:>14.2} {:>14.2}", "chained", chain(true), chain(false));
}
