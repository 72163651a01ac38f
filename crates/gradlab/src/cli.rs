//! The command line every gradlab binary shares: the config files, the backend overrides and
//! the runs folder ([`RunArgs`]), and for the model binaries the whole skeleton
//! ([`ModelCli`]): an optional subcommand, training flags that may come before or after
//! `train` ([`train_flags!`](crate::train_flags), [`ModelCli::training`]), and the binary's own
//! name, version and about text ([`parse_cli!`](crate::parse_cli)).

use std::path::PathBuf;

use crate::backend::RemoteUrl;
use crate::config::{Origins, RunConfig};
use crate::{AdapterChoice, BackendName};
use anyhow::Result;
use clap::{Args, CommandFactory, FromArgMatches, Subcommand};

/// `--config FILE…`, `--backend`, `--adapter`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// TOML config file(s), applied in order over the defaults.
    #[arg(short, long, global = true)]
    pub config: Vec<PathBuf>,
    /// Backend: auto, flex, ndarray, wgpu, vulkan (overrides the config).
    #[arg(long, global = true, value_enum)]
    pub backend: Option<BackendName>,
    /// wgpu/vulkan adapter: default, discrete[:N], integrated[:N], cpu (overrides the config).
    #[arg(long, global = true)]
    pub adapter: Option<AdapterChoice>,
    /// A gradlab-serve to run on, ws://HOST:PORT: means `--backend remote` unless `--backend` is
    /// given (overrides `remote_url`; its access token: `remote_token_file`, else
    /// $GRADLAB_REMOTE_TOKEN).
    #[arg(long, global = true, value_name = "ws://HOST:PORT")]
    pub remote: Option<RemoteUrl>,
}

/// [`CommonArgs`] and the runs folder: the options every subcommand of every binary understands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub shared: CommonArgs,
    /// Folder for runs: each run writes `<out>/run-NNN/`, and commands that read a model look
    /// there (overrides `out_dir`).
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
}

impl RunArgs {
    /// The config: built-in defaults < `--config` files < `--backend` / `--adapter` / `--remote` /
    /// `--out`;
    /// with where each value came from (for [`Origins::check`]).
    pub fn load<T: RunConfig>(&self) -> Result<(T, Origins)> {
        let (mut cfg, mut origins): (T, Origins) = crate::config::load_layers_traced(&self.shared.config)?;
        let fields = cfg.run_fields();
        if let Some(b) = self.shared.backend {
            *fields.backend = b;
            origins.set("backend", "--backend");
        }
        if let Some(a) = self.shared.adapter {
            *fields.adapter = a;
            origins.set("adapter", "--adapter");
        }
        if let Some(url) = &self.shared.remote {
            *fields.remote_url = Some(url.clone());
            origins.set("remote_url", "--remote");
            if self.shared.backend.is_none() {
                *fields.backend = BackendName::Remote;
                origins.set("backend", "--remote");
            }
        }
        if let Some(out) = &self.out {
            *fields.out_dir = out.clone();
            origins.set("out_dir", "--out");
        }
        Ok((cfg, origins))
    }
}

/// `--model`: the saved model a command reads.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ModelArg {
    /// Model: a run folder, or the model file or folder in it (default: the newest finished
    /// run, toys last).
    #[arg(long)]
    pub model: Option<PathBuf>,
}

impl ModelArg {
    /// The model file to read ([`crate::runs::choose_model`]: `--model`, else the newest
    /// finished run in `out_dir`; `file` is the model's path inside a run folder), named on
    /// stderr with when it was trained and its test figure.
    pub fn choose(&self, out_dir: &std::path::Path, file: &str) -> Result<PathBuf> {
        let chosen = crate::runs::choose_model(self.model.as_deref(), "--model", out_dir, file)?;
        eprintln!("{}", chosen.describe());
        Ok(chosen.path)
    }
}

/// `export`'s arguments: the saved model and the file to write.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// The file to write (an existing file is never overwritten).
    pub file: PathBuf,
}

/// No options: the default extra part of a [`ModelCli`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NoArgs {}

/// `--no-plot`, for the binaries whose files are optional (calculus, xor-backprop).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PlotArgs {
    /// Write nothing: no plots and no run folder.
    #[arg(long, global = true)]
    pub no_plot: bool,
}

