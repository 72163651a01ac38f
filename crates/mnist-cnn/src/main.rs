//! `mnist-cnn`: train, evaluate and query the seed CNN. A thin CLI over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use burn::data::dataset::Dataset;
use clap::{Args, Parser, Subcommand};
use gradlab::cli::CommonArgs;
use mnist_cnn::config::MnistConfig;
use mnist_cnn::data::DatasetName;
use mnist_cnn::inference::{evaluate, load_model, predict, read_digit_image};
use mnist_cnn::training::{TrainOptions, train};

/// Train the Keras seed CNN on MNIST digits with burn, on the backend a config names.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train the model (the default).
    Train(TrainArgs),
    /// Evaluate a saved model on the test set: accuracy and confusion matrix.
    Eval {
        /// Model file (default: the latest run's model.bpk).
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Classify one digit: a PNG/PGM image, or an index into the test set.
    Predict {
        /// Model file (default: the latest run's model.bpk).
        #[arg(long)]
        model: Option<PathBuf>,
        /// A PNG or PGM image of one digit (resized to 28×28 when needed).
        #[arg(long, conflicts_with = "index", required_unless_present = "index")]
        image: Option<PathBuf>,
        /// An index into the test set.
        #[arg(long)]
        index: Option<usize>,
    },
}

/// Options every subcommand understands.
#[derive(Debug, Args)]
struct Common {
    #[command(flatten)]
    shared: CommonArgs,
    /// Data set (overrides the config).
    #[arg(long, global = true, value_enum)]
    dataset: Option<DatasetName>,
    /// Folder for runs (overrides `out_dir`).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// Random seed (overrides `seed`).
    #[arg(long, global = true)]
    seed: Option<u64>,
    /// Use only the first N test images.
    #[arg(long, global = true)]
    test_limit: Option<usize>,
}

/// Training options.
#[derive(Debug, Args, Default)]
struct TrainArgs {
    /// Epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Use only the first N training images.
    #[arg(long)]
    train_limit: Option<usize>,
    /// Continue the latest run from its last checkpoint.
    #[arg(long)]
    resume: bool,
}

impl TrainArgs {
    /// These flags, with `other`'s filling the ones not given.
    fn or(&self, other: &TrainArgs) -> TrainArgs {
        TrainArgs {
            epochs: self.epochs.or(other.epochs),
            batch_size: self.batch_size.or(other.batch_size),
            lr: self.lr.or(other.lr),
            train_limit: self.train_limit.or(other.train_limit),
            resume: self.resume || other.resume,
        }
    }
}

fn main() -> ExitCode {
    gradlab::exit_code(run(Cli::parse()))
}

fn resolve_config(common: &Common, train: &TrainArgs) -> Result<MnistConfig> {
    let mut cfg: MnistConfig = common
        .shared
        .load(|c: &mut MnistConfig| (&mut c.backend, &mut c.adapter))?;
    gradlab::overrides!(cfg;
        dataset <- common.dataset,
        out_dir <- common.out.clone(),
        seed <- common.seed,
        test_limit <- common.test_limit,
        epochs <- train.epochs,
        batch_size <- train.batch_size,
        learning_rate <- train.lr,
        train_limit <- train.train_limit,
    );
    cfg.validate()?;
    Ok(cfg)
}

fn run(cli: Cli) -> Result<()> {
    // Training flags may come before or after `train`; those after it win.
    let train_args = match &cli.command {
        Some(Command::Train(a)) => a.or(&cli.train),
        _ => cli.train.or(&TrainArgs::default()),
    };
    let train_args = &train_args;
    let cfg = resolve_config(&cli.common, train_args)?;
    let backend = gradlab::backend::resolve(&cfg.backend_config())?;
    println!("backend: {}", backend.describe());

    match cli.command {
        None | Some(Command::Train(_)) => {
            println!("resolved config:\n{}", gradlab::config::to_toml(&cfg)?);
            let splits = mnist_cnn::data::load(&cfg)?;
            let opts = TrainOptions {
                resume: train_args.resume,
                verbose: true,
            };
            let out = train(&cfg, &backend, &splits, &opts)?;
            println!(
                "\ntest accuracy {:.2}% (loss {:.4}) on {} images; total {:.1} s",
                100.0 * out.test.accuracy,
                out.test.loss,
                out.test.count,
                out.seconds
            );
            let d = &out.run_dir;
            println!("model:   {}", out.model_path.display());
            println!("config:  {}", d.join("config.toml").display());
            println!("metrics: {} (and metrics.json)", d.join("metrics.csv").display());
            println!("plot:    {}", d.join("curves.svg").display());
            println!("report:  {}", d.join("report.json").display());
        }
        Some(Command::Eval { model }) => {
            let path = model_path(model, &cfg)?;
            let model = load_model(&path, &backend.device)?;
            let splits = mnist_cnn::data::load(&cfg)?;
            println!("data: {}", splits.description);
            let r = evaluate(&model, splits.test, 256, &backend.device)?;
            println!(
                "model {}: accuracy {:.2}% (loss {:.4}) on {} images\n",
                path.display(),
                100.0 * r.accuracy,
                r.loss,
                r.count
            );
            print!("{}", r.confusion.to_table());
        }
        Some(Command::Predict { model, image, index }) => {
            let path = model_path(model, &cfg)?;
            let model = load_model(&path, &backend.device)?;
            let (pixels, truth) = match (image, index) {
                (Some(file), _) => {
                    let img = read_digit_image(&file)?;
                    for note in &img.notes {
                        println!("note: {}: {note}", file.display());
                    }
                    (img.pixels, None)
                }
                (None, Some(i)) => {
                    let splits = mnist_cnn::data::load(&cfg)?;
                    if i >= splits.test.len() {
                        bail!(
                            "--index {i} is out of range: the test set has {} images",
                            splits.test.len()
                        );
                    }
                    let item = splits.test.get(i)?;
                    (item.pixels, Some(item.label))
                }
                (None, None) => bail!("give --image FILE or --index N"),
            };
            let probs = predict(&model, &pixels, &backend.device)?;
            let best = (0..probs.len())
                .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
                .unwrap_or(0);
            match truth {
                Some(t) => println!("predicted digit: {best} (true label {t})"),
                None => println!("predicted digit: {best}"),
            }
            for (digit, p) in probs.iter().enumerate() {
                println!(
                    "  {digit}: {:>6.2}% {}",
                    100.0 * p,
                    "#".repeat((p * 40.0).round() as usize)
                );
            }
        }
    }
    Ok(())
}

fn model_path(given: Option<PathBuf>, cfg: &MnistConfig) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p),
        None => gradlab::runs::latest_file(&cfg.out_dir, "model.bpk"),
    }
}
