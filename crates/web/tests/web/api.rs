//! Every route and every bad input of the API, on a server on an ephemeral loopback port; the
//! access token; graceful shutdown with a request in flight; a bounded load test.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use gradlab_web::load;

#[test]
fn every_route_answers_and_every_bad_input_gets_its_status() {
    let tmp = untrained_runs();
    let server = start(&runs_of(&tmp), None);
    let u = server.url();

    // The page and its assets.
    let page = get(&format!("{u}/"), &[]);
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"), "{}", page.content_type);
    assert!(page.text().contains("<canvas id=\"pad\""));
    assert!(
        get(&format!("{u}/app.js"), &[])
            .content_type
            .starts_with("text/javascript")
    );
    assert!(get(&format!("{u}/style.css"), &[]).content_type.starts_with("text/css"));

    // Status: both models ready, the backend named.
    let s = get(&format!("{u}/api/status"), &[]).json();
    assert_eq!(s["mnist"]["ready"], true, "{s}");
    assert_eq!(s["sentiment"]["ready"], true, "{s}");
    assert!(s["backend"].as_str().unwrap().starts_with("flex on "), "{s}");
    assert_eq!(s["max_body_bytes"], gradlab_web::MAX_BODY_BYTES);
    assert_eq!(s["requests_in_flight"], 0, "{s}");

    // A digit as a PNG: ten probabilities summing to 1, the 784 input pixels, 32 maps.
    let d = post(
        &format!("{u}/api/digit"),
        Some("image/png"),
        &load::drawn_one_png(),
        &[],
    );
    assert_eq!(d.status, 200, "{}", d.text());
    let d = d.json();
    let probs: Vec<f64> = d["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(probs.len(), 10);
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    let best = (0..10).max_by(|&a, &b| probs[a].total_cmp(&probs[b])).unwrap();
    assert_eq!(d["digit"], best);
    assert_eq!(d["input"].as_array().unwrap().len(), 784);
    assert!(
        d["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("20×20")),
        "{}",
        d["notes"]
    );
    let maps = &d["feature_maps"];
    assert_eq!((maps["count"].as_u64(), maps["side"].as_u64()), (Some(32), Some(26)));
    // base64 of 32 × 26 × 26 bytes
    assert_eq!(maps["data"].as_str().unwrap().len(), (32 * 676usize).div_ceil(3) * 4);

    // The same digit as 784 floats: the model input itself, so the same probabilities as the
    // input the PNG became.
    let px: Vec<f64> = d["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() / 255.0)
        .collect();
    let j = post_json(
        &format!("{u}/api/digit"),
        &serde_json::json!({ "pixels": px }).to_string(),
    );
    assert_eq!(j.status, 200, "{}", j.text());
    assert_eq!(j.json()["probabilities"], d["probabilities"]);

    // Sentiment: a result per text, with items and warnings.
    let r = post_json(&format!("{u}/api/sentiment"), r#"{"texts": ["a good film", "zzzq"]}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = r.json();
    assert_eq!(r["model"], "nb-bigram");
    assert_eq!(r["results"].as_array().unwrap().len(), 2);
    assert_eq!(r["results"][0]["items"][1]["text"], "good");
    assert_eq!(r["results"][1]["items"][0]["fate"], "unknown");
    assert!(
        r["results"][1]["warnings"][0].as_str().unwrap().contains("vocabulary"),
        "{r}"
    );
    let one = post_json(&format!("{u}/api/sentiment"), r#"{"text": "bad acting"}"#);
    assert_eq!(one.status, 200, "{}", one.text());

    // Runs: the fixture's two runs, the plot served as SVG.
    let runs = get(&format!("{u}/api/runs"), &[]).json();
    let mnist = &runs["crates"][0];
    assert_eq!(mnist["crate"], "mnist-cnn");
    assert_eq!(mnist["runs"][0]["headline"], "test accuracy 10.00 %");
    let plot = mnist["runs"][0]["plots"][0].as_str().unwrap();
    let svg = get(&format!("{u}{plot}"), &[]);
    assert_eq!((svg.status, svg.content_type.as_str()), (200, "image/svg+xml"));

    // Every bad input: status and a JSON body naming the fault.
    let digit = format!("{u}/api/digit");
    let senti = format!("{u}/api/sentiment");
    let out_of_range = [vec![0.0; 5], vec![2.0], vec![0.0; 778]].concat();
    let cases: Vec<(&str, Answer, u16, &str)> = vec![
        (
            "digit, text/plain",
            post(&digit, Some("text/plain"), b"7", &[]),
            415,
            "Content-Type `text/plain` not accepted",
        ),
        ("digit, no content type", post(&digit, None, b"7", &[]), 415, "(none)"),
        (
            "sentiment, form",
            post(&senti, Some("application/x-www-form-urlencoded"), b"text=hi", &[]),
            415,
            "application/json",
        ),
        (
            "digit, 5 MiB",
            post_oversized(&digit, "image/png", &vec![0u8; 5 << 20]),
            413,
            "over the limit of 4194304 bytes",
        ),
        (
            "sentiment, 5 MiB",
            post_oversized(&senti, "application/json", &vec![b' '; 5 << 20]),
            413,
            "over the limit",
        ),
        (
            "digit, broken JSON",
            post_json(&digit, r#"{"pixels": [0.1,"#),
            400,
            "malformed JSON",
        ),
        (
            "digit, 783 pixels",
            post_json(&digit, &serde_json::json!({"pixels": vec![0.0; 783]}).to_string()),
            400,
            "has 783 values; expected 784",
        ),
        (
            "digit, pixel 2",
            post_json(&digit, &serde_json::json!({ "pixels": out_of_range }).to_string()),
            400,
            "pixels[5] = 2",
        ),
        (
            "digit, unknown field",
            post_json(&digit, r#"{"pixel": []}"#),
            400,
            "unknown field",
        ),
        (
            "digit, not an image",
            post(&digit, Some("image/png"), b"not a png at all", &[]),
            400,
            "cannot use the image",
        ),
        (
            "digit, empty image",
            post(&digit, Some("image/png"), b"", &[]),
            400,
            "cannot use the image",
        ),
        (
            "sentiment, empty",
            post_json(&senti, r#"{"texts": ["   "]}"#),
            400,
            "the text: empty text",
        ),
        (
            "sentiment, second empty",
            post_json(&senti, r#"{"texts": ["good", ""]}"#),
            400,
            "texts[1]: empty text",
        ),
        (
            "sentiment, punctuation",
            post_json(&senti, r#"{"text": "?!..."}"#),
            400,
            "no words",
        ),
        (
            "sentiment, no texts",
            post_json(&senti, r#"{"texts": []}"#),
            400,
            "empty",
        ),
        (
            "sentiment, both",
            post_json(&senti, r#"{"texts": ["a"], "text": "b"}"#),
            400,
            "either",
        ),
        (
            "sentiment, numbers",
            post_json(&senti, r#"{"texts": [1, 2]}"#),
            400,
            "malformed JSON",
        ),
        (
            "sentiment, too many",
            post_json(&senti, &serde_json::json!({"texts": vec!["good"; 300]}).to_string()),
            400,
            "at most 256",
        ),
        (
            "unknown path",
            get(&format!("{u}/nothing/here"), &[]),
            404,
            "no such path",
        ),
        (
            "unknown api",
            get(&format!("{u}/api/nothing"), &[]),
            404,
            "no such path",
        ),
        ("wrong method", get(&digit, &[]), 405, "method not allowed"),
        (
            "traversal",
            get(&format!("{u}/runs/mnist-cnn/run-001/..%2F..%2F..%2Fetc%2Fpasswd"), &[]),
            404,
            "no such plot",
        ),
        (
            "traversal, crate",
            get(&format!("{u}/runs/..%2F..%2Fetc/run-001/passwd.svg"), &[]),
            404,
            "no such plot",
        ),
        (
            "not a plot",
            get(&format!("{u}/runs/mnist-cnn/run-001/model.json"), &[]),
            404,
            "no such plot",
        ),
        (
            "dot segments",
            get(&format!("{u}/runs/mnist-cnn/run-001/../../../secret.svg"), &[]),
            404,
            "",
        ),
        (
            "not UTF-8",
            get(&format!("{u}/runs/mnist-cnn/run-001/%FF.svg"), &[]),
            404,
            "no such plot",
        ),
        (
            "huge image",
            post(&digit, Some("image/png"), &black_png(2001, 2001), &[]),
            400,
            "2001×2001 = 4004001 pixels; this server takes at most 4000000",
        ),
        (
            "rebinding",
            raw(
                &server.addr,
                "GET /api/runs HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
            ),
            403,
            "only requests addressed to 127.0.0.1",
        ),
    ];
    for (what, a, status, needle) in cases {
        assert_eq!(a.status, status, "{what}: {}", a.text());
        let body = a.json();
        assert_eq!(body["status"], status, "{what}: {body}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{what}: {body}");
    }
    // The server survived all of it.
    assert_eq!(get(&format!("{u}/api/status"), &[]).status, 200);
    server.stop().unwrap();
}

/// A black PNG of `w`×`h` (a few KiB however large).
fn black_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::GrayImage::new(w, h)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// A request written by hand (headers a client library would not send), and its answer.
fn raw(addr: &std::net::SocketAddr, request: &str) -> Answer {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    conn.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn a_missing_model_is_a_503_that_says_how_to_train_it() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(&tmp.path().join("runs"), None);
    let u = server.url();
    let s = get(&format!("{u}/api/status"), &[]).json();
    assert_eq!(s["mnist"]["ready"], false);
    assert!(
        s["mnist"]["problem"]
            .as_str()
            .unwrap()
            .contains("cargo run -p mnist-cnn --release"),
        "{s}"
    );
    assert!(
        s["sentiment"]["problem"]
            .as_str()
            .unwrap()
            .contains("cargo run -p sentiment --release"),
        "{s}"
    );
    let d = post(
        &format!("{u}/api/digit"),
        Some("image/png"),
        &load::drawn_one_png(),
        &[],
    );
    assert_eq!(d.status, 503);
    assert!(d.json()["error"].as_str().unwrap().contains("cargo run -p mnist-cnn"));
    let r = post_json(&format!("{u}/api/sentiment"), r#"{"text": "good"}"#);
    assert_eq!(r.status, 503);
    // Bad input is still refused as such before the missing model matters.
    assert_eq!(
        post(&format!("{u}/api/digit"), Some("text/plain"), b"", &[]).status,
        415
    );
    // The page still loads, and the runs list is empty.
    assert_eq!(get(&format!("{u}/"), &[]).status, 200);
    let runs = get(&format!("{u}/api/runs"), &[]).json();
    assert!(
        runs["crates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["runs"].as_array().unwrap().is_empty())
    );
}

#[test]
fn a_named_model_that_cannot_load_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(&tmp.path().join("runs"), None);
    let bad = tmp.path().join("no-such-run");
    opts.mnist_model = Some(bad.clone());
    let e = gradlab_web::models::AppState::load(opts).unwrap_err();
    assert!(format!("{e:#}").contains(&bad.display().to_string()), "{e:#}");
}

#[test]
fn with_a_token_the_api_and_runs_need_it_and_the_page_does_not() {
    let tmp = untrained_runs();
    let token = "a-token-of-thirty-two-characters";
    let server = start(&runs_of(&tmp), Some(token));
    let u = server.url();
    assert_eq!(get(&format!("{u}/"), &[]).status, 200);
    for (what, headers) in [
        ("no header", vec![]),
        (
            "wrong token",
            vec![("Authorization", "Bearer a-token-of-thirty-two-characterX")],
        ),
        ("short token", vec![("Authorization", "Bearer a")]),
        ("no scheme", vec![("Authorization", token)]),
    ] {
        for path in ["/api/status", "/api/runs", "/runs/mnist-cnn/run-001/curves.svg"] {
            let a = get(&format!("{u}{path}"), &headers);
            assert_eq!(a.status, 401, "{what} {path}");
            assert!(a.json()["error"].as_str().unwrap().contains("access token"));
        }
        let d = post(
            &format!("{u}/api/digit"),
            Some("image/png"),
            &load::drawn_one_png(),
            &headers,
        );
        assert_eq!(d.status, 401, "{what}");
    }
    let auth = format!("Bearer {token}");
    let ok = [("Authorization", auth.as_str())];
    assert_eq!(get(&format!("{u}/api/status"), &ok).status, 200);
    assert_eq!(get(&format!("{u}/runs/mnist-cnn/run-001/curves.svg"), &ok).status, 200);
    assert_eq!(
        post(
            &format!("{u}/api/digit"),
            Some("image/png"),
            &load::drawn_one_png(),
            &ok
        )
        .status,
        200
    );
}

#[test]
fn shutdown_lets_a_request_in_flight_finish() {
    let tmp = untrained_runs();
    let mut server = start(&runs_of(&tmp), None);
    let body = br#"{"texts": ["a good film"]}"#;
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // Headers and half the body, then the stop signal, then the rest.
    write!(
        conn,
        "POST /api/sentiment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(&body[..10]).unwrap();
    conn.flush().unwrap();
    wait_until("the half-sent request in flight", || server.in_flight() == 1);
    server.signal_stop();
    wait_until("the server to take the stop signal", || server.stopping());
    conn.write_all(&body[10..]).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"probability\""), "{answer}");
    let addr = server.addr;
    server.stop().unwrap();
    // Stopped: nothing listens there any more.
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err());
}

/// 2,000 requests (a drawn digit and a review in turn) from 16 concurrent clients, each
/// limited to 30 s: no errors. The figures are printed (run with --nocapture), not asserted.
#[test]
fn bounded_load_from_16_clients_has_no_errors() {
    let tmp = untrained_runs();
    let server = start(&runs_of(&tmp), None);
    let report = load::run(&load::Plan {
        base_url: server.url(),
        requests: 2000,
        clients: 16,
        timeout: Duration::from_secs(30),
        kinds: load::page_requests(),
        token: None,
    });
    println!("{}", report.line());
    assert_eq!(report.errors, 0, "{}", report.line());
    assert!(report.p50_ms.is_finite() && report.p99_ms >= report.p50_ms);
    server.stop().unwrap();
}
