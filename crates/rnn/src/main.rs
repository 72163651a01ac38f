//! `rnn`: the seed's forward pass, a character language model trained with BPTT, sampling,
//! and gradients through time. A thin CLI over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, ensure};
use burn::tensor::activation::tanh;
use burn::tensor::{Tensor, TensorData};
use clap::{Args, Parser, Subcommand};
use gradlab::cli::CommonArgs;
use gradlab::report::{Line, plot_lines};
use rnn::config::{Engine, RnnConfig};
use rnn::manual::{Params, normal};
use rnn::training::{load_model, train};

/// The seed's Elman RNN with backpropagation through time, on the backend a config names.
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

/// Most characters `sample` generates in one call.
const MAX_SAMPLE_LEN: usize = 1_000_000;
/// Longest sequence `gradients` follows back through time.
const MAX_GRADIENT_STEPS: usize = 100_000;
/// Most Whh scales `gradients` compares.
const MAX_SCALES: usize = 20;

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
        /// Model: a run folder, its model/ folder or model.json (default: the newest finished run, toys last).
        #[arg(long)]
        model: Option<PathBuf>,
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
        /// Model: a run folder, its model/ folder or model.json (default: the newest finished run, toys last).
        #[arg(long)]
        model: Option<PathBuf>,
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
}

/// Options every subcommand understands.
#[derive(Debug, Args)]
struct Common {
    #[command(flatten)]
    shared: CommonArgs,
    /// Folder for runs (overrides `out_dir`; sample finds the latest run there).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
}

/// Training options.
#[derive(Debug, Args, Default)]
struct TrainArgs {
    /// `manual` (hand BPTT, f64 CPU) or `burn` (autodiff on the backend) (overrides `engine`).
    #[arg(long, value_enum)]
    engine: Option<Engine>,
    /// Random seed (overrides `seed`).
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Passes over the training text (overrides `epochs`).
    #[arg(long, allow_negative_numbers = true)]
    epochs: Option<usize>,
    /// Parallel streams for the burn engine (overrides `batch_size`).
    #[arg(long, allow_negative_numbers = true)]
    batch_size: Option<usize>,
    /// Use only the first N characters (overrides `limit`).
    #[arg(long, allow_negative_numbers = true)]
    limit: Option<usize>,
    /// The corpus file (overrides `data_file`).
    #[arg(long)]
    data: Option<PathBuf>,
}

impl TrainArgs {
    /// These flags, with `other`'s filling the ones not given.
    fn or(&self, other: &TrainArgs) -> TrainArgs {
        TrainArgs {
            engine: self.engine.or(other.engine),
            seed: self.seed.or(other.seed),
            epochs: self.epochs.or(other.epochs),
            batch_size: self.batch_size.or(other.batch_size),
            limit: self.limit.or(other.limit),
            data: self.data.clone().or_else(|| other.data.clone()),
        }
    }

    /// The flags that were given.
    fn given(&self) -> Vec<&'static str> {
        gradlab::cli::given_flags(&[
            ("--engine", self.engine.is_some()),
            ("--seed", self.seed.is_some()),
            ("--epochs", self.epochs.is_some()),
            ("--batch-size", self.batch_size.is_some()),
            ("--limit", self.limit.is_some()),
            ("--data", self.data.is_some()),
        ])
    }
}

fn main() -> ExitCode {
    gradlab::startup();
    gradlab::exit_code(run(Cli::parse()))
}

