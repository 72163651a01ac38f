//! `bench`: time every usable backend on every model, check that the backends agree, compare
//! with reference frameworks. A thin CLI over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use bench::config::BenchConfig;
use bench::workloads::ModelName;
use bench::{conformance, machine, reference, report, resolve_backends, run_timings};
use clap::Parser;
use gradlab::BackendName;
use gradlab::report::write_json;

/// Compare backend timings on every gradlab model, and check that the backends agree.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// TOML config file(s), applied in order over the defaults.
    #[arg(short, long)]
    config: Vec<PathBuf>,
    /// Backends to compare (comma-separated): flex, ndarray, wgpu, vulkan.
    #[arg(long, value_delimiter = ',', value_enum)]
    backends: Option<Vec<BackendName>>,
    /// Models to time (comma-separated): mnist-cnn, sentiment, rnn, xor-backprop.
    #[arg(long, value_delimiter = ',', value_enum)]
    models: Option<Vec<ModelName>>,
    /// Batch sizes of the sweep (comma-separated).
    #[arg(long, value_delimiter = ',')]
    batch_sizes: Option<Vec<usize>>,
    /// wgpu/vulkan adapter: default, discrete[:N], integrated[:N], cpu.
    #[arg(long)]
    adapter: Option<gradlab::AdapterChoice>,
    /// Batch 32 only and a short budget (a minute or two, most of it wgpu kernel compilation).
    #[arg(long)]
    quick: bool,
    /// Skip the conformance check.
    #[arg(long, conflicts_with = "conformance_only")]
    no_conformance: bool,
    /// Only the conformance check, no timings.
    #[arg(long)]
    conformance_only: bool,
    /// Leave glibc's malloc thresholds at their defaults (by default the bench raises them for
    /// every model, as `mnist-cnn` does with `fast_path`; see fastconv::memory).
    #[arg(long)]
    malloc_defaults: bool,
    /// Reference-framework timings (written by scripts/reference.py).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Folder for runs (overrides `out_dir`).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => gradlab::exit_code(Err(e)),
    }
}

