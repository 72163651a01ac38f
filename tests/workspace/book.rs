//! The book (`docs/book`, mdBook) kept honest. Every chapter is in `SUMMARY.md`; every
//! `{{#include FILE:ANCHOR}}` names a file and an anchor that exist; every link and figure
//! resolves; every command a chapter shows is one the binaries accept (`--help` after its
//! arguments, or the file or test it names exists); every printed line a chapter shows after a
//! command (a `text` block right after a one-command `sh` block) is printed by that command
//! today; every line a Python lesson prints without a leading `# ` is also printed by gradlab's
//! command its docstring names; and, where `mdbook` is installed (CI installs it and sets
//! `GRADLAB_REQUIRE_MDBOOK=1`), `mdbook build docs/book` succeeds with no include left unexpanded
//! and no relative link in the HTML pointing at a missing file.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};

use gradlab_testkit::{python_with, skip_unless_required, text, workspace_bin, workspace_bin_path};

use crate::{files_under, read, root};

fn src() -> PathBuf {
    root().join("docs/book/src")
}

/// The chapters' file names, in `SUMMARY.md`'s order.
fn summary() -> Vec<String> {
    let summary = read(&src().join("SUMMARY.md"));
    summary
        .lines()
        .filter_map(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            let start = l.find("](")? + 2;
            let end = start + l[start..].find(')')?;
            Some(l[start..end].to_string())
        })
        .collect()
}

/// Every chapter: its file name and text.
fn chapters() -> Vec<(String, String)> {
    summary()
        .into_iter()
        .map(|name| {
            let text = read(&src().join(&name));
            (name, text)
        })
        .collect()
}

/// A fenced code block: its info string (`sh`, `text`, `rust`, …) and its lines.
struct Block {
    info: String,
    lines: Vec<String>,
}

/// The fenced code blocks of a chapter, in order (indented fences included).
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(info) = t.strip_prefix("```") {
            match open.take() {
                Some(b) => out.push(b),
                None => {
                    open = Some(Block {
                        info: info.trim().to_string(),
                        lines: Vec::new(),
                    })
                }
            }
        } else if let Some(b) = open.as_mut() {
            b.lines.push(t.to_string());
        }
    }
    assert!(open.is_none(), "an unclosed code fence");
    out
}

/// Runs of whitespace as one space, ends trimmed: printed columns are aligned with spaces,
/// which the book may shorten.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Each of `expected`'s non-empty lines is part of a line of `output` (whitespace squashed).
fn assert_printed(expected: &[String], output: &str, what: &str) {
    let printed: Vec<String> = output.lines().map(squash).collect();
    for line in expected.iter().map(|l| squash(l)).filter(|l| !l.is_empty() && l != "…") {
        assert!(
            printed.iter().any(|p| p.contains(&line)),
            "{what} does not print the line the book shows:\n  {line}\nIt printed:\n{output}"
        );
    }
}

/// A command line split as a shell would split these (whitespace, double quotes), without its
/// trailing `# comment`.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            '#' if !quoted && !any && word.is_empty() => break,
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    assert!(!quoted, "unbalanced quotes in `{line}`");
    if any {
        words.push(word);
    }
    words
}

/// What a line of an `sh` block asks for.
#[derive(Debug)]
enum Cmd {
    /// A workspace binary with its arguments (`cargo run -p PKG --release -- ARGS`, or
    /// `target/release/BIN ARGS`); `features`: the cargo features the command builds with.
    Bin {
        bin: String,
        args: Vec<String>,
        features: Option<String>,
    },
    /// `cargo test --release -p PKG --test TARGET -- FILTER …`.
    Test { package: String, filter: String },
    /// `cargo build …`: the build itself, nothing to run.
    Build,
    /// `python3 FILE ARGS`.
    Python { file: String, args: Vec<String> },
    /// `scripts/NAME ARGS`.
    Script { file: String },
}

/// The binary each package builds.
fn bin_of(package: &str) -> String {
    match package {
        "calculus" | "xor-backprop" | "mnist-cnn" | "sentiment" | "rnn" | "bench" | "gradlab-web" | "gradlab-serve" => {
            package.to_string()
        }
        other => panic!("the book runs `cargo run -p {other}`, which is not a binary crate of the workspace"),
    }
}

