//! `mnist-cnn`: train, evaluate and query the seed CNN. A thin CLI over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use burn::data::dataset::Dataset;
use clap::{Args, Parser, Subcommand};
use gradlab::cli::CommonArgs;
use mnist_cnn::config::MnistConfig;
use mnist_cnn::data::DatasetName;
use mnist_cnn::inference::{LoadedModel, evaluate, load_model, predict};
use mnist_cnn::preprocess::{Fit, read_digit_image};
use mnist_cnn::training::{TrainOptions, train};

/// Train the Keras seed CNN on MNIST digits with burn, on the backend a config names.
///
/// Training options go after `train` or, with no subcommand, directly (`mnist-cnn --epochs 3`).
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
    /// Evaluate a saved model on its own test split: accuracy and confusion matrix.
    Eval {
        /// Model: a run folder or its model.bpk (default: the newest finished run, toys last).
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Classify one digit: an image file, or an index into the model's test split.
    Predict {
        /// Model: a run folder or its model.bpk (default: the newest finished run, toys last).
        #[arg(long)]
        model: Option<PathBuf>,
        /// An image of one digit: PNG, JPEG, BMP or PGM/PPM, any size, either polarity.
        #[arg(long, conflicts_with = "index", required_unless_present = "index")]
        image: Option<PathBuf>,
        /// How an image becomes 28×28: auto (28×28 as is, else mnist), mnist (crop to the
        /// digit, fit 20×20, centre by mass, as MNIST was made) or resize (the whole image).
        #[arg(long, value_enum, default_value_t = Fit::Auto, requires = "image")]
        fit: Fit,
        /// An index into the model's test split.
        #[arg(long, allow_negative_numbers = true)]
        index: Option<usize>,
    },
}

/// Options every subcommand understands.
#[derive(Debug, Args)]
struct Common {
    #[command(flatten)]
    shared: CommonArgs,
    /// Folder for runs (overrides `out_dir`; eval and predict find the latest run there).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
}

/// Training options.
#[derive(Debug, Args, Default)]
struct TrainArgs {
    /// Data set (overrides `dataset`).
    #[arg(long, value_enum)]
    dataset: Option<DatasetName>,
    /// Random seed of weights, split and data order (overrides `seed`).
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Epochs.
    #[arg(long, allow_negative_numbers = true)]
    epochs: Option<usize>,
    /// Batch size.
    #[arg(long, allow_negative_numbers = true)]
    batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Use only the first N training images.
    #[arg(long, allow_negative_numbers = true)]
    train_limit: Option<usize>,
    /// Use only the first N test images.
    #[arg(long, allow_negative_numbers = true)]
    test_limit: Option<usize>,
    /// Continue the latest run from its last checkpoint (a finished run continues into a new
    /// run folder).
    #[arg(long)]
    resume: bool,
}

impl TrainArgs {
    /// These flags, with `other`'s filling the ones not given (`--epochs 3 train --lr 1e-3`).
    fn or(&self, other: &TrainArgs) -> TrainArgs {
        TrainArgs {
            dataset: self.dataset.or(other.dataset),
            seed: self.seed.or(other.seed),
            epochs: self.epochs.or(other.epochs),
            batch_size: self.batch_size.or(other.batch_size),
            lr: self.lr.or(other.lr),
            train_limit: self.train_limit.or(other.train_limit),
            test_limit: self.test_limit.or(other.test_limit),
            resume: self.resume || other.resume,
        }
    }

    /// The flags that were given.
    fn given(&self) -> Vec<&'static str> {
        gradlab::cli::given_flags(&[
            ("--dataset", self.dataset.is_some()),
            ("--seed", self.seed.is_some()),
            ("--epochs", self.epochs.is_some()),
            ("--batch-size", self.batch_size.is_some()),
            ("--lr", self.lr.is_some()),
            ("--train-limit", self.train_limit.is_some()),
            ("--test-limit", self.test_limit.is_some()),
            ("--resume", self.resume),
        ])
    }
}

fn main() -> ExitCode {
    gradlab::startup();
    gradlab::exit_code(run(Cli::parse()))
}

fn resolve_config(common: &Common, train: &TrainArgs) -> Result<MnistConfig> {
    let (mut cfg, mut origins) = common
        .shared
        .load(|c: &mut MnistConfig| (&mut c.backend, &mut c.adapter))?;
    gradlab::overrides!(cfg, origins;
        out_dir <- common.out.clone() => "--out",
        dataset <- train.dataset,
        seed <- train.seed,
        test_limit <- train.test_limit,
        epochs <- train.epochs,
        batch_size <- train.batch_size,
        learning_rate <- train.lr => "--lr",
        train_limit <- train.train_limit,
    );
    origins.check(cfg.validate())?;
    Ok(cfg)
}

