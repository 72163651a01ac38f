//! Run reports: per-epoch metrics (CSV and JSON), learning-curve plots (SVG) and confusion
//! matrices.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

/// Which split a run's per-epoch held-out figures (`valid_loss`, `valid_accuracy`) are
/// measured on, as its printed lines, `metrics.csv`/`metrics.json` and curves name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldOut {
    /// A validation split of its own (sentiment): printed `valid`, drawn "validation".
    Validation,
    /// The test split (mnist-cnn, as the seed's Keras `validation_data=(test_images, …)`):
    /// printed and drawn `test`.
    Test,
}

impl HeldOut {
    /// The short name in printed lines and column names: `valid` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            HeldOut::Validation => "valid",
            HeldOut::Test => "test",
        }
    }

    /// The curves' legend: `validation` or `test`.
    fn legend(self) -> &'static str {
        match self {
            HeldOut::Validation => "validation",
            HeldOut::Test => "test",
        }
    }
}

/// One epoch's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training accuracy over the epoch (0..1).
    pub train_accuracy: f64,
    /// Held-out loss (on the split [`HeldOut`] names).
    pub valid_loss: f64,
    /// Held-out accuracy (0..1).
    pub valid_accuracy: f64,
    /// Wall-clock seconds of the training part of the epoch.
    pub seconds: f64,
    /// Training items per second.
    pub items_per_second: f64,
}

impl EpochMetrics {
    /// The epoch's progress line, e.g. `epoch 3/10  train loss 0.1234 acc 96.10%  valid loss
    /// 0.1300 acc 95.90%  1.2 s  4100 img/s` (`held_out`: `valid` or `test`; `unit`: what an
    /// item is; `second_decimals`: the precision of the seconds).
    pub fn line(&self, epochs: usize, held_out: HeldOut, unit: &str, second_decimals: usize) -> String {
        format!(
            "epoch {}/{epochs}  train loss {:.4} acc {:.2}%  {} loss {:.4} acc {:.2}%  {:.*} s  {:.0} {unit}/s",
            self.epoch,
            self.train_loss,
            100.0 * self.train_accuracy,
            held_out.name(),
            self.valid_loss,
            100.0 * self.valid_accuracy,
            second_decimals,
            self.seconds,
            self.items_per_second
        )
    }
}

/// Write the metrics as CSV (`metrics.csv`) and JSON (`metrics.json`) into `dir`, the
/// held-out columns named for their split (`valid_loss` or `test_loss`, …).
pub fn write_metrics(dir: &Path, history: &[EpochMetrics], held_out: HeldOut) -> Result<()> {
    let h = held_out.name();
    let mut csv = format!("epoch,train_loss,train_accuracy,{h}_loss,{h}_accuracy,seconds,items_per_second\n");
    for m in history {
        csv.push_str(&format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.3},{:.1}\n",
            m.epoch, m.train_loss, m.train_accuracy, m.valid_loss, m.valid_accuracy, m.seconds, m.items_per_second
        ));
    }
    crate::io::atomic_write(&dir.join("metrics.csv"), csv.as_bytes())?;
    let rows: Vec<serde_json::Value> = history
        .iter()
        .map(|m| {
            let mut row = serde_json::to_value(m)?;
            if let Some(o) = row.as_object_mut() {
                for what in ["loss", "accuracy"] {
                    if let Some(v) = o.remove(&format!("valid_{what}")) {
                        o.insert(format!("{h}_{what}"), v);
                    }
                }
            }
            Ok(row)
        })
        .collect::<Result<_, serde_json::Error>>()?;
    write_json(&dir.join("metrics.json"), &rows)
}

/// Draw into an SVG image of `size` pixels on a white background, then write it to `path`
/// atomically.
fn write_svg(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    crate::io::atomic_write(path, svg.as_bytes())
}

/// The caption and margins of every single-panel chart.
fn chart_builder<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64);
    builder
}