/// The command line of a model binary: `binary [OPTIONS] [SUBCOMMAND]`, where the options are
/// the [`RunArgs`], the training flags `T` (also accepted after a `train` subcommand, see
/// [`ModelCli::training`]) and the binary's own extra options `X`. Parse it with
/// [`parse_cli!`](crate::parse_cli), which gives it the binary's name and about text.
#[derive(Debug, clap::Parser)]
pub struct ModelCli<C: Subcommand, T: Args + TrainFlags, X: Args = NoArgs> {
    #[command(subcommand)]
    pub command: Option<C>,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub extra: X,
    #[command(flatten)]
    pub train: T,
    /// The subcommand's name as typed (`None`: no subcommand).
    #[arg(skip)]
    pub subcommand: Option<String>,
}

impl<C: Subcommand, T: Args + TrainFlags, X: Args> ModelCli<C, T, X> {
    /// The config ([`RunArgs::load`]) with where each value came from, and the training flags
    /// in force ([`ModelCli::training`]), for the binary to apply.
    pub fn config<Cfg: RunConfig>(&self, train_of: impl FnOnce(&C) -> Option<&T>) -> Result<(Cfg, Origins, Option<T>)> {
        let (cfg, origins) = self.run.load()?;
        Ok((cfg, origins, self.training(train_of)?))
    }

    /// The training flags in force: with no subcommand, those given; with `train`
    /// (`train_of` returns its flags), those after it, filled in by those before it
    /// (`--epochs 3 train --lr 1e-3`); with any other subcommand `None`, and an error naming
    /// the flags if training flags were given (they would otherwise be silently ignored).
    pub fn training(&self, train_of: impl FnOnce(&C) -> Option<&T>) -> Result<Option<T>> {
        match &self.command {
            None => Ok(Some(self.train.or(&T::default()))),
            Some(c) => match train_of(c) {
                Some(after) => Ok(Some(after.or(&self.train))),
                None => {
                    let given = self.train.given();
                    let given: Vec<&str> = given.iter().map(String::as_str).collect();
                    refuse_training_flags(self.subcommand.as_deref().unwrap_or("this subcommand"), &given)?;
                    Ok(None)
                }
            },
        }
    }
}

/// Parse the process's arguments as a [`ModelCli`], under the binary's own name, version and
/// about text (the first paragraph of `doc` is the short help, all of it the long help). Prints
/// help, version or a usage error and exits as clap does. Use [`parse_cli!`](crate::parse_cli).
pub fn parse_as<C: Subcommand, T: Args + TrainFlags, X: Args>(
    name: &'static str,
    version: &'static str,
    doc: &'static str,
) -> ModelCli<C, T, X> {
    try_parse_as(name, version, doc, std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// [`parse_as`] on the given arguments (the first is the program), returning clap's error
/// (or its help/version "error") instead of exiting.
pub fn try_parse_as<C, T, X, I, A>(
    name: &'static str,
    version: &'static str,
    doc: &'static str,
    args: I,
) -> Result<ModelCli<C, T, X>, clap::Error>
where
    C: Subcommand,
    T: Args + TrainFlags,
    X: Args,
    I: IntoIterator<Item = A>,
    A: Into<std::ffi::OsString> + Clone,
{
    let first = doc.split("\n\n").next().unwrap_or(doc);
    // As clap's derive does with a doc comment: the short help drops the sentence's full stop.
    let about = first.strip_suffix('.').filter(|a| !a.ends_with('.')).unwrap_or(first);
    let mut cmd = ModelCli::<C, T, X>::command()
        .name(name)
        .bin_name(name)
        .version(version)
        .about(about);
    if first.len() < doc.len() {
        cmd = cmd.long_about(doc);
    }
    let mut matches = cmd.clone().try_get_matches_from(args)?;
    let subcommand = matches.subcommand_name().map(str::to_string);
    let mut parsed = ModelCli::<C, T, X>::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut cmd))?;
    parsed.subcommand = subcommand;
    Ok(parsed)
}

/// Parse the command line as the given [`ModelCli`] type under the calling binary's name and
/// version: `let cli = gradlab::parse_cli!(Cli, "Train …\n\nTraining options go after `train` …");`
#[macro_export]
macro_rules! parse_cli {
    ($ty:ty, $doc:expr) => {{
        let cli: $ty = $crate::cli::parse_as(env!("CARGO_BIN_NAME"), env!("CARGO_PKG_VERSION"), $doc);
        cli
    }};
}

/// A set of training flags, each `Option<_>` (given or not) or `bool` (a switch). Made by
/// [`train_flags!`](crate::train_flags).
pub trait TrainFlags: Default {
    /// These flags, with `other`'s filling the ones not given.
    fn or(&self, other: &Self) -> Self;
    /// The flags that were given, as typed (`--batch-size`).
    fn given(&self) -> Vec<String>;
}

