//! `xor-backprop`: the seed's single layer, and a hidden layer trained by hand and by autodiff.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use burn::tensor::DType;
use clap::{Args, Parser, Subcommand};
use gradlab::ResolvedBackend;
use gradlab::cli::CommonArgs;
use gradlab::report::{Line, plot_lines};
use gradlab::runs::LazyRunDir;
use xor_backprop::config::XorConfig;
use xor_backprop::manual::{self, Mlp, X, Y};
use xor_backprop::{autodiff, manual::max_relative_error};

/// XOR by hand-derived backpropagation and by burn autodiff.
///
/// Training options go after `train` or, with no subcommand, directly.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: CommonArgs,
    /// Folder for runs: each run that draws writes `<out>/run-NNN/` (overrides `out_dir`).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// Do not write plots.
    #[arg(long, global = true)]
    no_plot: bool,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The seed's single-layer network and update rule (no learning rate): it cannot learn XOR.
    Seed(SeedArgs),
    /// A 3→4→1 network trained by hand-derived backprop and by autodiff (the default).
    Train(TrainArgs),
    /// Hand-derived gradients against autodiff and central finite differences.
    Gradcheck(GradcheckArgs),
}

/// `seed`'s options.
#[derive(Debug, Args)]
struct SeedArgs {
    /// Updates of the seed's rule.
    #[arg(long, allow_negative_numbers = true)]
    iterations: Option<usize>,
    /// Seed of the initial weights.
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
}

/// `train`'s options.
#[derive(Debug, Args, Default)]
struct TrainArgs {
    /// Gradient steps.
    #[arg(long, allow_negative_numbers = true)]
    iterations: Option<usize>,
    /// Learning rate.
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Seed of the initial weights.
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
}

/// `gradcheck`'s options.
#[derive(Debug, Args)]
struct GradcheckArgs {
    /// Seed of the random weights the gradients are taken at.
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
}

impl TrainArgs {
    /// These flags, with `other`'s filling the ones not given.
    fn or(&self, other: &TrainArgs) -> TrainArgs {
        TrainArgs {
            iterations: self.iterations.or(other.iterations),
            lr: self.lr.or(other.lr),
            seed: self.seed.or(other.seed),
        }
    }

    /// The flags that were given.
    fn given(&self) -> Vec<&'static str> {
        gradlab::cli::given_flags(&[
            ("--iterations", self.iterations.is_some()),
            ("--lr", self.lr.is_some()),
            ("--seed", self.seed.is_some()),
        ])
    }
}

