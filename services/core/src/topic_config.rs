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
        }
    }
}

/// Every key a topic config accepts.
pub const CONFIG_KEYS: &[&str] = &[
    "archive",
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
mod tests {
    use super::*;

    fn changes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_kafka_and_round_trip_through_the_map() {
        let d = TopicConfig::default();
        let m = d.to_map();
        assert_eq!(m["cleanup.policy"], "delete");
        assert_eq!(m["retention.ms"], "604800000");
        assert_eq!(m["max.message.bytes"], "1048588");
        assert_eq!(d.with_changes(&m).expect("own values parse"), d);
    }

    #[test]
    fn accepts_valid_changes() {
        let c = TopicConfig::default()
            .with_changes(&changes(&[
                ("cleanup.policy", "delete,compact"),
                ("retention.ms", "-1"),
                ("archive", "true"),
                ("compression", "0"),
            ]))
            .expect("valid");
        assert!(c.cleanup_policy.compact && c.cleanup_policy.delete);
        assert_eq!(c.to_map()["cleanup.policy"], "compact,delete");
        assert_eq!(c.retention_ms, -1);
        assert!(c.archive);
        assert_eq!(c.compression, 0);
    }

    #[test]
    fn refuses_bad_keys_and_values() {
        for (k, v) in [
            ("cleanup.policy", "forever"),
            ("retention.ms", "-2"),
            ("retention.ms", "soon"),
            ("segment.bytes", "10"),
            ("max.message.bytes", "999999999"),
            ("archive", "yes"),
            ("compression", "20"),
            ("no.such.key", "1"),
        ] {
            let e = TopicConfig::default()
                .with_changes(&changes(&[(k, v)]))
                .expect_err("invalid");
            assert_eq!(e.key, k);
        }
    }
}
