//! What the server serves, loaded once at start: the backend, the newest finished `mnist-cnn`
//! and `sentiment` models (or the ones named), and the runs folder. A model that cannot be found
//! by default is not an error — the page says how to train it; a model the user named that
//! cannot be loaded is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use gradlab::ResolvedBackend;
use gradlab::runs::choose_model;
use mnist_cnn::inference::Predictor;
use sentiment::inference::Classifier;

/// Where a model comes from and what it is (the `describe` line of `predict`).
#[derive(Debug)]
pub struct Served<T> {
    /// The model.
    pub model: T,
    /// The model file read.
    pub path: PathBuf,
    /// One line: path, when trained, headline figure, toy mark.
    pub describe: String,
}

/// A model, or why there is none and how to get one.
pub type Slot<T> = Result<Arc<Served<T>>, String>;

/// Everything the handlers share (read-only after start, but for the in-flight count).
#[derive(Debug)]
pub struct AppState {
    /// The backend inference runs on.
    pub backend: ResolvedBackend,
    /// The digit classifier.
    pub mnist: Slot<Predictor>,
    /// The sentiment classifier.
    pub sentiment: Slot<Classifier>,
    /// The runs folder (`runs/`, holding `mnist-cnn/`, `sentiment/`, …).
    pub runs_dir: PathBuf,
    /// When set, `/api/` and `/runs/` need `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// At most this many requests are decoded and inferred at once (the others wait their turn).
    pub inference_slots: Arc<tokio::sync::Semaphore>,
    /// Requests being answered now (the server's counting layer keeps it; `/api/status` and the
    /// stop message show it).
    pub in_flight: std::sync::atomic::AtomicUsize,
}

/// What [`AppState::load`] needs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The backend for inference.
    pub backend: ResolvedBackend,
    /// The runs folder.
    pub runs_dir: PathBuf,
    /// `--mnist-model`: a run folder or model file (default: the newest finished run).
    pub mnist_model: Option<PathBuf>,
    /// `--sentiment-model`: a run folder or model folder (default: the newest finished run).
    pub sentiment_model: Option<PathBuf>,
    /// The access token, if any.
    pub token: Option<String>,
}

/// The most requests decoded and inferred at once: twice the cores (one waits on memory while the
/// other computes), at most 16 — a 4-megapixel image takes ~80 MB while it is decoded, so the
/// worst case stays near 1.3 GB.
pub const MAX_SLOTS: usize = 16;

/// The digit model inside a run folder.
pub const MNIST_MODEL: &str = "model.bpk";
/// The sentiment model inside a run folder.
pub const SENTIMENT_MODEL: &str = "model/model.json";

impl AppState {
    /// Load the models. A model named by the user that cannot be loaded is an error; a default
    /// one that does not exist or does not load leaves its slot empty, with the reason and how
    /// to train one.
    pub fn load(opts: LoadOptions) -> Result<AppState> {
        let device = opts.backend.device.clone();
        let mnist = slot(
            opts.mnist_model.as_deref(),
            &opts.runs_dir.join("mnist-cnn"),
            MNIST_MODEL,
            "--mnist-model",
            "cargo run -p mnist-cnn --release",
            // Packed once here: on flex with the fast path, fastconv's inference forward.
            |p| Predictor::new(&mnist_cnn::inference::load_model(p, &device)?.model, &device),
        )?;
        let sentiment = slot(
            opts.sentiment_model.as_deref(),
            &opts.runs_dir.join("sentiment"),
            SENTIMENT_MODEL,
            "--sentiment-model",
            "cargo run -p sentiment --release",
            |p| sentiment::inference::load_classifier(p, &device),
        )?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(AppState {
            backend: opts.backend,
            mnist,
            sentiment,
            runs_dir: opts.runs_dir,
            token: opts.token,
            inference_slots: Arc::new(tokio::sync::Semaphore::new((2 * cores).min(MAX_SLOTS))),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

fn slot<T>(
    given: Option<&Path>,
    out_dir: &Path,
    model_rel: &str,
    flag: &str,
    train: &str,
    load: impl FnOnce(&Path) -> Result<T>,
) -> Result<Slot<T>> {
    let chosen = match choose_model(given, flag, out_dir, model_rel) {
        Ok(c) => c,
        Err(e) if given.is_none() => {
            return Ok(Err(format!(
                "{e:#}. Train one with `{train}`, then restart gradlab-web."
            )));
        }
        Err(e) => return Err(e),
    };
    let what = given.map_or_else(
        || chosen.path.display().to_string(),
        |p| format!("{flag} {}", p.display()),
    );
    let model = match load(&chosen.path).with_context(|| format!("{what}: cannot load the model")) {
        Ok(m) => m,
        // The newest run's model is broken: serve without it, saying why.
        Err(e) if given.is_none() => return Ok(Err(format!("{e:#}. Train another with `{train}`."))),
        Err(e) => return Err(e),
    };
    Ok(Ok(Arc::new(Served {
        model,
        describe: chosen.describe(),
        path: chosen.path,
    })))
}
