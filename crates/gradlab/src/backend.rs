//! Backend selection: the ONLY module in the workspace that names concrete burn backends.
//!
//! A [`BackendConfig`] (what the user asked for, from a TOML file or a CLI flag) is resolved
//! into a [`ResolvedBackend`]: a plain `burn::tensor::Device` plus the [`Adapter`] that will
//! really run the work (name, type, graphics API). Every run prints and records that adapter,
//! so a software rasteriser (Mesa's lavapipe / llvmpipe) never passes for a GPU.
//!
//! Architecture Invariant: model crates never call `Device::flex()`, `Device::wgpu(..)` and
//! friends themselves; they receive a `Device` from [`resolve`].
//!
//! Kernels for `wgpu` and `vulkan` are written in WGSL and translated by wgpu (naga). burn's
//! `vulkan` cargo feature, which swaps in cubecl's own SPIR-V compiler, is opt-in (gradlab's
//! cargo feature `spirv`, backend name `spirv`): with burn 0.22.1 / cubecl 0.11.3 every SPIR-V
//! kernel crashes Mesa's lavapipe (Mesa 22.3.6 and 25.0.7, inside `vkCreateComputePipelines`),
//! the only Vulkan driver a machine without a GPU has, so it is refused on a software adapter.
//! CubeCL picks the compiler per graphics API, not per device: in a `spirv` build every Vulkan
//! device — `wgpu` and `vulkan` included — compiles through SPIR-V where the adapter supports
//! it, so there all three are refused on a software Vulkan adapter.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use burn::tensor::wgpu::{WgpuBackend, WgpuInitError, wgpu};
use burn::tensor::{Device, DeviceKind};
use serde::{Deserialize, Serialize};

/// Which burn backend to run on, as written in a config file or on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendName {
    /// A hardware GPU through wgpu when one exists, otherwise flex.
    #[default]
    Auto,
    /// burn-flex: pure-Rust CPU backend (the recommended CPU path).
    Flex,
    /// burn-ndarray: the older CPU backend (deprecated upstream; binaries built with
    /// `--features ndarray`).
    Ndarray,
    /// wgpu with the graphics API chosen by wgpu (Vulkan on Linux).
    Wgpu,
    /// wgpu pinned to the Vulkan graphics API (never falls back to another API).
    Vulkan,
    /// A device of a `gradlab-serve` elsewhere, through Burn's remote backend (`remote_url`,
    /// `--remote ws://HOST:PORT`; binaries built with `--features remote`).
    Remote,
    /// wgpu on Vulkan with CubeCL's SPIR-V compiler (binaries built with `--features spirv`;
    /// refused on software adapters, which it crashes).
    Spirv,
}

impl BackendName {
    /// Every name, for error messages and help.
    pub const ALL: [BackendName; 7] = [
        BackendName::Auto,
        BackendName::Flex,
        BackendName::Ndarray,
        BackendName::Wgpu,
        BackendName::Vulkan,
        BackendName::Remote,
        BackendName::Spirv,
    ];

    /// The lowercase name used in configs and on the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendName::Auto => "auto",
            BackendName::Flex => "flex",
            BackendName::Ndarray => "ndarray",
            BackendName::Wgpu => "wgpu",
            BackendName::Vulkan => "vulkan",
            BackendName::Remote => "remote",
            BackendName::Spirv => "spirv",
        }
    }

    /// Whether this binary was built with this backend: `ndarray`, `remote` and `spirv` are opt-in
    /// cargo features; the others are always there.
    pub fn is_built(self) -> bool {
        match self {
            BackendName::Ndarray => cfg!(feature = "ndarray"),
            BackendName::Remote => cfg!(feature = "remote"),
            BackendName::Spirv => cfg!(feature = "spirv"),
            BackendName::Auto | BackendName::Flex | BackendName::Wgpu | BackendName::Vulkan => true,
        }
    }

    /// Whether this backend runs through wgpu (a GPU API, possibly on a software adapter).
    pub fn is_wgpu(self) -> bool {
        matches!(self, BackendName::Wgpu | BackendName::Vulkan | BackendName::Spirv)
    }
}

impl fmt::Display for BackendName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendName {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BackendName::ALL
            .into_iter()
            .find(|b| b.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| BackendError::UnknownBackend(s.to_string()))
    }
}

