//! The `rnn` binary and library end to end: a short run lowers the loss with either engine,
//! save → load → sample is reproducible, and bad input gets clear errors.

use std::path::Path;
use std::process::Output;

use gradlab_testkit::text;

use gradlab::BackendName;
use rnn::config::{Engine, RnnConfig};
use rnn::data::{corpus_from_text, load};
use rnn::inference::load_model;
use rnn::training::train;

fn rnn_bin(args: &[&str], cwd: &Path) -> Output {
    gradlab_testkit::run(env!("CARGO_BIN_EXE_rnn"), args, cwd, None)
}

fn fails_with(args: &[&str], cwd: &Path, needle: &str) {
    let o = rnn_bin(args, cwd);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}:\n{t}");
    assert!(
        t.contains(needle) && !t.contains("panicked"),
        "{args:?}: expected `{needle}` in:\n{t}"
    );
}

/// How far below the unigram model's loss a trained model must be (nats per character).
const LEARNS_MARGIN: f64 = 0.3;

fn short_config(engine: Engine, backend: BackendName, out: &Path) -> RnnConfig {
    RnnConfig {
        engine,
        backend,
        hidden: 32,
        batch_size: if engine == Engine::Burn { 4 } else { 1 },
        epochs: 1,
        limit: 20_000,
        eval_every: 40,
        out_dir: out.to_path_buf(),
        ..RnnConfig::default()
    }
}

fn short_run(engine: Engine, backend: BackendName, out: &Path) -> rnn::training::TrainOutcome {
    let cfg = short_config(engine, backend, out);
    cfg.validate().unwrap();
    let backend = gradlab_testkit::backend(backend);
    let corpus = load(
        &gradlab::workspace_root().join(&cfg.data_file),
        cfg.valid_fraction,
        cfg.limit,
    )
    .unwrap();
    train(&cfg, &backend, &corpus, false).unwrap()
}

