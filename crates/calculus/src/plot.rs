//! Pictures the line plots of `gradlab::report` cannot draw: a 3-D surface with a colour bar,
//! a shaded area under a curve, and images as heat maps.

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use gradlab::report::Line;

use crate::conv::Image;

/// For each variable, f along that variable's axis through `point` and the tangent line of
/// slope ∂f/∂var there — the picture of what a partial derivative is. The x axis is the offset
/// t from the point, over [−span, span].
pub fn tangent_lines(
    f: impl Fn(&[f64]) -> f64,
    point: &[f64],
    grads: &[f64],
    names: &[String],
    span: f64,
) -> Vec<Line> {
    let f0 = f(point);
    let ts: Vec<f64> = (0..=100).map(|i| -span + 2.0 * span * i as f64 / 100.0).collect();
    let mut lines = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let along = ts
            .iter()
            .map(|&t| {
                let mut p = point.to_vec();
                p[k] += t;
                (t, f(&p))
            })
            .collect();
        lines.push(Line::new(format!("f along {name}"), along));
        lines.push(Line::new(
            format!("tangent, slope ∂f/∂{name} = {:.4}", grads[k]),
            ts.iter().map(|&t| (t, f0 + t * grads[k])).collect(),
        ));
    }
    lines
}

fn save(path: &Path, svg: String) -> Result<()> {
    gradlab::io::atomic_write(path, svg.as_bytes())
}

/// A 3-D surface z = f(x, y) on the grid `axis × axis` (row-major `z[y][x]`), coloured by z,
/// with a colour bar.
pub fn surface(path: &Path, title: &str, axis: &[f64], z: &[f64]) -> Result<()> {
    let n = axis.len();
    let (lo, hi) = z.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let color = |v: f64| ViridisRGB::get_color_normalized(v, lo, hi.max(lo + 1e-12));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 640)).into_drawing_area();
        root.fill(&WHITE)?;
        let (main, bar) = root.split_horizontally(780);
        let (a0, a1) = (axis[0], axis[n - 1]);
        let mut chart = ChartBuilder::on(&main)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .build_cartesian_3d(a0..a1, lo..hi, a0..a1)?;
        chart.with_projection(|mut p| {
            p.pitch = 0.55;
            p.yaw = 0.6;
            p.scale = 0.75;
            p.into_matrix()
        });
        chart.configure_axes().draw()?;
        let at = |x: f64, y: f64| {
            let i = axis.iter().position(|&a| a == x).unwrap_or(0);
            let j = axis.iter().position(|&a| a == y).unwrap_or(0);
            z[j * n + i]
        };
        chart.draw_series(
            SurfaceSeries::xoz(axis.iter().copied(), axis.iter().copied(), at)
                .style_func(&|&v| color(v).mix(0.9).filled()),
        )?;
        // Colour bar.
        let mut cb = ChartBuilder::on(&bar)
            .margin_top(60)
            .margin_bottom(60)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..1.0, lo..hi)?;
        cb.configure_mesh()
            .disable_x_mesh()
            .disable_x_axis()
            .y_desc("f(x, y)")
            .draw()?;
        let steps = 100;
        cb.draw_series((0..steps).map(|k| {
            let v0 = lo + (hi - lo) * k as f64 / steps as f64;
            let v1 = lo + (hi - lo) * (k + 1) as f64 / steps as f64;
            Rectangle::new([(0.0, v0), (1.0, v1)], color(v0).filled())
        }))?;
        root.present()?;
    }
    save(path, svg)
}

/// A gradient field: an arrow ∇f at each point (scaled to fit the grid spacing `step`), drawn
/// over the plane; arrows point uphill.
pub fn gradient_field(path: &Path, title: &str, points: &[(f64, f64)], grads: &[(f64, f64)], step: f64) -> Result<()> {
    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(p.0).min(p.1), b.max(p.0).max(p.1))
    });
    let longest = grads
        .iter()
        .map(|g| g.0.hypot(g.1))
        .filter(|m| m.is_finite())
        .fold(0.0, f64::max)
        .max(1e-12);
    let scale = 0.9 * step / longest;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 640)).into_drawing_area();
        root.fill(&WHITE)?;
        let pad = step;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(40)
            .build_cartesian_2d(lo - pad..hi + pad, lo - pad..hi + pad)?;
        chart.configure_mesh().x_desc("x").y_desc("y").draw()?;
        for (&(x, y), &(gx, gy)) in points.iter().zip(grads) {
            if !(gx.is_finite() && gy.is_finite()) {
                continue;
            }
            let m = gx.hypot(gy) / longest;
            let color = ViridisRGB::get_color_normalized(m, 0.0, 1.0);
            let tip = (x + gx * scale, y + gy * scale);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, y), tip],
                color.stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(Circle::new(tip, 2, color.filled())))?;
        }
        root.present()?;
    }
    save(path, svg)
}

/// The curve (x, y) with the area under it over [a, b] shaded.
pub fn shaded_area(path: &Path, title: &str, curve: &[(f64, f64)], a: f64, b: f64) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let x0 = curve.first().map_or(0.0, |p| p.0);
        let x1 = curve.last().map_or(1.0, |p| p.0);
        let top = curve.iter().map(|p| p.1).fold(0.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, 0.0..top)?;
        chart.configure_mesh().x_desc("x").y_desc("density").draw()?;
        chart.draw_series(AreaSeries::new(
            curve.iter().copied().filter(|p| p.0 >= a && p.0 <= b),
            0.0,
            BLUE.mix(0.3),
        ))?;
        chart.draw_series(LineSeries::new(curve.iter().copied(), BLUE.stroke_width(2)))?;
        root.present()?;
    }
    save(path, svg)
}

/// Images side by side as heat maps (diverging colours centred on 0 when values are signed).
pub fn heatmaps(path: &Path, title: &str, images: &[(&str, &Image)]) -> Result<()> {
    let cell = 360;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, ((cell * images.len()) as u32, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 18))?;
        for (area, (label, img)) in root.split_evenly((1, images.len())).iter().zip(images) {
            let (lo, hi) = img
                .px
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            let signed = lo < 0.0;
            let m = lo.abs().max(hi.abs()).max(1e-12);
            let mut chart = ChartBuilder::on(area)
                .caption(*label, ("sans-serif", 15))
                .margin(8)
                .build_cartesian_2d(0.0..img.w as f64, 0.0..img.h as f64)?;
            chart.draw_series((0..img.h).flat_map(|i| (0..img.w).map(move |j| (i, j))).map(|(i, j)| {
                let v = img.at(i, j);
                let c = if signed {
                    let t = (v / m).clamp(-1.0, 1.0);
                    if t >= 0.0 {
                        RGBColor(255, (255.0 * (1.0 - t)) as u8, (255.0 * (1.0 - t)) as u8)
                    } else {
                        RGBColor((255.0 * (1.0 + t)) as u8, (255.0 * (1.0 + t)) as u8, 255)
                    }
                } else {
                    let g = (255.0 * (v - lo) / (hi - lo).max(1e-12)) as u8;
                    RGBColor(g, g, g)
                };
                // Row 0 at the top.
                let (x, y) = (j as f64, (img.h - 1 - i) as f64);
                Rectangle::new([(x, y), (x + 1.0, y + 1.0)], c.filled())
            }))?;
        }
        root.present()?;
    }
    save(path, svg)
}