/// Which adapter a wgpu/vulkan backend should use. Ignored by the CPU backends.
///
/// Written as `"default"`, `"discrete"`, `"discrete:N"`, `"integrated"`, `"integrated:N"` or
/// `"cpu"` (a software adapter such as lavapipe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AdapterChoice {
    /// wgpu's own choice: the high-performance GPU if any.
    #[default]
    Default,
    /// The N-th discrete GPU.
    Discrete(usize),
    /// The N-th integrated GPU.
    Integrated(usize),
    /// A CPU (software) adapter.
    Cpu,
}

impl fmt::Display for AdapterChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdapterChoice::Default => f.write_str("default"),
            AdapterChoice::Discrete(n) => write!(f, "discrete:{n}"),
            AdapterChoice::Integrated(n) => write!(f, "integrated:{n}"),
            AdapterChoice::Cpu => f.write_str("cpu"),
        }
    }
}

impl FromStr for AdapterChoice {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BackendError::BadAdapter(s.to_string());
        let lower = s.trim().to_ascii_lowercase();
        let (kind, index) = match lower.split_once(':') {
            Some((kind, n)) => (kind, Some(n.parse::<usize>().map_err(|_| bad())?)),
            None => (lower.as_str(), None),
        };
        match (kind, index) {
            ("default", None) => Ok(AdapterChoice::Default),
            ("cpu" | "software", None) => Ok(AdapterChoice::Cpu),
            ("discrete", n) => Ok(AdapterChoice::Discrete(n.unwrap_or(0))),
            ("integrated", n) => Ok(AdapterChoice::Integrated(n.unwrap_or(0))),
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for AdapterChoice {
    type Error = BackendError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<AdapterChoice> for String {
    fn from(a: AdapterChoice) -> String {
        a.to_string()
    }
}

impl AdapterChoice {
    fn device_kind(self) -> DeviceKind {
        match self {
            AdapterChoice::Default => DeviceKind::DefaultDevice,
            AdapterChoice::Discrete(n) => DeviceKind::DiscreteGpu(n),
            AdapterChoice::Integrated(n) => DeviceKind::IntegratedGpu(n),
            AdapterChoice::Cpu => DeviceKind::Cpu,
        }
    }
}

/// The address of a `gradlab-serve` (Burn's remote server over WebSocket): `ws://HOST:PORT`,
/// checked when read, so a config file's bad value is reported with its file and line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RemoteUrl(String);

impl RemoteUrl {
    /// The URL as written (`ws://host:port`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `host:port`, as a socket address is looked up.
    pub fn host_port(&self) -> &str {
        self.0.strip_prefix("ws://").unwrap_or(&self.0)
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RemoteUrl {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| BackendError::BadRemoteUrl {
            value: s.to_string(),
            why: why.to_string(),
        };
        let t = s.trim();
        let Some(rest) = t.strip_prefix("ws://") else {
            return Err(bad(
                "must start with ws:// (Burn's remote server speaks WebSocket; wss:// is not supported)",
            ));
        };
        if rest.contains(['/', '?', '#', '@']) {
            return Err(bad("only a host and a port may follow ws://"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.starts_with('[') || h.ends_with(']') => (h, p),
            _ => return Err(bad("needs a port, as in ws://HOST:PORT")),
        };
        if !port.parse::<u16>().is_ok_and(|p| p != 0) {
            return Err(bad(&format!("`{port}` is not a port (1-65535)")));
        }
        let name_ok = !host.is_empty()
            && (host.parse::<std::net::Ipv4Addr>().is_ok()
                || host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
                || host
                    .split('.')
                    .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')));
        if !name_ok {
            return Err(bad(&format!("`{host}` is not a host name or IP address")));
        }
        Ok(RemoteUrl(format!("ws://{host}:{port}")))
    }
}

impl TryFrom<String> for RemoteUrl {
    type Error = BackendError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RemoteUrl> for String {
    fn from(u: RemoteUrl) -> String {
        u.0
    }
}

/// The environment variable a remote backend's client reads its access token from, when the
/// config names no `remote_token_file`.
pub const REMOTE_TOKEN_ENV: &str = "GRADLAB_REMOTE_TOKEN";

/// Where a remote backend's server is, and the file holding its access token (else
/// [`REMOTE_TOKEN_ENV`], else none: a loopback server needs none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSpec {
    /// The server.
    pub url: RemoteUrl,
    /// The access token's file.
    pub token_file: Option<std::path::PathBuf>,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BackendConfig {
    /// The backend.
    pub backend: BackendName,
    /// The adapter (wgpu/vulkan only).
    pub adapter: AdapterChoice,
    /// The server (remote only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteSpec>,
}

impl BackendConfig {
    /// A backend of this machine (any but `remote`).
    pub fn local(backend: BackendName, adapter: AdapterChoice) -> Self {
        BackendConfig {
            backend,
            adapter,
            remote: None,
        }
    }
}

/// Errors from resolving a backend; each names the value at fault.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// A backend name that is not one of [`BackendName::ALL`].
    #[error("unknown backend `{0}` (expected one of: auto, flex, ndarray, wgpu, vulkan, remote, spirv)")]
    UnknownBackend(String),
    /// A `remote_url` / `--remote` value that is not `ws://HOST:PORT`.
    #[error("bad remote URL `{value}`: {why}")]
    BadRemoteUrl {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// `backend = "remote"` without a server to reach.
    #[error(
        "backend `remote` needs a server: set `remote_url = \"ws://HOST:PORT\"` in the config or pass `--remote ws://HOST:PORT` (start one with `gradlab-serve`)"
    )]
    RemoteWithoutUrl,
    /// The binary was built without the `remote` cargo feature.
    #[error(
        "backend `remote`: this binary was built without Burn's remote backend; build with `--features remote` \
         (`cargo build --release --workspace --features remote`)"
    )]
    RemoteNotBuilt,
    /// The binary was built without the `spirv` cargo feature.
    #[error(
        "backend `spirv`: this binary was built without CubeCL's SPIR-V compiler; build with `--features spirv` \
         (`cargo build --release --workspace --features spirv`)"
    )]
    SpirvNotBuilt,
    /// The binary was built without the `ndarray` cargo feature.
    #[error(
        "backend `ndarray`: this binary was built without burn-ndarray (deprecated upstream, opt-in); build with \
         `--features ndarray` (`cargo build --release --workspace --features ndarray`), or use `flex`, the CPU backend \
         every build has"
    )]
    NdarrayNotBuilt,
    /// CubeCL's SPIR-V compiler on a software Vulkan adapter (lavapipe), which it crashes.
    #[error(
        "backend `{backend}`: not run on {name}, a software Vulkan adapter: CubeCL's SPIR-V compiler (this binary's \
         `spirv` feature) crashes Mesa's lavapipe in vkCreateComputePipelines; use a GPU, or a build without \
         `--features spirv` (WGSL) for wgpu/vulkan here"
    )]
    SpirvOnSoftware {
        /// The backend asked for.
        backend: BackendName,
        /// The software adapter.
        name: String,
    },
    /// The remote server could not be reached or refused this client.
    #[error("backend `remote`: {url}: {message}")]
    RemoteFailed {
        /// The server.
        url: RemoteUrl,
        /// Why, in a sentence.
        message: String,
    },
    /// An adapter string that does not parse.
    #[error("bad adapter `{0}` (expected default, discrete, discrete:N, integrated, integrated:N or cpu)")]
    BadAdapter(String),
    /// The requested adapter does not exist on this machine.
    #[error("backend `{backend}`: no adapter matches `{adapter}` on this machine ({available}){hint}")]
    AdapterNotFound {
        /// The backend asked for.
        backend: BackendName,
        /// The adapter asked for.
        adapter: AdapterChoice,
        /// The adapters that were found, for the message.
        available: String,
        /// What to install, when no adapter at all was found (empty otherwise: with adapters
        /// present, the answer is another `--adapter`, not another driver).
        hint: String,
    },
    /// wgpu found only an OpenGL adapter: burn 0.22.1's kernels need what OpenGL lacks (f32
    /// atomics, used by its reductions), so the run would fail part-way.
    #[error(
        "backend `{backend}`: wgpu found only the OpenGL adapter {name}, on which burn 0.22.1's kernels fail \
         (no f32 atomic add); install a Vulkan driver — on Linux without a GPU, Mesa's software one: \
         `apt-get install libvulkan1 mesa-vulkan-drivers` — or use `--backend flex`"
    )]
    OpenGlOnly {
        /// The backend asked for.
        backend: BackendName,
        /// The adapter wgpu came up on.
        name: String,
    },
    /// The wgpu runtime refused to start on an adapter that exists.
    #[error("backend `{backend}`: could not start adapter `{adapter}`: {message}")]
    InitFailed {
        /// The backend asked for.
        backend: BackendName,
        /// The adapter asked for.
        adapter: AdapterChoice,
        /// Why.
        message: String,
    },
}

