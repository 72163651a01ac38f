//! gradlab-web's integration tests as one test binary, a module per file: one link of burn instead
//! of one per file (the layout cargo's book suggests for large suites).

mod api;
mod browser;
mod cli;
mod common;
mod hostile;
