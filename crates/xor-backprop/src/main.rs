//! `xor-backprop`: the seed's single layer, and a hidden layer trained by hand and by autodiff.
//! A thin CLI over the library.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use gradlab::cli::PlotArgs;
use gradlab::config::RunConfig;
use xor_backprop::config::XorConfig;
use xor_backprop::gradcheck::gradcheck;
use xor_backprop::training;

/// The command line: `xor-backprop [OPTIONS] [seed|train|gradcheck]`.
type Cli = gradlab::cli::ModelCli<Command, TrainArgs, PlotArgs>;

/// The about text (`--help`).
const ABOUT: &str = "XOR by hand-derived backpropagation and by burn autodiff.

Training options go after `train` or, with no subcommand, directly.";

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

gradlab::train_flags! {
    /// `train`'s options.
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
}

/// `gradcheck`'s options.
#[derive(Debug, Args)]
struct GradcheckArgs {
    /// Seed of the random weights the gradients are taken at.
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
}

fn main() -> ExitCode {
    gradlab::startup();
    gradlab::exit_code(run(gradlab::parse_cli!(Cli, ABOUT)))
}

fn run(cli: Cli) -> Result<()> {
    let (mut cfg, mut origins, train): (XorConfig, _, _) = cli.config(|c| match c {
        Command::Train(a) => Some(a),
        _ => None,
    })?;
    match (&cli.command, train) {
        (Some(Command::Seed(a)), _) => {
            gradlab::overrides!(cfg, origins; iterations <- a.iterations, seed <- a.seed);
        }
        (Some(Command::Gradcheck(a)), _) => {
            gradlab::overrides!(cfg, origins; seed <- a.seed);
        }
        (_, a) => {
            let a = a.unwrap_or_default();
            gradlab::overrides!(cfg, origins;
                iterations <- a.iterations,
                learning_rate <- a.lr => "--lr",
                seed <- a.seed,
            );
        }
    }
    origins.check(cfg.validate())?;
    // `--no-plot` writes nothing: no plot and no run folder.
    let record = !cli.extra.no_plot;
    match cli.command {
        Some(Command::Seed(_)) => {
            if cli.run.shared.backend.is_some() || cli.run.shared.adapter.is_some() {
                anyhow::bail!(
                    "`seed` runs the seed's numpy-style code in f64 on the CPU: --backend / --adapter have no effect on it"
                );
            }
            training::seed(&cfg, record)
        }
        None | Some(Command::Train(_)) => {
            let backend = gradlab::backend::resolve(&cfg.backend_config())?;
            println!("backend: {}", backend.describe());
            training::train(&cfg, &backend, record)
        }
        Some(Command::Gradcheck(_)) => {
            let backend = gradlab::backend::resolve(&cfg.backend_config())?;
            println!("backend: {}", backend.describe());
            gradcheck(&cfg, &backend, record)
        }
    }
}
