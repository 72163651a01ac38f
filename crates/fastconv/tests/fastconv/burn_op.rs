//! The backend-extension ops against burn's stock `relu(conv2d(x, w) + b)` (and
//! `max_pool2d` of it): outputs and the gradients of x, w and b (burn's autodiff through the
//! stock ops vs the hand-written backward), on flex (the fast kernels), wgpu (the CubeCL
//! kernels, lavapipe here and in CI) and ndarray (the stock-op default bodies), at every block
//! of the seed CNN and batch sizes 1, 7 and 32; and the CubeCL kernels' gradients against
//! central finite differences of their own forward pass.
//!
//! Tolerance: 1e-5 of the largest entry. Both sides are f32 sums of the same c·k·k (≤ 576)
//! products in different orders; their rounding differences are ~√576·6e-8 ≈ 1.4e-6 of the
//! entries at worst (measured: printed by the test, ≤ 1e-6 on flex and ndarray, ≤ 1.7e-6 on
//! wgpu).

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
    if !gradlab_testkit::can_run(BackendName::Ndarray, "fastconv's default bodies against burn's ops") {
        return;
    }
    let device = gradlab_testkit::backend(BackendName::Ndarray).device.autodiff();
    assert!(!fastconv::is_fast(&device) && fastconv::is_supported(&device));
    check(&device, BackendName::Ndarray);
}

#[test]
fn wgpu_cubecl_kernels_equal_burns_stock_ops() {
    if !gradlab_testkit::can_run(BackendName::Wgpu, "fastconv's CubeCL kernels against burn's ops") {
        return;
    }
    let _one_at_a_time = crate::wgpu_lock();
    let device = gradlab_testkit::backend(BackendName::Wgpu).device.autodiff();
    assert!(fastconv::is_cube(&device) && fastconv::is_supported(&device) && !fastconv::is_fast(&device));
    check(&device, BackendName::Wgpu);
}

/// `Σ r ⊙ block(x, w, b)` in f64 from the block's f32 output on `device` (no autodiff).
fn loss(device: &Device, pool: bool, shapes: &Shapes, x: &[f32], w: &[f32], b: &[f32], r: &[f32]) -> f64 {
    let x = Tensor::<4>::from_data(TensorData::new(x.to_vec(), shapes.x), device);
    let w = Tensor::<4>::from_data(TensorData::new(w.to_vec(), shapes.w), device);
    let b = Tensor::<1>::from_data(TensorData::new(b.to_vec(), [shapes.w[0]]), device);
    let y = if pool {
        fastconv::conv_relu_pool(x, w, b)
    } else {
        fastconv::conv_relu(x, w, b)
    };
    values(y)
        .iter()
        .zip(r)
        .map(|(&y, &r)| f64::from(y) * f64::from(r))
        .sum()
}

struct Shapes {
    x: [usize; 4],
    w: [usize; 4],
}

/// The pre-activations `conv(x, w) + b` in f64, `[n][o][i][j]` flattened.
fn pre_activations(s: &Shapes, x: &[f32], w: &[f32], b: &[f32]) -> (Vec<f64>, [usize; 4]) {
    let ([n, c, h, wd], [o, _, k, _]) = (s.x, s.w);
    let (oh, ow) = (h - k + 1, wd - k + 1);
    let mut z = Vec::with_capacity(n * o * oh * ow);
    for bn in 0..n {
        for oc in 0..o {
            for i in 0..oh {
                for j in 0..ow {
                    let mut sum = f64::from(b[oc]);
                    for ci in 0..c {
                        for u in 0..k {
                            for v in 0..k {
                                sum += f64::from(w[((oc * c + ci) * k + u) * k + v])
                                    * f64::from(x[((bn * c + ci) * h + i + u) * wd + j + v]);
                            }
                        }
                    }
                    z.push(sum);
                }
            }
        }
    }
    (z, [n, o, oh, ow])
}

/// How close the inputs come to a kink of the block: the smallest |pre-activation| and, pooled,
/// the smallest gap between a window's two largest values.
fn margin(s: &Shapes, pool: bool, x: &[f32], w: &[f32], b: &[f32]) -> f64 {
    let (z, [n, o, oh, ow]) = pre_activations(s, x, w, b);
    let mut m = z.iter().fold(f64::INFINITY, |m, v| m.min(v.abs()));
    if pool {
        for plane in z.chunks(oh * ow).take(n * o) {
            for p in 0..oh / 2 {
                for q in 0..ow / 2 {
                    let mut win = [0, 1, 2, 3].map(|t| plane[(2 * p + t / 2) * ow + 2 * q + t % 2]);
                    win.sort_by(f64::total_cmp);
                    m = m.min(win[3] - win[2]);
                }
            }
        }
    }
    m
}

