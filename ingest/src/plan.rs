//! The layout of a flush's object, computed the same way when shipping and when replaying.

use std::collections::HashMap;

use bytes::Bytes;
use strata_core::batch::{BatchHeader, EncodedBatch};
use strata_core::ids::{FlushSeq, Incarnation, PartitionId, TopicId};
use strata_core::meta::SectionCommit;
use strata_core::meta::idempotency::{KeyedBatch, KeyedRequest, RequestKey};
use strata_core::object::{ObjectBuilder, Section};

use crate::hot::{FlushIndex, Location};

/// A batch staged in the hot tier and waiting in a flush.
#[derive(Debug, Clone)]
pub struct StagedBatch {
    /// Its header.
    pub header: BatchHeader,
    /// The whole frame.
    pub frame: Bytes,
    /// Where it is in the hot tier.
    pub loc: Location,
    /// The keyed request it belongs to: a number unique in this process, and the key.
    pub request: Option<(u64, RequestKey)>,
}

impl StagedBatch {
    /// Returns the batch as encoded.
    fn encoded(&self) -> EncodedBatch {
        EncodedBatch {
            header: self.header,
            frame: self.frame.clone(),
            raw_bytes: 0,
        }
    }
}

fn key(h: &BatchHeader) -> (TopicId, PartitionId) {
    (h.topic_id, h.partition)
}

/// Returns batch indices in object order: grouped by (topic, partition), arrival order kept
/// within a partition.
pub fn object_order(headers: &[BatchHeader]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..headers.len()).collect();
    order.sort_by_key(|&i| key(&headers[i]));
    order
}

/// Builds the object of a flush and the hot-tier index of its sections.
pub fn build_object(
    node: Incarnation,
    seq: FlushSeq,
    created_ms: i64,
    batches: &[StagedBatch],
) -> (Bytes, Vec<Section>, FlushIndex) {
    let headers: Vec<BatchHeader> = batches.iter().map(|b| b.header).collect();
    let capacity = batches.iter().map(|b| b.frame.len()).sum();
    let mut builder = ObjectBuilder::new(node, seq.0, created_ms, capacity);
    for i in object_order(&headers) {
        builder
            .push(&batches[i].encoded())
            .expect("object order keeps each partition contiguous");
    }
    let (bytes, sections) = builder.finish();
    let index = index_of(&headers, &batches.iter().map(|b| b.loc).collect::<Vec<_>>());
    (bytes, sections, index)
}

/// Returns the hot-tier locations of each section's batches, by section start.
pub fn index_of(headers: &[BatchHeader], locations: &[Location]) -> FlushIndex {
    let mut index: FlushIndex = HashMap::new();
    let mut start = 0u64;
    let mut current: Option<((TopicId, PartitionId), u64)> = None;
    for i in object_order(headers) {
        let k = key(&headers[i]);
        let section_start = match current {
            Some((ck, s)) if ck == k => s,
            _ => {
                current = Some((k, start));
                start
            }
        };
        index.entry(section_start).or_default().push(locations[i]);
        start += u64::from(locations[i].len);
    }
    index
}

/// Lists the keyed requests of a flush for its commit: for each (in staging order, with its
/// number), where its batches sit in the object built by [`build_object`].
pub fn keyed_requests(batches: &[StagedBatch]) -> Vec<(u64, KeyedRequest)> {
    let headers: Vec<BatchHeader> = batches.iter().map(|b| b.header).collect();
    let mut placed: HashMap<usize, KeyedBatch> = HashMap::new();
    let (mut start, mut section, mut records_before) = (0u64, 0u32, 0u64);
    let mut current = None;
    for i in object_order(&headers) {
        let k = key(&headers[i]);
        if current.is_some_and(|c| c != k) {
            section += 1;
            records_before = 0;
        }
        current = Some(k);
        let records = u64::from(headers[i].record_count);
        let len = batches[i].frame.len() as u64;
        if batches[i].request.is_some() {
            placed.insert(
                i,
                KeyedBatch {
                    section,
                    start,
                    len,
                    records,
                    records_before,
                },
            );
        }
        start += len;
        records_before += records;
    }
    let mut out: Vec<(u64, KeyedRequest)> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    for (i, b) in batches.iter().enumerate() {
        let Some((no, key)) = b.request else { continue };
        let placed = placed[&i];
        match index.get(&no) {
            Some(&at) => out[at].1.batches.push(placed),
            None => {
                index.insert(no, out.len());
                out.push((
                    no,
                    KeyedRequest {
                        key,
                        batches: vec![placed],
                    },
                ));
            }
        }
    }
    out
}

/// Converts object sections to the quorum's commit form.
pub fn section_commits(sections: &[Section]) -> Vec<SectionCommit> {
    sections.iter().map(SectionCommit::from).collect()
}

#[cfg(test)]
mod tests;
