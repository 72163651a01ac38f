//! The seed CNN, layer for layer as the Keras seed defines it:
//!
//! ```text
//! Conv2D(32, 3×3, relu) → MaxPool(2×2) → Conv2D(64, 3×3, relu) → MaxPool(2×2)
//! → Conv2D(64, 3×3, relu) → Flatten (576) → Dense(64, relu) → Dense(10)
//! ```
//!
//! Weights start as Keras's do (Glorot-uniform kernels, zero biases). The softmax lives in the
//! loss (`CrossEntropyLoss` on logits), as with Keras's `from_logits=True`.
//!
//! Fast path (`fast_path = true`; issue 7): `pool(relu(conv1))`, `pool(relu(conv2))` and
//! `relu(conv3)` each run as one [`fastconv`] op — a burn backend-extension op whose flex kernels
//! are im2col + packed GEMMs with ReLU and max-pool fused in and a hand-written
//! backward (crates/fastconv). It is the same function with the same parameters (tests compare
//! outputs and every gradient with the stock layers). On wgpu/vulkan the op runs fastconv's
//! CubeCL kernels; on backends without the op (remote) the stock layers run.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Height and width of an input image.
pub const IMAGE_SIDE: usize = 28;
/// Number of classes.
pub const NUM_CLASSES: usize = 10;

// ANCHOR: cnn
/// The seed CNN.
#[derive(Module, Debug)]
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    /// Run the convolutions as `fastconv::conv_relu` (same function, see the module docs).
    #[module(skip)]
    fast: bool,
}
// ANCHOR_END: cnn

const GLOROT: Initializer = Initializer::XavierUniform { gain: 1.0 };

fn conv(input: usize, output: usize, device: &Device) -> Conv2d {
    let mut c = Conv2dConfig::new([input, output], [3, 3])
        .with_initializer(GLOROT)
        .init(device);
    c.bias = Some(Param::from_tensor(Tensor::zeros([output], device)));
    c
}

fn dense(input: usize, output: usize, device: &Device) -> Linear {
    let mut l = LinearConfig::new(input, output).with_initializer(GLOROT).init(device);
    l.bias = Some(Param::from_tensor(Tensor::zeros([output], device)));
    l
}

