//! Every gradlab binary runs unchanged on Burn's remote backend (`--remote ws://…` against a
//! `gradlab-serve` on loopback, started and stopped here), and the bench's conformance check
//! holds for `remote` (a loopback server on flex) against local flex. The mnist-cnn and
//! gradlab-serve cases are in their crates' `tests/remote.rs`.

use std::path::Path;

use gradlab_testkit::{ServeProcess, text, workspace_bin};

fn run(bin: &str, args: &[&str], cwd: &Path) -> String {
    let exe = workspace_bin(bin);
    let o = gradlab_testkit::run(exe.to_str().unwrap(), args, cwd, None);
    let t = text(&o);
    assert!(o.status.success(), "{bin} {args:?}:\n{t}");
    t
}

#[test]
fn every_model_binary_runs_on_a_server() {
    let server = ServeProcess::start(&["--backend", "flex"], &[]);
    let url = server.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let on_remote = format!("remote {url}");
    let t = run(
        "sentiment",
        &["--remote", url, "--out", "s", "--limit", "600", "--epochs", "1"],
        d,
    );
    assert!(t.contains(&on_remote), "sentiment: {t}");
    let t = run(
        "rnn",
        &[
            "--remote",
            url,
            "--engine",
            "burn",
            "--out",
            "r",
            "--limit",
            "3000",
            "--epochs",
            "1",
            "--batch-size",
            "4",
        ],
        d,
    );
    assert!(t.contains(&on_remote), "rnn: {t}");
    let t = run(
        "xor-backprop",
        &["train", "--remote", url, "--no-plot", "--iterations", "200"],
        d,
    );
    assert!(t.contains("autodiff on remote"), "xor-backprop: {t}");
    let t = run("calculus", &["--remote", url, "--no-plot", "derivative"], d);
    assert!(t.contains(&format!("backend: {on_remote}")), "calculus: {t}");
    // The server's lines arrive on another thread: wait (at most 10 s) for the fourth.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.stderr().matches("session opened").count() < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sessions = server.stderr().matches("session opened").count();
    assert!(sessions >= 4, "one session per binary at least:\n{}", server.stderr());
}

#[test]
fn the_bench_times_remote_and_its_conformance_holds_against_flex() {
    let dir = tempfile::tempdir().unwrap();
    let t = run(
        "bench",
        &[
            "--quick",
            "--backends",
            "flex,remote",
            "--models",
            "mnist-cnn,mnist-cnn-fast,sentiment",
            "--out",
            "b",
        ],
        dir.path(),
    );
    assert!(t.contains("a loopback server in this process, serving flex"), "{t}");
    // fastconv has no remote implementation: the fast CNN is not timed there (it would time the
    // stock layers again), and says why.
    assert!(
        t.lines()
            .any(|l| l.contains("mnist-cnn-fast remote") && l.contains("not timed: no fastconv op")),
        "{t}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("b/run-001/report.json")).unwrap()).unwrap();
    let pairs = report["conformance"]["pairs"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"));
    assert!(!pairs.is_empty(), "{report}");
    for p in pairs {
        assert_eq!(
            (p["a"].as_str(), p["b"].as_str()),
            (Some("flex"), Some("remote")),
            "{p}"
        );
        assert_eq!(p["pass"], true, "{p}");
    }
    let results = report["results"].as_array().unwrap();
    assert!(
        results.iter().any(|r| r["backend"] == "remote"),
        "remote is timed: {report}"
    );
    assert!(
        !results
            .iter()
            .any(|r| r["backend"] == "remote" && r["model"] == "mnist-cnn-fast"),
        "{report}"
    );
}
