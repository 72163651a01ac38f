//! Naive-Bayes-weighted n-gram features (Wang & Manning 2012, "Baselines and Bigrams": NBSVM),
//! the input of the stronger model.
//!
//! Each text becomes the set of its distinct unigrams and bigrams (binarised counts). From the
//! training texts only, every n-gram `j` gets the log-count ratio
//!
//! ```text
//! r_j = ln( (α + pos_j) / (α·V + Σ pos) ) − ln( (α + neg_j) / (α·V + Σ neg) )
//! ```
//!
//! where `pos_j` / `neg_j` count the positive / negative training texts containing `j` and `V` is
//! the number of n-grams. `Σ_j r_j` over a text's n-grams is the multinomial-NB log-odds; the
//! model learns a correction on top of it (see `model::NbNet`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::tokenizer::words;

/// The n-grams of one text: distinct unigrams and bigrams, in order of first appearance.
pub fn ngrams(text: &str, max_n: usize) -> Vec<String> {
    let w = words(text);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for n in 1..=max_n.max(1) {
        for win in w.windows(n) {
            let g = win.join(" ");
            if seen.insert(g.clone()) {
                out.push(g);
            }
        }
    }
    out
}

/// The fitted n-gram table: ids (0 is padding) and NB log-count ratios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NgramTable {
    /// Largest n (2: unigrams and bigrams).
    pub max_n: usize,
    /// N-grams by id: `grams[i]` has id `i + 1`.
    grams: Vec<String>,
    /// `ratios[i]` is the log-count ratio of `grams[i]`.
    ratios: Vec<f32>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

/// One encoded text: n-gram ids and their ratios, same length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NgramFeatures {
    /// Ids of the known n-grams (each once).
    pub ids: Vec<u32>,
    /// Their log-count ratios.
    pub ratios: Vec<f32>,
}

impl NgramTable {
    /// Count n-grams over labelled training texts (`label` 1 = positive) and compute the ratios
    /// with smoothing `alpha`. N-grams seen fewer than `min_count` times are left out.
    pub fn fit<S: AsRef<str>>(texts: &[S], labels: &[u8], max_n: usize, alpha: f64, min_count: usize) -> Self {
        let mut at: HashMap<String, usize> = HashMap::new();
        let mut counts: Vec<[u64; 2]> = Vec::new();
        let mut grams = Vec::new();
        for (text, &label) in texts.iter().zip(labels) {
            for g in ngrams(text.as_ref(), max_n) {
                let i = *at.entry(g.clone()).or_insert_with(|| {
                    grams.push(g);
                    counts.push([0, 0]);
                    counts.len() - 1
                });
                counts[i][(label > 0) as usize] += 1;
            }
        }
        let keep: Vec<usize> = (0..grams.len())
            .filter(|&i| (counts[i][0] + counts[i][1]) as usize >= min_count.max(1))
            .collect();
        let v = keep.len() as f64;
        let total = |c: usize| keep.iter().map(|&i| counts[i][c] as f64).sum::<f64>() + alpha * v;
        let (tot_neg, tot_pos) = (total(0), total(1));
        let ratios = keep
            .iter()
            .map(|&i| {
                let p = (alpha + counts[i][1] as f64) / tot_pos;
                let q = (alpha + counts[i][0] as f64) / tot_neg;
                (p.ln() - q.ln()) as f32
            })
            .collect();
        let grams: Vec<String> = keep.iter().map(|&i| grams[i].clone()).collect();
        Self::from_parts(max_n, grams, ratios)
    }

    fn from_parts(max_n: usize, grams: Vec<String>, ratios: Vec<f32>) -> Self {
        let index = crate::tokenizer::one_based_index(&grams);
        NgramTable {
            max_n,
            grams,
            ratios,
            index,
        }
    }

    /// Rebuild the lookup table after deserialising.
    pub fn restore(self) -> anyhow::Result<Self> {
        anyhow::ensure!(
            self.grams.len() == self.ratios.len(),
            "saved n-gram table has {} n-grams but {} ratios",
            self.grams.len(),
            self.ratios.len()
        );
        Ok(Self::from_parts(self.max_n, self.grams, self.ratios))
    }

    /// Number of n-grams (ids run 1..=len).
    pub fn len(&self) -> usize {
        self.grams.len()
    }

    /// True when no n-gram was kept.
    pub fn is_empty(&self) -> bool {
        self.grams.is_empty()
    }

    /// The ratio of an n-gram, if known.
    pub fn ratio(&self, gram: &str) -> Option<f32> {
        self.index.get(gram).map(|&i| self.ratios[i as usize - 1])
    }

    /// The id of a known n-gram.
    pub fn id(&self, gram: &str) -> Option<u32> {
        self.index.get(gram).copied()
    }

    /// The known n-grams of `text`; unknown ones are dropped (they carry no evidence).
    pub fn encode(&self, text: &str) -> NgramFeatures {
        let mut f = NgramFeatures::default();
        for g in ngrams(text, self.max_n) {
            if let Some(&i) = self.index.get(&g) {
                f.ids.push(i);
                f.ratios.push(self.ratios[i as usize - 1]);
            }
        }
        f
    }
}
