//! Records the version of burn this build links (from the workspace's `Cargo.lock`) as
//! `GRADLAB_BURN_VERSION`, so the bench's report names the burn it really ran.

fn main() {
    // The manifest folder cargo gives this run (not the one this script was compiled in: a
    // target folder shared by two checkouts reuses the compiled script).
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let lock = std::path::Path::new(&manifest).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let version = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|text| burn_version(&text))
        .unwrap_or_else(|| "unknown (no Cargo.lock entry for burn at build time)".into());
    println!("cargo:rustc-env=GRADLAB_BURN_VERSION={version}");
}

/// The `version` of the `[[package]]` named `burn` in a Cargo.lock text.
fn burn_version(lock: &str) -> Option<String> {
    lock.split("[[package]]").find_map(|entry| {
        let mut lines = entry.lines().map(str::trim);
        let is_burn = lines.clone().any(|l| l == "name = \"burn\"");
        is_burn
            .then(|| lines.find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"').map(String::from)))
            .flatten()
    })
}
