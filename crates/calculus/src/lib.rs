//! The seed's calculus examples, each derivative three ways: by hand (the formula), by burn's
//! autodiff on the configured backend, and (in the tests) by finite differences.
//!
//! One module per example: [`sigmoid`], [`derivative`], [`descent`], [`surface`], [`partial`],
//! [`chain`], [`normal`], [`taylor`], [`conv`]; each has a `run` that computes and a `report`
//! that prints the numbers and draws the plot. [`common`] holds the shared helpers, [`plot`] the
//! pictures that are not line plots, [`report`] what every `report` takes (the device, where
//! plots go) and [`config`] the configuration.

pub mod chain;
pub mod common;
pub mod config;
pub mod conv;
pub mod derivative;
pub mod descent;
pub mod normal;
pub mod partial;
pub mod plot;
pub mod report;
pub mod sigmoid;
pub mod surface;
pub mod taylor;

pub use config::CalculusConfig;
