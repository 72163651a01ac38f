//! Checks on user text before prediction. Each awkward input has one defined behaviour:
//!
//! | input                                   | behaviour                                        |
//! |-----------------------------------------|--------------------------------------------------|
//! | empty or whitespace-only                | rejected: "empty text"                           |
//! | only punctuation (no words left)        | rejected: "no words"                             |
//! | over [`MAX_TEXT_BYTES`] bytes           | rejected: "too long"                             |
//! | invalid UTF-8 (file or stdin lines)     | rejected: "not valid UTF-8 at byte N"            |
//! | no word the model knows                 | predicted, with a warning (only the bias speaks) |
//! | longer than the model's input width     | predicted from the kept part, with a warning     |
//!
//! A rejected command-line text is an error (exit 2). In line mode (file or stdin) a rejected
//! line is reported on stderr with its line number, the other lines are still predicted, and
//! the command exits with status 1 at the end.

use std::io::BufRead;

use crate::features::{Encoded, Encoder};

/// The longest text accepted, in bytes (1 MiB).
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// A text ready to predict, with what the user should be told about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The model input.
    pub encoded: Encoded,
    /// Warnings (the prediction is still made).
    pub warnings: Vec<String>,
}

/// Check and encode one text; `Err` says why it cannot be predicted.
pub fn check(encoder: &Encoder, text: &str) -> Result<Checked, String> {
    if text.trim().is_empty() {
        return Err("empty text".into());
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "too long: {} bytes (the limit is {MAX_TEXT_BYTES})",
            text.len()
        ));
    }
    let encoded = encoder.encode(text);
    if encoded.words == 0 {
        return Err("no words (only punctuation or symbols)".into());
    }
    let mut warnings = Vec::new();
    if encoded.known == 0 {
        warnings.push(format!(
            "none of its {} word(s) is in the model's vocabulary; the probability reflects only the model's bias",
            encoded.words
        ));
    }
    if encoded.cut > 0 {
        let unit = match encoder {
            Encoder::Sequence { .. } => "word(s)",
            Encoder::Ngrams { .. } => "n-gram(s)",
        };
        warnings.push(format!(
            "{} {unit} beyond the model's input width of {} ignored",
            encoded.cut,
            encoder.width()
        ));
    }
    Ok(Checked { encoded, warnings })
}

/// Read lines (split on `\n`, a trailing `\r` removed) as text, or say why a line is not text.
pub fn read_lines(reader: impl BufRead) -> std::io::Result<Vec<Result<String, String>>> {
    let mut out = Vec::new();
    for line in reader.split(b'\n') {
        let mut bytes = line?;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        out.push(
            String::from_utf8(bytes).map_err(|e| format!("not valid UTF-8 at byte {}", e.utf8_error().valid_up_to())),
        );
    }
    Ok(out)
}
