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
use burn::tensor::{Device, Int, Tensor};
use gradlab::ResolvedBackend;
use gradlab::checkpoint::{load_checkpoint, save_checkpoint};
use gradlab::report::{EpochMetrics, HeldOut, plot_curves, write_metrics, write_run_report};
use gradlab::runs::{latest_run, new_run_dir};
use serde::{Deserialize, Serialize};

use crate::config::MnistConfig;
use crate::data::{MnistBatch, MnistBatcher, Splits};
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

// ANCHOR: optimizer
/// The Adam optimizer of the seed (Keras's `epsilon = 1e-7`). With the fast path, fastconv's
/// [`FusedAdam`](fastconv::adam::FusedAdam): the same arithmetic, bit for bit, in one pass per
/// parameter on flex (burn's Adam anywhere else); the state is the same either way.
pub fn optimizer(fast_path: bool) -> ModuleOptimizer {
    let (beta_1, beta_2, epsilon) = (0.9, 0.999, 1e-7);
    if fast_path {
        return fastconv::adam::FusedAdam::new(beta_1, beta_2, epsilon).init();
    }
    AdamConfig::new()
        .with_beta_1(beta_1)
        .with_beta_2(beta_2)
        .with_epsilon(epsilon)
        .init()
}
// ANCHOR_END: optimizer

// ANCHOR: loss
/// The seed's loss: softmax cross-entropy of `logits` `[n, 10]` against the labels `[n]`, the
/// batch mean (Keras's `sparse_categorical_crossentropy` on a softmax output).
pub fn loss(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, targets)
}
// ANCHOR_END: loss

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
    let device = backend.device.clone().autodiff();
    // Every device before the run folder: one that cannot start leaves nothing behind.
    let devices = data_parallel_devices(cfg, &device, &say)?;
    let Start {
        run_dir,
        mut model,
        mut optim,
        mut history,
        first_epoch,
        parent,
    } = start(cfg, &device, opts.resume, &say)?;
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
    say(model.summary(&device));
    say(format!("data: {}", splits.description));
    say(format!("run folder: {}", run_dir.display()));

    let mut last_eval = None;
    for epoch in first_epoch..=cfg.epochs {
        let (trained, fit) = train_epoch(model, &mut optim, cfg, splits, epoch, &devices, opts.verbose)?;
        model = trained;
        gradlab::guard::check_loss(
            &format!("epoch {epoch}"),
            fit.loss,
            (NUM_CLASSES as f64).ln(),
            cfg.learning_rate,
        )?;
        let eval = evaluate(&model.valid(), splits.test.clone(), 256, &device)?;
        let m = EpochMetrics {
            epoch,
            train_loss: fit.loss,
            train_accuracy: fit.accuracy,
            valid_loss: eval.loss,
            valid_accuracy: eval.accuracy,
            seconds: fit.seconds,
            items_per_second: fit.seen as f64 / fit.seconds,
        };
        let line = m.line(cfg.epochs, HeldOut::Test, "img", 1);
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
    let finished = Finished {
        run_dir,
        history,
        test,
        model,
        parent,
        conv_path,
    };
    finish(cfg, backend, splits, finished, started)
}

/// Where a run starts: a new run folder with fresh weights, or (`resume`) the latest run's
/// checkpoint — in that folder, or in a new one when the latest run had finished.
struct Start {
    run_dir: PathBuf,
    model: Cnn,
    optim: ModuleOptimizer,
    history: Vec<EpochMetrics>,
    first_epoch: usize,
    parent: Option<Parent>,
}

