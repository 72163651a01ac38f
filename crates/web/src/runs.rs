//! The runs of each crate (`<runs>/<crate>/run-NNN/`) and the files of them the server may
//! hand out: the SVG plots the runs write, nothing else, only under the runs folder.
//!
//! Architecture Invariant: a `/runs/` path is served only when its crate is one of [`CRATES`],
//! its run is `run-` followed by digits, its file name is plain (letters, digits, `-`, `_`,
//! `.`, ending in `.svg`, not starting with a dot) and the file, links resolved, lies inside the
//! runs folder; anything else is 404, so `..`, encoded slashes and symbolic links lead nowhere.

use std::path::{Path, PathBuf};

use gradlab::runs::run_number;
use serde::Serialize;

/// The crates whose runs are listed, in the page's order.
pub const CRATES: [&str; 6] = ["mnist-cnn", "sentiment", "rnn", "xor-backprop", "calculus", "bench"];

/// At most this many runs per crate are listed (the newest).
pub const MAX_LISTED: usize = 50;

/// One run folder.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// `run-NNN`.
    pub run: String,
    /// Its `report.json` exists (written last by every crate).
    pub finished: bool,
    /// The headline figure of its report ("test accuracy 96.50 %"), when it has one.
    pub headline: Option<String>,
    /// The subcommand that made it (`train`, `import`, …), when its report says.
    pub command: Option<String>,
    /// The backend line of its report.
    pub backend: Option<String>,
    /// Why it is a toy (its `TOY.txt`), when it is one.
    pub toy: Option<String>,
    /// When the folder last changed (UTC, to the minute).
    pub modified: Option<String>,
    /// URLs of its SVG plots.
    pub plots: Vec<String>,
}

/// One crate's runs, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct CrateRuns {
    /// The crate.
    #[serde(rename = "crate")]
    pub name: &'static str,
    /// Its runs, newest first (at most [`MAX_LISTED`]).
    pub runs: Vec<Run>,
    /// Runs not listed.
    pub more: usize,
}

/// Every crate's runs in `runs_dir` (crates without runs have an empty list).
pub fn list(runs_dir: &Path) -> Vec<CrateRuns> {
    CRATES
        .iter()
        .map(|&name| {
            let dir = runs_dir.join(name);
            let mut found: Vec<(u32, String)> = std::fs::read_dir(&dir)
                .map(|rd| {
                    rd.flatten()
                        .filter(|e| e.path().is_dir())
                        .filter_map(|e| {
                            let file = e.file_name().to_str()?.to_string();
                            Some((run_number(&file)?, file))
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.sort_by(|a, b| b.cmp(a));
            let more = found.len().saturating_sub(MAX_LISTED);
            let runs = found
                .into_iter()
                .take(MAX_LISTED)
                .map(|(_, run)| describe(name, &dir.join(&run), run))
                .collect();
            CrateRuns { name, runs, more }
        })
        .collect()
}

fn describe(name: &str, dir: &Path, run: String) -> Run {
    let report: Option<serde_json::Value> = std::fs::read_to_string(dir.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let mut plots: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|f| plain_svg_name(f))
                .map(|f| format!("/runs/{name}/{run}/{f}"))
                .collect()
        })
        .unwrap_or_default();
    plots.sort();
    Run {
        finished: report.is_some(),
        headline: report.as_ref().and_then(gradlab::runs::headline),
        command: report.as_ref().and_then(|r| text(&r["command"])),
        // Every run report holds `ResolvedBackend::to_json()` under "backend".
        backend: report.as_ref().and_then(|r| {
            let b = &r["backend"];
            Some(format!(
                "{} on {}",
                b["backend"].as_str()?,
                b["adapter"]["name"].as_str()?
            ))
        }),
        toy: std::fs::read_to_string(dir.join(gradlab::runs::TOY_MARK))
            .ok()
            .map(|t| t.lines().next().unwrap_or("").trim().to_string()),
        modified: std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .map(gradlab::report::utc_minute),
        plots,
        run,
    }
}

/// A file name the server may serve: plain characters, ends in `.svg`, no leading dot.
fn plain_svg_name(file: &str) -> bool {
    file.len() <= 128
        && file.ends_with(".svg")
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The file behind `/runs/{crate}/{run}/{file}`, or `None` (→ 404) for anything but a plot of
/// a run of a known crate inside `runs_dir` (the module's invariant).
pub fn plot_file(runs_dir: &Path, krate: &str, run: &str, file: &str) -> Option<PathBuf> {
    if !CRATES.contains(&krate) || run_number(run).is_none() || !plain_svg_name(file) {
        return None;
    }
    let path = runs_dir.join(krate).join(run).join(file);
    let real = path.canonicalize().ok()?;
    let root = runs_dir.canonicalize().ok()?;
    (real.starts_with(&root) && real.is_file()).then_some(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plots_of_known_runs_inside_the_folder_are_served() {
        let tmp = tempfile::tempdir().unwrap();
        let runs = tmp.path().join("runs");
        let run = runs.join("mnist-cnn/run-001");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("curves.svg"), "<svg/>").unwrap();
        std::fs::write(run.join("report.json"), "{}").unwrap();
        std::fs::write(tmp.path().join("secret.svg"), "<svg/>").unwrap();
        assert!(plot_file(&runs, "mnist-cnn", "run-001", "curves.svg").is_some());
        for (k, r, f) in [
            ("mnist-cnn", "run-001", "report.json"),
            ("mnist-cnn", "run-001", "../../secret.svg"),
            ("mnist-cnn", "run-001", "..%2F..%2Fsecret.svg"),
            ("mnist-cnn", "..", "secret.svg"),
            ("..", "run-001", "curves.svg"),
            ("other", "run-001", "curves.svg"),
            ("mnist-cnn", "run-", "curves.svg"),
            ("mnist-cnn", "run-1x", "curves.svg"),
            ("mnist-cnn", "run-001", ".hidden.svg"),
            ("mnist-cnn", "run-002", "curves.svg"),
        ] {
            assert!(plot_file(&runs, k, r, f).is_none(), "{k}/{r}/{f}");
        }
        // A link out of the runs folder is not followed out.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.path().join("secret.svg"), run.join("link.svg")).unwrap();
            assert!(plot_file(&runs, "mnist-cnn", "run-001", "link.svg").is_none());
        }
        let listed = list(&runs);
        assert_eq!(listed.len(), CRATES.len());
        let m = &listed[0];
        assert_eq!(m.runs.len(), 1);
        assert!(m.runs[0].finished);
        assert!(
            m.runs[0]
                .plots
                .contains(&"/runs/mnist-cnn/run-001/curves.svg".to_string())
        );
    }
}
