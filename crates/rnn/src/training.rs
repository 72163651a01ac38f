//! Training the character model with either engine, min-char-rnn style: chunks of
//! `seq_length` characters walked through the text in order, the hidden state carried from one
//! chunk to the next (reset at the start of each pass), Adagrad, gradients clipped to ±clip.
//!
//! Every `eval_every` steps (and at the end): the validation loss in nats per character (in
//! f64 on the CPU from the current weights, whatever the engine), a text sample, a metrics
//! row, and the model saved (atomically) — a run stopped early keeps its last model.
//!
//! Run folders: `<out_dir>/run-NNN/` with `config.toml`, `model/` (`model.bpk` +
//! `model.json`, see [`crate::inference`]), `metrics.csv`, `metrics.json`, `loss.svg` and
//! `report.json`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdaGradConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use gradlab::ResolvedBackend;
use gradlab::progress::ProgressBar;
use gradlab::report::{Line, plot_lines, write_json, write_run_report};
use serde::{Deserialize, Serialize};

use crate::config::{Engine, RnnConfig};
use crate::data::{Corpus, Vocab};
use crate::inference::save_model;
use crate::manual::{self, Params};
use crate::model::CharRnn;
use crate::sample::sample;

/// One evaluation point: a row of `metrics.csv` and `metrics.json` (and of `report.json`'s
/// `history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
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

/// What a finished run produced.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The model folder.
    pub model_dir: PathBuf,
    /// Every evaluation point.
    pub history: Vec<EvalPoint>,
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

/// The burn engine's optimizer: min-char-rnn's Adagrad (ε 1e-8), every gradient entry clipped
/// to ±`clip` before the step (the manual engine's [`manual::adagrad`] with the same clip).
pub fn optimizer(clip: f64) -> ModuleOptimizer {
    AdaGradConfig::new()
        .with_epsilon(1e-8)
        .with_grad_clipping(Some(GradientClippingConfig::Value(clip as f32)))
        .init()
}

impl State {
    /// The engine `cfg` names, starting from the weights `init`, a zero hidden state and a
    /// fresh Adagrad.
    fn new(cfg: &RnnConfig, backend: &ResolvedBackend, init: Params) -> Self {
        match cfg.engine {
            Engine::Manual => State::Manual {
                mem: Params::zeros(init.hidden, init.vocab),
                h: vec![0.0; init.hidden],
                params: init,
            },
            Engine::Burn => {
                let device = backend.device.clone().autodiff();
                State::Burn {
                    model: CharRnn::from_params(&init, &device, DType::F32),
                    optim: optimizer(cfg.clip),
                    h: Tensor::zeros([cfg.batch_size, init.hidden], &device),
                    device,
                }
            }
        }
    }

    fn reset_hidden(&mut self) {
        match self {
            State::Manual { h, .. } => h.iter_mut().for_each(|x| *x = 0.0),
            State::Burn { h, device, .. } => *h = Tensor::zeros(h.dims(), &*device),
        }
    }

    /// One Adagrad step on chunk `k` of every stream; returns the chunk loss (summed over its
    /// characters, averaged over the streams) — on the burn engine still on the device, for the
    /// loop to read a batch of them at once.
    fn step(&mut self, run: &Run, k: usize) -> ChunkLoss {
        let cfg = run.cfg;
        let (train, t_len) = (&run.corpus.train, cfg.seq_length);
        match self {
            State::Manual { params, mem, h } => {
                let at = k * t_len;
                let inputs = &train[at..at + t_len];
                let targets = &train[at + 1..at + t_len + 1];
                let (loss, mut g, h_last) = manual::loss_and_grads(params, inputs, targets, h);
                manual::clip(&mut g, cfg.clip);
                manual::adagrad(params, &g, mem, cfg.learning_rate);
                *h = h_last;
                ChunkLoss::Host(loss)
            }
            State::Burn {
                model,
                optim,
                h,
                device,
            } => {
                let (inputs, targets) = chunk_tensors(train, run.seg, k * t_len, t_len, cfg.batch_size, device);
                let (loss, h_last) = model.forward_chunk(inputs, targets, h.clone());
                let grads = GradientsParams::from_grads(loss.backward(), &*model);
                *model = optim.step(cfg.learning_rate, model.clone(), grads);
                *h = h_last.detach();
                ChunkLoss::Device(loss.inner())
            }
        }
    }

