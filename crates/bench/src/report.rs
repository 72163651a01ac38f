//! The bench's output: a table in the terminal, `report.json` (every figure, the machine, the
//! backends and adapters, conformance, references), `results.csv` (one row per measurement) and
//! one SVG chart per model of training and inference throughput by backend and batch size.

use std::path::Path;

use anyhow::Result;
use gradlab::report::{Line, plot_bars, plot_lines_with};

use crate::Measurement;
use crate::workloads::ModelName;

/// The larger of two optional figures.
fn larger(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.0}"))
}

/// One table per model: every backend and batch size.
pub fn table(results: &[Measurement]) -> String {
    let mut s = String::new();
    let mut models: Vec<ModelName> = results.iter().map(|m| m.model).collect();
    models.dedup();
    for model in models {
        let rows: Vec<&Measurement> = results.iter().filter(|m| m.model == model).collect();
        let unit = rows.first().map_or("items", |m| m.unit.as_str());
        s.push_str(&format!(
            "\n{model} — training and inference steps; median [min–max] ms, {unit}/s at the median, first call ms, process peak RSS MiB (+ rise during the step), device MiB, kernel launches per train/infer step (CubeCL backends)\n"
        ));
        s.push_str(&format!(
            "{:<8} {:>6} | {:>26} {:>11} {:>9} | {:>26} {:>11} {:>9} | {:>12} {:>6} | {:>9}\n",
            "backend",
            "batch",
            "train ms",
            "train/s",
            "first",
            "infer ms",
            "infer/s",
            "first",
            "RSS (+rise)",
            "dev",
            "launches"
        ));
        for m in rows {
            let t = &m.train;
            let i = &m.infer;
            s.push_str(&format!(
                "{:<8} {:>6} | {:>26} {:>11.0} {:>9.1} | {:>26} {:>11.0} {:>9.1} | {:>12} {:>6} | {:>9}\n",
                m.backend.as_str(),
                m.batch,
                format!("{:.3} [{:.3}–{:.3}]", t.median_ms, t.min_ms, t.max_ms),
                t.items_per_second,
                t.first_ms,
                format!("{:.3} [{:.3}–{:.3}]", i.median_ms, i.min_ms, i.max_ms),
                i.items_per_second,
                i.first_ms,
                format!(
                    "{} (+{})",
                    opt(larger(t.peak_rss_mib, i.peak_rss_mib)),
                    opt(larger(t.rss_growth_mib, i.rss_growth_mib))
                ),
                opt(larger(t.device_reserved_mib, i.device_reserved_mib)),
                launches(m),
            ));
        }
    }
    s
}

/// `train/infer` kernel launches per step, `-` where not counted.
fn launches(m: &Measurement) -> String {
    match (&m.train.launches, &m.infer.launches) {
        (Some(t), Some(i)) => format!("{}/{}", t.total, i.total),
        _ => "-".into(),
    }
}

/// `results.csv`: one row per measurement.
pub fn csv(results: &[Measurement]) -> String {
    let mut s = String::from(
        "model,backend,batch,unit,items_per_step,train_median_ms,train_min_ms,train_max_ms,train_first_ms,train_reps,train_items_per_s,infer_median_ms,infer_min_ms,infer_max_ms,infer_first_ms,infer_reps,infer_items_per_s,peak_rss_mib,rss_growth_mib,device_reserved_mib,train_launches,infer_launches\n",
    );
    for m in results {
        let (t, i) = (&m.train, &m.infer);
        let o = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.1}"));
        s.push_str(&format!(
            "{},{},{},{},{},{:.4},{:.4},{:.4},{:.2},{},{:.1},{:.4},{:.4},{:.4},{:.2},{},{:.1},{},{},{},{},{}\n",
            m.model,
            m.backend.as_str(),
            m.batch,
            m.unit,
            m.items_per_step,
            t.median_ms,
            t.min_ms,
            t.max_ms,
            t.first_ms,
            t.reps,
            t.items_per_second,
            i.median_ms,
            i.min_ms,
            i.max_ms,
            i.first_ms,
            i.reps,
            i.items_per_second,
            o(larger(t.peak_rss_mib, i.peak_rss_mib)),
            o(larger(t.rss_growth_mib, i.rss_growth_mib)),
            o(larger(t.device_reserved_mib, i.device_reserved_mib)),
            t.launches.as_ref().map_or(String::new(), |l| l.total.to_string()),
            i.launches.as_ref().map_or(String::new(), |l| l.total.to_string()),
        ));
    }
    s
}

