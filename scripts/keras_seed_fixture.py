#!/usr/bin/env python3
"""Write the Keras golden fixture for the sentiment seed's tokenizer.

Fits the legacy Keras 2 tokenizer (the `tf_keras` package: `tf_keras.preprocessing.text.
Tokenizer`, `tf_keras.preprocessing.sequence.pad_sequences`) on the seed example's five
sentences, with the seed's settings (num_words=100, oov_token="<OOV>", maxlen=10,
padding="post", truncating="post"), and records what Keras produced: the word index (as Keras
built it, and as [word, index] pairs in index order), the word counts (in Keras's insertion
order, as [word, count] pairs), the sequences and padded sequences of the five sentences and
of the query, plus a few probes for golden tests (a text longer than maxlen, an empty string,
punctuation only), and the versions of the tools.

The JSON is deterministic for a given tool version: keys sorted where Keras's order does not
matter, pairs lists where it does, indent=2, trailing newline. It is written to --out (default
crates/sentiment/tests/fixtures/keras_seed_tokenizer.json, relative to the repository root)
and printed to stdout. Needs only the standard library and tf_keras (which brings TensorFlow):

    python3 -m venv venv && venv/bin/pip install tensorflow-cpu tf_keras
    venv/bin/python scripts/keras_seed_fixture.py [--out FILE]
"""

import argparse
import json
import os
import platform
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "crates", "sentiment", "tests", "fixtures", "keras_seed_tokenizer.json")

# The seed example, verbatim.
SENTENCES = [
    "I love this movie!",
    "This film is terrible.",
    "The acting was superb.",
    "I wouldn't recommend it.",
    "A must-watch for everyone!",
]
LABELS = [1, 0, 1, 0, 1]
QUERY = "This movie is amazing!"
# ANCHOR: settings
NUM_WORDS = 100
OOV_TOKEN = "<OOV>"
MAXLEN = 10
PADDING = "post"
TRUNCATING = "post"
# ANCHOR_END: settings

# Extra texts for golden tests: longer than maxlen (shows truncating="post" and OOV words),
# empty, and punctuation only (both encode to no words, so pad to all zeros).
PROBES = [
    "I wouldn't recommend this terrible movie at all, it is not a must-watch!",
    "",
    "!!!",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="where to write the JSON (default: %(default)s)")
    a = ap.parse_args()

    try:
        import tensorflow as tf
        import tf_keras
        from tf_keras.preprocessing.sequence import pad_sequences
        from tf_keras.preprocessing.text import Tokenizer
    except ImportError as e:
        sys.exit(f"error: {e.name} is not installed (pip install tensorflow-cpu tf_keras)")

    # ANCHOR: tokenizer
    tok = Tokenizer(num_words=NUM_WORDS, oov_token=OOV_TOKEN)
    tok.fit_on_texts(SENTENCES)

    def encode(texts):
        seqs = tok.texts_to_sequences(texts)
        padded = pad_sequences(seqs, maxlen=MAXLEN, padding=PADDING, truncating=TRUNCATING)
        return [[int(i) for i in s] for s in seqs], [[int(i) for i in row] for row in padded.tolist()]
    # ANCHOR_END: tokenizer

    sequences, padded = encode(SENTENCES)
    (query_sequence,), (query_padded,) = encode([QUERY])
    probes = []
    for text in PROBES:
        (seq,), (pad,) = encode([text])
        probes.append({"text": text, "sequence": seq, "padded": pad})

    fixture = {
        "tool": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "tf_keras": tf_keras.__version__,
            "tokenizer": "tf_keras.preprocessing.text.Tokenizer",
            "pad_sequences": "tf_keras.preprocessing.sequence.pad_sequences",
        },
        "inputs": {
            "sentences": SENTENCES,
            "labels": LABELS,
            "query": QUERY,
            "num_words": NUM_WORDS,
            "oov_token": OOV_TOKEN,
            "maxlen": MAXLEN,
            "padding": PADDING,
            "truncating": TRUNCATING,
        },
        # The full dict (Keras keeps every word, num_words only applies at encode time); written
        # with sorted keys, so its order carries no meaning: word_index_pairs has the index order.
        "word_index": {w: int(i) for w, i in tok.word_index.items()},
        "word_index_pairs": [[w, int(i)] for w, i in sorted(tok.word_index.items(), key=lambda p: p[1])],
        # Keras's OrderedDict order: first appearance in the fitted texts.
        "word_counts": [[w, int(c)] for w, c in tok.word_counts.items()],
        "sequences": sequences,
        "padded": padded,
        "query_sequence": query_sequence,
        "query_padded": query_padded,
        "probes": probes,
    }

    text = json.dumps(fixture, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, a.out)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
