//! Counting the GPU kernels a piece of work launches, with CubeCL's own launch hook
//! (`cubecl::logging::LaunchObserver`: called on the issuing thread for every kernel launch of
//! every CubeCL runtime — wgpu, vulkan, CUDA, …).
//!
//! A small model's training step on a real GPU is bound by how many kernels it launches, not by
//! its arithmetic, so the bench records launches per step beside its timings. CPU backends (flex,
//! ndarray) launch no CubeCL kernels, and a remote device's kernels run in the server's process:
//! [`crate::backend::runs_on_cubecl`] says where a count means something.
//!
//! With Burn's kernel fusion (on for wgpu/vulkan) operations are queued and launched when the
//! queue is flushed — by a read, a sync, or a full queue — so a count covers what was flushed
//! while the counter lived: end the counted work with a sync.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use burn::cubecl::config::{TypeNameFormatLevel, type_name_format};
use burn::cubecl::logging::{LaunchObservation, LaunchObserver};

#[derive(Default)]
struct Tally(Mutex<BTreeMap<&'static str, u64>>);

impl LaunchObserver for Tally {
    fn launched(&self, kernel: &'static str) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(kernel)
            .or_default() += 1;
    }
}

/// Counts every CubeCL kernel launched, on any thread, from [`start`](Self::start) until it is
/// dropped. There is one hook per process: a counter started while another lives takes over
/// until it is dropped (drop them in the reverse order they were started).
pub struct LaunchCounter {
    tally: Arc<Tally>,
    _watching: LaunchObservation,
}

impl std::fmt::Debug for LaunchCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaunchCounter").field("total", &self.total()).finish()
    }
}

impl LaunchCounter {
    /// Start counting.
    pub fn start() -> Self {
        let tally = Arc::new(Tally::default());
        let watching = LaunchObservation::new(tally.clone());
        LaunchCounter {
            tally,
            _watching: watching,
        }
    }

    /// Kernels launched so far.
    pub fn total(&self) -> u64 {
        self.tally.0.lock().unwrap_or_else(|e| e.into_inner()).values().sum()
    }

    /// Launches so far by kernel (its short type name; kernels of one type with different
    /// parameters are summed), most launched first.
    pub fn by_kernel(&self) -> Vec<(String, u64)> {
        let mut named: BTreeMap<String, u64> = BTreeMap::new();
        for (kernel, n) in self.tally.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            *named
                .entry(type_name_format(kernel, TypeNameFormatLevel::Short))
                .or_default() += n;
        }
        let mut v: Vec<(String, u64)> = named.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}
