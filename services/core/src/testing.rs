//! Helpers for the tests and benches of the crates above this one (feature `test-util`).

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::batch::{UNASSIGNED, encode_batch};
use crate::ids::{FlushSeq, Incarnation, PartitionId, TopicId};
use crate::keys::segment_key;
use crate::meta::{MetaStore, ObjectCommit, SectionCommit};
use crate::object::ObjectBuilder;
use crate::record::Record;
use crate::rng::XorShift;

/// Builds the object writer `node` ships for flush `seq`, as an ingest node would: one section per
/// `(partition, records)` of `topic`, one batch each (zstd level 1), offsets assigned at commit.
/// Returns its key, its bytes, and the commit to send once it is uploaded.
fn flush_object(
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

/// Ships flush `seq` of writer 1 as [`flush_object`] builds it: uploads it to `store` and commits
/// it to `meta`. Returns its key and its bytes.
pub async fn ship(
    store: &dyn ObjectStore,
    meta: &dyn MetaStore,
    seq: u64,
    topic: TopicId,
    parts: &[(u32, Vec<Record>)],
) -> (String, Bytes) {
    let (key, bytes, commit) = flush_object(Incarnation(1), seq, topic, parts);
    store
        .put(&Path::from(key.as_str()), PutPayload::from(bytes.clone()))
        .await
        .expect("puts");
    meta.commit_object(commit).await.expect("commits");
    (key, bytes)
}

/// `n` bytes from `rng` that do not compress.
pub fn noise(rng: &mut XorShift, n: usize) -> Bytes {
    (0..n)
        .map(|_| (rng.next() >> 32) as u8)
        .collect::<Vec<u8>>()
        .into()
}