/// Everything a resume needs is checked before anything is written.
fn start(cfg: &MnistConfig, device: &Device, resume: bool, say: &dyn Fn(String)) -> Result<Start> {
    let out_dir = &cfg.out_dir;
    let model = gradlab::seeded(device, cfg.seed, || Cnn::new(device)).with_fast_path(cfg.fast_path);
    if !resume {
        return Ok(Start {
            run_dir: new_run_dir(out_dir)?,
            model,
            optim: optimizer(cfg.fast_path),
            history: Vec::new(),
            first_epoch: 1,
            parent: None,
        });
    }
    let latest = latest_run(out_dir)?;
    let (model, optim, index) =
        load_checkpoint::<_, LoopState>(&latest.join("checkpoint"), model, optimizer(cfg.fast_path))?;
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
    let (run_dir, parent) = if finished {
        // A finished run keeps its model, metrics and report: continue in a new folder.
        let dir = new_run_dir(out_dir)?;
        say(format!(
            "continuing the finished run {} after epoch {} in a new run folder",
            latest.display(),
            index.epoch
        ));
        let parent = Parent {
            run: latest.display().to_string(),
            after_epoch: index.epoch,
        };
        (dir, Some(parent))
    } else {
        say(format!("resuming {} after epoch {}", latest.display(), index.epoch));
        (latest, index.state.parent)
    };
    Ok(Start {
        run_dir,
        model,
        optim,
        history: index.state.history,
        first_epoch: index.epoch + 1,
        parent,
    })
}

/// The devices each step runs on (autodiff): `device` (the main one) alone, or with the other
/// `devices` of the config for data-parallel training ([`gradlab::parallel`]).
fn data_parallel_devices(cfg: &MnistConfig, device: &Device, say: &dyn Fn(String)) -> Result<Vec<Device>> {
    let mut devices = vec![device.clone()];
    if cfg.devices.len() > 1 {
        let others = gradlab::parallel::resolve_all(&cfg.devices[1..], cfg.remote_token_file.as_deref())?;
        say(format!(
            "data-parallel over {} devices: each batch split in {} shares; {} is the main device (model, optimizer, gathered gradients, evaluation); the others: {}",
            cfg.devices.len(),
            cfg.devices.len(),
            cfg.devices[0],
            others.iter().map(|r| r.describe()).collect::<Vec<_>>().join("; ")
        ));
        devices.extend(others.into_iter().map(|r| r.device.autodiff()));
    }
    Ok(devices)
}

/// One training step's gradients, the batch's mean loss (detached) and its correct predictions:
/// on `devices[0]` alone, or data-parallel over `devices` (the batch split in contiguous shares).
pub fn step_grads(model: &Cnn, batch: MnistBatch, devices: &[Device]) -> (GradientsParams, Tensor<1>, Tensor<1, Int>) {
    let n = batch.targets.dims()[0];
    if devices.len() == 1 {
        let logits = model.forward(batch.images);
        let loss = loss(logits.clone(), batch.targets.clone());
        let hits = logits.detach().argmax(1).reshape([n]).equal(batch.targets).int().sum();
        let mean = loss.clone().detach();
        return (GradientsParams::from_grads(loss.backward(), model), mean, hits);
    }
    let main = &devices[0];
    let main_int = batch.targets.dtype();
    let parts = gradlab::parallel::shares(n, devices.len());
    let (grads, mean, hits) = gradlab::parallel::step(model, &devices[..parts.len()], &parts, |m: Cnn, i, dev| {
        let r = &parts[i];
        let x = batch.images.clone().narrow(0, r.start, r.len()).to_device(dev);
        // A moved tensor keeps its integer type; each backend computes in its own (flex i32,
        // ndarray i64), so the labels take the worker's and the hit count the main device's.
        let worker_int = Tensor::<1, Int>::zeros([1], dev).dtype();
        let y = batch
            .targets
            .clone()
            .narrow(0, r.start, r.len())
            .to_device(dev)
            .cast(worker_int);
        let logits = m.forward(x);
        let hits = logits
            .clone()
            .detach()
            .argmax(1)
            .reshape([r.len()])
            .equal(y.clone())
            .int()
            .sum();
        gradlab::parallel::ShareLoss {
            loss: loss(logits, y),
            extra: hits.to_device(main).cast(main_int),
        }
    });
    let hits = hits.into_iter().reduce(|a, b| a + b).expect("at least one share");
    (grads, mean, hits)
}

/// One epoch's training figures.
struct EpochFit {
    /// Mean training loss.
    loss: f64,
    /// Training accuracy.
    accuracy: f64,
    /// Images seen.
    seen: usize,
    /// Wall-clock seconds of the epoch's steps.
    seconds: f64,
}