/// The adapter that actually runs the work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adapter {
    /// As the driver names it, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" or a CPU model.
    pub name: String,
    /// "cpu", "discrete-gpu", "integrated-gpu", "virtual-gpu" or "other".
    pub device_type: String,
    /// The API the kernels go through: "flex (Rust)", "ndarray (Rust)", "vulkan", …
    pub api: String,
    /// Driver and version, when the API reports it.
    pub driver: String,
}

impl Adapter {
    /// True when no GPU hardware is involved (a CPU backend, or a software rasteriser).
    pub fn is_software(&self) -> bool {
        self.device_type == "cpu"
    }
}

impl fmt::Display for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.name, self.device_type)?;
        if !self.driver.is_empty() {
            write!(f, " [{}]", self.driver)?;
        }
        Ok(())
    }
}

/// A backend ready to use: the device and what it really is.
#[derive(Debug, Clone)]
pub struct ResolvedBackend {
    /// What was asked for (may be `auto`).
    pub requested: BackendName,
    /// What is used (never `auto`).
    pub backend: BackendName,
    /// The plain (non-autodiff) device; call `.autodiff()` for training.
    pub device: Device,
    /// The adapter actually used.
    pub adapter: Adapter,
    /// Why `auto` chose this backend, when it did.
    pub reason: Option<String>,
}

