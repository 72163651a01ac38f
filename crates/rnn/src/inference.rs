//! Using a trained model: its folder (`model.bpk`, the weights, and `model.json`, the hidden
//! size and the vocabulary) saved and loaded, and how well it predicts each next character of
//! any text ([`score_text`]; [`eval_text`] is `rnn eval --text FILE`), so a model trained on one
//! book can be asked about another.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use gradlab::report::write_json;
use serde::{Deserialize, Serialize};

use crate::config::MAX_HIDDEN;
use crate::data::Vocab;
use crate::manual::{Params, loss_per_char};
use crate::model::CharRnn;

/// Tag in `model.json`.
pub const FORMAT: &str = "gradlab-rnn/1";

/// Largest text [`eval_text`] reads.
pub const MAX_EVAL_BYTES: u64 = 64 << 20;

/// What `model.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    hidden: usize,
    vocab: Vec<char>,
}

/// A loaded model: weights and the characters they index.
#[derive(Debug, Clone)]
pub struct CharModel {
    /// The weights (f64).
    pub params: Params,
    /// The characters.
    pub vocab: Vocab,
}

/// Save `cell` and the vocabulary into the folder `dir`: `model.bpk` (the cell's weights as it
/// holds them: f32 from either engine), then `model.json`.
pub fn save_model(dir: &Path, cell: &CharRnn, vocab: &Vocab) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    gradlab::checkpoint::save_module(cell.clone(), &dir.join("model.bpk"))?;
    let m = Manifest {
        format: FORMAT.into(),
        hidden: cell.hidden(),
        vocab: vocab.chars().to_vec(),
    };
    write_json(&dir.join("model.json"), &m)
}

/// Load a model saved by [`save_model`] (`path`: the folder or a file in it), its weights
/// read back as f64.
pub fn load_model(path: &Path) -> Result<CharModel> {
    let (dir, m): (PathBuf, Manifest) = gradlab::checkpoint::read_model_manifest(path, "an rnn model", FORMAT)?;
    let jp = dir.join("model.json");
    let vocab = Vocab::from_chars(m.vocab).with_context(|| jp.display().to_string())?;
    // The file decides how much memory the model takes: bound it as the config bounds `hidden`.
    gradlab::config::check_range("hidden", m.hidden, 1, MAX_HIDDEN)
        .with_context(|| format!("{}: not a model gradlab can load", jp.display()))?;
    let device = gradlab::backend::host_device();
    let cell =
        gradlab::checkpoint::load_module(CharRnn::zeros(m.hidden, vocab.len(), &device), &dir.join("model.bpk"))?;
    Ok(CharModel {
        params: cell.to_params(),
        vocab,
    })
}

/// How well a model predicts a text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextScore {
    /// Characters in the text.
    pub chars: usize,
    /// Next-character predictions scored: pairs of neighbouring characters both in the
    /// model's vocabulary.
    pub scored: usize,
    /// Mean loss of those predictions, nats per character (NaN when none was scored).
    pub nats_per_char: f64,
    /// Characters outside the vocabulary and how often each occurs, most frequent first.
    pub unknown: Vec<(char, usize)>,
    /// Stretches of known characters the text falls into (the hidden state restarts at zero at
    /// the start of each: an unknown character cannot be fed to the model).
    pub stretches: usize,
}

impl TextScore {
    /// Characters outside the vocabulary, in all.
    pub fn unknown_total(&self) -> usize {
        self.unknown.iter().map(|(_, n)| n).sum()
    }
}

