//! `fastconv::infer::Network` against burn's stock layers on flex (`conv2d`, `relu`,
//! `MaxPool2d`, `flatten`, `matmul`): the seed CNN's chain of blocks and a chain with an odd
//! conv output before a pool (its last row and column dropped, as burn's pool drops them), a
//! convolution without pool before the dense layers, two dense layers in a row; at batch sizes
//! 1, 2, 3, 7 and 33 (one group, groups of uneven size); and the refusals.
//!
//! Batch 1 also with its largest convolutions shared with the helper thread, pooled and
//! unpooled: the helper computing every share (whatever the core count), the caller computing
//! the shares a sleeping helper did not take, and two callers at once.
//!
//! Tolerance: 1e-5 of the largest output. Both sides are f32 sums of the same products (≤ 576
//! per output) in different orders, or (pooled 3×3 convolutions of 8 or more channels: the seed
//! CNN's conv2, the "odd output" chain below) Winograd F(2×2, 3×3), whose transforms round
//! differently; measured ≤ 1.3e-6.

use burn::tensor::{Device, Distribution, Tensor};
use fastconv::infer::{InferError, LayerSpec, Network, SPIN};

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// A layer's weights, in burn's layouts.
enum Spec {
    Conv { w: Tensor<4>, b: Tensor<1>, pool: bool },
    Dense { w: Tensor<2>, b: Tensor<1>, relu: bool },
}

/// burn's stock forward of `layers` on `x` ([n, c, s, s]).
fn stock(layers: &[Spec], x: Tensor<4>) -> Vec<f32> {
    use burn::tensor::activation::relu;
    let mut conv: Option<Tensor<4>> = Some(x);
    let mut flat: Option<Tensor<2>> = None;
    for layer in layers {
        match layer {
            Spec::Conv { w, b, pool } => {
                let y = burn::tensor::module::conv2d(
                    conv.take().unwrap(),
                    w.clone(),
                    Some(b.clone()),
                    burn::tensor::ops::ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
                );
                let y = relu(y);
                conv = Some(if *pool {
                    burn::nn::pool::MaxPool2dConfig::new([2, 2]).init().forward(y)
                } else {
                    y
                });
            }
            Spec::Dense { w, b, relu: r } => {
                let x = flat.take().unwrap_or_else(|| conv.take().unwrap().flatten(1, 3));
                let y = x.matmul(w.clone()) + b.clone().unsqueeze::<2>();
                flat = Some(if *r { relu(y) } else { y });
            }
        }
    }
    match flat {
        Some(f) => host(f),
        None => host(conv.unwrap()),
    }
}

/// A layer read back to the host: weights, biases, outputs, kernel side (0: dense), its flag
/// (pool / relu), whether it is a convolution.
type HostLayer = (Vec<f32>, Vec<f32>, usize, usize, bool, bool);

fn packed(layers: &[Spec], side: usize, channels: usize) -> Network {
    let host_layers: Vec<HostLayer> = layers
        .iter()
        .map(|l| match l {
            Spec::Conv { w, b, pool } => {
                let [o, _, k, _] = w.dims();
                (host(w.clone()), host(b.clone()), o, k, *pool, true)
            }
            Spec::Dense { w, b, relu } => {
                let [_, o] = w.dims();
                (host(w.clone()), host(b.clone()), o, 0, *relu, false)
            }
        })
        .collect();
    let specs: Vec<LayerSpec> = host_layers
        .iter()
        .map(|(w, b, o, k, flag, is_conv)| {
            if *is_conv {
                LayerSpec::Conv {
                    weight: w,
                    bias: b,
                    c_out: *o,
                    k: *k,
                    pool: *flag,
                }
            } else {
                LayerSpec::Dense {
                    weight: w,
                    bias: b,
                    d_out: *o,
                    relu: *flag,
                }
            }
        })
        .collect();
    Network::new(side, channels, &specs).unwrap()
}