/// The CubeCL kernels' dx, dW and db (plain and pooled; an odd size whose last row and column
/// the pool drops; a 2×2 and a 3×3 kernel; channel counts a thread takes one at a time and in
/// blocks) against central differences of the loss
/// `Σ r ⊙ y` computed by the same kernels' forward pass. The block is piecewise linear in each
/// input, so the difference is exact away from kinks: inputs are redrawn until every
/// pre-activation and every pooling window's top-two gap is at least 0.02, ten times the most a
/// step can move one (a step of 1e-3 in one input moves each pre-activation by the step times
/// one entry of x or w, all of magnitude < 1, or, for the bias, by the step).
/// Tolerance: 2e-3 of the largest entry (f32 outputs summed in f64: ~1e-6 rounding over 2e-3).
#[test]
fn wgpu_cubecl_gradients_equal_finite_differences() {
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};
    if !gradlab_testkit::can_run(
        BackendName::Wgpu,
        "fastconv's CubeCL gradients against finite differences",
    ) {
        return;
    }
    let _one_at_a_time = crate::wgpu_lock();
    let device = gradlab_testkit::backend(BackendName::Wgpu).device;
    let mut rng = StdRng::seed_from_u64(7);
    // (input, weight, pooled); the last two have channel counts the kernels split among
    // threads in blocks (of 2 and 4).
    let cases = [
        ([2, 2, 7, 7], [3, 2, 3, 3], true),
        ([2, 2, 6, 5], [3, 2, 2, 2], false),
        ([1, 3, 6, 6], [2, 3, 3, 3], false),
        ([1, 4, 6, 6], [4, 4, 3, 3], true),
        ([2, 4, 5, 5], [4, 4, 2, 2], false),
    ];
    for (x, w, pool) in cases {
        let shapes = Shapes { x, w };
        let count = |d: [usize; 4]| d.iter().product::<usize>();
        let mut draw = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect() };
        let (x, w, b) = loop {
            let (x, w, b) = (draw(count(shapes.x)), draw(count(shapes.w)), draw(shapes.w[0]));
            if margin(&shapes, pool, &x, &w, &b) >= 0.02 {
                break (x, w, b);
            }
        };
        let (_, [n, o, oh, ow]) = pre_activations(&shapes, &x, &w, &b);
        let out = if pool { [n, o, oh / 2, ow / 2] } else { [n, o, oh, ow] };
        let r = draw(count(out));

        // The hand-written backward, through burn's autodiff.
        let ad = device.clone().autodiff();
        let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), shapes.x), &ad).require_grad();
        let wt = Tensor::<4>::from_data(TensorData::new(w.clone(), shapes.w), &ad).require_grad();
        let bt = Tensor::<1>::from_data(TensorData::new(b.clone(), [shapes.w[0]]), &ad).require_grad();
        let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), out), &ad);
        let y = if pool {
            fastconv::conv_relu_pool(xt.clone(), wt.clone(), bt.clone())
        } else {
            fastconv::conv_relu(xt.clone(), wt.clone(), bt.clone())
        };
        let grads = (y * rt).sum().backward();
        let analytic = [
            values(xt.grad(&grads).unwrap()),
            values(wt.grad(&grads).unwrap()),
            bt.grad(&grads).unwrap().into_data().iter::<f32>().collect(),
        ];

        let step = 1e-3f32;
        let inputs = [x, w, b];
        for (which, name) in ["dx", "dW", "db"].iter().enumerate() {
            let numeric: Vec<f32> = (0..inputs[which].len())
                .map(|i| {
                    let at = |delta: f32| {
                        let mut v = inputs.clone();
                        v[which][i] += delta;
                        loss(&device, pool, &shapes, &v[0], &v[1], &v[2], &r)
                    };
                    ((at(step) - at(-step)) / (2.0 * f64::from(step))) as f32
                })
                .collect();
            let e = rel(&analytic[which], &numeric);
            println!(
                "wgpu {:?}→{:?} pool {pool}: {name} vs central differences {e:.1e}",
                shapes.x, shapes.w
            );
            assert!(
                e < 2e-3,
                "wgpu {:?}→{:?} pool {pool}: {name} differs by {e:e}",
                shapes.x,
                shapes.w
            );
        }
    }
}

/// Without autodiff the op is a plain forward; with an untracked input (a network's first
/// layer) the input gradient is skipped and the weight and bias gradients still come back:
/// flex's kernels and the CubeCL kernels.
#[test]
fn inference_and_untracked_inputs() {
    untracked_on(gradlab_testkit::backend(BackendName::Flex).device);
    if gradlab_testkit::can_run(BackendName::Wgpu, "fastconv's CubeCL kernels with an untracked input") {
        let _one_at_a_time = crate::wgpu_lock();
        untracked_on(gradlab_testkit::backend(BackendName::Wgpu).device);
    }
}

fn untracked_on(device: Device) {
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
    // The weight's gradient is the one computed when x is tracked too (on CubeCL the untracked
    // case takes another path: dz without its zero border, no dx kernel).
    let tracked = fastconv::conv_relu(x.clone().require_grad(), w.clone(), b.clone())
        .sum()
        .backward();
    let dw = values(w.grad(&grads).unwrap());
    assert_eq!(dw.len(), 3 * 9);
    assert!(rel(&values(w.grad(&tracked).unwrap()), &dw) < 1e-6, "{dw:?}");
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
    let tracked = fastconv::conv_relu_pool(x.clone().require_grad(), w.clone(), b.clone())
        .sum()
        .backward();
    assert!(rel(&values(w.grad(&tracked).unwrap()), &values(w.grad(&grads).unwrap())) < 1e-6);
}