/// Plot loss and accuracy curves (train and held out, named by `held_out`) side by side into an
/// SVG file.
pub fn plot_curves(path: &Path, title: &str, history: &[EpochMetrics], held_out: HeldOut) -> Result<()> {
    write_svg(path, (1000, 420), |root| {
        let root = root.titled(title, ("sans-serif", 20))?;
        let (left, right) = root.split_horizontally(500);
        let last = history.len().max(1) as f64;
        let xs = 0.5f64..last + 0.5;
        let max_loss = history
            .iter()
            .flat_map(|m| [m.train_loss, m.valid_loss])
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
            .max(1e-3)
            * 1.1;
        let min_acc = history
            .iter()
            .flat_map(|m| [m.train_accuracy, m.valid_accuracy])
            .fold(1.0f64, f64::min)
            .clamp(0.02, 0.92)
            - 0.02;
        panel(&left, "loss", xs.clone(), 0.0..max_loss, history, held_out, |m| {
            (m.train_loss, m.valid_loss)
        })?;
        panel(&right, "accuracy", xs, min_acc..1.0, history, held_out, |m| {
            (m.train_accuracy, m.valid_accuracy)
        })?;
        Ok(())
    })
}

/// One panel: a train and a held-out curve of `value` (train, held out) per epoch.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    xs: std::ops::Range<f64>,
    ys: std::ops::Range<f64>,
    history: &[EpochMetrics],
    held_out: HeldOut,
    value: impl Fn(&EpochMetrics) -> (f64, f64),
) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(xs, ys)?;
    let epochs = history.len();
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(epochs.clamp(2, 11))
        .x_label_formatter(&|x| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .draw()?;
    for (label, color, pick) in [("train", BLUE, 0), (held_out.legend(), RED, 1)] {
        let points: Vec<(f64, f64)> = history
            .iter()
            .map(|m| {
                let (t, v) = value(m);
                (m.epoch as f64, if pick == 0 { t } else { v })
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// One named curve for [`plot_lines`].
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend label.
    pub label: String,
    /// Points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Draw the points as markers joined by a thin line (iterates, samples) rather than a curve.
    pub markers: bool,
}

impl Line {
    /// A curve.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Line {
            label: label.into(),
            points,
            markers: false,
        }
    }

    /// Points drawn as markers.
    pub fn markers(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Line {
            markers: true,
            ..Line::new(label, points)
        }
    }
}

/// Axis label: whole numbers without decimals, others with at most three.
fn tick(x: &f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Plot several curves on one pair of axes into an SVG file; `log_y` for a log-scaled y axis
/// (non-positive values are left out there).
pub fn plot_lines(path: &Path, title: &str, x_desc: &str, y_desc: &str, lines: &[Line], log_y: bool) -> Result<()> {
    plot_lines_with(path, title, (x_desc, None), y_desc, lines, log_y)
}

/// How the x axis of [`plot_lines_with`] is labelled: ticks at whole numbers only, each shown
/// as the function makes it (e.g. `x ↦ 2^x` for a log2 batch-size axis).
pub type XLabels = fn(f64) -> String;

/// The series colours, in order.
const PALETTE: [RGBColor; 10] = [
    BLUE,
    RED,
    GREEN,
    MAGENTA,
    CYAN,
    BLACK,
    RGBColor(230, 140, 0),
    RGBColor(120, 60, 20),
    RGBColor(128, 128, 128),
    RGBColor(110, 0, 200),
];

/// A chart's legend (its series' labels and swatches), the same box in every plot.
macro_rules! legend {
    ($chart:ident) => {
        $chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?
    };
}

/// [`plot_lines`] with an optional labeller for the x axis (ticks at whole numbers). Each
/// legend swatch is drawn like its series: same colour, same width, a marker where the series
/// has markers.
pub fn plot_lines_with(
    path: &Path,
    title: &str,
    (x_desc, x_labels): (&str, Option<XLabels>),
    y_desc: &str,
    lines: &[Line],
    log_y: bool,
) -> Result<()> {
    let finite = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!log_y || y > 0.0);
    let all: Vec<(f64, f64)> = lines
        .iter()
        .flat_map(|l| l.points.iter().copied())
        .filter(finite)
        .collect();
    anyhow::ensure!(!all.is_empty(), "nothing to plot in {}", path.display());
    let (x0, x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    // With a labeller, one tick per whole number (and nothing between them).
    // Without one, plotters' own tick placement (and its finer grid) as before.
    let x_ticks = x_labels.map(|_| (x1 - x0).round() as usize + 1);
    let x_fmt = |x: &f64| match x_labels {
        Some(f) if x.fract() == 0.0 => f(*x),
        Some(_) => String::new(),
        None => tick(x),
    };
    write_svg(path, (800, 480), |root| {
        let mut builder = chart_builder(root, title);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                let mut mesh = chart.configure_mesh();
                if let Some(n) = x_ticks {
                    mesh.x_labels(n);
                }
                mesh.x_desc(x_desc)
                    .y_desc(y_desc)
                    .x_label_formatter(&x_fmt)
                    .y_label_formatter(&|y: &f64| {
                        if log_y || (*y != 0.0 && y.abs() < 0.01) {
                            format!("{y:.0e}")
                        } else {
                            tick(y)
                        }
                    })
                    .draw()?;
                for (i, line) in lines.iter().enumerate() {
                    let color = PALETTE[i % PALETTE.len()];
                    let pts: Vec<(f64, f64)> = line.points.iter().copied().filter(finite).collect();
                    // Earlier curves are drawn wider, so curves that coincide stay visible.
                    let width = 2 + (3 * (lines.len() - 1 - i) / (lines.len() - 1).max(1)) as u32;
                    let (width, markers) = if line.markers { (1, true) } else { (width, false) };
                    if markers {
                        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
                    }
                    chart
                        .draw_series(LineSeries::new(pts, color.stroke_width(width)))?
                        .label(line.label.clone())
                        .legend(move |(x, y)| {
                            let line = PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width));
                            let dot = Circle::new((x + 10, y), if markers { 4 } else { 0 }, color.filled());
                            EmptyElement::at((0, 0)) + line + dot
                        });
                }
                legend!(chart);
            }};
        }
        if log_y {
            let hi = if y1 > y0 { y1 * 2.0 } else { y0 * 10.0 };
            draw!(builder.build_cartesian_2d(x0..x1, (y0 / 2.0..hi).log_scale())?);
        } else {
            let pad = ((y1 - y0) * 0.05).max(1e-9);
            draw!(builder.build_cartesian_2d(x0..x1, y0 - pad..y1 + pad)?);
        }
        Ok(())
    })
}

