//! Training the character model with either engine, min-char-rnn style: chunks of
//! `seq_length` characters walked through the text in order, the hidden state carried from one
//! chunk to the next (reset at the start of each pass), Adagrad, gradients clipped to ±clip.
//!
//! Every `eval_every` steps (and at the end): the validation loss in nats per character (in
//! f64 on the CPU from the current weights, whatever the engine), a text sample, a metrics
//! row, and the model saved (atomically) — a run stopped early keeps its last model.
//!
//! Run folders: `<out_dir>/run-NNN/` with `config.toml`, `model/` (`model.bpk` +
//! `model.json`), `metrics.csv`, `metrics.json`, `loss.svg` and `report.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdaGradConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use gradlab::ResolvedBackend;
use gradlab::report::{Line, plot_lines, write_json, write_run_report};
use serde::{Deserialize, Serialize};

use crate::config::{Engine, MAX_HIDDEN, RnnConfig};
use crate::data::{Corpus, Vocab};
use crate::manual::{self, Params};
use crate::model::CharRnn;
use crate::sample::sample;

/// Tag in `model.json`.
pub const FORMAT: &str = "gradlab-rnn/1";

/// One evaluation point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Training steps done.
    pub step: usize,
    /// Training characters consumed (all streams).
    pub chars: usize,
    /// min-char-rnn's smoothed chunk loss (0.999 · old + 0.001 · new), per chunk.
    pub smooth_loss: f64,
    /// The same per character.
    pub smooth_loss_per_char: f64,
    /// Validation loss, nats per character.
    pub valid_loss_per_char: f64,
    /// Seconds since the start of training.
    pub seconds: f64,
    /// Training characters per second so far.
    pub chars_per_second: f64,
}

/// What `model.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    hidden: usize,
    vocab: Vec<char>,
}

/// A loaded model: weights and the characters they index.
#[derive(Debug, Clone)]
pub struct CharModel {
    /// The weights (f64).
    pub params: Params,
    /// The characters.
    pub vocab: Vocab,
}

/// Save weights and vocabulary into the folder `dir` (`model.bpk`, then `model.json`).
pub fn save_model(dir: &Path, params: &Params, vocab: &Vocab) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let device = gradlab::backend::host_device();
    gradlab::checkpoint::save_module(
        CharRnn::from_params(params, &device, DType::F32),
        &dir.join("model.bpk"),
    )?;
    let m = Manifest {
        format: FORMAT.into(),
        hidden: params.hidden,
        vocab: vocab.chars().to_vec(),
    };
    write_json(&dir.join("model.json"), &m)
}

/// Load a model saved by [`save_model`] (`path`: the folder or a file in it).
pub fn load_model(path: &Path) -> Result<CharModel> {
    let (dir, m): (PathBuf, Manifest) = gradlab::checkpoint::read_model_manifest(path, "an rnn model", FORMAT)?;
    let jp = dir.join("model.json");
    let vocab = Vocab::from_chars(m.vocab).with_context(|| jp.display().to_string())?;
    // The file decides how much memory the model takes: bound it as the config bounds `hidden`.
    gradlab::config::check_range("hidden", m.hidden, 1, MAX_HIDDEN)
        .with_context(|| format!("{}: not a model gradlab can load", jp.display()))?;
    let device = gradlab::backend::host_device();
    let cell =
        gradlab::checkpoint::load_module(CharRnn::zeros(m.hidden, vocab.len(), &device), &dir.join("model.bpk"))?;
    Ok(CharModel {
        params: cell.to_params(),
        vocab,
    })
}