impl Cnn {
    /// A freshly initialised model on `device` (seed the device first for reproducibility).
    pub fn new(device: &Device) -> Self {
        Cnn {
            conv1: conv(1, 32, device),
            conv2: conv(32, 64, device),
            conv3: conv(64, 64, device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: dense(576, 64, device),
            fc2: dense(64, NUM_CLASSES, device),
            fast: false,
        }
    }

    /// The same model with the fast path on or off (the parameters are untouched).
    pub fn with_fast_path(mut self, on: bool) -> Self {
        self.fast = on;
        self
    }

    /// Whether the fast path is on.
    pub fn fast_path(&self) -> bool {
        self.fast
    }

    /// Which code computes the convolution blocks on `device`, in words (printed by a training
    /// run and recorded in its report as `conv_path`).
    pub fn conv_path(&self, device: &Device, backend: gradlab::BackendName) -> String {
        if !self.fast {
            "burn's stock layers (fast_path is off)".into()
        } else if fastconv::is_fast(device) {
            "fastconv's fused conv+ReLU(+pool) kernels (fast_path, flex)".into()
        } else if fastconv::is_cube(device) {
            format!("fastconv's fused conv+ReLU(+pool) CubeCL kernels (fast_path, {backend})")
        } else if fastconv::is_supported(device) {
            format!("burn's stock operations behind fastconv's interface (fast_path; {backend} has no fast kernels)")
        } else {
            format!("burn's stock layers (fast_path is on, but {backend} has no fastconv op)")
        }
    }

    /// Whether `x`'s convolutions go through `fastconv` (fast path on, backend has the op).
    fn fused(&self, x: &Tensor<4>) -> bool {
        self.fast && fastconv::is_supported(&x.device())
    }

    /// `relu(conv(x))`, through the fast op when it is on and the backend has it.
    fn conv_relu(&self, conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
        match &conv.bias {
            Some(bias) if self.fused(&x) => fastconv::conv_relu(x, conv.weight.val(), bias.val()),
            _ => relu(conv.forward(x)),
        }
    }

    /// `pool(relu(conv(x)))`, as one fast op when it is on and the backend has it; traces the
    /// convolution's and the pool's output shapes under `names`.
    fn conv_relu_pool(
        &self,
        conv: &Conv2d,
        x: Tensor<4>,
        names: [&'static str; 2],
        trace: &mut impl FnMut(&'static str, &[usize]),
    ) -> Tensor<4> {
        let [n, _, h, w] = x.dims();
        let [o, _, k, _] = conv.weight.dims();
        match &conv.bias {
            Some(bias) if self.fused(&x) => {
                let y = fastconv::conv_relu_pool(x, conv.weight.val(), bias.val());
                trace(names[0], &[n, o, h - k + 1, w - k + 1]);
                trace(names[1], &y.dims());
                y
            }
            _ => {
                let y = relu(conv.forward(x));
                trace(names[0], &y.dims());
                let y = self.pool.forward(y);
                trace(names[1], &y.dims());
                y
            }
        }
    }

    // ANCHOR: forward
    /// Class logits for a batch of images.
    ///
    /// # Shapes
    /// - `images`: `[batch, 1, 28, 28]`, pixels scaled to 0..1
    /// - returns: `[batch, 10]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_traced(images, |_, _| {})
    }
    // ANCHOR_END: forward

    /// The first layer's feature maps, `relu(conv2d_1(images))`, before the pool: what each of
    /// its 32 3×3 filters responds to (burn's stock convolution: the same function the fast
    /// path computes fused with the pool).
    ///
    /// # Shapes
    /// - `images`: `[batch, 1, 28, 28]`, pixels scaled to 0..1
    /// - returns: `[batch, 32, 26, 26]`
    pub fn first_layer(&self, images: Tensor<4>) -> Tensor<4> {
        relu(self.conv1.forward(images))
    }

    /// [`forward`](Self::forward), calling `trace(layer, output shape)` after every layer (used
    /// by the model summary).
    pub fn forward_traced(&self, images: Tensor<4>, mut trace: impl FnMut(&'static str, &[usize])) -> Tensor<2> {
        // conv: [batch, 32, 26, 26], pool: [batch, 32, 13, 13]
        let x = self.conv_relu_pool(&self.conv1, images, ["conv2d_1 (relu)", "max_pool_1"], &mut trace);
        // conv: [batch, 64, 11, 11], pool: [batch, 64, 5, 5]
        let x = self.conv_relu_pool(&self.conv2, x, ["conv2d_2 (relu)", "max_pool_2"], &mut trace);
        let x = self.conv_relu(&self.conv3, x); // [batch, 64, 3, 3]
        trace("conv2d_3 (relu)", &x.dims());
        let x: Tensor<2> = x.flatten(1, 3); // [batch, 576]
        trace("flatten", &x.dims());
        let x = relu(self.fc1.forward(x)); // [batch, 64]
        trace("dense_1 (relu)", &x.dims());
        let x = self.fc2.forward(x); // [batch, 10]
        trace("dense_2", &x.dims());
        x
    }

    /// The model packed for fastconv's inference path ([`fastconv::infer`]): the same function
    /// as [`forward`](Self::forward), on host `f32` slices, its weights laid out once for its
    /// GEMMs. Weights are read back from the model's device.
    pub fn packed(&self) -> anyhow::Result<fastconv::infer::Network> {
        use fastconv::infer::{LayerSpec, Network};
        fn host<const D: usize>(t: Tensor<D>) -> anyhow::Result<Vec<f32>> {
            t.into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("reading the model's weights: {e:?}"))
        }
        let conv = |c: &Conv2d| -> anyhow::Result<(Vec<f32>, Vec<f32>, usize, usize)> {
            let [o, _, k, _] = c.weight.dims();
            let bias = match &c.bias {
                Some(b) => host(b.val())?,
                None => vec![0.0; o],
            };
            Ok((host(c.weight.val())?, bias, o, k))
        };
        let dense = |l: &Linear| -> anyhow::Result<(Vec<f32>, Vec<f32>, usize)> {
            let [_, o] = l.weight.dims();
            let bias = match &l.bias {
                Some(b) => host(b.val())?,
                None => vec![0.0; o],
            };
            Ok((host(l.weight.val())?, bias, o))
        };
        let (c1, c2, c3) = (conv(&self.conv1)?, conv(&self.conv2)?, conv(&self.conv3)?);
        let (f1, f2) = (dense(&self.fc1)?, dense(&self.fc2)?);
        fn spec(c: &(Vec<f32>, Vec<f32>, usize, usize), pool: bool) -> LayerSpec<'_> {
            LayerSpec::Conv {
                weight: &c.0,
                bias: &c.1,
                c_out: c.2,
                k: c.3,
                pool,
            }
        }
        let layers = [
            spec(&c1, true),
            spec(&c2, true),
            spec(&c3, false),
            LayerSpec::Dense {
                weight: &f1.0,
                bias: &f1.1,
                d_out: f1.2,
                relu: true,
            },
            LayerSpec::Dense {
                weight: &f2.0,
                bias: &f2.1,
                d_out: f2.2,
                relu: false,
            },
        ];
        Network::new(IMAGE_SIDE, 1, &layers).map_err(|e| anyhow::anyhow!("packing the seed CNN: {e}"))
    }

    /// A Keras-style summary: each layer's output shape and parameter count, and the total.
    pub fn summary(&self, device: &Device) -> String {
        let params = [
            self.conv1.num_params(),
            0,
            self.conv2.num_params(),
            0,
            self.conv3.num_params(),
            0,
            self.fc1.num_params(),
            self.fc2.num_params(),
        ];
        let mut rows = Vec::new();
        let probe = Tensor::<4>::zeros([1, 1, IMAGE_SIDE, IMAGE_SIDE], &device.clone().without_autodiff());
        self.valid().forward_traced(probe, |name, dims| {
            let shape = dims[1..].iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
            rows.push((name, format!("(None, {shape})")));
        });
        let mut s = format!(
            "{:<20}{:<24}{:>10}\n{}\n",
            "Layer",
            "Output shape",
            "Param #",
            "=".repeat(54)
        );
        for ((name, shape), p) in rows.iter().zip(params) {
            s.push_str(&format!("{name:<20}{shape:<24}{p:>10}\n"));
        }
        s.push_str(&format!("{}\nTotal params: {}\n", "=".repeat(54), self.num_params()));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// `first_layer` is `relu(b_c + Σ w_c·patch)` at every position, computed here by hand
    /// from the layer's weights; its 2×2 max-pool is what `forward` feeds the second layer
    /// (the fast path's fused kernel on flex, burn's stock layers elsewhere).
    #[test]
    fn first_layer_is_conv1_with_relu_by_hand() {
        // flex: the backend with the fused kernel.
        let device = gradlab::backend::host_device();
        // The bias is zero at init: it gets values below, so that ReLU cuts some and keeps others.
        let mut model = crate::model::Cnn::new(&device).with_fast_path(true);
        let b: Vec<f32> = (0..32).map(|c| (c as f32 - 16.0) * 0.02).collect();
        model.conv1.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(b.clone(), [32]),
            &device,
        )));
        let px: Vec<f32> = (0..784).map(|i| ((i * 37 % 101) as f32) / 100.0).collect();
        let images = Tensor::<4>::from_data(TensorData::new(px.clone(), [1, 1, 28, 28]), &device);
        let maps: Vec<f32> = model.first_layer(images.clone()).into_data().iter::<f32>().collect();
        assert_eq!(maps.len(), 32 * 26 * 26);
        let w: Vec<f32> = model.conv1.weight.val().into_data().iter::<f32>().collect(); // [32,1,3,3]
        let mut worst = 0f32;
        for c in 0..32 {
            for y in 0..26 {
                for x in 0..26 {
                    let mut s = b[c];
                    for ky in 0..3 {
                        for kx in 0..3 {
                            s += w[c * 9 + ky * 3 + kx] * px[(y + ky) * 28 + x + kx];
                        }
                    }
                    worst = worst.max((s.max(0.0) - maps[(c * 26 + y) * 26 + x]).abs());
                }
            }
        }
        assert!(worst < 1e-5, "largest difference {worst}");
        assert!(maps.contains(&0.0) && maps.iter().any(|&v| v > 0.0));
        // The fused fast path's first block = max-pool of these maps.
        let pooled = model.pool.forward(model.first_layer(images.clone()));
        let fused = fastconv::conv_relu_pool(
            images,
            model.conv1.weight.val(),
            model.conv1.bias.as_ref().unwrap().val(),
        );
        let diff = (fused - pooled).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "fused block vs pool(first_layer): {diff}");
    }
}
