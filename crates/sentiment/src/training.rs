//! Fitting the encoder and training either model: Adam on binary cross-entropy (from logits),
//! batches sliced from contiguous encoded buffers, validation after every epoch.
//!
//! Run folders are `<out_dir>/run-NNN/` (`latest` names the newest), holding `config.toml`,
//! `model/` (see `inference`), `metrics.csv`, `metrics.json`, `curves.svg` and `report.json`.
//!
//! [`train_seed`] is the seed's own run (`sentiment seed`): its five sentences, nothing written.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::nn::loss::BinaryCrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor};
use gradlab::ResolvedBackend;
use gradlab::report::{EpochMetrics, HeldOut, plot_curves, write_metrics, write_run_report};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::config::SentimentConfig;
use crate::data::{SEED_QUERY, SEED_SENTENCES, Splits};
use crate::features::{EncodedSet, Encoder};
use crate::inference::{BinaryMetrics, SplitInfo, evaluate, label, predict_encoded, save_classifier};
use crate::model::{ModelKind, ModelSpec, SentimentModel};
use crate::ngrams::NgramTable;
use crate::tokenizer::Tokenizer;

/// Encoder, architecture and encoded splits.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Fitted on the training sentences only.
    pub encoder: Encoder,
    /// The architecture.
    pub spec: ModelSpec,
    /// Encoded training sentences.
    pub train: EncodedSet,
    /// Encoded validation sentences.
    pub valid: EncodedSet,
    /// Encoded test sentences.
    pub test: EncodedSet,
}

/// Fit the encoder on `texts` (with their labels, for the NB ratios).
pub fn fit_encoder(cfg: &SentimentConfig, texts: &[&str], labels: &[u8]) -> (Encoder, ModelSpec) {
    let (encoder, rows) = match cfg.model {
        ModelKind::Seed => {
            let tokenizer = Tokenizer::fit(texts, Some(cfg.num_words), Some(&cfg.oov_token));
            let rows = tokenizer.embedding_rows();
            let e = Encoder::Sequence {
                tokenizer,
                maxlen: cfg.maxlen,
                padding: cfg.padding,
                truncating: cfg.truncating,
            };
            (e, rows)
        }
        ModelKind::NbBigram => {
            let table = NgramTable::fit(texts, labels, 2, cfg.nb_alpha, cfg.nb_min_count);
            let rows = table.len() + 1;
            (
                Encoder::Ngrams {
                    table,
                    width: cfg.nb_width,
                },
                rows,
            )
        }
    };
    let spec = ModelSpec {
        kind: cfg.model,
        rows,
        embedding_dim: cfg.embedding_dim,
        hidden: cfg.hidden,
        pooling: cfg.pooling,
    };
    (encoder, spec)
}

/// Fit the encoder on the training split and encode all three splits.
pub fn prepare(cfg: &SentimentConfig, splits: &Splits) -> Prepared {
    let texts = |v: &[crate::data::Review]| v.iter().map(|r| r.text.clone()).collect::<Vec<_>>();
    let labels = |v: &[crate::data::Review]| v.iter().map(|r| r.label).collect::<Vec<_>>();
    let train_texts = texts(&splits.train);
    let refs: Vec<&str> = train_texts.iter().map(String::as_str).collect();
    let (encoder, spec) = fit_encoder(cfg, &refs, &labels(&splits.train));
    let enc = |v: &[crate::data::Review]| encoder.encode_set(&texts(v), &labels(v));
    Prepared {
        train: enc(&splits.train),
        valid: enc(&splits.valid),
        test: enc(&splits.test),
        encoder,
        spec,
    }
}

/// The seed's optimizer: Adam (Keras's `epsilon = 1e-7`).
pub fn optimizer() -> ModuleOptimizer {
    AdamConfig::new().with_epsilon(1e-7).init()
}

// ANCHOR: loss
/// The seed's loss: binary cross-entropy of the positive-class `logits` `[n]` against the
/// labels `[n]` (0 or 1), the batch mean; from logits, as a sigmoid output layer and Keras's
/// `binary_crossentropy` compute it, without its rounding.
pub fn loss(logits: Tensor<1>, targets: Tensor<1, Int>) -> Tensor<1> {
    BinaryCrossEntropyLossConfig::new()
        .with_logits(true)
        .init(&logits.device())
        .forward(logits, targets)
}
// ANCHOR_END: loss

/// Settings of the training loop proper.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// Passes over the data.
    pub epochs: usize,
    /// Sentences per step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Weight of `model.penalty()` in the loss.
    pub l2: f64,
    /// Keep the best-validation epoch's weights.
    pub restore_best: bool,
    /// Data-order seed.
    pub seed: u64,
    /// Print per-epoch lines and show a progress bar.
    pub verbose: bool,
}