fn parse(line: &str) -> Cmd {
    let w = words(line);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["cargo", "run", "-p", package, rest @ ..] => {
            let split = rest.iter().position(|&a| a == "--").unwrap_or(rest.len());
            let (flags, args) = (&rest[..split], rest.get(split + 1..).unwrap_or(&[]));
            assert!(
                flags.contains(&"--release"),
                "`{line}`: the book's commands build with --release"
            );
            let features = flags
                .iter()
                .position(|&f| f == "--features")
                .map(|i| flags[i + 1].to_string());
            Cmd::Bin {
                bin: bin_of(package),
                args: args.iter().map(|a| a.to_string()).collect(),
                features,
            }
        }
        [exe, args @ ..] if exe.starts_with("target/release/") => Cmd::Bin {
            bin: exe["target/release/".len()..].to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            features: None,
        },
        [
            "cargo",
            "test",
            "--release",
            "-p",
            package,
            "--test",
            _,
            "--",
            filter,
            ..,
        ] => Cmd::Test {
            package: package.to_string(),
            filter: filter.to_string(),
        },
        ["cargo", "build", "--release", ..] => Cmd::Build,
        ["python3", file, args @ ..] => Cmd::Python {
            file: file.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
        },
        [file, ..] if file.starts_with("scripts/") => Cmd::Script { file: file.to_string() },
        _ => panic!("the book shows `{line}`, a command this test does not know how to check"),
    }
}

/// `bin args` run from a fresh folder (its run folders land there), with a private cache.
fn run_bin(bin: &str, args: &[String]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(workspace_bin(bin))
        .args(args)
        .current_dir(dir.path())
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e}"))
}

/// Whether a binary of this build has the cargo features a command asks for.
fn built_with(bin: &str, features: &Option<String>) -> bool {
    match features.as_deref() {
        None => true,
        Some("remote") => bin != "gradlab-serve" && gradlab::BackendName::Remote.is_built(),
        Some("ndarray") => gradlab::BackendName::Ndarray.is_built(),
        Some(other) => panic!("the book builds with --features {other}, which this test does not know"),
    }
}

/// The command is one the workspace accepts: a binary's `--help` after its arguments succeeds,
/// a named test exists, a named file exists.
fn check_accepted(cmd: &Cmd, line: &str) {
    match cmd {
        Cmd::Bin { bin, args, features } => {
            if !built_with(bin, features) || (bin == "gradlab-serve" && !workspace_bin_path(bin).is_file()) {
                // Commands of another build (`--features remote`): their flags are the same
                // binaries' in the feature build, which tests/remote.rs runs.
                return;
            }
            let mut with_help = args.clone();
            with_help.push("--help".into());
            let o = run_bin(bin, &with_help);
            assert!(
                o.status.success(),
                "the book shows `{line}`, which {bin} refuses:\n{}",
                text(&o)
            );
        }
        Cmd::Test { package, filter } => {
            let dir = root()
                .join("crates")
                .join(package.trim_start_matches("gradlab-"))
                .join("tests");
            let found = files_under(&dir, "rs").iter().any(|f| {
                let t = read(f);
                t.contains(&format!("fn {filter}")) || t.contains(&format!("mod {filter};"))
            }) || dir.join(package).join(format!("{filter}.rs")).is_file();
            assert!(
                found,
                "the book shows `{line}`, but no test or test module `{filter}` is in {}",
                dir.display()
            );
        }
        Cmd::Build => {}
        Cmd::Python { file, .. } => assert!(
            root().join(file).is_file(),
            "the book shows `{line}`: {file} is missing"
        ),
        Cmd::Script { file } => assert!(
            root().join(file).is_file(),
            "the book shows `{line}`: {file} is missing"
        ),
    }
}