/// What a unigram model scores on the validation text: its cross-entropy against the
/// training text's character frequencies (add-one smoothed), in nats per character.
fn unigram_loss(corpus: &rnn::data::Corpus) -> f64 {
    let v = corpus.vocab.len();
    let mut counts = vec![1.0f64; v];
    for &c in &corpus.train {
        counts[c] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    let nll: f64 = corpus.valid.iter().map(|&c| -(counts[c] / total).ln()).sum();
    nll / corpus.valid.len() as f64
}

/// A model that learned something beats the unigram model — which a model that only learned
/// character frequencies would not — by a clear margin.
fn assert_learns(out: &rnn::training::TrainOutcome, corpus: &rnn::data::Corpus) {
    let h = &out.history;
    let unigram = unigram_loss(corpus);
    let last = h.last().unwrap();
    assert!(h.len() >= 2);
    assert!(
        last.valid_loss_per_char < unigram - LEARNS_MARGIN,
        "validation {:.3} nats/char does not beat the unigram model's {unigram:.3} by {LEARNS_MARGIN}",
        last.valid_loss_per_char
    );
    assert!(last.smooth_loss_per_char < h[0].smooth_loss_per_char, "{h:?}");
}

/// Training long enough to learn more than character frequencies: 120,000 characters of the
/// novel, hidden 64.
fn learning_run(engine: Engine, backend: BackendName, out: &Path) {
    let cfg = RnnConfig {
        hidden: 64,
        batch_size: if engine == Engine::Burn { 16 } else { 1 },
        limit: LEARN_CHARS,
        eval_every: 100,
        ..short_config(engine, backend, out)
    };
    cfg.validate().unwrap();
    let corpus = load(
        &gradlab::workspace_root().join(&cfg.data_file),
        cfg.valid_fraction,
        cfg.limit,
    )
    .unwrap();
    let out = train(&cfg, &gradlab_testkit::backend(backend), &corpus, false).unwrap();
    assert_learns(&out, &corpus);
}

/// Characters the learning tests train on.
const LEARN_CHARS: usize = 120_000;

#[test]
fn the_manual_engine_learns_more_than_character_frequencies() {
    learning_run(Engine::Manual, BackendName::Flex, tempfile::tempdir().unwrap().path());
}

#[test]
fn the_burn_engine_learns_more_than_character_frequencies_on_flex_and_wgpu() {
    learning_run(Engine::Burn, BackendName::Flex, tempfile::tempdir().unwrap().path());
    if gradlab_testkit::can_run(BackendName::Wgpu, "rnn training") {
        learning_run(Engine::Burn, BackendName::Wgpu, tempfile::tempdir().unwrap().path());
    }
}

#[test]
fn a_unigram_model_does_not_pass_for_learning() {
    // The check itself: the unigram model's own loss fails it.
    let corpus = load(
        &gradlab::workspace_root().join("datasets/austen/prideprejudice.txt"),
        0.1,
        LEARN_CHARS,
    )
    .unwrap();
    let u = unigram_loss(&corpus);
    assert!(u > 2.9 && u < 3.3, "unigram loss {u}");
    assert!(
        u < 0.85 * (corpus.vocab.len() as f64).ln(),
        "the old check (0.85 ln V) let a unigram model pass"
    );
}

#[test]
fn save_load_sample_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let out = short_run(Engine::Manual, BackendName::Flex, dir.path());
    let m = load_model(&out.model_dir).unwrap();
    // Saved in f32: the loaded weights are the trained ones to f32 precision.
    let worst = m
        .params
        .arrays()
        .iter()
        .zip(out.params.arrays())
        .flat_map(|(a, b)| a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()))
        .fold(0.0f64, f64::max);
    assert!(worst < 1e-5, "{worst}");
    let a = rnn::sample::sample(&m.params, &m.vocab, "It is", 80, 0.8, 7).unwrap();
    let b = rnn::sample::sample(
        &load_model(&out.model_dir.join("model.bpk")).unwrap().params,
        &m.vocab,
        "It is",
        80,
        0.8,
        7,
    )
    .unwrap();
    assert_eq!(a, b);
    assert!(a.starts_with("It is") && a.chars().count() == 85, "{a:?}");
    let c = rnn::sample::sample(&m.params, &m.vocab, "It is", 80, 0.8, 8).unwrap();
    assert_ne!(a, c, "another seed should give another text");

    // The same through the binary.
    let model = out.model_dir.to_str().unwrap();
    let args = [
        "sample",
        "--model",
        model,
        "--prime",
        "It is a truth",
        "--len",
        "50",
        "--seed",
        "3",
    ];
    let first = rnn_bin(&args, dir.path());
    let second = rnn_bin(&args, dir.path());
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(first.stdout, second.stdout);
    assert!(String::from_utf8_lossy(&first.stdout).starts_with("It is a truth"));

    // Bad prime and temperature.
    fails_with(
        &["sample", "--model", model, "--prime", "It is ✓ true"],
        dir.path(),
        "not in the model's vocabulary",
    );
    fails_with(
        &["sample", "--model", model, "--temperature", "0"],
        dir.path(),
        "temperature must be a positive number",
    );
    fails_with(
        &["sample", "--model", model, "--temperature", "-1"],
        dir.path(),
        "temperature must be a positive number",
    );
    fails_with(
        &["sample", "--model", dir.path().to_str().unwrap()],
        dir.path(),
        "model.json",
    );

    // eval --text: the loss on another text, with the characters the model cannot read.
    let other = "It is a truth — universally acknowledged… ✓✓ that a single man ✓";
    std::fs::write(dir.path().join("other.txt"), other).unwrap();
    let o = rnn_bin(&["eval", "--model", model, "--text", "other.txt"], dir.path());
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let want = rnn::inference::score_text(&m.params, &m.vocab, other);
    assert!(want.unknown_total() >= 3, "the test text must hold unknown characters");
    assert!(
        t.contains(&format!("loss: {:.4} nats/char", want.nats_per_char)),
        "expected {:.4}:\n{t}",
        want.nats_per_char
    );
    assert!(
        t.contains(&format!(
            "{} of them outside the model's vocabulary",
            want.unknown_total()
        )),
        "{t}"
    );
    assert!(t.contains("'✓' ×3"), "{t}");
    std::fs::write(dir.path().join("bad.txt"), b"ab\xffcd").unwrap();
    fails_with(
        &["eval", "--model", model, "--text", "bad.txt"],
        dir.path(),
        "bad.txt: not UTF-8 text (invalid byte at offset 2)",
    );
    fails_with(
        &["eval", "--model", model, "--text", "missing.txt"],
        dir.path(),
        "missing.txt",
    );
    std::fs::write(dir.path().join("alien.txt"), "✓✓✓").unwrap();
    fails_with(
        &["eval", "--model", model, "--text", "alien.txt"],
        dir.path(),
        "nothing to score",
    );
}

