//! The Elman cell with backpropagation through time derived by hand, in `f64`, step by step
//! as in Karpathy's min-char-rnn (same names: `Wxh`, `Whh`, `Why`, `bh`, `by`).
//!
//! Forward, for t = 1..T, with `x_t` a one-hot character and `h_0` carried from the last chunk:
//!
//! ```text
//! a_t = Wxh·x_t + Whh·h_{t-1} + bh        (pre-activation)          [H]
//! h_t = tanh(a_t)                                                    [H]
//! y_t = Why·h_t + by                      (logits)                  [V]
//! p_t = softmax(y_t)                                                 [V]
//! L   = Σ_t −ln p_t[target_t]             (summed, not averaged: ≈ T·ln V untrained)
//! ```
//!
//! Backward, t = T..1, with `dh_next` = ∂L/∂h_t through the future (0 after the last step):
//!
//! ```text
//! dy_t   = p_t − onehot(target_t)          ∂L/∂y_t (softmax + cross-entropy)
//! dWhy  += dy_t ⊗ h_t,  dby += dy_t
//! dh_t   = Whyᵀ·dy_t + dh_next             ∂L/∂h_t: now and through the future
//! da_t   = (1 − h_t²) ⊙ dh_t               tanh′(a) = 1 − tanh(a)²
//! dbh   += da_t,  dWxh[:, x_t] += da_t,  dWhh += da_t ⊗ h_{t-1}
//! dh_next = Whhᵀ·da_t                      ∂L/∂h_{t-1} through step t
//! ```
//!
//! Matrices are row-major `Vec<f64>`: `wxh` is `[H, V]`, `whh` `[H, H]`, `why` `[V, H]`.

// Index loops mirror the equations (row i of a matrix, entry i of a vector).
#![allow(clippy::needless_range_loop)]

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// The weights of the cell (or their gradients, same shapes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Hidden size `H`.
    pub hidden: usize,
    /// Vocabulary size `V`.
    pub vocab: usize,
    /// `[H, V]`: input → hidden.
    pub wxh: Vec<f64>,
    /// `[H, H]`: hidden → hidden.
    pub whh: Vec<f64>,
    /// `[V, H]`: hidden → output.
    pub why: Vec<f64>,
    /// `[H]`.
    pub bh: Vec<f64>,
    /// `[V]`.
    pub by: Vec<f64>,
}

/// A standard normal draw (Box–Muller).
pub fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl Params {
    /// All zeros (the shape of a gradient or an Adagrad memory).
    pub fn zeros(hidden: usize, vocab: usize) -> Self {
        Params {
            hidden,
            vocab,
            wxh: vec![0.0; hidden * vocab],
            whh: vec![0.0; hidden * hidden],
            why: vec![0.0; vocab * hidden],
            bh: vec![0.0; hidden],
            by: vec![0.0; vocab],
        }
    }

    /// min-char-rnn's start: weights ~ N(0, scale²) (scale 0.01 there), biases 0.
    pub fn random(hidden: usize, vocab: usize, scale: f64, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut p = Self::zeros(hidden, vocab);
        for w in p.wxh.iter_mut().chain(p.whh.iter_mut()).chain(p.why.iter_mut()) {
            *w = scale * normal(&mut rng);
        }
        p
    }

    /// The five arrays, in a fixed order (wxh, whh, why, bh, by).
    pub fn arrays(&self) -> [&Vec<f64>; 5] {
        [&self.wxh, &self.whh, &self.why, &self.bh, &self.by]
    }

    /// The five arrays, mutable, same order.
    pub fn arrays_mut(&mut self) -> [&mut Vec<f64>; 5] {
        [&mut self.wxh, &mut self.whh, &mut self.why, &mut self.bh, &mut self.by]
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.arrays().iter().map(|a| a.len()).sum()
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ANCHOR: step
    /// One step of the cell: `h ← tanh(Wxh[:, x] + Whh·h + bh)`.
    pub fn step(&self, x: usize, h_prev: &[f64], h: &mut [f64]) {
        let (hn, v) = (self.hidden, self.vocab);
        for i in 0..hn {
            let a = self.wxh[i * v + x] + dot(&self.whh[i * hn..(i + 1) * hn], h_prev) + self.bh[i];
            h[i] = a.tanh();
        }
    }
    // ANCHOR_END: step

    /// Logits `y = Why·h + by`.
    pub fn logits(&self, h: &[f64], y: &mut [f64]) {
        let hn = self.hidden;
        for (k, yk) in y.iter_mut().enumerate() {
            *yk = dot(&self.why[k * hn..(k + 1) * hn], h) + self.by[k];
        }
    }
}

/// A dot product with four independent accumulators (so it vectorises without fast-math).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `out += s · x`.
fn axpy(out: &mut [f64], s: f64, x: &[f64]) {
    for (o, xi) in out.iter_mut().zip(x) {
        *o += s * xi;
    }
}

/// Softmax of `y` in place (shifted by the maximum for stability).
pub fn softmax(y: &mut [f64]) {
    let m = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for v in y.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    for v in y.iter_mut() {
        *v /= s;
    }
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug, Clone)]
pub struct Trace {
    /// `h_0 … h_T`, each `[H]` (`hs[0]` is the carried state).
    pub hs: Vec<Vec<f64>>,
    /// `p_1 … p_T`, each `[V]`.
    pub ps: Vec<Vec<f64>>,
    /// `L`, summed over the steps.
    pub loss: f64,
}

