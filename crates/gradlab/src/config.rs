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

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Read and merge the TOML `files` (later files override earlier ones, key by key) over the
/// defaults of `T`.
pub fn load_layers<T>(files: &[PathBuf]) -> Result<T>
where
    T: DeserializeOwned + Serialize + Default,
{
    Ok(load_layers_traced(files)?.0)
}

/// [`load_layers`], also returning where each top-level key was last set (file and line).
pub fn load_layers_traced<T>(files: &[PathBuf]) -> Result<(T, Origins)>
where
    T: DeserializeOwned + Serialize + Default,
{
    let mut merged = toml::Table::try_from(T::default()).context("serialising the defaults")?;
    let mut origins = Origins::default();
    for path in files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        // Parse into T alone first: serde reports unknown keys and wrong types with a span.
        toml::from_str::<T>(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        for key in table.keys() {
            let at = match top_level_line(&text, key) {
                Some(line) => format!("{} line {line}", path.display()),
                None => path.display().to_string(),
            };
            origins.set(key, at);
        }
        merge(&mut merged, table);
    }
    let cfg = T::deserialize(toml::Value::Table(merged))
        .map_err(|e| anyhow::anyhow!("merged config: {}", e.to_string().trim_end()))?;
    Ok((cfg, origins))
}

/// The 1-based line of `key = …` among the top-level keys of a TOML text (before its first
/// `[table]` header), bare or quoted.
fn top_level_line(text: &str, key: &str) -> Option<usize> {
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.starts_with('[') {
            return None;
        }
        let name = l.split('=').next().unwrap_or("").trim();
        if l.contains('=') && (name == key || name.trim_matches(|c| c == '"' || c == '\'') == key) {
            return Some(i + 1);
        }
    }
    None
}

/// Where each config key's value came from: a file and line, a command-line flag, or (keys not
/// listed) the built-in default. Used to say which layer set a value that fails validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins {
    by_key: std::collections::BTreeMap<String, String>,
}

impl Origins {
    /// Record that `origin` (e.g. `a.toml line 3`, `--lr`) set `key`.
    pub fn set(&mut self, key: &str, origin: impl Into<String>) {
        self.by_key.insert(key.to_owned(), origin.into());
    }

    /// Where `key` was set: its file and line, its flag, or "the built-in default".
    pub fn of(&self, key: &str) -> String {
        self.by_key
            .get(key)
            .cloned()
            .unwrap_or_else(|| "the built-in default".into())
    }

    /// `result` (a config's `validate()`), with an out-of-range error prefixed by the layer
    /// that set the value.
    pub fn check(&self, result: Result<()>) -> Result<()> {
        result.map_err(|e| match e.downcast_ref::<OutOfRange>() {
            Some(r) => anyhow::anyhow!("{}: {r}", self.of(&r.key)),
            None => e,
        })
    }
}

/// A config value outside its allowed range ([`check_range`], [`invalid`]); [`Origins::check`]
/// names the layer that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRange {
    /// The config key.
    pub key: String,
    /// What is wrong, naming the key and the value.
    pub message: String,
}

impl std::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OutOfRange {}

/// An error for config key `key` whose value is wrong for a reason `message` states (it should
/// name the key and the value).
pub fn invalid(key: &str, message: impl Into<String>) -> anyhow::Error {
    OutOfRange {
        key: key.to_owned(),
        message: message.into(),
    }
    .into()
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
        return Err(invalid(
            key,
            format!("config: `{key}` = {value} is out of range (allowed {min} ..= {max})"),
        ));
    }
    Ok(())
}

/// What every binary's config has: `backend`, `adapter`, `remote_url`, `remote_token_file` and
/// `out_dir` keys, which the shared
/// command line overrides ([`crate::cli::RunArgs::load`]). Implement it with
/// [`run_config!`](crate::run_config).
pub trait RunConfig: serde::de::DeserializeOwned + Serialize + Default {
    /// The fields, to override.
    fn run_fields(&mut self) -> RunFields<'_>;
    /// The backend part of the config.
    fn backend_config(&self) -> crate::BackendConfig;
}

/// The fields [`RunConfig::run_fields`] gives access to.
pub struct RunFields<'a> {
    /// `backend`.
    pub backend: &'a mut crate::BackendName,
    /// `adapter`.
    pub adapter: &'a mut crate::AdapterChoice,
    /// `remote_url`.
    pub remote_url: &'a mut Option<crate::backend::RemoteUrl>,
    /// `out_dir`.
    pub out_dir: &'a mut std::path::PathBuf,
}

/// `gradlab::run_config!(MnistConfig);`: [`RunConfig`] for a config struct with the fields
/// `backend`, `adapter`, `remote_url`, `remote_token_file` and `out_dir`.
#[macro_export]
macro_rules! run_config {
    ($config:ty) => {
        impl $crate::config::RunConfig for $config {
            fn run_fields(&mut self) -> $crate::config::RunFields<'_> {
                $crate::config::RunFields {
                    backend: &mut self.backend,
                    adapter: &mut self.adapter,
                    remote_url: &mut self.remote_url,
                    out_dir: &mut self.out_dir,
                }
            }
            fn backend_config(&self) -> $crate::BackendConfig {
                $crate::BackendConfig {
                    backend: self.backend,
                    adapter: self.adapter,
                    remote: self.remote_url.clone().map(|url| $crate::backend::RemoteSpec {
                        url,
                        token_file: self.remote_token_file.clone(),
                    }),
                }
            }
        }
    };
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
    fn an_out_of_range_value_names_the_layer_that_set_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), "a.toml", "# epochs\nname = \"a\"\n  epochs = 0\n");
        let b = file(dir.path(), "b.toml", "\"lr\" = 2.0\n[section]\nepochs = 9\n");
        let (c, mut origins): (Demo, Origins) = load_layers_traced(&[a]).unwrap();
        let validate = |c: &Demo| check_range("epochs", c.epochs, 1, 10).and(check_range("lr", c.lr, 0.0, 1.0));
        let err = origins.check(validate(&c)).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{} line 3: config: `epochs` = 0",
                dir.path().join("a.toml").display()
            )),
            "{err}"
        );
        origins.set("epochs", "--epochs");
        let err = origins.check(validate(&c)).unwrap_err().to_string();
        assert!(err.starts_with("--epochs: config: `epochs` = 0"), "{err}");
        assert_eq!(top_level_line(&std::fs::read_to_string(&b).unwrap(), "lr"), Some(1));
        assert_eq!(top_level_line(&std::fs::read_to_string(&b).unwrap(), "epochs"), None);
        let ok = Demo {
            lr: 5.0,
            ..Demo::default()
        };
        let err = Origins::default().check(validate(&ok)).unwrap_err().to_string();
        assert!(err.starts_with("the built-in default: config: `lr` = 5"), "{err}");
        // Other errors pass through unchanged.
        let other = Origins::default().check(Err(anyhow::anyhow!("boom"))).unwrap_err();
        assert_eq!(other.to_string(), "boom");
    }

    #[test]
    fn range_check_names_key_and_value() {
        assert!(check_range("epochs", 3, 1, 10).is_ok());
        let err = check_range("lr", -1.0, 0.0, 1.0).unwrap_err().to_string();
        assert!(err.contains("`lr` = -1"), "{err}");
        assert!(check_range("lr", f64::NAN, 0.0, 1.0).is_err());
    }
}
