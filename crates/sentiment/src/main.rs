//! `sentiment`: train, evaluate and query the sentiment classifiers. A thin CLI over the library.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use gradlab::cli::CommonArgs;
use sentiment::config::SentimentConfig;
use sentiment::data::{SEED_QUERY, SEED_SENTENCES};
use sentiment::inference::{Classifier, load_classifier, predict_encoded};
use sentiment::model::ModelKind;
use sentiment::query::{Checked, check, read_lines};
use sentiment::training::{LoopSettings, fit, fit_encoder, train};

/// Sentiment of movie-review sentences with burn, on the backend a config names.
///
/// Training options go after `train` or, with no subcommand, directly.
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
    Eval {
        /// Model: a run folder, its model/ folder or model.json (default: the newest finished run, toys last).
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Probability and label of each text: given as arguments, or one per line from `--file`
    /// or standard input.
    Predict {
        /// Model: a run folder, its model/ folder or model.json (default: the newest finished run, toys last).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Read one text per line from this file (`-` for standard input).
        #[arg(long, conflicts_with = "texts")]
        file: Option<PathBuf>,
        /// Texts to classify (none: read standard input).
        texts: Vec<String>,
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
    /// Classifier to train: seed or nb-bigram (overrides `model`).
    #[arg(long, value_enum)]
    classifier: Option<ModelKind>,
    /// Random seed of split, weights and order (overrides `seed`).
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Epochs (overrides `epochs`).
    #[arg(long, allow_negative_numbers = true)]
    epochs: Option<usize>,
    /// Batch size (overrides `batch_size`).
    #[arg(long, allow_negative_numbers = true)]
    batch_size: Option<usize>,
    /// Adam learning rate (overrides `learning_rate`).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Use a stratified sample of N sentences (overrides `limit`).
    #[arg(long, allow_negative_numbers = true)]
    limit: Option<usize>,
}

impl TrainArgs {
    /// These flags, with `other`'s filling the ones not given.
    fn or(&self, other: &TrainArgs) -> TrainArgs {
        TrainArgs {
            classifier: self.classifier.or(other.classifier),
            seed: self.seed.or(other.seed),
            epochs: self.epochs.or(other.epochs),
            batch_size: self.batch_size.or(other.batch_size),
            lr: self.lr.or(other.lr),
            limit: self.limit.or(other.limit),
        }
    }

    /// The flags that were given.
    fn given(&self) -> Vec<&'static str> {
        gradlab::cli::given_flags(&[
            ("--classifier", self.classifier.is_some()),
            ("--seed", self.seed.is_some()),
            ("--epochs", self.epochs.is_some()),
            ("--batch-size", self.batch_size.is_some()),
            ("--lr", self.lr.is_some()),
            ("--limit", self.limit.is_some()),
        ])
    }
}

fn main() -> ExitCode {
    gradlab::startup();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => gradlab::exit_code(Err(e)),
    }
}

