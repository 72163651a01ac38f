//! `gradlab-web`: serve the page and the API (see the crate README), or `gradlab-web load` to
//! measure it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gradlab::{AdapterChoice, BackendConfig, BackendName};
use gradlab_web::load;
use gradlab_web::models::{AppState, LoadOptions};
use gradlab_web::server::{self, DEFAULT_LISTEN, Running};

/// A web page for gradlab's trained models: draw a digit, type a review, browse the runs.
#[derive(Debug, Parser)]
#[command(name = "gradlab-web", version)]
struct Cli {
    /// Address to listen on; anything but loopback needs an access token.
    #[arg(long, default_value = DEFAULT_LISTEN, global = true)]
    listen: SocketAddr,
    /// The runs folder holding mnist-cnn/, sentiment/, … (relative: from the current folder).
    #[arg(long, default_value = "runs", global = true)]
    runs: PathBuf,
    /// The digit model: a run folder or its model.bpk (default: the newest finished mnist-cnn run).
    #[arg(long, global = true)]
    mnist_model: Option<PathBuf>,
    /// The sentiment model: a run folder or its model folder (default: the newest finished run).
    #[arg(long, global = true)]
    sentiment_model: Option<PathBuf>,
    /// Backend for inference: auto, flex, ndarray, wgpu, vulkan.
    #[arg(long, value_enum, default_value = "auto", global = true)]
    backend: BackendName,
    /// wgpu/vulkan adapter: default, discrete[:N], integrated[:N], cpu.
    #[arg(long, default_value = "default", global = true)]
    adapter: AdapterChoice,
    /// A file whose first line is the access token (else $GRADLAB_WEB_TOKEN; never a flag value).
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the server: requests from concurrent clients, each time-limited; prints latency
    /// percentiles and requests/s. Without --url it starts its own server on a free loopback port.
    Load {
        /// A running server, e.g. http://127.0.0.1:8080 (default: start one here).
        #[arg(long)]
        url: Option<String>,
        /// Requests in all (half digits, half reviews).
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Each request's time limit, seconds.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
}

fn main() -> ExitCode {
    gradlab::startup();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => gradlab::exit_code(Err(e)),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let token = server::read_token(cli.token_file.as_deref())?;
    let backend = gradlab::backend::resolve(&BackendConfig::local(cli.backend, cli.adapter))?;
    let opts = LoadOptions {
        backend,
        runs_dir: cli.runs.clone(),
        mnist_model: cli.mnist_model.clone(),
        sentiment_model: cli.sentiment_model.clone(),
        token: token.clone(),
    };
    match cli.command {
        None => serve(cli.listen, opts),
        Some(Command::Load {
            url,
            requests,
            clients,
            timeout,
        }) => {
            anyhow::ensure!(
                timeout.is_finite() && timeout > 0.0,
                "--timeout {timeout}: give a positive number of seconds"
            );
            anyhow::ensure!(
                requests > 0 && clients > 0,
                "--requests and --clients must be at least 1"
            );
            let (base_url, own) = match url {
                Some(u) => {
                    anyhow::ensure!(
                        u.starts_with("http://") && u.len() > "http://".len(),
                        "--url {u}: give the server's address as http://HOST:PORT"
                    );
                    (u.trim_end_matches('/').to_string(), None)
                }
                None => {
                    let state = AppState::load(opts)?;
                    println!("inference: {}", state.backend.describe());
                    let r = Running::start(state, "127.0.0.1:0".parse()?)?;
                    (r.url(), Some(r))
                }
            };
            let plan = load::Plan {
                base_url: base_url.clone(),
                requests,
                clients,
                timeout: Duration::from_secs_f64(timeout),
                kinds: load::page_requests(),
                token,
            };
            println!(
                "load: {requests} requests (a drawn digit and a review in turn) from {clients} clients to {base_url}"
            );
            let report = load::run(&plan);
            println!("{}", report.line());
            if let Some(r) = own {
                r.stop()?;
            }
            Ok(if report.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn serve(listen: SocketAddr, opts: LoadOptions) -> Result<ExitCode> {
    if let Some(warning) = server::check_exposure(listen, opts.token.as_deref())? {
        eprintln!("{warning}");
    }
    let state = AppState::load(opts)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| format!("--listen {listen}: cannot listen there"))?;
    let addr = listener.local_addr()?;
    println!("gradlab-web {}: http://{addr}/", env!("CARGO_PKG_VERSION"));
    println!("inference: {}", state.backend.describe());
    for (what, slot) in [
        ("digits", state.mnist.as_ref().map(|m| m.describe.clone())),
        ("sentiment", state.sentiment.as_ref().map(|m| m.describe.clone())),
    ] {
        match slot {
            Ok(d) => println!("{what}: {d}"),
            Err(why) => println!("{what}: no model — {why}"),
        }
    }
    if state.token.is_some() {
        println!("access token required: open http://{addr}/#token=<the token>");
    }
    println!("Ctrl-C stops it (requests in flight finish first).");
    rt.block_on(server::serve_until_signal(listener, std::sync::Arc::new(state)))?;
    println!("gradlab-web: stopped");
    Ok(ExitCode::SUCCESS)
}