impl LoopSettings {
    /// The loop a config asks for (`nb_l2` applies to the NB model only).
    pub fn from_config(cfg: &SentimentConfig, verbose: bool) -> Self {
        LoopSettings {
            epochs: cfg.epochs,
            batch_size: cfg.batch_size,
            learning_rate: cfg.learning_rate,
            l2: if cfg.model == ModelKind::NbBigram {
                cfg.nb_l2
            } else {
                0.0
            },
            restore_best: cfg.restore_best,
            seed: cfg.seed,
            verbose,
        }
    }
}

/// Train `model` on `train`, validating on `valid` after each epoch when given. Returns the
/// kept model (best validation accuracy when `restore_best`, else the last) and the history.
pub fn fit(
    mut model: SentimentModel,
    train: &EncodedSet,
    valid: Option<&EncodedSet>,
    s: &LoopSettings,
    device: &Device,
) -> Result<(SentimentModel, Vec<EpochMetrics>)> {
    let mut optim = optimizer();
    let mut history = Vec::new();
    let mut best: Option<(f64, SentimentModel)> = None;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = StdRng::seed_from_u64(s.seed);
    let steps = train.len().div_ceil(s.batch_size) as u64;
    for epoch in 1..=s.epochs {
        order.shuffle(&mut rng);
        let bar = gradlab::progress::bar(steps, format!("epoch {epoch}/{}", s.epochs), s.verbose);
        let t0 = Instant::now();
        let mut loss_sum: Tensor<1> = Tensor::zeros([1], device);
        let mut correct: Tensor<1, Int> = Tensor::zeros([1], device);
        for rows in order.chunks(s.batch_size) {
            let b = train.batch(rows, device);
            let logits = model.forward(b.ids, b.weights);
            let data_loss = loss(logits.clone(), b.targets.clone());
            let hits = logits.detach().greater_elem(0.0).int().equal(b.targets).int().sum();
            loss_sum = loss_sum + data_loss.clone().detach().mul_scalar(rows.len() as f64);
            correct = correct + hits;
            let loss = if s.l2 > 0.0 {
                data_loss + model.penalty(device).mul_scalar(s.l2)
            } else {
                data_loss
            };
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(s.learning_rate, model, grads);
            bar.inc(1);
        }
        let n = train.len().max(1) as f64;
        let train_loss = loss_sum.into_scalar::<f64>() / n;
        let train_accuracy = correct.into_scalar::<i64>() as f64 / n;
        let seconds = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        gradlab::guard::check_loss(&format!("epoch {epoch}"), train_loss, 2f64.ln(), s.learning_rate)?;
        let v = match valid {
            Some(set) => Some(evaluate(&model.valid(), set, device)?),
            None => None,
        };
        let m = EpochMetrics {
            epoch,
            train_loss,
            train_accuracy,
            valid_loss: v.as_ref().map_or(f64::NAN, |v| v.loss),
            valid_accuracy: v.as_ref().map_or(f64::NAN, |v| v.accuracy),
            seconds,
            items_per_second: n / seconds,
        };
        if s.verbose {
            println!("{}", m.line(s.epochs, HeldOut::Validation, "sentences", 2));
        }
        if s.restore_best && v.is_some() && best.as_ref().is_none_or(|(a, _)| m.valid_accuracy > *a) {
            best = Some((m.valid_accuracy, model.clone()));
        }
        history.push(m);
    }
    if let Some((acc, kept)) = best {
        let epoch = history
            .iter()
            .position(|m| m.valid_accuracy == acc)
            .map_or(0, |i| i + 1);
        if s.verbose {
            println!(
                "keeping the weights of epoch {epoch} (best validation accuracy {:.2}%)",
                100.0 * acc
            );
        }
        model = kept;
    }
    Ok((model, history))
}

/// What a finished run produced.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The saved model folder.
    pub model_dir: PathBuf,
    /// Per-epoch figures.
    pub history: Vec<EpochMetrics>,
    /// Test-set figures of the kept model.
    pub test: BinaryMetrics,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Train the configured model on the movie reviews and write the run folder.
