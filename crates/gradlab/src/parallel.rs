//! Data-parallel training over several devices, with burn's own machinery: each step splits
//! the batch into contiguous shares, one per device; each device runs forward and backward on
//! its share with its own copy of the model (`Module::fork`); the gradients are moved to the
//! main device (`GradientsParams::to_device`) and summed there with burn's
//! `GradientsAccumulator` — what burn-train's `MultiDevice` strategy does — and the optimizer,
//! which lives on the main device with the model, steps once.
//!
//! Each share's loss is its mean scaled by `share / batch`, so the summed gradient is the
//! gradient of the whole batch's mean loss: data-parallel over k devices computes the same step
//! as one device on the whole batch (tested to float tolerance). Where burn offers a collective
//! all-reduce (DDP over NCCL, CUDA only; not built here), the gather-to-main in [`step`] is
//! where it would go.
//!
//! Devices are written `NAME[:ADAPTER]`: `flex`, `ndarray`, `wgpu`, `vulkan`, with the adapter as
//! `--adapter` takes it (`wgpu:discrete:1`, `vulkan:cpu`); `wgpu:N` is short for
//! `wgpu:discrete:N`; a `gradlab-serve` is written by its URL, `ws://HOST:PORT` (Burn's remote
//! backend: two servers are two devices, and the gradients of the second travel to the first
//! through this client).

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::backend::{
    AdapterChoice, BackendConfig, BackendError, BackendName, RemoteSpec, RemoteUrl, ResolvedBackend, resolve,
};

/// One device of a data-parallel run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceSpec {
    /// The backend (never `auto`).
    pub backend: BackendName,
    /// The adapter (wgpu/vulkan).
    pub adapter: AdapterChoice,
    /// The server (remote).
    pub remote: Option<RemoteUrl>,
}

/// A device that does not parse; names the value.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "device `{value}`: {why} (write NAME[:ADAPTER] or a server's URL: flex, ndarray, wgpu, vulkan, wgpu:1, wgpu:discrete:1, vulkan:cpu, ws://HOST:PORT)"
)]
pub struct BadDevice {
    value: String,
    why: String,
}

impl FromStr for DeviceSpec {
    type Err = BadDevice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| BadDevice {
            value: s.to_string(),
            why,
        };
        if s.trim().starts_with("ws://") {
            let url: RemoteUrl = s.parse().map_err(|e: BackendError| bad(e.to_string()))?;
            return Ok(DeviceSpec {
                backend: BackendName::Remote,
                adapter: AdapterChoice::Default,
                remote: Some(url),
            });
        }
        let (name, adapter) = s.trim().split_once(':').unwrap_or((s.trim(), ""));
        let backend: BackendName = name.parse().map_err(|e: BackendError| bad(e.to_string()))?;
        if backend == BackendName::Auto {
            return Err(bad("name the backend: `auto` may pick different ones".into()));
        }
        if backend == BackendName::Remote {
            return Err(bad("write a remote device as its server's URL, ws://HOST:PORT".into()));
        }
        let adapter = if adapter.is_empty() {
            AdapterChoice::Default
        } else if let Ok(n) = adapter.parse::<usize>() {
            AdapterChoice::Discrete(n)
        } else {
            adapter.parse().map_err(|e: BackendError| bad(e.to_string()))?
        };
        if !backend.is_wgpu() && adapter != AdapterChoice::Default {
            return Err(bad(format!("{backend} has no adapters to choose")));
        }
        Ok(DeviceSpec {
            backend,
            adapter,
            remote: None,
        })
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = BadDevice;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(url) = &self.remote {
            return write!(f, "{url}");
        }
        match self.adapter {
            AdapterChoice::Default => write!(f, "{}", self.backend),
            a => write!(f, "{}:{a}", self.backend),
        }
    }
}

impl DeviceSpec {
    /// The backend config this device resolves with; `token_file` holds a remote server's
    /// access token (the config's `remote_token_file`).
    pub fn config(&self, token_file: Option<&std::path::Path>) -> BackendConfig {
        BackendConfig {
            backend: self.backend,
            adapter: self.adapter,
            remote: self.remote.clone().map(|url| RemoteSpec {
                url,
                token_file: token_file.map(Into::into),
            }),
        }
    }
}

/// Resolve every device (the first is the main one); `token_file` as in [`DeviceSpec::config`].
pub fn resolve_all(
    devices: &[DeviceSpec],
    token_file: Option<&std::path::Path>,
) -> Result<Vec<ResolvedBackend>, BackendError> {
    devices.iter().map(|d| resolve(&d.config(token_file))).collect()
}

