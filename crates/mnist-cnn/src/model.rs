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
//! Fast path (`fast_path = true`; off by default; issue 7): the first convolution is computed as
//! an explicit im2col — two zero-copy `unfold` views of the image, one copy into a
//! `[batch·26·26, 9]` matrix — and one GEMM with the `[9, 32]` kernel matrix. It is the same
//! function with the same parameters (tests compare outputs and every gradient with the stock
//! `Conv2d`). It pays for this layer only: its input is the image, which needs no gradient, so
//! the backward pass is one GEMM for the kernel gradient; for the inner convolutions the
//! backward of `unfold` (the input gradient) costs more than burn-flex's own convolution saves.

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

/// The seed CNN.
#[derive(Module, Debug)]
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    /// Compute `conv1` as im2col + GEMM (same function, see the module docs).
    #[module(skip)]
    fast_conv1: bool,
}

/// A 3×3 (any k×k), stride-1, unpadded convolution as im2col + GEMM.
///
/// # Shapes
/// - `x`: `[n, c, h, w]`, `weight`: `[o, c, k, k]`, `bias`: `[o]`
/// - returns: `[n, o, h − k + 1, w − k + 1]`
pub fn conv2d_im2col(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let [o, _, k, _] = weight.dims();
    let (ho, wo) = (h - k + 1, w - k + 1);
    let cols = x
        .unfold::<5, _>(2, k, 1) // [n, c, ho, w, k]
        .unfold::<6, _>(3, k, 1) // [n, c, ho, wo, k, k]
        .permute([0, 2, 3, 1, 4, 5]) // [n, ho, wo, c, k, k]
        .reshape([n * ho * wo, c * k * k]); // [n·ho·wo, c·k·k]
    let kernel = weight.reshape([o, c * k * k]).transpose(); // [c·k·k, o]
    let mut y = cols.matmul(kernel); // [n·ho·wo, o]
    if let Some(b) = bias {
        y = y + b.unsqueeze::<2>();
    }
    y.reshape([n, ho, wo, o]).permute([0, 3, 1, 2]) // [n, o, ho, wo]
}

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
            fast_conv1: false,
        }
    }

    /// The same model with the fast path on or off (the parameters are untouched).
    pub fn with_fast_path(mut self, on: bool) -> Self {
        self.fast_conv1 = on;
        self
    }

    /// Whether the fast path is on.
    pub fn fast_path(&self) -> bool {
        self.fast_conv1
    }

    /// Class logits for a batch of images.
    ///
    /// # Shapes
    /// - `images`: `[batch, 1, 28, 28]`, pixels scaled to 0..1
    /// - returns: `[batch, 10]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_traced(images, |_, _| {})
    }

    /// [`forward`](Self::forward), calling `trace(layer, output shape)` after every layer (used
    /// by the model summary).
    pub fn forward_traced(&self, images: Tensor<4>, mut trace: impl FnMut(&'static str, &[usize])) -> Tensor<2> {
        let x = if self.fast_conv1 {
            let bias = self.conv1.bias.as_ref().map(|b| b.val());
            relu(conv2d_im2col(images, self.conv1.weight.val(), bias)) // [batch, 32, 26, 26]
        } else {
            relu(self.conv1.forward(images)) // [batch, 32, 26, 26]
        };
        trace("conv2d_1 (relu)", &x.dims());
        let x = self.pool.forward(x); // [batch, 32, 13, 13]
        trace("max_pool_1", &x.dims());
        let x = relu(self.conv2.forward(x)); // [batch, 64, 11, 11]
        trace("conv2d_2 (relu)", &x.dims());
        let x = self.pool.forward(x); // [batch, 64, 5, 5]
        trace("max_pool_2", &x.dims());
        let x = relu(self.conv3.forward(x)); // [batch, 64, 3, 3]
        trace("conv2d_3 (relu)", &x.dims());
        let x: Tensor<2> = x.flatten(1, 3); // [batch, 576]
        trace("flatten", &x.dims());
        let x = relu(self.fc1.forward(x)); // [batch, 64]
        trace("dense_1 (relu)", &x.dims());
        let x = self.fc2.forward(x); // [batch, 10]
        trace("dense_2", &x.dims());
        x
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
