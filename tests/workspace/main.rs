//! The workspace-level tests as one test binary, a module per file (the layout cargo's book
//! suggests for large suites). `launches` stays a binary of its own: CubeCL's launch hook counts
//! every thread's kernels, so no other test may run kernels in its process.

mod architecture;
mod book;
mod cross_backend;
mod scripts;
