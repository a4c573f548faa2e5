//! Object keys, built here and nowhere else.
//!
//! Ids are zero-padded to 20 digits so that listing order is numeric order. Keys are relative
//! to the cluster's prefix (the object store is wrapped in a prefix store).

use crate::ids::{FlushSeq, Incarnation, Offset, PartitionId};

/// Prefix under which ingest nodes ship their multi-partition objects.
pub const SEGMENTS_PREFIX: &str = "segments";

/// Key of the object writer `writer` ships for flush `seq`: `segments/<incarnation>/<seq>.seg`.
/// Incarnations are never reused, so a key is never written twice with different bytes.
pub fn segment_key(writer: Incarnation, seq: FlushSeq) -> String {
    format!("{SEGMENTS_PREFIX}/{:020}/{:020}.seg", writer.0, seq.0)
}

/// Parses a key made by [`segment_key`].
pub fn parse_segment_key(key: &str) -> Option<(Incarnation, FlushSeq)> {
    let rest = key.strip_prefix(SEGMENTS_PREFIX)?.strip_prefix('/')?;
    let (node, file) = rest.split_once('/')?;
    let seq = file.strip_suffix(".seg")?;
    if node.len() != 20 || seq.len() != 20 {
        return None;
    }
    Some((Incarnation(node.parse().ok()?), FlushSeq(seq.parse().ok()?)))
}

/// Prefix under which the compactor writes merged per-partition segments.
pub const TOPICS_PREFIX: &str = "topics";

/// Key of a merged segment holding offsets `first..=last` of a partition, written under lease
/// epoch `epoch` as that lease's `n`-th object: `topics/<topic>/<partition>/<first>-<last>.<epoch>-<n>.seg`.
/// Epochs are unique, so a key is never written twice with different bytes.
pub fn merged_segment_key(
    topic: &str,
    partition: PartitionId,
    first: Offset,
    last: Offset,
    epoch: u64,
    n: u32,
) -> String {
    format!(
        "{TOPICS_PREFIX}/{topic}/{}/{:020}-{:020}.{epoch}-{n}.seg",
        partition.0, first.0, last.0
    )
}

/// Returns whether `key` names a merged segment (as opposed to a shared ingest object).
pub fn is_merged_segment_key(key: &str) -> bool {
    key.strip_prefix(TOPICS_PREFIX)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Prefix of the analyst-facing Parquet archive.
pub const ARCHIVE_PREFIX: &str = "archive";

/// Returns whether `key` names a file of the Parquet archive.
pub fn is_archive_key(key: &str) -> bool {
    key.strip_prefix(ARCHIVE_PREFIX)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Key of the archive file holding offsets `first..=last` of a partition, in the Hive-style
/// folder of the hour (UTC) of `timestamp_ms`, the file's first record:
/// `archive/<topic>/date=YYYY-MM-DD/hour=HH/<partition>-<first>-<last>.parquet`.
pub fn archive_key(
    topic: &str,
    partition: PartitionId,
    first: Offset,
    last: Offset,
    timestamp_ms: i64,
) -> String {
    let (y, m, d, h) = utc_hour(timestamp_ms);
    format!(
        "{ARCHIVE_PREFIX}/{topic}/date={y:04}-{m:02}-{d:02}/hour={h:02}/{}-{:020}-{:020}.parquet",
        partition.0, first.0, last.0
    )
}

/// Prefix of a topic's archive: `archive/<topic>/`.
pub fn archive_topic_prefix(topic: &str) -> String {
    format!("{ARCHIVE_PREFIX}/{topic}/")
}

/// Year, month, day and hour (UTC) of a time in ms since the Unix epoch.
pub fn utc_hour(timestamp_ms: i64) -> (i64, u32, u32, u32) {
    let secs = timestamp_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let hour = (secs.rem_euclid(86_400) / 3600) as u32;
    // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, hour)
}

/// Key of the marker that claims a bucket prefix for one cluster.
pub const CLUSTER_MARKER: &str = "cluster.json";

#[cfg(test)]
mod tests;
