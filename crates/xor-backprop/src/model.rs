//! The networks, in two engines that start from the same weights and are checked against each
//! other:
//!
//! - [`manual`]: plain `f64`, every derivative written by hand — the seed's single layer
//!   ŷ = σ(X·w) and its update rule, and the 3→4→1 network h = σ(X·W1), ŷ = σ(h·w2) with its
//!   backward pass and central finite differences.
//! - [`autodiff`]: the same 3→4→1 network as a burn module, differentiated by burn's autodiff
//!   on any backend; it converts both ways with [`manual::Mlp`].

pub mod autodiff;
pub mod manual;

/// Hidden units of the two-layer network.
pub const HIDDEN: usize = 4;