fn rel(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn conv(o: usize, c: usize, k: usize, pool: bool, device: &Device) -> Spec {
    let sd = (2.0 / (c * k * k) as f64).sqrt();
    Spec::Conv {
        w: Tensor::random([o, c, k, k], Distribution::Normal(0.0, sd), device),
        b: Tensor::random([o], Distribution::Normal(0.0, 0.1), device),
        pool,
    }
}

fn dense(i: usize, o: usize, relu: bool, device: &Device) -> Spec {
    Spec::Dense {
        w: Tensor::random([i, o], Distribution::Normal(0.0, (2.0 / i as f64).sqrt()), device),
        b: Tensor::random([o], Distribution::Normal(0.0, 0.1), device),
        relu,
    }
}

fn agree(name: &str, layers: &[Spec], side: usize, channels: usize, device: &Device) {
    let network = packed(layers, side, channels);
    for n in [1, 2, 3, 7, 33] {
        let x: Tensor<4> = Tensor::random([n, channels, side, side], Distribution::Uniform(0.0, 1.0), device);
        // Channels last: for one channel the same values; otherwise permuted like an image.
        let nhwc = host(x.clone().permute([0, 2, 3, 1]));
        let got = network.forward(&nhwc).unwrap();
        let want = stock(layers, x);
        assert_eq!(got.len(), n * network.output_len(), "{name}, batch {n}");
        let d = rel(&got, &want);
        println!("{name}, batch {n}: largest difference {d:.2e} of the largest output");
        assert!(d < 1e-5, "{name}, batch {n}: {d}");
    }
}

/// The seed CNN's layers (random weights): three convolution blocks, two dense layers.
fn seed_cnn(device: &Device) -> [Spec; 5] {
    [
        conv(32, 1, 3, true, device),
        conv(64, 32, 3, true, device),
        conv(64, 64, 3, false, device),
        dense(576, 64, true, device),
        dense(64, 10, false, device),
    ]
}

#[test]
fn the_seed_cnn_equals_burns_stock_layers_at_every_batch_size() {
    let device = gradlab::backend::host_device();
    let layers = seed_cnn(&device);
    agree("seed CNN", &layers, 28, 1, &device);
}

/// One image through `layers` with the helper and without, on the same weights: 20 images one
/// after the other, a pause longer than the helper's spin before every fifth.
fn helper_agrees(name: &str, layers: &[Spec], side: usize, channels: usize, device: &Device) {
    let mut alone = packed(layers, side, channels);
    alone.set_helper(false);
    let mut waits = alone.clone();
    waits.set_helper(true);
    waits.set_wait_for_helper(true);
    let mut races = alone.clone();
    races.set_helper(true);
    let images: Vec<(Tensor<4>, Vec<f32>)> = (0..20)
        .map(|_| {
            let x: Tensor<4> = Tensor::random([1, channels, side, side], Distribution::Uniform(0.0, 1.0), device);
            let nhwc = host(x.clone().permute([0, 2, 3, 1]));
            (x, nhwc)
        })
        .collect();
    let mut worst = (0f32, 0f32);
    for (i, (x, nhwc)) in images.iter().enumerate() {
        if i % 5 == 4 {
            std::thread::sleep(SPIN * 4);
        }
        let want = alone.forward(nhwc).unwrap();
        let (w, r) = (waits.forward(nhwc).unwrap(), races.forward(nhwc).unwrap());
        worst = (worst.0.max(rel(&w, &want)), worst.1.max(rel(&r, &want)));
        if i < 3 {
            assert!(
                rel(&want, &stock(layers, x.clone())) < 1e-5,
                "{name}: alone against burn's"
            );
        }
    }
    println!(
        "{name}: the helper's shares against one thread: {:.2e} (waiting), {:.2e} (racing)",
        worst.0, worst.1
    );
    assert!(worst.0 < 1e-6 && worst.1 < 1e-6, "{name}: {worst:?}");
    assert_eq!(
        waits.helper_jobs(),
        images.len() as u64,
        "{name}: one share per image, all the helper's"
    );
    assert_eq!(alone.helper_jobs(), 0, "{name}: no helper when it is off");
    // Two callers at once: whichever does not hold the helper runs alone; both answer right.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for (_, nhwc) in &images {
                    let want = alone.forward(nhwc).unwrap();
                    assert!(rel(&races.forward(nhwc).unwrap(), &want) < 1e-6, "{name}: two callers");
                }
            });
        }
    });
}

#[test]
fn batch_one_with_the_helper_thread_equals_one_thread_and_burns() {
    let device = gradlab::backend::host_device();
    let seed = seed_cnn(&device);
    helper_agrees("seed CNN (conv2 shared, pooled)", &seed, 28, 1, &device);
    // 16 → conv 3 → 14×14×64 (1.8 M multiply-adds, shared, no pool) → dense.
    let unpooled = [conv(64, 16, 3, false, &device), dense(14 * 14 * 64, 10, false, &device)];
    helper_agrees("unpooled convolution shared", &unpooled, 16, 16, &device);
    // 15 → conv 3 → 13 (odd: 12 rows computed, shared 6 + 6 before the pool) → 6×6×48.
    let odd = [conv(48, 24, 3, true, &device), dense(6 * 6 * 48, 5, true, &device)];
    helper_agrees("odd output before a pool, shared", &odd, 15, 24, &device);
}

