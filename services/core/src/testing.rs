//! Helpers for the tests and benches of the crates above this one (feature `test-util`).

use bytes::Bytes;

use crate::batch::{UNASSIGNED, encode_batch};
use crate::ids::{FlushSeq, Incarnation, PartitionId, TopicId};
use crate::keys::segment_key;
use crate::meta::{ObjectCommit, SectionCommit};
use crate::object::ObjectBuilder;
use crate::record::Record;

/// Builds the object writer `node` ships for flush `seq`, as an ingest node would: one section per
/// `(partition, records)` of `topic`, one batch each (zstd level 1), offsets assigned at commit.
/// Returns its key, its bytes, and the commit to send once it is uploaded.
pub fn flush_object(
    node: Incarnation,
    seq: u64,
    topic: TopicId,
    parts: &[(u32, Vec<Record>)],
) -> (String, Bytes, ObjectCommit) {
    let key = segment_key(node, FlushSeq(seq));
    let mut b = ObjectBuilder::new(node, seq, 0, 0);
    for (p, records) in parts {
        let batch = encode_batch(topic, PartitionId(*p), UNASSIGNED, records, None, 1)
            .expect("records encode");
        b.push(&batch).expect("partitions are contiguous");
    }
    let (bytes, sections) = b.finish();
    let commit = ObjectCommit {
        writer: node,
        seq: FlushSeq(seq),
        by: None,
        requests: Vec::new(),
        keep_keys: Default::default(),
        key: key.clone(),
        size: bytes.len() as u64,
        sections: sections.iter().map(SectionCommit::from).collect(),
    };
    (key, bytes, commit)
}
