//! Architecture invariants that a reading of the sources can check (ARCHITECTURE.md).

use std::path::{Path, PathBuf};

use crate::{files_under, read, root};

/// The code of the crates' libraries, binaries and examples (not their tests).
fn product_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        for part in ["src", "examples"] {
            files.extend(files_under(&krate.path().join(part), "rs"));
        }
    }
    assert!(files.len() > 40, "found only {} source files", files.len());
    files
}

/// Architecture Invariant: `gradlab::backend` is the only module that names concrete backends;
/// model crates receive a `Device` (fastconv, a backend extension, names the backends it
/// implements).
#[test]
fn only_gradlab_backend_names_concrete_backends() {
    let constructors = [
        "Device::flex(",
        "Device::ndarray(",
        "Device::wgpu",
        "Device::vulkan",
        "Device::cuda",
        "Device::remote",
        "DispatchDevice::",
    ];
    let allowed = [
        root().join("crates/gradlab/src/backend.rs"),
        // Burn's remote backend: the client's device and the server (feature `remote`).
        root().join("crates/gradlab/src/remote.rs"),
        root().join("crates/fastconv"),
    ];
    let mut offenders = Vec::new();
    for file in product_sources() {
        if allowed.iter().any(|a| file.starts_with(a)) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for c in constructors {
                if line.contains(c) {
                    offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "concrete backends named outside gradlab::backend (use gradlab::backend::resolve or host_device):\n{}",
        offenders.join("\n")
    );
}

/// Architecture Invariant: the only `unsafe` code is in fastconv and in `gradlab::backend`'s
/// start-up `set_var`; every other crate takes the workspace lints (`unsafe_code = "forbid"`).
#[test]
fn every_crate_but_fastconv_and_gradlab_forbids_unsafe_code() {
    let workspace = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(
        workspace.contains("unsafe_code = \"forbid\""),
        "the workspace lints forbid unsafe code"
    );
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("Cargo.toml"))
        .collect();
    manifests.push(root().join("tests/Cargo.toml"));
    for m in manifests {
        let text = std::fs::read_to_string(&m).unwrap();
        let exempt = ["crates/fastconv", "crates/gradlab"]
            .iter()
            .any(|c| m.starts_with(root().join(c)));
        assert_eq!(
            text.contains("[lints]\nworkspace = true"),
            !exempt,
            "{}: every crate but fastconv and gradlab takes the workspace lints",
            m.display()
        );
        if exempt {
            assert!(text.contains("unsafe_code = \"deny\""), "{}", m.display());
        }
    }
    let allowed = [
        root().join("crates/fastconv/src/gemm.rs"),
        root().join("crates/fastconv/src/memory.rs"),
        root().join("crates/gradlab/src/backend.rs"),
    ];
    for file in product_sources() {
        let text = std::fs::read_to_string(&file).unwrap();
        if text.contains("allow(unsafe_code)") {
            assert!(
                allowed.contains(&file),
                "{}: unsafe code outside its three places",
                file.display()
            );
        }
    }
}

/// Architecture Invariant: binaries find their data at run time (`gradlab::data::source`), never
/// at the build checkout's compile-time path: `workspace_root()` is for tests only.
#[test]
fn no_binary_reads_the_build_checkout() {
    let definition = root().join("crates/gradlab/src/lib.rs");
    let offenders: Vec<String> = product_sources()
        .into_iter()
        .filter(|f| *f != definition)
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("workspace_root()"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "workspace_root() in product code: {offenders:?}");
    let lib = std::fs::read_to_string(&definition).unwrap();
    let uses = lib.matches("workspace_root()").count();
    assert_eq!(
        uses, 1,
        "gradlab itself only defines workspace_root(), it does not call it"
    );
}

/// Architecture Invariant: a default build links no HTTP client. The one download (the official
/// MNIST files) is behind `mnist-cnn`'s opt-in `download` feature; without it a missing file is
/// an error saying where to put it.
#[test]
fn only_the_download_feature_links_an_http_client() {
    if !fetched("mnist-cnn/download") {
        return;
    }
    let tree = |args: &[&str]| cargo_tree(&[&["-e", "normal"][..], args].concat());
    let has_ureq = |t: &str| t.lines().any(|l| l.starts_with("ureq "));
    for krate in [
        "calculus",
        "xor-backprop",
        "sentiment",
        "rnn",
        "bench",
        "mnist-cnn",
        "gradlab-web",
    ] {
        assert!(!has_ureq(&tree(&["-p", krate])), "{krate} links an HTTP client");
    }
    assert!(
        has_ureq(&tree(&["-p", "mnist-cnn", "--features", "download"])),
        "mnist-cnn's download feature should bring the HTTP client"
    );
}

/// Whether the crates of a build with `features` are in cargo's registry cache, so `cargo tree
/// --offline` can resolve it: a default build downloads only the crates it compiles, so on a fresh
/// machine the opt-in features' crates (Burn's remote backend, burn-ndarray) are missing until
/// `cargo fetch`. Where missing, the test is skipped with a note saying so — unless
/// `GRADLAB_REQUIRE_FETCHED` is set (CI runs `cargo fetch` first), where it fails.
fn fetched(features: &str) -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = std::process::Command::new(&cargo)
        .args(["tree", "--offline", "--workspace", "-e", "normal", "--depth", "0"])
        .args(["--features", features])
        .current_dir(root())
        .output()
        .unwrap();
    if o.status.success() {
        return true;
    }
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--offline"), "cargo tree --features {features}: {err}");
    gradlab_testkit::skip_unless_required(
        gradlab_testkit::REQUIRE_FETCHED,
        format!("the crates of `--features {features}` must be downloaded here: {err}"),
        format!(
            "comparing the `--features {features}` build: its crates are not downloaded yet \
             (`cargo fetch` downloads them)"
        ),
    );
    false
}

