//! The two classifiers.
//!
//! Seed model (the Keras seed, layer for layer):
//!
//! ```text
//! Embedding(rows, 16) → GlobalAveragePooling1D → Dense(24, relu) → Dense(1, sigmoid)
//! ```
//!
//! Keras's `GlobalAveragePooling1D` without a mask averages the padding positions too (their
//! embedding, row 0, is learned like any other); `pooling = "masked-mean"` averages the words
//! only. Weights start as Keras's do: embeddings uniform in ±0.05, Glorot-uniform kernels, zero
//! biases.
//!
//! NB model (`nb-bigram`, the stronger option): a logistic regression over the text's distinct
//! unigrams and bigrams, each feature scaled by its Naive-Bayes log-count ratio `r_j`
//! (NBSVM's features, Wang & Manning 2012), with an L2 penalty on the weights `w`:
//!
//! ```text
//! logit = Σ_j r_j · w_j + b
//! ```
//!
//! The weights start at 0. (Starting from `w = 1`, which is exactly multinomial Naive Bayes,
//! was tried: NB's log-odds fit the training sentences almost perfectly, so training learned
//! nothing and the test accuracy stayed NB's.) Both models return logits; the sigmoid lives in
//! the loss (as Keras's `from_logits=True`).

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Which classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Embedding → average → Dense 24 ReLU → Dense 1 (the seed).
    Seed,
    /// NB-weighted unigram+bigram logistic regression (NBSVM-style).
    NbBigram,
}

/// How the seed model averages over the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// Over every position, padding included (Keras's `GlobalAveragePooling1D` without a mask).
    Mean,
    /// Over the words only.
    MaskedMean,
}

/// Everything needed to rebuild a model's architecture before loading its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Which classifier.
    pub kind: ModelKind,
    /// Rows of the embedding (or correction) table.
    pub rows: usize,
    /// Embedding width (seed model).
    pub embedding_dim: usize,
    /// Hidden units (seed model).
    pub hidden: usize,
    /// Seed model pooling.
    pub pooling: Pooling,
}

impl ModelSpec {
    /// A freshly initialised model on `device` (seed the device first for reproducibility).
    pub fn init(&self, device: &Device) -> SentimentModel {
        match self.kind {
            ModelKind::Seed => SentimentModel::Seed(SeedNet::new(self, device)),
            ModelKind::NbBigram => SentimentModel::NbBigram(NbNet::new(self.rows, device)),
        }
    }
}

/// Either classifier (the variants differ in size; one model exists per run, so no boxing).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum SentimentModel {
    /// The seed model.
    Seed(SeedNet),
    /// The NB-weighted n-gram model.
    NbBigram(NbNet),
}

impl SentimentModel {
    /// Logits for a batch.
    ///
    /// # Shapes
    /// - `ids`: `[batch, width]`
    /// - `weights`: `[batch, width]` (mask or NB ratios, see `features`)
    /// - returns: `[batch]`
    pub fn forward(&self, ids: Tensor<2, Int>, weights: Tensor<2>) -> Tensor<1> {
        match self {
            SentimentModel::Seed(m) => m.forward(ids, weights),
            SentimentModel::NbBigram(m) => m.forward(ids, weights),
        }
    }

    /// The NB model's weights `w_id` of the n-gram ids `ids` and its bias `b` (its logit is
    /// `Σ r_j·w_id_j + b`, `r_j` the n-grams' NB ratios); `None` for the seed model, whose
    /// output is not a sum over words.
    pub fn ngram_weights(&self, ids: &[u32]) -> Option<(Vec<f32>, f32)> {
        let SentimentModel::NbBigram(m) = self else {
            return None;
        };
        let bias = m.bias.val().into_scalar::<f32>();
        if ids.is_empty() {
            return Some((Vec::new(), bias));
        }
        let table = m.weights.weight.val(); // [rows, 1]
        let device = table.device();
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let n = ids.len();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [n]), &device);
        let w = table.select(0, ids).into_data().convert::<f32>();
        Some((w.iter::<f32>().collect(), bias))
    }

    /// The regularisation term added to the training loss (0 for the seed model).
    pub fn penalty(&self, device: &Device) -> Tensor<1> {
        match self {
            SentimentModel::Seed(_) => Tensor::zeros([1], device),
            SentimentModel::NbBigram(m) => m.weights.weight.val().powi_scalar(2).sum(),
        }
    }
}

// ANCHOR: seed_net
/// The seed model.
#[derive(Module, Debug)]
pub struct SeedNet {
    embedding: Embedding,
    hidden: Linear,
    output: Linear,
    #[module(skip)]
    masked: bool,
}
// ANCHOR_END: seed_net

fn dense(input: usize, output: usize, device: &Device) -> Linear {
    let mut l = LinearConfig::new(input, output)
        .with_initializer(Initializer::XavierUniform { gain: 1.0 })
        .init(device);
    l.bias = Some(Param::from_tensor(Tensor::zeros([output], device)));
    l
}

impl SeedNet {
    fn new(spec: &ModelSpec, device: &Device) -> Self {
        SeedNet {
            embedding: EmbeddingConfig::new(spec.rows, spec.embedding_dim)
                .with_initializer(Initializer::Uniform { min: -0.05, max: 0.05 })
                .init(device),
            hidden: dense(spec.embedding_dim, spec.hidden, device),
            output: dense(spec.hidden, 1, device),
            masked: spec.pooling == Pooling::MaskedMean,
        }
    }

    // ANCHOR: seed_forward
    fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<1> {
        let [batch, _] = ids.dims();
        let e = self.embedding.forward(ids); // [batch, width, dim]
        let dim = e.dims()[2];
        let pooled = if self.masked {
            let count = mask.clone().sum_dim(1).clamp_min(1.0); // [batch, 1]
            let summed = (e * mask.unsqueeze_dim::<3>(2)).sum_dim(1).reshape([batch, dim]);
            summed / count
        } else {
            e.mean_dim(1).reshape([batch, dim]) // [batch, dim]
        };
        let h = relu(self.hidden.forward(pooled)); // [batch, hidden]
        self.output.forward(h).reshape([batch]) // [batch]
    }
    // ANCHOR_END: seed_forward
}

/// The NB-weighted n-gram model.
#[derive(Module, Debug)]
pub struct NbNet {
    /// `w_j`, one per n-gram id (row 0 is padding, multiplied by a zero ratio).
    weights: Embedding,
    /// `b`.
    bias: Param<Tensor<1>>,
}

impl NbNet {
    fn new(rows: usize, device: &Device) -> Self {
        NbNet {
            weights: EmbeddingConfig::new(rows, 1)
                .with_initializer(Initializer::Zeros)
                .init(device),
            bias: Param::from_tensor(Tensor::zeros([1], device)),
        }
    }

    fn forward(&self, ids: Tensor<2, Int>, ratios: Tensor<2>) -> Tensor<1> {
        let [batch, width] = ids.dims();
        let w = self.weights.forward(ids).reshape([batch, width]); // [batch, width]
        (ratios * w).sum_dim(1).reshape([batch]) + self.bias.val() // [batch]
    }
}
