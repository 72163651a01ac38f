//! The bench's output: a table in the terminal, `report.json` (every figure, the machine, the
//! backends and adapters, conformance, references), `results.csv` (one row per measurement) and
//! one SVG chart per model of training and inference throughput by backend and batch size.

use std::path::Path;

use anyhow::Result;
use gradlab::report::{Line, plot_lines};

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
            "\n{model} — training and inference steps; median [min–max] ms, {unit}/s at the median, first call ms, process peak RSS MiB (+ rise during the step), device MiB\n"
        ));
        s.push_str(&format!(
            "{:<8} {:>6} | {:>26} {:>11} {:>9} | {:>26} {:>11} {:>9} | {:>12} {:>6}\n",
            "backend", "batch", "train ms", "train/s", "first", "infer ms", "infer/s", "first", "RSS (+rise)", "dev"
        ));
        for m in rows {
            let t = &m.train;
            let i = &m.infer;
            s.push_str(&format!(
                "{:<8} {:>6} | {:>26} {:>11.0} {:>9.1} | {:>26} {:>11.0} {:>9.1} | {:>12} {:>6}\n",
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
            ));
        }
    }
    s
}

/// `results.csv`: one row per measurement.
pub fn csv(results: &[Measurement]) -> String {
    let mut s = String::from(
        "model,backend,batch,unit,items_per_step,train_median_ms,train_min_ms,train_max_ms,train_first_ms,train_reps,train_items_per_s,infer_median_ms,infer_min_ms,infer_max_ms,infer_first_ms,infer_reps,infer_items_per_s,peak_rss_mib,rss_growth_mib,device_reserved_mib\n",
    );
    for m in results {
        let (t, i) = (&m.train, &m.infer);
        let o = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.1}"));
        s.push_str(&format!(
            "{},{},{},{},{},{:.4},{:.4},{:.4},{:.2},{},{:.1},{:.4},{:.4},{:.4},{:.2},{},{:.1},{},{},{}\n",
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
        ));
    }
    s
}

/// One chart per model: items/s (log scale) against log2 of the batch size, a line per
/// backend for training and one for inference. Returns the files written.
pub fn charts(dir: &Path, results: &[Measurement]) -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    let mut models: Vec<ModelName> = results.iter().map(|m| m.model).collect();
    models.dedup();
    for model in models {
        let rows: Vec<&Measurement> = results.iter().filter(|m| m.model == model).collect();
        let mut backends: Vec<_> = rows.iter().map(|m| m.backend).collect();
        backends.dedup();
        let mut lines = Vec::new();
        for b in backends {
            let pts = |f: fn(&Measurement) -> f64| -> Vec<(f64, f64)> {
                rows.iter()
                    .filter(|m| m.backend == b)
                    .map(|m| ((m.batch as f64).log2(), f(m)))
                    .collect()
            };
            let train = pts(|m| m.train.items_per_second);
            let infer = pts(|m| m.infer.items_per_second);
            let mk = if train.len() == 1 { Line::markers } else { Line::new };
            lines.push(mk(format!("{} train", b.as_str()), train));
            lines.push(mk(format!("{} inference", b.as_str()), infer));
        }
        let unit = rows.first().map_or("items", |m| m.unit.as_str());
        let path = dir.join(format!("throughput-{model}.svg"));
        plot_lines(
            &path,
            &format!("{model}: throughput by backend and batch size"),
            "log2(batch size)",
            &format!("{unit} per second (log)"),
            &lines,
            true,
        )?;
        files.push(path);
    }
    Ok(files)
}
