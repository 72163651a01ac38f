//! `calculus`: one subcommand per seed example; each prints its numbers and draws its plot.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use calculus::common::{linspace, max_abs_diff};
use calculus::{CalculusConfig, chain, conv, derivative, descent, normal, partial, plot, sigmoid, surface, taylor};
use clap::{Parser, Subcommand};
use gradlab::cli::CommonArgs;
use gradlab::data::digits_csv::PIXELS;
use gradlab::report::{Line, plot_lines};

/// Why calculus matters for machine learning: the seed's examples, checked by autodiff.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    #[command(flatten)]
    common: CommonArgs,
    /// Folder for plots.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// Do not write plots.
    #[arg(long, global = true)]
    no_plot: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// σ and σ′ on [−10, 10]; σ′ by autodiff against σ(1 − σ).
    Sigmoid,
    /// f(x) = x² + 5x + 6 and f′(x) = 2x + 5 on [−10, 5].
    Derivative,
    /// Gradient descent on f(x) = x² + 5x + 6.
    GradientDescent {
        /// Starting point.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        start: f64,
        /// Learning rate.
        #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
        lr: f64,
        /// Steps.
        #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
        steps: usize,
    },
    /// f(x, y) = sin(√(x² + y²)) on a 30×30 grid, its gradient field by autodiff.
    Surface {
        /// Grid points per axis.
        #[arg(long, default_value_t = 30, allow_negative_numbers = true)]
        grid: usize,
    },
    /// Symbolic partial derivatives of an expression, checked against autodiff at a point.
    Partial {
        /// The expression (variables are any names; operators + - * / ^, sin cos tan exp ln sqrt tanh).
        #[arg(default_value = "x^2 + 2*x*y + y^2")]
        expression: String,
        /// The point, one `name=value` per variable.
        #[arg(long = "at", value_parser = partial::parse_assignment, default_values = ["x=1", "y=2"], allow_hyphen_values = true)]
        at: Vec<(String, f64)>,
    },
    /// The chain rule on y = σ(w₂·σ(w₁·x)), factor by factor, against autodiff.
    ChainRule {
        /// x.
        #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
        x: f64,
        /// w₁.
        #[arg(long, default_value_t = 3.0, allow_negative_numbers = true)]
        w1: f64,
        /// w₂.
        #[arg(long, default_value_t = 4.0, allow_negative_numbers = true)]
        w2: f64,
    },
    /// P(a < X < b) for X ~ N(μ, σ²): trapezoid, Simpson and the error function.
    Normal {
        /// Lower end.
        #[arg(long, default_value_t = -1.0, allow_negative_numbers = true)]
        a: f64,
        /// Upper end.
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        b: f64,
        /// Mean μ.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        mu: f64,
        /// Standard deviation σ (> 0).
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        sigma: f64,
    },
    /// Taylor polynomials of eˣ around 0 against eˣ on [−2, 2].
    Taylor {
        /// Numbers of terms.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 3, 5])]
        terms: Vec<usize>,
    },
    /// Valid convolution with the Sobel-X kernel by hand and by burn; the kernel gradient.
    Conv2d {
        /// The class of the real mnist-5k digit filtered too (0–9).
        #[arg(long, default_value_t = 7, allow_negative_numbers = true)]
        digit: usize,
        /// Which image of that class: 0 is the first in the file, 1 the second, …
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        index: usize,
    },
}

