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

/// A masked WebSocket frame from a client (`opcode`, `payload`), as RFC 6455 §5.2 lays it out.
fn ws_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend((n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend((n as u64).to_be_bytes());
        }
    }
    f.extend(mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

const UPGRADE: &[u8] = b"GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Random and malformed connections (bounded: [`CONNECTIONS`], each given at most 10 s): random
/// bytes, mutated upgrade requests, and a correct upgrade followed by random, mutated, oversized
/// (a frame claiming 2^40 bytes) or unmasked frames. Each connection fails alone: the server
/// never dies, a client computes correctly between them, nothing hangs, and its resident memory
/// stays within a bound. Seeded: the same connections every run.
#[test]
fn random_and_malformed_connections_leave_it_answering_in_bounded_memory() {
    use gradlab_testkit::hostile::{Rng, exchange, mutate, rss_kib};
    use std::time::Duration;
    const CONNECTIONS: usize = 300;
    const RSS_GROWTH_BOUND_KIB: u64 = 128 * 1024;
    let mut server = ServeProcess::start(&[], &[]);
    let addr = server.url.trim_start_matches("ws://").to_string();
    let url = server.url.clone();
    let check = |after: &str| {
        let remote = client(&url, None).unwrap_or_else(|e| panic!("after {after}: {e}"));
        assert_eq!(sum_on(&remote.device, 100), 5050.0, "after {after}");
    };
    check("the start");
    let before = rss_kib(server.pid());
    let mut rng = Rng::new(0x5e4e_0f3b);
    let (mut upgraded, mut refused) = (0, 0);
    for i in 0..CONNECTIONS {
        let mask = [rng.next_u64() as u8, rng.next_u64() as u8, 7, 9];
        let bytes = match i % 6 {
            0 => rng.some_bytes(4096),
            1 => mutate(UPGRADE, &mut rng),
            2 => [UPGRADE, &ws_frame(2, &rng.some_bytes(2048), mask)].concat(),
            3 => {
                let len = 1 + rng.below(300);
                [UPGRADE, &mutate(&ws_frame(2, &rng.bytes(len), mask), &mut rng)].concat()
            }
            4 => {
                // A binary frame claiming 2^40 bytes, then a few.
                let mut f = vec![0x82, 0x80 | 127];
                f.extend((1u64 << 40).to_be_bytes());
                f.extend(mask);
                f.extend(rng.bytes(64));
                [UPGRADE, &f].concat()
            }
            _ => {
                // Unmasked (a server's frame from a client) or a reserved opcode.
                let op = *rng.pick(&[0x3u8, 0xB, 0x1, 0x9]);
                [UPGRADE, &[0x80 | op, 4], b"junk".as_slice()].concat()
            }
        };
        match exchange(&addr, &bytes, Duration::from_millis(250), Duration::from_secs(10)) {
            None => panic!(
                "connection {i} hung: {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
            ),
            // Upgraded, and then its frames got the connection closed.
            Some(101) => upgraded += 1,
            Some(_) => refused += 1,
        }
        assert!(
            server.alive(),
            "gradlab-serve died on connection {i}:\n{}",
            server.stderr()
        );
        if i % 60 == 59 {
            check(&format!("connection {i}"));
        }
    }
    check("the last connection");
    let after = rss_kib(server.pid());
    println!(
        "hostile connections to gradlab-serve: {CONNECTIONS}: {refused} refused or closed before an upgrade, \
         {upgraded} upgraded and then closed on their frames; resident memory {before:?} KiB before, {after:?} KiB after (bound: +{RSS_GROWTH_BOUND_KIB} KiB)"
    );
    assert!(
        upgraded > 0 && refused > 0,
        "the mix must reach both the handshake and the session"
    );
    if let (Some(b), Some(a)) = (before, after) {
        assert!(
            a <= b + RSS_GROWTH_BOUND_KIB,
            "resident memory grew from {b} to {a} KiB"
        );
    }
}