/// Forward over a chunk: `inputs[t]` predicts `targets[t]`.
pub fn forward(p: &Params, inputs: &[usize], targets: &[usize], h0: &[f64]) -> Trace {
    let mut hs = Vec::with_capacity(inputs.len() + 1);
    hs.push(h0.to_vec());
    let mut ps = Vec::with_capacity(inputs.len());
    let mut loss = 0.0;
    for (&x, &target) in inputs.iter().zip(targets) {
        let mut h = vec![0.0; p.hidden];
        p.step(x, hs.last().expect("h_0 is there"), &mut h);
        let mut y = vec![0.0; p.vocab];
        p.logits(&h, &mut y);
        softmax(&mut y);
        loss -= y[target].ln();
        hs.push(h);
        ps.push(y);
    }
    Trace { hs, ps, loss }
}

// ANCHOR: loss_and_grads
/// The loss of a chunk and its gradient with respect to every parameter (not clipped), plus
/// the last hidden state (to carry into the next chunk).
pub fn loss_and_grads(p: &Params, inputs: &[usize], targets: &[usize], h0: &[f64]) -> (f64, Params, Vec<f64>) {
    let (hn, v) = (p.hidden, p.vocab);
    let tr = forward(p, inputs, targets, h0);
    let mut g = Params::zeros(hn, v);
    let mut dh_next = vec![0.0; hn];
    let mut dh = vec![0.0; hn];
    let mut da = vec![0.0; hn];
    for t in (0..inputs.len()).rev() {
        let h = &tr.hs[t + 1];
        let h_prev = &tr.hs[t];
        // dy = p − onehot(target)
        let mut dy = tr.ps[t].clone();
        dy[targets[t]] -= 1.0;
        // dWhy += dy ⊗ h; dby += dy; dh = Whyᵀ·dy + dh_next
        dh.copy_from_slice(&dh_next);
        for k in 0..v {
            axpy(&mut g.why[k * hn..(k + 1) * hn], dy[k], h);
            g.by[k] += dy[k];
            axpy(&mut dh, dy[k], &p.why[k * hn..(k + 1) * hn]);
        }
        // da = (1 − h²) ⊙ dh
        for i in 0..hn {
            da[i] = (1.0 - h[i] * h[i]) * dh[i];
        }
        // dbh += da; dWxh[:, x] += da; dWhh += da ⊗ h_prev; dh_next = Whhᵀ·da
        dh_next.iter_mut().for_each(|d| *d = 0.0);
        let x = inputs[t];
        for i in 0..hn {
            g.bh[i] += da[i];
            g.wxh[i * v + x] += da[i];
            axpy(&mut g.whh[i * hn..(i + 1) * hn], da[i], h_prev);
            axpy(&mut dh_next, da[i], &p.whh[i * hn..(i + 1) * hn]);
        }
    }
    let h_last = tr.hs.last().expect("h_T is there").clone();
    (tr.loss, g, h_last)
}
// ANCHOR_END: loss_and_grads

/// Clip every gradient entry to `[-limit, limit]` (min-char-rnn's `np.clip(d, -5, 5)`).
pub fn clip(g: &mut Params, limit: f64) {
    for a in g.arrays_mut() {
        for x in a.iter_mut() {
            *x = x.clamp(-limit, limit);
        }
    }
}

/// Adagrad: `mem += g²; p −= lr · g / √(mem + 1e-8)`.
pub fn adagrad(p: &mut Params, g: &Params, mem: &mut Params, lr: f64) {
    let ps = p.arrays_mut();
    let gs = g.arrays();
    let ms = mem.arrays_mut();
    for ((pa, ga), ma) in ps.into_iter().zip(gs).zip(ms) {
        for ((w, d), m) in pa.iter_mut().zip(ga.iter()).zip(ma.iter_mut()) {
            *m += d * d;
            *w -= lr * d / (*m + 1e-8).sqrt();
        }
    }
}

/// Mean loss per character over `ids` (each character predicts the next), carrying the hidden
/// state from a zero start: the validation figure, in nats per character.
pub fn loss_per_char(p: &Params, ids: &[usize]) -> f64 {
    if ids.len() < 2 {
        return f64::NAN;
    }
    let mut h = vec![0.0; p.hidden];
    let mut h_new = vec![0.0; p.hidden];
    let mut y = vec![0.0; p.vocab];
    let mut total = 0.0;
    for w in ids.windows(2) {
        p.step(w[0], &h, &mut h_new);
        std::mem::swap(&mut h, &mut h_new);
        p.logits(&h, &mut y);
        softmax(&mut y);
        total -= y[w[1]].max(f64::MIN_POSITIVE).ln();
    }
    total / (ids.len() - 1) as f64
}

/// Central finite difference of the chunk loss with respect to parameter `index` of array
/// `array` (0 wxh, 1 whh, 2 why, 3 bh, 4 by).
pub fn finite_difference(
    p: &Params,
    array: usize,
    index: usize,
    inputs: &[usize],
    targets: &[usize],
    h0: &[f64],
    eps: f64,
) -> f64 {
    let mut q = p.clone();
    let orig = q.arrays()[array][index];
    q.arrays_mut()[array][index] = orig + eps;
    let plus = forward(&q, inputs, targets, h0).loss;
    q.arrays_mut()[array][index] = orig - eps;
    let minus = forward(&q, inputs, targets, h0).loss;
    (plus - minus) / (2.0 * eps)
}
