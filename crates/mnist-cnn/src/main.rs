//! `mnist-cnn`: train, evaluate and query the seed CNN. A thin CLI over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use burn::data::dataset::Dataset;
use clap::Subcommand;
use gradlab::cli::{ExportArgs, LoopFlags, ModelArg};
use gradlab::config::RunConfig;
use gradlab::exchange::FileKind;
use mnist_cnn::config::MnistConfig;
use mnist_cnn::data::DatasetName;
use mnist_cnn::exchange::{Layout, export_onnx, export_safetensors, import_run};
use mnist_cnn::inference::{LoadedModel, Predictor, load_model};
use mnist_cnn::preprocess::{Fit, read_digit_image};
use mnist_cnn::training::{TrainOptions, train};

/// The command line: `mnist-cnn [OPTIONS] [train|eval|predict]`.
type Cli = gradlab::cli::ModelCli<Command, TrainArgs>;

/// The about text (`--help`).
const ABOUT: &str = "Train the Keras seed CNN on MNIST digits with burn, on the backend a config names.

Training options go after `train` or, with no subcommand, directly (`mnist-cnn --epochs 3`).";

#[derive(Debug, Subcommand)]
enum Command {
    /// Train the model (the default).
    Train(TrainArgs),
    /// Evaluate a saved model on its own test split: accuracy and confusion matrix.
    Eval(ModelArg),
    /// Classify one digit: an image file, or an index into the model's test split.
    Predict {
        #[command(flatten)]
        model: ModelArg,
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
    /// Write a saved model's weights to a file other frameworks read.
    Export {
        #[command(flatten)]
        target: ExportArgs,
        /// File format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Safetensors)]
        format: ExportFormat,
        /// safetensors names and layouts: burn (gradlab's, the default), pytorch (the PyTorch
        /// seed model's state_dict, for `load_state_dict`) or keras (the Keras seed model's
        /// layers in order). Not for onnx (one graph, ONNX's own layouts).
        #[arg(long, value_enum)]
        layout: Option<Layout>,
    },
    /// Make a model from weights trained elsewhere (a new run folder), scored on the test split.
    Import {
        /// The file's kind: safetensors, or pytorch (a `torch.save(state_dict)` file).
        #[arg(long, value_enum)]
        from: FileKind,
        /// Its names and layouts: burn, pytorch or keras (default: pytorch for `--from pytorch`,
        /// else burn).
        #[arg(long, value_enum)]
        layout: Option<Layout>,
        /// The weights file.
        file: PathBuf,
    },
}

/// The formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    /// safetensors: named float32 arrays (read by PyTorch, Keras, JAX, burn, …).
    Safetensors,
    /// ONNX (opset 18): the whole model, weights included — input `images` [batch, 1, 28, 28],
    /// output `logits` [batch, 10] (read by onnxruntime and other ONNX runtimes).
    Onnx,
}

gradlab::train_flags! {
    /// Training options.
    struct TrainArgs {
        /// Data set (overrides `dataset`).
        #[arg(long, value_enum)]
        dataset: Option<DatasetName>,
        #[command(flatten)]
        shared: LoopFlags,
        /// Adam learning rate.
        #[arg(long, allow_negative_numbers = true)]
        lr: Option<f64>,
        /// Use only the first N training images.
        #[arg(long, allow_negative_numbers = true)]
        train_limit: Option<usize>,
        /// Use only the first N test images.
        #[arg(long, allow_negative_numbers = true)]
        test_limit: Option<usize>,
        /// Train data-parallel over these devices, e.g. `flex,flex`, `wgpu:0,wgpu:1` or two servers
        /// `ws://a:3000,ws://b:3000` (the first
        /// holds the model and optimizer; overrides `devices`).
        #[arg(long, value_delimiter = ',')]
        devices: Option<Vec<gradlab::parallel::DeviceSpec>>,
        /// Continue the latest run from its last checkpoint (a finished run continues into a new
        /// run folder).
        #[arg(long)]
        resume: bool,
    }
}

