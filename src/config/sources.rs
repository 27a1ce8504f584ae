//! The sources: the TOML file (unknown keys refused), the environment (`__` nesting,
//! unknown variables reported), `*_file` secrets, and naming a key the way the operator
//! wrote it in an error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use figment::Figment;

use super::*;

/// Where a key's value came from, to name it the way the operator wrote it.
pub(super) struct Origins {
    pub(super) figment: Figment,
}

impl Origins {
    /// `GATEHOUSE_ARGON2__MEMORY_KIB` when the value came from the environment,
    /// `argon2.memory_kib (in config.toml)` when from the file, the key otherwise.
    pub(super) fn name(&self, key: &str) -> String {
        match self.figment.find_metadata(key) {
            Some(md) if md.name.contains("environment") => env_name(key),
            Some(md) if md.name.contains("TOML") => match &md.source {
                Some(figment::Source::File(path)) => format!("{key} (in {})", path.display()),
                _ => key.to_string(),
            },
            _ => key.to_string(),
        }
    }

    pub(super) fn invalid(&self, key: &str, value: impl std::fmt::Display, expected: &str) -> ConfigError {
        ConfigError::Invalid {
            key: self.name(key),
            value: format!("\"{}\"", value.to_string().escape_debug()),
            expected: expected.to_string(),
        }
    }
}

/// The environment variable that sets `key` (`argon2.memory_kib` → `GATEHOUSE_ARGON2__MEMORY_KIB`).
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
}

/// `key` or `key_file` (whose content, trimmed, is the value), never both.
pub(super) fn resolve_secret(
    o: &Origins,
    key: &str,
    inline: Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<String>, ConfigError> {
    let file_key = format!("{key}_file");
    match file {
        None => Ok(inline),
        Some(path) => {
            // database_url always has a value (its default); the file replaces it.
            let default_inline =
                key == "database_url" && inline.as_deref() == Some(RawConfig::default().database_url.as_str());
            if inline.is_some() && !default_inline {
                return Err(ConfigError::Source(format!(
                    "{} and {}: set one of them, not both",
                    o.name(key),
                    o.name(&file_key)
                )));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| o.invalid(&file_key, path.display(), &format!("cannot be read: {e}")))?;
            let value = text.trim().to_string();
            if value.is_empty() {
                return Err(o.invalid(&file_key, path.display(), "is empty"));
            }
            Ok(Some(value))
        }
    }
}

/// Turns a figment extraction error into one line naming the key as the operator wrote it.
pub(super) fn describe_figment_error(e: &figment::Error) -> ConfigError {
    let key = e.path.join(".");
    let from_env = e.metadata.as_ref().is_some_and(|m| m.name.contains("environment"));
    let name = if from_env { env_name(&key) } else { key.clone() };
    match &e.kind {
        figment::error::Kind::InvalidType(actual, expected) => ConfigError::Invalid {
            key: name,
            value: actual.to_string(),
            expected: format!("is not {expected}"),
        },
        figment::error::Kind::InvalidValue(actual, expected) => ConfigError::Invalid {
            key: name,
            value: actual.to_string(),
            expected: format!("is not {expected}"),
        },
        other => ConfigError::Source(format!("{name}: {other}")),
    }
}

/// Every key path (`a`, `argon2.memory_kib`) the configuration knows.
pub(super) fn known_keys() -> BTreeSet<String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeSet<String>) {
        if let serde_json::Value::Object(map) = v {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                walk(&path, child, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    if let Ok(v) = serde_json::to_value(RawConfig::default()) {
        walk("", &v, &mut out);
    }
    out
}

/// A typo in the file is an error, not a silently ignored key.
pub(super) fn check_unknown_toml_keys(text: &str, path: &Path) -> Result<(), ConfigError> {
    let value: toml::Table = toml::from_str(text)
        .map_err(|e| ConfigError::Source(format!("{}: not valid TOML: {}", path.display(), e.message())))?;
    let known = known_keys();
    fn walk(prefix: &str, t: &toml::Table, known: &BTreeSet<String>, path: &Path) -> Result<(), ConfigError> {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if !known.contains(&key) {
                return Err(ConfigError::Source(format!(
                    "{key} (in {}): unknown configuration key",
                    path.display()
                )));
            }
            if let toml::Value::Table(child) = v {
                walk(&key, child, known, path)?;
            }
        }
        Ok(())
    }
    walk("", &value, &known, path)
}

/// `GATEHOUSE_*` variables that name no configuration key (likely typos), for a warning.
pub fn unknown_env_vars(env: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let known = known_keys();
    env.into_iter()
        .filter_map(|(k, _)| {
            let rest = k.strip_prefix(ENV_PREFIX)?.to_lowercase();
            let key = rest.replace("__", ".");
            (!ENV_NOT_KEYS.contains(&rest.as_str()) && !known.contains(&key)).then_some(k)
        })
        .collect()
}

/// An env provider over a given set of variables rather than the live process
/// environment, so loading is a pure function of its inputs.
pub(super) struct EnvSnapshot {
    pub(super) vars: Vec<(String, String)>,
}

impl figment::Provider for EnvSnapshot {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("`{ENV_PREFIX}` environment variable(s)"))
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Map, Value};
        let mut dict = Dict::new();
        for (k, v) in &self.vars {
            let Some(rest) = k.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let rest = rest.to_lowercase();
            if rest.is_empty() || ENV_NOT_KEYS.contains(&rest.as_str()) {
                continue;
            }
            let path: Vec<&str> = rest.split("__").collect();
            let value: Value = v.parse().unwrap_or_else(|_| Value::from(v.clone()));
            insert_path(&mut dict, &path, value);
        }
        let mut map = Map::new();
        map.insert(figment::Profile::Default, dict);
        Ok(map)
    }
}

pub(super) fn insert_path(dict: &mut figment::value::Dict, path: &[&str], value: figment::value::Value) {
    use figment::value::{Dict, Value};
    match path {
        [] => {}
        [last] => {
            dict.insert((*last).to_string(), value);
        }
        [head, rest @ ..] => {
            let entry = dict
                .entry((*head).to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, child) = entry {
                insert_path(child, rest, value);
            } else {
                let mut child = Dict::new();
                insert_path(&mut child, rest, value);
                *entry = Value::from(child);
            }
        }
    }
}
