//! Run folders: `<out_dir>/run-NNN/`, one per training run, and `<out_dir>/latest`, a small
//! text file naming the newest. Every model crate writes its runs this way.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Create the next `run-NNN` folder in `out_dir` and point `latest` at it.
pub fn new_run_dir(out_dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let next = std::fs::read_dir(out_dir)?
        .flatten()
        .filter_map(|e| run_number(e.file_name().to_str()?))
        .max()
        .unwrap_or(0)
        + 1;
    let name = format!("run-{next:03}");
    let dir = out_dir.join(&name);
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    crate::io::atomic_write(&out_dir.join("latest"), name.as_bytes())?;
    Ok(dir)
}

/// The number of a run folder's name: `run-` followed by digits only (`run-007` → 7); `None`
/// for any other name.
pub fn run_number(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("run-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The run folder `<out_dir>/latest` names.
pub fn latest_run(out_dir: &Path) -> Result<PathBuf> {
    let pointer = out_dir.join("latest");
    let name = std::fs::read_to_string(&pointer)
        .with_context(|| format!("no previous run: cannot read {}", pointer.display()))?;
    let dir = out_dir.join(name.trim());
    if !dir.is_dir() {
        bail!("{} names {}, which does not exist", pointer.display(), dir.display());
    }
    Ok(dir)
}

/// The file that marks a model trained on part of its data (`--limit` and the like): beside
/// the model file, so it travels with the model folder. It holds one line saying why.
pub const TOY_MARK: &str = "TOY.txt";

/// Mark the model in `model_dir` as a small experiment, with the reason (e.g. "trained with
/// --limit 5: 5 of 10,568 sentences").
pub fn mark_toy(model_dir: &Path, why: &str) -> Result<()> {
    crate::io::atomic_write(
        &model_dir.join(TOY_MARK),
        format!("{why}\nA small experiment: `eval` and `predict` use it only when no full run has finished.\n")
            .as_bytes(),
    )
}

/// The model `eval`/`predict`/`sample` use, and where it came from.
#[derive(Debug, Clone)]
pub struct ChosenModel {
    /// The model file (or the file naming the model folder, e.g. `model/model.json`).
    pub path: PathBuf,
    /// Why it is a toy (its [`TOY_MARK`]), when it is one.
    pub toy: Option<String>,
    /// True when no model was named and the newest finished run was picked.
    pub by_default: bool,
    /// The option that names a model (`--model`), for the messages.
    pub flag: String,
}

impl ChosenModel {
    /// One line for the user: the path, when the model was written and its headline figure from
    /// the run's `report.json` (e.g. "test accuracy 96.50 %"), and the toy mark.
    pub fn describe(&self) -> String {
        let mut s = format!("model: {}", self.path.display());
        let mut facts = Vec::new();
        let report = self.report();
        if let Ok(t) = std::fs::metadata(&self.path).and_then(|m| m.modified()) {
            // `mnist-cnn import` makes model folders from weights trained elsewhere.
            let how = match report.as_ref().map(|r| r["command"] == "import") {
                Some(true) => "imported",
                _ => "trained",
            };
            facts.push(format!("{how} {}", crate::report::utc_minute(t)));
        }
        if let Some(h) = report.as_ref().and_then(headline) {
            facts.push(h);
        }
        if let Some(why) = &self.toy {
            facts.push(format!("a toy: {why}"));
        }
        if self.by_default {
            facts.push(format!("the newest finished run; {} chooses another", self.flag));
        }
        if !facts.is_empty() {
            s.push_str(&format!(" ({})", facts.join("; ")));
        }
        s
    }

    /// The `report.json` of the run folder holding the model, if there is one.
    fn report(&self) -> Option<serde_json::Value> {
        let report = self
            .path
            .ancestors()
            .skip(1)
            .take(3)
            .map(|d| d.join("report.json"))
            .find(|p| p.is_file())?;
        serde_json::from_str(&std::fs::read_to_string(report).ok()?).ok()
    }
}

/// A run's headline figure from its `report.json` ("test accuracy 96.50 %", an RNN's
/// validation nats/char), when it has one.
pub fn headline(doc: &serde_json::Value) -> Option<String> {
    if let Some(a) = doc["test"]["accuracy"].as_f64() {
        return Some(format!("test accuracy {:.2} %", 100.0 * a));
    }
    let last = doc["history"].as_array()?.last()?;
    last["valid_loss_per_char"]
        .as_f64()
        .map(|v| format!("validation {v:.3} nats/char"))
}

/// The model to use: `given` (the value of the option `flag`, e.g. `--model`) — a run folder,
/// or a model file/folder inside one — or, when
/// `None`, the newest finished run in `out_dir` (one holding `model_rel` and its `report.json`), preferring runs not
/// marked as toys ([`TOY_MARK`]); unfinished runs (stopped by Ctrl-C, failed) are passed over.
pub fn choose_model(given: Option<&Path>, flag: &str, out_dir: &Path, model_rel: &str) -> Result<ChosenModel> {
    let toy_of = |path: &Path| {
        let mark = path.parent()?.join(TOY_MARK);
        let text = std::fs::read_to_string(mark).ok()?;
        Some(text.lines().next().unwrap_or("").trim().to_string())
    };
    if let Some(p) = given {
        // A run folder: its model inside (a folder holding `model_rel`).
        let path = if p.join(model_rel).exists() {
            p.join(model_rel)
        } else if p.is_dir()
            && let Some(file) = Path::new(model_rel).file_name()
            && p.join(file).exists()
        {
            // The model folder itself (e.g. `run-003/model` for `model/model.json`).
            p.join(file)
        } else {
            p.to_path_buf()
        };
        if !path.exists() {
            bail!("{flag} {}: no such file or folder", p.display());
        }
        if path.is_dir() {
            bail!(
                "{flag} {}: not a run folder or a model (no {model_rel} inside)",
                p.display()
            );
        }
        return Ok(ChosenModel {
            toy: toy_of(&path),
            path,
            by_default: false,
            flag: flag.to_string(),
        });
    }
    let mut runs: Vec<(u32, PathBuf)> = std::fs::read_dir(out_dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = run_number(e.file_name().to_str()?)?;
                    Some((n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    // Finished: the model is there and so is the report every crate writes last (the RNN
    // saves its model during training too, so the model alone does not say it finished).
    let finished: Vec<PathBuf> = runs
        .into_iter()
        .rev()
        .filter(|(_, d)| d.join("report.json").is_file())
        .map(|(_, d)| d.join(model_rel))
        .filter(|p| p.exists())
        .collect();
    let pick = finished
        .iter()
        .find(|p| toy_of(p).is_none())
        .or(finished.first())
        .cloned();
    match pick {
        Some(path) => Ok(ChosenModel {
            toy: toy_of(&path),
            path,
            by_default: true,
            flag: flag.to_string(),
        }),
        None => bail!(
            "no finished run in {} (none holds {model_rel}): train first, or pass {flag}",
            out_dir.display()
        ),
    }
}

/// A run folder made on first use: for commands that write files only in some cases (plots
/// unless `--no-plot`), so a run that writes nothing, or fails before writing, leaves no empty
/// `run-NNN` behind, and a run that writes never overwrites an earlier one.
#[derive(Debug)]
pub struct LazyRunDir {
    out_dir: PathBuf,
    dir: std::cell::OnceCell<PathBuf>,
}

impl LazyRunDir {
    /// Runs go into `<out_dir>/run-NNN/`.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        LazyRunDir {
            out_dir: out_dir.into(),
            dir: std::cell::OnceCell::new(),
        }
    }

    /// The path of `name` in this run's folder, creating the folder (and moving `latest`) the
    /// first time.
    pub fn file(&self, name: &str) -> Result<PathBuf> {
        if let Some(d) = self.dir.get() {
            return Ok(d.join(name));
        }
        let d = new_run_dir(&self.out_dir)?;
        Ok(self.dir.get_or_init(|| d).join(name))
    }

    /// The folder, if it was made.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.get().map(PathBuf::as_path)
    }
}

/// Print where a finished training run's files are, one aligned line each: the model, the
/// resolved config (when `config`), the metrics, the plot named `plot` and the report.
pub fn print_run_files(model: &Path, run_dir: &Path, plot: &str, config: bool) {
    println!("model:   {}", model.display());
    if config {
        println!("config:  {}", run_dir.join("config.toml").display());
    }
    println!("metrics: {} (and metrics.json)", run_dir.join("metrics.csv").display());
    println!("plot:    {}", run_dir.join(plot).display());
    println!("report:  {}", run_dir.join("report.json").display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_numbers_are_digits_only() {
        assert_eq!(run_number("run-007"), Some(7));
        assert_eq!(run_number("run-12"), Some(12));
        for not in ["run-", "run-+5", "run--1", "run-1x", "run-1 ", "latest", "xrun-1"] {
            assert_eq!(run_number(not), None, "{not}");
        }
    }

    fn run(out: &Path, n: u32, finished: bool, toy: bool) -> PathBuf {
        let d = out.join(format!("run-{n:03}"));
        std::fs::create_dir_all(d.join("model")).unwrap();
        if finished {
            std::fs::write(d.join("model/model.json"), "{}").unwrap();
            std::fs::write(d.join("report.json"), r#"{"test": {"accuracy": 0.875}}"#).unwrap();
        }
        if toy {
            mark_toy(&d.join("model"), "trained with --limit 5").unwrap();
        }
        d
    }

    #[test]
    fn the_default_model_is_the_newest_finished_full_run() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        let err = choose_model(None, "--model", out, "model/model.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no finished run") && err.contains("--model"), "{err}");
        run(out, 1, true, false);
        run(out, 2, true, false);
        run(out, 3, true, true); // a toy
        run(out, 4, false, false); // stopped by Ctrl-C
        let half = run(out, 5, false, false); // stopped mid-training, its model saved so far
        std::fs::write(half.join("model/model.json"), "{}").unwrap();
        let c = choose_model(None, "--model", out, "model/model.json").unwrap();
        assert_eq!(c.path, out.join("run-002/model/model.json"));
        assert!(c.by_default && c.toy.is_none());
        let line = c.describe();
        assert!(
            line.contains("run-002") && line.contains("test accuracy 87.50 %"),
            "{line}"
        );
        // Only toys: the newest toy, said to be one.
        let tmp2 = tempfile::tempdir().unwrap();
        run(tmp2.path(), 1, true, true);
        run(tmp2.path(), 2, true, true);
        let c = choose_model(None, "--model", tmp2.path(), "model/model.json").unwrap();
        assert_eq!(c.path, tmp2.path().join("run-002/model/model.json"));
        assert!(
            c.describe().contains("a toy: trained with --limit 5"),
            "{}",
            c.describe()
        );
    }

    #[test]
    fn an_imported_model_is_said_to_be_imported() {
        let tmp = tempfile::tempdir().unwrap();
        let d = run(tmp.path(), 1, true, false);
        let c = choose_model(None, "--model", tmp.path(), "model/model.json").unwrap();
        assert!(c.describe().contains("(trained 20"), "{}", c.describe());
        let import = r#"{"command": "import", "test": {"accuracy": 0.5}}"#;
        std::fs::write(d.join("report.json"), import).unwrap();
        let line = c.describe();
        assert!(
            line.contains("(imported 20") && line.contains("test accuracy 50.00 %"),
            "{line}"
        );
    }

    #[test]
    fn model_accepts_a_run_folder_a_model_folder_or_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let d = run(tmp.path(), 7, true, false);
        let want = d.join("model/model.json");
        for given in [d.clone(), d.join("model"), want.clone()] {
            let c = choose_model(Some(&given), "--model", Path::new("/nonexistent"), "model/model.json").unwrap();
            assert_eq!(c.path, want, "{}", given.display());
            assert!(!c.by_default);
        }
        let err = choose_model(
            Some(&tmp.path().join("nope")),
            "--model",
            tmp.path(),
            "model/model.json",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no such file"), "{err}");
        let err = choose_model(Some(tmp.path()), "--model", tmp.path(), "model/model.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a run folder"), "{err}");
    }

    #[test]
    fn a_lazy_run_folder_appears_on_first_use_and_never_reuses_a_run() {
        let tmp = tempfile::tempdir().unwrap();
        let first = LazyRunDir::new(tmp.path());
        assert!(first.dir().is_none());
        assert!(!tmp.path().join("run-001").exists(), "nothing made before use");
        let a = first.file("a.svg").unwrap();
        assert_eq!(a, tmp.path().join("run-001/a.svg"));
        assert_eq!(first.file("b.svg").unwrap(), tmp.path().join("run-001/b.svg"));
        let second = LazyRunDir::new(tmp.path());
        assert_eq!(second.file("a.svg").unwrap(), tmp.path().join("run-002/a.svg"));
        assert_eq!(latest_run(tmp.path()).unwrap(), tmp.path().join("run-002"));
    }
}
