//! Workspace-level integration tests live beside this file (`cross_backend.rs`): checks that
//! span crates and backends. The library itself is empty.