/// `cargo tree` with `args`, offline, as text.
fn cargo_tree(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = std::process::Command::new(&cargo)
        .args(["tree", "--prefix", "none", "--offline"])
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Each package of the whole workspace's build (`name vX.Y.Z`) with the feature sets it is
/// built with (one per build context — a crate can be built for the target and for build
/// scripts with different features), for `extra` cargo arguments.
fn workspace_features(extra: &[&str]) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    tree_features(&[&["--workspace", "-e", "features"][..], extra].concat())
}

/// The same for any `cargo tree` arguments (say `-p mnist-cnn`).
fn tree_features(args: &[&str]) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let text = cargo_tree(&[args, &["-f", "{p}|{f}"][..]].concat());
    let mut map = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for line in text.lines() {
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        let mut words = package.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        // `a,b (*)`: the features, then `(*)` where cargo tree shortens a repeated subtree.
        let features = features
            .split_whitespace()
            .next()
            .filter(|f| !f.starts_with('('))
            .unwrap_or("");
        map.entry(format!("{name} {version}"))
            .or_default()
            .insert(features.to_string());
    }
    map
}

/// The workspace's own packages (`cargo tree --depth 0`), rebuilt by any feature of theirs.
fn workspace_members() -> Vec<String> {
    cargo_tree(&["-e", "normal", "--workspace", "--depth", "0"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Assert that a build with `extra` cargo arguments compiles no unit of the default build with
/// other features (so builds none again), apart from the workspace's own packages and those named
/// in `rebuilt_anyway`; else name each such package and its feature sets in both builds.
fn assert_shares_the_default_build(extra: &[&str], rebuilt_anyway: &[&str]) {
    let members = workspace_members();
    let default = workspace_features(&[]);
    let other = workspace_features(extra);
    assert!(default.len() > 200, "{} packages", default.len());
    let mut differ = Vec::new();
    for (package, features) in &default {
        let name = package.split(' ').next().unwrap_or_default();
        if rebuilt_anyway.contains(&name) || members.iter().any(|m| m == name) {
            continue;
        }
        // A feature set the other build lacks is a unit built again; one it adds (a crate
        // built for another context too, e.g. a build script of a crate only it has) is not.
        if let Some(theirs) = other.get(package)
            && !features.is_subset(theirs)
        {
            differ.push(format!("{package}: {features:?} becomes {theirs:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "pin these in crates/workspace-hack/Cargo.toml:\n{}",
        differ.join("\n")
    );
}

/// Architecture Invariant: a `--features remote` build compiles only burn's top crates, the HTTP
/// stack's and the workspace's again: every crate below (CubeCL, the backends, tokio, …) gets
/// the same features as in the default build, so it is built once for both. The pins that make
/// this so are `crates/workspace-hack`; a Burn update that needs another pin fails here, naming
/// the crate and its features.
#[test]
fn a_remote_build_shares_the_backends_with_a_default_one() {
    if !fetched("remote") {
        return;
    }
    let rebuilt_anyway = [
        "burn",
        "burn-core",
        "burn-tensor",
        "burn-dispatch", // the feature itself
        "axum",
        "axum-core",
        "hyper",
        "hyper-util",
        "tower",
        "sync_wrapper", // gradlab-web's HTTP stack
    ];
    assert_shares_the_default_build(&["--features", "remote"], &rebuilt_anyway);
}

/// Architecture Invariant: the same for the opt-in `ndarray` feature: only burn's top crates
/// (the feature itself) and the workspace's are compiled again; CubeCL, gemm, rayon, burn-flex
/// and everything else below are shared with the default build.
#[test]
fn an_ndarray_build_shares_the_backends_with_a_default_one() {
    if !fetched("ndarray") {
        return;
    }
    let rebuilt_anyway = ["burn", "burn-core", "burn-tensor", "burn-dispatch"];
    assert_shares_the_default_build(&["--features", "ndarray"], &rebuilt_anyway);
}

/// The workspace's binary targets, from `cargo metadata`: each one's package and `main` file.
fn binary_targets() -> Vec<(String, PathBuf)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = std::process::Command::new(&cargo)
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut bins = Vec::new();
    for package in meta["packages"].as_array().unwrap() {
        for target in package["targets"].as_array().unwrap() {
            if target["kind"].as_array().unwrap().iter().any(|k| k == "bin") {
                bins.push((
                    package["name"].as_str().unwrap().to_string(),
                    PathBuf::from(target["src_path"].as_str().unwrap()),
                ));
            }
        }
    }
    bins
}

/// The workspace's binary crates (those with a `bin` target).
fn binary_crates() -> Vec<String> {
    let mut names: Vec<String> = binary_targets().into_iter().map(|(p, _)| p).collect();
    names.dedup();
    names
}

/// Architecture Invariant: every binary's `main` begins with `gradlab::startup()` (CubeCL's caches
/// in the user's cache folder, Vulkan's layers quiet, the remote marker) and ends a failure
/// through `gradlab::exit_code` (one `error: …` line, exit code 2), so all of them start and fail
/// alike.
#[test]
fn every_binary_starts_and_fails_through_gradlab() {
    let bins = binary_targets();
    assert!(bins.len() >= 8, "{bins:?}");
    for (package, main) in bins {
        let text = read(&main);
        let at = text
            .find("fn main() -> ExitCode {")
            .or_else(|| text.find("fn main() -> std::process::ExitCode {"))
            .unwrap_or_else(|| panic!("{}: no `fn main() -> ExitCode`", main.display()));
        let body = &text[at..text[at..].find("\n}\n").map_or(text.len(), |e| at + e)];
        let first = body.lines().nth(1).unwrap_or_default().trim();
        assert_eq!(first, "gradlab::startup();", "{package}: {}", main.display());
        assert!(
            body.contains("gradlab::exit_code("),
            "{package}: {} does not fail through gradlab::exit_code",
            main.display()
        );
    }
}

/// The `#[test]` functions in `text` (an attribute on a line of its own): each one's name and
/// body (from its `{` to the matching `}`).
fn test_functions(text: &str) -> Vec<(String, String)> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == "#[test]" {
            starts.push(offset + line.len());
        }
        offset += line.len();
    }
    let mut found = Vec::new();
    for start in starts {
        let rest = &text[start..];
        let Some(f) = rest.find("fn ") else { continue };
        let name: String = rest[f + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let Some(open) = rest[f..].find('{').map(|o| f + o) else {
            continue;
        };
        // Braces inside string and char literals do not count.
        let bytes = rest.as_bytes();
        let (mut i, mut depth, mut end) = (open, 0usize, rest.len());
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 2,
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        found.push((name, rest[open..end].to_string()));
    }
    found
}

/// Architecture Invariant: CI's `--features ndarray` phase runs only the tests named `…ndarray…`
/// (`cargo test … -- ndarray`) of the test targets it lists, not the whole suite again; so every
/// test that runs the ndarray backend where it is built (it asks `can_run`, `runnable`,
/// `is_built` or `cfg!(feature = "ndarray")` and names ndarray) says ndarray in its name, and
/// its target (`--test X`, or `-p X --lib` for a crate's unit tests) is in `.ci/run`.
/// The cargo target selection that runs the tests of `file`: `--test X` for an integration test
/// (`tests/X.rs` or `tests/X/…`, the root package's `tests/` too), `-p X --lib` for a file under
/// `crates/X/src` (its package's name, from its Cargo.toml).
fn ndarray_phase_target(file: &Path) -> String {
    let relative = file.strip_prefix(root()).unwrap_or(file);
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let tests_at = parts.iter().position(|p| p == "tests");
    if let Some(i) = tests_at.filter(|&i| i + 1 < parts.len()) {
        let first = &parts[i + 1];
        return format!("--test {}", first.strip_suffix(".rs").unwrap_or(first));
    }
    let src_at = parts
        .iter()
        .position(|p| p == "src")
        .expect("a test under tests/ or src/");
    let manifest = read(&root().join(parts[..src_at].join("/")).join("Cargo.toml"));
    let package = manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a package name");
    format!("-p {package} --features remote,ndarray --lib")
}

#[test]
fn every_test_that_runs_ndarray_where_built_says_so_in_its_name() {
    let mut files = Vec::new();
    files.extend(files_under(&root().join("crates"), "rs"));
    files.extend(files_under(&root().join("tests"), "rs"));
    let asks = ["can_run(", "runnable(", ".is_built()", "cfg!(feature = \"ndarray\")"];
    let ci = read(&root().join(".ci/run"));
    let (mut named, mut unnamed) = (0, Vec::new());
    for file in &files {
        for (name, body) in test_functions(&read(file)) {
            let runs_ndarray =
                asks.iter().any(|a| body.contains(a)) && (body.contains("Ndarray") || body.contains("\"ndarray\""));
            if !runs_ndarray {
                continue;
            }
            if name.contains("ndarray") {
                named += 1;
                let target = ndarray_phase_target(file);
                assert!(
                    ci.contains(&target),
                    "{}: {name} runs ndarray, but .ci/run's ndarray phase does not select `{target}`",
                    file.display()
                );
            } else {
                unnamed.push(format!("{}: {name}", file.display()));
            }
        }
    }
    assert!(named >= 8, "found only {named} tests that run ndarray");
    assert!(
        unnamed.is_empty(),
        "CI's ndarray phase would not run these (put ndarray in their names):\n{}",
        unnamed.join("\n")
    );
}

/// Architecture Invariant: every binary crate built alone (`cargo run -p mnist-cnn --release`,
/// `cargo install --locked --path crates/X`: its own dependencies only, no dev-dependencies)
/// compiles each crate — burn, CubeCL, wgpu, gemm, tokio, the workspace's own — with a feature
/// set that the whole workspace's build (`cargo test --release --workspace`) compiles too, so the
/// README's two commands share one build. The pins that make this so are `crates/workspace-hack`
/// (a dependency of every crate, through gradlab); a crate that needs a new pin is named here.
#[test]
fn every_binary_built_alone_shares_the_workspace_build() {
    let whole = workspace_features(&[]);
    let binaries = binary_crates();
    assert!(binaries.len() >= 8, "binary crates: {binaries:?}");
    let mut differ = Vec::new();
    for krate in &binaries {
        let alone = tree_features(&["-p", krate, "-e", "features,normal,build"]);
        assert!(alone.len() > 200, "{krate}: {} packages", alone.len());
        assert!(
            alone.keys().any(|p| p.starts_with("gradlab-workspace-hack ")),
            "{krate} does not depend on gradlab-workspace-hack"
        );
        for (package, features) in &alone {
            let theirs = whole.get(package).cloned().unwrap_or_default();
            if !features.is_subset(&theirs) {
                differ.push(format!(
                    "{krate} alone: {package}: {features:?}, in the workspace: {theirs:?}"
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "pin these in crates/workspace-hack/Cargo.toml:\n{}",
        differ.join("\n")
    );
}

/// Architecture Invariant: Burn's remote backend (and its network stack) is linked only with the
/// opt-in `remote` feature.
#[test]
fn only_the_remote_feature_links_burn_remote() {
    if !fetched("remote") {
        return;
    }
    let has = |t: &str| t.lines().any(|l| l.starts_with("burn-remote "));
    for krate in ["mnist-cnn", "bench", "gradlab-web"] {
        assert!(
            !has(&cargo_tree(&["-e", "normal", "-p", krate])),
            "{krate} links burn-remote"
        );
    }
    assert!(has(&cargo_tree(&[
        "-e",
        "normal",
        "-p",
        "mnist-cnn",
        "--features",
        "remote"
    ])));
}

/// Architecture Invariant: burn-ndarray (deprecated upstream, and the slowest crate of a cold
/// build) is linked only with the opt-in `ndarray` feature; `backend = "ndarray"` in a default
/// build is an error saying how to build it.
#[test]
fn only_the_ndarray_feature_links_burn_ndarray() {
    if !fetched("ndarray") {
        return;
    }
    let has = |t: &str| t.lines().any(|l| l.starts_with("burn-ndarray "));
    assert!(
        !has(&cargo_tree(&["-e", "normal", "--workspace"])),
        "the default build links burn-ndarray"
    );
    assert!(has(&cargo_tree(&[
        "-e",
        "normal",
        "--workspace",
        "--features",
        "ndarray"
    ])));
}

/// Architecture Invariant: the release profile leaves unoptimised (`[profile.release.package.*]`
/// in Cargo.toml) only crates on no hot path — never burn, CubeCL, wgpu, naga, gemm or the
/// workspace's own — and every crate it names is in the build (a stale name does nothing).
#[test]
fn only_cold_crates_are_built_without_optimisation() {
    let manifest = read(&root().join("Cargo.toml"));
    let named: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[profile.release.package."))
        .map(|rest| rest.trim_end_matches(']').trim_matches('"'))
        .collect();
    assert!(!named.is_empty(), "no per-crate release settings found");
    let hot = [
        "burn", "cubecl", "cubek", "wgpu", "naga", "gemm", "gradlab", "fastconv", "*",
    ];
    let members = workspace_members();
    let tree = cargo_tree(&["-e", "normal", "--workspace"]);
    for name in named {
        assert!(
            !hot.iter().any(|h| name.starts_with(h)) && !members.iter().any(|m| m == name),
            "{name} runs on a hot path: keep it optimised"
        );
        assert!(
            tree.lines().any(|l| l.starts_with(&format!("{name} "))),
            "Cargo.toml sets a release opt-level for {name}, which is not in the build"
        );
    }
}

/// Every README starts with a title and closes every code fence (an odd count renders half the
/// page as code, as xor-backprop's once did).
#[test]
fn every_readme_has_a_title_and_balanced_code_fences() {
    let mut readmes = vec![root().join("README.md"), root().join("ARCHITECTURE.md")];
    for dir in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        let r = dir.path().join("README.md");
        assert!(r.is_file(), "{} has no README.md", dir.path().display());
        readmes.push(r);
    }
    for r in readmes {
        let text = std::fs::read_to_string(&r).unwrap();
        assert!(text.starts_with("# "), "{} does not start with a title", r.display());
        let fences = text.lines().filter(|l| l.trim_start().starts_with("```")).count();
        assert_eq!(fences % 2, 0, "{}: {fences} code fences", r.display());
    }
}

/// The model crates: each has the same file map (ARCHITECTURE.md, "One shape for every model
/// crate").
const MODEL_CRATES: [&str; 4] = ["mnist-cnn", "sentiment", "rnn", "xor-backprop"];

/// Every crate of the workspace, by kind: a new crate must be placed in one of them.
const OTHER_CRATES: [&str; 8] = [
    "calculus",
    "bench",
    "fastconv",
    "gradlab",
    "testkit",
    "web",
    "serve",
    "workspace-hack",
];

/// Architecture Invariant: every model crate has the same file map — `config.rs`, `data.rs`,
/// `model.rs`, `training.rs`, `inference.rs`, `lib.rs` and a thin `main.rs` built on the shared
/// command line (`gradlab::cli::ModelCli`, `gradlab::parse_cli!`), its config a
/// `gradlab::run_config!`; `calculus`, the examples crate, has `config.rs`, `report.rs` and one
/// module per example.
#[test]
fn every_model_crate_has_the_same_file_map() {
    let crates: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for c in &crates {
        assert!(
            MODEL_CRATES.contains(&c.as_str()) || OTHER_CRATES.contains(&c.as_str()),
            "crates/{c} is neither a model crate nor one of the other kinds (tests/workspace/architecture.rs)"
        );
    }
    for c in MODEL_CRATES {
        let src = root().join("crates").join(c).join("src");
        for file in [
            "config.rs",
            "data.rs",
            "model.rs",
            "training.rs",
            "inference.rs",
            "lib.rs",
            "main.rs",
        ] {
            assert!(src.join(file).is_file(), "crates/{c}/src/{file} is missing");
        }
        let main = read(&src.join("main.rs"));
        assert!(
            main.contains("gradlab::cli::ModelCli<") && main.contains("gradlab::parse_cli!("),
            "crates/{c}/src/main.rs does not use the shared command line"
        );
        assert!(
            read(&src.join("config.rs")).contains("gradlab::run_config!("),
            "crates/{c}/src/config.rs is not a gradlab::run_config!"
        );
    }
    let calculus = root().join("crates/calculus/src");
    for file in ["config.rs", "report.rs", "lib.rs", "main.rs"] {
        assert!(calculus.join(file).is_file(), "crates/calculus/src/{file} is missing");
    }
    assert!(read(&calculus.join("config.rs")).contains("gradlab::run_config!("));
    assert!(read(&calculus.join("main.rs")).contains("RunArgs"));
}

/// The functions of a Rust file longer than `limit` lines, as `name (N lines)`. Functions are
/// found as rustfmt lays them out: a `fn` line and the `}` at its indentation that closes it.
fn long_functions(text: &str, limit: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let words: Vec<&str> = body.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "fn") else {
            continue;
        };
        let is_fn = words[..at]
            .iter()
            .all(|w| w.starts_with("pub") || ["const", "async", "unsafe"].contains(w));
        if !is_fn || body.ends_with(';') || body.ends_with('}') {
            continue;
        }
        let close = format!("{indent}}}");
        if let Some(end) = lines[i + 1..].iter().position(|l| *l == close) {
            let n = end + 2;
            if n > limit {
                let name = words
                    .get(at + 1)
                    .map_or("?", |w| w.split(['(', '<']).next().unwrap_or(w));
                found.push(format!("{name} ({n} lines)"));
            }
        }
    }
    found
}

/// Architecture Invariant: no function of the product code is longer than 90 lines; a longer
/// one is split where a name explains the part.
#[test]
fn no_function_is_longer_than_ninety_lines() {
    let mut offenders = Vec::new();
    for file in product_sources() {
        for f in long_functions(&read(&file), 90) {
            offenders.push(format!("{}: {f}", file.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "functions over 90 lines:\n{}",
        offenders.join("\n")
    );
    // The scanner itself finds a long function, and only that one.
    let long = format!(
        "fn short() {{\n}}\n\npub(crate) fn long(x: u8) {{\n{}}}\n",
        "    x;\n".repeat(95)
    );
    assert_eq!(long_functions(&long, 90), ["long (97 lines)"]);
}

/// Architecture Invariant: a process-wide setting is the binary's decision: only binaries and
/// examples call `fastconv::memory::keep_freed_memory()` (glibc's malloc thresholds), never a
/// library function such as `mnist_cnn::training::train`.
#[test]
fn only_binaries_change_the_allocator() {
    let definition = root().join("crates/fastconv/src/memory.rs");
    for file in product_sources() {
        let binary = file.ends_with("src/main.rs") || file.components().any(|c| c.as_os_str() == "examples");
        if file == definition || binary {
            continue;
        }
        let calls = read(&file)
            .lines()
            .filter(|l| !l.trim_start().starts_with("//") && l.contains("keep_freed_memory()"))
            .count();
        assert_eq!(calls, 0, "{} changes the allocator from a library", file.display());
    }
}

/// Architecture Invariant: the bench times what training runs: each workload takes its loss and
/// optimizer from the model's crate (`training::loss`, `training::optimizer`) instead of
/// declaring its own.
#[test]
fn the_bench_declares_no_loss_or_optimizer_of_its_own() {
    let workloads = read(&root().join("crates/bench/src/workloads.rs"));
    for own in [
        "AdamConfig",
        "AdaGradConfig",
        "CrossEntropyLossConfig",
        "BinaryCrossEntropyLossConfig",
    ] {
        assert!(!workloads.contains(own), "crates/bench/src/workloads.rs declares {own}");
    }
    for model in ["mnist_cnn", "sentiment", "rnn", "xor_backprop"] {
        assert!(
            workloads.contains(&format!("{model}::training::optimizer(")),
            "the bench does not take {model}'s optimizer"
        );
    }
}
