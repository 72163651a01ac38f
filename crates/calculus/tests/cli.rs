//! The `calculus` binary: every subcommand on flex and wgpu, plots when asked, clear errors.

const SUBCOMMANDS: [&str; 9] = [
    "sigmoid",
    "derivative",
    "gradient-descent",
    "surface",
    "partial",
    "chain-rule",
    "normal",
    "taylor",
    "conv2d",
];

fn calculus(args: &[&str], cwd: &std::path::Path) -> (bool, String) {
    let o = gradlab_testkit::run(env!("CARGO_BIN_EXE_calculus"), args, cwd, None);
    (o.status.success(), gradlab_testkit::text(&o))
}

#[test]
fn every_subcommand_runs_on_flex_and_wgpu_without_plots() {
    let dir = tempfile::tempdir().unwrap();
    for backend in ["flex", "wgpu"] {
        for sub in SUBCOMMANDS {
            let (ok, t) = calculus(&["--backend", backend, "--no-plot", sub], dir.path());
            assert!(ok, "{backend} {sub}:\n{t}");
            assert!(t.contains(&format!("backend: {backend} on")), "{t}");
            assert!(!t.contains("NaN"), "{backend} {sub} printed NaN:\n{t}");
        }
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "--no-plot wrote files"
    );
}

#[test]
fn plots_are_written_and_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    for sub in SUBCOMMANDS {
        let (ok, t) = calculus(&["--backend", "flex", "--out", "plots", sub], dir.path());
        assert!(ok, "{sub}:\n{t}");
    }
    for f in [
        "sigmoid",
        "derivative",
        "gradient-descent",
        "surface",
        "normal",
        "taylor",
        "conv2d",
    ] {
        let svg = std::fs::read_to_string(dir.path().join(format!("plots/{f}.svg"))).unwrap();
        assert!(svg.len() > 2000 && svg.starts_with("<svg"), "{f}.svg looks empty");
    }
}

#[test]
fn the_seed_numbers_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut a = vec!["--backend", "flex", "--no-plot"];
        a.extend(args);
        let (ok, t) = calculus(&a, dir.path());
        assert!(ok, "{args:?}:\n{t}");
        t
    };
    assert!(run(&["sigmoid"]).contains("σ′(0) by autodiff = 0.250000"));
    assert!(run(&["gradient-descent"]).contains("x ≈ -2.50, f(x) ≈ -0.25"));
    assert!(run(&["partial"]).contains("= 6 (symbolic)   6 (autodiff)"));
    assert!(run(&["normal"]).contains("0.6826894921"));
    assert!(run(&["surface"]).contains("∇f(0, 0) does not exist"));
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["gradient-descent", "--lr", "1.5"], "diverged"),
        (vec!["normal", "--sigma", "0"], "σ must be positive"),
        (vec!["normal", "--sigma", "-1"], "σ must be positive"),
        (vec!["partial", "x^^2"], "cannot parse"),
        (vec!["partial", "x*y", "--at", "x=1"], "no value for `y`"),
        (vec!["taylor", "--terms", "0"], "positive numbers of terms"),
        (vec!["conv2d", "--digit", "5000"], "out of range"),
        (vec!["surface", "--grid", "1"], "at least 2"),
    ] {
        let mut a = vec!["--backend", "flex", "--no-plot"];
        a.extend(args.iter().copied());
        let (ok, t) = calculus(&a, dir.path());
        assert!(!ok && t.contains(needle) && !t.contains("panicked"), "{args:?}:\n{t}");
    }
}

#[test]
fn shipped_config_equals_the_defaults() {
    let path = gradlab::workspace_root().join("configs/calculus.toml");
    let cfg: calculus::CalculusConfig = gradlab::config::load_layers(&[path]).unwrap();
    assert_eq!(cfg, calculus::CalculusConfig::default());
}
