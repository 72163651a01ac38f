//! Training on Burn's remote backend (`--remote ws://…`, a `gradlab-serve` on loopback started
//! and stopped by each test): it trains as local flex does; a missing server, a wrong or missing
//! token and a malformed URL are clear errors that leave no run folder; a server lost mid-run
//! stops the client with one error line, its last finished epoch's checkpoint intact, and
//! `--resume` against a restarted server finishes the run; data-parallel over two servers steps
//! as one device does. (Its own test binary: hosting servers changes the process's runtime.)

mod common;
mod steps;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

use gradlab::backend::RemoteSpec;
use gradlab::{AdapterChoice, BackendConfig, BackendName};
use gradlab_testkit::{ServeProcess, free_port, text};

const TOKEN: &str = "test-token-0123456789";

fn mnist_cnn(args: &[&str], cwd: &Path) -> std::process::Output {
    gradlab_testkit::run(env!("CARGO_BIN_EXE_mnist-cnn"), args, cwd, None)
}

/// A short run: 256 training images, 64 test images, one epoch.
const SMALL: [&str; 8] = [
    "--train-limit",
    "256",
    "--test-limit",
    "64",
    "--epochs",
    "1",
    "--seed",
    "5",
];

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

#[test]
fn training_on_a_server_matches_local_flex() {
    let server = ServeProcess::start(&["--backend", "flex"], &[]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = mnist_cnn(&[&["--remote", &server.url, "--out", "remote"][..], &SMALL].concat(), d);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    // What the server runs, as it says it (Burn's handshake carries no adapter name; gradlab-serve
    // answers a custom operation with the line it printed).
    server.stderr_shows(": serving ", 10);
    let serving = server.stderr();
    let served = serving
        .lines()
        .find_map(|l| l.split_once(": serving ").map(|(_, s)| s.to_string()))
        .unwrap_or_else(|| panic!("the server names what it serves: {serving}"));
    assert!(served.starts_with("flex on "), "{served}");
    assert!(t.contains(&format!("backend: remote {} → {served}", server.url)), "{t}");
    let o = mnist_cnn(&[&["--backend", "flex", "--out", "local"][..], &SMALL].concat(), d);
    assert!(o.status.success(), "{}", text(&o));
    let (r, l) = (report(&d.join("remote/run-001")), report(&d.join("local/run-001")));
    assert_eq!(r["backend"]["backend"], "remote", "recorded: {}", r["backend"]);
    assert_eq!(r["backend"]["adapter"]["name"], server.url.as_str());
    assert_eq!(
        r["backend"]["adapter"]["driver"],
        served.as_str(),
        "recorded: {}",
        r["backend"]
    );
    // The same seed, data and steps: the server's stock layers and the local fast path differ
    // only in float summation order.
    let (rl, ll) = (r["test"]["loss"].as_f64().unwrap(), l["test"]["loss"].as_f64().unwrap());
    let (ra, la) = (
        r["test"]["accuracy"].as_f64().unwrap(),
        l["test"]["accuracy"].as_f64().unwrap(),
    );
    println!("test loss remote {rl:.6} local {ll:.6}; accuracy remote {ra} local {la}");
    assert!((rl - ll).abs() < 1e-3 * ll.abs().max(1.0), "loss {rl} vs {ll}");
    assert!((ra - la).abs() <= 1.0 / 64.0 + 1e-9, "accuracy {ra} vs {la}");
    assert!(server.stderr_shows("session opened", 10), "{}", server.stderr());
}

#[test]
fn no_server_a_bad_token_or_a_bad_url_is_a_clear_error_and_no_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let nobody = format!("ws://127.0.0.1:{}", free_port());
    let server = ServeProcess::start(&[], &[("GRADLAB_SERVE_TOKEN", TOKEN)]);
    let wrong = d.join("wrong-token");
    std::fs::write(&wrong, "not-the-token-0123456789\n").unwrap();
    let cfg = d.join("wrong.toml");
    std::fs::write(
        &cfg,
        format!(
            "backend = \"remote\"\nremote_url = \"{}\"\nremote_token_file = \"{}\"\n",
            server.url,
            wrong.display()
        ),
    )
    .unwrap();
    let bad_url = d.join("bad-url.toml");
    std::fs::write(
        &bad_url,
        "backend = \"remote\"\nremote_url = \"http://127.0.0.1:3000\"\n",
    )
    .unwrap();
    let (cfg, bad_url) = (cfg.to_str().unwrap(), bad_url.to_str().unwrap());
    for (args, needles) in [
        (
            vec!["--remote", nobody.as_str()],
            vec![nobody.as_str(), "no server answers there"],
        ),
        (vec!["--remote", server.url.as_str()], vec!["needs an access token"]),
        (vec!["--config", cfg], vec!["refused this client's access token"]),
        (
            vec!["--config", bad_url],
            vec![
                "bad-url.toml",
                "line 2",
                "bad remote URL `http://127.0.0.1:3000`: must start with ws://",
            ],
        ),
        (vec!["--remote", "ws://127.0.0.1"], vec!["--remote", "needs a port"]),
        (vec!["--backend", "remote"], vec!["needs a server"]),
    ] {
        let o = mnist_cnn(&[&args[..], &["--out", "runs"], &SMALL].concat(), d);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
        for n in needles {
            assert!(t.contains(n), "{args:?}: `{n}` in {t}");
        }
        assert!(!t.contains("panicked"), "{args:?}: {t}");
        assert!(!d.join("runs").exists(), "{args:?} left a run folder");
    }
    assert!(server.stderr_shows("refused a session", 10), "{}", server.stderr());
}

