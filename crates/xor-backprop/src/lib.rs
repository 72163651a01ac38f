//! XOR, the smallest problem that needs a hidden layer, solved twice: by backpropagation
//! derived by hand ([`manual`], plain `f64`) and by burn's autodiff on any backend
//! ([`autodiff`]); the two agree with each other and with finite differences.
//!
//! - [`manual`]: the seed's single-layer network and update rule, and a 3→4→1 network with
//!   its backward pass written line by line.
//! - [`autodiff`]: the same 3→4→1 network as a burn module.
//! - [`config`]: the run configuration (defaults = `configs/xor-backprop.toml`).

pub mod autodiff;
pub mod config;
pub mod manual;
