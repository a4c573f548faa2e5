//! The compactor's decisions as pure functions: which extents retention drops, where the
//! uncleanable head starts, which records compaction keeps, and which runs of extents to merge.
//! Kafka's meanings throughout (`cleanup.policy`, `retention.ms`, `retention.bytes`,
//! `min.compaction.lag.ms`, `delete.retention.ms`; KIP-71 for `compact,delete`).

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use strata_core::ids::Offset;
use strata_core::meta::Extent;
use strata_core::record::StoredRecord;
use strata_core::topic_config::TopicConfig;

/// Returns the log start offset `cleanup.policy=delete` allows: past every leading extent whose
/// newest record is older than `retention.ms`, then past leading extents while what remains is
/// still at least `retention.bytes` (Kafka deletes a segment only if the log stays at or above
/// the limit without it). Never lowers `log_start`, and never passes the archive: with
/// `archive=true` only extents archived in full are dropped.
pub fn retention_start(
    extents: &[Extent],
    log_start: Offset,
    high_watermark: Offset,
    config: &TopicConfig,
    archived_through: Option<Offset>,
    now_ms: i64,
) -> Offset {
    if !config.cleanup_policy.delete {
        return log_start;
    }
    let mut i = 0;
    if config.retention_ms >= 0 {
        let horizon = now_ms.saturating_sub(config.retention_ms);
        while i < extents.len() && extents[i].max_timestamp < horizon {
            i += 1;
        }
    }
    if config.retention_bytes >= 0 {
        let limit = config.retention_bytes as u64;
        let mut size: u64 = extents[i..].iter().map(|e| e.len).sum();
        while i < extents.len() && size - extents[i].len >= limit {
            size -= extents[i].len;
            i += 1;
        }
    }
    if config.archive {
        let archived = archived_through.map_or(0, |a| {
            extents.iter().take_while(|e| e.last_offset <= a).count()
        });
        i = i.min(archived);
    }
    let start = match i {
        0 => log_start,
        i if i == extents.len() => high_watermark,
        i => extents[i].base_offset,
    };
    start.max(log_start)
}

/// Returns the index of the first extent compaction may not touch: the newest extent (Kafka's
/// active segment) and every extent from the first one holding a record newer than
/// `min.compaction.lag.ms`.
pub fn first_uncleanable(extents: &[Extent], config: &TopicConfig, now_ms: i64) -> usize {
    let mut end = extents.len().saturating_sub(1);
    let horizon = now_ms.saturating_sub(config.min_compaction_lag_ms);
    if let Some(i) = extents.iter().position(|e| e.max_timestamp > horizon) {
        end = end.min(i);
    }
    end
}

/// Bytes a key takes in a [`KeyMap`], beyond the key itself.
const KEY_OVERHEAD: u64 = 48;

/// The latest offset of every key in the cleanable range.
#[derive(Debug, Default)]
pub struct KeyMap {
    latest: HashMap<Bytes, Offset>,
    bytes: u64,
}

impl KeyMap {
    /// Notes a record of the cleanable range (records must come in offset order).
    pub fn observe(&mut self, r: &StoredRecord) {
        if let Some(key) = &r.record.key {
            if let Some(o) = self.latest.get_mut(key) {
                *o = r.offset;
            } else {
                self.bytes += key.len() as u64 + KEY_OVERHEAD;
                self.latest.insert(key.clone(), r.offset);
            }
        }
    }

    /// Memory the map takes, roughly.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    /// Returns whether the map has no keys.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// Returns whether compaction keeps `r`: it is the latest record of its key (or has no
    /// key), and is not a tombstone older than `delete.retention.ms`.
    pub fn keeps(&self, r: &StoredRecord, tombstone_horizon_ms: i64) -> bool {
        let Some(key) = &r.record.key else {
            // Produce refuses key-less records on compacted topics; older ones (written before
            // the policy changed) are kept rather than silently dropped.
            return true;
        };
        if self
            .latest
            .get(key)
            .is_some_and(|latest| *latest != r.offset)
        {
            return false;
        }
        !(r.record.value.is_none() && r.record.timestamp < tombstone_horizon_ms)
    }
}

/// Returns the time before which tombstones may go: `now - delete.retention.ms`.
pub fn tombstone_horizon(config: &TopicConfig, now_ms: i64) -> i64 {
    now_ms.saturating_sub(config.delete_retention_ms)
}

/// Splits `extents` into consecutive runs of at most `target` bytes (an extent larger than the
/// target is a run of its own).
pub fn chunks(extents: &[Extent], target: u64) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, e) in extents.iter().enumerate() {
        if i > start && bytes + e.len > target {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += e.len;
    }
    if start < extents.len() {
        out.push(start..extents.len());
    }
    out
}

/// Returns runs of consecutive small extents (under half of `target`) to merge into one
/// segment each, of at most `target` bytes.
///
/// Forced (an operator asked) merges every run of two or more. Otherwise a run is merged once
/// it holds half a target of bytes or `min_extents` extents, and only after dropping leading
/// extents larger than the rest of the run: a segment is merged again only with about
/// as much new data as it holds, so each byte is rewritten a logarithmic number of times.
pub fn merge_runs(
    extents: &[Extent],
    target: u64,
    min_extents: usize,
    force: bool,
) -> Vec<Range<usize>> {
    let small = |e: &Extent| e.len < target / 2;
    let mut runs = Vec::new();
    let mut i = 0;
    while i < extents.len() {
        if !small(&extents[i]) {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut total = 0u64;
        while j < extents.len() && small(&extents[j]) && total + extents[j].len <= target {
            total += extents[j].len;
            j += 1;
        }
        let mut s = i;
        if !force {
            while s + 1 < j && extents[s].len > total - extents[s].len {
                total -= extents[s].len;
                s += 1;
            }
        }
        let count = j - s;
        if count >= 2 && (force || total >= target / 2 || count >= min_extents.max(2)) {
            runs.push(s..j);
        }
        i = j;
    }
    runs
}

#[cfg(test)]
mod tests;
