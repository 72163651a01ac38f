//! A bounded load generator: `requests` requests from `clients` concurrent clients (threads with
//! a keep-alive HTTP/1.1 connection each), every request with a time limit; reports errors, latency
//! percentiles and requests/s. `gradlab-web load` prints its report; the tests run it against a
//! loopback server and require zero errors (never a speed).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// One kind of request: method POST, a path, a content type and a body.
#[derive(Debug, Clone)]
pub struct Request {
    /// Path under the base URL, e.g. `/api/digit`.
    pub path: String,
    /// `Content-Type`.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Requests in all.
    pub requests: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Each request's time limit (connect + send + answer).
    pub timeout: Duration,
    /// The request kinds, taken in turn.
    pub kinds: Vec<Request>,
    /// Sent as `Authorization: Bearer …` when set.
    pub token: Option<String>,
}

/// The outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Requests sent.
    pub requests: usize,
    /// Clients.
    pub clients: usize,
    /// Requests that failed (transport error, timeout, or a status other than 200).
    pub errors: usize,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th-percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Slowest request, milliseconds.
    pub max_ms: f64,
    /// Wall-clock seconds for all requests.
    pub seconds: f64,
    /// Requests per second.
    pub per_second: f64,
}

impl Report {
    /// One line for the terminal.
    pub fn line(&self) -> String {
        format!(
            "{} requests from {} clients in {:.2} s: {:.0} requests/s, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} error(s){}",
            self.requests,
            self.clients,
            self.seconds,
            self.per_second,
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            self.errors,
            self.first_error
                .as_ref()
                .map_or(String::new(), |e| format!(" (first: {e})"))
        )
    }
}

/// Run `plan` to the end (it stops by itself: a fixed count, each request time-limited).
pub fn run(plan: &Plan) -> Report {
    assert!(!plan.kinds.is_empty(), "a load plan needs at least one request kind");
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(plan.requests));
    let failures = Mutex::new((0usize, None::<String>));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..plan.clients.max(1) {
            scope.spawn(|| {
                let mut conn: Option<Conn> = None;
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= plan.requests {
                        break;
                    }
                    let kind = &plan.kinds[i % plan.kinds.len()];
                    let t = Instant::now();
                    let outcome = match conn.take().map_or_else(|| Conn::open(&plan.base_url, plan.timeout), Ok) {
                        Ok(mut c) => match c.post(kind, plan.token.as_deref()) {
                            Ok((200, _)) => {
                                conn = Some(c);
                                Ok(())
                            }
                            Ok((status, body)) => {
                                conn = Some(c);
                                Err(format!("{} → {status}: {}", kind.path, String::from_utf8_lossy(&body)))
                            }
                            Err(e) => Err(format!("{}: {e}", kind.path)),
                        },
                        Err(e) => Err(format!("connecting to {}: {e}", plan.base_url)),
                    };
                    match outcome {
                        Ok(()) => mine.push(t.elapsed().as_secs_f64() * 1e3),
                        Err(e) => {
                            let mut f = failures.lock().unwrap();
                            f.0 += 1;
                            f.1.get_or_insert(e);
                        }
                    }
                }
                latencies.lock().unwrap().extend(mine);
            });
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut l = latencies.into_inner().unwrap();
    l.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        if l.is_empty() {
            return f64::NAN;
        }
        l[((q * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1]
    };
    let (errors, first_error) = failures.into_inner().unwrap();
    Report {
        requests: plan.requests,
        clients: plan.clients,
        errors,
        first_error,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: l.last().copied().unwrap_or(f64::NAN),
        seconds,
        per_second: plan.requests as f64 / seconds,
    }
}

/// One keep-alive HTTP/1.1 connection: just enough client for the load generator (plain HTTP,
/// `Content-Length` or chunked answers), so the binary links no HTTP client library.
struct Conn {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    /// Connect to `http://HOST:PORT` (a trailing path is ignored), every read and write limited
    /// to `timeout`.
    fn open(base_url: &str, timeout: Duration) -> std::io::Result<Conn> {
        let host = base_url
            .strip_prefix("http://")
            .ok_or_else(|| std::io::Error::other(format!("{base_url}: only http:// URLs")))?;
        let host = host.split('/').next().unwrap_or(host).to_string();
        let addr = host
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("{host}: no address")))?;
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(stream),
            host,
        })
    }

    /// POST `req`; the status and the body.
    fn post(&mut self, req: &Request, token: Option<&str>) -> std::io::Result<(u16, Vec<u8>)> {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            req.path,
            self.host,
            req.content_type,
            req.body.len()
        );
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(&req.body)?;
        s.flush()?;
        self.answer()
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut l = String::new();
        if self.reader.read_line(&mut l)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(l.trim_end().to_string())
    }

    fn answer(&mut self) -> std::io::Result<(u16, Vec<u8>)> {
        let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        let status_line = self.line()?;
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("not an HTTP answer: {status_line:?}")))?;
        let (mut length, mut chunked) = (None, false);
        loop {
            let h = self.line()?;
            if h.is_empty() {
                break;
            }
            let (name, value) = h.split_once(':').unwrap_or((&h, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let size = usize::from_str_radix(self.line()?.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|e| bad(format!("bad chunk size: {e}")))?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            let n = length.ok_or_else(|| bad("an answer without Content-Length".into()))?;
            body.resize(n, 0);
            self.reader.read_exact(&mut body)?;
        }
        Ok((status, body))
    }
}

/// A drawn-looking digit "1" as the page sends it: a 280×280 PNG, black, with a white vertical
/// stroke 20 pixels wide.
pub fn drawn_one_png() -> Vec<u8> {
    let img = image::GrayImage::from_fn(280, 280, |x, y| {
        image::Luma([if (130..150).contains(&x) && (50..230).contains(&y) {
            255
        } else {
            0
        }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encoding a PNG in memory cannot fail");
    out.into_inner()
}

/// The page's two requests: a drawn digit, and one review.
pub fn page_requests() -> Vec<Request> {
    vec![
        Request {
            path: "/api/digit".into(),
            content_type: "image/png".into(),
            body: drawn_one_png(),
        },
        Request {
            path: "/api/sentiment".into(),
            content_type: "application/json".into(),
            body: br#"{"texts": ["a gripping, beautifully acted film with a weak ending"]}"#.to_vec(),
        },
    ]
}
