//! Feature pins only; see Cargo.toml.
