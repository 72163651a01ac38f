//! XOR by hand: the seed's single-layer network and a 3→4→1 sigmoid network, each operation
//! written next to its derivative, in plain `f64`.
//!
//! Notation (one row per example, as the seed): `X` is `[4, 3]` (two inputs and a constant 1
//! that plays the bias), `y` is `[4]`. The loss is `L = ½ Σᵢ (ŷᵢ − yᵢ)²`, whose gradient step
//! with learning rate 1 is exactly the seed's update `W += Xᵀ · ((y − ŷ) ⊙ σ′)`.

// Index loops on purpose: i, j, k are the example, hidden-unit and input indices of the
// formulas in the comments, and reading them off the code is the point of this module.
#![allow(clippy::needless_range_loop)]

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::HIDDEN;
// The data, the training loop and the XOR criterion live in their own modules; they are also
// named here, where the hand-written engine's callers (the bench, the tests) look for them.
use crate::data::{X, Y};
pub use crate::inference::solves_xor;
pub use crate::training::train_by_hand as train;

/// σ(z) = 1 / (1 + e^(−z)).
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// σ′(z) written with the output s = σ(z): σ′ = s (1 − s).
pub fn sigmoid_prime_from_output(s: f64) -> f64 {
    s * (1.0 - s)
}

/// Uniform weights in [−1, 1), from `seed`.
fn uniform(rng: &mut StdRng) -> f64 {
    rng.random_range(-1.0..1.0)
}

/// The seed's single-layer network: ŷ = σ(X · w), w ∈ ℝ³.
pub fn single_layer_init(seed: u64) -> [f64; 3] {
    let mut rng = StdRng::seed_from_u64(seed);
    [uniform(&mut rng), uniform(&mut rng), uniform(&mut rng)]
}

/// The single layer's outputs for the four inputs.
pub fn single_layer_outputs(w: &[f64; 3]) -> [f64; 4] {
    X.map(|x| sigmoid(x[0] * w[0] + x[1] * w[1] + x[2] * w[2]))
}

// ANCHOR: single_layer_step
/// One update of the seed's rule, exactly: `l1 = σ(X·w)`, `delta = (y − l1) ⊙ l1(1 − l1)`,
/// `w += Xᵀ · delta`.
pub fn single_layer_step(mut w: [f64; 3]) -> [f64; 3] {
    let l1 = single_layer_outputs(&w);
    for k in 0..3 {
        w[k] += (0..4)
            .map(|i| X[i][k] * (Y[i] - l1[i]) * sigmoid_prime_from_output(l1[i]))
            .sum::<f64>();
    }
    w
}
// ANCHOR_END: single_layer_step

/// The two-layer network: h = σ(X · W1), ŷ = σ(h · w2).
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// `[3, HIDDEN]`: input (with the constant 1) to hidden.
    pub w1: [[f64; HIDDEN]; 3],
    /// `[HIDDEN]`: hidden to output.
    pub w2: [f64; HIDDEN],
}

/// ∂L/∂W1 and ∂L/∂w2.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    /// ∂L/∂W1, `[3, HIDDEN]`.
    pub w1: [[f64; HIDDEN]; 3],
    /// ∂L/∂w2, `[HIDDEN]`.
    pub w2: [f64; HIDDEN],
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Hidden activations, `[4, HIDDEN]`.
    pub h: [[f64; HIDDEN]; 4],
    /// Outputs ŷ, `[4]`.
    pub out: [f64; 4],
}

impl Mlp {
    /// Uniform weights in [−1, 1) from `seed`.
    pub fn init(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut m = Mlp {
            w1: [[0.0; HIDDEN]; 3],
            w2: [0.0; HIDDEN],
        };
        m.w1.iter_mut().flatten().for_each(|w| *w = uniform(&mut rng));
        m.w2.iter_mut().for_each(|w| *w = uniform(&mut rng));
        m
    }

    // ANCHOR: forward
    /// Forward pass.
    pub fn forward(&self) -> Forward {
        let mut h = [[0.0; HIDDEN]; 4];
        let mut out = [0.0; 4];
        for i in 0..4 {
            for j in 0..HIDDEN {
                let z1 = (0..3).map(|k| X[i][k] * self.w1[k][j]).sum::<f64>(); // z1 = X · W1
                h[i][j] = sigmoid(z1); // h = σ(z1)
            }
            let z2 = (0..HIDDEN).map(|j| h[i][j] * self.w2[j]).sum::<f64>(); // z2 = h · w2
            out[i] = sigmoid(z2); // ŷ = σ(z2)
        }
        Forward { h, out }
    }
    // ANCHOR_END: forward

    /// L = ½ Σᵢ (ŷᵢ − yᵢ)².
    pub fn loss(&self) -> f64 {
        loss(&self.forward().out)
    }

