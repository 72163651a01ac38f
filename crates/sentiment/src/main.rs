//! `sentiment`: train, evaluate and query the sentiment classifiers. A thin CLI over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use gradlab::ResolvedBackend;
use gradlab::cli::{ExportArgs, LoopFlags, ModelArg};
use gradlab::config::RunConfig;
use sentiment::config::SentimentConfig;
use sentiment::inference::load_classifier;
use sentiment::model::ModelKind;
use sentiment::query::{predict_lines, predict_texts};
use sentiment::training::{train, train_seed};

/// The command line: `sentiment [OPTIONS] [train|seed|eval|predict]`.
type Cli = gradlab::cli::ModelCli<Command, TrainArgs>;

/// The about text (`--help`).
const ABOUT: &str = "Sentiment of movie-review sentences with burn, on the backend a config names.

Training options go after `train` or, with no subcommand, directly.";

/// The model file in a run folder (`--model` chooses the newest finished run's by default).
const MODEL_FILE: &str = "model/model.json";

#[derive(Debug, Subcommand)]
enum Command {
    /// Train on the movie reviews (the default).
    Train(TrainArgs),
    /// The seed, exactly: its five sentences, num_words 100, maxlen 10, 50 epochs, batch 32,
    /// Adam 1e-3 (only the weights' random seed can change).
    Seed {
        /// Random seed of the initial weights and batch order (overrides `seed`).
        #[arg(long, allow_negative_numbers = true)]
        seed: Option<u64>,
    },
    /// Evaluate a saved model on the test split it was trained with: accuracy, precision,
    /// recall, F1, confusion.
    Eval(ModelArg),
    /// Probability and label of each text: given as arguments, or one per line from `--file`
    /// or standard input.
    Predict {
        #[command(flatten)]
        model: ModelArg,
        /// Read one text per line from this file (`-` for standard input).
        #[arg(long, conflicts_with = "texts")]
        file: Option<PathBuf>,
        /// Texts to classify (none: read standard input).
        texts: Vec<String>,
    },
    /// Write a saved model's weights as safetensors (burn's names and layouts; its model.json,
    /// with the tokenizer, in the file's metadata).
    Export(ExportArgs),
}

gradlab::train_flags! {
    /// Training options.
    struct TrainArgs {
        /// Classifier to train: seed or nb-bigram (overrides `model`).
        #[arg(long, value_enum)]
        classifier: Option<ModelKind>,
        #[command(flatten)]
        shared: LoopFlags,
        /// Adam learning rate (overrides `learning_rate`).
        #[arg(long, allow_negative_numbers = true)]
        lr: Option<f64>,
        /// Use a stratified sample of N sentences (overrides `limit`).
        #[arg(long, allow_negative_numbers = true)]
        limit: Option<usize>,
    }
}

fn main() -> ExitCode {
    gradlab::startup();
    match run(gradlab::parse_cli!(Cli, ABOUT)) {
        Ok(code) => code,
        Err(e) => gradlab::exit_code(Err(e)),
    }
}

/// The config: defaults < `--config` files < the flags of the subcommand given.
fn resolve_config(cli: &Cli) -> Result<SentimentConfig> {
    let (mut cfg, mut origins, train): (SentimentConfig, _, _) = cli.config(|c| match c {
        Command::Train(a) => Some(a),
        _ => None,
    })?;
    if let Some(Command::Seed { seed }) = &cli.command {
        let seed = *seed;
        gradlab::overrides!(cfg, origins; seed <- seed);
    }
    if let Some(t) = train {
        gradlab::overrides!(cfg, origins;
            model <- t.classifier => "--classifier",
            seed <- t.shared.seed,
            epochs <- t.shared.epochs,
            batch_size <- t.shared.batch_size,
            learning_rate <- t.lr => "--lr",
            limit <- t.limit,
        );
    }
    origins.check(cfg.validate())?;
    Ok(cfg)
}