    /// The weights in f64, the form validation and sampling use: the manual engine's own, the
    /// burn engine's read back from its device.
    fn params(&self) -> Cow<'_, Params> {
        match self {
            State::Manual { params, .. } => Cow::Borrowed(params),
            State::Burn { model, .. } => Cow::Owned(model.to_params()),
        }
    }

    /// Save the model folder: the burn engine's cell as it is, the manual engine's weights as
    /// the same f32 cell on the host, so the files are the same whichever engine trained them.
    fn save(&self, dir: &Path, vocab: &Vocab) -> Result<()> {
        match self {
            State::Manual { params, .. } => save_model(
                dir,
                &CharRnn::from_params(params, &gradlab::backend::host_device(), DType::F32),
                vocab,
            ),
            State::Burn { model, .. } => save_model(dir, model, vocab),
        }
    }

    /// The final weights in f64.
    fn into_params(self) -> Params {
        match self {
            State::Manual { params, .. } => params,
            State::Burn { model, .. } => model.to_params(),
        }
    }
}

/// A step's chunk loss: the manual engine's, or the burn engine's still on its device.
#[allow(clippy::large_enum_variant)] // one per step, moved at once into a Vec; a Box would only add an allocation
enum ChunkLoss {
    Host(f64),
    Device(Tensor<1>),
}

/// How many burn-engine steps pass between reads of their losses. A read waits for the device
/// to finish everything queued, so one per step would stall a GPU every step; the losses stay on
/// the device and are read together (the divergence check and the smoothed loss then see each
/// step's loss, in order, at most this many steps late).
const LOSS_READ_EVERY: usize = 25;

/// The losses of `pending` (step, loss on the device), read in one transfer, in step order.
fn read_losses(pending: &mut Vec<(usize, Tensor<1>)>) -> Vec<(usize, f64)> {
    if pending.is_empty() {
        return Vec::new();
    }
    let (steps, losses): (Vec<usize>, Vec<Tensor<1>>) = pending.drain(..).unzip();
    let values: Vec<f64> = Tensor::cat(losses, 0).into_data().iter::<f64>().collect();
    steps.into_iter().zip(values).collect()
}

/// What a run trains on, how its text is cut into steps, and where it writes.
struct Run<'a> {
    cfg: &'a RnnConfig,
    corpus: &'a Corpus,
    verbose: bool,
    run_dir: PathBuf,
    model_dir: PathBuf,
    /// Training characters per stream: stream `s` walks its own segment, from `s·seg`.
    seg: usize,
    steps_per_epoch: usize,
    total_steps: usize,
}

impl<'a> Run<'a> {
    /// Make the run folder (with the resolved config) and cut the training text into one
    /// contiguous segment per stream, each long enough for a chunk.
    fn start(cfg: &'a RnnConfig, corpus: &'a Corpus, verbose: bool) -> Result<Self> {
        let run_dir = gradlab::runs::new_run_dir(&cfg.out_dir)?;
        gradlab::config::save_resolved(cfg, &run_dir)?;
        let (t_len, b) = (cfg.seq_length, cfg.batch_size);
        let seg = corpus.train.len() / b;
        if seg < t_len + 1 {
            bail!(
                "the training text ({} characters) is too short for {b} stream(s) of {}-character chunks; lower `seq_length` or `batch_size`",
                corpus.train.len(),
                t_len
            );
        }
        let steps_per_epoch = (seg - 1) / t_len;
        Ok(Run {
            cfg,
            corpus,
            verbose,
            model_dir: run_dir.join("model"),
            run_dir,
            seg,
            steps_per_epoch,
            total_steps: steps_per_epoch * cfg.epochs,
        })
    }

    /// The data, the engine's settings, the schedule and the run folder (when verbose).
    fn announce(&self, parameters: usize) {
        if !self.verbose {
            return;
        }
        let (cfg, v) = (self.cfg, self.corpus.vocab.len());
        let (t_len, b) = (cfg.seq_length, cfg.batch_size);
        println!("data: {}", self.corpus.description);
        println!(
            "engine {:?}: hidden {}, {parameters} parameters, chunks of {t_len}, {b} stream(s), Adagrad lr {}, clip ±{}",
            cfg.engine, cfg.hidden, cfg.learning_rate, cfg.clip
        );
        println!(
            "{} epochs × {} steps = {} steps; untrained loss per chunk ≈ {t_len}·ln {v} = {:.2}",
            cfg.epochs,
            self.steps_per_epoch,
            self.total_steps,
            t_len as f64 * (v as f64).ln()
        );
        println!("run folder: {}", self.run_dir.display());
    }

