//! `gradlab-serve`: host this machine's devices for Burn's remote backend, so that gradlab runs
//! elsewhere (`--backend remote --remote ws://HOST:PORT`) train on them. See the crate README.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use gradlab::config::load_layers_traced;
use gradlab::{AdapterChoice, BackendConfig, BackendName};
use serde::{Deserialize, Serialize};

/// The environment variable holding the access token when no `token_file` is given.
const TOKEN_ENV: &str = "GRADLAB_SERVE_TOKEN";
/// How to give the token, for the message that refuses an address without one.
const TOKEN_HINT: &str = "--token-file FILE or $GRADLAB_SERVE_TOKEN";

/// Host this machine's devices for Burn's remote backend: gradlab runs elsewhere train on them.
///
/// Prints the adapter it serves and the address it listens on; Ctrl-C or SIGTERM stops it.
/// Only loopback (127.0.0.1) without an access token: for another address, give a token
/// (`--token-file FILE` or $GRADLAB_SERVE_TOKEN) — or keep loopback and reach it through an SSH
/// tunnel.
#[derive(Debug, Parser)]
#[command(name = "gradlab-serve", version)]
struct Cli {
    /// TOML config file(s), applied in order over the defaults (configs/serve.toml lists them).
    #[arg(short, long)]
    config: Vec<PathBuf>,
    /// The backend to serve: flex, ndarray, wgpu, vulkan or auto (overrides `backend`).
    #[arg(long, value_enum)]
    backend: Option<BackendName>,
    /// wgpu/vulkan adapter: default, discrete[:N], integrated[:N], cpu (overrides `adapter`).
    #[arg(long)]
    adapter: Option<AdapterChoice>,
    /// Address to listen on, e.g. 127.0.0.1:3000 (port 0: any free port; overrides `listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// A file whose first line is the access token clients must present (else
    /// $GRADLAB_SERVE_TOKEN; never a flag value; overrides `token_file`).
    #[arg(long)]
    token_file: Option<PathBuf>,
}

/// gradlab-serve's configuration (`configs/serve.toml` holds these defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ServeConfig {
    backend: BackendName,
    adapter: AdapterChoice,
    listen: SocketAddr,
    token_file: Option<PathBuf>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            backend: BackendName::Flex,
            adapter: AdapterChoice::Default,
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            token_file: None,
        }
    }
}

fn main() -> ExitCode {
    gradlab::startup();
    gradlab::exit_code(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<()> {
    let (mut cfg, origins): (ServeConfig, _) = load_layers_traced(&cli.config)?;
    cfg.backend = cli.backend.unwrap_or(cfg.backend);
    cfg.adapter = cli.adapter.unwrap_or(cfg.adapter);
    cfg.listen = cli.listen.unwrap_or(cfg.listen);
    if cli.token_file.is_some() {
        cfg.token_file = cli.token_file.clone();
    }
    if cfg.backend == BackendName::Remote {
        let from = if cli.backend.is_some() {
            "--backend".to_string()
        } else {
            origins.of("backend")
        };
        bail!(
            "{from}: gradlab-serve serves this machine's devices; `remote` is not one (choose flex, ndarray, wgpu, vulkan or auto)"
        );
    }
    let flag = if cli.token_file.is_some() {
        "--token-file"
    } else {
        "token_file"
    };
    let token = gradlab::token::read(cfg.token_file.as_deref(), flag, TOKEN_ENV)?;
    // Before the devices start: a refused address costs nothing.
    gradlab::remote::check_exposure(cfg.listen, token.is_some(), TOKEN_HINT)?;
    let backend = gradlab::backend::resolve(&BackendConfig::local(cfg.backend, cfg.adapter))?;
    let server = gradlab::remote::Server::new(cfg.listen, &backend, token.as_deref(), TOKEN_HINT)
        .with_context(|| format!("--listen {}", cfg.listen))?;
    let addr = server.addr()?;
    eprintln!(
        "gradlab-serve {}: serving {}",
        env!("CARGO_PKG_VERSION"),
        backend.describe()
    );
    eprintln!(
        "gradlab-serve: {}; Ctrl-C stops it",
        if token.is_some() {
            "clients must present the access token"
        } else {
            "no access token (loopback only)"
        }
    );
    // The one stdout line, for scripts: where to point `--remote`.
    println!("gradlab-serve: listening on ws://{addr} (clients: --remote ws://{addr})");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    rt.block_on(server.run(gradlab::signal::shutdown()))?;
    rt.shutdown_background();
    eprintln!("gradlab-serve: stopped");
    Ok(())
}
