//! Training learns on flex and wgpu (held-out accuracy well above the majority class); saved
//! models predict exactly as before saving; the NB features and the binary metrics are what
//! their formulas say.

use burn::module::Module;
use gradlab::BackendName;
use gradlab_testkit::backend;
use sentiment::config::SentimentConfig;
use sentiment::data::{ReviewFile, Splits, read_reviews, split};
use sentiment::inference::{BinaryMetrics, evaluate, load_classifier, save_classifier};
use sentiment::model::ModelKind;
use sentiment::ngrams::{NgramTable, ngrams};
use sentiment::training::{LoopSettings, fit, prepare};

fn reviews() -> ReviewFile {
    let path = gradlab::workspace_root().join("datasets/movie-reviews/movie-reviews.tsv");
    read_reviews(&path).unwrap()
}

fn small(limit: usize) -> Splits {
    split(&reviews(), 7, limit).unwrap()
}

#[test]
fn the_committed_file_has_the_documented_counts() {
    let f = reviews();
    assert_eq!(f.reviews.len(), 10_568);
    assert_eq!(f.neutral, 37);
    assert_eq!(f.reviews.iter().filter(|r| r.label == 1).count(), 5_242);
    let s = split(&f, 42, 0).unwrap();
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (8_456, 1_056, 1_056));
    // No sentence is in two parts.
    let lines = |v: &[sentiment::data::Review]| v.iter().map(|r| r.line).collect::<std::collections::HashSet<_>>();
    assert!(lines(&s.train).is_disjoint(&lines(&s.test)));
    assert!(lines(&s.valid).is_disjoint(&lines(&s.test)));
}

/// How far above the majority class's share the held-out accuracy must be.
const LEARNS_MARGIN: f64 = 0.1;

/// Train on a stratified sample of 3,000 sentences and score the held-out test part: a model
/// that learned only the label balance would score the majority class's share.
fn learns(name: BackendName, kind: ModelKind) {
    let b = backend(name);
    let cfg = SentimentConfig {
        model: kind,
        learning_rate: 1e-2,
        ..SentimentConfig::default()
    };
    let splits = small(3000);
    let p = prepare(&cfg, &splits);
    let device = b.device.clone().autodiff();
    let model = gradlab::seeded(&device, 3, || p.spec.init(&device));
    let s = LoopSettings {
        epochs: 6,
        batch_size: 32,
        learning_rate: cfg.learning_rate,
        l2: 0.0,
        restore_best: false,
        seed: 3,
        verbose: false,
    };
    let (model, history) = fit(model, &p.train, Some(&p.valid), &s, &device).unwrap();
    assert_eq!(history.len(), 6);
    let test = evaluate(&model.valid(), &p.test, &b.device).unwrap();
    let positive = p.test.labels.iter().filter(|&&l| l == 1).count() as f64 / p.test.labels.len() as f64;
    let majority = positive.max(1.0 - positive);
    assert!(
        test.accuracy > majority + LEARNS_MARGIN,
        "{name} {kind:?}: held-out accuracy {:.3} on {} sentences, majority class {majority:.3}",
        test.accuracy,
        test.count
    );
}

#[test]
fn training_learns_on_flex() {
    learns(BackendName::Flex, ModelKind::Seed);
    learns(BackendName::Flex, ModelKind::NbBigram);
}

#[test]
fn training_learns_on_wgpu() {
    if !gradlab_testkit::can_run(BackendName::Wgpu, "sentiment training") {
        return;
    }
    learns(BackendName::Wgpu, ModelKind::Seed);
    learns(BackendName::Wgpu, ModelKind::NbBigram);
}