fn main() -> ExitCode {
    gradlab::startup();
    gradlab::exit_code(run(gradlab::parse_cli!(Cli, ABOUT)))
}

/// The config, and whether to resume (`--resume`).
fn resolve_config(cli: &Cli) -> Result<(MnistConfig, bool)> {
    let (mut cfg, mut origins, train): (MnistConfig, _, _) = cli.config(|c| match c {
        Command::Train(a) => Some(a),
        _ => None,
    })?;
    let train = train.unwrap_or_default();
    gradlab::overrides!(cfg, origins;
        dataset <- train.dataset,
        seed <- train.shared.seed,
        test_limit <- train.test_limit,
        epochs <- train.shared.epochs,
        batch_size <- train.shared.batch_size,
        learning_rate <- train.lr => "--lr",
        train_limit <- train.train_limit,
        devices <- train.devices,
    );
    origins.check(cfg.validate())?;
    if let Some(main) = cfg.devices.first() {
        // The first device is the run's backend.
        if cfg.backend != gradlab::BackendName::Auto && cfg.backend != main.backend {
            anyhow::bail!(
                "`backend` = {} and `devices` = [{}] disagree: the first device is the main one; leave `backend` out",
                cfg.backend,
                cfg.devices.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        cfg.backend = main.backend;
        cfg.adapter = main.adapter;
        if let Some(url) = &main.remote {
            cfg.remote_url = Some(url.clone());
        }
    }
    Ok((cfg, train.resume))
}

fn run(cli: Cli) -> Result<()> {
    let (cfg, resume) = resolve_config(&cli)?;
    match cli.command {
        None | Some(Command::Train(_)) => train_command(&cfg, resume),
        Some(Command::Eval(model)) => eval_command(&cfg, &model),
        Some(Command::Predict {
            model,
            image,
            fit,
            index,
        }) => predict_command(&cfg, &model, image.as_deref(), fit, index),
        Some(Command::Export {
            target: ExportArgs { model, file },
            format,
            layout,
        }) => export_command(&cfg, &model, &file, format, layout),
        Some(Command::Import { from, layout, file }) => import_command(&cfg, from, layout, &file),
    }
}

/// `mnist-cnn export`: the chosen model's weights (safetensors) or whole graph (onnx) in `file`.
fn export_command(
    cfg: &MnistConfig,
    model: &ModelArg,
    file: &Path,
    format: ExportFormat,
    layout: Option<Layout>,
) -> Result<()> {
    let path = model.choose(&cfg.out_dir, "model.bpk")?;
    let loaded = load_model(&path, &gradlab::backend::host_device())?;
    match (format, layout) {
        (ExportFormat::Safetensors, layout) => {
            let layout = layout.unwrap_or(Layout::Burn);
            export_safetensors(&loaded.model, layout, file)?;
            println!(
                "wrote {} (safetensors, {} layout) from {}",
                file.display(),
                layout.as_str(),
                loaded.path.display()
            );
        }
        (ExportFormat::Onnx, Some(layout)) => anyhow::bail!(
            "--layout {} is for safetensors files; an ONNX file holds the whole graph in ONNX's own layouts (leave --layout out)",
            layout.as_str()
        ),
        (ExportFormat::Onnx, None) => {
            let bytes = export_onnx(&loaded.model, &loaded.path, file)?;
            let about = gradlab::onnx::describe(file)?;
            println!(
                "wrote {} (ONNX opset {}, {bytes} bytes) from {}\n  input  {}\n  output {}",
                file.display(),
                about.opset,
                loaded.path.display(),
                about.inputs.iter().map(|p| p.line()).collect::<Vec<_>>().join(", "),
                about.outputs.iter().map(|p| p.line()).collect::<Vec<_>>().join(", "),
            );
        }
    }
    Ok(())
}

/// `mnist-cnn import`: the new model's run folder and its test figures.
fn import_command(cfg: &MnistConfig, from: FileKind, layout: Option<Layout>, file: &Path) -> Result<()> {
    let layout = layout.unwrap_or(match from {
        FileKind::Pytorch => Layout::Pytorch,
        FileKind::Safetensors => Layout::Burn,
    });
    let backend = gradlab::backend::resolve(&cfg.backend_config())?;
    println!("backend: {}", backend.describe());
    let out = import_run(cfg, &backend, file, from, layout)?;
    println!(
        "imported {} ({} file, {} layout): test accuracy {:.2}% (loss {:.4}) on {}",
        file.display(),
        from.as_str(),
        layout.as_str(),
        100.0 * out.test.accuracy,
        out.test.loss,
        gradlab::count(out.test.count, "image")
    );
    println!("model:   {}", out.model_path.display());
    println!("report:  {}", out.run_dir.join("report.json").display());
    Ok(())
}

/// `mnist-cnn [train]`: train, then the test figures and where the run's files are.
fn train_command(cfg: &MnistConfig, resume: bool) -> Result<()> {
    let backend = gradlab::backend::resolve(&cfg.backend_config())?;
    println!("backend: {}", backend.describe());
    println!("resolved config:\n{}", gradlab::config::to_toml(cfg)?);
    let splits = mnist_cnn::data::load(cfg)?;
    // The process-wide allocator setting is the binary's decision, not the library's
    // (see fastconv::memory): only fastconv's kernels gain from it.
    if cfg.fast_path && fastconv::is_fast(&backend.device) && fastconv::memory::keep_freed_memory() {
        println!("fast path: freed memory is kept for reuse (glibc malloc thresholds raised)");
    }
    let opts = TrainOptions { resume, verbose: true };
    let out = train(cfg, &backend, &splits, &opts)?;
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
    gradlab::runs::print_run_files(&out.model_path, &out.run_dir, "curves.svg", true);
    Ok(())
}

/// `mnist-cnn eval`: accuracy, loss and confusion matrix on the model's own test split.
fn eval_command(cfg: &MnistConfig, model: &ModelArg) -> Result<()> {
    let path = model.choose(&cfg.out_dir, "model.bpk")?;
    let backend = gradlab::backend::resolve(&cfg.backend_config())?;
    println!("backend: {}", backend.describe());
    let loaded = load_model(&path, &backend.device)?;
    let splits = model_test_split(&loaded, cfg)?;
    println!("data: {}", splits.description);
    let predictor = Predictor::new(&loaded.model, &backend.device)?;
    println!("forward: {}", predictor.path());
    let r = predictor.evaluate(splits.test, 256)?;
    println!(
        "model {}: accuracy {:.2}% (loss {:.4}) on {}\n",
        loaded.path.display(),
        100.0 * r.accuracy,
        r.loss,
        gradlab::count(r.count, "image")
    );
    print!("{}", r.confusion.to_table());
    Ok(())
}

/// `mnist-cnn predict`: the predicted digit and the ten probabilities as bars.
fn predict_command(
    cfg: &MnistConfig,
    model: &ModelArg,
    image: Option<&Path>,
    fit: Fit,
    index: Option<usize>,
) -> Result<()> {
    let path = model.choose(&cfg.out_dir, "model.bpk")?;
    let backend = gradlab::backend::resolve(&cfg.backend_config())?;
    println!("backend: {}", backend.describe());
    let loaded = load_model(&path, &backend.device)?;
    let (pixels, truth) = match (image, index) {
        (Some(file), _) => {
            let img = read_digit_image(file, fit)?;
            for note in &img.notes {
                println!("note: {}: {note}", file.display());
            }
            for warning in &img.warnings {
                eprintln!("warning: {}: {warning}", file.display());
            }
            (img.pixels, None)
        }
        (None, Some(i)) => {
            let splits = model_test_split(&loaded, cfg)?;
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
    let predictor = Predictor::new(&loaded.model, &backend.device)?;
    println!("forward: {}", predictor.path());
    let probs = predictor.predict(&pixels)?;
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