/// Grouped bars into an SVG file: one group per category, one bar per series in each group
/// (`series[k].1[i]` is series k's value for category i), each bar labelled with its value, a
/// legend swatch per series in the bar's colour; `log_y` for a log-scaled y axis (bars of
/// non-positive or non-finite values are left out).
pub fn plot_bars(
    path: &Path,
    title: &str,
    categories: &[String],
    y_desc: &str,
    series: &[(String, Vec<f64>)],
    log_y: bool,
) -> Result<()> {
    let ok = |v: f64| v.is_finite() && (!log_y || v > 0.0);
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|&v| ok(v))
        .collect();
    anyhow::ensure!(
        !values.is_empty() && !categories.is_empty(),
        "nothing to plot in {}",
        path.display()
    );
    let lo = values.iter().copied().fold(f64::MAX, f64::min);
    let hi = values.iter().copied().fold(f64::MIN, f64::max);
    let n = categories.len();
    let k = series.len().max(1);
    let cats = categories.to_vec();
    let x_fmt = move |x: &f64| {
        let i = x.floor();
        if (x - i - 0.5).abs() < 1e-9 && i >= 0.0 && (i as usize) < cats.len() {
            cats[i as usize].clone()
        } else {
            String::new()
        }
    };
    write_svg(path, (800, 480), |root| {
        let mut builder = chart_builder(root, title);
        macro_rules! draw {
            ($chart:expr, $base:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .disable_x_mesh()
                    .x_labels(2 * n + 1)
                    .x_label_formatter(&x_fmt)
                    .y_desc(y_desc)
                    .y_label_formatter(&|y: &f64| if log_y { format!("{y:.0e}") } else { tick(y) })
                    .draw()?;
                let width = 0.8 / k as f64;
                for (j, (label, vals)) in series.iter().enumerate() {
                    let color = PALETTE[j % PALETTE.len()];
                    let bars: Vec<(f64, f64)> = vals
                        .iter()
                        .enumerate()
                        .filter(|&(_, &v)| ok(v))
                        .map(|(i, &v)| (i as f64 + 0.1 + j as f64 * width, v))
                        .collect();
                    chart
                        .draw_series(bars.iter().map(|&(x, v)| {
                            Rectangle::new([(x, $base), (x + width * 0.95, v)], color.mix(0.85).filled())
                        }))?
                        .label(label.clone())
                        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.mix(0.85).filled()));
                    chart.draw_series(
                        bars.iter()
                            .map(|&(x, v)| Text::new(format!("{v:.0}"), (x, v), ("sans-serif", 11).into_font())),
                    )?;
                }
                legend!(chart);
            }};
        }
        if log_y {
            let base = lo / 2.0;
            draw!(
                builder.build_cartesian_2d(0.0..n as f64, (base..hi * 3.0).log_scale())?,
                base
            );
        } else {
            draw!(builder.build_cartesian_2d(0.0..n as f64, 0.0..hi * 1.1)?, 0.0);
        }
        Ok(())
    })
}