impl ResolvedBackend {
    /// One line for logs and reports, e.g.
    /// `wgpu on llvmpipe (LLVM 15.0.6, 256 bits), cpu [Mesa 22.3.6] (software: not a GPU timing)`.
    pub fn describe(&self) -> String {
        if self.backend == BackendName::Remote {
            return format!("remote {} → {}", self.adapter.name, self.adapter.driver);
        }
        let mut s = format!("{} on {}", self.backend, self.adapter);
        if self.backend.is_wgpu() && self.adapter.is_software() {
            s.push_str(" (software adapter: not a GPU timing)");
        }
        if let Some(reason) = &self.reason {
            s.push_str(&format!(" — auto: {reason}"));
        }
        s
    }

    /// The JSON object recorded in run reports.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requested": self.requested,
            "backend": self.backend,
            "adapter": self.adapter,
            "software": self.adapter.is_software(),
            "auto_reason": self.reason,
        })
    }
}

/// The device for host-side work that is not a run's computation — converting weights between
/// formats, building reference weights, reading model files — always the flex CPU backend,
/// whatever the run's backend. (Model crates name no backend themselves; they ask for this one.)
pub fn host_device() -> Device {
    Device::flex()
}

/// Whether `device`'s kernels run in this process through CubeCL (wgpu, vulkan, spirv; not the
/// CPU backends, nor a remote device, whose kernels run in the server).
pub fn runs_on_cubecl(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Cube(_)
    )
}

/// [`host_device`] as a resolved backend: what a loopback server in a test or the bench serves.
pub fn host_backend() -> ResolvedBackend {
    cpu_backend(BackendName::Flex, host_device(), None)
}

/// Resolve a backend config into a device, failing with a clear error rather than a panic.
///
/// wgpu runtimes can only be initialised once per process, so resolved wgpu devices are cached:
/// resolving the same config twice returns the same device.
pub fn resolve(config: &BackendConfig) -> Result<ResolvedBackend, BackendError> {
    match config.backend {
        BackendName::Flex => Ok(cpu_backend(BackendName::Flex, Device::flex(), None)),
        BackendName::Ndarray => ndarray_backend(),
        BackendName::Spirv if !cfg!(feature = "spirv") => Err(BackendError::SpirvNotBuilt),
        BackendName::Wgpu | BackendName::Vulkan | BackendName::Spirv => {
            let (device, adapter) = init_wgpu(config.backend, config.adapter)?;
            Ok(ResolvedBackend {
                requested: config.backend,
                backend: config.backend,
                device,
                adapter,
                reason: None,
            })
        }
        BackendName::Auto => resolve_auto(config.adapter),
        BackendName::Remote => {
            let spec = config.remote.as_ref().ok_or(BackendError::RemoteWithoutUrl)?;
            connect_remote(spec)
        }
    }
}