/// Bounds on the subcommands' sizes, checked before any work: a clear error instead of a run
/// that exhausts memory or time.
fn check_args(cmd: &Cmd) -> Result<()> {
    match cmd {
        Cmd::Surface { grid } if !(2..=MAX_GRID).contains(grid) => {
            bail!("--grid {grid} is out of range (allowed 2 ..= {MAX_GRID} points per axis)")
        }
        Cmd::GradientDescent { steps, .. } if *steps > MAX_STEPS => {
            bail!("--steps {steps} is out of range (allowed 0 ..= {MAX_STEPS})")
        }
        Cmd::Taylor { terms } if terms.is_empty() || terms.len() > MAX_POLYNOMIALS => bail!(
            "--terms lists {} polynomials (allowed 1 ..= {MAX_POLYNOMIALS})",
            terms.len()
        ),
        Cmd::Taylor { terms } if terms.iter().any(|t| !(1..=MAX_TERMS).contains(t)) => {
            bail!("--terms {terms:?}: each number of terms must be in 1 ..= {MAX_TERMS}")
        }
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    gradlab::startup();
    gradlab::exit_code(run(Cli::parse()))
}

/// Largest `--grid` of `surface` (points per axis: 500² autodiff points and an SVG of them).
const MAX_GRID: usize = 500;
/// Largest `--steps` of `gradient-descent` (one device round trip each).
const MAX_STEPS: usize = 100_000;
/// Largest number of Taylor terms (k! overflows f64 past 170; the series has long converged).
const MAX_TERMS: usize = 170;
/// Most polynomials one `taylor` call draws.
const MAX_POLYNOMIALS: usize = 20;

fn run(cli: Cli) -> Result<()> {
    let (mut cfg, mut origins): (CalculusConfig, _) = cli
        .common
        .load(|c: &mut CalculusConfig| (&mut c.backend, &mut c.adapter))?;
    gradlab::overrides!(cfg, origins; out_dir <- cli.out.clone() => "--out");
    check_args(&cli.command)?;
    let backend = gradlab::backend::resolve(&cfg.backend_config())?;
    println!("backend: {}", backend.describe());
    let device = &backend.device;
    // Each run that draws gets a folder of its own: `<out_dir>/run-NNN/`.
    let run_dir = gradlab::runs::LazyRunDir::new(&cfg.out_dir);
    let out = |name: &str| -> Result<Option<PathBuf>> {
        if cli.no_plot {
            return Ok(None);
        }
        run_dir.file(name).map(Some)
    };
    let wrote = |p: &Path| println!("plot: {}", p.display());

    match cli.command {
        Cmd::Sigmoid => {
            let r = sigmoid::run(device, 201);
            let i0 = r.xs.iter().position(|&x| x == 0.0).unwrap_or(100);
            println!(
                "σ(0) = {:.6}, σ′(0) by autodiff = {:.6} (σ(0)(1 − σ(0)) = 0.25)",
                r.values[i0], r.autodiff[i0]
            );
            for &x in &[-10.0, -5.0, -2.0, 0.0, 2.0, 5.0, 10.0] {
                let i = r.xs.iter().position(|&v| (v - x).abs() < 1e-9).unwrap_or(0);
                println!(
                    "  x = {x:>5}: σ = {:.6}  σ′ autodiff = {:.6}  σ(1−σ) = {:.6}",
                    r.values[i], r.autodiff[i], r.formula[i]
                );
            }
            println!(
                "largest |autodiff − σ(1−σ)| over {} points: {:.2e}",
                r.xs.len(),
                r.max_error
            );
            if let Some(p) = out("sigmoid.svg")? {
                let pts = |v: &[f64]| r.xs.iter().copied().zip(v.iter().copied()).collect();
                plot_lines(
                    &p,
                    "σ(x) and σ′(x)",
                    "x",
                    "",
                    &[
                        Line::new("σ(x)", pts(&r.values)),
                        Line::new("σ′(x) by autodiff", pts(&r.autodiff)),
                        Line::new("σ(x)(1 − σ(x))", pts(&r.formula)),
                    ],
                    false,
                )?;
                wrote(&p);
            }
        }
        Cmd::Derivative => {
            let r = derivative::run(device, 151);
            for &x in &[-10.0, -5.0, -2.5, 0.0, 5.0] {
                let i = r.xs.iter().position(|&v| (v - x).abs() < 1e-9).unwrap_or(0);
                println!(
                    "  x = {x:>5}: f = {:>8.3}  f′ autodiff = {:>8.3}  2x + 5 = {:>8.3}",
                    r.values[i], r.autodiff[i], r.formula[i]
                );
            }
            println!(
                "largest |autodiff − (2x + 5)| over {} points: {:.2e}",
                r.xs.len(),
                r.max_error
            );
            if let Some(p) = out("derivative.svg")? {
                let pts = |v: &[f64]| r.xs.iter().copied().zip(v.iter().copied()).collect();
                plot_lines(
                    &p,
                    "f(x) = x² + 5x + 6 and f′(x)",
                    "x",
                    "",
                    &[
                        Line::new("f(x)", pts(&r.values)),
                        Line::new("f′(x) by autodiff", pts(&r.autodiff)),
                        Line::new("2x + 5", pts(&r.formula)),
                    ],
                    false,
                )?;
                wrote(&p);
            }
        }
        Cmd::GradientDescent { start, lr, steps } => {
            let path = descent::run(device, start, lr, steps)?;
            for (k, (x, fx)) in path.iter().enumerate() {
                if k < 5 || k % 20 == 0 || k == steps {
                    println!("  step {k:>4}: x = {x:>9.5}  f(x) = {fx:>9.5}");
                }
            }
            let (x, fx) = path[path.len() - 1];
            println!("after {steps} steps: x ≈ {x:.2}, f(x) ≈ {fx:.2} (minimum: x = −2.5, f = −0.25)");
            if let Some(p) = out("gradient-descent.svg")? {
                let curve = linspace(-6.0, 1.0, 141)
                    .into_iter()
                    .map(|x| (x, derivative::f(x)))
                    .collect();
                plot_lines(
                    &p,
                    &format!("gradient descent, lr {lr}"),
                    "x",
                    "f(x)",
                    &[
                        Line::new("f(x) = x² + 5x + 6", curve),
                        Line::markers("iterates", path.clone()),
                    ],
                    false,
                )?;
                wrote(&p);
            }
        }
        Cmd::Surface { grid } => {
            let r = surface::run(device, grid);
            println!("f(x, y) = sin(√(x² + y²)) on a {grid}×{grid} grid over [−6, 6]²");
            println!("largest |∇f autodiff − chain rule| on the grid: {:.2e}", r.max_error);
            for &(x, y) in &[(1.0, 2.0), (-3.0, 0.5), (0.0, 0.0)] {
                let ad = surface::autodiff_gradient(device, &[(x, y)])[0];
                match surface::gradient(x, y) {
                    Some((gx, gy)) => println!(
                        "  ∇f({x}, {y}) = ({gx:.5}, {gy:.5}) by the chain rule, ({:.5}, {:.5}) by autodiff",
                        ad.0, ad.1
                    ),
                    None => println!(
                        "  ∇f({x}, {y}) does not exist: near the origin f ≈ √(x² + y²), a cone whose slope depends on \
                         the direction (the formula is 0/0 there, and autodiff {})",
                        if ad.0.is_finite() && ad.1.is_finite() {
                            "returns a finite number that means nothing"
                        } else {
                            "gives no finite value either"
                        }
                    ),
                }
            }
            if let Some(p) = out("surface.svg")? {
                plot::surface(&p, "f(x, y) = sin(√(x² + y²))", &r.axis, &r.z)?;
                wrote(&p);
                let n = r.axis.len();
                let points: Vec<(f64, f64)> = r
                    .axis
                    .iter()
                    .flat_map(|&y| r.axis.iter().map(move |&x| (x, y)))
                    .collect();
                let step = if n > 1 { r.axis[1] - r.axis[0] } else { 1.0 };
                let p = run_dir.file("surface-gradient.svg")?;
                plot::gradient_field(&p, "∇f by autodiff (arrows point uphill)", &points, &r.grad, step)?;
                wrote(&p);
            }
        }
        Cmd::Partial { expression, at } => {
            let r = partial::run(device, &expression, &at)?;
            let names: Vec<String> = r.partials.iter().map(|p| p.var.clone()).collect();
            let point: Vec<f64> = names
                .iter()
                .map(|n| at.iter().find(|(m, _)| m == n).map_or(0.0, |(_, v)| *v))
                .collect();
            let shown = at
                .iter()
                .map(|(n, v)| format!("{n} = {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            println!("f = {}   at {shown}: f = {}", r.expression, r.value);
            for p in &r.partials {
                println!(
                    "  ∂f/∂{} = {}   = {} (symbolic)   {} (autodiff)",
                    p.var, p.symbolic, p.symbolic_value, p.autodiff
                );
            }
            if let Some(p) = out("partial.svg")? {
                let parsed = exmex::parse::<f64>(&expression)?;
                let f = |v: &[f64]| exmex::Express::eval(&parsed, v).unwrap_or(f64::NAN);
                let grads: Vec<f64> = r.partials.iter().map(|p| p.symbolic_value).collect();
                let lines = plot::tangent_lines(f, &point, &grads, &names, 1.0);
                plot_lines(
                    &p,
                    &format!("f = {} near ({shown})", r.expression),
                    "offset t",
                    "f",
                    &lines,
                    false,
                )?;
                wrote(&p);
            }
        }
        Cmd::ChainRule { x, w1, w2 } => {
            let r = chain::run(device, x, w1, w2);
            println!("y = σ(w₂·σ(w₁·x)) with x = {x}, w₁ = {w1}, w₂ = {w2}");
            println!(
                "  a = w₁·x = {:.6}   h = σ(a) = {:.6}   b = w₂·h = {:.6}   y = σ(b) = {:.6}",
                r.a, r.h, r.b, r.y
            );
            println!("  dy/db = σ′(b) = y(1 − y) = {:.6}", r.dy_db);
            println!("  dh/da = σ′(a) = h(1 − h) = {:.6}", r.dh_da);
            println!("  dy/dw₂ = dy/db · h = {:.6} · {:.6} = {:.8}", r.dy_db, r.h, r.dy_dw2);
            println!(
                "  dy/dw₁ = dy/db · w₂ · dh/da · x = {:.6} · {} · {:.6} · {} = {:.8}",
                r.dy_db, w2, r.dh_da, x, r.dy_dw1
            );
            println!(
                "autodiff: y = {:.6}, dy/dw₂ = {:.8}, dy/dw₁ = {:.8}",
                r.y_autodiff, r.dy_dw2_autodiff, r.dy_dw1_autodiff
            );
            if let Some(p) = out("chain-rule.svg")? {
                let y = |w: &[f64]| sigmoid::sigma(w[1] * sigmoid::sigma(w[0] * x));
                let names = ["w₁".to_string(), "w₂".to_string()];
                let lines = plot::tangent_lines(y, &[w1, w2], &[r.dy_dw1, r.dy_dw2], &names, 3.0);
                let title = format!("y = σ(w₂·σ(w₁·x)) around w₁ = {w1}, w₂ = {w2}");
                plot_lines(&p, &title, "offset t", "y", &lines, false)?;
                wrote(&p);
            }
        }
        Cmd::Normal { a, b, mu, sigma } => {
            let r = normal::run(device, a, b, mu, sigma)?;
            println!(
                "P({a} < X < {b}), X ~ N({mu}, {sigma}²): by the error function {:.10}",
                r.exact
            );
            println!("(the density is sampled in float32 on the device: errors below ~1e-8 are rounding)");
            println!(
                "{:>6} {:>14} {:>10} {:>14} {:>10}",
                "n", "trapezoid", "error", "Simpson", "error"
            );
            for row in &r.rows {
                println!(
                    "{:>6} {:>14.10} {:>10.2e} {:>14.10} {:>10.2e}",
                    row.n,
                    row.trapezoid,
                    (row.trapezoid - r.exact).abs(),
                    row.simpson,
                    (row.simpson - r.exact).abs()
                );
            }
            if let Some(p) = out("normal.svg")? {
                let (lo, hi) = (a.min(mu - 4.0 * sigma), b.max(mu + 4.0 * sigma));
                let curve: Vec<(f64, f64)> = linspace(lo, hi, 401)
                    .into_iter()
                    .map(|x| (x, normal::density(x, mu, sigma)))
                    .collect();
                plot::shaded_area(&p, &format!("P({a} < X < {b}) = {:.4}", r.exact), &curve, a, b)?;
                wrote(&p);
            }
        }
        Cmd::Taylor { terms } => {
            let r = taylor::run(device, &terms, 201);
            for a in &r.approximations {
                println!(
                    "  {} term(s): max |eˣ − Pₙ(x)| on [−2, 2] = {:.6}",
                    a.terms, a.max_error
                );
            }
            if let Some(p) = out("taylor.svg")? {
                let pts = |v: &[f64]| r.xs.iter().copied().zip(v.iter().copied()).collect();
                let mut lines = vec![Line::new("eˣ", pts(&r.exp))];
                lines.extend(
                    r.approximations
                        .iter()
                        .map(|a| Line::new(format!("{} terms", a.terms), pts(&a.values))),
                );
                plot_lines(&p, "Taylor polynomials of eˣ around 0", "x", "", &lines, false)?;
                wrote(&p);
            }
        }
        Cmd::Conv2d { digit, index } => {
            let img = conv::example_image();
            let hand = conv::correlate(&img, &conv::SOBEL_X);
            let (burn_out, burn_grad) = conv::burn_conv(device, &img, &conv::SOBEL_X);
            let hand_grad = conv::kernel_gradient(&img);
            let diff = max_abs_diff(&hand.px, &burn_out.px);
            println!("10×10 image ⋆ Sobel-X (valid, 8×8 output): largest |hand − burn conv2d| = {diff:.2e}");
            println!(
                "output row 0 (hand): {:?}",
                &hand.px[..8]
                    .iter()
                    .map(|v| (v * 100.0).round() / 100.0)
                    .collect::<Vec<_>>()
            );
            println!(
                "∂(Σ out)/∂K by hand:     {:?}",
                hand_grad.map(|r| r.map(|v| (v * 1e4).round() / 1e4))
            );
            println!(
                "∂(Σ out)/∂K by autodiff: {:?}",
                burn_grad.map(|r| r.map(|v| (v * 1e4).round() / 1e4))
            );
            let file = gradlab::data::digits_csv::find(&cfg.data_dir.join("mnist-5k/mnist_5k.csv.gz"));
            let (pixels, labels) = gradlab::data::digits_csv::read_file(&file)?;
            if digit > 9 {
                bail!("--digit {digit} is out of range: a digit class is 0 to 9");
            }
            let of_class: Vec<usize> = (0..labels.len()).filter(|&i| usize::from(labels[i]) == digit).collect();
            let Some(&at) = of_class.get(index) else {
                bail!(
                    "--index {index} is out of range: {} holds {} of digit {digit} (allowed 0 ..= {})",
                    file.describe(),
                    gradlab::count(of_class.len(), "image"),
                    of_class.len().saturating_sub(1)
                );
            };
            let real = conv::Image {
                h: 28,
                w: 28,
                px: pixels[at * PIXELS..(at + 1) * PIXELS]
                    .iter()
                    .map(|&p| p as f64 / 255.0)
                    .collect(),
            };
            let edges = conv::burn_conv(device, &real, &conv::SOBEL_X).0;
            let d = conv::correlate(&real, &conv::SOBEL_X);
            let diff_real = max_abs_diff(&d.px, &edges.px);
            println!(
                "mnist-5k digit: a {} (image {at} of the file, the {} of its class): 26×26 edges, largest |hand − burn| = {diff_real:.2e}",
                labels[at],
                ordinal(index + 1)
            );
            if let Some(p) = out("conv2d.svg")? {
                let kernel = conv::Image {
                    h: 3,
                    w: 3,
                    px: conv::SOBEL_X.iter().flatten().copied().collect(),
                };
                plot::heatmaps(
                    &p,
                    "valid convolution with Sobel-X",
                    &[
                        ("input 10×10", &img),
                        ("kernel", &kernel),
                        ("output 8×8", &burn_out),
                        (&format!("digit {} (image {at})", labels[at]), &real),
                        ("its vertical edges", &edges),
                    ],
                )?;
                wrote(&p);
            }
        }
    }
    Ok(())
}

/// 1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, 21st, …
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}
