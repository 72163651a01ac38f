//! The router, the access token, and serving until a shutdown signal with in-flight requests
//! finished (axum's graceful shutdown).
//!
//! Architecture Invariant: the server listens on loopback unless told otherwise, and a
//! non-loopback address is refused without an access token ([`check_exposure`]); with a token,
//! every `/api/` and `/runs/` request must carry it (`Authorization: Bearer <token>`), compared
//! in constant time; without a token, every request must be addressed to a loopback name
//! (`Host`), so DNS rebinding cannot reach the API from a browser. The page itself (HTML, CSS,
//! JS) holds no data and is served to anyone who may reach the port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::{self, ApiError};
use crate::models::AppState;

/// The default address: loopback, port 8080.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The environment variable holding the access token (`--token-file` is the other way).
pub const TOKEN_ENV: &str = "GRADLAB_WEB_TOKEN";

/// The app: the page, the API, the plots, 404/405 as JSON, the body limit, the token check.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(crate::assets::index))
        .route("/app.js", get(crate::assets::script))
        .route("/style.css", get(crate::assets::style))
        .route("/api/status", get(api::status))
        .route("/api/digit", post(api::digit))
        .route("/api/sentiment", post(api::sentiment))
        .route("/api/runs", get(api::runs))
        .route("/runs/{crate}/{run}/{file}", get(api::plot))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::wrong_method)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(DefaultBodyLimit::max(crate::MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), count_in_flight))
        .with_state(state)
}

/// Counts the request in [`AppState::in_flight`] until its response is ready (or the request is
/// dropped), refusals included.
async fn count_in_flight(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    struct Counted<'a>(&'a AppState);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
    s.in_flight.fetch_add(1, Ordering::SeqCst);
    let _counted = Counted(&s);
    next.run(req).await
}

/// With a token set: `/api/` and `/runs/` need `Authorization: Bearer <token>` (401 otherwise).
/// Without one (a loopback server): the `Host` must be a loopback name, so a web page whose own
/// name was re-pointed at 127.0.0.1 (DNS rebinding) cannot read the API from a browser (403).
async fn require_token(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if s.token.is_none() {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !loopback_host(host) {
            eprintln!(
                "gradlab-web: refused {} {}: Host {host:?} is not a loopback name",
                req.method(),
                req.uri().path()
            );
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "this server answers only requests addressed to 127.0.0.1, localhost or [::1] (start it with an access token to serve other names)",
            )
            .into_response();
        }
    }
    if let Some(token) = &s.token {
        let path = req.uri().path();
        if path.starts_with("/api/") || path.starts_with("/runs/") {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !same(given.as_bytes(), token.as_bytes()) {
                eprintln!(
                    "gradlab-web: refused {} {path}: missing or wrong access token",
                    req.method()
                );
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "this server needs its access token: open the page as http://HOST:PORT/#token=… or send Authorization: Bearer …",
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

/// `127.0.0.1`, `localhost` or `[::1]`, with or without a port.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().map(|h| format!("[{h}]")).unwrap_or_default(),
        None => host.split(':').next().unwrap_or("").to_string(),
    };
    matches!(name.to_ascii_lowercase().as_str(), "127.0.0.1" | "localhost" | "[::1]")
}

/// Constant-time equality (the time depends on the lengths only).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuse to listen beyond loopback without a token; warn when listening beyond it with one.
pub fn check_exposure(addr: SocketAddr, token: Option<&str>) -> Result<Option<String>> {
    if addr.ip().is_loopback() {
        return Ok(None);
    }
    if token.is_none() {
        bail!(
            "--listen {addr}: not a loopback address, so other machines could reach the server; \
             give an access token ({TOKEN_ENV}=… or --token-file FILE), or reach it through an SSH \
             tunnel (ssh -L 8080:127.0.0.1:8080 HOST) and keep the default 127.0.0.1"
        );
    }
    Ok(Some(format!(
        "warning: listening on {addr}, not loopback: anyone who can reach this port sees the page; \
         the API and the runs need the token. The traffic is plain HTTP — use an SSH tunnel or a \
         TLS proxy across networks you do not trust."
    )))
}

/// The access token: the first line of `file`, else `$GRADLAB_WEB_TOKEN`, else none
/// ([`gradlab::token::read`]: an empty or short token is refused).
pub fn read_token(file: Option<&std::path::Path>) -> Result<Option<String>> {
    gradlab::token::read(file, "--token-file", TOKEN_ENV)
}

/// Serve on `listener` until `shutdown` completes; requests in flight then finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving")
}