#[cfg(feature = "ndarray")]
fn ndarray_backend() -> Result<ResolvedBackend, BackendError> {
    #[allow(deprecated)] // ndarray is deprecated upstream; the project still offers it (opt-in).
    Ok(cpu_backend(BackendName::Ndarray, Device::ndarray(), None))
}

#[cfg(not(feature = "ndarray"))]
fn ndarray_backend() -> Result<ResolvedBackend, BackendError> {
    Err(BackendError::NdarrayNotBuilt)
}

#[cfg(feature = "remote")]
fn connect_remote(spec: &RemoteSpec) -> Result<ResolvedBackend, BackendError> {
    crate::remote::connect(spec)
}

#[cfg(not(feature = "remote"))]
fn connect_remote(_spec: &RemoteSpec) -> Result<ResolvedBackend, BackendError> {
    Err(BackendError::RemoteNotBuilt)
}

fn resolve_auto(adapter: AdapterChoice) -> Result<ResolvedBackend, BackendError> {
    let hardware: Vec<wgpu::AdapterInfo> = probe_adapters()
        .into_iter()
        .filter(|a| a.device_type != wgpu::DeviceType::Cpu)
        .collect();
    if let Some(gpu) = hardware.first() {
        let choice = if adapter == AdapterChoice::Cpu {
            AdapterChoice::Default
        } else {
            adapter
        };
        let (device, found) = init_wgpu(BackendName::Wgpu, choice)?;
        if found.is_software() {
            return Ok(cpu_backend(
                BackendName::Flex,
                Device::flex(),
                Some(format!(
                    "wgpu chose the software adapter {} over {}, using the flex CPU backend",
                    found.name, gpu.name
                )),
            ));
        }
        return Ok(ResolvedBackend {
            requested: BackendName::Auto,
            backend: BackendName::Wgpu,
            device,
            adapter: found,
            reason: Some(format!("hardware GPU found ({})", gpu.name)),
        });
    }
    Ok(cpu_backend(
        BackendName::Flex,
        Device::flex(),
        Some("no hardware GPU adapter found, using the flex CPU backend".to_string()),
    ))
}

fn cpu_backend(backend: BackendName, device: Device, reason: Option<String>) -> ResolvedBackend {
    ResolvedBackend {
        requested: if reason.is_some() { BackendName::Auto } else { backend },
        backend,
        device,
        adapter: Adapter {
            name: cpu_model(),
            device_type: "cpu".into(),
            api: format!("{backend} (Rust)"),
            driver: format!(
                "{} threads",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            ),
        },
        reason,
    }
}

/// Keep Mesa's Vulkan device-selection layer out of this process, so that creating a Vulkan
/// instance (to probe adapters for `auto`, or to run wgpu/vulkan) prints nothing on a healthy
/// machine. Call it first thing in `main`.
///
/// Mesa installs `VK_LAYER_MESA_device_select` as an implicit layer; when an instance enables
/// `VK_KHR_wayland_surface` (wgpu always does) the layer connects to the Wayland display to find
/// the default GPU, and on a machine without a desktop session libwayland prints `error:
/// XDG_RUNTIME_DIR is invalid or not set in the environment.` — two to six times a run, for
/// nothing. gradlab picks its adapter itself (`--adapter`), so the layer has no work to do; it
/// is switched off the documented way, `NODEVICE_SELECT=1`. Left alone when the user set
/// `NODEVICE_SELECT`, or asked the layer for a device (`DRI_PRIME`, `MESA_VK_DEVICE_SELECT`).
/// Real errors are not hidden: nothing is redirected, and the layer prints nothing else.
pub fn quiet_vulkan_layers() {
    let user_choice = ["NODEVICE_SELECT", "DRI_PRIME", "MESA_VK_DEVICE_SELECT"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if user_choice || !single_threaded() {
        return;
    }
    // SAFETY: changing the environment is unsound only while another thread may read or write
    // it; the process has exactly one thread (checked just above from /proc/self/status), this
    // one, so nothing can.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
}

/// Put CubeCL's caches (autotune results, compiled kernels: the wgpu/vulkan backends') in the
/// user's cache folder (`~/.cache/cubecl` on Linux) instead of CubeCL's default, a
/// `target/environment/` folder in whatever Cargo workspace holds the current folder — which put
/// them in the source checkout when running from it, even with `CARGO_TARGET_DIR` elsewhere.
/// A `cubecl.toml` / `burn.toml` that names another place than `target` is respected. Call it
/// before any wgpu device exists.
pub fn cubecl_cache_in_user_dir() {
    use burn::cubecl::config::cache::CacheConfig;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    let mut cfg = CubeClRuntimeConfig::from_current_dir().override_from_env();
    if matches!(cfg.environment.path, CacheConfig::Target) {
        cfg.environment.path = CacheConfig::Global;
    }
    // `false` when something already read the config: then it stays as it was.
    CubeClRuntimeConfig::try_set(cfg);
}

/// Whether this process has one thread (Linux: `/proc/self/status`; elsewhere unknown, so no).
fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .map(|n| n.trim() == "1")
        })
        .unwrap_or(false)
}

