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
//!
//! `sentiment predict`'s two modes are [`predict_texts`] (command-line texts) and
//! [`predict_lines`] (a file or standard input, one text per line).

use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, bail};
use burn::tensor::Device;

use crate::features::{Encoded, Encoder};
use crate::inference::{Classifier, label, predict_encoded};

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

/// A line read by [`read_lines`]: its text, or why it is not text.
type Line = Result<String, String>;

/// Predict texts given on the command line: any rejected text is an error (naming it, before
/// anything is predicted); prints `probability<TAB>label<TAB>text` per text, in order, and
/// each text's warnings on stderr.
pub fn predict_texts(classifier: &Classifier, texts: &[String], device: &Device) -> anyhow::Result<()> {
    let mut checked = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let c = check(&classifier.encoder, t).map_err(|why| anyhow::anyhow!("text {} {t:?}: {why}", i + 1))?;
        checked.push(c);
    }
    let probs = predict_checked(classifier, &checked, device)?;
    for (i, ((t, c), p)) in texts.iter().zip(&checked).zip(probs).enumerate() {
        for w in &c.warnings {
            eprintln!("warning: text {}: {w}", i + 1);
        }
        print_prediction(p, t);
    }
    Ok(())
}

/// Predict one text per line of `file` (`None` or `-`: standard input): one output line per
/// input line, in order, so scripts can pair them; a rejected line prints
/// `-<TAB>skipped<TAB>text` (the reason on stderr, naming the line). Returns how many lines
/// were skipped (the command then exits with status 1); no line at all is an error.
pub fn predict_lines(classifier: &Classifier, file: Option<&Path>, device: &Device) -> anyhow::Result<usize> {
    let (source, lines) = read_source(file)?;
    let mut rejected = 0;
    let mut ok: Vec<(usize, &str, Checked)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let checked = line
            .as_deref()
            .map_err(Clone::clone)
            .and_then(|t| Ok((t, check(&classifier.encoder, t)?)));
        match checked {
            Ok((t, c)) => ok.push((i + 1, t, c)),
            Err(why) => {
                eprintln!("{source}:{}: skipped: {why}", i + 1);
                rejected += 1;
            }
        }
    }
    let checked: Vec<Checked> = ok.iter().map(|(_, _, c)| c.clone()).collect();
    let probs = predict_checked(classifier, &checked, device)?;
    print_lines(&source, &lines, &ok, probs);
    if rejected > 0 {
        eprintln!("{rejected} line(s) of {source} skipped");
        return Ok(rejected);
    }
    if lines.is_empty() {
        bail!("{source}: no text to classify");
    }
    Ok(0)
}

/// The lines of `file` (`None` or `-`: standard input) and the name messages give the source.
fn read_source(file: Option<&Path>) -> anyhow::Result<(String, Vec<Line>)> {
    match file {
        Some(p) if p.as_os_str() != "-" => {
            let f = std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            Ok((p.display().to_string(), read_lines(BufReader::new(f))?))
        }
        _ => Ok(("<stdin>".to_string(), read_lines(std::io::stdin().lock())?)),
    }
}

/// Print a line per input line: the prediction of a checked line (`ok`: line number, text,
/// check; `probs` in the same order) after its warnings on stderr, or the skipped line, cut
/// to 200 characters.
fn print_lines(source: &str, lines: &[Line], ok: &[(usize, &str, Checked)], probs: Vec<f32>) {
    let mut predicted = ok.iter().zip(probs).peekable();
    for (i, line) in lines.iter().enumerate() {
        match predicted.next_if(|((n, _, _), _)| *n == i + 1) {
            Some(((n, t, c), p)) => {
                for w in &c.warnings {
                    eprintln!("{source}:{n}: warning: {w}");
                }
                print_prediction(p, t);
            }
            None => {
                let text = line.as_deref().unwrap_or("");
                match text.char_indices().nth(200) {
                    Some((cut, _)) => println!("-\tskipped\t{}…", &text[..cut]),
                    None => println!("-\tskipped\t{text}"),
                }
            }
        }
    }
}

/// One prediction: `probability<TAB>label<TAB>text`.
fn print_prediction(p: f32, text: &str) {
    println!("{p:.4}\t{}\t{text}", label(p));
}

/// The positive-class probabilities of checked texts.
fn predict_checked(classifier: &Classifier, checked: &[Checked], device: &Device) -> anyhow::Result<Vec<f32>> {
    let enc: Vec<Encoded> = checked.iter().map(|c| c.encoded.clone()).collect();
    predict_encoded(&classifier.model, &enc, device)
}