/// What a finished run produced.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The model folder.
    pub model_dir: PathBuf,
    /// Every evaluation point.
    pub history: Vec<Checkpoint>,
    /// The trained weights.
    pub params: Params,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The state an engine carries between steps (one per run, so the size difference between the
/// variants does not matter).
#[allow(clippy::large_enum_variant)]
enum State {
    Manual {
        params: Params,
        mem: Params,
        h: Vec<f64>,
    },
    Burn {
        model: CharRnn,
        optim: ModuleOptimizer,
        h: Tensor<2>,
        device: Device,
    },
}

impl State {
    fn params(&self) -> Params {
        match self {
            State::Manual { params, .. } => params.clone(),
            State::Burn { model, .. } => model.to_params(),
        }
    }

    fn reset_hidden(&mut self) {
        match self {
            State::Manual { h, .. } => h.iter_mut().for_each(|x| *x = 0.0),
            State::Burn { h, device, .. } => *h = Tensor::zeros(h.dims(), &*device),
        }
    }
}

/// Train as `cfg` says. `verbose` prints progress lines and samples; `on_point` sees every
/// evaluation point (tests use it).
pub fn train(cfg: &RnnConfig, backend: &ResolvedBackend, corpus: &Corpus, verbose: bool) -> Result<TrainOutcome> {
    let started = Instant::now();
    let run_dir = gradlab::runs::new_run_dir(&cfg.out_dir)?;
    gradlab::config::save_resolved(cfg, &run_dir)?;
    let model_dir = run_dir.join("model");
    let v = corpus.vocab.len();
    let (t_len, b) = (cfg.seq_length, cfg.batch_size);
    // Each stream walks its own contiguous segment of the training text.
    let seg = corpus.train.len() / b;
    if seg < t_len + 1 {
        bail!(
            "the training text ({} characters) is too short for {b} stream(s) of {}-character chunks; lower `seq_length` or `batch_size`",
            corpus.train.len(),
            t_len
        );
    }
    let steps_per_epoch = (seg - 1) / t_len;
    let total_steps = steps_per_epoch * cfg.epochs;
    let init = Params::random(cfg.hidden, v, cfg.init_scale, cfg.seed);
    let mut state = match cfg.engine {
        Engine::Manual => State::Manual {
            mem: Params::zeros(cfg.hidden, v),
            h: vec![0.0; cfg.hidden],
            params: init,
        },
        Engine::Burn => {
            let device = backend.device.clone().autodiff();
            State::Burn {
                model: CharRnn::from_params(&init, &device, DType::F32),
                optim: AdaGradConfig::new()
                    .with_epsilon(1e-8)
                    .with_grad_clipping(Some(GradientClippingConfig::Value(cfg.clip as f32)))
                    .init(),
                h: Tensor::zeros([b, cfg.hidden], &device),
                device,
            }
        }
    };
    if verbose {
        println!("data: {}", corpus.description);
        println!(
            "engine {:?}: hidden {}, {} parameters, chunks of {t_len}, {b} stream(s), Adagrad lr {}, clip ±{}",
            cfg.engine,
            cfg.hidden,
            state.params().len(),
            cfg.learning_rate,
            cfg.clip
        );
        println!(
            "{} epochs × {steps_per_epoch} steps = {total_steps} steps; untrained loss per chunk ≈ {t_len}·ln {v} = {:.2}",
            cfg.epochs,
            t_len as f64 * (v as f64).ln()
        );
        println!("run folder: {}", run_dir.display());
    }
    let mut smooth = t_len as f64 * (v as f64).ln();
    let mut history = Vec::new();
    let bar = gradlab::progress::bar(total_steps as u64, "training".into(), verbose);
    let t0 = Instant::now();
    for step in 1..=total_steps {
        let k = (step - 1) % steps_per_epoch;
        if k == 0 {
            state.reset_hidden();
        }
        let loss = match &mut state {
            State::Manual { params, mem, h } => {
                let at = k * t_len;
                let inputs = &corpus.train[at..at + t_len];
                let targets = &corpus.train[at + 1..at + t_len + 1];
                let (loss, mut g, h_last) = manual::loss_and_grads(params, inputs, targets, h);
                manual::clip(&mut g, cfg.clip);
                manual::adagrad(params, &g, mem, cfg.learning_rate);
                *h = h_last;
                loss
            }
            State::Burn {
                model,
                optim,
                h,
                device,
            } => {
                let (inputs, targets) = chunk_tensors(&corpus.train, seg, k * t_len, t_len, b, device);
                let (loss, h_last) = model.forward_chunk(inputs, targets, h.clone());
                let loss_value = loss.clone().into_scalar::<f64>();
                let grads = GradientsParams::from_grads(loss.backward(), &*model);
                *model = optim.step(cfg.learning_rate, model.clone(), grads);
                *h = h_last.detach();
                loss_value
            }
        };
        // `loss` sums the chunk's t_len characters.
        gradlab::guard::check_loss(
            &format!("step {step}"),
            loss / t_len as f64,
            (corpus.vocab.len() as f64).ln(),
            cfg.learning_rate,
        )?;
        smooth = 0.999 * smooth + 0.001 * loss;
        bar.inc(1);
        if step % 100 == 0 && !bar.is_hidden() {
            bar.set_message(format!("smooth loss {smooth:.2} ({:.3}/char)", smooth / t_len as f64));
        }
        if step % cfg.eval_every == 0 || step == total_steps {
            let params = state.params();
            let seconds = t0.elapsed().as_secs_f64();
            let chars = step * t_len * b;
            let point = Checkpoint {
                step,
                chars,
                smooth_loss: smooth,
                smooth_loss_per_char: smooth / t_len as f64,
                valid_loss_per_char: manual::loss_per_char(&params, &corpus.valid),
                seconds,
                chars_per_second: chars as f64 / seconds,
            };
            save_model(&model_dir, &params, &corpus.vocab)?;
            if verbose {
                let text = sample(
                    &params,
                    &corpus.vocab,
                    "",
                    cfg.sample_len,
                    1.0,
                    cfg.seed.wrapping_add(step as u64),
                )?;
                bar.suspend(|| {
                    println!(
                        "step {step}/{total_steps} (epoch {:.2})  smooth loss {:.2} ({:.3}/char)  valid {:.3} nats/char  {:.0} chars/s\n----\n{}\n----",
                        step as f64 / steps_per_epoch as f64,
                        point.smooth_loss,
                        point.smooth_loss_per_char,
                        point.valid_loss_per_char,
                        point.chars_per_second,
                        text.trim_end()
                    )
                });
            }
            history.push(point);
            write_history(&run_dir, &history)?;
        }
    }
    bar.finish_and_clear();
    let params = state.params();
    let seconds = started.elapsed().as_secs_f64();
    if cfg.limit > 0 {
        gradlab::runs::mark_toy(
            &model_dir,
            &format!("trained with --limit {}: {}", cfg.limit, corpus.description),
        )?;
    }
    write_run_report(
        &run_dir,
        "rnn",
        env!("CARGO_PKG_VERSION"),
        match cfg.engine {
            Engine::Manual => serde_json::json!("manual engine: f64 on the CPU"),
            Engine::Burn => backend.to_json(),
        },
        serde_json::json!({
            "data": corpus.description,
            "parameters": params.len(),
            "config": cfg,
            "history": history,
            "seconds": seconds,
        }),
    )?;
    Ok(TrainOutcome {
        run_dir,
        model_dir,
        history,
        params,
        seconds,
    })
}

/// Inputs and targets of chunk `offset..offset+t` of every stream (stream `s` starts at
/// `s·seg`).
///
/// # Shapes
/// - returns: (`[B, T]`, `[B, T]`)
fn chunk_tensors(
    ids: &[usize],
    seg: usize,
    offset: usize,
    t: usize,
    b: usize,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let mut x = Vec::with_capacity(b * t);
    let mut y = Vec::with_capacity(b * t);
    for s in 0..b {
        let at = s * seg + offset;
        x.extend(ids[at..at + t].iter().map(|&i| i as i64));
        y.extend(ids[at + 1..at + t + 1].iter().map(|&i| i as i64));
    }
    (
        Tensor::from_data(TensorData::new(x, [b, t]), device),
        Tensor::from_data(TensorData::new(y, [b, t]), device),
    )
}

/// Write `metrics.csv`, `metrics.json` and `loss.svg`.
fn write_history(dir: &Path, history: &[Checkpoint]) -> Result<()> {
    let mut csv =
        String::from("step,chars,smooth_loss,smooth_loss_per_char,valid_loss_per_char,seconds,chars_per_second\n");
    for p in history {
        csv.push_str(&format!(
            "{},{},{:.4},{:.5},{:.5},{:.2},{:.0}\n",
            p.step,
            p.chars,
            p.smooth_loss,
            p.smooth_loss_per_char,
            p.valid_loss_per_char,
            p.seconds,
            p.chars_per_second
        ));
    }
    gradlab::io::atomic_write(&dir.join("metrics.csv"), csv.as_bytes())?;
    write_json(&dir.join("metrics.json"), &history)?;
    let lines = [
        Line::markers(
            "training (smoothed)",
            history
                .iter()
                .map(|p| (p.chars as f64, p.smooth_loss_per_char))
                .collect(),
        ),
        Line::markers(
            "validation",
            history
                .iter()
                .map(|p| (p.chars as f64, p.valid_loss_per_char))
                .collect(),
        ),
    ];
    plot_lines(
        &dir.join("loss.svg"),
        "rnn: loss per character",
        "training characters",
        "nats per character",
        &lines,
        false,
    )
}
