//! `rnn`: the seed's Elman RNN, as a character language model trained with backpropagation
//! through time on Pride and Prejudice.
//!
//! - [`manual`]: the cell and its BPTT derived by hand, in f64 (min-char-rnn's algorithm).
//! - [`model`]: the same cell on burn tensors with autodiff, batched; the seed's single step.
//! - [`data`]: the corpus, its character vocabulary and the held-out tail.
//! - [`training`]: the training loop for either engine.
//! - [`sample`]: text generation.
//! - [`inference`]: model folders (save, load) and a trained model's loss on any text (`rnn eval
//!   --text`).
//! - [`gradients`]: ‖∂L/∂h_t‖ through time, for several scales of `Whh` (`rnn gradients`).
//! - [`config`]: the run configuration.

pub mod config;
pub mod data;
pub mod gradients;
pub mod inference;
pub mod manual;
pub mod model;
pub mod sample;
pub mod training;
