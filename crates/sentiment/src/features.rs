//! Text → model input. One [`Encoder`] per model kind, saved with the model so a query is
//! encoded exactly as the training sentences were.
//!
//! Both encoders produce the same shape of input, a row of `width` ids plus a row of `width`
//! weights:
//! - `Sequence` (seed model): Keras word ids padded/truncated to `maxlen`; weight 1 on words,
//!   0 on padding (the mask of the masked mean).
//! - `Ngrams` (NB model): ids of the text's distinct known n-grams and their NB log-count
//!   ratios; id 0 / weight 0 fill the rest.

use anyhow::Result;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::ngrams::NgramTable;
use crate::tokenizer::{Side, Tokenizer, pad, words};

/// How texts become model input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Encoder {
    /// Keras `texts_to_sequences` + `pad_sequences`.
    Sequence {
        /// The fitted tokenizer (its vocabulary is saved with the model).
        tokenizer: Tokenizer,
        /// Sequence length.
        maxlen: usize,
        /// Where padding goes.
        padding: Side,
        /// Where long texts are cut.
        truncating: Side,
    },
    /// NB-weighted distinct n-grams.
    Ngrams {
        /// The fitted n-gram table.
        table: NgramTable,
        /// N-grams per text (unigrams come first, so the longest texts lose bigrams first).
        width: usize,
    },
}

/// One encoded text and what a user should be told about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// `width` ids.
    pub ids: Vec<u32>,
    /// `width` weights.
    pub weights: Vec<f32>,
    /// Words in the text (after Keras's filtering).
    pub words: usize,
    /// Words or n-grams the model knows.
    pub known: usize,
    /// Known items beyond `width`, left out.
    pub cut: usize,
}

impl Encoder {
    /// Width of every encoded row.
    pub fn width(&self) -> usize {
        match self {
            Encoder::Sequence { maxlen, .. } => *maxlen,
            Encoder::Ngrams { width, .. } => *width,
        }
    }

    /// Rebuild lookup tables after deserialising.
    pub fn restore(self) -> Result<Self> {
        Ok(match self {
            Encoder::Sequence {
                tokenizer,
                maxlen,
                padding,
                truncating,
            } => Encoder::Sequence {
                tokenizer: tokenizer.restore()?,
                maxlen,
                padding,
                truncating,
            },
            Encoder::Ngrams { table, width } => Encoder::Ngrams {
                table: table.restore()?,
                width,
            },
        })
    }

    /// Encode one text.
    pub fn encode(&self, text: &str) -> Encoded {
        let n_words = words(text).len();
        match self {
            Encoder::Sequence {
                tokenizer,
                maxlen,
                padding,
                truncating,
            } => {
                let seq = tokenizer.encode(text);
                let ids = pad(&seq, *maxlen, *padding, *truncating, 0);
                let weights = ids.iter().map(|&i| (i != 0) as u8 as f32).collect();
                Encoded {
                    ids,
                    weights,
                    words: n_words,
                    known: tokenizer.known_words(text),
                    cut: seq.len().saturating_sub(*maxlen),
                }
            }
            Encoder::Ngrams { table, width } => {
                let f = table.encode(text);
                let known = f.ids.len();
                let mut ids = f.ids;
                let mut weights = f.ratios;
                ids.truncate(*width);
                weights.truncate(*width);
                ids.resize(*width, 0);
                weights.resize(*width, 0.0);
                Encoded {
                    ids,
                    weights,
                    words: n_words,
                    known,
                    cut: known.saturating_sub(*width),
                }
            }
        }
    }

    /// Encode many labelled texts into contiguous buffers.
    pub fn encode_set<S: AsRef<str>>(&self, texts: &[S], labels: &[u8]) -> EncodedSet {
        let width = self.width();
        let mut set = EncodedSet {
            ids: Vec::with_capacity(texts.len() * width),
            weights: Vec::with_capacity(texts.len() * width),
            labels: labels.iter().map(|&l| l as i64).collect(),
            width,
            cut: 0,
        };
        for t in texts {
            let e = self.encode(t.as_ref());
            set.ids.extend(e.ids.iter().map(|&i| i as i64));
            set.weights.extend(e.weights);
            set.cut += (e.cut > 0) as usize;
        }
        set
    }
}

/// Encoded texts, row-major `[n, width]`, ready to be sliced into batches.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedSet {
    /// Ids, `[n, width]`.
    pub ids: Vec<i64>,
    /// Weights, `[n, width]`.
    pub weights: Vec<f32>,
    /// Labels, `[n]`.
    pub labels: Vec<i64>,
    /// Row width.
    pub width: usize,
    /// Texts that lost items to the width limit.
    pub cut: usize,
}

/// One batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[batch, width]`.
    pub ids: Tensor<2, Int>,
    /// `[batch, width]`.
    pub weights: Tensor<2>,
    /// `[batch]`, 0 or 1.
    pub targets: Tensor<1, Int>,
}

impl EncodedSet {
    /// Number of texts.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no texts.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The rows `rows` as one batch on `device`, built from the contiguous buffers.
    pub fn batch(&self, rows: &[usize], device: &Device) -> Batch {
        let w = self.width;
        let mut ids = Vec::with_capacity(rows.len() * w);
        let mut weights = Vec::with_capacity(rows.len() * w);
        let mut labels = Vec::with_capacity(rows.len());
        for &r in rows {
            ids.extend_from_slice(&self.ids[r * w..(r + 1) * w]);
            weights.extend_from_slice(&self.weights[r * w..(r + 1) * w]);
            labels.push(self.labels[r]);
        }
        let n = rows.len();
        Batch {
            ids: Tensor::from_data(TensorData::new(ids, [n, w]), device),
            weights: Tensor::from_data(TensorData::new(weights, [n, w]), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}