/// Architecture Invariant: the book has one chapter per seed lesson, in the seed's order, each
/// with its included code, a command, a figure and a gradient check (or the lesson's check).
#[test]
fn every_seed_lesson_has_its_chapter_in_order_with_code_command_figure_and_check() {
    let lessons = [
        "sigmoid.md",
        "derivative.md",
        "gradient-descent.md",
        "backpropagation.md",
        "surface.md",
        "partial.md",
        "chain-rule.md",
        "normal.md",
        "taylor.md",
        "convolution.md",
        "cnn.md",
        "sentiment.md",
        "rnn.md",
    ];
    let order = summary();
    let at: Vec<usize> = lessons
        .iter()
        .map(|l| {
            order
                .iter()
                .position(|c| c == l)
                .unwrap_or_else(|| panic!("SUMMARY.md has no {l}"))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "the lessons are not in the seed's order: {order:?}"
    );
    for lesson in lessons {
        let t = read(&src().join(lesson));
        assert!(
            t.contains("{{#include ../../../crates/"),
            "{lesson} includes none of gradlab's code"
        );
        assert!(t.contains("```sh\ncargo run -p "), "{lesson} shows no command to run");
        assert!(t.contains("](figures/"), "{lesson} shows no figure");
        assert!(
            t.contains("## The gradient check") || t.contains("## The check"),
            "{lesson} has no check"
        );
    }
    // Every file in src/ is a chapter of the summary (mdBook would silently leave it out).
    let listed: BTreeSet<String> = order.into_iter().collect();
    for f in std::fs::read_dir(src()).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") && name != "SUMMARY.md" {
            assert!(listed.contains(&name), "docs/book/src/{name} is not in SUMMARY.md");
        }
    }
}

#[test]
fn every_include_names_a_file_and_an_anchor_that_exist() {
    let mut count = 0;
    for (name, t) in chapters() {
        for (i, _) in t.match_indices("{{#include ") {
            let rest = &t[i + "{{#include ".len()..];
            let spec = &rest[..rest.find("}}").unwrap_or_else(|| panic!("{name}: an unclosed include"))];
            let (file, anchor) = spec.split_once(':').map_or((spec, None), |(f, a)| (f, Some(a)));
            let path = src().join(file);
            let body = read(&path);
            if let Some(anchor) = anchor {
                let lines: Vec<&str> = body.lines().collect();
                let marker = |kind: &str| {
                    lines
                        .iter()
                        .position(|l| l.trim().ends_with(&format!("{kind}: {anchor}")))
                };
                let (Some(start), Some(end)) = (marker("ANCHOR"), marker("ANCHOR_END")) else {
                    panic!(
                        "{name} includes {file}:{anchor}, but {} has no `ANCHOR: {anchor}` / `ANCHOR_END: {anchor}` pair",
                        path.display()
                    );
                };
                assert!(
                    start + 1 < end,
                    "{name}: the anchor {anchor} of {file} is empty or reversed"
                );
            }
            count += 1;
        }
    }
    assert!(
        count >= 30,
        "only {count} includes: the book should show gradlab's code"
    );
}

#[test]
fn every_link_and_figure_in_the_book_resolves() {
    for (name, t) in chapters() {
        for (i, _) in t.match_indices("](") {
            let rest = &t[i + 2..];
            let target = &rest[..rest.find(')').unwrap()];
            let target = target.split('#').next().unwrap();
            if target.is_empty() || target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let path = src().join(target);
            assert!(
                path.starts_with(src()) && !target.contains(".."),
                "{name} links to {target}, outside the book: mdBook does not copy it (name the path in `code` instead)"
            );
            assert!(path.is_file(), "{name} links to {target}, which does not exist");
        }
    }
}

