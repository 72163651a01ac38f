//! `rnn`: the seed's forward pass, a character language model trained with BPTT, sampling,
//! and gradients through time. A thin CLI over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use burn::tensor::DType;
use clap::Subcommand;
use gradlab::cli::{ExportArgs, LoopFlags, ModelArg};
use gradlab::config::RunConfig;
use rnn::config::{Engine, RnnConfig};
use rnn::inference::{eval_text, load_model};
use rnn::model::{CharRnn, SeedStep};
use rnn::training::train;

/// The command line: `rnn [OPTIONS] [train|forward|sample|eval|gradients]`.
type Cli = gradlab::cli::ModelCli<Command, TrainArgs>;

/// The about text (`--help`).
const ABOUT: &str = "The seed's Elman RNN with backpropagation through time, on the backend a config names.

Training options go after `train` or, with no subcommand, directly.";

/// The model file in a run folder (`--model` chooses the newest finished run's by default).
const MODEL_FILE: &str = "model/model.json";

#[derive(Debug, Subcommand)]
enum Command {
    /// Train the character model on Pride and Prejudice (the default).
    Train(TrainArgs),
    /// The seed's single forward step: input 2, hidden 3, output 2, weights ~ N(0, 0.01²).
    Forward {
        /// Random seed of the weights and the input (overrides `seed`).
        #[arg(long, allow_negative_numbers = true)]
        seed: Option<u64>,
    },
    /// Generate text from a saved model.
    Sample {
        #[command(flatten)]
        model: ModelArg,
        /// Text to start from.
        #[arg(long, default_value = "It is a truth")]
        prime: String,
        /// Characters to generate (at most 1,000,000).
        #[arg(long, default_value_t = 300, allow_negative_numbers = true)]
        len: usize,
        /// Softmax temperature (> 0; below 1 is more conservative).
        #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
        temperature: f64,
        /// Random seed of the sampling (overrides `seed`).
        #[arg(long, allow_negative_numbers = true)]
        seed: Option<u64>,
    },
    /// How well a trained model predicts any UTF-8 text: nats (and bits) per character;
    /// characters outside the model's vocabulary are counted and reported.
    Eval {
        #[command(flatten)]
        model: ModelArg,
        /// The text to score (UTF-8, at most 64 MiB).
        #[arg(long)]
        text: PathBuf,
    },
    /// ‖∂L/∂h_t‖ for every step of a long sequence, for several scales of Whh; writes a run
    /// folder `<out_dir>/gradients/run-NNN/`.
    Gradients {
        /// Sequence length (at most 100,000).
        #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
        steps: usize,
        /// Scales of Whh (about its spectral radius; at most 20).
        #[arg(long, value_delimiter = ',', default_value = "0.5,0.9,1.0,1.5,3.0")]
        scales: Vec<f64>,
        /// Random seed of the weights (overrides `seed`).
        #[arg(long, allow_negative_numbers = true)]
        seed: Option<u64>,
        /// The corpus file (overrides `data_file`).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Write a saved model's weights as safetensors (burn's names and layouts: `wxh`, `whh`,
    /// `why`, `bh`, `by`; its model.json, with the vocabulary, in the file's metadata).
    Export(ExportArgs),
}

gradlab::train_flags! {
    /// Training options.
    struct TrainArgs {
        /// `manual` (hand BPTT, f64 CPU) or `burn` (autodiff on the backend) (overrides `engine`).
        #[arg(long, value_enum)]
        engine: Option<Engine>,
        #[command(flatten)]
        shared: LoopFlags,
        /// Use only the first N characters (overrides `limit`).
        #[arg(long, allow_negative_numbers = true)]
        limit: Option<usize>,
        /// The corpus file (overrides `data_file`).
        #[arg(long)]
        data: Option<PathBuf>,
    }
}

fn main() -> ExitCode {
    gradlab::startup();
    gradlab::exit_code(run(gradlab::parse_cli!(Cli, ABOUT)))
}

/// The config: defaults < `--config` files < the flags of the subcommand given.
fn resolve_config(cli: &Cli) -> Result<RnnConfig> {
    let (mut cfg, mut origins, train): (RnnConfig, _, _) = cli.config(|c| match c {
        Command::Train(t) => Some(t),
        _ => None,
    })?;
    match &cli.command {
        Some(Command::Train(_)) | None => {
            let t = train.unwrap_or_default();
            gradlab::overrides!(cfg, origins;
                engine <- t.engine,
                seed <- t.shared.seed,
                epochs <- t.shared.epochs,
                batch_size <- t.shared.batch_size,
                limit <- t.limit,
                data_file <- t.data.clone() => "--data",
            );
        }
        Some(Command::Forward { seed }) | Some(Command::Sample { seed, .. }) => {
            gradlab::overrides!(cfg, origins; seed <- *seed);
        }
        Some(Command::Gradients { seed, data, .. }) => {
            gradlab::overrides!(cfg, origins; seed <- *seed, data_file <- data.clone() => "--data");
        }
        Some(Command::Eval { .. } | Command::Export(_)) => {}
    }
    origins.check(cfg.validate())?;
    Ok(cfg)
}

fn run(cli: Cli) -> Result<()> {
    let cfg = resolve_config(&cli)?;
    match cli.command {
        None | Some(Command::Train(_)) => train_command(&cfg),
        Some(Command::Forward { .. }) => forward_command(&cfg),
        Some(Command::Sample {
            model,
            prime,
            len,
            temperature,
            ..
        }) => sample_command(&cfg, &model, &prime, len, temperature),
        Some(Command::Eval { model, text }) => eval_command(&cfg, &model, &text),
        Some(Command::Gradients { steps, scales, .. }) => rnn::gradients::report(&cfg, steps, &scales),
        Some(Command::Export(args)) => export_command(&cfg, &args),
    }
}

/// `rnn export FILE`: the model as safetensors, its model.json in the metadata.
fn export_command(cfg: &RnnConfig, args: &ExportArgs) -> Result<()> {
    let path = args.model.choose(&cfg.out_dir, MODEL_FILE)?;
    let m = load_model(&path)?;
    let cell = CharRnn::from_params(&m.params, &gradlab::backend::host_device(), DType::F32);
    let producer = format!("gradlab rnn {}", env!("CARGO_PKG_VERSION"));
    gradlab::exchange::export_module(&cell, &args.file, &producer, &path)?;
    println!(
        "wrote {} (safetensors, burn layout, model.json in its metadata)",
        args.file.display()
    );
    Ok(())
}

/// `rnn [train]`: train with the configured engine, then the final figures and where the run's
/// files are.
fn train_command(cfg: &RnnConfig) -> Result<()> {
    let backend = gradlab::backend::resolve(&cfg.training_backend_config())?;
    match cfg.engine {
        Engine::Burn => println!("backend: {}", backend.describe()),
        Engine::Manual => {
            println!("engine: manual (hand-derived BPTT, f64 on the CPU; `--engine burn` trains on the backend)")
        }
    }
    println!("resolved config:\n{}", gradlab::config::to_toml(cfg)?);
    let corpus = rnn::data::load_from(&rnn::data::find(&cfg.data_file), cfg.valid_fraction, cfg.limit)?;
    let out = train(cfg, &backend, &corpus, true)?;
    let last = out.history.last().expect("at least one evaluation");
    println!(
        "\nvalidation loss {:.3} nats/char (smoothed training loss {:.3}/char) after {} characters; {:.0} chars/s; total {:.1} s",
        last.valid_loss_per_char, last.smooth_loss_per_char, last.chars, last.chars_per_second, out.seconds
    );
    gradlab::runs::print_run_files(&out.model_dir, &out.run_dir, "loss.svg", false);
    Ok(())
}

/// `rnn forward`: the seed's single forward step on the configured backend.
fn forward_command(cfg: &RnnConfig) -> Result<()> {
    let backend = gradlab::backend::resolve(&cfg.backend_config())?;
    println!("backend: {}", backend.describe());
    SeedStep::new(cfg.seed, &backend.device).print();
    Ok(())
}

/// `rnn sample`: `len` characters after `prime` from a saved model.
fn sample_command(cfg: &RnnConfig, model: &ModelArg, prime: &str, len: usize, temperature: f64) -> Result<()> {
    rnn::sample::check_len(len)?;
    let m = load_model(&model.choose(&cfg.out_dir, MODEL_FILE)?)?;
    let text = rnn::sample::sample(&m.params, &m.vocab, prime, len, temperature, cfg.seed)?;
    println!("{text}");
    Ok(())
}

/// `rnn eval --text FILE`: a saved model's loss on any text.
fn eval_command(cfg: &RnnConfig, model: &ModelArg, text: &Path) -> Result<()> {
    eval_text(&load_model(&model.choose(&cfg.out_dir, MODEL_FILE)?)?, text)
}