#[test]
fn empty_or_one_character_corpus_is_a_clear_error() {
    assert!(format!("{:#}", corpus_from_text("", 0.1, 0, "x.txt").unwrap_err()).contains("empty"));
    let e = format!(
        "{:#}",
        corpus_from_text("aaaaaaaaaaaaaaa", 0.1, 0, "x.txt").unwrap_err()
    );
    assert!(e.contains("only one distinct character"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.txt"), "").unwrap();
    std::fs::write(dir.path().join("one.txt"), "zzzzzzzz").unwrap();
    std::fs::write(dir.path().join("bin.txt"), b"ab\xffcd").unwrap();
    fails_with(
        &["--data", "empty.txt", "--out", "r"],
        dir.path(),
        "empty.txt: cannot train on it: the corpus is empty",
    );
    fails_with(
        &["--data", "one.txt", "--out", "r"],
        dir.path(),
        "only one distinct character ('z')",
    );
    fails_with(
        &["--data", "bin.txt", "--out", "r"],
        dir.path(),
        "bin.txt: not UTF-8 (byte 2)",
    );
    fails_with(&["--data", "missing.txt", "--out", "r"], dir.path(), "missing.txt");
    fails_with(&["--batch-size", "4"], dir.path(), "needs `engine = \"burn\"`");
}

#[test]
fn forward_and_gradients_subcommands_run() {
    let dir = tempfile::tempdir().unwrap();
    let o = rnn_bin(&["forward", "--backend", "flex"], dir.path());
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("h [3×1]") && t.contains("y [2×1]"), "{t}");
    // Each run writes a run folder of its own: a second run never overwrites the first.
    for run in ["run-001", "run-002"] {
        let o = rnn_bin(&["gradients", "--steps", "30", "--out", "g"], dir.path());
        assert!(o.status.success(), "{}", text(&o));
        let folder = dir.path().join("g/gradients").join(run);
        assert!(folder.join("gradients.svg").is_file(), "{}", text(&o));
        assert_eq!(
            std::fs::read_to_string(folder.join("gradients.csv"))
                .unwrap()
                .lines()
                .count(),
            31
        );
    }
    fails_with(
        &["gradients", "--steps", "100000000"],
        dir.path(),
        "--steps 100000000 is out of range",
    );
    fails_with(
        &["gradients", "--scales", &vec!["1"; 21].join(",")],
        dir.path(),
        "--scales must be 1 to 20",
    );
}

#[test]
fn flags_are_accepted_only_where_they_act_and_sizes_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exe = env!("CARGO_BIN_EXE_rnn");
    gradlab_testkit::assert_refused(
        exe,
        &[
            &["sample", "--engine", "burn", "--batch-size", "8"],
            &["sample", "--epochs", "3"],
            &["forward", "--limit", "10"],
            &["gradients", "--engine", "burn"],
            &["--epochs", "2", "sample"],
        ],
        d,
    );
    let help = gradlab_testkit::help_without(exe, "sample", &["--batch-size", "--engine", "--epochs"], d);
    assert!(help.contains("--seed"), "{help}");

    // A model file that asks for a huge hidden layer is refused before anything is allocated.
    let out = short_run(Engine::Manual, BackendName::Flex, d);
    let json_path = out.model_dir.join("model.json");
    let json = std::fs::read_to_string(&json_path).unwrap();
    std::fs::write(&json_path, json.replace("\"hidden\": 32", "\"hidden\": 4000000000")).unwrap();
    let model = out.model_dir.to_str().unwrap();
    fails_with(
        &["sample", "--model", model],
        d,
        "`hidden` = 4000000000 is out of range",
    );
    std::fs::write(&json_path, &json).unwrap();
    fails_with(
        &["sample", "--model", model, "--len", "2000000000"],
        d,
        "--len 2000000000 is out of range",
    );
}

#[test]
fn shipped_config_equals_the_defaults() {
    let cfg: RnnConfig = gradlab::config::load_layers(&[gradlab::workspace_root().join("configs/rnn.toml")]).unwrap();
    assert_eq!(cfg, RnnConfig::default());
}