#[test]
fn every_command_the_book_shows_is_accepted_and_prints_what_the_book_says() {
    let mut checked = 0;
    for (name, t) in chapters() {
        let blocks = blocks(&t);
        for (k, b) in blocks.iter().enumerate() {
            if b.info != "sh" {
                continue;
            }
            let lines: Vec<&String> = b.lines.iter().filter(|l| !l.trim().is_empty()).collect();
            let shown = blocks.get(k + 1).filter(|n| n.info == "text");
            if let Some(output) = shown {
                assert_eq!(
                    lines.len(),
                    1,
                    "{name}: a printed block follows a block of several commands"
                );
                let line = lines[0];
                let o = match parse(line) {
                    Cmd::Bin {
                        bin,
                        args,
                        features: None,
                    } => run_bin(&bin, &args),
                    Cmd::Python { file, args } => {
                        let Some(python) = python_with(&["numpy"], "the book's Python lessons") else {
                            continue;
                        };
                        Command::new(python)
                            .arg(root().join(&file))
                            .args(&args)
                            .output()
                            .unwrap()
                    }
                    other => {
                        panic!("{name}: the book shows output of `{line}` ({other:?}), which this test cannot run")
                    }
                };
                let t = text(&o);
                assert!(o.status.success(), "{name}: `{line}` failed:\n{t}");
                assert_printed(&output.lines, &t, &format!("{name}: `{line}`"));
            } else {
                for line in lines {
                    check_accepted(&parse(line), line);
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} command blocks checked");
}

/// The Python lessons (`docs/book/src/python/*.py`) compute what gradlab computes: every line
/// one prints without a leading `# ` is part of a line the command its docstring names prints.
#[test]
fn every_python_lesson_prints_lines_gradlab_prints_too() {
    let included: String = chapters().into_iter().map(|(_, t)| t).collect();
    let Some(python) = python_with(&["numpy"], "the book's Python lessons") else {
        return;
    };
    let lessons = files_under(&src().join("python"), "py");
    assert!(lessons.len() >= 10, "{} Python lessons", lessons.len());
    for file in lessons {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            included.contains(&format!("python/{name}")),
            "no chapter includes python/{name}"
        );
        let source = read(&file);
        let command = source
            .lines()
            .find(|l| l.starts_with("    cargo run -p "))
            .unwrap_or_else(|| panic!("{name}'s docstring names no gradlab command"));
        let Cmd::Bin { bin, args, .. } = parse(command.trim()) else {
            panic!("{name}: `{command}` is not a binary's command");
        };
        let py = Command::new(&python).arg(&file).output().unwrap();
        assert!(py.status.success(), "{name} failed:\n{}", text(&py));
        let shared: Vec<String> = String::from_utf8_lossy(&py.stdout)
            .lines()
            .filter(|l| !l.starts_with("# "))
            .map(str::to_string)
            .collect();
        assert!(!shared.is_empty(), "{name} prints no line gradlab prints too");
        let rust = run_bin(&bin, &args);
        assert!(rust.status.success(), "{}", text(&rust));
        assert_printed(&shared, &text(&rust), &format!("`{}` (beside {name})", command.trim()));
    }
}

/// `mdbook build docs/book` succeeds: every include expanded, every relative link and image of
/// the HTML found in the output.
#[test]
fn the_book_builds_with_mdbook_and_its_html_links_resolve() {
    let mdbook = std::env::var_os("GRADLAB_MDBOOK").map_or_else(|| PathBuf::from("mdbook"), PathBuf::from);
    let out = tempfile::tempdir().unwrap();
    let built = Command::new(&mdbook)
        .arg("build")
        .arg(root().join("docs/book"))
        .arg("--dest-dir")
        .arg(out.path())
        .output();
    let o = match built {
        Ok(o) => o,
        Err(e) => {
            skip_unless_required(
                "GRADLAB_REQUIRE_MDBOOK",
                format!("mdbook must run here: {}: {e}", mdbook.display()),
                format!("the book's build: {}: {e} — cargo install mdbook", mdbook.display()),
            );
            return;
        }
    };
    let t = text(&o);
    assert!(o.status.success(), "mdbook build failed:\n{t}");
    assert!(
        !t.contains("ERROR") && !t.contains("Error"),
        "mdbook build reported an error:\n{t}"
    );
    let pages = files_under(out.path(), "html");
    assert!(pages.len() >= 18, "{} pages built", pages.len());
    for page in pages {
        let html = read(&page);
        assert!(
            !html.contains("{{#include"),
            "{} has an include left unexpanded",
            page.display()
        );
        for attr in ["href=\"", "src=\""] {
            for (i, _) in html.match_indices(attr) {
                let rest = &html[i + attr.len()..];
                let target = &rest[..rest.find('"').unwrap()];
                let target = target.split(['#', '?']).next().unwrap();
                if target.is_empty()
                    || target.contains("://")
                    || target.starts_with("mailto:")
                    || target.starts_with("data:")
                {
                    continue;
                }
                let path = page.parent().unwrap().join(target);
                assert!(
                    path.exists(),
                    "{} links to {target}, which the built book does not have",
                    page.display()
                );
            }
        }
    }
}