#[test]
fn save_load_predict_gives_the_same_probabilities() {
    let b = backend(BackendName::Flex);
    let dir = tempfile::tempdir().unwrap();
    for kind in [ModelKind::Seed, ModelKind::NbBigram] {
        let cfg = SentimentConfig {
            model: kind,
            ..SentimentConfig::default()
        };
        let p = prepare(&cfg, &small(300));
        let device = b.device.clone().autodiff();
        let model = gradlab::seeded(&device, 5, || p.spec.init(&device));
        let s = LoopSettings {
            epochs: 1,
            batch_size: 16,
            learning_rate: 1e-2,
            l2: 0.0,
            restore_best: false,
            seed: 5,
            verbose: false,
        };
        let (model, _) = fit(model, &p.train, None, &s, &device).unwrap();
        let model = model.valid();
        let texts = ["A gorgeous, moving film.", "Dull and far too long", "zzz qqq"];
        let path = dir.path().join(format!("{kind:?}"));
        save_classifier(&path, &model, &p.spec, &p.encoder, None).unwrap();
        let loaded = load_classifier(&path.join("model.bpk"), &b.device).unwrap();
        let fresh = sentiment::inference::Classifier {
            model,
            spec: p.spec,
            encoder: p.encoder.clone(),
            split: None,
        };
        let a = fresh.predict(&texts, &b.device).unwrap();
        let c = loaded.predict(&texts, &b.device).unwrap();
        assert_eq!(a, c, "{kind:?}");
        assert_eq!(loaded.encoder, p.encoder);
    }
    // A folder without model.json is a clear error, not a panic.
    let err = load_classifier(dir.path(), &b.device).unwrap_err();
    assert!(format!("{err:#}").contains("model.json"), "{err:#}");
}

#[test]
fn nb_ratios_follow_the_formula() {
    let texts = ["good good film", "good plot", "bad film", "bad bad plot"];
    let labels = [1, 1, 0, 0];
    assert_eq!(ngrams("good good film", 2), ["good", "film", "good good", "good film"]);
    let t = NgramTable::fit(&texts, &labels, 2, 1.0, 1);
    // Distinct n-grams: good, film, good good, good film, plot, good plot, bad, bad film,
    // bad bad, bad plot → V = 10. Positive texts hold 4 + 3 = 7 distinct n-grams, negative
    // 3 + 4 = 7.
    assert_eq!(t.len(), 10);
    let r = |pos: f64, neg: f64| ((1.0 + pos) / (10.0 + 7.0)).ln() - ((1.0 + neg) / (10.0 + 7.0)).ln();
    assert!((t.ratio("good").unwrap() as f64 - r(2.0, 0.0)).abs() < 1e-6);
    assert!((t.ratio("film").unwrap() as f64 - r(1.0, 1.0)).abs() < 1e-6);
    assert!((t.ratio("bad bad").unwrap() as f64 - r(0.0, 1.0)).abs() < 1e-6);
    let f = t.encode("Good film, unknown words");
    assert_eq!(f.ids.len(), 3); // good, film, good film
}

#[test]
fn binary_metrics_from_a_known_confusion() {
    // truth:  1 1 1 0 0 0 0
    // pred:   1 1 0 1 0 0 0  → TP 2, FN 1, FP 1, TN 3
    let p = [0.9, 0.6, 0.4, 0.7, 0.1, 0.2, 0.3];
    let l = [1, 1, 1, 0, 0, 0, 0];
    let m = BinaryMetrics::from_predictions(&p, &l, 0.5);
    assert!((m.accuracy - 5.0 / 7.0).abs() < 1e-12);
    assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
    assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
    assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(m.confusion.counts, vec![vec![3, 1], vec![1, 2]]);
}

#[test]
fn the_committed_file_is_the_documented_one() {
    use std::fmt::Write;
    use std::io::Read;
    // SHA-256 via gradlab's downloader helper, so the value in datasets/movie-reviews/README.md
    // is checked.
    let path = gradlab::workspace_root().join("datasets/movie-reviews/movie-reviews.tsv");
    let mut bytes = Vec::new();
    std::fs::File::open(&path).unwrap().read_to_end(&mut bytes).unwrap();
    let hex = gradlab::data::download::sha256_hex(&bytes);
    let readme = std::fs::read_to_string(path.with_file_name("README.md")).unwrap();
    let mut expected = String::new();
    write!(expected, "`{hex}`").unwrap();
    assert!(readme.contains(&expected), "README does not state the SHA-256 {hex}");
    assert_eq!(hex, "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350");
}
