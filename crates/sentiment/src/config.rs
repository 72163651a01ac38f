//! `sentiment`'s run configuration: defaults (equal to `configs/sentiment.toml`) < `--config`
//! files < CLI flags, validated once.

use std::path::PathBuf;

use anyhow::Result;
use gradlab::config::{check_range, invalid};
use gradlab::{AdapterChoice, BackendName};
use serde::{Deserialize, Serialize};

use crate::model::{ModelKind, Pooling};
use crate::tokenizer::Side;

/// The smallest `limit` (other than 0, all): 10 % of it must give at least two sentences to the
/// test and validation splits each.
pub const MIN_LIMIT: usize = 20;

// `backend`, `adapter`, `remote_url`, `remote_token_file` and `out_dir`, which the shared command line overrides.
gradlab::run_config!(SentimentConfig);

/// Everything a training run needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SentimentConfig {
    /// `auto`, `flex`, `ndarray`, `wgpu`, `vulkan` or `remote`.
    pub backend: BackendName,
    /// wgpu/vulkan adapter: `default`, `discrete[:N]`, `integrated[:N]`, `cpu`.
    pub adapter: AdapterChoice,
    /// `backend = "remote"`: the gradlab-serve to run on, `ws://HOST:PORT`.
    pub remote_url: Option<gradlab::RemoteUrl>,
    /// `backend = "remote"`: the file whose first line is the server's access token (else
    /// `$GRADLAB_REMOTE_TOKEN`, else none).
    pub remote_token_file: Option<PathBuf>,
    /// The tab-separated movie-review file.
    pub data_file: PathBuf,
    /// Use a stratified sample of this many sentences (0 = all).
    pub limit: usize,
    /// `seed` (embedding average) or `nb-bigram` (NB-weighted n-grams).
    pub model: ModelKind,
    /// Seed model: keep word indices below this (Keras's `num_words`).
    pub num_words: usize,
    /// Seed model: the out-of-vocabulary token.
    pub oov_token: String,
    /// Seed model: sequence length (`maxlen`).
    pub maxlen: usize,
    /// Seed model: `pre` or `post`.
    pub padding: Side,
    /// Seed model: `pre` or `post`.
    pub truncating: Side,
    /// Seed model: embedding width.
    pub embedding_dim: usize,
    /// Seed model: hidden units.
    pub hidden: usize,
    /// Seed model: `mean` (Keras, padding included) or `masked-mean`.
    pub pooling: Pooling,
    /// NB model: NB smoothing α.
    pub nb_alpha: f64,
    /// NB model: n-grams seen fewer times in training are dropped.
    pub nb_min_count: usize,
    /// NB model: n-grams per sentence.
    pub nb_width: usize,
    /// NB model: L2 weight on the corrections (pulls the model towards Naive Bayes).
    pub nb_l2: f64,
    /// Passes over the training set.
    pub epochs: usize,
    /// Sentences per step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Keep the weights of the epoch with the best validation accuracy (Keras's
    /// `EarlyStopping(restore_best_weights=True)` without stopping early).
    pub restore_best: bool,
    /// Seed for weights, split and data order.
    pub seed: u64,
    /// Where runs are written: `<out_dir>/run-NNN/`.
    pub out_dir: PathBuf,
}

impl Default for SentimentConfig {
    fn default() -> Self {
        SentimentConfig {
            backend: BackendName::Auto,
            adapter: AdapterChoice::Default,
            remote_url: None,
            remote_token_file: None,
            data_file: "datasets/movie-reviews/movie-reviews.tsv".into(),
            limit: 0,
            model: ModelKind::Seed,
            num_words: 10_000,
            oov_token: "<OOV>".into(),
            maxlen: 50,
            padding: Side::Post,
            truncating: Side::Post,
            embedding_dim: 16,
            hidden: 24,
            pooling: Pooling::Mean,
            nb_alpha: 1.0,
            nb_min_count: 1,
            nb_width: 128,
            nb_l2: 1e-5,
            epochs: 10,
            batch_size: 32,
            learning_rate: 1e-3,
            restore_best: true,
            seed: 42,
            out_dir: "runs/sentiment".into(),
        }
    }
}

impl SentimentConfig {
    /// Check every value; errors name the key and the value.
    pub fn validate(&self) -> Result<()> {
        check_range("num_words", self.num_words, 3, 10_000_000)?;
        check_range("maxlen", self.maxlen, 1, 100_000)?;
        check_range("embedding_dim", self.embedding_dim, 1, 4096)?;
        check_range("hidden", self.hidden, 1, 65_536)?;
        check_range("nb_alpha", self.nb_alpha, 1e-6, 1e3)?;
        check_range("nb_width", self.nb_width, 1, 100_000)?;
        check_range("nb_l2", self.nb_l2, 0.0, 1e3)?;
        check_range("epochs", self.epochs, 1, 100_000)?;
        check_range("batch_size", self.batch_size, 1, 65_536)?;
        check_range("learning_rate", self.learning_rate, 1e-12, 10.0)?;
        if self.limit != 0 && self.limit < MIN_LIMIT {
            return Err(invalid(
                "limit",
                format!(
                    "config: `limit` = {} is too small: the 80/10/10 split needs at least {MIN_LIMIT} \
                     sentences (2 to test, 2 to validate, 16 to train; 0 = all)",
                    self.limit
                ),
            ));
        }
        if self.oov_token.trim().is_empty() {
            return Err(invalid("oov_token", "config: `oov_token` must not be empty"));
        }
        Ok(())
    }
}