/// `n` items in `k` contiguous shares, sizes differing by at most one (the first ones larger);
/// no empty share when `n ≥ k`.
pub fn shares(n: usize, k: usize) -> Vec<Range<usize>> {
    let k = k.max(1);
    let (base, extra) = (n / k, n % k);
    let mut start = 0;
    (0..k)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// One share's result: its mean loss (on its device, with the graph) and whatever else the
/// caller measures on it (returned as it is).
#[derive(Debug)]
pub struct ShareLoss<T> {
    /// The share's mean loss.
    pub loss: Tensor<1>,
    /// Anything else (hit counts, …).
    pub extra: T,
}

/// One data-parallel step: `share_loss(model, i, device)` computes share `i`'s mean loss with
/// `model` forked to `device` (`devices[i]`, autodiff devices, `devices[0]` the main one holding
/// `model`); shares run on one thread per device. Returns the gradient of the whole batch's mean
/// loss for `model` (on the main device, ready for the optimizer), the batch's mean loss
/// (detached, main device) and each share's extra.
///
/// # Shapes
/// - `shares`: the ranges of the batch each device takes (`shares.len() == devices.len()`).
pub fn step<M, T>(
    model: &M,
    devices: &[Device],
    shares: &[Range<usize>],
    share_loss: impl Fn(M, usize, &Device) -> ShareLoss<T> + Sync,
) -> (GradientsParams, Tensor<1>, Vec<T>)
where
    M: Module + Sync,
    T: Send,
{
    assert_eq!(devices.len(), shares.len(), "one share per device");
    let total: usize = shares.iter().map(|r| r.len()).sum();
    let main = &devices[0];
    let run_share = |i: usize| {
        let device = &devices[i];
        let local = if i == 0 {
            model.clone()
        } else {
            model.clone().fork(device)
        };
        let out = share_loss(local.clone(), i, device);
        // The share's mean, weighted by its part of the batch: the weighted sum is the mean.
        let weighted = out.loss.mul_scalar(shares[i].len() as f64 / total as f64);
        let loss = weighted.clone().detach().to_device(main);
        let grads = GradientsParams::from_grads(weighted.backward(), &local).to_device(main, model);
        (grads, loss, out.extra)
    };
    let results: Vec<_> = if devices.len() == 1 {
        vec![run_share(0)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..devices.len())
                .map(|i| {
                    let run_share = &run_share;
                    scope.spawn(move || run_share(i))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    let mut acc = GradientsAccumulator::<M>::new();
    let mut loss: Tensor<1> = Tensor::zeros([1], main);
    let mut extras = Vec::with_capacity(results.len());
    for (grads, l, extra) in results {
        acc.accumulate(model, grads);
        loss = loss + l;
        extras.push(extra);
    }
    (acc.grads(), loss, extras)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print_back() {
        for (text, shown) in [
            ("flex", "flex"),
            ("NDARRAY", "ndarray"),
            ("wgpu", "wgpu"),
            ("wgpu:1", "wgpu:discrete:1"),
            ("wgpu:discrete:1", "wgpu:discrete:1"),
            ("vulkan:cpu", "vulkan:cpu"),
            ("ws://127.0.0.1:3000", "ws://127.0.0.1:3000"),
        ] {
            let d: DeviceSpec = text.parse().unwrap();
            assert_eq!(d.to_string(), shown);
            assert_eq!(shown.parse::<DeviceSpec>().unwrap(), d);
        }
        for (bad, why) in [
            ("cuda", "unknown backend `cuda`"),
            ("auto", "name the backend"),
            ("flex:1", "flex has no adapters"),
            ("wgpu:gpu", "bad adapter"),
            ("", "unknown backend"),
            ("remote", "server's URL"),
            ("ws://h", "needs a port"),
        ] {
            let e = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(&format!("device `{bad}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn shares_cover_the_batch_in_order() {
        assert_eq!(shares(10, 2), vec![0..5, 5..10]);
        assert_eq!(shares(11, 3), vec![0..4, 4..8, 8..11]);
        assert_eq!(shares(2, 3), vec![0..1, 1..2]);
        assert_eq!(shares(5, 1), vec![0..5]);
        for n in 0..40 {
            for k in 1..6 {
                let s = shares(n, k);
                assert_eq!(s.iter().map(|r| r.len()).sum::<usize>(), n);
                assert!(s.windows(2).all(|w| w[0].end == w[1].start));
            }
        }
    }
}