fn resolve_config(cli: &Cli) -> Result<SentimentConfig> {
    let (mut cfg, mut origins) = cli
        .common
        .shared
        .load(|c: &mut SentimentConfig| (&mut c.backend, &mut c.adapter))?;
    gradlab::overrides!(cfg, origins; out_dir <- cli.common.out.clone() => "--out");
    // Training flags may come before or after `train` (those after it win), and only there.
    let train = match &cli.command {
        Some(Command::Train(a)) => Some(a.or(&cli.train)),
        None => Some(cli.train.or(&TrainArgs::default())),
        Some(other) => {
            let name = match other {
                Command::Seed { .. } => "seed",
                Command::Eval { .. } => "eval",
                _ => "predict",
            };
            gradlab::cli::refuse_training_flags(name, &cli.train.given())?;
            if let Command::Seed { seed } = other {
                let seed = *seed;
                gradlab::overrides!(cfg, origins; seed <- seed);
            }
            None
        }
    };
    if let Some(t) = train {
        gradlab::overrides!(cfg, origins;
            model <- t.classifier => "--classifier",
            seed <- t.seed,
            epochs <- t.epochs,
            batch_size <- t.batch_size,
            learning_rate <- t.lr => "--lr",
            limit <- t.limit,
        );
    }
    origins.check(cfg.validate())?;
    Ok(cfg)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let cfg = resolve_config(&cli)?;
    let backend = gradlab::backend::resolve(&cfg.backend_config())?;
    // `predict` keeps stdout for its predictions (one line per input): the backend goes to stderr.
    if matches!(cli.command, Some(Command::Predict { .. })) {
        eprintln!("backend: {}", backend.describe());
    } else {
        println!("backend: {}", backend.describe());
    }
    match cli.command {
        None | Some(Command::Train(_)) => {
            println!("resolved config:\n{}", gradlab::config::to_toml(&cfg)?);
            let splits = sentiment::data::load(&cfg)?;
            let out = train(&cfg, &backend, &splits, true)?;
            println!("\ntest: {}", out.test.to_text());
            println!("total {:.1} s", out.seconds);
            let d = &out.run_dir;
            println!("model:   {}", out.model_dir.display());
            println!("metrics: {} (and metrics.json)", d.join("metrics.csv").display());
            println!("plot:    {}", d.join("curves.svg").display());
            println!("report:  {}", d.join("report.json").display());
        }
        Some(Command::Seed { .. }) => seed(&cfg, &backend)?,
        Some(Command::Eval { model }) => {
            let path = model_path(model, &cfg)?;
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
        }
        Some(Command::Predict { model, file, texts }) => {
            let path = model_path(model, &cfg)?;
            let classifier = load_classifier(&path, &backend.device)?;
            return predict(&classifier, file, texts, &backend.device);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The seed, end to end: fit the tokenizer on the five sentences, train 50 epochs, report.
/// Everything but the random seed and the backend is the seed's own (a config file's model
/// settings do not apply): Tokenizer(num_words=100, oov_token="<OOV>"), pad_sequences(maxlen=10,
/// post), Embedding(100, 16), mean pooling, Dense(24, relu), Dense(1, sigmoid), Adam 1e-3,
/// 50 epochs, batch 32.
fn seed(cfg: &SentimentConfig, backend: &gradlab::ResolvedBackend) -> Result<()> {
    let seed_cfg = SentimentConfig {
        model: ModelKind::Seed,
        num_words: 100,
        maxlen: 10,
        backend: cfg.backend,
        adapter: cfg.adapter,
        seed: cfg.seed,
        ..SentimentConfig::default()
    };
    let texts: Vec<&str> = SEED_SENTENCES.iter().map(|(t, _)| *t).collect();
    let labels: Vec<u8> = SEED_SENTENCES.iter().map(|(_, l)| *l).collect();
    let (encoder, spec) = fit_encoder(&seed_cfg, &texts, &labels);
    // Keras's Embedding(100, 16) has num_words rows, used or not.
    let spec = sentiment::model::ModelSpec {
        rows: seed_cfg.num_words,
        ..spec
    };
    let set = encoder.encode_set(&texts, &labels);
    for (t, row) in texts.iter().zip(set.ids.chunks(set.width)) {
        println!("{t:<34} → {row:?}");
    }
    let device = backend.device.clone().autodiff();
    let model = gradlab::seeded(&device, seed_cfg.seed, || spec.init(&device));
    let settings = LoopSettings {
        epochs: 50,
        batch_size: 32,
        learning_rate: 1e-3,
        l2: 0.0,
        restore_best: false,
        seed: seed_cfg.seed,
        verbose: false,
    };
    let (model, history) = fit(model, &set, None, &settings, &device)?;
    let last = history.last().context("no epoch ran")?;
    println!(
        "after 50 epochs: training loss {:.4}, training accuracy {:.0}%",
        last.train_loss,
        100.0 * last.train_accuracy
    );
    let q = encoder.encode(SEED_QUERY);
    let p = predict_encoded(
        &burn::module::Module::valid(&model),
        std::slice::from_ref(&q),
        &backend.device,
    )?[0];
    println!(
        "{SEED_QUERY:?} → {:?} → probability positive {p:.4} ({})",
        q.ids,
        label(p)
    );
    Ok(())
}

fn label(p: f32) -> &'static str {
    if p >= 0.5 { "positive" } else { "negative" }
}

fn print_prediction(p: f32, text: &str) {
    println!("{p:.4}\t{}\t{text}", label(p));
}

/// Predict texts from arguments (any rejected → error) or lines: one output line per input
/// line, in order, so scripts can pair them; a rejected line prints `-<TAB>skipped<TAB>text`
/// (the reason on stderr, naming the line) and the exit code is 1 at the end.
fn predict(
    classifier: &Classifier,
    file: Option<PathBuf>,
    texts: Vec<String>,
    device: &burn::tensor::Device,
) -> Result<ExitCode> {
    if !texts.is_empty() {
        let mut checked = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let c = check(&classifier.encoder, t).map_err(|why| anyhow::anyhow!("text {} {t:?}: {why}", i + 1))?;
            checked.push(c);
        }
        let probs = predict_checked(classifier, &checked, device)?;
        for (i, ((t, c), p)) in texts.iter().zip(&checked).zip(probs).enumerate() {
            for w in &c.warnings {
                eprintln!("warning: text {}: {w}", i + 1);
            }
            print_prediction(p, t);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (source, lines) = match file.as_deref() {
        None => ("<stdin>".to_string(), read_lines(std::io::stdin().lock())?),
        Some(p) if p.as_os_str() == "-" => ("<stdin>".to_string(), read_lines(std::io::stdin().lock())?),
        Some(p) => {
            let f = std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            (p.display().to_string(), read_lines(BufReader::new(f))?)
        }
    };
    let mut rejected = 0;
    let mut ok: Vec<(usize, &str, Checked)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let checked = line
            .as_deref()
            .map_err(Clone::clone)
            .and_then(|t| Ok((t, check(&classifier.encoder, t)?)));
        match checked {
            Ok((t, c)) => ok.push((i + 1, t, c)),
            Err(why) => {
                eprintln!("{source}:{}: skipped: {why}", i + 1);
                rejected += 1;
            }
        }
    }
    let checked: Vec<Checked> = ok.iter().map(|(_, _, c)| c.clone()).collect();
    let probs = predict_checked(classifier, &checked, device)?;
    let mut predicted = ok.iter().zip(probs).peekable();
    for (i, line) in lines.iter().enumerate() {
        match predicted.next_if(|((n, _, _), _)| *n == i + 1) {
            Some(((n, t, c), p)) => {
                for w in &c.warnings {
                    eprintln!("{source}:{n}: warning: {w}");
                }
                print_prediction(p, t);
            }
            None => {
                let text = line.as_deref().unwrap_or("");
                match text.char_indices().nth(200) {
                    Some((cut, _)) => println!("-\tskipped\t{}…", &text[..cut]),
                    None => println!("-\tskipped\t{text}"),
                }
            }
        }
    }
    if rejected > 0 {
        eprintln!("{rejected} line(s) of {source} skipped");
        return Ok(ExitCode::from(1));
    }
    if lines.is_empty() {
        bail!("{source}: no text to classify");
    }
    Ok(ExitCode::SUCCESS)
}

fn predict_checked(classifier: &Classifier, checked: &[Checked], device: &burn::tensor::Device) -> Result<Vec<f32>> {
    let enc: Vec<_> = checked.iter().map(|c| c.encoded.clone()).collect();
    predict_encoded(&classifier.model, &enc, device)
}

/// The model to use (`--model`: a run folder, its model/ folder or model.json; else the newest
/// finished run), named on stderr with when it was trained and its test accuracy.
fn model_path(given: Option<PathBuf>, cfg: &SentimentConfig) -> Result<PathBuf> {
    let chosen = gradlab::runs::choose_model(given.as_deref(), &cfg.out_dir, "model/model.json")?;
    eprintln!("{}", chosen.describe());
    Ok(chosen.path)
}
