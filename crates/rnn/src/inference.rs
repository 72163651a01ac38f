//! Using a trained model on any text: how well it predicts each next character (`rnn eval
//! --text FILE`), so a model trained on one book can be asked about another.

use std::collections::HashMap;

use crate::data::Vocab;
use crate::manual::{Params, loss_per_char};

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
