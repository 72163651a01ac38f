//! The `sentiment` binary end to end: the seed mode, a tiny train → eval → predict round trip,
//! and the defined behaviour for every awkward input (see `sentiment::query`).

use std::path::Path;
use std::process::Output;

use gradlab_testkit::text;

fn sentiment(args: &[&str], cwd: &Path, stdin: Option<&[u8]>) -> Output {
    gradlab_testkit::run(env!("CARGO_BIN_EXE_sentiment"), args, cwd, stdin)
}

#[test]
fn seed_mode_prints_the_encodings_accuracy_and_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let o = sentiment(&["seed", "--backend", "flex"], dir.path(), None);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    // The seed's five sentences, encoded as Keras encodes them (tests/fixtures, from
    // scripts/keras_seed_fixture.py).
    for line in [
        "I love this movie!                 → [2, 4, 3, 5, 0, 0, 0, 0, 0, 0]",
        "This film is terrible.             → [3, 6, 7, 8, 0, 0, 0, 0, 0, 0]",
        "The acting was superb.             → [9, 10, 11, 12, 0, 0, 0, 0, 0, 0]",
        "I wouldn't recommend it.           → [2, 13, 14, 15, 0, 0, 0, 0, 0, 0]",
        "A must-watch for everyone!         → [16, 17, 18, 19, 20, 0, 0, 0, 0, 0]",
    ] {
        assert!(t.contains(line), "missing `{line}` in:\n{t}");
    }
    assert!(t.contains("training accuracy"), "{t}");
    assert!(
        t.contains("\"This movie is amazing!\" → [3, 5, 7, 1, 0, 0, 0, 0, 0, 0] → probability positive"),
        "{t}"
    );
}