/// Score `text` with the model: every character that follows a known character and is itself
/// known is predicted and scored; unknown characters are counted (never dropped silently) and
/// split the text into stretches, each started from a zero hidden state as training does.
pub fn score_text(params: &Params, vocab: &Vocab, text: &str) -> TextScore {
    let mut unknown: HashMap<char, usize> = HashMap::new();
    let mut total = 0.0;
    let mut scored = 0;
    let mut stretches = 0;
    let mut chars = 0;
    let mut run: Vec<usize> = Vec::new();
    let flush = |run: &mut Vec<usize>, total: &mut f64, scored: &mut usize, stretches: &mut usize| {
        if !run.is_empty() {
            *stretches += 1;
        }
        if run.len() >= 2 {
            *total += loss_per_char(params, run) * (run.len() - 1) as f64;
            *scored += run.len() - 1;
        }
        run.clear();
    };
    for c in text.chars() {
        chars += 1;
        match vocab.id(c) {
            Some(id) => run.push(id),
            None => {
                *unknown.entry(c).or_default() += 1;
                flush(&mut run, &mut total, &mut scored, &mut stretches);
            }
        }
    }
    flush(&mut run, &mut total, &mut scored, &mut stretches);
    let mut unknown: Vec<(char, usize)> = unknown.into_iter().collect();
    unknown.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    TextScore {
        chars,
        scored,
        nats_per_char: if scored == 0 { f64::NAN } else { total / scored as f64 },
        unknown,
        stretches,
    }
}

/// `rnn eval --text FILE`: print the model's loss on the file, with the characters it cannot
/// read; an error when nothing in it can be scored.
pub fn eval_text(m: &CharModel, file: &Path) -> Result<()> {
    let text = read_text(file)?;
    let s = score_text(&m.params, &m.vocab, &text);
    println!(
        "text: {} — {}, {} of them outside the model's vocabulary of {} ({:.2} %)",
        file.display(),
        gradlab::count(s.chars, "character"),
        s.unknown_total(),
        m.vocab.len(),
        100.0 * s.unknown_total() as f64 / s.chars.max(1) as f64
    );
    if !s.unknown.is_empty() {
        let shown: Vec<String> = s.unknown.iter().take(12).map(|(c, n)| format!("{c:?} ×{n}")).collect();
        println!(
            "not in the vocabulary: {}{} — not scored; the hidden state restarts after each ({} stretches of known text)",
            shown.join(", "),
            if s.unknown.len() > 12 {
                format!(" and {} more", s.unknown.len() - 12)
            } else {
                String::new()
            },
            s.stretches
        );
    }
    ensure!(
        s.scored > 0,
        "{}: no two neighbouring characters are both in the model's vocabulary: nothing to score",
        file.display()
    );
    println!(
        "loss: {:.4} nats/char ({:.4} bits/char) over {} predictions",
        s.nats_per_char,
        s.nats_per_char / std::f64::consts::LN_2,
        s.scored
    );
    Ok(())
}

/// The text of `file`: UTF-8, at most [`MAX_EVAL_BYTES`] (checked before it is read).
fn read_text(file: &Path) -> Result<String> {
    let bytes = gradlab::io::read_bounded(file, MAX_EVAL_BYTES, "`eval --text`")?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            file.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> (Params, Vocab) {
        let vocab = Vocab::from_text("abc ").unwrap();
        (Params::random(8, vocab.len(), 0.1, 3), vocab)
    }

    #[test]
    fn a_text_in_the_vocabulary_scores_as_the_validation_loss_does() {
        let (p, v) = model();
        let text = "abc cab bca";
        let s = score_text(&p, &v, text);
        let ids = v.encode(text).unwrap();
        assert_eq!((s.chars, s.scored, s.stretches), (11, 10, 1));
        assert!((s.nats_per_char - loss_per_char(&p, &ids)).abs() < 1e-12);
        assert!(s.unknown.is_empty());
    }

    #[test]
    fn unknown_characters_are_counted_and_split_the_text() {
        let (p, v) = model();
        let s = score_text(&p, &v, "abXcab YYb");
        assert_eq!(s.unknown, vec![('Y', 2), ('X', 1)]);
        assert_eq!(s.unknown_total(), 3);
        // Stretches "ab", "cab ", "b": 1 + 3 + 0 predictions.
        assert_eq!((s.chars, s.scored, s.stretches), (10, 4, 3));
        let want =
            (loss_per_char(&p, &v.encode("ab").unwrap()) + 3.0 * loss_per_char(&p, &v.encode("cab ").unwrap())) / 4.0;
        assert!((s.nats_per_char - want).abs() < 1e-12);
        // Nothing scorable: NaN, not a made-up figure.
        assert!(score_text(&p, &v, "XYZ").nats_per_char.is_nan());
    }
}
