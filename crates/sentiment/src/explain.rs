//! What a prediction rests on, for people: each word (seed model) or n-gram (NB model) of a text
//! with what the model did with it — kept, unknown to it, or cut by the input width — and, for
//! the NB model, each kept n-gram's contribution to the logit. Used by `gradlab-web`'s
//! sentiment panel; the checks and warnings are [`crate::query`]'s, so the page tells what the
//! CLI tells.
//!
//! The NB model's logit is a sum: `logit = b + Σ_j r_j·w_j` over the kept n-grams (`r_j` the
//! n-gram's NB log-count ratio, `w_j` its learnt weight), so `contribution_j = r_j·w_j` and the
//! contributions plus [`Explained::bias`] give back the logit (tested). The seed model averages
//! embeddings through a hidden layer: no per-word sum exists, so its words carry no
//! contribution rather than a made-up one.

use anyhow::Result;
use burn::tensor::Device;
use serde::Serialize;

use crate::features::Encoder;
use crate::inference::{Classifier, label, predict_encoded};
use crate::model::SentimentModel;
use crate::ngrams::{NgramTable, ngrams};
use crate::query::{Checked, check};
use crate::tokenizer::{Side, Tokenizer, words};

/// What the model did with one word or n-gram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fate {
    /// Part of the model's input.
    Kept,
    /// Not in the model's vocabulary (the seed model reads it as its OOV token; the NB model
    /// drops it).
    Unknown,
    /// Known, but beyond the model's input width: left out.
    Cut,
}

/// One word or n-gram of a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// The word or n-gram, as the tokenizer saw it (lower case, punctuation removed).
    pub text: String,
    /// What the model did with it.
    pub fate: Fate,
    /// NB model, kept n-grams: `r·w`, its share of the logit (positive pushes towards
    /// "positive").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contribution: Option<f32>,
}

/// One text's prediction and what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explained {
    /// Probability of "positive".
    pub probability: f32,
    /// "positive" from 0.5 up, else "negative".
    pub label: &'static str,
    /// The text's words (seed model) or its unigrams and known bigrams (NB model), in order.
    pub items: Vec<Item>,
    /// NB model: the bias `b` of the logit (None for the seed model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bias: Option<f32>,
    /// [`crate::query::check`]'s warnings (no known word, text cut): shown, not hidden.
    pub warnings: Vec<String>,
}

/// Check every text as `sentiment predict` does; the first refused one is `Err((index, why))`.
pub fn check_all(classifier: &Classifier, texts: &[&str]) -> Result<Vec<Checked>, (usize, String)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| check(&classifier.encoder, t).map_err(|why| (i, why)))
        .collect()
}

/// Predict and explain texts already passed by [`check_all`] (`texts[i]` ↔ `checked[i]`).
pub fn explain(
    classifier: &Classifier,
    texts: &[&str],
    checked: &[Checked],
    device: &Device,
) -> Result<Vec<Explained>> {
    let encoded: Vec<_> = checked.iter().map(|c| c.encoded.clone()).collect();
    let probs = predict_encoded(&classifier.model, &encoded, device)?;
    let mut out = Vec::with_capacity(texts.len());
    for ((text, c), p) in texts.iter().zip(checked).zip(probs) {
        let (items, bias) = match &classifier.encoder {
            Encoder::Sequence {
                tokenizer,
                maxlen,
                truncating,
                ..
            } => (word_items(tokenizer, *maxlen, *truncating, text), None),
            Encoder::Ngrams { table, width } => ngram_items(&classifier.model, table, *width, text),
        };
        out.push(Explained {
            probability: p,
            label: label(p),
            items,
            bias,
            warnings: c.warnings.clone(),
        });
    }
    Ok(out)
}

/// The seed model's words: kept (in the vocabulary), unknown, or cut by `pad`'s truncation.
fn word_items(tokenizer: &Tokenizer, maxlen: usize, truncating: Side, text: &str) -> Vec<Item> {
    let oov = tokenizer.oov_index().is_some();
    let mut items: Vec<Item> = words(text)
        .into_iter()
        .map(|w| Item {
            fate: if tokenizer.kept_id(&w).is_some() {
                Fate::Kept
            } else {
                Fate::Unknown
            },
            text: w,
            contribution: None,
        })
        .collect();
    // The sequence the model reads holds the kept words and, with an OOV token, the unknown
    // ones too; `pad` cuts it on the `truncating` side.
    let in_seq: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].fate == Fate::Kept || oov)
        .collect();
    if in_seq.len() > maxlen {
        let cut = match truncating {
            Side::Pre => &in_seq[..in_seq.len() - maxlen],
            Side::Post => &in_seq[maxlen..],
        };
        // An unknown word stays `unknown` wherever it is: that says more than `cut`.
        for &i in cut {
            if items[i].fate == Fate::Kept {
                items[i].fate = Fate::Cut;
            }
        }
    }
    items
}

/// The NB model's n-grams: the first `width` known ones kept (with `r·w`), the rest cut, unknown
/// words listed; and the bias.
fn ngram_items(model: &SentimentModel, table: &NgramTable, width: usize, text: &str) -> (Vec<Item>, Option<f32>) {
    let mut items = Vec::new();
    let mut kept = Vec::new(); // (position in items, id, ratio)
    let mut known = 0;
    for g in ngrams(text, table.max_n) {
        match table.id(&g) {
            Some(id) => {
                known += 1;
                let fate = if known <= width { Fate::Kept } else { Fate::Cut };
                if fate == Fate::Kept {
                    kept.push((items.len(), id, table.ratio(&g).unwrap_or(0.0)));
                }
                items.push(Item {
                    text: g,
                    fate,
                    contribution: None,
                });
            }
            // Unknown bigrams are most bigrams: only unknown words are worth a mention.
            None if !g.contains(' ') => items.push(Item {
                text: g,
                fate: Fate::Unknown,
                contribution: None,
            }),
            None => {}
        }
    }
    let ids: Vec<u32> = kept.iter().map(|k| k.1).collect();
    let bias = model.ngram_weights(&ids).map(|(w, b)| {
        for ((at, _, r), w) in kept.iter().zip(w) {
            items[*at].contribution = Some(r * w);
        }
        b
    });
    (items, bias)
}
