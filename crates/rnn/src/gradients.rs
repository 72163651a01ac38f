//! Vanishing and exploding gradients through time: ‖∂L/∂h_t‖ for every step t of a long
//! sequence, where L is the loss at the last step only, for several scales of `Whh`.
//!
//! By the chain rule (see `manual`), `∂L/∂h_{t-1} = Whhᵀ · ((1 − h_t²) ⊙ ∂L/∂h_t)`: each step
//! back multiplies by `Whhᵀ` and by tanh′ ≤ 1. With `Whh = s·G/√H` (G standard normal, so the
//! spectral radius is about `s`) the norm shrinks roughly like `s^k` over k steps while the
//! states stay small — vanishing for `s < 1`, growing for `s > 1` until tanh saturates and its
//! derivative takes over.

// Index loops mirror the equations (row i of a matrix, entry i of a vector).
#![allow(clippy::needless_range_loop)]

use crate::manual::{Params, forward, normal};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// `‖∂L_T/∂h_t‖` for t = 1..T (index t−1), through a cell with `Whh` scaled as described.
pub fn hidden_gradient_norms(base: &Params, scale: f64, ids: &[usize], seed: u64) -> Vec<f64> {
    let hn = base.hidden;
    let mut p = base.clone();
    let mut rng = StdRng::seed_from_u64(seed);
    let sd = scale / (hn as f64).sqrt();
    for w in p.whh.iter_mut() {
        *w = sd * normal(&mut rng);
    }
    let inputs = &ids[..ids.len() - 1];
    let targets = &ids[1..];
    let tr = forward(&p, inputs, targets, &vec![0.0; hn]);
    let t_len = inputs.len();
    // ∂L_T/∂h_T = Whyᵀ·(p_T − onehot)
    let mut dy = tr.ps[t_len - 1].clone();
    dy[targets[t_len - 1]] -= 1.0;
    let mut dh = vec![0.0; hn];
    for (k, d) in dy.iter().enumerate() {
        for i in 0..hn {
            dh[i] += d * p.why[k * hn + i];
        }
    }
    let mut norms = vec![0.0; t_len];
    for t in (0..t_len).rev() {
        norms[t] = dh.iter().map(|x| x * x).sum::<f64>().sqrt();
        // back one step: da = (1 − h_t²) ⊙ dh;  dh_{t-1} = Whhᵀ·da
        let h = &tr.hs[t + 1];
        let da: Vec<f64> = (0..hn).map(|i| (1.0 - h[i] * h[i]) * dh[i]).collect();
        let mut prev = vec![0.0; hn];
        for i in 0..hn {
            for j in 0..hn {
                prev[j] += p.whh[i * hn + j] * da[i];
            }
        }
        dh = prev;
    }
    norms
}
