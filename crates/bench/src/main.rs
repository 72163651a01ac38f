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
    /// Backends to compare (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = backend_parser())]
    backends: Option<Vec<BackendName>>,
    /// Models to time (comma-separated; mnist-cnn-fast is the CNN with fastconv's fused ops).
    #[arg(long, value_delimiter = ',', value_enum)]
    models: Option<Vec<ModelName>>,
    /// Batch sizes of the sweep (comma-separated).
    #[arg(long, value_delimiter = ',')]
    batch_sizes: Option<Vec<usize>>,
    /// wgpu/vulkan adapter: default, discrete[:N], integrated[:N], cpu.
    #[arg(long)]
    adapter: Option<gradlab::AdapterChoice>,
    /// The `remote` backend's server (a gradlab-serve), ws://HOST:PORT; without it, `remote` is a
    /// loopback server inside the bench serving flex (overrides `remote_url`).
    #[arg(long, value_name = "ws://HOST:PORT")]
    remote: Option<gradlab::RemoteUrl>,
    /// Batch 32 only, a short budget, a conformance check on that same batch (so each
    /// wgpu/vulkan kernel compiles once), and vulkan left out when it would be wgpu's own adapter
    /// and API again (unless --backends names both). About two minutes the first time on a
    /// software adapter (compiling kernels), under a minute once CubeCL's caches hold them.
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

/// The backends the bench compares: every concrete one (`auto` is a choice among them, not a
/// backend to time, so it is not offered).
fn backend_parser() -> impl clap::builder::TypedValueParser<Value = BackendName> {
    use clap::ValueEnum;
    use clap::builder::TypedValueParser;
    let names: Vec<&'static str> = BackendName::value_variants()
        .iter()
        .filter(|b| **b != BackendName::Auto)
        .map(|b| b.as_str())
        .collect();
    clap::builder::PossibleValuesParser::new(names)
        .map(|s| <BackendName as ValueEnum>::from_str(&s, false).unwrap_or(BackendName::Flex))
}

/// `report.json` and `results.csv` of a run, rewritten (atomically) as results arrive;
/// `"complete": false` until the end.
struct Report {
    run_dir: PathBuf,
    doc: serde_json::Value,
}

impl Report {
    /// The report of a run that has not measured anything yet, written at once: what is known
    /// so far goes to disk now and after every measurement, so a crash or a Ctrl-C late in a
    /// long run keeps everything measured until then.
    fn start(
        run_dir: &std::path::Path,
        cfg: &BenchConfig,
        machine: serde_json::Value,
        malloc_kept: bool,
        status: &[bench::BackendStatus],
        refs: Option<&reference::ReferenceFile>,
    ) -> Result<Report> {
        let mut report = Report {
            run_dir: run_dir.to_path_buf(),
            doc: serde_json::json!({
                "crate": "bench",
                "complete": false,
                "machine": machine,
                "malloc_thresholds_raised": malloc_kept,
                "backends": status,
                "config": cfg,
                "cnn_batch": bench::workloads::DIGIT_BATCH_RULE,
                "results": [],
                "conformance": {
                    "tolerances": {
                        "outputs": conformance::OUTPUT_TOL,
                        "loss": conformance::LOSS_TOL,
                        "gradients": conformance::GRAD_TOL,
                        "loss_after_steps": conformance::TRAINED_TOL,
                    },
                    "pairs": [],
                },
                "reference": refs,
                "ratios": [],
            }),
        };
        report.write(&[])?;
        Ok(report)
    }

    fn write(&mut self, results: &[bench::Measurement]) -> Result<()> {
        self.doc["results"] = serde_json::to_value(results)?;
        gradlab::io::atomic_write(&self.run_dir.join("results.csv"), report::csv(results).as_bytes())?;
        write_json(&self.run_dir.join("report.json"), &self.doc)
    }
}

fn main() -> ExitCode {
    gradlab::startup();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => gradlab::exit_code(Err(e)),
    }
}

