//! Golden tests of the Keras-compatible tokenizer. The seed's values come from Keras itself:
//! `scripts/keras_seed_fixture.py` ran the legacy `tf_keras` 2.21.0 `Tokenizer` and
//! `pad_sequences` on the seed's five sentences and wrote
//! `tests/fixtures/keras_seed_tokenizer.json`:
//!
//! ```python
//! t = Tokenizer(num_words=100, oov_token="<OOV>"); t.fit_on_texts(sentences)
//! pad_sequences(t.texts_to_sequences(sentences), maxlen=10, padding="post", truncating="post")
//! ```

use sentiment::data::{SEED_QUERY, SEED_SENTENCES};
use sentiment::tokenizer::{Side, Tokenizer, pad, pad_sequences, words};

fn seed_texts() -> Vec<&'static str> {
    SEED_SENTENCES.iter().map(|(t, _)| *t).collect()
}

fn encode_padded(t: &Tokenizer, text: &str, maxlen: usize) -> Vec<u32> {
    pad(&t.encode(text), maxlen, Side::Post, Side::Post, 0)
}

fn fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras_seed_tokenizer.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn the_seed_sentences_are_the_seeds_own() {
    let f = fixture();
    let inputs = &f["inputs"];
    let sentences: Vec<&str> = inputs["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let labels: Vec<u8> = inputs["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(sentences, seed_texts());
    assert_eq!(labels, SEED_SENTENCES.iter().map(|(_, l)| *l).collect::<Vec<_>>());
    assert_eq!(inputs["query"], SEED_QUERY);
    assert_eq!(
        (inputs["num_words"].as_u64(), inputs["maxlen"].as_u64()),
        (Some(100), Some(10))
    );
}

#[test]
fn the_seed_sentences_encode_exactly_as_keras_encodes_them() {
    let f = fixture();
    let t = Tokenizer::fit(&seed_texts(), Some(100), Some("<OOV>"));
    for pair in f["word_index_pairs"].as_array().unwrap() {
        let (word, index) = (pair[0].as_str().unwrap(), pair[1].as_u64().unwrap() as u32);
        assert_eq!(t.word_index(word), Some(index), "{word}");
    }
    assert_eq!(t.embedding_rows(), f["word_index_pairs"].as_array().unwrap().len() + 1);
    for ((text, seq), padded) in seed_texts()
        .iter()
        .zip(f["sequences"].as_array().unwrap())
        .zip(f["padded"].as_array().unwrap())
    {
        assert_eq!(t.encode(text), ids(seq), "{text}");
        assert_eq!(encode_padded(&t, text, 10), ids(padded), "{text}");
    }
    assert_eq!(t.encode(SEED_QUERY), ids(&f["query_sequence"]));
    assert_eq!(encode_padded(&t, SEED_QUERY, 10), ids(&f["query_padded"]));
    for probe in f["probes"].as_array().unwrap() {
        let text = probe["text"].as_str().unwrap();
        assert_eq!(t.encode(text), ids(&probe["sequence"]), "{text:?}");
        assert_eq!(encode_padded(&t, text, 10), ids(&probe["padded"]), "{text:?}");
    }
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