pub fn train(cfg: &SentimentConfig, backend: &ResolvedBackend, splits: &Splits, verbose: bool) -> Result<TrainOutcome> {
    let started = Instant::now();
    let run_dir = gradlab::runs::new_run_dir(&cfg.out_dir)?;
    gradlab::config::save_resolved(cfg, &run_dir)?;
    let prepared = prepare(cfg, splits);
    let device = backend.device.clone().autodiff();
    let model = gradlab::seeded(&device, cfg.seed, || prepared.spec.init(&device));
    if verbose {
        print_setup(cfg, splits, &prepared, model.num_params(), &run_dir);
    }
    let settings = LoopSettings::from_config(cfg, verbose);
    let (model, history) = fit(model, &prepared.train, Some(&prepared.valid), &settings, &device)?;
    let model = model.valid();
    let test = evaluate(&model, &prepared.test, &backend.device)?;
    let model_dir = run_dir.join("model");
    save_kept_model(cfg, splits, &model_dir, &model, &prepared)?;
    write_metrics(&run_dir, &history, HeldOut::Validation)?;
    plot_curves(
        &run_dir.join("curves.svg"),
        &format!("sentiment: {:?} model", cfg.model),
        &history,
        HeldOut::Validation,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    write_run_report(
        &run_dir,
        "sentiment",
        env!("CARGO_PKG_VERSION"),
        backend.to_json(),
        serde_json::json!({
            "data": splits.description,
            "parameters": model.num_params(),
            "config": cfg,
            "epochs": history,
            "test": test,
            "seconds": seconds,
        }),
    )?;
    Ok(TrainOutcome {
        run_dir,
        model_dir,
        history,
        test,
        seconds,
    })
}

/// What a verbose run says before training: the data, the model and the run folder.
fn print_setup(cfg: &SentimentConfig, splits: &Splits, prepared: &Prepared, params: usize, run_dir: &Path) {
    println!("data: {}", splits.description);
    println!(
        "model: {:?}, {} parameters, input width {}{}",
        cfg.model,
        params,
        prepared.encoder.width(),
        match &prepared.encoder {
            Encoder::Sequence { tokenizer, .. } => format!(
                ", vocabulary {} words (kept: indices < {})",
                tokenizer.vocab_len(),
                prepared.spec.rows
            ),
            Encoder::Ngrams { table, .. } => format!(", {} uni/bigrams", table.len()),
        }
    );
    if prepared.train.cut > 0 {
        println!(
            "note: {} longer than the input width, cut to it",
            gradlab::count(prepared.train.cut, "training sentence")
        );
    }
    println!("run folder: {}", run_dir.display());
}

/// Save the kept model into `model_dir` with its encoder and split, marked a toy when the run
/// used `limit`.
fn save_kept_model(
    cfg: &SentimentConfig,
    splits: &Splits,
    model_dir: &Path,
    model: &SentimentModel,
    prepared: &Prepared,
) -> Result<()> {
    let split = SplitInfo {
        seed: cfg.seed,
        limit: cfg.limit,
    };
    save_classifier(model_dir, model, &prepared.spec, &prepared.encoder, Some(split))?;
    if cfg.limit > 0 {
        gradlab::runs::mark_toy(
            model_dir,
            &format!("trained with --limit {}: {}", cfg.limit, splits.description),
        )?;
    }
    Ok(())
}

/// The seed, end to end: fit the tokenizer on the five sentences, train 50 epochs, print each
/// sentence's encoding, the final training figures and the query's probability. Everything
/// but the random seed and the backend is the seed's own (a config file's model settings do
/// not apply): `Tokenizer(num_words=100, oov_token="<OOV>")`, `pad_sequences(maxlen=10, post)`,
/// `Embedding(100, 16)`, mean pooling, `Dense(24, relu)`, `Dense(1, sigmoid)`, Adam 1e-3, 50
/// epochs, batch 32.
pub fn train_seed(cfg: &SentimentConfig, backend: &ResolvedBackend) -> Result<()> {
    let seed_cfg = SentimentConfig {
        model: ModelKind::Seed,
        num_words: 100,
        maxlen: 10,
        backend: cfg.backend,
        adapter: cfg.adapter,
        seed: cfg.seed,
        ..SentimentConfig::default()
    };
    let texts: Vec<&str> = SEED_SENTENCES.iter().map(|(t, _)| *t).collect();
    let labels: Vec<u8> = SEED_SENTENCES.iter().map(|(_, l)| *l).collect();
    let (encoder, spec) = fit_encoder(&seed_cfg, &texts, &labels);
    // Keras's Embedding(100, 16) has num_words rows, used or not.
    let spec = ModelSpec {
        rows: seed_cfg.num_words,
        ..spec
    };
    let set = encoder.encode_set(&texts, &labels);
    for (t, row) in texts.iter().zip(set.ids.chunks(set.width)) {
        println!("{t:<34} → {row:?}");
    }
    let device = backend.device.clone().autodiff();
    let model = gradlab::seeded(&device, seed_cfg.seed, || spec.init(&device));
    let settings = LoopSettings {
        epochs: 50,
        batch_size: 32,
        learning_rate: 1e-3,
        l2: 0.0,
        restore_best: false,
        seed: seed_cfg.seed,
        verbose: false,
    };
    let (model, history) = fit(model, &set, None, &settings, &device)?;
    let last = history.last().context("no epoch ran")?;
    println!(
        "after 50 epochs: training loss {:.4}, training accuracy {:.0}%",
        last.train_loss,
        100.0 * last.train_accuracy
    );
    let q = encoder.encode(SEED_QUERY);
    let p = predict_encoded(&model.valid(), std::slice::from_ref(&q), &backend.device)?[0];
    println!(
        "{SEED_QUERY:?} → {:?} → probability positive {p:.4} ({})",
        q.ids,
        label(p)
    );
    Ok(())
}
