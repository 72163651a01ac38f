//! The same Elman cell on burn tensors, differentiated by burn's autodiff, batched over `B`
//! independent streams of text.
//!
//! ```text
//! h_t = tanh(x_t·Wxhᵀ + h_{t-1}·Whhᵀ + bh)     [B, H]   (x_t one-hot: a row gather of Wxhᵀ)
//! y_t = h_t·Whyᵀ + by                          [B, V]
//! L   = Σ_t mean_b −ln softmax(y_t)[target]     (per stream, the same scale as `manual`)
//! ```
//!
//! Weights are stored exactly as in `manual::Params` (`wxh [H, V]`, `whh [H, H]`, `why [V, H]`),
//! so a model converts both ways without reshuffling, and the saved file is the same whichever
//! engine trained it.
//!
//! [`SeedStep`] is the seed's own single step of the cell (`rnn forward`), column vectors as the
//! seed writes them: `h = tanh(Wxh·x + Whh·h_prev)`, `y = Why·h`, without biases.

use burn::module::{Module, Param};
use burn::tensor::Gradients;
use burn::tensor::activation::{log_softmax, tanh};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::manual::{Params, normal};

/// The Elman cell.
#[derive(Module, Debug)]
pub struct CharRnn {
    wxh: Param<Tensor<2>>,
    whh: Param<Tensor<2>>,
    why: Param<Tensor<2>>,
    bh: Param<Tensor<1>>,
    by: Param<Tensor<1>>,
}

fn tensor<const D: usize>(values: &[f64], shape: [usize; D], device: &Device, dtype: DType) -> Tensor<D> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), shape).convert_dtype(dtype),
        (device, dtype),
    )
}

fn read<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

impl CharRnn {
    /// The cell holding `p`'s weights, as `dtype` on `device`.
    pub fn from_params(p: &Params, device: &Device, dtype: DType) -> Self {
        let (h, v) = (p.hidden, p.vocab);
        CharRnn {
            wxh: Param::from_tensor(tensor(&p.wxh, [h, v], device, dtype)),
            whh: Param::from_tensor(tensor(&p.whh, [h, h], device, dtype)),
            why: Param::from_tensor(tensor(&p.why, [v, h], device, dtype)),
            bh: Param::from_tensor(tensor(&p.bh, [h], device, dtype)),
            by: Param::from_tensor(tensor(&p.by, [v], device, dtype)),
        }
    }

    /// An all-zero cell of the given size (the shape to load saved weights into).
    pub fn zeros(hidden: usize, vocab: usize, device: &Device) -> Self {
        Self::from_params(&Params::zeros(hidden, vocab), device, DType::F32)
    }

    /// Size of the hidden state.
    pub fn hidden(&self) -> usize {
        self.whh.val().dims()[0]
    }

    /// The weights, read back as `f64`.
    pub fn to_params(&self) -> Params {
        let [h, v] = self.wxh.val().dims();
        Params {
            hidden: h,
            vocab: v,
            wxh: read(self.wxh.val()),
            whh: read(self.whh.val()),
            why: read(self.why.val()),
            bh: read(self.bh.val()),
            by: read(self.by.val()),
        }
    }

    /// The gradients of this cell's weights in `grads`, as `Params`.
    pub fn grads_to_params(&self, grads: &Gradients) -> Params {
        let [h, v] = self.wxh.val().dims();
        // Every weight takes part in the loss, so every gradient exists.
        let g2 = |p: &Param<Tensor<2>>| read(p.val().grad(grads).expect("weight takes part in the loss"));
        let g1 = |p: &Param<Tensor<1>>| read(p.val().grad(grads).expect("bias takes part in the loss"));
        Params {
            hidden: h,
            vocab: v,
            wxh: g2(&self.wxh),
            whh: g2(&self.whh),
            why: g2(&self.why),
            bh: g1(&self.bh),
            by: g1(&self.by),
        }
    }

    // ANCHOR: hidden_states
    /// Hidden states for every step.
    ///
    /// # Shapes
    /// - `inputs`: `[B, T]` character ids
    /// - `h0`: `[B, H]`
    /// - returns: `[B, T, H]`
    pub fn hidden_states(&self, inputs: Tensor<2, Int>, h0: Tensor<2>) -> Tensor<3> {
        let [b, t] = inputs.dims();
        let hn = self.whh.val().dims()[0];
        // One gather for every step: row x of Wxhᵀ is Wxh·onehot(x).
        let xw = self
            .wxh
            .val()
            .transpose()
            .select(0, inputs.reshape([b * t]))
            .reshape([b, t, hn]); // [B, T, H]
        let whh_t = self.whh.val().transpose(); // [H, H]
        let bh = self.bh.val().unsqueeze::<2>(); // [1, H]
        let mut h = h0;
        let mut hs = Vec::with_capacity(t);
        for step in 0..t {
            let x = xw.clone().slice([0..b, step..step + 1, 0..hn]).reshape([b, hn]); // [B, H]
            h = tanh(x + h.matmul(whh_t.clone()) + bh.clone()); // [B, H]
            hs.push(h.clone());
        }
        Tensor::stack(hs, 1)
    }
    // ANCHOR_END: hidden_states

