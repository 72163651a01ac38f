//! Hostile requests on loopback: the `gradlab-web` binary gets random bytes, mutated copies of
//! valid requests (truncated, bit-flipped, bytes set to extremes, parts duplicated), and
//! requests built to hurt (huge or lying `Content-Length`, broken chunked bodies, thousands of
//! headers, a 64 KiB header line, deep JSON, an image header claiming 65535×65535 pixels, path
//! traversal). Each gets a 4xx, a closed connection or, for a mutation that is still a valid
//! request, a 2xx — never a 5xx or a hang; between them correct requests are still answered, the
//! process stays up, and its resident memory stays within a bound. Seeded: the same requests
//! every run. The count and the memory figures are printed.

use crate::common::*;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gradlab_testkit::hostile::{Rng, exchange, mutate, rss_kib};

/// Requests tried.
const REQUESTS: usize = 600;
/// How much the server's resident memory may grow over the whole run (after a warm-up of
/// correct requests): a few request bodies at the body limit, not one per request.
const RSS_GROWTH_BOUND_KIB: u64 = 4 * (gradlab_web::MAX_BODY_BYTES as u64 / 1024) + 64 * 1024;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// The binary over `runs` on an ephemeral loopback port; its `host:port`.
fn start_binary(runs: &std::path::Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gradlab-web"))
        .args(["--listen", "127.0.0.1:0", "--backend", "flex", "--runs"])
        .arg(runs)
        .env_remove("GRADLAB_WEB_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut addr = None;
    for line in out.lines().map_while(Result::ok) {
        if let Some((_, rest)) = line.trim().split_once(": http://") {
            addr = Some(rest.trim_end_matches('/').to_string());
        }
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    let addr = addr.expect("gradlab-web printed its URL");
    (Server(child), addr)
}

fn request(method: &str, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn digit_png() -> Vec<u8> {
    let img = image::GrayImage::from_fn(28, 28, |x, y| {
        image::Luma([if x.abs_diff(14) < 3 && y > 5 && y < 23 { 230 } else { 0 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Valid requests: the seeds the mutations start from, and the checks between them.
fn valid_requests() -> Vec<Vec<u8>> {
    let pixels: Vec<String> = (0..784)
        .map(|i| if i % 29 == 0 { "0.9".into() } else { "0".into() })
        .collect();
    vec![
        request("GET", "/api/status", "text/plain", b""),
        request("GET", "/api/runs", "text/plain", b""),
        request("POST", "/api/digit", "image/png", &digit_png()),
        request(
            "POST",
            "/api/digit",
            "application/json",
            format!("{{\"pixels\": [{}]}}", pixels.join(",")).as_bytes(),
        ),
        request(
            "POST",
            "/api/sentiment",
            "application/json",
            br#"{"texts": ["a good film", "a bad film"]}"#,
        ),
        request("GET", "/runs/mnist-cnn/run-001/curves.svg", "text/plain", b""),
    ]
}

/// Requests built to hurt, one per kind.
fn crafted_requests() -> Vec<Vec<u8>> {
    let mut png_bomb = digit_png();
    // IHDR's width and height (bytes 16..24) set to 65535: a 4-gigapixel image in a 1 KB file.
    png_bomb[16..24].copy_from_slice(&[0, 0, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF]);
    let deep = format!("{{\"texts\": {}{}}}", "[".repeat(50_000), "]".repeat(50_000));
    let many_texts = format!("{{\"texts\": [{}\"x\"]}}", "\"x\",".repeat(100_000));
    let many_headers: String = (0..5000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let mut list = vec![
        request("POST", "/api/digit", "image/png", &png_bomb),
        request("POST", "/api/sentiment", "application/json", deep.as_bytes()),
        request("POST", "/api/sentiment", "application/json", many_texts.as_bytes()),
        request("POST", "/api/digit", "application/json", br#"{"pixels": [1e308, NaN, -1, "x"]}"#),
        request("POST", "/api/digit", "application/json", br#"{"pixels": []}"#),
        request("GET", "/runs/../../../../etc/passwd", "text/plain", b""),
        request("GET", "/runs/mnist-cnn/run-001/..%2F..%2F..%2Fetc%2Fpasswd", "text/plain", b""),
        request("GET", "/runs/mnist-cnn/run-001/%00", "text/plain", b""),
        request("GET", &format!("/{}", "a".repeat(100_000)), "text/plain", b""),
        b"POST /api/sentiment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999999\r\n\r\n{}".to_vec(),
        b"POST /api/sentiment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n{}".to_vec(),
        b"POST /api/sentiment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{}".to_vec(),
        b"POST /api/sentiment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(),
        b"POST /api/sentiment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n".to_vec(),
        b"POST /api/sentiment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        format!("GET /api/status HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
        format!("GET /api/status HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n", "v".repeat(64 * 1024)).into_bytes(),
        b"BREW /api/status HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /api/status HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        b"\r\n\r\n\r\n\r\n".to_vec(),
        Vec::new(),
    ];
    // A body just over the limit.
    list.push(request(
        "POST",
        "/api/digit",
        "image/png",
        &vec![0u8; gradlab_web::MAX_BODY_BYTES + 1],
    ));
    list
}

/// Correct requests (through an HTTP client) get their 200.
fn assert_answers(addr: &str, after: &str) {
    let u = format!("http://{addr}");
    for (what, a) in [
        ("status", get(&format!("{u}/api/status"), &[])),
        ("runs", get(&format!("{u}/api/runs"), &[])),
        (
            "a digit",
            post(&format!("{u}/api/digit"), Some("image/png"), &digit_png(), &[]),
        ),
        (
            "a review",
            post_json(&format!("{u}/api/sentiment"), r#"{"texts": ["a good film"]}"#),
        ),
    ] {
        assert_eq!(a.status, 200, "{what} after {after}: {}", a.text());
    }
}

#[test]
fn random_and_malformed_requests_get_4xx_and_the_server_keeps_answering_in_bounded_memory() {
    let tmp = untrained_runs();
    let (mut server, addr) = start_binary(&runs_of(&tmp));
    let valid = valid_requests();
    // Warm-up: every route once, so the models and buffers are in memory before the baseline.
    for _ in 0..3 {
        assert_answers(&addr, "the start");
    }
    let pid = server.0.id();
    let before = rss_kib(pid);
    let mut rng = Rng::new(0x5eed_0f3b);
    let crafted = crafted_requests();
    let (mut tried, mut rejected, mut closed, mut accepted) = (0, 0, 0, 0);
    for i in 0..REQUESTS {
        let r = match i % 4 {
            _ if i < crafted.len() => crafted[i].clone(),
            0 => rng.some_bytes(2048),
            _ => {
                let k = rng.below(valid.len());
                mutate(&valid[k], &mut rng)
            }
        };
        // A request the server still waits on after 250 ms gets its end of input then.
        let status = exchange(&addr, &r, Duration::from_millis(250), Duration::from_secs(30));
        let shown = String::from_utf8_lossy(&r[..r.len().min(120)]).into_owned();
        match status {
            None => panic!("request {i} hung (no answer in 30 s): {shown:?}"),
            Some(0) => closed += 1,
            Some(s) if (400..500).contains(&s) => rejected += 1,
            Some(s) if (200..300).contains(&s) => accepted += 1,
            Some(s) => panic!("request {i} got {s}: {shown:?}"),
        }
        tried += 1;
        assert!(
            matches!(server.0.try_wait(), Ok(None)),
            "the server died on request {i}: {shown:?}"
        );
        if i % 50 == 49 {
            assert_answers(&addr, &format!("request {i}"));
        }
    }
    assert_answers(&addr, "the last request");
    let after = rss_kib(pid);
    println!(
        "hostile requests to gradlab-web: {tried} tried: {rejected} 4xx, {closed} closed, {accepted} 2xx; \
         resident memory {before:?} KiB before, {after:?} KiB after (bound: +{RSS_GROWTH_BOUND_KIB} KiB)"
    );
    assert!(
        rejected > 0 && accepted > 0,
        "the mix must hold both refused and valid requests"
    );
    if let (Some(b), Some(a)) = (before, after) {
        assert!(
            a <= b + RSS_GROWTH_BOUND_KIB,
            "resident memory grew from {b} to {a} KiB"
        );
    }
}
