//! Layered run configuration: built-in defaults < TOML files (in order) < CLI flags.
//!
//! Each crate defines one config struct with `#[serde(default, deny_unknown_fields)]` and a
//! `Default` impl equal to its `configs/<crate>.toml`. [`load_layers`] checks every file on its
//! own (so an unknown key or a wrong type is reported with the file, line and key), then merges
//! them; the crate applies its CLI flags on top and calls its `validate`.
//!
//! Architecture Invariant: the resolved config is printed at the start of every run and saved
//! beside its outputs ([`save_resolved`]), so a run can be repeated from its own folder.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Read and merge the TOML `files` (later files override earlier ones, key by key) over the
/// defaults of `T`.
pub fn load_layers<T>(files: &[PathBuf]) -> Result<T>
where
    T: DeserializeOwned + Serialize + Default,
{
    let mut merged = toml::Table::try_from(T::default()).context("serialising the defaults")?;
    for path in files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        // Parse into T alone first: serde reports unknown keys and wrong types with a span.
        toml::from_str::<T>(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        merge(&mut merged, table);
    }
    T::deserialize(toml::Value::Table(merged))
        .map_err(|e| anyhow::anyhow!("merged config: {}", e.to_string().trim_end()))
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// The resolved config as TOML text.
pub fn to_toml<T: Serialize>(config: &T) -> Result<String> {
    toml::to_string_pretty(config).context("serialising the resolved config")
}

/// Write the resolved config to `dir/config.toml` (atomically) and return the path.
pub fn save_resolved<T: Serialize>(config: &T, dir: &Path) -> Result<PathBuf> {
    let path = dir.join("config.toml");
    crate::io::atomic_write(&path, to_toml(config)?.as_bytes())?;
    Ok(path)
}

/// Check that `value` lies in `[min, max]`, naming the key otherwise.
pub fn check_range<V>(key: &str, value: V, min: V, max: V) -> Result<()>
where
    V: PartialOrd + std::fmt::Display + Copy,
{
    if !(value >= min && value <= max) {
        bail!("config: `{key}` = {value} is out of range (allowed {min} ..= {max})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Demo {
        epochs: usize,
        lr: f64,
        name: String,
    }
    impl Default for Demo {
        fn default() -> Self {
            Demo {
                epochs: 5,
                lr: 0.001,
                name: "x".into(),
            }
        }
    }

    fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), "a.toml", "epochs = 7\nname = \"a\"\n");
        let b = file(dir.path(), "b.toml", "name = \"b\"\n");
        let c: Demo = load_layers(&[a, b]).unwrap();
        assert_eq!(
            c,
            Demo {
                epochs: 7,
                lr: 0.001,
                name: "b".into()
            }
        );
        assert_eq!(load_layers::<Demo>(&[]).unwrap(), Demo::default());
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = file(dir.path(), "bad.toml", "epochs = 1\nepoch = 3\n");
        let err = format!("{:#}", load_layers::<Demo>(&[p]).unwrap_err());
        assert!(err.contains("bad.toml"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("unknown field `epoch`"), "{err}");
    }

    #[test]
    fn wrong_type_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = file(dir.path(), "bad.toml", "epochs = \"five\"\n");
        let err = format!("{:#}", load_layers::<Demo>(&[p]).unwrap_err());
        assert!(err.contains("bad.toml") && err.contains("epochs"), "{err}");
    }

    #[test]
    fn missing_file_is_named() {
        let err = format!(
            "{:#}",
            load_layers::<Demo>(&[PathBuf::from("/nonexistent/x.toml")]).unwrap_err()
        );
        assert!(err.contains("/nonexistent/x.toml"), "{err}");
    }

    #[test]
    fn range_check_names_key_and_value() {
        assert!(check_range("epochs", 3, 1, 10).is_ok());
        let err = check_range("lr", -1.0, 0.0, 1.0).unwrap_err().to_string();
        assert!(err.contains("`lr` = -1"), "{err}");
        assert!(check_range("lr", f64::NAN, 0.0, 1.0).is_err());
    }
}