    // ANCHOR: gradients
    /// Backpropagation, each line the derivative of the forward line it undoes.
    pub fn gradients(&self) -> Gradients {
        let Forward { h, out } = self.forward();
        let mut g = Gradients {
            w1: [[0.0; HIDDEN]; 3],
            w2: [0.0; HIDDEN],
        };
        for i in 0..4 {
            let d_out = out[i] - Y[i]; // ∂L/∂ŷ = ŷ − y
            let d_z2 = d_out * sigmoid_prime_from_output(out[i]); // ∂L/∂z2 = ∂L/∂ŷ · σ′(z2)
            for j in 0..HIDDEN {
                g.w2[j] += h[i][j] * d_z2; // ∂L/∂w2 = hᵀ · ∂L/∂z2
                let d_h = d_z2 * self.w2[j]; // ∂L/∂h = ∂L/∂z2 · w2ᵀ
                let d_z1 = d_h * sigmoid_prime_from_output(h[i][j]); // ∂L/∂z1 = ∂L/∂h ⊙ σ′(z1)
                for k in 0..3 {
                    g.w1[k][j] += X[i][k] * d_z1; // ∂L/∂W1 = Xᵀ · ∂L/∂z1
                }
            }
        }
        g
    }
    // ANCHOR_END: gradients

    /// One gradient-descent step: W ← W − lr · ∂L/∂W.
    pub fn step(&mut self, lr: f64) {
        let g = self.gradients();
        self.w1
            .iter_mut()
            .flatten()
            .zip(g.w1.iter().flatten())
            .for_each(|(w, g)| *w -= lr * g);
        self.w2.iter_mut().zip(g.w2).for_each(|(w, g)| *w -= lr * g);
    }

    /// All weights in one list (W1 row-major, then w2).
    pub fn flat(&self) -> Vec<f64> {
        self.w1.iter().flatten().chain(self.w2.iter()).copied().collect()
    }

    /// The inverse of [`flat`](Self::flat).
    pub fn from_flat(v: &[f64]) -> Self {
        let mut m = Mlp {
            w1: [[0.0; HIDDEN]; 3],
            w2: [0.0; HIDDEN],
        };
        m.w1.iter_mut()
            .flatten()
            .chain(m.w2.iter_mut())
            .zip(v)
            .for_each(|(w, x)| *w = *x);
        m
    }
}

impl Gradients {
    /// All entries in [`Mlp::flat`] order.
    pub fn flat(&self) -> Vec<f64> {
        self.w1.iter().flatten().chain(self.w2.iter()).copied().collect()
    }
}

/// L = ½ Σᵢ (ŷᵢ − yᵢ)².
pub fn loss(out: &[f64; 4]) -> f64 {
    out.iter().zip(Y).map(|(o, y)| 0.5 * (o - y).powi(2)).sum()
}

/// The finite-difference step used by the checks (see the tests for why this size).
pub const FD_STEP: f64 = 1e-4;

// ANCHOR: finite_difference
/// Central finite differences of the loss: (L(w + h) − L(w − h)) / 2h for every weight.
pub fn finite_difference(m: &Mlp, h: f64) -> Vec<f64> {
    let base = m.flat();
    (0..base.len())
        .map(|p| {
            let mut plus = base.clone();
            let mut minus = base.clone();
            plus[p] += h;
            minus[p] -= h;
            (Mlp::from_flat(&plus).loss() - Mlp::from_flat(&minus).loss()) / (2.0 * h)
        })
        .collect()
}
// ANCHOR_END: finite_difference

/// Largest |a − b| over two weight or gradient lists.
pub fn max_abs_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Largest relative error |a − b| / max(|a|, |b|, floor) over two gradient lists.
pub fn max_relative_error(a: &[f64], b: &[f64], floor: f64) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(floor))
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_gradients_equal_central_differences_in_f64() {
        // Random weights at several scales. Step h = FD_STEP: the central difference's
        // truncation error is O(h²) ≈ 1e-8 relative, while its rounding error grows as ε·L/h;
        // on these nets h = 1e-6 left 1.6e-5 (rounding) and h = 1e-4 about 5e-8.
        for seed in 0..20 {
            let mut m = Mlp::init(seed);
            let scale = 1.0 + seed as f64 / 4.0;
            m.w1.iter_mut()
                .flatten()
                .chain(m.w2.iter_mut())
                .for_each(|w| *w *= scale);
            let hand = m.gradients().flat();
            let fd = finite_difference(&m, FD_STEP);
            let err = max_relative_error(&hand, &fd, 1e-8);
            assert!(err <= 1e-5, "seed {seed}: relative error {err:e}");
        }
    }

    #[test]
    fn sigmoid_and_its_derivative() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert!((sigmoid_prime_from_output(sigmoid(0.0)) - 0.25).abs() < 1e-15);
        let h = 1e-5;
        for z in [-3.0, -0.5, 0.7, 4.0] {
            let fd = (sigmoid(z + h) - sigmoid(z - h)) / (2.0 * h);
            assert!((sigmoid_prime_from_output(sigmoid(z)) - fd).abs() < 1e-9);
        }
    }

    #[test]
    fn two_layers_learn_xor_by_hand() {
        let (m, curve) = train(Mlp::init(1), 1.0, 10_000, 100);
        let out = m.forward().out;
        assert!(solves_xor(&out), "{out:?}");
        assert!(curve.last().unwrap().1 < curve[0].1 / 10.0);
    }
}
