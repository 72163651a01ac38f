//! The binary: it prints its URL and backend, starts without models (saying how to train them),
//! stops cleanly on SIGTERM, refuses a non-loopback address without a token, and refuses bad
//! flags and files with a message naming them.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const EXE: &str = env!("CARGO_BIN_EXE_gradlab-web");

#[cfg(unix)]
#[test]
fn starts_without_models_serves_and_stops_on_sigterm_waiting_for_requests_in_flight() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(EXE)
        .args(["--listen", "127.0.0.1:0", "--backend", "flex"])
        .current_dir(tmp.path())
        .env_remove("GRADLAB_WEB_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // Its stderr, line by line as it comes (the stop messages are read while it runs).
    let (err_tx, err_rx) = std::sync::mpsc::channel::<String>();
    let err = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || err.lines().map_while(Result::ok).try_for_each(|l| err_tx.send(l)));
    let mut err_lines = Vec::new();
    let mut wait_for_stderr = |needle: &str| {
        while !err_lines.iter().any(|l: &String| l.contains(needle)) {
            match err_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(l) => err_lines.push(l),
                Err(_) => panic!("no {needle:?} on stderr in 30 s: {err_lines:?}"),
            }
        }
        err_lines.join("\n")
    };
    let mut lines = Vec::new();
    let mut url = None;
    while !lines.iter().any(|l: &String| l.starts_with("Ctrl-C")) {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0, "the server exited early: {lines:?}");
        if let Some(rest) = l.trim().split_once(": http://") {
            url = Some(format!("http://{}", rest.1.trim_end_matches('/')));
        }
        lines.push(l.trim().to_string());
    }
    let all = lines.join("\n");
    assert!(all.contains("inference: flex on "), "{all}");
    assert!(
        all.contains("digits: no model") && all.contains("cargo run -p mnist-cnn --release"),
        "{all}"
    );
    assert!(all.contains("sentiment: no model"), "{all}");
    let url = url.unwrap_or_else(|| panic!("no URL printed: {all}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(get(&format!("{url}/api/status"), &[]).status, 200);

    // A request that never finishes (half its body sent) holds the shutdown...
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let mut hung = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(
        &mut hung,
        b"POST /api/sentiment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    common::wait_until("the half-sent request in flight", || {
        get(&format!("{url}/api/status"), &[]).json()["requests_in_flight"] == 1
    });
    // ...so SIGTERM (as a service manager stops it; `kill`: the workspace forbids unsafe code)
    // waits for it, and a second SIGTERM stops the server at once.
    let pid = child.id().to_string();
    let term = || {
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
    };
    term();
    // The half-sent request, and the last status poll too if the server has not dropped its
    // count yet when the signal arrives (the poll's response can reach the test first).
    let stopping = wait_for_stderr("stopping: finishing");
    assert!(
        stopping.contains("finishing 1 request in flight") || stopping.contains("finishing 2 requests in flight"),
        "{stopping}"
    );
    assert!(child.try_wait().unwrap().is_none(), "stopped with a request in flight");
    term();
    let t = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "still running 20 s after the second SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "{code:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let err = wait_for_stderr("second signal: stopping at once");
    assert!(!err.contains("panicked"), "{err}");
    drop(hung);
    assert!(rest.contains("gradlab-web: stopped"), "{rest}");
}

#[test]
fn refusals_name_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("short-token"), "abc\n").unwrap();
    /// Arguments, environment, what the message must say.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--listen", "0.0.0.0:0"], &[], "not a loopback address"),
        (
            &["--listen", "0.0.0.0:0"],
            &[("GRADLAB_WEB_TOKEN", "short")],
            "at least 16 characters",
        ),
        (
            &["--token-file", "short-token"],
            &[],
            "--token-file short-token: the access token must be at least 16",
        ),
        (&["--token-file", "no-such-file"], &[], "--token-file no-such-file"),
        (
            &[],
            &[("GRADLAB_WEB_TOKEN", "sixteen-chars-and%more")],
            "may hold only letters, digits",
        ),
        (
            &["--mnist-model", "no-such-run"],
            &[],
            "--mnist-model no-such-run: no such file or folder",
        ),
        (
            &["load", "--url", "ftp://x"],
            &[],
            "--url ftp://x: give the server's address as http://HOST:PORT",
        ),
        (&["load", "--timeout", "0"], &[], "--timeout 0"),
    ];
    for (args, env, needle) in cases {
        let mut c = Command::new(EXE);
        c.args(["--backend", "flex"])
            .args(*args)
            .current_dir(d)
            .env_remove("GRADLAB_WEB_TOKEN");
        for (k, v) in *env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        let text = gradlab_testkit::text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {text}");
        assert!(text.contains(needle), "{args:?}: {text}");
        assert!(!text.contains("panicked"), "{args:?}: {text}");
        // gradlab's shared exit (gradlab::exit_code), as every binary's: one `error: …` line.
        let stderr = String::from_utf8_lossy(&o.stderr);
        let errors = stderr.lines().filter(|l| l.starts_with("error: ")).count();
        assert_eq!(errors, 1, "{args:?}: {stderr}");
    }
    // clap's own usage errors.
    for bad in [&["--listen", "localhost"][..], &["--backend", "cuda"], &["--bogus"]] {
        let o = Command::new(EXE).args(bad).current_dir(d).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
    // Inference runs in the server's own process: it takes no `--remote` (crates/web/README.md).
    let o = Command::new(EXE)
        .args(["--remote", "ws://127.0.0.1:3000"])
        .current_dir(d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unexpected argument '--remote'"), "{stderr}");
}

#[test]
fn load_runs_against_its_own_server_and_prints_the_figures() {
    let tmp = untrained_runs();
    let o = Command::new(EXE)
        .args(["--backend", "flex", "load", "--requests", "200", "--clients", "4"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = gradlab_testkit::text(&o);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("200 requests from 4 clients in "), "{text}");
    assert!(
        text.contains("requests/s, latency p50 ") && text.contains("; 0 error(s)"),
        "{text}"
    );
}
