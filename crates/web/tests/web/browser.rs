//! The page in a real browser: headless Chromium driven over WebDriver (chromedriver, spoken to
//! with plain HTTP + JSON). Real pointer input draws a "1" (a vertical stroke) and a "0" (a
//! circle) on the canvas and the page must show that digit; typed reviews must show their label.
//! Screenshots are saved as artifacts (`target/tmp/gradlab-web-screenshots/`, or
//! `$GRADLAB_ARTIFACTS`). Without Chromium the test is skipped with a notice — except where
//! `GRADLAB_REQUIRE_BROWSER` is set (CI installs Debian's chromium and chromium-driver).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const REQUIRE: &str = "GRADLAB_REQUIRE_BROWSER";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver and the Chromium it drives, or None after a notice.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|n| {
            let p = Path::new(n);
            if p.is_absolute() {
                p.is_file().then(|| p.to_path_buf())
            } else {
                std::env::var_os("PATH")
                    .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(n)).find(|f| f.is_file()))
            }
        })
    };
    let driver = find(&[
        "chromedriver",
        "/usr/bin/chromedriver",
        "/usr/lib/chromium/chromedriver",
    ]);
    let chromium = find(&["chromium", "/usr/bin/chromium", "chromium-browser", "google-chrome"]);
    match (driver, chromium) {
        (Some(d), Some(c)) => Some((d, c)),
        _ => {
            gradlab_testkit::skip_unless_required(
                REQUIRE,
                format!("the browser test needs chromium and chromedriver ({REQUIRE} is set)"),
                "the browser test: no chromium/chromedriver (apt-get install chromium chromium-driver)".into(),
            );
            None
        }
    }
}

/// A WebDriver session over a chromedriver child process (both ended on drop).
struct Driver {
    child: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

impl Driver {
    fn start(driver: &Path, chromium: &Path, profile: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let mut d = Driver {
            child,
            base,
            session: String::new(),
            agent,
        };
        let t = Instant::now();
        while d.call("GET", "/status", None).map(|v| v["ready"] == true) != Ok(true) {
            assert!(t.elapsed() < Duration::from_secs(30), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,2000",
        ];
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let v = d.call("POST", "/session", Some(caps)).expect("a browser session");
        d.session = v["sessionId"].as_str().expect("sessionId").to_string();
        d
    }

    /// A WebDriver command; Ok(value) or Err(the error).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let r = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, b) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or(json!({})).to_string()),
        };
        let r = r.map_err(|e| e.to_string())?;
        let ok = r.status().is_success();
        let text = r
            .into_body()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(v["value"].to_string())
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let p = format!("/session/{}{path}", self.session);
        self.call(method, &p, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.cmd("GET", &format!("/element/{id}/text"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Wait until `css`'s text is `want` (up to 20 s); the last text seen otherwise.
    fn wait_text(&self, css: &str, want: &str) -> Result<(), String> {
        let t = Instant::now();
        loop {
            let now = self.text(css);
            if now == want {
                return Ok(());
            }
            if t.elapsed() > Duration::from_secs(20) {
                return Err(now);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Press, move through `points` (offsets from the element's centre), release: real pointer
    /// input, as a mouse.
    fn stroke(&self, css: &str, points: &[(i64, i64)]) {
        let id = self.find(css);
        let origin = json!({ ELEMENT: id });
        let mut actions = vec![
            json!({"type": "pointerMove", "duration": 0, "origin": origin, "x": points[0].0, "y": points[0].1}),
            json!({"type": "pointerDown", "button": 0}),
        ];
        for &(x, y) in &points[1..] {
            actions.push(json!({"type": "pointerMove", "duration": 20, "origin": origin, "x": x, "y": y}));
        }
        actions.push(json!({"type": "pointerUp", "button": 0}));
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}]})),
        );
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/click"), None);
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/clear"), None);
        self.cmd("POST", &format!("/element/{id}/value"), Some(json!({"text": text})));
    }

    fn screenshot(&self, file: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None);
        std::fs::write(file, decode_base64(b64.as_str().unwrap())).unwrap();
        eprintln!("screenshot: {}", file.display());
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | (val(c) as u32) << (18 - 6 * i));
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fn artifacts() -> PathBuf {
    let dir = std::env::var_os("GRADLAB_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
        .join("gradlab-web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn drawing_and_typing_in_a_real_browser_show_the_right_answers() {
    let Some((driver, chromium)) = browser() else { return };
    let tmp = trained_runs();
    let server = start(&runs_of(&tmp), None);
    let profile = tempfile::tempdir().unwrap();
    let d = Driver::start(&driver, &chromium, profile.path());
    d.cmd("POST", "/url", Some(json!({"url": format!("{}/", server.url())})));
    // The page reached the server: its status line names the backend.
    let t = Instant::now();
    while !d.text("#server").contains("inference on flex") {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "status line: {}",
            d.text("#server")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let shots = artifacts();

    // A "1": one vertical stroke down the middle of the 280×280 canvas.
    let one: Vec<(i64, i64)> = (-9..=9).map(|i| (0, i * 10)).collect();
    d.stroke("#pad", &one);
    let drew_one = d.wait_text("#digit-top", "1");
    d.screenshot(&shots.join("digit-1.png"));
    drew_one.unwrap_or_else(|shown| panic!("drew a 1, the page shows {shown:?}"));
    // 32 feature maps were drawn.
    let maps = d.cmd(
        "POST",
        "/elements",
        Some(json!({"using": "css selector", "value": "#maps canvas"})),
    );
    assert_eq!(maps.as_array().unwrap().len(), 32);

    // Clear, then a "0": a closed circle.
    d.click("#clear");
    assert_eq!(d.text("#digit-top"), "–");
    let circle: Vec<(i64, i64)> = (0..=40)
        .map(|k| {
            let a = k as f64 / 40.0 * std::f64::consts::TAU;
            ((60.0 * a.sin()).round() as i64, (-85.0 * a.cos()).round() as i64)
        })
        .collect();
    d.stroke("#pad", &circle);
    let drew_zero = d.wait_text("#digit-top", "0");
    d.screenshot(&shots.join("digit-0.png"));
    drew_zero.unwrap_or_else(|shown| panic!("drew a 0, the page shows {shown:?}"));

    // Reviews: a clearly positive and a clearly negative one.
    d.type_into("#text", "a wonderful, moving and beautifully acted film");
    let positive = d.wait_text("#sentiment-label", "positive");
    d.screenshot(&shots.join("sentiment-positive.png"));
    positive.unwrap_or_else(|shown| panic!("a positive review shows {shown:?}"));
    assert!(d.text("#tokens").contains("wonderful"));
    d.type_into("#text", "a dull, tedious and badly written mess");
    let negative = d.wait_text("#sentiment-label", "negative");
    d.screenshot(&shots.join("sentiment-negative.png"));
    negative.unwrap_or_else(|shown| panic!("a negative review shows {shown:?}"));

    // The runs list shows both crates' runs with their headline figures.
    let runs = d.text("#run-list");
    assert!(
        runs.contains("mnist-cnn — 1 run(s)") && runs.contains("test accuracy"),
        "{runs}"
    );
    d.cmd(
        "POST",
        "/execute/sync",
        Some(json!({"script": "window.scrollTo(0, 0)", "args": []})),
    );
    d.screenshot(&shots.join("page.png"));
    drop(d);
    server.stop().unwrap();
}