/// One training flag's value (or a group of flags): given or not, and combined with another
/// occurrence.
pub trait Flag {
    /// This value if given, else `other`.
    fn or_flag(&self, other: &Self) -> Self;
    /// The flags given, as typed; `field` is the field's name (`batch_size` → `--batch-size`).
    fn given_as(&self, field: &str) -> Vec<String>;
}

/// `--field-name` of a field.
fn flag_name(field: &str) -> String {
    format!("--{}", field.replace('_', "-"))
}

impl<V: Clone> Flag for Option<V> {
    fn or_flag(&self, other: &Self) -> Self {
        self.clone().or_else(|| other.clone())
    }
    fn given_as(&self, field: &str) -> Vec<String> {
        self.iter().map(|_| flag_name(field)).collect()
    }
}

impl Flag for bool {
    fn or_flag(&self, other: &Self) -> Self {
        *self || *other
    }
    fn given_as(&self, field: &str) -> Vec<String> {
        if *self { vec![flag_name(field)] } else { Vec::new() }
    }
}

crate::train_flags! {
    /// The training-loop flags every model binary has.
    pub struct LoopFlags {
        /// Random seed of weights, data split and order (overrides `seed`).
        #[arg(long, allow_negative_numbers = true)]
        pub seed: Option<u64>,
        /// Passes over the training data (overrides `epochs`).
        #[arg(long, allow_negative_numbers = true)]
        pub epochs: Option<usize>,
        /// Items per training step (overrides `batch_size`).
        #[arg(long, allow_negative_numbers = true)]
        pub batch_size: Option<usize>,
    }
}

/// Flattened into a binary's own training flags (`#[command(flatten)] shared: LoopFlags`).
impl Flag for LoopFlags {
    fn or_flag(&self, other: &Self) -> Self {
        self.or(other)
    }
    fn given_as(&self, _field: &str) -> Vec<String> {
        self.given()
    }
}

/// A clap `Args` struct of training flags with its [`TrainFlags`] impl: every field is a
/// [`Flag`] and its flag is `--field-name`.
///
/// ```ignore
/// gradlab::train_flags! {
///     /// Training options.
///     struct TrainArgs {
///         /// Epochs.
///         #[arg(long)]
///         epochs: Option<usize>,
///     }
/// }
/// ```
#[macro_export]
macro_rules! train_flags {
    ($(#[$meta:meta])* $vis:vis struct $name:ident {
        $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, clap::Args)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty),*
        }

        impl $crate::cli::TrainFlags for $name {
            fn or(&self, other: &Self) -> Self {
                Self { $($field: $crate::cli::Flag::or_flag(&self.$field, &other.$field)),* }
            }
            fn given(&self) -> Vec<String> {
                let mut given = Vec::new();
                $(given.extend($crate::cli::Flag::given_as(&self.$field, stringify!($field)));)*
                given
            }
        }
    };
}

/// Apply command-line overrides to a config and record them in its [`Origins`]:
/// `gradlab::overrides!(cfg, origins; epochs <- args.epochs, learning_rate <- args.lr => "--lr")`
/// sets each field whose value is `Some`, leaving the others as the config files said. The flag
/// is `--field-name` unless `=> "--flag"` names it.
#[macro_export]
macro_rules! overrides {
    ($cfg:ident, $origins:ident; $($field:ident <- $value:expr $(=> $flag:literal)?),* $(,)?) => {
        $(
            if let Some(v) = $value {
                $cfg.$field = v;
                #[allow(unused_mut, unused_assignments)]
                let mut flag = format!("--{}", stringify!($field).replace('_', "-"));
                $( flag = $flag.to_string(); )?
                $origins.set(stringify!($field), flag);
            }
        )*
    };
}

