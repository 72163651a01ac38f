//! Shared helpers for the mnist-cnn integration tests.
#![allow(dead_code)]

use gradlab::BackendName;
use mnist_cnn::config::MnistConfig;

/// A small, fast config: `train` training images, `test` test images, writing into `out`.
pub fn small_config(backend: BackendName, train: usize, test: usize, out: &std::path::Path) -> MnistConfig {
    MnistConfig {
        backend,
        train_limit: train,
        test_limit: test,
        epochs: 1,
        out_dir: out.to_path_buf(),
        ..MnistConfig::default()
    }
}

#[allow(unused_imports)]
pub use gradlab_testkit::backend;