#[test]
fn odd_outputs_before_a_pool_several_channels_in_and_convolution_outputs_equal_burns() {
    let device = gradlab::backend::host_device();
    // 12 → conv 3 → 10 → pool 5 → conv 2 → 4 (no pool): a conv network's own output, channels
    // first as burn gives it, checked after converting back below.
    let layers = [conv(8, 3, 3, true, &device), conv(5, 8, 2, false, &device)];
    let network = packed(&layers, 12, 3);
    for n in [1, 4] {
        let x: Tensor<4> = Tensor::random([n, 3, 12, 12], Distribution::Uniform(0.0, 1.0), &device);
        let got = network.forward(&host(x.clone().permute([0, 2, 3, 1]))).unwrap();
        // The network's output is channels last [n, 4, 4, 5]; burn's [n, 5, 4, 4].
        let want = stock(&layers, x);
        let got_nchw: Vec<f32> = {
            let t = Tensor::<4>::from_data(burn::tensor::TensorData::new(got, [n, 4, 4, 5]), &device);
            host(t.permute([0, 3, 1, 2]))
        };
        assert!(rel(&got_nchw, &want) < 1e-5, "batch {n}");
    }
    // 13 → conv 3 → 11 (odd) → pool 5, then dense layers after a pooled conv.
    let layers = [
        conv(6, 2, 3, true, &device),
        dense(6 * 5 * 5, 9, true, &device),
        dense(9, 4, false, &device),
    ];
    agree("odd conv output, pool, two dense", &layers, 13, 2, &device);
}

#[test]
fn weights_that_do_not_fit_and_inputs_that_are_not_whole_images_are_refused() {
    let w = vec![0.5f32; 32 * 9];
    let b = vec![0.0f32; 32];
    let ok = LayerSpec::Conv {
        weight: &w,
        bias: &b,
        c_out: 32,
        k: 3,
        pool: true,
    };
    let network = Network::new(28, 1, &[ok]).unwrap();
    assert_eq!(network.input_len(), 784);
    assert_eq!(network.output_len(), 13 * 13 * 32);
    let err = network.forward(&vec![0.0; 784 + 5]).unwrap_err();
    assert!(matches!(err, InferError::Input { .. }), "{err}");
    assert!(err.to_string().contains("784"), "{err}");
    let mut short = vec![0.0; 10];
    let err = network.forward_into(&vec![0.0; 784], &mut short).unwrap_err();
    assert!(err.to_string().contains("5408"), "{err}");
    assert!(network.forward(&[]).unwrap().is_empty(), "no images, no outputs");

    let bad_bias = LayerSpec::Conv {
        weight: &w,
        bias: &b[..31],
        c_out: 32,
        k: 3,
        pool: true,
    };
    let err = Network::new(28, 1, &[ok, bad_bias]).unwrap_err();
    assert!(matches!(err, InferError::Layer { index: 1, .. }), "{err}");
    let huge_kernel = LayerSpec::Conv {
        weight: &w,
        bias: &b,
        c_out: 32,
        k: 3,
        pool: false,
    };
    assert!(Network::new(2, 1, &[huge_kernel]).is_err());
    let fc = vec![0.0f32; 10];
    let dense = LayerSpec::Dense {
        weight: &fc,
        bias: &fc[..1],
        d_out: 1,
        relu: false,
    };
    // 784 inputs, 10 weights: refused, naming the sizes.
    let err = Network::new(28, 1, &[dense]).unwrap_err();
    assert!(err.to_string().contains("[784, 1]"), "{err}");
    // A 10×10 image through a valid dense layer, then a convolution: refused, at layer 1.
    let w100 = vec![0.0f32; 100];
    let dense_ok = LayerSpec::Dense {
        weight: &w100,
        bias: &fc[..1],
        d_out: 1,
        relu: false,
    };
    let err = Network::new(10, 1, &[dense_ok, ok]).unwrap_err();
    assert!(matches!(err, InferError::Layer { index: 1, .. }), "{err}");
    assert!(err.to_string().contains("a convolution after a dense layer"), "{err}");
    assert!(Network::new(28, 1, &[]).is_err());
}