    /// The evaluation point after `step`: the validation loss (in f64 from the weights read
    /// once), the model saved, a sample printed (when verbose), the point added to `history`
    /// and the metrics files rewritten.
    fn evaluate(
        &self,
        state: &State,
        step: usize,
        smooth: f64,
        t0: Instant,
        bar: &ProgressBar,
        history: &mut Vec<EvalPoint>,
    ) -> Result<()> {
        let (cfg, corpus) = (self.cfg, self.corpus);
        let t_len = cfg.seq_length;
        let params = state.params();
        let seconds = t0.elapsed().as_secs_f64();
        let chars = step * t_len * cfg.batch_size;
        let point = EvalPoint {
            step,
            chars,
            smooth_loss: smooth,
            smooth_loss_per_char: smooth / t_len as f64,
            valid_loss_per_char: manual::loss_per_char(&params, &corpus.valid),
            seconds,
            chars_per_second: chars as f64 / seconds,
        };
        state.save(&self.model_dir, &corpus.vocab)?;
        if self.verbose {
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
                    "step {step}/{} (epoch {:.2})  smooth loss {:.2} ({:.3}/char)  valid {:.3} nats/char  {:.0} chars/s\n----\n{}\n----",
                    self.total_steps,
                    step as f64 / self.steps_per_epoch as f64,
                    point.smooth_loss,
                    point.smooth_loss_per_char,
                    point.valid_loss_per_char,
                    point.chars_per_second,
                    text.trim_end()
                )
            });
        }
        history.push(point);
        write_metrics(&self.run_dir, history)
    }

    /// The end of the run: the toy mark (for `--limit` runs) and `report.json`.
    fn finish(&self, backend: &ResolvedBackend, history: &[EvalPoint], params: &Params, seconds: f64) -> Result<()> {
        let cfg = self.cfg;
        if cfg.limit > 0 {
            gradlab::runs::mark_toy(
                &self.model_dir,
                &format!("trained with --limit {}: {}", cfg.limit, self.corpus.description),
            )?;
        }
        write_run_report(
            &self.run_dir,
            "rnn",
            env!("CARGO_PKG_VERSION"),
            match cfg.engine {
                Engine::Manual => serde_json::json!("manual engine: f64 on the CPU"),
                Engine::Burn => backend.to_json(),
            },
            serde_json::json!({
                "data": self.corpus.description,
                "parameters": params.len(),
                "config": cfg,
                "history": history,
                "seconds": seconds,
            }),
        )
    }
}

/// Train as `cfg` says. `verbose` prints progress lines and samples.
pub fn train(cfg: &RnnConfig, backend: &ResolvedBackend, corpus: &Corpus, verbose: bool) -> Result<TrainOutcome> {
    let started = Instant::now();
    let run = Run::start(cfg, corpus, verbose)?;
    let v = corpus.vocab.len();
    let init = Params::random(cfg.hidden, v, cfg.init_scale, cfg.seed);
    let parameters = init.len();
    let mut state = State::new(cfg, backend, init);
    run.announce(parameters);
    let t_len = cfg.seq_length;
    let mut smooth = t_len as f64 * (v as f64).ln();
    let mut history = Vec::new();
    let bar = gradlab::progress::bar(run.total_steps as u64, "training".into(), verbose);
    let t0 = Instant::now();
    // Losses still on the device, and losses read but not yet accounted for.
    let mut pending: Vec<(usize, Tensor<1>)> = Vec::new();
    let mut read: Vec<(usize, f64)> = Vec::new();
    for step in 1..=run.total_steps {
        let k = (step - 1) % run.steps_per_epoch;
        if k == 0 {
            state.reset_hidden();
        }
        match state.step(&run, k) {
            ChunkLoss::Host(loss) => read.push((step, loss)),
            ChunkLoss::Device(loss) => pending.push((step, loss)),
        }
        let evaluating = step % cfg.eval_every == 0 || step == run.total_steps;
        if pending.len() >= LOSS_READ_EVERY || evaluating {
            read.extend(read_losses(&mut pending));
        }
        for (at, loss) in read.drain(..) {
            // `loss` sums the chunk's t_len characters.
            gradlab::guard::check_loss(
                &format!("step {at}"),
                loss / t_len as f64,
                (v as f64).ln(),
                cfg.learning_rate,
            )?;
            smooth = 0.999 * smooth + 0.001 * loss;
        }
        bar.inc(1);
        if step % 100 == 0 && !bar.is_hidden() {
            bar.set_message(format!("smooth loss {smooth:.2} ({:.3}/char)", smooth / t_len as f64));
        }
        if evaluating {
            run.evaluate(&state, step, smooth, t0, &bar, &mut history)?;
        }
    }
    bar.finish_and_clear();
    let params = state.into_params();
    let seconds = started.elapsed().as_secs_f64();
    run.finish(backend, &history, &params, seconds)?;
    Ok(TrainOutcome {
        run_dir: run.run_dir,
        model_dir: run.model_dir,
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

/// Write `metrics.csv`, `metrics.json` and `loss.svg`. gradlab's `report::write_metrics`
/// writes per-epoch rows (`EpochMetrics`: accuracies, items per second), not these per-step
/// columns, so only the CSV lines are formatted here; the JSON, the plot and the atomic writes
/// are gradlab's.
fn write_metrics(dir: &Path, history: &[EvalPoint]) -> Result<()> {
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
