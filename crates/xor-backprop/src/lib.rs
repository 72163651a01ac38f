//! XOR, the smallest problem that needs a hidden layer, solved twice: by backpropagation
//! derived by hand ([`manual`], plain `f64`) and by burn's autodiff on any backend
//! ([`autodiff`]); the two agree with each other and with finite differences.
//!
//! - [`config`]: the run configuration (defaults = `configs/xor-backprop.toml`).
//! - [`data`]: XOR's truth table with the seed's bias column, in `f64` and as tensors.
//! - [`model`]: the networks in two engines, [`model::manual`] (the seed's single layer and a
//!   3→4→1 network, backward pass by hand, finite differences) and [`model::autodiff`] (the
//!   same 3→4→1 network as a burn module); both are also named at the crate root.
//! - [`training`]: the training loops (the seed's rule, gradient descent by hand and by
//!   autodiff) and the run folder `seed` and `train` write.
//! - [`inference`]: the networks' answers on the four inputs, their accuracy, and the tables
//!   `seed` and `train` print.
//! - [`gradcheck`]: hand-derived gradients against autodiff and finite differences.
//!
//! `main.rs` is a thin CLI over these.

pub mod config;
pub mod data;
pub mod gradcheck;
pub mod inference;
pub mod model;
pub mod training;

pub use model::{autodiff, manual};