fn resolve_config(cli: &Cli) -> Result<BenchConfig> {
    let (mut cfg, mut origins): (BenchConfig, _) = gradlab::config::load_layers_traced(&cli.config)?;
    if cli.quick {
        cfg = cfg.quick();
    }
    gradlab::overrides!(cfg, origins;
        backends <- cli.backends.clone(),
        models <- cli.models.clone(),
        batch_sizes <- cli.batch_sizes.clone(),
        adapter <- cli.adapter,
        remote_url <- cli.remote.clone().map(Some) => "--remote",
        reference <- cli.reference.clone(),
        out_dir <- cli.out.clone() => "--out",
    );
    if cli.no_conformance {
        cfg.conformance = false;
    }
    if cli.conformance_only {
        cfg.conformance = true;
    }
    origins.check(cfg.validate())?;
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
    let kept = keep_freed_memory(!cli.malloc_defaults);
    // Inputs are checked before anything runs: a malformed reference file is an error now, not
    // after a twenty-minute sweep.
    let refs = reference::read(&gradlab::locate(&cfg.reference))?;
    if let Some(f) = &refs {
        reference::check_batch_rule(f, &cfg.reference)?;
    }
    let (mut backends, mut status) = resolve_backends(&cfg);
    if cli.quick && cli.backends.is_none() {
        bench::drop_vulkan_twin(&mut backends, &mut status);
    }
    for s in &status {
        println!("{:<8} {}: {}", s.backend.as_str(), s.status, s.detail);
    }
    if backends.is_empty() {
        anyhow::bail!("none of the configured backends is usable here");
    }
    let run_dir = gradlab::runs::new_run_dir(&cfg.out_dir)?;
    gradlab::config::save_resolved(&cfg, &run_dir)?;
    let mut report = Report::start(&run_dir, &cfg, machine, kept, &status, refs.as_ref())?;

    let started = std::time::Instant::now();
    let mut seconds = serde_json::Map::new();
    let mut disagree = false;
    if cfg.conformance
        && let Some(d) = check_conformance(&cfg, &backends, &mut report)?
    {
        disagree = d;
        seconds.insert("conformance".into(), started.elapsed().as_secs_f64().into());
    }
    let mut results = Vec::new();
    if !cli.conformance_only {
        results = time_everything(&cfg, &backends, &mut report)?;
        let took = started.elapsed().as_secs_f64() - seconds.get("conformance").and_then(|v| v.as_f64()).unwrap_or(0.0);
        println!("timings took {took:.0} s");
        seconds.insert("timings".into(), took.into());
        print!("{}", report::table(&results));
        let software: Vec<(BackendName, String)> = backends
            .iter()
            .filter(|b| b.backend.is_wgpu() && b.adapter.is_software())
            .map(|b| (b.backend, b.adapter.to_string()))
            .collect();
        print!("{}", report::verdict(&results, &software));
        report.doc["verdict"] = serde_json::json!({
            "fastest": report::fastest(&results),
            "software_adapters": software.iter().map(|(b, a)| serde_json::json!({"backend": b, "adapter": a})).collect::<Vec<_>>(),
        });
    }
    let ratios = compare_with_references(&cfg, refs.as_ref(), &results);

    let charts = if results.is_empty() {
        Vec::new()
    } else {
        report::charts(&run_dir, &results)?
    };
    report.doc["ratios"] = serde_json::Value::Array(ratios);
    let total = started.elapsed().as_secs_f64();
    seconds.insert("total".into(), total.into());
    report.doc["seconds"] = serde_json::Value::Object(seconds);
    report.doc["complete"] = serde_json::Value::Bool(true);
    report.write(&results)?;
    println!("\nbench took {total:.0} s (after start-up)");
    println!("report: {}", run_dir.join("report.json").display());
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

/// Keep freed memory for reuse (glibc's malloc thresholds; see fastconv::memory) when `wanted`,
/// for every model alike, so stock and fast paths are timed under the same allocator. Prints
/// and returns whether it took.
fn keep_freed_memory(wanted: bool) -> bool {
    let kept = wanted && fastconv::memory::keep_freed_memory();
    println!(
        "malloc: {}",
        if kept {
            "freed memory kept for reuse (glibc mmap/trim thresholds raised, as mnist-cnn's fast_path does)"
        } else {
            "the C library's defaults"
        }
    );
    kept
}

/// The conformance check, printed and recorded in the report: whether some pair disagrees
/// (`None`: skipped, fewer than two backends).
fn check_conformance(
    cfg: &BenchConfig,
    backends: &[gradlab::ResolvedBackend],
    report: &mut Report,
) -> Result<Option<bool>> {
    if backends.len() < 2 {
        println!("\nconformance: needs two usable backends; skipped");
        return Ok(None);
    }
    let started = std::time::Instant::now();
    println!(
        "\nconformance: same weights, same batch of {}, {} training steps",
        cfg.conformance_batch, cfg.conformance_steps
    );
    let conf = conformance::run(
        &cfg.models,
        backends,
        cfg.conformance_batch,
        cfg.conformance_steps,
        cfg.seed,
    )?;
    print!("{}", conformance::table(&conf));
    println!("conformance took {:.0} s", started.elapsed().as_secs_f64());
    report.doc["conformance"]["pairs"] = serde_json::to_value(&conf)?;
    report.write(&[])?;
    Ok(Some(conf.iter().any(|r| !r.pass)))
}

/// The timing sweep, each measurement written to the report, then printed.
fn time_everything(
    cfg: &BenchConfig,
    backends: &[gradlab::ResolvedBackend],
    report: &mut Report,
) -> Result<Vec<bench::Measurement>> {
    println!("\ntimings (each step ends with a device sync; the first call is reported apart):");
    for &model in &cfg.models {
        for b in backends {
            if let Some(why) = model.not_on(&b.device) {
                println!("  {:<13} {:<8} not timed: {why}", model.as_str(), b.backend.as_str());
            }
        }
    }
    let mut so_far = Vec::new();
    let mut write_error = None;
    let results = run_timings(cfg, backends, |m| {
        // On disk first, then on screen: a measurement that was printed is kept.
        so_far.push(m.clone());
        if let Err(e) = report.write(&so_far) {
            write_error.get_or_insert(e);
        }
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
        );
    })?;
    match write_error {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

/// The reference frameworks' figures next to gradlab's CNN rows at the same batch; the ratios.
fn compare_with_references(
    cfg: &BenchConfig,
    refs: Option<&reference::ReferenceFile>,
    results: &[bench::Measurement],
) -> Vec<serde_json::Value> {
    let Some(f) = refs else {
        println!(
            "\nreference frameworks: no file at {} — run `python3 scripts/reference.py` where TensorFlow or PyTorch is installed",
            cfg.reference.display()
        );
        return Vec::new();
    };
    println!(
        "\nreference frameworks ({}), seed CNN training step:",
        cfg.reference.display()
    );
    let mut ratios = Vec::new();
    for r in &f.results {
        let Some(ips) = r.images_per_second else {
            println!(
                "  {}: no figure ({})",
                r.framework,
                r.error.as_deref().unwrap_or("not measured")
            );
            continue;
        };
        println!(
            "  {} {}: {ips:.0} images/s at batch {}",
            r.framework,
            r.version.as_deref().unwrap_or("?"),
            r.batch.unwrap_or(32)
        );
        for m in results
            .iter()
            .filter(|m| matches!(m.model, ModelName::MnistCnn | ModelName::MnistCnnFast) && Some(m.batch) == r.batch)
        {
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
    ratios
}