#[test]
fn train_eval_predict_and_every_awkward_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let common = ["--backend", "flex", "--out", "runs", "--limit", "600", "--epochs", "2"];
    let o = sentiment(&[&["train"], &common[..]].concat(), d, None);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("test: accuracy") && t.contains("precision") && t.contains("F1"),
        "{t}"
    );
    let run = d.join("runs/run-001");
    for f in [
        "model/model.bpk",
        "model/model.json",
        "metrics.csv",
        "metrics.json",
        "curves.svg",
        "report.json",
    ] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    // A --limit run is marked as a toy in its model folder.
    let mark = std::fs::read_to_string(run.join("model/TOY.txt")).unwrap();
    assert!(mark.starts_with("trained with --limit 600"), "{mark}");
    let o = sentiment(&["eval", "--backend", "flex", "--out", "runs"], d, None);
    assert!(o.status.success() && text(&o).contains("confusion"), "{}", text(&o));
    // Which model was used, when it was trained, its test accuracy, and that it is a toy.
    let t = text(&o);
    let line = t.lines().find(|l| l.starts_with("model: ")).unwrap_or_default();
    for needle in [
        "runs/run-001/model/model.json",
        "trained 20",
        "test accuracy ",
        "a toy: trained with --limit 600",
    ] {
        assert!(line.contains(needle), "`{needle}` missing from: {line}");
    }
    // Another seed in the config at eval time still scores the training run's own test split.
    std::fs::write(d.join("seed9.toml"), "seed = 9\n").unwrap();
    let o = sentiment(
        &["eval", "--backend", "flex", "--out", "runs", "--config", "seed9.toml"],
        d,
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("trained on the split of seed 42 (limit 600)"),
        "{}",
        text(&o)
    );

    let predict = |args: &[&str], stdin: Option<&[u8]>| {
        sentiment(
            &[&["predict", "--backend", "flex", "--out", "runs"], args].concat(),
            d,
            stdin,
        )
    };
    // One good text: probability and label on stdout.
    let o = predict(&["A gorgeous, moving and funny film."], None);
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", text(&o));
    let fields: Vec<&str> = t.trim().split('\t').collect();
    let p: f32 = fields[0].parse().unwrap();
    assert!(
        (0.0..=1.0).contains(&p) && ["positive", "negative"].contains(&fields[1]),
        "{t}"
    );

    // Rejected command-line texts: exit 2, a reason, no panic.
    for (bad, why) in [("", "empty text"), ("   \t ", "empty text"), ("?!... --", "no words")] {
        let o = predict(&[bad], None);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {t}");
        assert!(t.contains(why) && !t.contains("panicked"), "{bad:?}: {t}");
    }
    // No known word: a prediction with a warning.
    let o = predict(&["zqxv wvvk"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("none of its 2 word(s)"),
        "{}",
        text(&o)
    );
    // Longer than maxlen (50 words): a prediction from the first 50, with a warning.
    let long = "good ".repeat(80);
    let o = predict(&[&long], None);
    assert!(
        o.status.success() && text(&o).contains("30 word(s) beyond"),
        "{}",
        text(&o)
    );

    // Line mode from stdin: bad lines reported by number, the rest predicted, exit 1.
    let mut input = b"a fine film\n\nbroken \xff\xfe bytes\nawful\n".to_vec();
    input.extend(vec![b'x'; (1 << 20) + 10]);
    input.extend(b" y\nthe end\n");
    let o = predict(&[], Some(&input));
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    // One output line per input line, in order, so scripts can pair them.
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 6, "{out}");
    assert!(
        rows[0].ends_with("\ta fine film") && rows[3].ends_with("\tawful"),
        "{out}"
    );
    assert!(rows[5].ends_with("\tthe end"), "{out}");
    for skipped in [1, 2, 4] {
        assert!(rows[skipped].starts_with("-\tskipped\t"), "{out}");
    }
    assert!(
        err.contains("backend: flex on"),
        "the backend is named (on stderr): {err}"
    );
    assert!(err.contains("<stdin>:2: skipped: empty text"), "{err}");
    assert!(err.contains("<stdin>:3: skipped: not valid UTF-8 at byte 7"), "{err}");
    assert!(err.contains("<stdin>:5: skipped: too long"), "{err}");
    // The same from a file.
    std::fs::write(d.join("in.txt"), b"great fun\r\nboring\n").unwrap();
    let o = predict(&["--file", "in.txt"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);
    let o = predict(&["--file", "missing.txt"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("missing.txt"));
    // A model folder that is not one.
    let o = predict(&["--model", "runs", "fine"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("model.json"), "{}", text(&o));
}

#[test]
fn bad_config_and_data_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bad.toml"), "maxlen = 0\n").unwrap();
    let o = sentiment(&["--backend", "flex", "-c", "bad.toml"], d, None);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("`maxlen` = 0"), "{}", text(&o));
    // A limit too small to split, and a negative learning rate: range errors naming the flag.
    let o = sentiment(&["--backend", "flex", "--limit", "1"], d, None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("`limit` = 1 is too small") && text(&o).contains("--limit"),
        "{}",
        text(&o)
    );
    let o = sentiment(&["--backend", "flex", "--lr", "-1"], d, None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("`learning_rate` = -1 is out of range") && text(&o).contains("--lr"),
        "{}",
        text(&o)
    );
    std::fs::write(d.join("data.tsv"), "1\t0.5\tfine\n2\tgood\tbad rating\n").unwrap();
    std::fs::write(d.join("data.toml"), "data_file = \"data.tsv\"\n").unwrap();
    let o = sentiment(&["--backend", "flex", "-c", "data.toml", "--out", "r"], d, None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("data.tsv:2: rating \"good\" is not a number"),
        "{}",
        text(&o)
    );
}

#[test]
fn shipped_configs_are_the_defaults_and_the_nb_option() {
    let root = gradlab::workspace_root();
    let cfg: sentiment::config::SentimentConfig =
        gradlab::config::load_layers(&[root.join("configs/sentiment.toml")]).unwrap();
    assert_eq!(cfg, sentiment::config::SentimentConfig::default());
    let nb: sentiment::config::SentimentConfig = gradlab::config::load_layers(&[
        root.join("configs/sentiment.toml"),
        root.join("configs/sentiment-nb.toml"),
    ])
    .unwrap();
    assert_eq!(nb.model, sentiment::model::ModelKind::NbBigram);
    nb.validate().unwrap();
}