fn resolve_config(cli: &Cli) -> Result<RnnConfig> {
    let (mut cfg, mut origins) = cli
        .common
        .shared
        .load(|c: &mut RnnConfig| (&mut c.backend, &mut c.adapter))?;
    gradlab::overrides!(cfg, origins; out_dir <- cli.common.out.clone() => "--out");
    let subcommand = match &cli.command {
        Some(Command::Forward { .. }) => Some("forward"),
        Some(Command::Sample { .. }) => Some("sample"),
        Some(Command::Gradients { .. }) => Some("gradients"),
        Some(Command::Eval { .. }) => Some("eval"),
        _ => None,
    };
    if let Some(name) = subcommand {
        gradlab::cli::refuse_training_flags(name, &cli.train.given())?;
    }
    match &cli.command {
        Some(Command::Train(_)) | None => {
            // Training flags may come before or after `train` (those after it win).
            let t = match &cli.command {
                Some(Command::Train(t)) => t.or(&cli.train),
                _ => cli.train.or(&TrainArgs::default()),
            };
            gradlab::overrides!(cfg, origins;
                engine <- t.engine,
                seed <- t.seed,
                epochs <- t.epochs,
                batch_size <- t.batch_size,
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
        Some(Command::Eval { .. }) => {}
    }
    origins.check(cfg.validate())?;
    Ok(cfg)
}

fn run(cli: Cli) -> Result<()> {
    let cfg = resolve_config(&cli)?;
    match cli.command {
        None | Some(Command::Train(_)) => {
            // The manual engine never touches a burn backend; resolving flex for it is free
            // (no GPU probing).
            let backend_cfg = match cfg.engine {
                Engine::Burn => cfg.backend_config(),
                Engine::Manual => gradlab::BackendConfig {
                    backend: gradlab::BackendName::Flex,
                    ..Default::default()
                },
            };
            let backend = gradlab::backend::resolve(&backend_cfg)?;
            match cfg.engine {
                Engine::Burn => println!("backend: {}", backend.describe()),
                Engine::Manual => println!(
                    "engine: manual (hand-derived BPTT, f64 on the CPU; `--engine burn` trains on the backend)"
                ),
            }
            println!("resolved config:\n{}", gradlab::config::to_toml(&cfg)?);
            let corpus = rnn::data::load_from(&rnn::data::find(&cfg.data_file), cfg.valid_fraction, cfg.limit)?;
            let out = train(&cfg, &backend, &corpus, true)?;
            let last = out.history.last().expect("at least one evaluation");
            println!(
                "\nvalidation loss {:.3} nats/char (smoothed training loss {:.3}/char) after {} characters; {:.0} chars/s; total {:.1} s",
                last.valid_loss_per_char, last.smooth_loss_per_char, last.chars, last.chars_per_second, out.seconds
            );
            let d = &out.run_dir;
            println!("model:   {}", out.model_dir.display());
            println!("metrics: {} (and metrics.json)", d.join("metrics.csv").display());
            println!("plot:    {}", d.join("loss.svg").display());
            println!("report:  {}", d.join("report.json").display());
        }
        Some(Command::Forward { .. }) => forward(&cfg)?,
        Some(Command::Sample {
            model,
            prime,
            len,
            temperature,
            ..
        }) => {
            ensure!(
                len <= MAX_SAMPLE_LEN,
                "--len {len} is out of range (allowed 0 ..= {MAX_SAMPLE_LEN} characters)"
            );
            let chosen = gradlab::runs::choose_model(model.as_deref(), &cfg.out_dir, "model/model.json")?;
            eprintln!("{}", chosen.describe());
            let path = chosen.path;
            let m = load_model(&path)?;
            let text = rnn::sample::sample(&m.params, &m.vocab, &prime, len, temperature, cfg.seed)?;
            println!("{text}");
        }
        Some(Command::Gradients { steps, scales, .. }) => gradients(&cfg, steps, &scales)?,
        Some(Command::Eval { model, text }) => eval_text(&cfg, model.as_deref(), &text)?,
    }
    Ok(())
}

/// The seed's forward step on burn tensors, column vectors as the seed writes them.
fn forward(cfg: &RnnConfig) -> Result<()> {
    let backend = gradlab::backend::resolve(&cfg.backend_config())?;
    println!("backend: {}", backend.describe());
    let d = &backend.device;
    let (input, hidden, output) = (2, 3, 2);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(cfg.seed);
    let mut draw = |rows: usize, cols: usize, sd: f64| -> Tensor<2> {
        let v: Vec<f32> = (0..rows * cols).map(|_| (sd * normal(&mut rng)) as f32).collect();
        Tensor::from_data(TensorData::new(v, [rows, cols]), d)
    };
    let wxh = draw(hidden, input, 0.01); // [3, 2]
    let whh = draw(hidden, hidden, 0.01); // [3, 3]
    let why = draw(output, hidden, 0.01); // [2, 3]
    let x = draw(input, 1, 1.0); // [2, 1]
    let h_prev: Tensor<2> = Tensor::zeros([hidden, 1], d); // [3, 1]
    let h = tanh(wxh.clone().matmul(x.clone()) + whh.clone().matmul(h_prev)); // [3, 1]
    let y = why.clone().matmul(h.clone()); // [2, 1]
    let show = |name: &str, t: &Tensor<2>| {
        let [r, c] = t.dims();
        let v: Vec<f32> = t.clone().into_data().iter::<f32>().collect();
        println!("{name} [{r}×{c}] = {v:.6?}");
    };
    show("Wxh", &wxh);
    show("Whh", &whh);
    show("Why", &why);
    show("x", &x);
    println!("h = tanh(Wxh·x + Whh·h_prev), h_prev = 0");
    show("h", &h);
    println!("y = Why·h");
    show("y", &y);
    Ok(())
}

/// Print and plot ‖∂L/∂h_t‖ through time.
fn gradients(cfg: &RnnConfig, steps: usize, scales: &[f64]) -> Result<()> {
    ensure!(
        (2..=MAX_GRADIENT_STEPS).contains(&steps),
        "--steps {steps} is out of range (allowed 2 ..= {MAX_GRADIENT_STEPS})"
    );
    ensure!(
        (1..=MAX_SCALES).contains(&scales.len()) && scales.iter().all(|s| s.is_finite() && *s >= 0.0),
        "--scales must be 1 to {MAX_SCALES} non-negative numbers"
    );
    let corpus = rnn::data::load_from(&rnn::data::find(&cfg.data_file), cfg.valid_fraction, cfg.limit)?;
    ensure!(
        corpus.valid.len() > steps,
        "--steps {steps} is longer than the validation text ({} characters)",
        corpus.valid.len()
    );
    let ids = &corpus.valid[..steps + 1];
    // Wxh and Why ~ N(0, 0.1²): inputs that move the state, outputs that give a real loss.
    let base = Params::random(cfg.hidden, corpus.vocab.len(), 0.1, cfg.seed);
    println!(
        "L = loss at the last of {steps} steps; hidden {}; Whh = s·G/√H, G ~ N(0,1); text: {:?}…",
        cfg.hidden,
        corpus.vocab.decode(&ids[..ids.len().min(40)])
    );
    let all: Vec<Vec<f64>> = scales
        .iter()
        .map(|&s| rnn::gradients::hidden_gradient_norms(&base, s, ids, cfg.seed))
        .collect();
    let offsets: Vec<usize> = [0, 1, 2, 5, 10, 20, 50, 99, 199, 499]
        .into_iter()
        .filter(|&k| k < steps)
        .collect();
    print!("{:>14}", "steps back k");
    for s in scales {
        print!("{:>14}", format!("s = {s}"));
    }
    println!();
    for &k in &offsets {
        print!("{k:>14}");
        for norms in &all {
            print!("{:>14.3e}", norms[steps - 1 - k]);
        }
        println!();
    }
    // A run folder of its own, so an earlier table and plot are never overwritten.
    let dir = gradlab::runs::new_run_dir(&cfg.out_dir.join("gradients"))?;
    let mut csv = String::from("steps_back");
    for s in scales {
        csv.push_str(&format!(",scale_{s}"));
    }
    csv.push('\n');
    for k in 0..steps {
        csv.push_str(&k.to_string());
        for norms in &all {
            csv.push_str(&format!(",{:.6e}", norms[steps - 1 - k]));
        }
        csv.push('\n');
    }
    gradlab::io::atomic_write(&dir.join("gradients.csv"), csv.as_bytes())?;
    let lines: Vec<Line> = scales
        .iter()
        .zip(&all)
        .map(|(s, norms)| {
            Line::new(
                format!("Whh scale {s}"),
                (0..steps)
                    .map(|k| (k as f64, norms[steps - 1 - k].max(1e-300)))
                    .collect(),
            )
        })
        .collect();
    let svg = dir.join("gradients.svg");
    plot_lines(
        &svg,
        "‖∂L/∂h_(T−k)‖ through time",
        "steps back k",
        "gradient norm (log)",
        &lines,
        true,
    )?;
    println!(
        "table: {}\nplot:  {}",
        dir.join("gradients.csv").display(),
        svg.display()
    );
    Ok(())
}

/// Largest text `eval --text` reads.
const MAX_EVAL_BYTES: u64 = 64 << 20;

/// `rnn eval --text FILE`: the model's loss on the file, with the characters it cannot read.
fn eval_text(cfg: &RnnConfig, model: Option<&Path>, file: &Path) -> Result<()> {
    let chosen = gradlab::runs::choose_model(model, &cfg.out_dir, "model/model.json")?;
    eprintln!("{}", chosen.describe());
    let m = load_model(&chosen.path)?;
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    ensure!(
        size <= MAX_EVAL_BYTES,
        "{}: {size} bytes is more than `eval --text` reads (at most {MAX_EVAL_BYTES})",
        file.display()
    );
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            file.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    let s = rnn::inference::score_text(&m.params, &m.vocab, &text);
    println!(
        "text: {} — {}, {} of them outside the model's vocabulary of {} ({:.2} %)",
        file.display(),
        gradlab::count(s.chars, "character"),
        s.unknown_total(),
        m.vocab.len(),
        100.0 * s.unknown_total() as f64 / s.chars.max(1) as f64
    );
    if !s.unknown.is_empty() {
        let shown: Vec<String> = s.unknown.iter().take(12).map(|(c, n)| format!("{c:?} ×{n}")).collect();
        println!(
            "not in the vocabulary: {}{} — not scored; the hidden state restarts after each ({} stretches of known text)",
            shown.join(", "),
            if s.unknown.len() > 12 {
                format!(" and {} more", s.unknown.len() - 12)
            } else {
                String::new()
            },
            s.stretches
        );
    }
    ensure!(
        s.scored > 0,
        "{}: no two neighbouring characters are both in the model's vocabulary: nothing to score",
        file.display()
    );
    println!(
        "loss: {:.4} nats/char ({:.4} bits/char) over {} predictions",
        s.nats_per_char,
        s.nats_per_char / std::f64::consts::LN_2,
        s.scored
    );
    Ok(())
}
