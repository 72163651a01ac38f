//! Timing one kind of step: the first call on its own (kernel compilation, autotuning,
//! allocation), then warm-up calls, then repetitions each timed alone — every call ends with a
//! device sync inside the timed region, so asynchronous backends are timed to completion.
//! Memory: the process's peak resident set (reset before each measurement where Linux allows)
//! and, where the backend reports it, the device allocator's reserved bytes. Launches: on a
//! CubeCL backend (wgpu, vulkan), the kernels one more warm call launches, counted by CubeCL's
//! launch hook (`gradlab::launches`) — on a GPU a small model's step costs about that many
//! launch latencies.

use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

/// How long to measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Untimed calls after the first.
    pub warmup: usize,
    /// At least this many timed repetitions.
    pub min_reps: usize,
    /// At most this many.
    pub max_reps: usize,
    /// Stop adding repetitions (beyond `min_reps`) after this many seconds.
    pub max_seconds: f64,
}

/// The figures of one measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// The first call, milliseconds.
    pub first_ms: f64,
    /// Median of the repetitions, milliseconds.
    pub median_ms: f64,
    /// Fastest repetition.
    pub min_ms: f64,
    /// Slowest repetition.
    pub max_ms: f64,
    /// Timed repetitions.
    pub reps: usize,
    /// Items per second at the median.
    pub items_per_second: f64,
    /// Peak resident set of the whole process during this measurement, MiB (None: not
    /// readable). It includes everything the process holds (earlier workloads, caches).
    pub peak_rss_mib: Option<f64>,
    /// How far that peak rose above the resident set at the start of the measurement, MiB:
    /// the memory this measurement itself needed at most.
    pub rss_growth_mib: Option<f64>,
    /// Bytes the device allocator held at the end, MiB (None: the backend does not say).
    pub device_reserved_mib: Option<f64>,
    /// The kernels one warm call launched (None: not a CubeCL backend in this process — flex and
    /// ndarray launch none, a remote device's kernels run in the server). Absent in reports
    /// written before it was measured.
    #[serde(default)]
    pub launches: Option<Launches>,
}

/// The kernels one call launched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launches {
    /// All of them.
    pub total: u64,
    /// By kernel (short type name), most launched first.
    pub by_kernel: Vec<(String, u64)>,
}

/// Median of `v` (sorted in place).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Reset the kernel's peak-RSS counter for this process (`/proc/self/clear_refs`, value 5).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The process's peak resident set since start or the last reset, MiB.
pub fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// The process's resident set now, MiB.
pub fn rss_mib() -> Option<f64> {
    status_mib("VmRSS:")
}

/// Measure `step` (which processes `items` items per call) within `budget`.
pub fn measure(
    items: usize,
    budget: &Budget,
    device: &burn::tensor::Device,
    mut step: impl FnMut() -> Result<()>,
) -> Result<Timing> {
    let rss_ok = reset_peak_rss();
    let rss_before = rss_mib();
    let t = Instant::now();
    step()?;
    let first_ms = t.elapsed().as_secs_f64() * 1e3;
    for _ in 0..budget.warmup {
        step()?;
    }
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < budget.max_reps.max(1)
        && (times.len() < budget.min_reps.max(1) || started.elapsed().as_secs_f64() < budget.max_seconds)
    {
        let t = Instant::now();
        step()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let launches = if gradlab::backend::runs_on_cubecl(device) {
        let counter = gradlab::launches::LaunchCounter::start();
        step()?;
        Some(Launches {
            total: counter.total(),
            by_kernel: counter.by_kernel(),
        })
    } else {
        None
    };
    let reps = times.len();
    let min_ms = times.iter().copied().fold(f64::INFINITY, f64::min);
    let max_ms = times.iter().copied().fold(0.0, f64::max);
    let median_ms = median(&mut times);
    Ok(Timing {
        first_ms,
        median_ms,
        min_ms,
        max_ms,
        reps,
        items_per_second: items as f64 / (median_ms / 1e3),
        peak_rss_mib: if rss_ok { peak_rss_mib() } else { None },
        rss_growth_mib: match (rss_ok, peak_rss_mib(), rss_before) {
            (true, Some(peak), Some(before)) => Some((peak - before).max(0.0)),
            _ => None,
        },
        device_reserved_mib: device
            .memory_pool_usage()
            .map(|u| u.bytes_reserved as f64 / (1024.0 * 1024.0)),
        launches,
    })
}
