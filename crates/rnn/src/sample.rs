//! Text generation from a trained cell: feed the prime, then draw each next character from
//! `softmax(y / temperature)`. Runs in f64 on the CPU from the model's weights (one character
//! at a time is a poor fit for a GPU), so a seed gives the same text on every backend.

use anyhow::{Result, bail, ensure};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::data::Vocab;
use crate::manual::{Params, softmax};

/// Most characters `rnn sample` generates in one call.
pub const MAX_SAMPLE_LEN: usize = 1_000_000;

/// `rnn sample --len`'s range check (0 ..= [`MAX_SAMPLE_LEN`]), made before a model is loaded.
pub fn check_len(len: usize) -> Result<()> {
    ensure!(
        len <= MAX_SAMPLE_LEN,
        "--len {len} is out of range (allowed 0 ..= {MAX_SAMPLE_LEN} characters)"
    );
    Ok(())
}

/// Generate `len` characters after `prime` (which may be empty: then the first character is
/// drawn from the model's output for a zero state and the vocabulary's first character).
pub fn sample(p: &Params, vocab: &Vocab, prime: &str, len: usize, temperature: f64, seed: u64) -> Result<String> {
    if !(temperature > 0.0 && temperature.is_finite()) {
        bail!("temperature must be a positive number, got {temperature}");
    }
    if p.vocab != vocab.len() {
        bail!(
            "model has {} outputs but the vocabulary {} characters",
            p.vocab,
            vocab.len()
        );
    }
    let prime_ids = vocab
        .encode(prime)
        .map_err(|e| anyhow::anyhow!("the prime {prime:?}: {e}"))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut h = vec![0.0; p.hidden];
    let mut h_new = vec![0.0; p.hidden];
    let mut y = vec![0.0; p.vocab];
    let mut x = 0;
    for &id in &prime_ids {
        p.step(id, &h, &mut h_new);
        std::mem::swap(&mut h, &mut h_new);
        x = id;
    }
    if prime_ids.is_empty() {
        p.step(x, &h, &mut h_new);
        std::mem::swap(&mut h, &mut h_new);
    }
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        p.logits(&h, &mut y);
        y.iter_mut().for_each(|v| *v /= temperature);
        softmax(&mut y);
        let r: f64 = rng.random_range(0.0..1.0);
        let mut acc = 0.0;
        x = y.len() - 1;
        for (k, pk) in y.iter().enumerate() {
            acc += pk;
            if r < acc {
                x = k;
                break;
            }
        }
        out.push(x);
        p.step(x, &h, &mut h_new);
        std::mem::swap(&mut h, &mut h_new);
    }
    Ok(format!("{prime}{}", vocab.decode(&out)))
}
