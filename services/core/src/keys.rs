//! Object keys, built here and nowhere else.
//!
//! Ids are zero-padded to 20 digits so that listing order is numeric order. Keys are relative
//! to the cluster's prefix (the object store is wrapped in a prefix store).

use crate::ids::{FlushSeq, NodeId, Offset, PartitionId};

/// Prefix under which ingest nodes ship their multi-partition objects.
pub const SEGMENTS_PREFIX: &str = "segments";

/// Key of the object node `node` ships for flush `seq`: `segments/<node>/<seq>.seg`.
pub fn segment_key(node: NodeId, seq: FlushSeq) -> String {
    format!("{SEGMENTS_PREFIX}/{:020}/{:020}.seg", node.0, seq.0)
}

/// Parses a key made by [`segment_key`].
pub fn parse_segment_key(key: &str) -> Option<(NodeId, FlushSeq)> {
    let rest = key.strip_prefix(SEGMENTS_PREFIX)?.strip_prefix('/')?;
    let (node, file) = rest.split_once('/')?;
    let seq = file.strip_suffix(".seg")?;
    if node.len() != 20 || seq.len() != 20 {
        return None;
    }
    Some((NodeId(node.parse().ok()?), FlushSeq(seq.parse().ok()?)))
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

/// Key of the marker that claims a bucket prefix for one cluster.
pub const CLUSTER_MARKER: &str = "cluster.json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_keys_sort_numerically_and_parse_back() {
        let a = segment_key(NodeId(1), FlushSeq(9));
        let b = segment_key(NodeId(1), FlushSeq(10));
        assert!(a < b);
        assert_eq!(a, "segments/00000000000000000001/00000000000000000009.seg");
        assert_eq!(parse_segment_key(&b), Some((NodeId(1), FlushSeq(10))));
        assert_eq!(parse_segment_key("segments/1/2.seg"), None);
        assert_eq!(parse_segment_key("topics/x/0/1-2.seg"), None);
    }
}
