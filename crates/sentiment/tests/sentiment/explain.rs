//! `explain`: each word's or n-gram's fate is what the encoder did with it, and the NB model's
//! contributions plus its bias give back its logit.

use burn::module::Module;
use gradlab::BackendName;
use gradlab_testkit::backend;
use sentiment::config::SentimentConfig;
use sentiment::data::{read_reviews, split};
use sentiment::explain::{Explained, Fate, check_all, explain};
use sentiment::features::Encoder;
use sentiment::inference::Classifier;
use sentiment::model::ModelKind;
use sentiment::tokenizer::{Side, Tokenizer};
use sentiment::training::{LoopSettings, fit, prepare};

/// A classifier of `kind` trained for two epochs on 600 real sentences, with `encoder` changed
/// by `adjust` (a smaller width, to see cuts).
fn classifier(kind: ModelKind, adjust: impl FnOnce(&mut Encoder)) -> Classifier {
    let b = backend(BackendName::Flex);
    let cfg = SentimentConfig {
        model: kind,
        learning_rate: 1e-2,
        ..SentimentConfig::default()
    };
    let reviews = read_reviews(&gradlab::workspace_root().join("datasets/movie-reviews/movie-reviews.tsv")).unwrap();
    let p = prepare(&cfg, &split(&reviews, 11, 600).unwrap());
    let device = b.device.clone().autodiff();
    let model = gradlab::seeded(&device, 11, || p.spec.init(&device));
    let s = LoopSettings {
        epochs: 2,
        batch_size: 16,
        learning_rate: cfg.learning_rate,
        l2: 0.0,
        restore_best: false,
        seed: 11,
        verbose: false,
    };
    let (model, _) = fit(model, &p.train, None, &s, &device).unwrap();
    let mut encoder = p.encoder;
    adjust(&mut encoder);
    Classifier {
        model: model.valid(),
        spec: p.spec,
        encoder,
        split: None,
    }
}

fn run(c: &Classifier, texts: &[&str]) -> Vec<Explained> {
    let checked = check_all(c, texts).unwrap();
    explain(c, texts, &checked, &backend(BackendName::Flex).device).unwrap()
}

fn fates(e: &Explained) -> Vec<(&str, Fate)> {
    e.items.iter().map(|i| (i.text.as_str(), i.fate)).collect()
}

#[test]
fn nb_contributions_and_bias_add_up_to_the_logit() {
    let c = classifier(ModelKind::NbBigram, |_| {});
    let texts = [
        "a wonderful , moving film",
        "dull and tedious , a waste of time",
        "the film",
    ];
    for e in run(&c, &texts) {
        let sum: f32 = e.bias.unwrap() + e.items.iter().filter_map(|i| i.contribution).sum::<f32>();
        let logit = (e.probability / (1.0 - e.probability)).ln();
        assert!(
            (sum - logit).abs() < 1e-4,
            "Σ contributions + bias = {sum}, logit = {logit}"
        );
        // Every kept n-gram has a contribution, nothing else has one.
        for i in &e.items {
            assert_eq!(i.contribution.is_some(), i.fate == Fate::Kept, "{i:?}");
        }
    }
    let e = &run(&c, &["wonderful"])[0];
    assert!(e.items[0].contribution.unwrap() > 0.0, "{e:?}");
}

#[test]
fn nb_fates_follow_the_encoder() {
    // Width 3: the first three known n-grams (unigrams come first) are kept, the rest cut.
    let c = classifier(ModelKind::NbBigram, |e| {
        if let Encoder::Ngrams { width, .. } = e {
            *width = 3;
        }
    });
    let e = &run(&c, &["the film is zzzqx good"])[0];
    let f = fates(e);
    assert_eq!(
        &f[..3],
        &[("the", Fate::Kept), ("film", Fate::Kept), ("is", Fate::Kept)]
    );
    assert!(f.contains(&("zzzqx", Fate::Unknown)), "{f:?}");
    assert!(f.contains(&("good", Fate::Cut)), "{f:?}");
    assert!(
        e.warnings
            .iter()
            .any(|w| w.contains("beyond the model's input width of 3")),
        "{e:?}"
    );
}

#[test]
fn seed_fates_follow_the_tokenizer_and_truncation() {
    let mut tok = None;
    let c = classifier(ModelKind::Seed, |e| {
        if let Encoder::Sequence {
            tokenizer,
            maxlen,
            truncating,
            ..
        } = e
        {
            *maxlen = 3;
            *truncating = Side::Post;
            tok = Some(tokenizer.clone());
        }
    });
    let tok: Tokenizer = tok.unwrap();
    assert!(tok.kept_id("film").is_some() && tok.kept_id("zzzqx").is_none());
    // With an OOV token (the default) the unknown word takes a place in the sequence.
    let e = &run(&c, &["The film, zzzqx is good"])[0];
    assert_eq!(
        fates(e),
        [
            ("the", Fate::Kept),
            ("film", Fate::Kept),
            ("zzzqx", Fate::Unknown),
            ("is", Fate::Cut),
            ("good", Fate::Cut)
        ]
    );
    assert!(e.bias.is_none() && e.items.iter().all(|i| i.contribution.is_none()));
    assert!(e.warnings.iter().any(|w| w.contains("2 word(s) beyond")), "{e:?}");
}

#[test]
fn refused_texts_name_their_index() {
    let c = classifier(ModelKind::NbBigram, |_| {});
    let err = check_all(&c, &["good", "   "]).unwrap_err();
    assert_eq!(err, (1, "empty text".to_string()));
    assert_eq!(check_all(&c, &["...!"]).unwrap_err().0, 0);
}