    /// Logits from hidden states.
    ///
    /// # Shapes
    /// - `hs`: `[B, T, H]`
    /// - returns: `[B, T, V]`
    pub fn logits(&self, hs: Tensor<3>) -> Tensor<3> {
        let [b, t, hn] = hs.dims();
        let v = self.by.val().dims()[0];
        let y = hs.reshape([b * t, hn]).matmul(self.why.val().transpose()) + self.by.val().unsqueeze::<2>();
        y.reshape([b, t, v])
    }

    /// The chunk loss (summed over steps, averaged over streams) and the last hidden state.
    ///
    /// # Shapes
    /// - `inputs`, `targets`: `[B, T]`
    /// - `h0`: `[B, H]`
    /// - returns: (`[1]`, `[B, H]`)
    pub fn forward_chunk(
        &self,
        inputs: Tensor<2, Int>,
        targets: Tensor<2, Int>,
        h0: Tensor<2>,
    ) -> (Tensor<1>, Tensor<2>) {
        let [b, t] = inputs.dims();
        let hs = self.hidden_states(inputs, h0); // [B, T, H]
        let hn = hs.dims()[2];
        let h_last = hs.clone().slice([0..b, t - 1..t, 0..hn]).reshape([b, hn]);
        let y = self.logits(hs); // [B, T, V]
        let v = y.dims()[2];
        let logp = log_softmax(y.reshape([b * t, v]), 1); // [B·T, V]
        let picked = logp.gather(1, targets.reshape([b * t, 1])); // [B·T, 1]
        let loss = picked.sum().neg().div_scalar(b as f64);
        (loss, h_last)
    }
}

/// The seed's forward step: input 2, hidden 3, output 2, weights ~ N(0, 0.01²), the input
/// ~ N(0, 1), the previous state zero.
#[derive(Debug, Clone)]
pub struct SeedStep {
    /// `[3, 2]`: input → hidden.
    pub wxh: Tensor<2>,
    /// `[3, 3]`: hidden → hidden.
    pub whh: Tensor<2>,
    /// `[2, 3]`: hidden → output.
    pub why: Tensor<2>,
    /// `[2, 1]`: the input.
    pub x: Tensor<2>,
    /// `[3, 1]`: the new hidden state.
    pub h: Tensor<2>,
    /// `[2, 1]`: the output.
    pub y: Tensor<2>,
}

impl SeedStep {
    /// Draw the weights and the input from `seed` (`Wxh`, `Whh`, `Why`, then `x`) and take the
    /// step on `device`.
    pub fn new(seed: u64, device: &Device) -> Self {
        let (input, hidden, output) = (2, 3, 2);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut draw = |rows: usize, cols: usize, sd: f64| -> Tensor<2> {
            let v: Vec<f32> = (0..rows * cols).map(|_| (sd * normal(&mut rng)) as f32).collect();
            Tensor::from_data(TensorData::new(v, [rows, cols]), device)
        };
        let wxh = draw(hidden, input, 0.01); // [3, 2]
        let whh = draw(hidden, hidden, 0.01); // [3, 3]
        let why = draw(output, hidden, 0.01); // [2, 3]
        let x = draw(input, 1, 1.0); // [2, 1]
        let h_prev: Tensor<2> = Tensor::zeros([hidden, 1], device); // [3, 1]
        let h = tanh(wxh.clone().matmul(x.clone()) + whh.clone().matmul(h_prev)); // [3, 1]
        let y = why.clone().matmul(h.clone()); // [2, 1]
        SeedStep { wxh, whh, why, x, h, y }
    }

    /// Print every tensor with its shape, and the two equations.
    pub fn print(&self) {
        let show = |name: &str, t: &Tensor<2>| {
            let [r, c] = t.dims();
            let v: Vec<f32> = t.clone().into_data().iter::<f32>().collect();
            println!("{name} [{r}×{c}] = {v:.6?}");
        };
        show("Wxh", &self.wxh);
        show("Whh", &self.whh);
        show("Why", &self.why);
        show("x", &self.x);
        println!("h = tanh(Wxh·x + Whh·h_prev), h_prev = 0");
        show("h", &self.h);
        println!("y = Why·h");
        show("y", &self.y);
    }
}
