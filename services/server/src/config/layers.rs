//! The layers of the configuration, merged into one TOML table: the file, then `STRATA_*`
//! environment variables, then flags. Each value remembers where it came from, so an error
//! names the key and the place to fix it. Nothing here knows a key: the keys are the paths
//! of the defaults' own serialization.

use std::collections::BTreeMap;

use super::legacy;

/// One table of settings, and where each of its values came from.
#[derive(Debug, Default)]
pub(super) struct Layers {
    /// Sections as sub-tables, node settings at the top.
    pub(super) table: toml::Table,
    /// `section.key` (or `key`) to `in FILE`, `STRATA_X` or `--flag`.
    pub(super) sources: BTreeMap<String, String>,
    /// Old key names that were used, as sentences for the log.
    pub(super) notes: Vec<String>,
}

/// The environment variable that sets `path` (`ingest.flush-bytes`: `STRATA_INGEST_FLUSH_BYTES`).
pub fn env_name(path: &str) -> String {
    format!(
        "STRATA_{}",
        path.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// Every leaf of `table` as `(dotted path, value)`.
pub(super) fn leaves(table: &toml::Table) -> Vec<(String, toml::Value)> {
    let mut out = Vec::new();
    for (k, v) in table {
        match v {
            toml::Value::Table(t) => {
                for (p, v) in leaves(t) {
                    out.push((format!("{k}.{p}"), v));
                }
            }
            v => out.push((k.clone(), v.clone())),
        }
    }
    out
}

/// A table holding only `value` at `path`.
pub(super) fn single(path: &str, value: toml::Value) -> toml::Table {
    let mut t = toml::Table::new();
    put(&mut t, path, value);
    t
}

fn put(table: &mut toml::Table, path: &str, value: toml::Value) {
    match path.split_once('.') {
        Some((section, rest)) => {
            let sub = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !sub.is_table() {
                *sub = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(sub) = sub {
                put(sub, rest, value);
            }
        }
        None => {
            table.insert(path.to_string(), value);
        }
    }
}

impl Layers {
    /// The file's table, with keys of the flat layout earlier releases read moved to their
    /// sections.
    pub(super) fn from_file(table: toml::Table, file: &str) -> Result<Self, super::ConfigError> {
        let mut layers = Self::default();
        for (key, value) in table {
            let path = match (&value, legacy::moved(&key)) {
                (toml::Value::Table(_), _) | (_, None) => key.clone(),
                (_, Some(new)) => {
                    if layers.sources.contains_key(new) {
                        return Err(super::ConfigError::new(
                            new,
                            Some(format!("in {file}")),
                            format!("given twice, as {new} and as {key}"),
                        ));
                    }
                    layers.note_moved(&key, new);
                    new.to_string()
                }
            };
            let source = if path == key {
                format!("in {file}")
            } else {
                format!("{key} in {file}")
            };
            for (leaf, _) in leaves(&single(&path, value.clone())) {
                if layers.sources.contains_key(&leaf) {
                    return Err(super::ConfigError::new(
                        &leaf,
                        Some(format!("in {file}")),
                        format!("given twice ({key} is its old name)"),
                    ));
                }
                layers.sources.insert(leaf, source.clone());
            }
            put(&mut layers.table, &path, value);
        }
        Ok(layers)
    }

    fn note_moved(&mut self, old: &str, new: &str) {
        let (section, key) = new.split_once('.').unwrap_or(("", new));
        self.notes.push(format!(
            "config key {old} is now {key} in [{section}] ({}); the old name still works",
            env_name(new)
        ));
    }

    /// Sets `path` to `text` from `source`: a number where the key takes one
    /// (`STRATA_INGEST_MAX_CONCURRENT_UPLOADS=2`), text otherwise (`STRATA_DATA_DIR=2` is a
    /// directory named `2`). `takes` says whether a table holding one value deserializes.
    pub(super) fn set_text(
        &mut self,
        path: &str,
        text: &str,
        source: String,
        takes: &dyn Fn(&toml::Table) -> bool,
    ) {
        let t = text.trim();
        let number = match t.parse::<i64>() {
            Ok(i) => Some(toml::Value::Integer(i)),
            Err(_) => t
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(toml::Value::Float),
        };
        let value = number
            .filter(|n| takes(&single(path, n.clone())))
            .unwrap_or_else(|| toml::Value::String(text.to_string()));
        self.set(path, value, source);
    }

    /// Sets `path` to `value` from `source`, over any earlier layer.
    pub(super) fn set(&mut self, path: &str, value: toml::Value, source: String) {
        put(&mut self.table, path, value);
        self.sources.insert(path.to_string(), source);
    }

    /// Reads `STRATA_<PATH>` for every path the settings have, and the flat names of earlier
    /// releases (`STRATA_GC_GRACE` for `compactor.gc-grace`); the new name wins over the old.
    pub(super) fn environment(
        &mut self,
        paths: &[String],
        var: &dyn Fn(&str) -> Option<String>,
        takes: &dyn Fn(&toml::Table) -> bool,
    ) {
        for (old, new) in legacy::MOVED {
            let name = env_name(old);
            if name == env_name(new) || !paths.iter().any(|p| p == new) {
                continue;
            }
            if let Some(v) = var(&name) {
                self.note_moved(&name, new);
                self.set_text(new, &v, name, takes);
            }
        }
        for path in paths {
            let name = env_name(path);
            if let Some(v) = var(&name) {
                self.set_text(path, &v, name, takes);
            }
        }
    }
}

#[cfg(test)]
mod tests;
