//! The training loop: Adam on softmax cross-entropy, one checkpoint per finished epoch, a
//! report folder per run.
//!
//! Run folders are `<out_dir>/run-NNN/`; `<out_dir>/latest` names the newest. Each holds
//! `config.toml` (the resolved config), `checkpoint/`, `model.bpk` (when finished),
//! `metrics.csv`, `metrics.json`, `curves.svg` and `report.json`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Int, Tensor};
use gradlab::ResolvedBackend;
use gradlab::checkpoint::{load_checkpoint, save_checkpoint};
use gradlab::report::{EpochMetrics, plot_curves, write_metrics, write_run_report};
use gradlab::runs::{latest_run, new_run_dir};
use serde::{Deserialize, Serialize};

use crate::config::MnistConfig;
use crate::data::{MnistBatcher, Splits};
use crate::inference::{EvalResult, evaluate, save_model};
use crate::model::{Cnn, NUM_CLASSES};

/// How to run `train`.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue the latest run in `out_dir` from its checkpoint.
    pub resume: bool,
    /// Print the model summary and per-epoch lines.
    pub verbose: bool,
}

/// What a finished run produced.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The trained model file.
    pub model_path: PathBuf,
    /// Per-epoch figures (all epochs, including those before a resume).
    pub history: Vec<EpochMetrics>,
    /// Final figures on the test set.
    pub test: EvalResult,
    /// Wall-clock seconds of this invocation.
    pub seconds: f64,
    /// The trained model.
    pub model: Cnn,
}

/// Loop state stored in each checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoopState {
    history: Vec<EpochMetrics>,
    config: MnistConfig,
    /// The finished run this one continues, if any.
    #[serde(default)]
    parent: Option<Parent>,
}

/// The finished run a `--resume` with more epochs continued from (recorded in the new run's
/// checkpoints and `report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parent {
    /// Its run folder.
    pub run: String,
    /// The epoch it had finished.
    pub after_epoch: usize,
}

/// The Adam optimizer of the seed (Keras's `epsilon = 1e-7`).
pub fn optimizer() -> ModuleOptimizer {
    AdamConfig::new().with_epsilon(1e-7).init()
}

