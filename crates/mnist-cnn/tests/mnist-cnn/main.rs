//! mnist-cnn's integration tests as one test binary, a module per file: one link of burn instead
//! of one per file (the layout cargo's book suggests for large suites).

mod cli;
#[path = "../common/mod.rs"]
mod common;
mod exchange;
mod hostile;
mod model;
mod onnx;
mod parallel;
mod predict;
#[path = "../steps/mod.rs"]
mod steps;
mod training;
