//! The backend-extension ops against burn's stock `relu(conv2d(x, w) + b)` (and
//! `max_pool2d` of it): outputs and the gradients of x, w and b (burn's autodiff through the
//! stock ops vs the hand-written backward), on flex (the fast kernels) and ndarray (the stock-op
//! default bodies), at every block of the seed CNN and batch sizes 1, 7 and 32.
//!
//! Tolerance: 1e-5 of the largest entry. Both sides are f32 sums of the same c·k·k (≤ 576)
//! products in different orders; their rounding differences are ~√576·6e-8 ≈ 1.4e-6 of the
//! entries at worst (measured: printed by the test, ≤ 1e-6).

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use gradlab::BackendName;

/// (input channels, height/width, output channels, pooled) of the seed CNN's three blocks.
const LAYERS: [(usize, usize, usize, bool); 3] = [(1, 28, 32, true), (32, 13, 64, true), (64, 5, 64, false)];

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

fn rel(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn check(device: &Device, name: BackendName) {
    for (c, side, o, pool) in LAYERS {
        let out_side = if pool { (side - 2) / 2 } else { side - 2 };
        for n in [1, 7, 32] {
            let x: Tensor<4> = Tensor::random([n, c, side, side], Distribution::Normal(0.0, 1.0), device);
            let w: Tensor<4> = Tensor::random([o, c, 3, 3], Distribution::Normal(0.0, 0.3), device);
            let b: Tensor<1> = Tensor::random([o], Distribution::Normal(0.0, 0.3), device);
            // A random upstream gradient: L = Σ r ⊙ y.
            let r: Tensor<4> = Tensor::random([n, o, out_side, out_side], Distribution::Normal(0.0, 1.0), device);
            let run = |fast: bool| {
                let (x, w, b) = (
                    x.clone().require_grad(),
                    w.clone().require_grad(),
                    b.clone().require_grad(),
                );
                let y = match (fast, pool) {
                    (true, true) => fastconv::conv_relu_pool(x.clone(), w.clone(), b.clone()),
                    (true, false) => fastconv::conv_relu(x.clone(), w.clone(), b.clone()),
                    (false, _) => {
                        let conv = burn::tensor::module::conv2d(
                            x.clone(),
                            w.clone(),
                            Some(b.clone()),
                            burn::tensor::ops::ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
                        );
                        let y = burn::tensor::activation::relu(conv);
                        if pool {
                            burn::nn::pool::MaxPool2dConfig::new([2, 2]).init().forward(y)
                        } else {
                            y
                        }
                    }
                };
                let grads = (y.clone() * r.clone()).sum().backward();
                let db = b.grad(&grads).unwrap().into_data().iter::<f32>().collect::<Vec<_>>();
                (
                    values(y),
                    values(x.grad(&grads).unwrap()),
                    values(w.grad(&grads).unwrap()),
                    db,
                )
            };
            let (stock, fast) = (run(false), run(true));
            let errs = [
                rel(&stock.0, &fast.0),
                rel(&stock.1, &fast.1),
                rel(&stock.2, &fast.2),
                rel(&stock.3, &fast.3),
            ];
            println!(
                "{name} [{n},{c},{side},{side}]→{o} pool {pool}: y/dx/dw/db relative differences {:.1e} {:.1e} {:.1e} {:.1e}",
                errs[0], errs[1], errs[2], errs[3]
            );
            for (what, e) in ["output", "dx", "dw", "db"].iter().zip(errs) {
                assert!(
                    e < 1e-5,
                    "{name} layer [{n},{c},{side},{side}]→{o} pool {pool}: {what} differs by {e:e}"
                );
            }
        }
    }
}

#[test]
fn flex_fast_kernels_equal_burns_stock_ops() {
    let device = gradlab_testkit::backend(BackendName::Flex).device.autodiff();
    assert!(fastconv::is_fast(&device));
    check(&device, BackendName::Flex);
}

#[test]
fn ndarray_default_bodies_equal_burns_stock_ops() {
    let device = gradlab_testkit::backend(BackendName::Ndarray).device.autodiff();
    assert!(!fastconv::is_fast(&device) && fastconv::is_supported(&device));
    check(&device, BackendName::Ndarray);
}

/// Without autodiff the op is a plain forward; with an untracked input (a network's first
/// layer) the input gradient is skipped and the weight and bias gradients still come back.
#[test]
fn inference_and_untracked_inputs() {
    let device = gradlab_testkit::backend(BackendName::Flex).device;
    let x: Tensor<4> = Tensor::ones([2, 1, 5, 5], &device);
    let w: Tensor<4> = Tensor::ones([3, 1, 3, 3], &device);
    let b: Tensor<1> = Tensor::from_floats([0.5, -20.0, 1.0], &device);
    let y = fastconv::conv_relu(x, w, b);
    assert_eq!(y.dims(), [2, 3, 3, 3]);
    let expected: Vec<f32> = [9.5f32, 0.0, 10.0]
        .iter()
        .flat_map(|&v| [v; 9])
        .cycle()
        .take(54)
        .collect();
    assert_eq!(values(y), expected);

    let device = device.autodiff();
    let x: Tensor<4> = Tensor::random([2, 1, 6, 6], Distribution::Default, &device);
    let w: Tensor<4> = Tensor::random([3, 1, 3, 3], Distribution::Default, &device).require_grad();
    let b: Tensor<1> = Tensor::from_data(TensorData::from([0.1f32, 0.2, 0.3]), &device).require_grad();
    let grads = fastconv::conv_relu(x.clone(), w.clone(), b.clone()).sum().backward();
    assert!(x.grad(&grads).is_none());
    assert_eq!(w.grad(&grads).unwrap().dims(), [3, 1, 3, 3]);
    // All pre-activations are positive (non-negative inputs and weights, positive bias), so
    // db = the number of output pixels, 2·4·4, for every channel.
    assert_eq!(
        b.grad(&grads).unwrap().into_data().iter::<f32>().collect::<Vec<_>>(),
        vec![32.0; 3]
    );

    // Pooled: 2·2·2 outputs per channel, each taking its gradient from one window.
    let grads = fastconv::conv_relu_pool(x.clone(), w.clone(), b.clone())
        .sum()
        .backward();
    assert!(x.grad(&grads).is_none());
    assert_eq!(
        b.grad(&grads).unwrap().into_data().iter::<f32>().collect::<Vec<_>>(),
        vec![8.0; 3]
    );
}
