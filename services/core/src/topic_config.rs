//! Topic configuration with Kafka's names, defaults and meanings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest `max.message.bytes` a topic may set (a record must fit in one produce request).
pub const MAX_MESSAGE_BYTES_LIMIT: u64 = 16 * 1024 * 1024;

/// A config key or value that was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[error("invalid config {key}={value:?}: {reason}")]
pub struct ConfigError {
    /// The key.
    pub key: String,
    /// The value given.
    pub value: String,
    /// Why it was refused and what is accepted.
    pub reason: String,
}

/// `cleanup.policy`: which retention mechanisms apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupPolicy {
    /// Old segments are deleted by time and size.
    pub delete: bool,
    /// Only the latest record per key is kept.
    pub compact: bool,
}

impl CleanupPolicy {
    fn as_str(self) -> &'static str {
        match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            _ => "delete",
        }
    }
}

/// Effective configuration of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopicConfig {
    /// `cleanup.policy` (default `delete`).
    pub cleanup_policy: CleanupPolicy,
    /// `retention.ms`, `-1` for no limit (default 7 days).
    pub retention_ms: i64,
    /// `retention.bytes` per partition, `-1` for no limit (default).
    pub retention_bytes: i64,
    /// `segment.bytes`: target size of merged segments (default 1 GiB).
    pub segment_bytes: u64,
    /// `min.compaction.lag.ms` (default 0).
    pub min_compaction_lag_ms: i64,
    /// `delete.retention.ms`: how long tombstones survive compaction (default 1 day).
    pub delete_retention_ms: i64,
    /// `max.message.bytes`: largest record accepted (default 1048588, as Kafka).
    pub max_message_bytes: u64,
    /// `archive`: write the topic to the Parquet archive (default false).
    pub archive: bool,
    /// `compression`: zstd level 1 to 19, or 0 for none (default 1).
    pub compression: i32,
    /// `archive.interval.ms`: the longest a committed record waits before it is archived
    /// (default 10 minutes).
    pub archive_interval_ms: i64,
    /// `archive.file.bytes`: target size of one archive file, in raw record bytes (default
    /// 128 MiB).
    pub archive_file_bytes: u64,
    /// `archive.json.fields`: fields of JSON values projected into typed archive columns,
    /// `name:type,...` (default none).
    pub archive_json_fields: Vec<JsonField>,
}

/// A JSON field projected into a typed column of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonField {
    /// Top-level field of the JSON value, and the column's name.
    pub name: String,
    /// Column type.
    pub kind: JsonKind,
}

/// Type of a projected JSON column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JsonKind {
    /// `boolean`.
    Boolean,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `float` (32-bit).
    Float,
    /// `double`.
    Double,
    /// `string`.
    String,
}

impl JsonKind {
    /// The name used in `archive.json.fields`.
    pub fn as_str(self) -> &'static str {
        match self {
            JsonKind::Boolean => "boolean",
            JsonKind::Int32 => "int32",
            JsonKind::Int64 => "int64",
            JsonKind::Float => "float",
            JsonKind::Double => "double",
            JsonKind::String => "string",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "boolean" | "bool" => JsonKind::Boolean,
            "int32" | "int" => JsonKind::Int32,
            "int64" | "long" => JsonKind::Int64,
            "float" => JsonKind::Float,
            "double" => JsonKind::Double,
            "string" => JsonKind::String,
            _ => return None,
        })
    }
}

/// Columns every archive file has; projected JSON fields may not reuse their names.
pub const ARCHIVE_COLUMNS: &[&str] = &[
    "topic",
    "partition",
    "offset",
    "timestamp",
    "key",
    "value",
    "headers",
];

fn parse_json_fields(v: &str) -> Result<Vec<JsonField>, String> {
    let mut fields: Vec<JsonField> = Vec::new();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, kind) = part
            .split_once(':')
            .ok_or_else(|| format!("{part:?} is not name:type"))?;
        let (name, kind) = (name.trim(), kind.trim());
        if name.is_empty()
            || name.len() > 128
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!(
                "field name {name:?} must be 1 to 128 letters, digits or underscores"
            ));
        }
        if ARCHIVE_COLUMNS.contains(&name) {
            return Err(format!(
                "field name {name:?} is one of the archive's own columns"
            ));
        }
        if fields.iter().any(|f| f.name == name) {
            return Err(format!("field {name:?} is given twice"));
        }
        let kind = JsonKind::parse(kind).ok_or_else(|| {
            format!(
                "type {kind:?} of {name} is not one of boolean, int32, int64, float, double, string"
            )
        })?;
        fields.push(JsonField {
            name: name.to_string(),
            kind,
        });
    }
    Ok(fields)
}