#[test]
fn a_flag_is_accepted_only_where_it_has_an_effect() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exe = env!("CARGO_BIN_EXE_sentiment");
    gradlab_testkit::assert_refused(
        exe,
        &[
            &["seed", "--epochs", "3"],
            &["seed", "--lr", "0.5"],
            &["seed", "--batch-size", "4"],
            &[
                "predict",
                "--epochs",
                "99",
                "--lr",
                "5",
                "--classifier",
                "nb-bigram",
                "good",
            ],
            &["eval", "--limit", "10"],
            &["--epochs", "2", "eval"],
        ],
        d,
    );
    for sub in ["seed", "eval", "predict"] {
        gradlab_testkit::help_without(
            exe,
            sub,
            &["--epochs", "--lr", "--batch-size", "--classifier", "--limit"],
            d,
        );
    }
}

/// A copied (or installed) binary trains on the movie reviews built into it, from any folder,
/// with the same result as in the checkout.
#[test]
fn a_copied_binary_works_outside_the_checkout_with_the_same_result() {
    let out = tempfile::tempdir().unwrap();
    let runs = out.path().join("in-checkout");
    let args = [
        "--backend",
        "flex",
        "--out",
        "RUNS",
        "train",
        "--limit",
        "600",
        "--epochs",
        "1",
    ];
    fn with<'a>(args: [&'a str; 9], r: &'a str) -> [&'a str; 9] {
        args.map(|a| if a == "RUNS" { r } else { a })
    }
    let inside = text(&sentiment(
        &with(args, runs.to_str().unwrap()),
        &gradlab::workspace_root(),
        None,
    ));
    let (o, _dir) = gradlab_testkit::run_elsewhere(env!("CARGO_BIN_EXE_sentiment"), &with(args, "runs"));
    let elsewhere = text(&o);
    assert!(o.status.success(), "{elsewhere}");
    let result = |t: &str| t.lines().find(|l| l.starts_with("test: ")).map(String::from);
    assert!(result(&inside).is_some(), "{inside}");
    assert_eq!(result(&elsewhere), result(&inside), "{elsewhere}");
}

/// `sentiment export`: every parameter as float32 safetensors, the model.json (tokenizer and
/// all) in the metadata, and no file overwritten.
#[test]
fn export_writes_every_parameter_and_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (d, exe) = (dir.path(), env!("CARGO_BIN_EXE_sentiment"));
    gradlab_testkit::succeeds(
        exe,
        &["--backend", "flex", "--out", "runs", "--limit", "200", "--epochs", "2"],
        d,
    );
    let args = ["export", "--backend", "flex", "--out", "runs", "seed.safetensors"];
    let t = gradlab_testkit::succeeds(exe, &args, d);
    assert!(t.contains("wrote seed.safetensors (safetensors, burn layout"), "{t}");
    let (shapes, meta) = gradlab_testkit::export_file(exe, &args, d, &d.join("seed.safetensors"));
    let manifest = std::fs::read_to_string(d.join("runs/run-001/model/model.json")).unwrap();
    assert_eq!(meta.get("gradlab_model_json"), Some(&manifest));
    assert_eq!(meta.get("layout").map(String::as_str), Some("burn"));
    // The seed model: Embedding(rows, 16), Dense(16 → 24), Dense(24 → 1), as model.json says.
    let spec: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let rows = spec["spec"]["rows"].as_u64().unwrap() as usize;
    let all: Vec<&Vec<usize>> = shapes.values().collect();
    for want in [vec![rows, 16], vec![16, 24], vec![24, 1], vec![1]] {
        assert!(all.contains(&&want), "{want:?} not in {shapes:?}");
    }
}
