//! Vanishing and exploding gradients through time: ‖∂L/∂h_t‖ for every step t of a long
//! sequence, where L is the loss at the last step only, for several scales of `Whh`.
//!
//! By the chain rule (see `manual`), `∂L/∂h_{t-1} = Whhᵀ · ((1 − h_t²) ⊙ ∂L/∂h_t)`: each step
//! back multiplies by `Whhᵀ` and by tanh′ ≤ 1. With `Whh = s·G/√H` (G standard normal, so the
//! spectral radius is about `s`) the norm shrinks roughly like `s^k` over k steps while the
//! states stay small — vanishing for `s < 1`, growing for `s > 1` until tanh saturates and its
//! derivative takes over.
//!
//! [`report`] is `rnn gradients`: the norms for several scales as a table, a CSV file and a
//! plot.

// Index loops mirror the equations (row i of a matrix, entry i of a vector).
#![allow(clippy::needless_range_loop)]

use std::path::Path;

use anyhow::{Result, ensure};
use gradlab::report::{Line, plot_lines};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::config::RnnConfig;
use crate::manual::{Params, forward, normal};

/// Longest sequence [`report`] follows back through time.
pub const MAX_GRADIENT_STEPS: usize = 100_000;
/// Most `Whh` scales [`report`] compares.
pub const MAX_SCALES: usize = 20;

/// The steps back the printed table shows (those within the sequence); the CSV file and the
/// plot hold every step.
const TABLE_STEPS_BACK: [usize; 10] = [0, 1, 2, 5, 10, 20, 50, 99, 199, 499];

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

/// `rnn gradients`: ‖∂L/∂h_t‖ through the first `steps` characters of the validation text, L
/// the loss at the last of them, for each scale of `Whh` in `scales`; prints a table of some
/// steps back and writes every step to `gradients.csv` and `gradients.svg` in a new run folder
/// `<out_dir>/gradients/run-NNN/`.
pub fn report(cfg: &RnnConfig, steps: usize, scales: &[f64]) -> Result<()> {
    check_request(steps, scales)?;
    let corpus = crate::data::load_from(&crate::data::find(&cfg.data_file), cfg.valid_fraction, cfg.limit)?;
    ensure!(
        corpus.valid.len() > steps,
        "--steps {steps} is longer than the validation text ({} characters)",
        corpus.valid.len()
    );
    let ids = &corpus.valid[..steps + 1];
    // Wxh and Why ~ N(0, 0.1²): inputs that move the state, outputs that give a real loss.
    let base = Params::random(cfg.hidden, corpus.vocab.len(), 0.1, cfg.seed);
    println!(
        "L = loss at the last of {steps} steps; hidden {}; Whh = s·G/√H, G ~ N(0,1); text: {:?}…",
        cfg.hidden,
        corpus.vocab.decode(&ids[..ids.len().min(40)])
    );
    // For each scale, the norms by steps back: entry k is ‖∂L/∂h_(T−k)‖.
    let back: Vec<Vec<f64>> = scales
        .iter()
        .map(|&s| {
            let mut norms = hidden_gradient_norms(&base, s, ids, cfg.seed);
            norms.reverse();
            norms
        })
        .collect();
    print_table(scales, &back);
    // A run folder of its own, so an earlier table and plot are never overwritten.
    let dir = gradlab::runs::new_run_dir(&cfg.out_dir.join("gradients"))?;
    let csv = dir.join("gradients.csv");
    gradlab::io::atomic_write(&csv, to_csv(scales, &back).as_bytes())?;
    let svg = dir.join("gradients.svg");
    plot(&svg, scales, &back)?;
    println!("table: {}\nplot:  {}", csv.display(), svg.display());
    Ok(())
}

/// `--steps` and `--scales` in their ranges.
fn check_request(steps: usize, scales: &[f64]) -> Result<()> {
    ensure!(
        (2..=MAX_GRADIENT_STEPS).contains(&steps),
        "--steps {steps} is out of range (allowed 2 ..= {MAX_GRADIENT_STEPS})"
    );
    ensure!(
        (1..=MAX_SCALES).contains(&scales.len()) && scales.iter().all(|s| s.is_finite() && *s >= 0.0),
        "--scales must be 1 to {MAX_SCALES} non-negative numbers"
    );
    Ok(())
}

/// The table: a row for each of [`TABLE_STEPS_BACK`] within the sequence, a column per scale.
/// `back[i][k]`: the norm k steps back for scale i.
fn print_table(scales: &[f64], back: &[Vec<f64>]) {
    let steps = back[0].len();
    print!("{:>14}", "steps back k");
    for s in scales {
        print!("{:>14}", format!("s = {s}"));
    }
    println!();
    for k in TABLE_STEPS_BACK.into_iter().filter(|&k| k < steps) {
        print!("{k:>14}");
        for norms in back {
            print!("{:>14.3e}", norms[k]);
        }
        println!();
    }
}

/// `gradients.csv`: `steps_back,scale_<s>,…`, a row for every step back.
fn to_csv(scales: &[f64], back: &[Vec<f64>]) -> String {
    let mut csv = String::from("steps_back");
    for s in scales {
        csv.push_str(&format!(",scale_{s}"));
    }
    csv.push('\n');
    for k in 0..back[0].len() {
        csv.push_str(&k.to_string());
        for norms in back {
            csv.push_str(&format!(",{:.6e}", norms[k]));
        }
        csv.push('\n');
    }
    csv
}

/// `gradients.svg`: a line per scale, the norm (log scale) against the steps back.
fn plot(svg: &Path, scales: &[f64], back: &[Vec<f64>]) -> Result<()> {
    let lines: Vec<Line> = scales
        .iter()
        .zip(back)
        .map(|(s, norms)| {
            Line::new(
                format!("Whh scale {s}"),
                norms
                    .iter()
                    .enumerate()
                    .map(|(k, n)| (k as f64, n.max(1e-300)))
                    .collect(),
            )
        })
        .collect();
    plot_lines(
        svg,
        "‖∂L/∂h_(T−k)‖ through time",
        "steps back k",
        "gradient norm (log)",
        &lines,
        true,
    )
}