/// Resolve the config and the backend (named on stdout, or on stderr for `predict`, whose
/// stdout is only predictions), then run the subcommand; `predict` decides the exit status.
fn run(cli: Cli) -> Result<ExitCode> {
    let cfg = resolve_config(&cli)?;
    let backend = gradlab::backend::resolve(&cfg.backend_config())?;
    if matches!(cli.command, Some(Command::Predict { .. })) {
        eprintln!("backend: {}", backend.describe());
    } else {
        println!("backend: {}", backend.describe());
    }
    match cli.command {
        None | Some(Command::Train(_)) => train_command(&cfg, &backend)?,
        Some(Command::Seed { .. }) => train_seed(&cfg, &backend)?,
        Some(Command::Eval(model)) => eval_command(&cfg, &backend, &model)?,
        Some(Command::Predict { model, file, texts }) => {
            return predict_command(&cfg, &backend, &model, file.as_deref(), &texts);
        }
        Some(Command::Export(ExportArgs { model, file })) => {
            let path = model.choose(&cfg.out_dir, "model/model.json")?;
            let classifier = load_classifier(&path, &backend.device)?;
            let producer = format!("gradlab sentiment {}", env!("CARGO_PKG_VERSION"));
            gradlab::exchange::export_module(&classifier.model, &file, &producer, &path)?;
            println!(
                "wrote {} (safetensors, burn layout, model.json in its metadata)",
                file.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `sentiment [train]`: train, then the test figures and where the run's files are.
fn train_command(cfg: &SentimentConfig, backend: &ResolvedBackend) -> Result<()> {
    println!("resolved config:\n{}", gradlab::config::to_toml(cfg)?);
    let splits = sentiment::data::load(cfg)?;
    let out = train(cfg, backend, &splits, true)?;
    println!("\ntest: {}", out.test.to_text());
    println!("total {:.1} s", out.seconds);
    gradlab::runs::print_run_files(&out.model_dir, &out.run_dir, "curves.svg", false);
    Ok(())
}

/// `sentiment eval`: a saved model's figures on the test part of the split it was trained on.
fn eval_command(cfg: &SentimentConfig, backend: &ResolvedBackend, model: &ModelArg) -> Result<()> {
    let path = model.choose(&cfg.out_dir, MODEL_FILE)?;
    let classifier = load_classifier(&path, &backend.device)?;
    // Score on the split the model was trained on, so no test sentence was seen in training.
    let mut cfg = cfg.clone();
    if let Some(s) = classifier.split
        && (s.seed, s.limit) != (cfg.seed, cfg.limit)
    {
        println!(
            "note: the model was trained on the split of seed {} (limit {}); evaluating on that split's test part",
            s.seed, s.limit
        );
        cfg.seed = s.seed;
        cfg.limit = s.limit;
    }
    let splits = sentiment::data::load(&cfg)?;
    println!("data: {}", splits.description);
    let texts: Vec<&str> = splits.test.iter().map(|r| r.text.as_str()).collect();
    let labels: Vec<u8> = splits.test.iter().map(|r| r.label).collect();
    let set = classifier.encoder.encode_set(&texts, &labels);
    let m = sentiment::inference::evaluate(&classifier.model, &set, &backend.device)?;
    println!(
        "model {} ({:?}) on the test split:\n{}",
        path.display(),
        classifier.spec.kind,
        m.to_text()
    );
    Ok(())
}

/// `sentiment predict`: the texts given, or one per line of `file` or standard input; exit
/// status 1 when a line was skipped.
fn predict_command(
    cfg: &SentimentConfig,
    backend: &ResolvedBackend,
    model: &ModelArg,
    file: Option<&Path>,
    texts: &[String],
) -> Result<ExitCode> {
    let classifier = load_classifier(&model.choose(&cfg.out_dir, MODEL_FILE)?, &backend.device)?;
    if !texts.is_empty() {
        predict_texts(&classifier, texts, &backend.device)?;
        return Ok(ExitCode::SUCCESS);
    }
    let skipped = predict_lines(&classifier, file, &backend.device)?;
    Ok(if skipped > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
