//! Checked downloads: fetch a file from one of several mirrors, verify its SHA-256, then move
//! it into place atomically. Offline, the error says which file to put where.
//!
//! The HTTP client (`ureq`, with TLS) is behind this crate's `download` feature, which only
//! `mnist-cnn`'s own opt-in `download` feature turns on: a default build links no HTTP client,
//! and a missing file is an error saying where to put it and how to build the downloader.
//!
//! Architecture Invariant: tests never reach this module's network path.

use std::path::Path;

use anyhow::{Result, bail};
use sha2::{Digest, Sha256};

/// A file that can be downloaded and checked.
#[derive(Debug, Clone, Copy)]
pub struct Remote {
    /// File name, also its name on disk.
    pub file: &'static str,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: &'static str,
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Make sure `dir/remote.file` exists with the right checksum, downloading it from the first
/// mirror that answers (each mirror is a URL prefix ending in `/`).
pub fn ensure_file(dir: &Path, remote: &Remote, mirrors: &[&str]) -> Result<()> {
    let dest = dir.join(remote.file);
    if dest.exists() {
        let bytes = std::fs::read(&dest)?;
        let got = sha256_hex(&bytes);
        if got == remote.sha256 {
            return Ok(());
        }
        bail!(
            "{}: SHA-256 is {got}, expected {} — the file is corrupt or not the official one; delete it to download again",
            dest.display(),
            remote.sha256
        );
    }
    if !cfg!(feature = "download") {
        bail!(
            "{} is missing. Put the official file there (SHA-256 {}){}, or build with \
             `--features download` to fetch it",
            dest.display(),
            remote.sha256,
            mirrors
                .first()
                .map(|m| format!(" from {m}{}", remote.file))
                .unwrap_or_default()
        );
    }
    let mut failures = Vec::new();
    for mirror in mirrors {
        let url = format!("{mirror}{}", remote.file);
        eprintln!("downloading {url}");
        match fetch(&url) {
            Ok(bytes) => {
                let got = sha256_hex(&bytes);
                if got != remote.sha256 {
                    failures.push(format!("{url}: SHA-256 {got} does not match {}", remote.sha256));
                    continue;
                }
                crate::io::atomic_write(&dest, &bytes)?;
                return Ok(());
            }
            Err(e) => failures.push(format!("{url}: {e}")),
        }
    }
    bail!(
        "could not download {} ({}).\nOffline? Put the official file at {} (SHA-256 {}).",
        remote.file,
        failures.join("; "),
        dest.display(),
        remote.sha256
    )
}

#[cfg(not(feature = "download"))]
fn fetch(_url: &str) -> Result<Vec<u8>> {
    bail!("built without the `download` feature")
}

#[cfg(feature = "download")]
fn fetch(url: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let agent = ureq::Agent::config_builder()
        .timeout_connect(Some(std::time::Duration::from_secs(15)))
        .timeout_global(Some(std::time::Duration::from_secs(300)))
        .build()
        .new_agent();
    let mut response = agent.get(url).call()?;
    let mut bytes = Vec::new();
    response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .reader()
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #[cfg(not(feature = "download"))]
    #[test]
    fn a_build_without_the_downloader_says_how_to_get_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Remote {
            file: "h.gz",
            sha256: "cd",
        };
        let err = ensure_file(dir.path(), &remote, &["https://example.org/m/"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("https://example.org/m/h.gz"), "{err}");
        assert!(err.contains("--features download"), "{err}");
        assert!(!dir.path().join("h.gz").exists());
    }

    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn existing_file_with_wrong_checksum_is_reported_without_network() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.gz"), b"not it").unwrap();
        let remote = Remote {
            file: "f.gz",
            sha256: "00",
        };
        let err = ensure_file(dir.path(), &remote, &[]).unwrap_err().to_string();
        assert!(err.contains("corrupt") && err.contains("f.gz"), "{err}");
    }

    #[test]
    fn no_mirror_reachable_says_where_to_put_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Remote {
            file: "g.gz",
            sha256: "ab",
        };
        // No mirrors: nothing is fetched, and the message tells the user what to do.
        let err = ensure_file(dir.path(), &remote, &[]).unwrap_err().to_string();
        assert!(err.contains("Put the official file"), "{err}");
        assert!(err.contains("g.gz") && err.contains("ab"), "{err}");
    }
}
