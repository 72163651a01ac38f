//! `gradlab-serve` on loopback: it serves, logs each session, stops on SIGTERM; it refuses a
//! non-loopback address without a token, clients without the right token (and logs them), bad
//! flags and config values; garbage on its port does not stop it; several clients at once work.
//! Every server is started by the test on an ephemeral port and stopped by it.

use std::io::Write;
use std::path::Path;

use burn::tensor::{Device, Tensor};
use gradlab::backend::{RemoteSpec, resolve};
use gradlab::{AdapterChoice, BackendConfig, BackendName};
use gradlab_testkit::{ServeProcess, text};

const TOKEN: &str = "test-token-0123456789";

fn serve_exe() -> String {
    env!("CARGO_BIN_EXE_gradlab-serve").to_string()
}

/// The remote backend for `url`, with the token in `token_file`.
fn client(url: &str, token_file: Option<&Path>) -> Result<gradlab::ResolvedBackend, gradlab::backend::BackendError> {
    resolve(&BackendConfig {
        remote: Some(RemoteSpec {
            url: url.parse().unwrap(),
            token_file: token_file.map(Into::into),
        }),
        ..BackendConfig::local(BackendName::Remote, AdapterChoice::Default)
    })
}

/// 1 + 2 + … + n computed on `device`.
fn sum_on(device: &Device, n: usize) -> f32 {
    let values: Vec<f32> = (1..=n).map(|i| i as f32).collect();
    Tensor::<1>::from_floats(values.as_slice(), device)
        .sum()
        .into_scalar::<f32>()
}

#[test]
fn it_serves_on_loopback_logs_sessions_and_stops_on_sigterm() {
    let mut server = ServeProcess::start(&["--backend", "flex"], &[]);
    assert!(server.url.starts_with("ws://127.0.0.1:"), "{}", server.url);
    let remote = client(&server.url, None).unwrap();
    assert_eq!(remote.backend, BackendName::Remote);
    assert!(
        remote.describe().starts_with(&format!("remote {}", server.url)),
        "{}",
        remote.describe()
    );
    assert_eq!(sum_on(&remote.device, 100), 5050.0);
    let status = server.terminate();
    let log = server.stderr();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("serving flex on"), "the adapter it serves: {log}");
    assert!(log.contains("session opened for WebSocket client 127.0.0.1:"), "{log}");
    assert!(log.contains("gradlab-serve: stopped"), "{log}");
}

/// What the server prints it serves, from its `serving …` line (its stderr is read by another
/// thread: wait for the line).
fn served_line(server: &ServeProcess) -> String {
    server.stderr_shows(": serving ", 10);
    let log = server.stderr();
    log.lines()
        .find_map(|l| l.split_once(": serving ").map(|(_, s)| s.to_string()))
        .unwrap_or_else(|| panic!("no `serving` line: {log}"))
}

#[test]
fn a_client_says_what_each_kind_of_server_runs_flex_ndarray_or_wgpu() {
    // One per backend kind gradlab-serve hosts (Burn's Flex, NdArray — where built — and CubeCL
    // backends each answer the question through their own handler).
    for backend in ["flex", "ndarray", "wgpu"] {
        let what = format!("a client asking a {backend} server what it runs");
        if !gradlab_testkit::can_run(backend.parse().unwrap(), &what) {
            continue;
        }
        let mut server = ServeProcess::start(&["--backend", backend], &[]);
        let served = served_line(&server);
        assert!(served.starts_with(&format!("{backend} on ")), "{served}");
        let remote = client(&server.url, None).unwrap();
        assert_eq!(remote.describe(), format!("remote {} → {served}", server.url));
        assert_eq!(sum_on(&remote.device, 10), 55.0, "{backend}");
        drop(remote);
        let status = server.terminate();
        assert!(status.success(), "{status:?}\n{}", server.stderr());
    }
}