/// The x axis of the batch-size charts: positions are log2(batch), labels the batch sizes.
fn batch_label(x: f64) -> String {
    format!("{}", 2f64.powf(x).round())
}

/// One chart per model. Several batch sizes: items/s (log scale) against the batch size (a log2
/// axis labelled with the sizes), a line per backend for training and one for inference. One
/// batch size: bars, training and inference side by side for each backend. Returns the files
/// written.
pub fn charts(dir: &Path, results: &[Measurement]) -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    let mut models: Vec<ModelName> = results.iter().map(|m| m.model).collect();
    models.dedup();
    for model in models {
        let rows: Vec<&Measurement> = results.iter().filter(|m| m.model == model).collect();
        let mut backends: Vec<_> = rows.iter().map(|m| m.backend).collect();
        backends.dedup();
        let mut batches: Vec<usize> = rows.iter().map(|m| m.batch).collect();
        batches.sort_unstable();
        batches.dedup();
        let unit = rows.first().map_or("items", |m| m.unit.as_str());
        let path = dir.join(format!("throughput-{model}.svg"));
        let y_desc = format!("{unit} per second (log)");
        if let [batch] = batches[..] {
            let pick = |b: gradlab::BackendName, f: fn(&Measurement) -> f64| {
                rows.iter().find(|m| m.backend == b).map_or(f64::NAN, |m| f(m))
            };
            let series = vec![
                (
                    "training".to_string(),
                    backends
                        .iter()
                        .map(|&b| pick(b, |m| m.train.items_per_second))
                        .collect(),
                ),
                (
                    "inference".to_string(),
                    backends
                        .iter()
                        .map(|&b| pick(b, |m| m.infer.items_per_second))
                        .collect(),
                ),
            ];
            let names: Vec<String> = backends.iter().map(|b| b.as_str().to_string()).collect();
            plot_bars(
                &path,
                &format!("{model}: throughput by backend, batch {batch}"),
                &names,
                &y_desc,
                &series,
                true,
            )?;
        } else {
            let mut lines = Vec::new();
            for b in backends {
                let pts = |f: fn(&Measurement) -> f64| -> Vec<(f64, f64)> {
                    rows.iter()
                        .filter(|m| m.backend == b)
                        .map(|m| ((m.batch as f64).log2(), f(m)))
                        .collect()
                };
                lines.push(Line::new(
                    format!("{} train", b.as_str()),
                    pts(|m| m.train.items_per_second),
                ));
                lines.push(Line::new(
                    format!("{} inference", b.as_str()),
                    pts(|m| m.infer.items_per_second),
                ));
            }
            plot_lines_with(
                &path,
                &format!("{model}: throughput by backend and batch size"),
                ("batch size (log scale)", Some(batch_label)),
                &y_desc,
                &lines,
                true,
            )?;
        }
        files.push(path);
    }
    Ok(files)
}

/// One line of the verdict: the fastest backend for one model, task and batch size.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fastest {
    /// The model.
    pub model: ModelName,
    /// `training` or `inference`.
    pub task: String,
    /// The batch size.
    pub batch: usize,
    /// The fastest backend.
    pub backend: gradlab::BackendName,
    /// Its median throughput.
    pub items_per_second: f64,
    /// The next fastest backend and how many times faster the fastest is, when there is one.
    pub runner_up: Option<(gradlab::BackendName, f64)>,
}