/// Refuse training flags (`given`: the flags set, e.g. `["--epochs"]`) given before a
/// subcommand that does not train: they would otherwise be accepted and ignored.
pub fn refuse_training_flags(subcommand: &str, given: &[&str]) -> Result<()> {
    if given.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{} cannot be used with `{subcommand}`: training options act only on `train` (or with no subcommand)",
        given.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::train_flags! {
        /// Test flags.
        struct Flags {
            /// A value.
            #[arg(long)]
            learning_rate: Option<f64>,
            #[command(flatten)]
            shared: LoopFlags,
            /// A switch.
            #[arg(long)]
            resume: bool,
        }
    }

    #[derive(Debug, clap::Subcommand)]
    enum Cmd {
        /// Train.
        Train(Flags),
        /// Evaluate.
        Eval,
    }

    type Cli = ModelCli<Cmd, Flags>;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let args = std::iter::once("tool").chain(args.iter().copied());
        try_parse_as("tool", "1.2.3", "Does things.\n\nLonger text.", args)
    }

    fn training(cli: &Cli) -> Result<Option<Flags>> {
        cli.training(|c| match c {
            Cmd::Train(f) => Some(f),
            Cmd::Eval => None,
        })
    }

    #[test]
    fn training_flags_after_train_win_over_those_before() {
        let before = ["--epochs", "3", "--batch-size", "8", "--learning-rate", "0.5"];
        let cli = parse(&[&before[..], &["train", "--epochs", "5", "--resume"]].concat()).unwrap();
        let t = training(&cli).unwrap().unwrap();
        let figures = (t.learning_rate, t.shared.epochs, t.shared.batch_size, t.resume);
        assert_eq!(figures, (Some(0.5), Some(5), Some(8), true));
        assert_eq!(t.given(), ["--learning-rate", "--epochs", "--batch-size", "--resume"]);
        let t = training(&parse(&["--batch-size", "4"]).unwrap()).unwrap().unwrap();
        let figures = (t.learning_rate, t.shared.epochs, t.shared.batch_size, t.resume);
        assert_eq!(figures, (None, None, Some(4), false));
    }

    #[test]
    fn training_flags_before_another_subcommand_name_it() {
        let cli = parse(&["--batch-size", "4", "eval"]).unwrap();
        assert_eq!(cli.subcommand.as_deref(), Some("eval"));
        let e = training(&cli).unwrap_err().to_string();
        assert!(e.starts_with("--batch-size cannot be used with `eval`"), "{e}");
        assert!(training(&parse(&["eval"]).unwrap()).unwrap().is_none());
    }

    #[test]
    fn the_binary_gets_its_own_name_version_and_about() {
        let help = parse(&["-h"]).unwrap_err().to_string();
        assert!(help.starts_with("Does things\n"), "{help}");
        assert!(help.contains("Usage: tool [OPTIONS] [COMMAND]"), "{help}");
        let long = parse(&["--help"]).unwrap_err().to_string();
        assert!(long.starts_with("Does things.\n\nLonger text."), "{long}");
        assert!(parse(&["-V"]).unwrap_err().to_string().contains("tool 1.2.3"));
        let sub = parse(&["train", "--help"]).unwrap_err().to_string();
        assert!(sub.contains("Usage: tool train [OPTIONS]"), "{sub}");
    }

    /// A config with the keys every binary's config has.
    #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
    struct Cfg {
        backend: BackendName,
        adapter: AdapterChoice,
        remote_url: Option<RemoteUrl>,
        remote_token_file: Option<PathBuf>,
        out_dir: PathBuf,
    }
    crate::run_config!(Cfg);

    #[test]
    fn out_overrides_the_configs_folder_and_is_recorded() {
        let cli = parse(&["--out", "elsewhere", "--backend", "ndarray", "eval"]).unwrap();
        let (cfg, origins): (Cfg, _) = cli.run.load().unwrap();
        assert_eq!(cfg.backend, BackendName::Ndarray);
        assert_eq!(origins.of("backend"), "--backend");
        assert_eq!(cfg.out_dir, PathBuf::from("elsewhere"));
        assert_eq!(origins.of("out_dir"), "--out");
        assert!(cfg.backend_config().remote.is_none());
    }

    #[test]
    fn remote_means_the_remote_backend_unless_backend_is_given() {
        let cli = parse(&["--remote", "ws://127.0.0.1:3000", "eval"]).unwrap();
        let (cfg, origins): (Cfg, _) = cli.run.load().unwrap();
        assert_eq!(cfg.backend, BackendName::Remote);
        assert_eq!(origins.of("backend"), "--remote");
        assert_eq!(origins.of("remote_url"), "--remote");
        let spec = cfg.backend_config().remote.unwrap();
        assert_eq!(spec.url.as_str(), "ws://127.0.0.1:3000");
        let cli = parse(&["--remote", "ws://h:1", "--backend", "flex"]).unwrap();
        let (cfg, _): (Cfg, _) = cli.run.load().unwrap();
        assert_eq!(cfg.backend, BackendName::Flex);
        let e = parse(&["--remote", "http://h:1"]).unwrap_err().to_string();
        assert!(e.contains("bad remote URL `http://h:1`: must start with ws://"), "{e}");
    }

    #[test]
    fn training_flags_before_another_subcommand_are_refused() {
        assert!(refuse_training_flags("eval", &[]).is_ok());
        let e = refuse_training_flags("eval", &["--epochs", "--seed"])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--epochs, --seed cannot be used with `eval`"), "{e}");
    }
}