#[test]
fn tokens_guard_the_server_and_refusals_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    // Not on loopback without a token: refused before anything starts.
    let o = gradlab_testkit::run(&serve_exe(), &["--listen", "0.0.0.0:0"], dir.path(), None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("refusing to listen on 0.0.0.0:0 without an access token"),
        "{}",
        text(&o)
    );
    // With a token (from the environment), any address; clients must present it.
    let server = ServeProcess::start(&["--listen", "0.0.0.0:0"], &[("GRADLAB_SERVE_TOKEN", TOKEN)]);
    let url = server.url.replace("0.0.0.0", "127.0.0.1");
    let e = client(&url, None).unwrap_err().to_string();
    assert!(e.contains(&url) && e.contains("needs an access token"), "{e}");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-token-0123456789\n").unwrap();
    let e = client(&url, Some(&wrong)).unwrap_err().to_string();
    assert!(e.contains("refused this client's access token"), "{e}");
    let right = dir.path().join("right");
    std::fs::write(&right, format!("{TOKEN}\n")).unwrap();
    let remote = client(&url, Some(&right)).unwrap();
    assert_eq!(sum_on(&remote.device, 10), 55.0);
    assert!(server.stderr_shows("session opened for", 10), "{}", server.stderr());
    let log = server.stderr();
    assert!(log.contains("clients must present the access token"), "{log}");
    assert!(
        log.contains("refused a session") && log.contains("wrong token"),
        "{log}"
    );
    assert!(log.contains("session opened for"), "{log}");
}

#[test]
fn the_config_file_gives_the_defaults() {
    // configs/serve.toml says it equals the built-in defaults: both serve flex on 127.0.0.1.
    let file = gradlab::workspace_root().join("configs/serve.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    for line in [
        "backend = \"flex\"",
        "adapter = \"default\"",
        "listen = \"127.0.0.1:3000\"",
    ] {
        assert!(text.contains(line), "{line}");
    }
    for args in [&["--config", file.to_str().unwrap()][..], &[]] {
        let server = ServeProcess::start(args, &[]);
        assert!(server.url.starts_with("ws://127.0.0.1:"), "{}", server.url);
        assert!(
            server.stderr_shows("serving flex on", 10),
            "{args:?}: {}",
            server.stderr()
        );
    }
}

#[test]
fn bad_flags_and_config_values_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad_cfg = d.join("bad.toml");
    std::fs::write(&bad_cfg, "backend = \"flex\"\nport = 3000\n").unwrap();
    let short = d.join("short");
    std::fs::write(&short, "abc\n").unwrap();
    let (bad_cfg, short) = (bad_cfg.to_str().unwrap(), short.to_str().unwrap());
    for (args, needle) in [
        (&["--backend", "remote"][..], "`remote` is not one"),
        (&["--config", bad_cfg], "unknown field `port`"),
        (&["--config", bad_cfg], "line 2"),
        (&["--token-file", short], "at least 16 characters"),
        (&["--token-file", "missing-file"], "missing-file"),
        (&["--listen", "not-an-address"], "invalid socket address"),
        (&["--backend", "cuda"], "invalid value 'cuda'"),
    ] {
        let o = gradlab_testkit::run(&serve_exe(), args, d, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
    }
}

#[test]
fn garbage_on_its_port_does_not_stop_it_and_clients_share_it() {
    let server = ServeProcess::start(&[], &[]);
    let addr = server.url.trim_start_matches("ws://").to_string();
    // Not WebSocket at all, a bad upgrade, and a stream of bytes: each connection fails alone.
    for junk in [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec(),
        vec![0xFFu8; 64 * 1024],
    ] {
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            s.write_all(&junk).ok();
        }
    }
    // Four clients at once, each with its own computations.
    let remote = client(&server.url, None).unwrap();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=4)
            .map(|k| {
                let device = remote.device.clone();
                scope.spawn(move || (k, sum_on(&device, 100 * k)))
            })
            .collect();
        for h in handles {
            let (k, got) = h.join().unwrap();
            let n = (100 * k) as f32;
            assert_eq!(got, n * (n + 1.0) / 2.0, "client {k}");
        }
    });
    assert!(server.stderr_shows("session opened", 10), "{}", server.stderr());
}