/// Per model, task and batch size: the fastest backend and its margin over the next.
pub fn fastest(results: &[Measurement]) -> Vec<Fastest> {
    let mut out = Vec::new();
    let mut keys: Vec<(ModelName, usize)> = results.iter().map(|m| (m.model, m.batch)).collect();
    keys.dedup();
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(*k));
    for task in ["training", "inference"] {
        for &(model, batch) in &keys {
            let mut speeds: Vec<(gradlab::BackendName, f64)> = results
                .iter()
                .filter(|m| m.model == model && m.batch == batch)
                .map(|m| {
                    let t = if task == "training" { &m.train } else { &m.infer };
                    (m.backend, t.items_per_second)
                })
                .filter(|(_, v)| v.is_finite() && *v > 0.0)
                .collect();
            speeds.sort_by(|a, b| b.1.total_cmp(&a.1));
            if let Some(&(backend, best)) = speeds.first() {
                out.push(Fastest {
                    model,
                    task: task.into(),
                    batch,
                    backend,
                    items_per_second: best,
                    runner_up: speeds.get(1).map(|&(b, v)| (b, best / v)),
                });
            }
        }
    }
    out
}

fn margin(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}×")
    } else {
        format!("{x:.1}×")
    }
}

/// The verdict as text: per model, for training and for inference, the fastest backend at each
/// batch size with its margin over the next ("flex, 27× wgpu"), consecutive batch sizes with
/// the same winner and runner-up in one entry; then which backends' figures come from a
/// software adapter (`software`: the backend's adapter line, for each such backend).
pub fn verdict(results: &[Measurement], software: &[(gradlab::BackendName, String)]) -> String {
    let all = fastest(results);
    let mut s = String::from(
        "\nverdict — the fastest backend on this machine (median throughput; × = over the next fastest):\n",
    );
    let mut models: Vec<ModelName> = all.iter().map(|f| f.model).collect();
    let mut seen = std::collections::HashSet::new();
    models.retain(|m| seen.insert(*m));
    let tag = |b: gradlab::BackendName| {
        if software.iter().any(|(s, _)| *s == b) {
            format!("{}*", b.as_str())
        } else {
            b.as_str().to_string()
        }
    };
    for model in models {
        for task in ["training", "inference"] {
            let rows: Vec<&Fastest> = all.iter().filter(|f| f.model == model && f.task == task).collect();
            // Group consecutive batch sizes with the same winner and runner-up.
            let mut groups: Vec<Vec<&Fastest>> = Vec::new();
            for f in rows {
                match groups.last_mut() {
                    Some(g) if g[0].backend == f.backend && g[0].runner_up.map(|r| r.0) == f.runner_up.map(|r| r.0) => {
                        g.push(f)
                    }
                    _ => groups.push(vec![f]),
                }
            }
            let parts: Vec<String> = groups
                .iter()
                .map(|g| {
                    let (first, last) = (g[0], g[g.len() - 1]);
                    let batches = if g.len() == 1 {
                        format!("batch {}", first.batch)
                    } else {
                        format!("batch {}–{}", first.batch, last.batch)
                    };
                    let over = match first.runner_up {
                        None => " (the only backend)".to_string(),
                        Some((next, _)) => {
                            let (lo, hi) = g
                                .iter()
                                .filter_map(|f| f.runner_up.map(|r| r.1))
                                .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
                            let m = if (hi - lo) / lo < 0.05 {
                                margin(lo)
                            } else {
                                format!("{}–{}", margin(lo).trim_end_matches('×'), margin(hi))
                            };
                            format!(", {m} {}", tag(next))
                        }
                    };
                    format!("{batches}: {}{over}", tag(first.backend))
                })
                .collect();
            s.push_str(&format!("  {:<15} {:<10} {}\n", model.as_str(), task, parts.join("; ")));
        }
    }
    for (b, adapter) in software {
        s.push_str(&format!(
            "  * {} ran on {adapter}, a software adapter: its figures are CPU timings, not a GPU's\n",
            b.as_str()
        ));
    }
    s
}
