//! A word tokenizer with the semantics of Keras's `Tokenizer` and `pad_sequences`
//! (`tf.keras.preprocessing.text` / `.sequence`), so sequences match what Keras users know.
//!
//! - Text → words: lowercase, every character of [`KERAS_FILTERS`] becomes a space, split on
//!   whitespace, empty pieces dropped (Keras's `text_to_word_sequence`). One deliberate
//!   difference: Keras splits on `' '` only, so a carriage return, form feed or no-break space
//!   stays inside a word there; here every Unicode whitespace character separates words.
//! - Word index: words ordered by count, most frequent first, ties by first appearance; the
//!   OOV token (when set) takes index 1; index 0 is never a word (it is the padding value).
//! - Encoding: a word whose index is `>= num_words` counts as out of vocabulary: it becomes the
//!   OOV index when there is an OOV token and is dropped otherwise (Keras's rule, which keeps
//!   the `num_words − 1` lowest indices, the OOV token among them).

use std::collections::HashMap;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// Keras's default `filters`: punctuation, tab and newline. The apostrophe is not among them,
/// so "don't" stays one word.
pub const KERAS_FILTERS: &str = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";

/// Split `text` into words the way Keras's `text_to_word_sequence` does (see the module docs).
pub fn words(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let cleaned: String = lower
        .chars()
        .map(|c| if KERAS_FILTERS.contains(c) { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().map(str::to_owned).collect()
}

/// A fitted tokenizer: the word index and the encoding rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tokenizer {
    /// Keep indices below this (`None`: keep every word).
    pub num_words: Option<usize>,
    /// The token for out-of-vocabulary words (index 1), if any.
    pub oov_token: Option<String>,
    /// Words by index: `vocab[i]` has index `i + 1` (the OOV token first when set).
    vocab: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl Tokenizer {
    /// Fit on `texts` (Keras's `Tokenizer(num_words, oov_token).fit_on_texts(texts)`).
    pub fn fit<S: AsRef<str>>(texts: &[S], num_words: Option<usize>, oov_token: Option<&str>) -> Self {
        // Counts in first-appearance order; a stable sort by count then breaks ties by it.
        let mut order: Vec<(String, u64)> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        for text in texts {
            for w in words(text.as_ref()) {
                match at.get(&w) {
                    Some(&i) => order[i].1 += 1,
                    None => {
                        at.insert(w.clone(), order.len());
                        order.push((w, 1));
                    }
                }
            }
        }
        order.sort_by_key(|w| std::cmp::Reverse(w.1));
        let mut vocab: Vec<String> = oov_token.map(str::to_owned).into_iter().collect();
        vocab.extend(
            order
                .into_iter()
                .map(|(w, _)| w)
                .filter(|w| Some(w.as_str()) != oov_token),
        );
        Self::from_vocab(vocab, num_words, oov_token.map(str::to_owned))
    }

    fn from_vocab(vocab: Vec<String>, num_words: Option<usize>, oov_token: Option<String>) -> Self {
        let index = one_based_index(&vocab);
        Tokenizer {
            num_words,
            oov_token,
            vocab,
            index,
        }
    }

    /// Rebuild the lookup table after deserialising; checks the saved vocabulary.
    pub fn restore(self) -> Result<Self> {
        if let Some(oov) = &self.oov_token
            && self.vocab.first() != Some(oov)
        {
            bail!("saved vocabulary does not start with the OOV token {oov:?}");
        }
        let t = Self::from_vocab(self.vocab, self.num_words, self.oov_token);
        if t.index.len() != t.vocab.len() {
            bail!("saved vocabulary has repeated words");
        }
        Ok(t)
    }

    /// The index of `word` (Keras's `word_index[word]`), ignoring `num_words`.
    pub fn word_index(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }

    /// Number of distinct words seen in fitting (plus the OOV token).
    pub fn vocab_len(&self) -> usize {
        self.vocab.len()
    }

    /// Size of an embedding table that can hold every index this tokenizer produces.
    pub fn embedding_rows(&self) -> usize {
        match self.num_words {
            Some(n) => n.min(self.vocab.len() + 1),
            None => self.vocab.len() + 1,
        }
    }

    /// The OOV index (1) when there is an OOV token.
    pub fn oov_index(&self) -> Option<u32> {
        self.oov_token.as_ref().map(|_| 1)
    }

    /// Encode one text (Keras's `texts_to_sequences([text])[0]`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let limit = self.num_words.unwrap_or(usize::MAX);
        let oov = self.oov_index();
        words(text)
            .iter()
            .filter_map(|w| match self.index.get(w) {
                Some(&i) if (i as usize) < limit => Some(i),
                _ => oov,
            })
            .collect()
    }

    /// The id `word` is encoded as when it is in the kept vocabulary (below `num_words`);
    /// `None` for a word the model does not know (it becomes the OOV id, or is dropped).
    pub fn kept_id(&self, word: &str) -> Option<u32> {
        let limit = self.num_words.unwrap_or(usize::MAX);
        self.index.get(word).copied().filter(|&i| (i as usize) < limit)
    }

    /// How many of `text`'s words are in the kept vocabulary (not OOV, not dropped).
    pub fn known_words(&self, text: &str) -> usize {
        let oov = self.oov_index();
        self.encode(text).iter().filter(|&&i| Some(i) != oov).count()
    }
}

/// Where `pad_sequences` pads or cuts: before the sequence or after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// At the start (Keras's default).
    Pre,
    /// At the end (the seed's choice).
    Post,
}

/// Keras's `pad_sequences(seq, maxlen, padding, truncating, value)` for one sequence: cut to
/// `maxlen` on the `truncating` side, then fill with `value` on the `padding` side.
pub fn pad(seq: &[u32], maxlen: usize, padding: Side, truncating: Side, value: u32) -> Vec<u32> {
    let kept = if seq.len() > maxlen {
        match truncating {
            Side::Pre => &seq[seq.len() - maxlen..],
            Side::Post => &seq[..maxlen],
        }
    } else {
        seq
    };
    let fill = std::iter::repeat_n(value, maxlen - kept.len());
    match padding {
        Side::Pre => fill.chain(kept.iter().copied()).collect(),
        Side::Post => kept.iter().copied().chain(fill).collect(),
    }
}

/// [`pad`] over many sequences; `maxlen = None` pads to the longest (as Keras does).
pub fn pad_sequences(seqs: &[Vec<u32>], maxlen: Option<usize>, padding: Side, truncating: Side) -> Vec<Vec<u32>> {
    let len = maxlen.unwrap_or_else(|| seqs.iter().map(Vec::len).max().unwrap_or(0));
    seqs.iter().map(|s| pad(s, len, padding, truncating, 0)).collect()
}

/// Each string's 1-based position (id 0 is padding), as the Keras tokenizer numbers words.
pub(crate) fn one_based_index(items: &[String]) -> HashMap<String, u32> {
    items
        .iter()
        .enumerate()
        .map(|(i, w)| (w.clone(), i as u32 + 1))
        .collect()
}
