//! Architecture invariants that a reading of the sources can check (ARCHITECTURE.md).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of the crates' libraries, binaries and examples (not their tests).
fn product_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        for part in ["src", "examples"] {
            rust_files(&krate.path().join(part), &mut files);
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
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = |args: &[&str]| {
        let o = std::process::Command::new(&cargo)
            .args(["tree", "-e", "normal", "--prefix", "none", "--offline"])
            .args(args)
            .current_dir(root())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let has_ureq = |t: &str| t.lines().any(|l| l.starts_with("ureq "));
    for krate in ["calculus", "xor-backprop", "sentiment", "rnn", "bench", "mnist-cnn"] {
        assert!(!has_ureq(&tree(&["-p", krate])), "{krate} links an HTTP client");
    }
    assert!(
        has_ureq(&tree(&["-p", "mnist-cnn", "--features", "download"])),
        "mnist-cnn's download feature should bring the HTTP client"
    );
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