/// A confusion matrix: `counts[truth][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Counts, rows = true class, columns = predicted class.
    pub counts: Vec<Vec<usize>>,
}

impl ConfusionMatrix {
    /// An empty matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix {
            counts: vec![vec![0; classes]; classes],
        }
    }

    /// Count one prediction.
    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.counts[truth][predicted] += 1;
    }

    /// Fraction on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let total: usize = self.counts.iter().flatten().sum();
        let right: usize = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        right as f64 / total.max(1) as f64
    }

    /// A text table with class labels, row totals and per-class recall.
    pub fn to_table(&self) -> String {
        let n = self.counts.len();
        let mut s = String::from("true\\pred");
        for j in 0..n {
            s.push_str(&format!("{j:>6}"));
        }
        s.push_str("   recall\n");
        for (i, row) in self.counts.iter().enumerate() {
            s.push_str(&format!("{i:>9}"));
            for c in row {
                s.push_str(&format!("{c:>6}"));
            }
            let total: usize = row.iter().sum();
            s.push_str(&format!("   {:>5.1}%\n", 100.0 * row[i] as f64 / total.max(1) as f64));
        }
        s
    }
}

/// A time as `YYYY-MM-DD HH:MM UTC` (for "trained …" lines; no time-zone database needed).
pub fn utc_minute(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Write a run's `report.json`: `{"crate", "version", "backend", ...body}` (`body` must be a
/// JSON object: the crate's own figures).
pub fn write_run_report(
    dir: &Path,
    crate_name: &str,
    version: &str,
    backend: serde_json::Value,
    body: serde_json::Value,
) -> Result<()> {
    let mut report = serde_json::json!({ "crate": crate_name, "version": version, "backend": backend });
    if let (Some(r), serde_json::Value::Object(b)) = (report.as_object_mut(), body) {
        r.extend(b);
    }
    write_json(&dir.join("report.json"), &report)
}

/// Write any serialisable value as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).context("serialising report")?;
    crate::io::atomic_write(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_epochs_line_holds_its_figures() {
        let m = super::EpochMetrics {
            epoch: 3,
            train_loss: 0.12345,
            train_accuracy: 0.961,
            valid_loss: 0.13,
            valid_accuracy: 0.959,
            seconds: 1.234,
            items_per_second: 4100.4,
        };
        assert_eq!(
            m.line(10, super::HeldOut::Validation, "img", 1),
            "epoch 3/10  train loss 0.1235 acc 96.10%  valid loss 0.1300 acc 95.90%  1.2 s  4100 img/s"
        );
        assert_eq!(
            m.line(10, super::HeldOut::Test, "img", 1),
            "epoch 3/10  train loss 0.1235 acc 96.10%  test loss 0.1300 acc 95.90%  1.2 s  4100 img/s"
        );
        assert!(
            m.line(10, super::HeldOut::Validation, "sentences", 2)
                .ends_with("  1.23 s  4100 sentences/s")
        );
    }

    #[test]
    fn utc_minute_formats_known_instants() {
        let at = |secs: u64| utc_minute(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01 00:00 UTC");
        // `date -u -d @1796056800` → Mon Nov 30 16:40:00 UTC 2026
        assert_eq!(at(1_796_056_800), "2026-11-30 16:40 UTC");
        // `date -u -d @951825599` → Tue Feb 29 11:59:59 UTC 2000
        assert_eq!(at(951_825_599), "2000-02-29 11:59 UTC");
    }

    use super::*;

    fn metrics(epoch: usize) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 1.0 / epoch as f64,
            train_accuracy: 0.5 + 0.1 * epoch as f64,
            valid_loss: 1.2 / epoch as f64,
            valid_accuracy: 0.45 + 0.1 * epoch as f64,
            seconds: 1.5,
            items_per_second: 100.0,
        }
    }

    #[test]
    fn writes_csv_json_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let h: Vec<_> = (1..=3).map(metrics).collect();
        write_metrics(dir.path(), &h, HeldOut::Validation).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert_eq!(csv.lines().count(), 4);
        assert!(
            csv.starts_with("epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,"),
            "{csv}"
        );
        assert!(csv.lines().nth(1).unwrap().starts_with("1,1.000000,0.600000"));
        let back: Vec<EpochMetrics> =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("metrics.json")).unwrap()).unwrap();
        // serde_json parses floats to within one ulp, not always bit-exactly.
        assert_eq!(back.len(), h.len());
        for (a, b) in back.iter().zip(&h) {
            assert_eq!(a.epoch, b.epoch);
            assert!((a.valid_accuracy - b.valid_accuracy).abs() < 1e-12);
        }
        plot_curves(&dir.path().join("c.svg"), "t", &h, HeldOut::Validation).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("c.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("validation"));
    }

    /// mnist-cnn's held-out figures are on the test split: its files say `test`, not `valid`.
    #[test]
    fn figures_held_out_on_the_test_split_are_named_test() {
        let dir = tempfile::tempdir().unwrap();
        let h: Vec<_> = (1..=2).map(metrics).collect();
        write_metrics(dir.path(), &h, HeldOut::Test).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert!(
            csv.starts_with("epoch,train_loss,train_accuracy,test_loss,test_accuracy,"),
            "{csv}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("metrics.json")).unwrap()).unwrap();
        assert!((json[1]["test_accuracy"].as_f64().unwrap() - h[1].valid_accuracy).abs() < 1e-12);
        assert!(json[1].get("valid_accuracy").is_none(), "{json}");
        plot_curves(&dir.path().join("c.svg"), "t", &h, HeldOut::Test).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("c.svg")).unwrap();
        assert!(
            svg.lines().any(|l| l.trim() == "test") && !svg.contains("validation"),
            "the legend names the test split"
        );
    }

    #[test]
    fn line_plots_linear_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let lines = vec![
            Line::new("a", (1..50).map(|i| (i as f64, 1.0 / i as f64)).collect()),
            Line::new("b", vec![(1.0, 0.5), (2.0, f64::NAN), (3.0, 0.1)]),
        ];
        for log in [false, true] {
            let p = dir.path().join(format!("l{log}.svg"));
            plot_lines(&p, "t", "x", "y", &lines, log).unwrap();
            let svg = std::fs::read_to_string(&p).unwrap();
            assert!(svg.contains("<polyline") || svg.contains("<path"), "no curve drawn");
        }
        let empty = [Line::new("z", vec![(1.0, -1.0)])];
        assert!(plot_lines(&dir.path().join("e.svg"), "t", "x", "y", &empty, true).is_err());
    }

    #[test]
    fn run_report_merges_the_body_after_the_header() {
        let dir = tempfile::tempdir().unwrap();
        write_run_report(
            dir.path(),
            "demo",
            "1.2.3",
            serde_json::json!("flex"),
            serde_json::json!({"seconds": 2.5}),
        )
        .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
        assert_eq!(v["crate"], "demo");
        assert_eq!(v["version"], "1.2.3");
        assert_eq!(v["backend"], "flex");
        assert_eq!(v["seconds"], 2.5);
    }

    #[test]
    fn confusion_matrix_accuracy_and_table() {
        let mut m = ConfusionMatrix::new(3);
        for (t, p) in [(0, 0), (0, 1), (1, 1), (2, 2)] {
            m.add(t, p);
        }
        assert!((m.accuracy() - 0.75).abs() < 1e-12);
        let t = m.to_table();
        assert!(t.contains("50.0%") && t.contains("100.0%"), "{t}");
    }
}
