//! The corpus: a UTF-8 text, its character vocabulary, and the train/validation split (the
//! last `valid_fraction` of the text is held out).

use std::path::Path;

use anyhow::{Context, Result, bail};
use gradlab::data::source::{Bundled, DataFile};
use serde::{Deserialize, Serialize};

/// The characters a model knows, in sorted order; a character's id is its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocab {
    chars: Vec<char>,
}

impl Vocab {
    /// The distinct characters of `text`. Needs at least two: with one there is nothing to
    /// predict.
    pub fn from_text(text: &str) -> Result<Self> {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        match chars.len() {
            0 => bail!("the corpus is empty"),
            1 => bail!(
                "the corpus has only one distinct character ({:?}); a language model needs at least two",
                chars[0]
            ),
            _ => Ok(Vocab { chars }),
        }
    }

    /// Rebuild from saved characters, checking them.
    pub fn from_chars(chars: Vec<char>) -> Result<Self> {
        if chars.len() < 2 || chars.windows(2).any(|w| w[0] >= w[1]) {
            bail!("a saved vocabulary must hold at least two distinct characters in sorted order");
        }
        Ok(Vocab { chars })
    }

    /// Number of characters, `V`.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Always false (a vocabulary has at least two characters).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`.
    pub fn id(&self, c: char) -> Option<usize> {
        self.chars.binary_search(&c).ok()
    }

    /// The character with id `i`.
    pub fn char(&self, i: usize) -> char {
        self.chars[i]
    }

    /// Ids of every character of `text`, or an error listing the unknown ones.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        let mut unknown: Vec<char> = text.chars().filter(|&c| self.id(c).is_none()).collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            unknown.dedup();
            bail!(
                "{} character(s) not in the model's vocabulary of {}: {}",
                unknown.len(),
                self.len(),
                unknown.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
            );
        }
        Ok(text.chars().filter_map(|c| self.id(c)).collect())
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter().map(|&i| self.chars[i]).collect()
    }
}

/// The encoded corpus, split.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The characters.
    pub vocab: Vocab,
    /// Training ids (the first part of the text).
    pub train: Vec<usize>,
    /// Validation ids (the last part).
    pub valid: Vec<usize>,
    /// One line for logs.
    pub description: String,
}

/// Build the corpus from `text`: vocabulary from the whole text, the last `valid_fraction`
/// held out. `limit > 0` keeps only the first `limit` characters.
pub fn corpus_from_text(text: &str, valid_fraction: f64, limit: usize, source: &str) -> Result<Corpus> {
    let text: String = if limit > 0 {
        text.chars().take(limit).collect()
    } else {
        text.to_owned()
    };
    let vocab = Vocab::from_text(&text).with_context(|| format!("{source}: cannot train on it"))?;
    let ids = vocab.encode(&text)?;
    let n_valid = ((ids.len() as f64) * valid_fraction).round() as usize;
    if n_valid < 2 || ids.len() - n_valid < 2 {
        bail!(
            "{source}: {} characters are too few to hold out {:.0}% for validation (each part needs at least 2)",
            ids.len(),
            100.0 * valid_fraction
        );
    }
    let split = ids.len() - n_valid;
    let description = format!(
        "{source}: {} characters, {} distinct; {} for training, the last {} for validation",
        ids.len(),
        vocab.len(),
        split,
        n_valid
    );
    Ok(Corpus {
        train: ids[..split].to_vec(),
        valid: ids[split..].to_vec(),
        vocab,
        description,
    })
}

/// *Pride and Prejudice*, built into the binary (0.7 MB), so an installed `rnn` works from any
/// folder.
pub static AUSTEN: Bundled = Bundled {
    path: "datasets/austen/prideprejudice.txt",
    bytes: include_bytes!("../../../datasets/austen/prideprejudice.txt"),
};

/// Read `path` (UTF-8) and build the corpus.
pub fn load(path: &Path, valid_fraction: f64, limit: usize) -> Result<Corpus> {
    load_from(&DataFile::Path(path.to_path_buf()), valid_fraction, limit)
}

/// The corpus a config's `data_file` names, found as [`gradlab::data::source::find`] says (the
/// bundled novel last).
pub fn find(data_file: &Path) -> DataFile {
    gradlab::data::source::find(data_file, Some(&AUSTEN))
}

/// Read a found file (UTF-8; on disk or bundled) and build the corpus.
pub fn load_from(file: &DataFile, valid_fraction: f64, limit: usize) -> Result<Corpus> {
    let name = file.describe();
    let bytes = file
        .read()
        .with_context(|| format!("cannot read the corpus {name}"))?
        .into_owned();
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{name}: not UTF-8 (byte {})", e.utf8_error().valid_up_to()))?;
    corpus_from_text(&text, valid_fraction, limit, &name)
}
