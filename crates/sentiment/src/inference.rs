//! Saved models, evaluation and prediction.
//!
//! A saved model is a folder holding `model.bpk` (the weights) and `model.json` (format tag,
//! architecture and the fitted encoder: the tokenizer's vocabulary or the n-gram table).
//! `model.json` is written last, each file atomically: a folder with `model.json` is complete.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use gradlab::report::ConfusionMatrix;
use serde::{Deserialize, Serialize};

use crate::features::{Encoded, EncodedSet, Encoder};
use crate::model::{ModelSpec, SentimentModel};

/// Tag in `model.json`; bumped when the layout changes.
pub const FORMAT: &str = "gradlab-sentiment/1";

/// What `model.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    spec: ModelSpec,
    encoder: Encoder,
    #[serde(default)]
    split: Option<SplitInfo>,
}

/// The data split a model was trained on: `eval` re-creates it, so the test sentences are the
/// ones the model never saw, whatever `--seed` / `--limit` say now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitInfo {
    /// Split seed.
    pub seed: u64,
    /// Stratified sample size (0 = all).
    pub limit: usize,
}

/// A loaded model with its encoder.
#[derive(Debug)]
pub struct Classifier {
    /// The weights.
    pub model: SentimentModel,
    /// The architecture.
    pub spec: ModelSpec,
    /// Text → input.
    pub encoder: Encoder,
    /// The split it was trained on (None: not recorded).
    pub split: Option<SplitInfo>,
}

/// Save `model` with its spec and encoder into the folder `dir`.
pub fn save_classifier(
    dir: &Path,
    model: &SentimentModel,
    spec: &ModelSpec,
    encoder: &Encoder,
    split: Option<SplitInfo>,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    gradlab::checkpoint::save_module(model.clone(), &dir.join("model.bpk"))?;
    let manifest = Manifest {
        format: FORMAT.into(),
        spec: *spec,
        encoder: encoder.clone(),
        split,
    };
    gradlab::report::write_json(&dir.join("model.json"), &manifest)
}

/// Load a model saved by [`save_classifier`] (`path`: the folder or a file in it) onto `device`.
pub fn load_classifier(path: &Path, device: &Device) -> Result<Classifier> {
    let (dir, manifest): (PathBuf, Manifest) =
        gradlab::checkpoint::read_model_manifest(path, "a sentiment model", FORMAT)?;
    let json_path = dir.join("model.json");
    let encoder = manifest
        .encoder
        .restore()
        .with_context(|| format!("{}: broken vocabulary", json_path.display()))?;
    let model = gradlab::checkpoint::load_module(manifest.spec.init(device), &dir.join("model.bpk"))?;
    Ok(Classifier {
        model,
        spec: manifest.spec,
        encoder,
        split: manifest.split,
    })
}

/// Test-set figures for a binary classifier (positive class = 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    /// Sentences.
    pub count: usize,
    /// Mean binary cross-entropy.
    pub loss: f64,
    /// Fraction right.
    pub accuracy: f64,
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Rows true label, columns prediction (0 negative, 1 positive).
    pub confusion: ConfusionMatrix,
}

impl BinaryMetrics {
    /// The figures of `probabilities` against `labels` (threshold 0.5), with `loss` given.
    pub fn from_predictions(probabilities: &[f32], labels: &[i64], loss: f64) -> Self {
        let mut confusion = ConfusionMatrix::new(2);
        for (&p, &l) in probabilities.iter().zip(labels) {
            confusion.add(l as usize, (p >= 0.5) as usize);
        }
        let c = &confusion.counts;
        let (tp, fp, fn_) = (c[1][1] as f64, c[0][1] as f64, c[1][0] as f64);
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        BinaryMetrics {
            count: labels.len(),
            loss,
            accuracy: confusion.accuracy(),
            precision,
            recall,
            f1,
            confusion,
        }
    }

    /// Several lines for the terminal.
    pub fn to_text(&self) -> String {
        let c = &self.confusion.counts;
        format!(
            "accuracy {:.2}%  precision {:.2}%  recall {:.2}%  F1 {:.2}%  (loss {:.4}, {})\n\
             confusion (rows true, columns predicted):\n\
             {:>18}{:>10}\n{:>8}{:>10}{:>10}\n{:>8}{:>10}{:>10}\n",
            100.0 * self.accuracy,
            100.0 * self.precision,
            100.0 * self.recall,
            100.0 * self.f1,
            self.loss,
            gradlab::count(self.count, "sentence"),
            "negative",
            "positive",
            "negative",
            c[0][0],
            c[0][1],
            "positive",
            c[1][0],
            c[1][1]
        )
    }
}

/// Positive-class probabilities of every row of `set`, in order, and the mean loss.
pub fn probabilities(model: &SentimentModel, set: &EncodedSet, device: &Device) -> Result<(Vec<f32>, f64)> {
    let mut probs = Vec::with_capacity(set.len());
    let mut loss_sum: Tensor<1> = Tensor::zeros([1], device);
    let rows: Vec<usize> = (0..set.len()).collect();
    for chunk in rows.chunks(512) {
        let b = set.batch(chunk, device);
        let logits = model.forward(b.ids, b.weights);
        loss_sum = loss_sum + crate::training::loss(logits.clone(), b.targets).mul_scalar(chunk.len() as f64);
        let p = sigmoid(logits).into_data().convert::<f32>();
        probs.extend(p.try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?);
    }
    let loss = loss_sum.into_scalar::<f64>() / set.len().max(1) as f64;
    Ok((probs, loss))
}

/// Accuracy, precision, recall, F1, loss and confusion matrix on `set`.
pub fn evaluate(model: &SentimentModel, set: &EncodedSet, device: &Device) -> Result<BinaryMetrics> {
    let (p, loss) = probabilities(model, set, device)?;
    Ok(BinaryMetrics::from_predictions(&p, &set.labels, loss))
}

/// The positive-class probability of already-encoded texts.
pub fn predict_encoded(model: &SentimentModel, encoded: &[Encoded], device: &Device) -> Result<Vec<f32>> {
    if encoded.is_empty() {
        return Ok(Vec::new());
    }
    let set = EncodedSet {
        width: encoded[0].ids.len(),
        ids: encoded.iter().flat_map(|e| e.ids.iter().map(|&i| i as i64)).collect(),
        weights: encoded.iter().flat_map(|e| e.weights.iter().copied()).collect(),
        labels: vec![0; encoded.len()],
        cut: 0,
    };
    Ok(probabilities(model, &set, device)?.0)
}

/// The label of a positive-class probability: `positive` from 0.5 up, else `negative`.
pub fn label(p: f32) -> &'static str {
    if p >= 0.5 { "positive" } else { "negative" }
}

impl Classifier {
    /// The positive-class probability of each text (no checks: see `query` for those).
    pub fn predict(&self, texts: &[&str], device: &Device) -> Result<Vec<f32>> {
        let enc: Vec<Encoded> = texts.iter().map(|t| self.encoder.encode(t)).collect();
        predict_encoded(&self.model, &enc, device)
    }

    /// The model's parameter count.
    pub fn num_params(&self) -> usize {
        self.model.num_params()
    }
}
