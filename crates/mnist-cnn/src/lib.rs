//! The Keras seed CNN on MNIST, on any burn backend chosen at run time.
//!
//! - [`config`]: the run configuration (defaults = `configs/mnist-cnn.toml`).
//! - [`data`]: mnist-5k / Fashion-MNIST / MNIST loaders, burn `Dataset`s, the batcher.
//! - [`model`]: the seed CNN (93,322 parameters).
//! - [`training`]: the training loop, checkpoints and run reports.
//! - [`inference`]: model folders (weights + what they were trained on), evaluation, confusion
//!   matrices and single-image prediction.
//! - [`preprocess`]: an image file → MNIST's form (decode, composite, invert, crop, scale, centre).
//! - [`exchange`]: the weights in PyTorch's and Keras's names and layouts (export, import).
//!
//! `main.rs` is a thin CLI over these.

pub mod config;
pub mod data;
pub mod exchange;
pub mod inference;
pub mod model;
pub mod preprocess;
pub mod training;
