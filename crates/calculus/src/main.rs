//! `calculus`: one subcommand per seed example; each prints its numbers and draws its plot.

use std::process::ExitCode;

use anyhow::{Result, bail};
use calculus::report::Context;
use calculus::{CalculusConfig, chain, conv, derivative, descent, normal, partial, sigmoid, surface, taylor};
use clap::{Parser, Subcommand};
use gradlab::cli::{PlotArgs, RunArgs};
use gradlab::config::RunConfig;

/// Why calculus matters for machine learning: the seed's examples, checked by autodiff.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    plot: PlotArgs,
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
    let (cfg, _): (CalculusConfig, _) = cli.run.load()?;
    check_args(&cli.command)?;
    let backend = gradlab::backend::resolve(&cfg.backend_config())?;
    println!("backend: {}", backend.describe());
    // Each run that draws gets a folder of its own: `<out_dir>/run-NNN/`.
    let ctx = Context::new(&backend.device, &cfg.out_dir, !cli.plot.no_plot);
    match cli.command {
        Cmd::Sigmoid => sigmoid::report(&ctx),
        Cmd::Derivative => derivative::report(&ctx),
        Cmd::GradientDescent { start, lr, steps } => descent::report(&ctx, start, lr, steps),
        Cmd::Surface { grid } => surface::report(&ctx, grid),
        Cmd::Partial { expression, at } => partial::report(&ctx, &expression, &at),
        Cmd::ChainRule { x, w1, w2 } => chain::report(&ctx, x, w1, w2),
        Cmd::Normal { a, b, mu, sigma } => normal::report(&ctx, a, b, mu, sigma),
        Cmd::Taylor { terms } => taylor::report(&ctx, &terms),
        Cmd::Conv2d { digit, index } => conv::report(&ctx, &cfg.data_dir, digit, index),
    }
}