/// The CPU's model name from `/proc/cpuinfo`, or a generic label elsewhere.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Every adapter wgpu can see through its primary APIs (Vulkan, Metal, DX12), probed once per
/// process.
pub fn probe_adapters() -> Vec<wgpu::AdapterInfo> {
    let _held = wgpu_cache().lock().unwrap_or_else(|e| e.into_inner());
    probe_adapters_locked()
}

/// [`probe_adapters`] for callers that already hold the wgpu lock. The Vulkan loader is not safe
/// against instances being created and dropped on several threads at once, so every instance
/// this module makes, and every runtime it starts, is made under that one lock.
fn probe_adapters_locked() -> Vec<wgpu::AdapterInfo> {
    static ADAPTERS: OnceLock<Vec<wgpu::AdapterInfo>> = OnceLock::new();
    ADAPTERS
        .get_or_init(|| {
            let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
                backends: wgpu::Backends::PRIMARY,
                ..wgpu::InstanceDescriptor::new_without_display_handle()
            });
            pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
                .iter()
                .map(wgpu::Adapter::get_info)
                .collect()
        })
        .clone()
}

type WgpuKey = (BackendName, AdapterChoice);
/// Every wgpu start-up's outcome, failures included: a runtime comes up once per process, so a
/// second attempt would meet the first one's runtime instead of the same answer.
type WgpuCache = Mutex<HashMap<WgpuKey, Result<(Device, Adapter), BackendError>>>;

fn wgpu_cache() -> &'static WgpuCache {
    static CACHE: OnceLock<WgpuCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn init_wgpu(backend: BackendName, choice: AdapterChoice) -> Result<(Device, Adapter), BackendError> {
    let mut cache = wgpu_cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = cache.get(&(backend, choice)) {
        return hit.clone();
    }
    let outcome = start_wgpu(backend, choice);
    cache.insert((backend, choice), outcome.clone());
    outcome
}

/// Bring a wgpu runtime up (the caller holds the wgpu lock).
fn start_wgpu(backend: BackendName, choice: AdapterChoice) -> Result<(Device, Adapter), BackendError> {
    let api = if matches!(backend, BackendName::Vulkan | BackendName::Spirv) {
        WgpuBackend::Vulkan
    } else {
        WgpuBackend::Auto
    };
    let not_found = || {
        let available = probe_adapters_locked()
            .iter()
            .map(|a| format!("{} ({:?}, {:?})", a.name, a.device_type, a.backend))
            .collect::<Vec<_>>();
        BackendError::AdapterNotFound {
            backend,
            adapter: choice,
            hint: if available.is_empty() {
                ". On Linux without a GPU, install Mesa's software Vulkan driver: \
                 `apt-get install libvulkan1 mesa-vulkan-drivers`"
                    .into()
            } else {
                format!(" — choose one of them with `--adapter` ({})", adapter_hint())
            },
            available: if available.is_empty() {
                "no adapters found".into()
            } else {
                format!("found: {}", available.join("; "))
            },
        }
    };

    // The runtime reports a missing adapter as an error, but a broken driver can still panic
    // deep inside wgpu; either way the user gets one sentence, not a backtrace.
    let started = std::panic::catch_unwind(|| {
        Device::wgpu_options()
            .device_kind(choice.device_kind())
            .graphics_api(api)
            .init_with_setup()
    });
    let (device, adapter) = match started {
        Ok(Ok((device, setup))) => (device, adapter_from_info(&setup.adapter.get_info())),
        // Something in this process already brought the runtime up lazily: burn creates
        // tensors on `Device::default()` (wgpu, when compiled in) in a few places, e.g. when
        // it loads optimizer state. Use that runtime and identify its adapter by name.
        Ok(Err(WgpuInitError::Registration { message }))
            if api == WgpuBackend::Auto && message.contains("already initialized") =>
        {
            let device = Device::wgpu(choice.device_kind());
            let name = device.identity().map(|id| id.name).unwrap_or_default();
            let adapter = probe_adapters_locked()
                .iter()
                .find(|a| a.name == name)
                .map(adapter_from_info)
                .unwrap_or(Adapter {
                    name,
                    device_type: "other".into(),
                    api: "unknown".into(),
                    driver: String::new(),
                });
            (device, adapter)
        }
        Ok(Err(WgpuInitError::AdapterUnavailable { .. } | WgpuInitError::UnsupportedGraphicsApi { .. })) => {
            return Err(not_found());
        }
        Ok(Err(err)) => {
            return Err(BackendError::InitFailed {
                backend,
                adapter: choice,
                message: err.to_string(),
            });
        }
        Err(_) => return Err(not_found()),
    };
    if adapter.api == "gl" {
        return Err(BackendError::OpenGlOnly {
            backend,
            name: adapter.name,
        });
    }
    // Before any kernel is compiled: the device is up, nothing has run on it.
    if spirv_refuses(cfg!(feature = "spirv"), &adapter) {
        return Err(BackendError::SpirvOnSoftware {
            backend,
            name: adapter.name,
        });
    }
    Ok((device, adapter))
}