fn run(cli: Cli) -> Result<()> {
    // Training flags may come before or after `train` (those after it win), and only there.
    let train_args = match &cli.command {
        Some(Command::Train(a)) => a.or(&cli.train),
        None => cli.train.or(&TrainArgs::default()),
        Some(Command::Eval { .. }) => {
            gradlab::cli::refuse_training_flags("eval", &cli.train.given())?;
            TrainArgs::default()
        }
        Some(Command::Predict { .. }) => {
            gradlab::cli::refuse_training_flags("predict", &cli.train.given())?;
            TrainArgs::default()
        }
    };
    let cfg = resolve_config(&cli.common, &train_args)?;
    let resume = train_args.resume;

    match cli.command {
        None | Some(Command::Train(_)) => {
            let backend = gradlab::backend::resolve(&cfg.backend_config())?;
            println!("backend: {}", backend.describe());
            println!("resolved config:\n{}", gradlab::config::to_toml(&cfg)?);
            let splits = mnist_cnn::data::load(&cfg)?;
            let opts = TrainOptions { resume, verbose: true };
            let out = train(&cfg, &backend, &splits, &opts)?;
            println!(
                "\ntest accuracy {:.2}% (loss {:.4}) on {}; total {:.1} s",
                100.0 * out.test.accuracy,
                out.test.loss,
                gradlab::count(out.test.count, "image"),
                out.seconds
            );
            if let Some(w) = gradlab::guard::chance_warning(out.test.loss, (10f64).ln(), cfg.learning_rate) {
                eprintln!("warning: {w}");
            }
            let d = &out.run_dir;
            println!("model:   {}", out.model_path.display());
            println!("config:  {}", d.join("config.toml").display());
            println!("metrics: {} (and metrics.json)", d.join("metrics.csv").display());
            println!("plot:    {}", d.join("curves.svg").display());
            println!("report:  {}", d.join("report.json").display());
        }
        Some(Command::Eval { model }) => {
            let path = model_path(model, &cfg)?;
            let backend = gradlab::backend::resolve(&cfg.backend_config())?;
            println!("backend: {}", backend.describe());
            let loaded = load_model(&path, &backend.device)?;
            let splits = model_test_split(&loaded, &cfg)?;
            println!("data: {}", splits.description);
            let r = evaluate(&loaded.model, splits.test, 256, &backend.device)?;
            println!(
                "model {}: accuracy {:.2}% (loss {:.4}) on {}\n",
                loaded.path.display(),
                100.0 * r.accuracy,
                r.loss,
                gradlab::count(r.count, "image")
            );
            print!("{}", r.confusion.to_table());
        }
        Some(Command::Predict {
            model,
            image,
            fit,
            index,
        }) => {
            let path = model_path(model, &cfg)?;
            let backend = gradlab::backend::resolve(&cfg.backend_config())?;
            println!("backend: {}", backend.describe());
            let loaded = load_model(&path, &backend.device)?;
            let (pixels, truth) = match (image, index) {
                (Some(file), _) => {
                    let img = read_digit_image(&file, fit)?;
                    for note in &img.notes {
                        println!("note: {}: {note}", file.display());
                    }
                    for warning in &img.warnings {
                        eprintln!("warning: {}: {warning}", file.display());
                    }
                    (img.pixels, None)
                }
                (None, Some(i)) => {
                    let splits = model_test_split(&loaded, &cfg)?;
                    if i >= splits.test.len() {
                        bail!(
                            "--index {i} is out of range: the model's test split has {} images",
                            splits.test.len()
                        );
                    }
                    let item = splits.test.get(i)?;
                    (item.pixels, Some(item.label))
                }
                (None, None) => bail!("give --image FILE or --index N"),
            };
            let probs = predict(&loaded.model, &pixels, &backend.device)?;
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

/// The data `loaded` was trained on, split as in its training run (whatever the current
/// config says about data set, seed and limits); a note names each setting that differs.
fn model_test_split(loaded: &LoadedModel, cfg: &MnistConfig) -> Result<mnist_cnn::data::Splits> {
    let (eval_cfg, changed) = loaded.info.eval_config(cfg);
    if !changed.is_empty() {
        println!(
            "note: scoring the model on the test split it was trained with: {}",
            changed.join(", ")
        );
    }
    mnist_cnn::data::load(&eval_cfg)
}

/// The model to use (`--model`: a run folder or its model.bpk; else the newest finished run),
/// named on stderr with when it was trained and its test accuracy.
fn model_path(given: Option<PathBuf>, cfg: &MnistConfig) -> Result<PathBuf> {
    let chosen = gradlab::runs::choose_model(given.as_deref(), &cfg.out_dir, "model.bpk")?;
    eprintln!("{}", chosen.describe());
    Ok(chosen.path)
}
