//! Shared by gradlab-web's tests: runs folders with models in them, a server on a loopback
//! port, and a small HTTP client that reports any status.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use gradlab::BackendName;
use gradlab_testkit::backend;
use gradlab_web::models::{AppState, LoadOptions};
use gradlab_web::server::Running;

/// A runs folder with an untrained digit model and an untrained NB sentiment model, each in a
/// finished run (enough for every route; the answers are a fresh model's).
pub fn untrained_runs() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let device = backend(BackendName::Flex).device;
    let m = runs.join("mnist-cnn/run-001");
    std::fs::create_dir_all(&m).unwrap();
    let model = gradlab::seeded(&device, 1, || mnist_cnn::model::Cnn::new(&device));
    mnist_cnn::inference::save_model(&m, &model, &mnist_cnn::config::MnistConfig::default(), "test fixture").unwrap();
    std::fs::write(
        m.join("report.json"),
        r#"{"command": "train", "test": {"accuracy": 0.1}}"#,
    )
    .unwrap();
    std::fs::write(m.join("curves.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    let s = runs.join("sentiment/run-001");
    let cfg = sentiment::config::SentimentConfig {
        model: sentiment::model::ModelKind::NbBigram,
        ..Default::default()
    };
    let texts = ["a good film", "a bad film", "good acting", "bad acting", "the story"];
    let (encoder, spec) = sentiment::training::fit_encoder(&cfg, &texts, &[1, 0, 1, 0, 1]);
    let model = gradlab::seeded(&device, 1, || spec.init(&device));
    sentiment::inference::save_classifier(&s.join("model"), &model, &spec, &encoder, None).unwrap();
    std::fs::write(s.join("report.json"), "{}").unwrap();
    tmp
}

/// A runs folder with both models trained on real data (the digit CNN: mnist-5k, 2 epochs,
/// about 95 %; sentiment: the NB n-gram model on the movie reviews), written by the crates' own
/// training functions.
pub fn trained_runs() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let b = backend(BackendName::Flex);
    let cfg = mnist_cnn::config::MnistConfig {
        backend: BackendName::Flex,
        epochs: 2,
        out_dir: runs.join("mnist-cnn"),
        ..Default::default()
    };
    let splits = mnist_cnn::data::load(&cfg).unwrap();
    let run = mnist_cnn::training::train(&cfg, &b, &splits, &Default::default()).unwrap();
    assert!(run.test.accuracy > 0.9, "digit model: {}", run.test.accuracy);
    let cfg = sentiment::config::SentimentConfig {
        model: sentiment::model::ModelKind::NbBigram,
        learning_rate: 0.01,
        nb_l2: 1e-5,
        out_dir: runs.join("sentiment"),
        ..Default::default()
    };
    let splits = sentiment::data::load(&cfg).unwrap();
    let run = sentiment::training::train(&cfg, &b, &splits, false).unwrap();
    assert!(run.test.accuracy > 0.7, "sentiment model: {}", run.test.accuracy);
    tmp
}

/// Options for a server over `runs` on flex.
pub fn options(runs: &Path, token: Option<&str>) -> LoadOptions {
    LoadOptions {
        backend: backend(BackendName::Flex),
        runs_dir: runs.to_path_buf(),
        mnist_model: None,
        sentiment_model: None,
        token: token.map(str::to_string),
    }
}

/// A server over `runs` on an ephemeral loopback port.
pub fn start(runs: &Path, token: Option<&str>) -> Running {
    let state = AppState::load(options(runs, token)).unwrap();
    Running::start(state, "127.0.0.1:0".parse().unwrap()).unwrap()
}

/// The runs folder inside a fixture.
pub fn runs_of(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("runs")
}

/// An answer: status, content type, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let r = r.expect("the request must get an answer");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = r.into_body().with_config().limit(64 << 20).read_to_vec().unwrap();
    Answer {
        status,
        content_type,
        body,
    }
}

/// GET `url`, with optional headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut r = agent().get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    answer(r.call())
}

/// POST `body` to `url` with `content_type` (None: no Content-Type header) and headers.
pub fn post(url: &str, content_type: Option<&str>, body: &[u8], headers: &[(&str, &str)]) -> Answer {
    let mut r = agent().post(url);
    if let Some(ct) = content_type {
        r = r.header("Content-Type", ct);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    answer(r.send(body))
}

/// POST a body over the server's limit. The server answers 413 as soon as it sees the size
/// and closes the connection without reading the rest, so the client may still be writing and
/// get a broken pipe or a reset instead of the answer (a race, lost more often under load); such
/// a try is repeated, up to 5 times. Any answer is returned as it is.
pub fn post_oversized(url: &str, content_type: &str, body: &[u8]) -> Answer {
    for _ in 0..4 {
        let mut r = agent().post(url);
        r = r.header("Content-Type", content_type);
        match r.send(body) {
            Err(ureq::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return answer(other),
        }
    }
    post(url, Some(content_type), body, &[])
}

/// POST JSON.
pub fn post_json(url: &str, body: &str) -> Answer {
    post(url, Some("application/json"), body.as_bytes(), &[])
}

/// Wait (at most 30 s, looking every 10 ms) until `ready` holds; else fail naming `what`.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "waited 30 s for {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