#[test]
fn a_server_lost_mid_run_stops_the_client_and_resume_finishes_on_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut server = ServeProcess::start(&[], &[]);
    // The same run's flags, on the server at `url`, to `epochs` epochs.
    let args = |url: &str, epochs: &str| -> Vec<String> {
        let flags = [
            "--remote",
            url,
            "--out",
            "runs",
            "--train-limit",
            "256",
            "--test-limit",
            "32",
            "--epochs",
            epochs,
        ];
        flags.iter().map(|s| s.to_string()).collect()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_mnist-cnn"))
        .args(args(&server.url, "40"))
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the server once the first epoch's line (printed after its checkpoint) appears.
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    for line in stdout.lines().map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("epoch 1/40") {
            server.kill();
            break;
        }
    }
    assert!(seen.contains("epoch 1/40"), "no first epoch: {seen}");
    // It must stop by itself, not wait forever for the lost server.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("the client still runs 180 s after its server was killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{seen}{err}");
    assert!(
        err.contains(&format!("error: backend `remote`: {}", server.url)) && err.contains("--resume"),
        "{err}"
    );
    let ckpt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("runs/run-001/checkpoint/checkpoint.json")).unwrap())
            .unwrap();
    let epoch = ckpt["epoch"].as_u64().unwrap();
    assert!(epoch >= 1, "{ckpt}");
    // A new server (another port), and the run resumes from its checkpoint, to 2 epochs more.
    let server = ServeProcess::start(&[], &[]);
    let last = (epoch + 2).to_string();
    let resume = [
        vec!["train".to_string(), "--resume".to_string()],
        args(&server.url, &last),
    ]
    .concat();
    let o = mnist_cnn(&resume.iter().map(String::as_str).collect::<Vec<_>>(), d);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains(&format!("after epoch {epoch}")), "{t}");
    assert!(t.contains(&format!("epoch {last}/{last}")), "{t}");
}

/// Burn's remote devices on two servers of this process.
fn two_servers() -> (
    gradlab::remote::Loopback,
    gradlab::remote::Loopback,
    Vec<burn::tensor::Device>,
) {
    let a = gradlab::remote::Loopback::start(&gradlab::backend::host_backend(), None).unwrap();
    let b = gradlab::remote::Loopback::start(&gradlab::backend::host_backend(), None).unwrap();
    let devices = [&a, &b]
        .iter()
        .map(|s| {
            gradlab::backend::resolve(&BackendConfig {
                remote: Some(RemoteSpec {
                    url: s.url().clone(),
                    token_file: None,
                }),
                ..BackendConfig::local(BackendName::Remote, AdapterChoice::Default)
            })
            .unwrap()
            .device
            .autodiff()
        })
        .collect();
    (a, b, devices)
}

#[test]
fn data_parallel_over_two_servers_steps_as_one_device() {
    let (_a, _b, devices) = two_servers();
    steps::same_steps_as_one_device(&devices, "server A + server B");
}

#[test]
fn the_cli_trains_data_parallel_over_two_servers() {
    let a = ServeProcess::start(&[], &[]);
    let b = ServeProcess::start(&[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let devices = format!("{},{}", a.url, b.url);
    let o = mnist_cnn(
        &[&["train", "--devices", &devices, "--out", "runs"][..], &SMALL].concat(),
        dir.path(),
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("data-parallel over 2 devices") && t.contains(&format!("{} is the main device", a.url)),
        "{t}"
    );
    assert!(a.stderr_shows("session opened", 10) && b.stderr_shows("session opened", 10));
}