fn main() -> ExitCode {
    gradlab::startup();
    gradlab::exit_code(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<()> {
    let (mut cfg, mut origins): (XorConfig, _) =
        cli.common.load(|c: &mut XorConfig| (&mut c.backend, &mut c.adapter))?;
    gradlab::overrides!(cfg, origins; out_dir <- cli.out.clone() => "--out");
    match &cli.command {
        Some(Command::Seed(a)) => {
            gradlab::cli::refuse_training_flags("seed", &cli.train.given())?;
            gradlab::overrides!(cfg, origins; iterations <- a.iterations, seed <- a.seed);
        }
        Some(Command::Gradcheck(a)) => {
            gradlab::cli::refuse_training_flags("gradcheck", &cli.train.given())?;
            gradlab::overrides!(cfg, origins; seed <- a.seed);
        }
        Some(Command::Train(_)) | None => {
            // Training flags may come before or after `train` (those after it win).
            let a = match &cli.command {
                Some(Command::Train(a)) => a.or(&cli.train),
                _ => cli.train.or(&TrainArgs::default()),
            };
            gradlab::overrides!(cfg, origins;
                iterations <- a.iterations,
                learning_rate <- a.lr => "--lr",
                seed <- a.seed,
            );
        }
    }
    origins.check(cfg.validate())?;
    let run_dir = gradlab::runs::LazyRunDir::new(&cfg.out_dir);
    let plot = (!cli.no_plot).then_some(&run_dir);
    match cli.command {
        Some(Command::Seed(_)) => {
            if cli.common.backend.is_some() || cli.common.adapter.is_some() {
                anyhow::bail!(
                    "`seed` runs the seed's numpy-style code in f64 on the CPU: --backend / --adapter have no effect on it"
                );
            }
            seed(&cfg, plot)
        }
        None | Some(Command::Train(_)) => {
            let backend = gradlab::backend::resolve(&cfg.backend_config())?;
            println!("backend: {}", backend.describe());
            train(&cfg, &backend, plot)
        }
        Some(Command::Gradcheck(_)) => {
            let backend = gradlab::backend::resolve(&cfg.backend_config())?;
            println!("backend: {}", backend.describe());
            gradcheck(&cfg, &backend, plot)
        }
    }
}

fn print_outputs(label: &str, out: &[f64; 4]) {
    println!("{label}");
    for (x, (o, y)) in X.iter().zip(out.iter().zip(Y)) {
        println!("  x = ({}, {})  target {}  output {:.4}", x[0], x[1], y, o);
    }
}

fn seed(cfg: &XorConfig, plot: Option<&LazyRunDir>) -> Result<()> {
    let w0 = manual::single_layer_init(cfg.seed);
    let mut curve = Vec::new();
    let mut w = w0;
    for it in 0..=cfg.iterations {
        if it % cfg.log_every == 0 || it == cfg.iterations {
            curve.push((it as f64, manual::loss(&manual::single_layer_outputs(&w))));
        }
        if it < cfg.iterations {
            w = manual::single_layer_train(w, 1);
        }
    }
    print_outputs(
        &format!(
            "single layer ŷ = σ(X·w), the seed's update rule, {} iterations:",
            cfg.iterations
        ),
        &manual::single_layer_outputs(&w),
    );
    println!("weights: w1 = {:.4}, w2 = {:.4}, bias w3 = {:.4}", w[0], w[1], w[2]);
    println!(
        "\nAll four outputs go to 0.5: a single layer draws one straight line (w·x = 0) through the\n\
         input square, and no line puts (0,1) and (1,0) on one side and (0,0) and (1,1) on the other.\n\
         The best it can do for squared error is to ignore the inputs (w1, w2 → 0) and answer the\n\
         mean target, σ(w3) = 0.5. A hidden layer (`xor-backprop train`) bends the boundary."
    );
    if let Some(run) = plot {
        let path = run.file("seed-loss.svg")?;
        plot_lines(
            &path,
            "single layer on XOR: every output goes to 0.5, the loss stalls at 4 × ½ × 0.5² = 0.5",
            "iteration",
            "loss ½Σ(ŷ−y)²",
            &[Line::new("single layer", curve)],
            false,
        )?;
        println!("plot: {}", path.display());
    }
    Ok(())
}

fn train(cfg: &XorConfig, backend: &ResolvedBackend, plot: Option<&LazyRunDir>) -> Result<()> {
    let init = Mlp::init(cfg.seed);
    let t0 = std::time::Instant::now();
    let (hand, hand_curve) = manual::train(init.clone(), cfg.learning_rate, cfg.iterations, cfg.log_every);
    let hand_s = t0.elapsed().as_secs_f64();
    let t0 = std::time::Instant::now();
    let (auto, auto_curve) = autodiff::train(&init, &backend.device, cfg.learning_rate, cfg.iterations, cfg.log_every);
    let auto_s = t0.elapsed().as_secs_f64();

    println!(
        "3→4→1 sigmoid network, loss ½Σ(ŷ−y)², gradient descent lr {}, seed {}",
        cfg.learning_rate, cfg.seed
    );
    println!("{:>10} {:>14} {:>14}", "iteration", "hand (f64)", "autodiff (f32)");
    let step = (cfg.iterations / 10).max(cfg.log_every);
    for ((it, h), (_, a)) in hand_curve.iter().zip(&auto_curve) {
        if it % step == 0 || *it == cfg.iterations {
            println!("{it:>10} {h:>14.6} {a:>14.6}");
        }
    }
    let (ho, ao) = (hand.forward().out, auto.forward().out);
    print_outputs(&format!("\nhand-derived backprop ({hand_s:.2} s):"), &ho);
    print_outputs(&format!("autodiff on {} ({auto_s:.2} s):", backend.backend), &ao);
    let max_w = manual::max_abs_difference(&hand.flat(), &auto.flat());
    println!("largest weight difference after training, hand (f64) vs autodiff (f32): {max_w:.2e}");
    for (name, out) in [("hand-derived", &ho), ("autodiff", &ao)] {
        println!(
            "{name}: {}",
            if manual::solves_xor(out) {
                "solved (< 0.1 where y = 0, > 0.9 where y = 1)"
            } else {
                "NOT solved yet: try more --iterations or another --seed"
            }
        );
    }
    if let Some(run) = plot {
        let path = run.file("loss.svg")?;
        let to_f = |c: &[(usize, f64)]| c.iter().map(|&(i, l)| (i as f64, l)).collect();
        plot_lines(
            &path,
            "XOR, 3→4→1: loss by hand-derived backprop and by autodiff",
            "iteration",
            "loss ½Σ(ŷ−y)² (log)",
            &[
                Line::new("hand (f64)", to_f(&hand_curve)),
                Line::new(format!("autodiff on {} (f32)", backend.backend), to_f(&auto_curve)),
            ],
            true,
        )?;
        println!("plot: {}", path.display());
    }
    Ok(())
}

fn gradcheck(cfg: &XorConfig, backend: &ResolvedBackend, plot: Option<&LazyRunDir>) -> Result<()> {
    let m = Mlp::init(cfg.seed);
    let hand = m.gradients().flat();
    let fd = manual::finite_difference(&m, manual::FD_STEP);
    // f64 where the backend computes it exactly (the CPU backends); wgpu kernels run in f32.
    let dtype = if !backend.backend.is_wgpu() && backend.device.supports_dtype(DType::F64) {
        DType::F64
    } else {
        DType::F32
    };
    let auto = autodiff::gradients(&m, &backend.device, dtype).flat();
    println!(
        "∂L/∂w at random weights (seed {}); autodiff in {dtype:?} on {}",
        cfg.seed, backend.backend
    );
    println!(
        "{:>8} {:>16} {:>16} {:>16}",
        "weight", "hand", "autodiff", "finite diff"
    );
    for (i, ((h, a), f)) in hand.iter().zip(&auto).zip(&fd).enumerate() {
        let name = if i < 12 {
            format!("W1[{},{}]", i / 4, i % 4)
        } else {
            format!("w2[{}]", i - 12)
        };
        println!("{name:>8} {h:>16.10} {a:>16.10} {f:>16.10}");
    }
    println!(
        "largest relative error, hand vs finite difference: {:.2e}",
        max_relative_error(&hand, &fd, 1e-8)
    );
    println!(
        "largest relative error, hand vs autodiff:          {:.2e}",
        max_relative_error(&hand, &auto, 1e-8)
    );
    if let Some(run) = plot {
        let rel = |other: &[f64]| -> Vec<(f64, f64)> {
            hand.iter()
                .zip(other)
                .enumerate()
                .map(|(i, (h, o))| (i as f64, ((h - o).abs() / h.abs().max(1e-8)).max(1e-17)))
                .collect()
        };
        let path = run.file("gradcheck.svg")?;
        plot_lines(
            &path,
            "relative error of each hand-derived gradient entry",
            "weight (W1 row-major, then w2)",
            "relative error (log; exact = 1e-17)",
            &[
                Line::markers(format!("vs autodiff ({dtype:?})"), rel(&auto)),
                Line::markers("vs central finite difference", rel(&fd)),
            ],
            true,
        )?;
        println!("plot: {}", path.display());
    }
    Ok(())
}