fn json_fields_string(fields: &[JsonField]) -> String {
    fields
        .iter()
        .map(|f| format!("{}:{}", f.name, f.kind.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            cleanup_policy: CleanupPolicy {
                delete: true,
                compact: false,
            },
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            segment_bytes: 1 << 30,
            min_compaction_lag_ms: 0,
            delete_retention_ms: 24 * 3600 * 1000,
            max_message_bytes: 1_048_588,
            archive: false,
            compression: 1,
            archive_interval_ms: 10 * 60 * 1000,
            archive_file_bytes: 128 * 1024 * 1024,
            archive_json_fields: Vec::new(),
        }
    }
}

/// Every key a topic config accepts.
pub const CONFIG_KEYS: &[&str] = &[
    "archive",
    "archive.file.bytes",
    "archive.interval.ms",
    "archive.json.fields",
    "cleanup.policy",
    "compression",
    "delete.retention.ms",
    "max.message.bytes",
    "min.compaction.lag.ms",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
];

impl TopicConfig {
    /// Returns this config with `changes` applied, or the first refused entry.
    pub fn with_changes(&self, changes: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut c = self.clone();
        for (key, value) in changes {
            let err = |reason: &str| ConfigError {
                key: key.clone(),
                value: value.clone(),
                reason: reason.to_string(),
            };
            let v = value.trim();
            match key.as_str() {
                "cleanup.policy" => {
                    let mut p = CleanupPolicy {
                        delete: false,
                        compact: false,
                    };
                    for part in v.split(',').map(str::trim) {
                        match part {
                            "delete" => p.delete = true,
                            "compact" => p.compact = true,
                            _ => return Err(err("expected delete, compact or compact,delete")),
                        }
                    }
                    c.cleanup_policy = p;
                }
                "retention.ms" => c.retention_ms = int_at_least(v, -1).map_err(|r| err(&r))?,
                "retention.bytes" => {
                    c.retention_bytes = int_at_least(v, -1).map_err(|r| err(&r))?
                }
                "segment.bytes" => {
                    c.segment_bytes = int_at_least(v, 1024).map_err(|r| err(&r))? as u64
                }
                "min.compaction.lag.ms" => {
                    c.min_compaction_lag_ms = int_at_least(v, 0).map_err(|r| err(&r))?
                }
                "delete.retention.ms" => {
                    c.delete_retention_ms = int_at_least(v, 0).map_err(|r| err(&r))?
                }
                "max.message.bytes" => {
                    let n = int_at_least(v, 1).map_err(|r| err(&r))? as u64;
                    if n > MAX_MESSAGE_BYTES_LIMIT {
                        return Err(err(&format!("at most {MAX_MESSAGE_BYTES_LIMIT}")));
                    }
                    c.max_message_bytes = n;
                }
                "archive" => {
                    c.archive = match v {
                        "true" => true,
                        "false" => false,
                        _ => return Err(err("expected true or false")),
                    }
                }
                "archive.interval.ms" => {
                    c.archive_interval_ms = int_at_least(v, 1).map_err(|r| err(&r))?
                }
                "archive.file.bytes" => {
                    c.archive_file_bytes = int_at_least(v, 1024).map_err(|r| err(&r))? as u64
                }
                "archive.json.fields" => {
                    c.archive_json_fields = parse_json_fields(v).map_err(|r| err(&r))?
                }
                "compression" => {
                    let n = int_at_least(v, 0).map_err(|r| err(&r))?;
                    if n > 19 {
                        return Err(err("expected a zstd level from 1 to 19, or 0 for none"));
                    }
                    c.compression = n as i32;
                }
                _ => {
                    return Err(err(&format!(
                        "unknown config key; known keys: {}",
                        CONFIG_KEYS.join(", ")
                    )));
                }
            }
        }
        Ok(c)
    }

    /// Returns every effective value under its Kafka name.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("archive", self.archive.to_string());
        put("archive.file.bytes", self.archive_file_bytes.to_string());
        put("archive.interval.ms", self.archive_interval_ms.to_string());
        put(
            "archive.json.fields",
            json_fields_string(&self.archive_json_fields),
        );
        put("cleanup.policy", self.cleanup_policy.as_str().to_string());
        put("compression", self.compression.to_string());
        put("delete.retention.ms", self.delete_retention_ms.to_string());
        put("max.message.bytes", self.max_message_bytes.to_string());
        put(
            "min.compaction.lag.ms",
            self.min_compaction_lag_ms.to_string(),
        );
        put("retention.bytes", self.retention_bytes.to_string());
        put("retention.ms", self.retention_ms.to_string());
        put("segment.bytes", self.segment_bytes.to_string());
        m
    }
}

fn int_at_least(v: &str, min: i64) -> Result<i64, String> {
    let n: i64 = v
        .parse()
        .map_err(|_| format!("expected an integer of at least {min}"))?;
    if n < min {
        return Err(format!("expected an integer of at least {min}"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