/// Whether a build with CubeCL's SPIR-V compiler (`spirv_build`) must not run kernels on
/// `adapter`: a software Vulkan adapter, which SPIR-V kernels crash (see the module docs).
fn spirv_refuses(spirv_build: bool, adapter: &Adapter) -> bool {
    spirv_build && adapter.api == "vulkan" && adapter.is_software()
}

/// The `--adapter` values, for messages.
fn adapter_hint() -> &'static str {
    "default, discrete[:N], integrated[:N], cpu"
}

fn adapter_from_info(info: &wgpu::AdapterInfo) -> Adapter {
    Adapter {
        name: info.name.clone(),
        device_type: device_type_name(info.device_type).into(),
        api: format!("{:?}", info.backend).to_lowercase(),
        driver: [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::DiscreteGpu => "discrete-gpu",
        wgpu::DeviceType::IntegratedGpu => "integrated-gpu",
        wgpu::DeviceType::VirtualGpu => "virtual-gpu",
        wgpu::DeviceType::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip_and_reject_unknown() {
        for b in BackendName::ALL {
            assert_eq!(b.as_str().parse::<BackendName>().unwrap(), b);
        }
        assert_eq!("WGPU".parse::<BackendName>().unwrap(), BackendName::Wgpu);
        let err = "cuda".parse::<BackendName>().unwrap_err().to_string();
        assert!(err.contains("unknown backend `cuda`"), "{err}");
    }

    #[test]
    fn ndarray_runs_where_built_and_otherwise_says_how_to_build_it() {
        assert_eq!("ndarray".parse::<BackendName>().unwrap(), BackendName::Ndarray);
        assert_eq!(BackendName::Ndarray.is_built(), cfg!(feature = "ndarray"));
        let found = resolve(&BackendConfig::local(BackendName::Ndarray, AdapterChoice::Default));
        if cfg!(feature = "ndarray") {
            let found = found.unwrap();
            assert_eq!(found.backend, BackendName::Ndarray);
            assert_eq!(found.adapter.api, "ndarray (Rust)");
        } else {
            let e = found.unwrap_err().to_string();
            assert!(e.contains("--features ndarray") && e.contains("`flex`"), "{e}");
        }
    }

    #[test]
    fn remote_urls_are_ws_host_port_and_bad_ones_say_why() {
        for (text, shown) in [
            ("ws://127.0.0.1:3000", "ws://127.0.0.1:3000"),
            (" ws://gpu-box.lan:9 ", "ws://gpu-box.lan:9"),
            ("ws://[::1]:3000", "ws://[::1]:3000"),
            ("ws://localhost:65535", "ws://localhost:65535"),
        ] {
            let u: RemoteUrl = text.parse().unwrap();
            assert_eq!(u.as_str(), shown);
            assert_eq!(shown.parse::<RemoteUrl>().unwrap(), u);
        }
        assert_eq!("ws://h:1".parse::<RemoteUrl>().unwrap().host_port(), "h:1");
        for (bad, why) in [
            ("http://h:1", "must start with ws://"),
            ("wss://h:1", "must start with ws://"),
            ("127.0.0.1:3000", "must start with ws://"),
            ("ws://h", "needs a port"),
            ("ws://h:", "is not a port"),
            ("ws://h:0", "is not a port"),
            ("ws://h:70000", "is not a port"),
            ("ws://h:1/path", "only a host and a port"),
            ("ws://user@h:1", "only a host and a port"),
            ("ws://:1", "is not a host name"),
            ("ws://a b:1", "is not a host name"),
            ("ws://[::1:3000", "needs a port"),
        ] {
            let e = bad.parse::<RemoteUrl>().unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("bad remote URL `{bad}`: ")) && e.contains(why),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn remote_without_a_server_or_without_the_feature_says_what_to_do() {
        let e = resolve(&BackendConfig::local(BackendName::Remote, AdapterChoice::Default))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("needs a server") && e.contains("--remote ws://HOST:PORT"),
            "{e}"
        );
        if !cfg!(feature = "remote") {
            let cfg = BackendConfig {
                remote: Some(RemoteSpec {
                    url: "ws://127.0.0.1:9".parse().unwrap(),
                    token_file: None,
                }),
                ..BackendConfig::local(BackendName::Remote, AdapterChoice::Default)
            };
            let e = resolve(&cfg).unwrap_err().to_string();
            assert!(e.contains("--features remote"), "{e}");
        }
    }

    #[test]
    fn spirv_is_refused_on_a_software_vulkan_adapter_or_says_how_to_build_it() {
        let adapter = |device_type: &str, api: &str| Adapter {
            name: "x".into(),
            device_type: device_type.into(),
            api: api.into(),
            driver: String::new(),
        };
        // Only a SPIR-V build, only Vulkan, only a software adapter.
        assert!(spirv_refuses(true, &adapter("cpu", "vulkan")));
        assert!(!spirv_refuses(false, &adapter("cpu", "vulkan")));
        assert!(!spirv_refuses(true, &adapter("discrete-gpu", "vulkan")));
        assert!(!spirv_refuses(true, &adapter("cpu", "flex (Rust)")));
        let e = BackendError::SpirvOnSoftware {
            backend: BackendName::Spirv,
            name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
        }
        .to_string();
        assert!(e.contains("software Vulkan adapter") && e.contains("crashes"), "{e}");
        assert_eq!("spirv".parse::<BackendName>().unwrap(), BackendName::Spirv);
        assert_eq!(BackendName::Spirv.is_built(), cfg!(feature = "spirv"));
        if !cfg!(feature = "spirv") {
            let e = resolve(&BackendConfig::local(BackendName::Spirv, AdapterChoice::Default))
                .unwrap_err()
                .to_string();
            assert!(e.contains("--features spirv"), "{e}");
        }
    }

    #[test]
    fn adapter_choices_parse() {
        assert_eq!("default".parse::<AdapterChoice>().unwrap(), AdapterChoice::Default);
        assert_eq!("discrete".parse::<AdapterChoice>().unwrap(), AdapterChoice::Discrete(0));
        assert_eq!(
            "integrated:2".parse::<AdapterChoice>().unwrap(),
            AdapterChoice::Integrated(2)
        );
        assert_eq!("software".parse::<AdapterChoice>().unwrap(), AdapterChoice::Cpu);
        for bad in ["gpu", "discrete:x", "cpu:1", ""] {
            let err = bad.parse::<AdapterChoice>().unwrap_err().to_string();
            assert!(err.contains("bad adapter"), "{bad}: {err}");
        }
        for a in [AdapterChoice::Default, AdapterChoice::Discrete(1), AdapterChoice::Cpu] {
            assert_eq!(a.to_string().parse::<AdapterChoice>().unwrap(), a);
        }
    }

    #[test]
    fn cpu_backends_report_a_cpu_adapter() {
        let r = resolve(&BackendConfig::local(BackendName::Flex, AdapterChoice::Default)).unwrap();
        assert_eq!(r.backend, BackendName::Flex);
        assert!(r.adapter.is_software());
        assert!(r.describe().starts_with("flex on "));
    }
}