/// One pass over the training split, shuffled with (seed, epoch): a resumed run sees the same
/// order as an uninterrupted one.
fn train_epoch(
    mut model: Cnn,
    optim: &mut ModuleOptimizer,
    cfg: &MnistConfig,
    splits: &Splits,
    epoch: usize,
    devices: &[Device],
    verbose: bool,
) -> Result<(Cnn, EpochFit)> {
    let device = &devices[0];
    let loader = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(cfg.batch_size)
        .shuffle(cfg.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64))
        .set_device(device.clone())
        .build(splits.train.clone());
    let steps = splits.train.len().div_ceil(cfg.batch_size) as u64;
    let bar = gradlab::progress::bar(steps, format!("epoch {epoch}/{}", cfg.epochs), verbose);
    let t0 = Instant::now();
    // Running sums stay on the device; reading them is a sync, so it happens only for the
    // progress display and once at the end of the epoch.
    let mut loss_sum: Tensor<1> = Tensor::zeros([1], device);
    let mut correct: Tensor<1, Int> = Tensor::zeros([1], device);
    let mut seen = 0usize;
    let on_worker = cfg.fast_path && devices.len() == 1 && fastconv::is_fast(device);
    for (step, batch) in loader.iter().enumerate() {
        let batch = batch.context("loading a training batch")?;
        let n = batch.targets.dims()[0];
        // With the fast path on one flex device, the step runs on one of rayon's threads
        // (`fastconv::on_worker`: the kernels' parallel sections then start without waking
        // this thread each time; the same results).
        let optim = &mut *optim;
        let step_once = move || {
            let (grads, mean, hits) = step_grads(&model, batch, devices);
            (optim.step(cfg.learning_rate, model, grads), mean, hits)
        };
        let (next, mean, hits) = if on_worker {
            fastconv::on_worker(step_once)
        } else {
            step_once()
        };
        model = next;
        loss_sum = loss_sum + mean.mul_scalar(n as f64);
        correct = correct + hits;
        seen += n;
        bar.inc(1);
        if verbose && (step % 25 == 24) && !bar.is_hidden() {
            let l = loss_sum.clone().into_scalar::<f64>() / seen as f64;
            let a = correct.clone().into_scalar::<i64>() as f64 / seen as f64;
            bar.set_message(format!("loss {l:.4} acc {:.2}%", 100.0 * a));
        }
    }
    let fit = EpochFit {
        loss: loss_sum.into_scalar::<f64>() / seen.max(1) as f64,
        accuracy: correct.into_scalar::<i64>() as f64 / seen.max(1) as f64,
        seen,
        seconds: t0.elapsed().as_secs_f64(),
    };
    bar.finish_and_clear();
    Ok((model, fit))
}

/// What the epochs left, for [`finish`].
struct Finished {
    run_dir: PathBuf,
    history: Vec<EpochMetrics>,
    test: EvalResult,
    model: Cnn,
    parent: Option<Parent>,
    conv_path: String,
}

/// The end of a run: the model, the toy marker for a limited run, metrics, curves and report.
fn finish(
    cfg: &MnistConfig,
    backend: &ResolvedBackend,
    splits: &Splits,
    f: Finished,
    started: Instant,
) -> Result<TrainOutcome> {
    let run_dir = f.run_dir;
    let model_path = save_model(&run_dir, &f.model, cfg, &splits.description)?;
    if cfg.train_limit > 0 || cfg.test_limit > 0 {
        gradlab::runs::mark_toy(
            &run_dir,
            &format!(
                "trained with train_limit {} / test_limit {}: {}",
                cfg.train_limit, cfg.test_limit, splits.description
            ),
        )?;
    }
    write_metrics(&run_dir, &f.history, HeldOut::Test)?;
    plot_curves(
        &run_dir.join("curves.svg"),
        "mnist-cnn: seed CNN",
        &f.history,
        HeldOut::Test,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    write_run_report(
        &run_dir,
        "mnist-cnn",
        env!("CARGO_PKG_VERSION"),
        backend.to_json(),
        serde_json::json!({
            "data": splits.description,
            "parameters": f.model.num_params(),
            "conv_path": f.conv_path,
            "config": cfg,
            "parent": f.parent,
            "epochs": f.history,
            "test": f.test,
            "seconds": seconds,
        }),
    )?;
    Ok(TrainOutcome {
        run_dir,
        model_path,
        history: f.history,
        test: f.test,
        seconds,
        model: f.model,
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
