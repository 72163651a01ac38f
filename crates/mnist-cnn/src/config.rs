//! `mnist-cnn`'s run configuration: defaults (equal to `configs/mnist-cnn.toml`) < `--config`
//! files < CLI flags, validated once into the config every other module reads.

use std::path::PathBuf;

use anyhow::Result;
use gradlab::config::check_range;
use gradlab::{AdapterChoice, BackendName};
use serde::{Deserialize, Serialize};

use crate::data::DatasetName;

// `backend`, `adapter`, `remote_url`, `remote_token_file` and `out_dir`, which the shared command line overrides.
gradlab::run_config!(MnistConfig);

/// Everything a training run needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MnistConfig {
    /// `auto`, `flex`, `ndarray`, `wgpu`, `vulkan` or `remote`.
    pub backend: BackendName,
    /// wgpu/vulkan adapter: `default`, `discrete[:N]`, `integrated[:N]`, `cpu`.
    pub adapter: AdapterChoice,
    /// `backend = "remote"`: the gradlab-serve to run on, `ws://HOST:PORT`.
    pub remote_url: Option<gradlab::RemoteUrl>,
    /// `backend = "remote"`: the file whose first line is the server's access token (else
    /// `$GRADLAB_REMOTE_TOKEN`, else none).
    pub remote_token_file: Option<PathBuf>,
    /// `mnist-5k`, `fashion-mnist` or `mnist`.
    pub dataset: DatasetName,
    /// Folder holding `mnist-5k/` (relative paths are tried from the current folder, then from
    /// the workspace root).
    pub data_dir: PathBuf,
    /// Folder of the official MNIST files (downloaded there when missing).
    pub mnist_dir: PathBuf,
    /// Folder of the Fashion-MNIST files (Debian package `dataset-fashion-mnist`).
    pub fashion_dir: PathBuf,
    /// mnist-5k only: size of the stratified test split.
    pub test_size: usize,
    /// Use only the first N training images (0 = all).
    pub train_limit: usize,
    /// Use only the first N test images (0 = all).
    pub test_limit: usize,
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per training step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Seed for weights, split and data order.
    pub seed: u64,
    /// Where runs are written: `<out_dir>/run-NNN/`.
    pub out_dir: PathBuf,
    /// `true` (default): each `relu(conv)` (+ max-pool) as one fastconv op — the same function;
    /// fast CPU kernels on flex, CubeCL kernels on wgpu/vulkan, burn's stock ops behind the same
    /// op on ndarray, the stock layers on remote — and (flex) glibc's malloc keeps freed memory
    /// for reuse; `false`: burn's stock
    /// `Conv2d` + `relu` + `MaxPool2d`, allocator untouched.
    pub fast_path: bool,
    /// Data-parallel training over these devices (`["flex", "flex"]`, `["wgpu:0", "wgpu:1"]`,
    /// two gradlab-serve servers `["ws://a:3000", "ws://b:3000"]`):
    /// each step splits the batch across them; the first is the main device — it holds the
    /// model and the optimizer, gathers the gradients and runs the evaluation — and replaces
    /// `backend`/`adapter`. Empty (default): one device, `backend`.
    pub devices: Vec<gradlab::parallel::DeviceSpec>,
}

impl Default for MnistConfig {
    fn default() -> Self {
        MnistConfig {
            backend: BackendName::Auto,
            adapter: AdapterChoice::Default,
            remote_url: None,
            remote_token_file: None,
            dataset: DatasetName::Mnist5k,
            data_dir: "datasets".into(),
            mnist_dir: "datasets/mnist".into(),
            fashion_dir: "/usr/share/datasets/fashion-mnist".into(),
            test_size: 1000,
            train_limit: 0,
            test_limit: 0,
            epochs: 5,
            batch_size: 32,
            learning_rate: 1e-3,
            seed: 42,
            out_dir: "runs/mnist-cnn".into(),
            fast_path: true,
            devices: Vec::new(),
        }
    }
}

impl MnistConfig {
    /// Check every value; errors name the key and the value.
    pub fn validate(&self) -> Result<()> {
        check_range("epochs", self.epochs, 1, 100_000)?;
        check_range("batch_size", self.batch_size, 1, 65_536)?;
        check_range("learning_rate", self.learning_rate, 1e-12, 10.0)?;
        check_range("test_size", self.test_size, 1, 1_000_000)?;
        Ok(())
    }
}