/// How long requests in flight get to finish after Ctrl-C/SIGTERM.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Serve until Ctrl-C or SIGTERM; requests in flight then get [`SHUTDOWN_GRACE`] to finish (a
/// second signal, or the end of the grace, stops at once, saying so).
pub async fn serve_until_signal(listener: tokio::net::TcpListener, state: Arc<AppState>) -> Result<()> {
    // Listening from here on, so a second signal sent just after the first is not missed.
    let signals = Arc::new(tokio::sync::Mutex::new(gradlab::signal::Signals::new()));
    let signalled = Arc::new(tokio::sync::Notify::new());
    let notify = signalled.clone();
    let counts = state.clone();
    let first = signals.clone();
    let serving = serve(listener, state, async move {
        first.lock().await.recv().await;
        let n = counts.in_flight.load(Ordering::SeqCst);
        eprintln!(
            "gradlab-web: stopping: finishing {} in flight (Ctrl-C again stops at once)",
            gradlab::count(n, "request")
        );
        notify.notify_one();
    });
    let deadline = async {
        signalled.notified().await;
        let mut signals = signals.lock().await;
        tokio::select! {
            _ = tokio::time::sleep(SHUTDOWN_GRACE) => eprintln!(
                "gradlab-web: requests still in flight after {} s: stopping anyway",
                SHUTDOWN_GRACE.as_secs()
            ),
            _ = signals.recv() => eprintln!("gradlab-web: second signal: stopping at once"),
        }
    };
    tokio::select! {
        r = serving => r,
        _ = deadline => Ok(()),
    }
}

/// A server on a thread of its own (its own runtime), for tests and the load generator.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<AppState>,
    stopping: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Running {
    /// Bind `addr` (port 0: any free port) and serve `state` until [`Running::stop`].
    pub fn start(state: AppState, addr: SocketAddr) -> Result<Running> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the server's runtime")?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::new(state);
        let stopping = Arc::new(AtomicBool::new(false));
        let (served, took) = (state.clone(), stopping.clone());
        let thread = std::thread::spawn(move || {
            rt.block_on(serve(listener, served, async move {
                rx.await.ok();
                took.store(true, Ordering::SeqCst);
            }))
        });
        Ok(Running {
            addr,
            state,
            stopping,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// Whether it has taken the stop signal (it accepts no new connection from then on).
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Ask it to stop without waiting (in-flight requests still finish).
    pub fn signal_stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            tx.send(()).ok();
        }
    }

    /// Stop it and wait until every request in flight has finished.
    pub fn stop(mut self) -> Result<()> {
        self.signal_stop();
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| anyhow::anyhow!("the server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.signal_stop();
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abcdefgh", b"abcdefgh"));
        assert!(!same(b"abcdefgh", b"abcdefgx"));
        assert!(!same(b"abcdefg", b"abcdefgh"));
        assert!(!same(b"", b"a"));
    }

    #[test]
    fn only_loopback_names_pass_without_a_token() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "localhost:1",
            "LOCALHOST",
            "[::1]:80",
            "[::1]",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "localhost.evil",
            "[::2]:80",
            "10.0.0.1",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn beyond_loopback_needs_a_token() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(check_exposure(lo, None).unwrap().is_none());
        let e = check_exposure(any, None).unwrap_err().to_string();
        assert!(
            e.contains("0.0.0.0:8080") && e.contains(TOKEN_ENV) && e.contains("ssh -L"),
            "{e}"
        );
        assert!(check_exposure(any, Some("t")).unwrap().unwrap().contains("warning"));
    }
}
