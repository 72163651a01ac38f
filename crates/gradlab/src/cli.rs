//! Command-line options every gradlab binary shares, flattened into each crate's clap parser:
//! the config files and the backend overrides.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;
use serde::de::DeserializeOwned;

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
    /// through `backend_of`, which gives access to the config's two backend fields.
    pub fn load<T>(&self, backend_of: impl FnOnce(&mut T) -> (&mut BackendName, &mut AdapterChoice)) -> Result<T>
    where
        T: DeserializeOwned + Serialize + Default,
    {
        let mut cfg: T = crate::config::load_layers(&self.config)?;
        let (backend, adapter) = backend_of(&mut cfg);
        if let Some(b) = self.backend {
            *backend = b;
        }
        if let Some(a) = self.adapter {
            *adapter = a;
        }
        Ok(cfg)
    }
}

/// Apply command-line overrides to a config: `gradlab::overrides!(cfg; epochs <- args.epochs,
/// seed <- args.seed)` sets each field whose value is `Some`, leaving the others as the config
/// files said.
#[macro_export]
macro_rules! overrides {
    ($cfg:ident; $($field:ident <- $value:expr),* $(,)?) => {
        $( if let Some(v) = $value { $cfg.$field = v; } )*
    };
}