/// Train the seed CNN as `cfg` says on `backend`.
pub fn train(
    cfg: &MnistConfig,
    backend: &ResolvedBackend,
    splits: &Splits,
    opts: &TrainOptions,
) -> Result<TrainOutcome> {
    let started = Instant::now();
    let say = |s: String| {
        if opts.verbose {
            println!("{s}");
        }
    };
    let out_dir = &cfg.out_dir;
    let device = backend.device.clone().autodiff();
    let mut model = gradlab::seeded(&device, cfg.seed, || Cnn::new(&device)).with_fast_path(cfg.fast_path);
    let mut optim = optimizer();
    let mut history = Vec::new();
    let mut first_epoch = 1;
    let mut parent = None;
    // Everything a resume needs is checked before anything is written.
    let run_dir = if opts.resume {
        let latest = latest_run(out_dir)?;
        let (m, o, index) = load_checkpoint::<_, LoopState>(&latest.join("checkpoint"), model, optim)?;
        check_resumable(&index.state.config, cfg)?;
        let finished = latest.join("model.bpk").exists();
        if finished && index.epoch >= cfg.epochs {
            bail!(
                "cannot resume: {} finished its {} epochs; to train it further, resume with `--epochs` above {} \
                 (the continuation goes into a new run folder)",
                latest.display(),
                index.epoch,
                index.epoch
            );
        }
        model = m;
        optim = o;
        history = index.state.history;
        first_epoch = index.epoch + 1;
        if finished {
            // A finished run keeps its model, metrics and report: continue in a new folder.
            let dir = new_run_dir(out_dir)?;
            say(format!(
                "continuing the finished run {} after epoch {} in a new run folder",
                latest.display(),
                index.epoch
            ));
            parent = Some(Parent {
                run: latest.display().to_string(),
                after_epoch: index.epoch,
            });
            dir
        } else {
            say(format!("resuming {} after epoch {}", latest.display(), index.epoch));
            parent = index.state.parent;
            latest
        }
    } else {
        new_run_dir(out_dir)?
    };
    let ckpt_dir = run_dir.join("checkpoint");
    gradlab::config::save_resolved(cfg, &run_dir)?;
    let checkpoint = |epoch: usize, model: &Cnn, optim: &ModuleOptimizer, history: &[EpochMetrics]| {
        let state = LoopState {
            history: history.to_vec(),
            config: cfg.clone(),
            parent: parent.clone(),
        };
        save_checkpoint(&ckpt_dir, epoch, model.clone(), optim, state)
    };
    if parent.is_some() && !ckpt_dir.join("checkpoint.json").exists() {
        // The continuation starts from its parent's checkpoint, so it is resumable at once.
        checkpoint(first_epoch - 1, &model, &optim, &history)?;
    }
    let conv_path = model.conv_path(&device, backend.backend);
    say(format!("convolutions: {conv_path}"));
    // Only fastconv's kernels gain from keeping freed memory (see fastconv::memory).
    if cfg.fast_path && fastconv::is_fast(&device) && fastconv::memory::keep_freed_memory() {
        say("fast path: freed memory is kept for reuse (glibc malloc thresholds raised)".into());
    }
    say(model.summary(&device));
    say(format!("data: {}", splits.description));
    say(format!("run folder: {}", run_dir.display()));

    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let n_train = splits.train.len();
    let steps = n_train.div_ceil(cfg.batch_size) as u64;
    let mut last_eval = None;
    for epoch in first_epoch..=cfg.epochs {
        // A fresh loader per epoch, shuffled with (seed, epoch): a resumed run sees the same
        // order as an uninterrupted one.
        let loader = DataLoaderBuilder::new(MnistBatcher)
            .batch_size(cfg.batch_size)
            .shuffle(cfg.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64))
            .set_device(device.clone())
            .build(splits.train.clone());
        let bar = gradlab::progress::bar(steps, format!("epoch {epoch}/{}", cfg.epochs), opts.verbose);
        let t0 = Instant::now();
        // Running sums stay on the device; reading them is a sync, so it happens only for the
        // progress display and once at the end of the epoch.
        let mut loss_sum: Tensor<1> = Tensor::zeros([1], &device);
        let mut correct: Tensor<1, Int> = Tensor::zeros([1], &device);
        let mut seen = 0usize;
        for (step, batch) in loader.iter().enumerate() {
            let batch = batch.context("loading a training batch")?;
            let n = batch.targets.dims()[0];
            let logits = model.forward(batch.images);
            let loss = loss_fn.forward(logits.clone(), batch.targets.clone());
            let hits = logits.detach().argmax(1).reshape([n]).equal(batch.targets).int().sum();
            loss_sum = loss_sum + loss.clone().detach().mul_scalar(n as f64);
            correct = correct + hits;
            seen += n;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.learning_rate, model, grads);
            bar.inc(1);
            if opts.verbose && (step % 25 == 24) && !bar.is_hidden() {
                let l = loss_sum.clone().into_scalar::<f64>() / seen as f64;
                let a = correct.clone().into_scalar::<i64>() as f64 / seen as f64;
                bar.set_message(format!("loss {l:.4} acc {:.2}%", 100.0 * a));
            }
        }
        let train_loss = loss_sum.into_scalar::<f64>() / seen.max(1) as f64;
        let train_accuracy = correct.into_scalar::<i64>() as f64 / seen.max(1) as f64;
        let seconds = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        gradlab::guard::check_loss(
            &format!("epoch {epoch}"),
            train_loss,
            (NUM_CLASSES as f64).ln(),
            cfg.learning_rate,
        )?;
        let eval = evaluate(&model.valid(), splits.test.clone(), 256, &device)?;
        let m = EpochMetrics {
            epoch,
            train_loss,
            train_accuracy,
            valid_loss: eval.loss,
            valid_accuracy: eval.accuracy,
            seconds,
            items_per_second: seen as f64 / seconds,
        };
        let line = format!(
            "epoch {epoch}/{}  train loss {:.4} acc {:.2}%  valid loss {:.4} acc {:.2}%  {:.1} s  {:.0} img/s",
            cfg.epochs,
            m.train_loss,
            100.0 * m.train_accuracy,
            m.valid_loss,
            100.0 * m.valid_accuracy,
            m.seconds,
            m.items_per_second
        );
        history.push(m);
        // The epoch's line appears once its checkpoint is on disk: an epoch shown is kept.
        checkpoint(epoch, &model, &optim, &history)?;
        say(line);
        last_eval = Some(eval);
    }

    let test = match last_eval {
        Some(e) => e,
        None => evaluate(&model.valid(), splits.test.clone(), 256, &device)?,
    };
    let model_path = save_model(&run_dir, &model, cfg, &splits.description)?;
    if cfg.train_limit > 0 || cfg.test_limit > 0 {
        gradlab::runs::mark_toy(
            &run_dir,
            &format!(
                "trained with train_limit {} / test_limit {}: {}",
                cfg.train_limit, cfg.test_limit, splits.description
            ),
        )?;
    }
    write_metrics(&run_dir, &history)?;
    plot_curves(&run_dir.join("curves.svg"), "mnist-cnn: seed CNN", &history)?;
    let seconds = started.elapsed().as_secs_f64();
    write_run_report(
        &run_dir,
        "mnist-cnn",
        env!("CARGO_PKG_VERSION"),
        backend.to_json(),
        serde_json::json!({
            "data": splits.description,
            "parameters": model.num_params(),
            "conv_path": conv_path,
            "config": cfg,
            "parent": parent,
            "epochs": history,
            "test": test,
            "seconds": seconds,
        }),
    )?;
    Ok(TrainOutcome {
        run_dir,
        model_path,
        history,
        test,
        seconds,
        model,
    })
}

/// Settings that must not change between a checkpoint and its resumption.
fn check_resumable(saved: &MnistConfig, now: &MnistConfig) -> Result<()> {
    let pairs = [
        ("dataset", format!("{:?}", saved.dataset), format!("{:?}", now.dataset)),
        ("seed", saved.seed.to_string(), now.seed.to_string()),
        ("batch_size", saved.batch_size.to_string(), now.batch_size.to_string()),
        (
            "learning_rate",
            saved.learning_rate.to_string(),
            now.learning_rate.to_string(),
        ),
        ("test_size", saved.test_size.to_string(), now.test_size.to_string()),
        (
            "train_limit",
            saved.train_limit.to_string(),
            now.train_limit.to_string(),
        ),
        ("test_limit", saved.test_limit.to_string(), now.test_limit.to_string()),
        ("fast_path", saved.fast_path.to_string(), now.fast_path.to_string()),
    ];
    let diffs: Vec<String> = pairs
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(k, a, b)| format!("`{k}` was {a}, now {b}"))
        .collect();
    if !diffs.is_empty() {
        bail!(
            "cannot resume: the checkpoint was made with other settings ({})",
            diffs.join(", ")
        );
    }
    Ok(())
}