#[test]
fn the_committed_corpus_is_the_documented_one() {
    let path = gradlab::workspace_root().join("datasets/austen/prideprejudice.txt");
    let hex = gradlab::data::download::sha256_hex(&std::fs::read(&path).unwrap());
    assert_eq!(hex, "dfc684d4f857fa938268f9ab9c5567b64bd0691251eca959644adeabe6287a4d");
    let readme = std::fs::read_to_string(path.with_file_name("README.md")).unwrap();
    assert!(readme.contains(&hex));
    let c = load(&path, 0.1, 0).unwrap();
    assert_eq!((c.vocab.len(), c.train.len(), c.valid.len()), (75, 616_291, 68_477));
}

/// A copied (or installed) binary trains on the novel built into it, from any folder, with the
/// same result as in the checkout.
#[test]
fn a_copied_binary_works_outside_the_checkout_with_the_same_result() {
    let out = tempfile::tempdir().unwrap();
    let runs = out.path().join("in-checkout");
    let args = ["--out", "RUNS", "train", "--limit", "4000", "--epochs", "1"];
    fn with<'a>(args: [&'a str; 7], r: &'a str) -> [&'a str; 7] {
        args.map(|a| if a == "RUNS" { r } else { a })
    }
    let inside = text(&rnn_bin(
        &with(args, runs.to_str().unwrap()),
        &gradlab::workspace_root(),
    ));
    let (o, _dir) = gradlab_testkit::run_elsewhere(env!("CARGO_BIN_EXE_rnn"), &with(args, "runs"));
    let elsewhere = text(&o);
    assert!(o.status.success(), "{elsewhere}");
    assert!(elsewhere.contains("the copy built into this binary"), "{elsewhere}");
    // The losses and the character count (not the timing after them).
    let result = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("validation loss"))
            .map(|l| l.split(';').next().unwrap_or_default().to_string())
    };
    assert!(result(&inside).is_some(), "{inside}");
    assert_eq!(result(&elsewhere), result(&inside), "{elsewhere}");
}

/// `rnn export`: the cell's five arrays as float32 safetensors, the model.json (vocabulary) in
/// the metadata, and no file overwritten.
#[test]
fn export_writes_the_cell_and_the_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let (d, exe) = (dir.path(), env!("CARGO_BIN_EXE_rnn"));
    gradlab_testkit::succeeds(exe, &["--out", "runs", "train", "--limit", "4000", "--epochs", "1"], d);
    let args = ["export", "--out", "runs", "cell.safetensors"];
    let t = gradlab_testkit::succeeds(exe, &args, d);
    assert!(t.contains("wrote cell.safetensors (safetensors, burn layout"), "{t}");
    let (shapes, meta) = gradlab_testkit::export_file(exe, &args, d, &d.join("cell.safetensors"));
    let manifest = std::fs::read_to_string(d.join("runs/run-001/model/model.json")).unwrap();
    assert_eq!(meta.get("gradlab_model_json"), Some(&manifest));
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let (h, v) = (
        m["hidden"].as_u64().unwrap() as usize,
        m["vocab"].as_array().unwrap().len(),
    );
    let want = [
        ("bh", vec![h]),
        ("by", vec![v]),
        ("whh", vec![h, h]),
        ("why", vec![v, h]),
        ("wxh", vec![h, v]),
    ];
    let want: std::collections::BTreeMap<String, Vec<usize>> = want.into_iter().map(|(n, s)| (n.into(), s)).collect();
    assert_eq!(shapes, want);
}

#[test]
fn the_burn_engine_stops_a_diverging_run_though_it_reads_losses_in_batches() {
    // Adagrad's first step moves every weight by ±learning_rate: at 1e6 the next chunk's loss is
    // far beyond chance (or not finite). The burn engine reads its losses 25 steps at a time, so
    // the run stops at the first read, naming the first bad step, and saves no final model.
    let dir = tempfile::tempdir().unwrap();
    let cfg = RnnConfig {
        learning_rate: 1e6,
        ..short_config(Engine::Burn, BackendName::Flex, dir.path())
    };
    let corpus = load(
        &gradlab::workspace_root().join(&cfg.data_file),
        cfg.valid_fraction,
        cfg.limit,
    )
    .unwrap();
    let e = train(&cfg, &gradlab_testkit::backend(BackendName::Flex), &corpus, false)
        .expect_err("a diverging run is an error");
    let e = format!("{e:#}");
    let step: usize = e
        .split("training diverged at step ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("names the step: {e}"));
    assert!((2..=25).contains(&step), "{e}");
}
