//! Command-line options every gradlab binary shares, flattened into each crate's clap parser:
//! the config files and the backend overrides.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Origins;
use crate::{AdapterChoice, BackendName};

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
}

impl CommonArgs {
    /// The config: built-in defaults < `--config` files, then `--backend` / `--adapter` applied
    /// through `backend_of`, which gives access to the config's two backend fields; with where
    /// each value came from (for [`Origins::check`]).
    pub fn load<T>(
        &self,
        backend_of: impl FnOnce(&mut T) -> (&mut BackendName, &mut AdapterChoice),
    ) -> Result<(T, Origins)>
    where
        T: DeserializeOwned + Serialize + Default,
    {
        let (mut cfg, mut origins): (T, Origins) = crate::config::load_layers_traced(&self.config)?;
        let (backend, adapter) = backend_of(&mut cfg);
        if let Some(b) = self.backend {
            *backend = b;
            origins.set("backend", "--backend");
        }
        if let Some(a) = self.adapter {
            *adapter = a;
            origins.set("adapter", "--adapter");
        }
        Ok((cfg, origins))
    }
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

/// The flags among `(name, given)` pairs that were given.
pub fn given_flags<'a>(flags: &[(&'a str, bool)]) -> Vec<&'a str> {
    flags.iter().filter(|(_, on)| *on).map(|(f, _)| *f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_flags_before_another_subcommand_are_refused() {
        assert!(refuse_training_flags("eval", &[]).is_ok());
        let flags = given_flags(&[("--epochs", true), ("--lr", false), ("--seed", true)]);
        let e = refuse_training_flags("eval", &flags).unwrap_err().to_string();
        assert!(e.starts_with("--epochs, --seed cannot be used with `eval`"), "{e}");
    }
}
