//! The `calculus` binary: every subcommand on every backend (flex, ndarray, wgpu, vulkan),
//! plots in a run folder of their own when asked, clear errors.

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
fn every_subcommand_runs_on_flex_ndarray_wgpu_and_vulkan_without_plots() {
    let dir = tempfile::tempdir().unwrap();
    for backend in gradlab_testkit::runnable(&["flex", "ndarray", "wgpu", "vulkan"], "calculus") {
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
fn plots_are_written_into_a_run_folder_each_and_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    for (i, sub) in SUBCOMMANDS.iter().enumerate() {
        let (ok, t) = calculus(&["--backend", "flex", "--out", "plots", sub], dir.path());
        assert!(ok, "{sub}:\n{t}");
        let run = format!("plots/run-{:03}/", i + 1);
        let plots: Vec<&str> = t.lines().filter_map(|l| l.strip_prefix("plot: ")).collect();
        assert!(!plots.is_empty(), "{sub} drew nothing:\n{t}");
        for p in plots {
            assert!(p.contains(&run), "{sub}: {p} is not in {run}");
            let svg = std::fs::read_to_string(dir.path().join(p)).unwrap();
            assert!(svg.len() > 2000 && svg.starts_with("<svg"), "{p} looks empty");
        }
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
    // ∂(a·x)/∂a = x has one variable fewer than a·x: evaluated by name, not position.
    let t = run(&["partial", "a*x", "--at", "a=2", "--at", "x=3"]);
    assert!(
        t.contains("= 3 (symbolic)   3 (autodiff)") && t.contains("= 2 (symbolic)   2 (autodiff)"),
        "{t}"
    );
    // e, E, PI, π, TAU, τ are constants in both parses (exmex's own), not variables.
    for expression in ["e*x", "E*x", "x*e"] {
        let t = run(&["partial", expression, "--at", "x=1"]);
        assert!(t.contains("2.71828"), "{expression}: {t}");
    }
    assert!(run(&["partial", "sin(π*x)", "--at", "x=0"]).contains("3.14159"));
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
        (vec!["taylor", "--terms", "0"], "must be in 1 ..= 170"),
        (vec!["taylor", "--terms", "171"], "must be in 1 ..= 170"),
        (
            vec!["conv2d", "--digit", "10"],
            "--digit 10 is out of range: a digit class is 0 to 9",
        ),
        (
            vec!["conv2d", "--digit", "7", "--index", "100000"],
            "--index 100000 is out of range",
        ),
        (
            vec!["surface", "--grid", "1"],
            "--grid 1 is out of range (allowed 2 ..= 500",
        ),
        (vec!["surface", "--grid", "1000000"], "--grid 1000000 is out of range"),
        (
            vec!["gradient-descent", "--steps", "1000000000"],
            "--steps 1000000000 is out of range",
        ),
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

/// A copied (or installed) binary reads its real digit from the mnist-5k copy built into it.
#[test]
fn a_copied_binary_finds_its_digit_outside_the_checkout() {
    let args = ["--backend", "flex", "--no-plot", "conv2d", "--digit", "3"];
    let (ok, inside) = calculus(&args, &gradlab::workspace_root());
    assert!(ok, "{inside}");
    let (o, _dir) = gradlab_testkit::run_elsewhere(env!("CARGO_BIN_EXE_calculus"), &args);
    let elsewhere = gradlab_testkit::text(&o);
    assert!(o.status.success(), "{elsewhere}");
    let digit = |t: &str| t.lines().find(|l| l.starts_with("mnist-5k digit")).map(String::from);
    // The class asked for is the class shown (the file is sorted by label: an index into it
    // would show a zero), and the line says which image of the file it is.
    let line = digit(&inside).unwrap_or_default();
    assert!(
        line.starts_with("mnist-5k digit: a 3 (image ") && line.contains("the 1st of its class"),
        "{line}"
    );
    assert_eq!(digit(&elsewhere), digit(&inside));
    let (ok, second) = calculus(
        &[
            "--backend",
            "flex",
            "--no-plot",
            "conv2d",
            "--digit",
            "3",
            "--index",
            "1",
        ],
        &gradlab::workspace_root(),
    );
    assert!(ok, "{second}");
    let line2 = digit(&second).unwrap_or_default();
    assert!(
        line2.starts_with("mnist-5k digit: a 3") && line2.contains("the 2nd of its class"),
        "{line2}"
    );
    assert_ne!(line, line2);
}

/// CubeCL's caches (wgpu's compiled kernels and autotune results) go to the user's cache folder,
/// not into a `target/` of the Cargo workspace the binary happens to run in.
#[test]
fn cubecl_caches_go_to_the_users_cache_folder() {
    if !gradlab_testkit::can_run(gradlab::BackendName::Wgpu, "the CubeCL cache location") {
        return;
    }
    let (copy, dir) = gradlab_testkit::copy_elsewhere(env!("CARGO_BIN_EXE_calculus"));
    std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").unwrap();
    let o = gradlab_testkit::run_copy(&copy, &["--backend", "wgpu", "--no-plot", "sigmoid"], dir.path());
    assert!(o.status.success(), "{}", gradlab_testkit::text(&o));
    assert!(
        !dir.path().join("target").exists(),
        "CubeCL wrote into the folder's target/"
    );
    assert!(
        dir.path().join("home/.cache/cubecl").is_dir(),
        "no CubeCL cache in the user's cache folder"
    );
}