fn resolve_config(cli: &Cli) -> Result<BenchConfig> {
    let mut cfg: BenchConfig = gradlab::config::load_layers(&cli.config)?;
    if cli.quick {
        cfg = cfg.quick();
    }
    gradlab::overrides!(cfg;
        backends <- cli.backends.clone(),
        models <- cli.models.clone(),
        batch_sizes <- cli.batch_sizes.clone(),
        adapter <- cli.adapter,
        reference <- cli.reference.clone(),
        out_dir <- cli.out.clone(),
    );
    if cli.no_conformance {
        cfg.conformance = false;
    }
    if cli.conformance_only {
        cfg.conformance = true;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let cfg = resolve_config(&cli)?;
    let machine = machine();
    println!(
        "machine: {}, {} logical cores, {}",
        machine["cpu"].as_str().unwrap_or("?"),
        machine["logical_cores"],
        machine["os"].as_str().unwrap_or("?")
    );
    let kept = !cli.malloc_defaults && fastconv::memory::keep_freed_memory();
    println!(
        "malloc: {}",
        if kept {
            "freed memory kept for reuse (glibc mmap/trim thresholds raised, as mnist-cnn's fast_path does)"
        } else {
            "the C library's defaults"
        }
    );
    let (backends, status) = resolve_backends(&cfg);
    for s in &status {
        println!("{:<8} {}: {}", s.backend.as_str(), s.status, s.detail);
    }
    if backends.is_empty() {
        anyhow::bail!("none of the configured backends is usable here");
    }
    let run_dir = gradlab::runs::new_run_dir(&cfg.out_dir)?;
    gradlab::config::save_resolved(&cfg, &run_dir)?;

    let mut disagree = false;
    let mut conf = Vec::new();
    if cfg.conformance {
        if backends.len() < 2 {
            println!("\nconformance: needs two usable backends; skipped");
        } else {
            println!(
                "\nconformance: same weights, same batch of {}, {} training steps",
                cfg.conformance_batch, cfg.conformance_steps
            );
            conf = conformance::run(
                &cfg.models,
                &backends,
                cfg.conformance_batch,
                cfg.conformance_steps,
                cfg.seed,
            )?;
            print!("{}", conformance::table(&conf));
            disagree = conf.iter().any(|r| !r.pass);
        }
    }

    let mut results = Vec::new();
    if !cli.conformance_only {
        println!("\ntimings (each step ends with a device sync; the first call is reported apart):");
        for &model in &cfg.models {
            for b in &backends {
                if let Some(why) = model.not_on(&b.device) {
                    println!("  {:<13} {:<8} not timed: {why}", model.as_str(), b.backend.as_str());
                }
            }
        }
        results = run_timings(&cfg, &backends, |m| {
            println!(
                "  {:<13} {:<8} batch {:>4}: train {:>10.0} {}/s (first {:.0} ms), inference {:>10.0} {}/s",
                m.model.as_str(),
                m.backend.as_str(),
                m.batch,
                m.train.items_per_second,
                m.unit,
                m.train.first_ms,
                m.infer.items_per_second,
                m.unit
            )
        })?;
        print!("{}", report::table(&results));
    }

    // Reference frameworks.
    let refs = reference::read(&gradlab::locate(&cfg.reference))?;
    let mut ratios = Vec::new();
    match &refs {
        None => println!(
            "\nreference frameworks: no file at {} — run `python3 scripts/reference.py` where TensorFlow or PyTorch is installed",
            cfg.reference.display()
        ),
        Some(f) => {
            println!(
                "\nreference frameworks ({}), seed CNN training step:",
                cfg.reference.display()
            );
            for r in &f.results {
                match (r.images_per_second, &r.error) {
                    (Some(ips), _) => {
                        println!(
                            "  {} {}: {ips:.0} images/s at batch {}",
                            r.framework,
                            r.version.as_deref().unwrap_or("?"),
                            r.batch.unwrap_or(32)
                        );
                        for m in results.iter().filter(|m| {
                            matches!(m.model, ModelName::MnistCnn | ModelName::MnistCnnFast) && Some(m.batch) == r.batch
                        }) {
                            let ratio = m.train.items_per_second / ips;
                            println!(
                                "    gradlab {:<14} {:<8} {:>8.0} images/s = {ratio:.2}× {}",
                                m.model.as_str(),
                                m.backend.as_str(),
                                m.train.items_per_second,
                                r.framework
                            );
                            ratios.push(serde_json::json!({"framework": r.framework, "model": m.model, "backend": m.backend, "batch": m.batch, "ratio": ratio}));
                        }
                    }
                    (None, err) => println!(
                        "  {}: no figure ({})",
                        r.framework,
                        err.as_deref().unwrap_or("not measured")
                    ),
                }
            }
        }
    }

    gradlab::io::atomic_write(&run_dir.join("results.csv"), report::csv(&results).as_bytes())?;
    let charts = if results.is_empty() {
        Vec::new()
    } else {
        report::charts(&run_dir, &results)?
    };
    write_json(
        &run_dir.join("report.json"),
        &serde_json::json!({
            "crate": "bench",
            "machine": machine,
            "malloc_thresholds_raised": kept,
            "backends": status,
            "config": cfg,
            "results": results,
            "conformance": {
                "tolerances": {
                    "outputs": conformance::OUTPUT_TOL,
                    "loss": conformance::LOSS_TOL,
                    "gradients": conformance::GRAD_TOL,
                    "loss_after_steps": conformance::TRAINED_TOL,
                },
                "pairs": conf,
            },
            "reference": refs,
            "ratios": ratios,
        }),
    )?;
    println!("\nreport: {}", run_dir.join("report.json").display());
    println!("table:  {}", run_dir.join("results.csv").display());
    for c in &charts {
        println!("chart:  {}", c.display());
    }
    if disagree {
        eprintln!("error: backends disagree beyond the stated tolerances (see the conformance table)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
