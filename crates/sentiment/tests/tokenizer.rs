//! Golden tests of the Keras-compatible tokenizer. Expected values follow Keras's
//! `Tokenizer.fit_on_texts` / `texts_to_sequences` / `pad_sequences` rules (TF 2.x
//! `keras.preprocessing`): e.g.
//!
//! ```python
//! t = Tokenizer(num_words=100, oov_token="<OOV>"); t.fit_on_texts(seed_sentences)
//! pad_sequences(t.texts_to_sequences(["I love this movie!"]), maxlen=10, padding="post")
//! # [[2, 4, 3, 5, 0, 0, 0, 0, 0, 0]]
//! ```

use sentiment::data::{SEED_QUERY, SEED_SENTENCES};
use sentiment::tokenizer::{Side, Tokenizer, pad, pad_sequences, words};

fn seed_texts() -> Vec<&'static str> {
    SEED_SENTENCES.iter().map(|(t, _)| *t).collect()
}

fn encode_padded(t: &Tokenizer, text: &str, maxlen: usize) -> Vec<u32> {
    pad(&t.encode(text), maxlen, Side::Post, Side::Post, 0)
}

#[test]
fn seed_sentences_encode_as_the_issue_quotes() {
    let t = Tokenizer::fit(&seed_texts(), Some(100), Some("<OOV>"));
    assert_eq!(
        encode_padded(&t, "I love this movie!", 10),
        [2, 4, 3, 5, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(encode_padded(&t, SEED_QUERY, 10), [3, 5, 7, 1, 0, 0, 0, 0, 0, 0]);
    // The word index: OOV first, then by count (i and this: 5, love and movie: 3, film and
    // is: 2), ties by first appearance.
    let idx: Vec<u32> = ["<OOV>", "i", "this", "love", "movie", "film", "is", "hate"]
        .iter()
        .map(|w| t.word_index(w).unwrap())
        .collect();
    assert_eq!(idx, [1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn punctuation_case_and_whitespace() {
    assert_eq!(
        words("Hello, World!! It's great---really\t(truly)\n\"10/10\""),
        ["hello", "world", "it's", "great", "really", "truly", "10", "10"]
    );
    assert!(words("  ?!... \t\n").is_empty());
    assert_eq!(words("ÉTÉ Straße"), ["été", "straße"]);
}

#[test]
fn ties_are_broken_by_first_appearance() {
    let t = Tokenizer::fit(&["b a", "a b", "c"], None, None);
    assert_eq!(t.word_index("b"), Some(1));
    assert_eq!(t.word_index("a"), Some(2));
    assert_eq!(t.word_index("c"), Some(3));
}

#[test]
fn num_words_keeps_the_lowest_indices() {
    // Keras keeps indices < num_words; the OOV token is index 1 and counts among them.
    let with_oov = Tokenizer::fit(&seed_texts(), Some(5), Some("<OOV>"));
    assert_eq!(with_oov.encode("I love this movie!"), [2, 4, 3, 1]);
    assert_eq!(with_oov.embedding_rows(), 5);
    // Without an OOV token, words past the limit are dropped.
    let no_oov = Tokenizer::fit(&seed_texts(), Some(4), None);
    assert_eq!(no_oov.word_index("movie"), Some(4));
    assert_eq!(no_oov.encode("I love this movie!"), [1, 3, 2]);
    let all = Tokenizer::fit(&seed_texts(), None, None);
    assert_eq!(all.encode("I love this movie!"), [1, 3, 2, 4]);
}

#[test]
fn unknown_words_become_oov_or_vanish() {
    let t = Tokenizer::fit(&seed_texts(), Some(100), Some("<OOV>"));
    assert_eq!(t.encode("Zebras love quantum movie"), [1, 4, 1, 5]);
    assert_eq!(t.known_words("Zebras love quantum movie"), 2);
    let t = Tokenizer::fit(&seed_texts(), Some(100), None);
    assert_eq!(t.encode("Zebras love quantum movie"), [3, 4]);
}

#[test]
fn padding_and_truncation_pre_and_post() {
    let s = [1, 2, 3, 4, 5];
    assert_eq!(pad(&s, 3, Side::Post, Side::Pre, 0), [3, 4, 5]);
    assert_eq!(pad(&s, 3, Side::Post, Side::Post, 0), [1, 2, 3]);
    assert_eq!(pad(&s[..2], 4, Side::Pre, Side::Pre, 0), [0, 0, 1, 2]);
    assert_eq!(pad(&s[..2], 4, Side::Post, Side::Pre, 0), [1, 2, 0, 0]);
    assert_eq!(pad(&[], 2, Side::Post, Side::Post, 0), [0, 0]);
    // maxlen = None pads to the longest, Keras's defaults are pre/pre.
    let out = pad_sequences(&[vec![7], vec![1, 2, 3]], None, Side::Pre, Side::Pre);
    assert_eq!(out, vec![vec![0, 0, 7], vec![1, 2, 3]]);
}

#[test]
fn vocabulary_survives_a_save_and_load() {
    let t = Tokenizer::fit(&seed_texts(), Some(100), Some("<OOV>"));
    let json = serde_json::to_string(&t).unwrap();
    let back: Tokenizer = serde_json::from_str(&json).unwrap();
    let back = back.restore().unwrap();
    assert_eq!(back, t);
    assert_eq!(back.encode(SEED_QUERY), t.encode(SEED_QUERY));
    let broken = json.replace("[\"<OOV>\",", "[");
    let bad: Tokenizer = serde_json::from_str(&broken).unwrap();
    assert!(bad.restore().is_err());
}
