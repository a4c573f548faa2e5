//! Retry-safe produce: requests that carry an `Idempotency-Key` are stored once.
//!
//! The HTTP layer turns the key and the request into a [`RequestKey`]: `id` names the request
//! (the topic and the client's key), `fingerprint` its content. A flush lists the keyed requests
//! it holds ([`KeyedRequest`]: where each of the request's batches sits in the object). The
//! quorum decides at commit, in commit order, so the first copy of a request to be committed
//! wins wherever it came from (another node, a retry in the same flush, a flush re-shipped after
//! a crash, a zombie coming back): later copies' batches get no offsets (the extents skip them)
//! and their requests are answered with the first copy's offsets ([`Replayed::Original`]), or
//! refused if the content differs ([`Replayed::Conflict`]).
//!
//! The quorum keeps each key for the window the committing node names ([`KeyRetention`]),
//! and at most `max_keys` keys (the oldest go first): about 150 bytes per key, in memory and
//! in snapshots.

use serde::{Deserialize, Serialize};

use crate::ids::{Offset, PartitionId, TopicId};

/// A produce request's identity across retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestKey {
    /// Names the request: a hash of the topic and the client's `Idempotency-Key`.
    pub id: u128,
    /// A hash of the request's content: a retry must send the same.
    pub fingerprint: u64,
}

/// One batch of a keyed request, as it sits in a flush object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedBatch {
    /// Index of its section in the commit.
    pub section: u32,
    /// Byte offset of the batch in the object.
    pub start: u64,
    /// Byte length of the batch frame.
    pub len: u64,
    /// Records in the batch.
    pub records: u64,
    /// Records of the section before this batch.
    pub records_before: u64,
}

/// A keyed request in a flush: its key and its batches, in the request's batch order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedRequest {
    /// The request's key.
    pub key: RequestKey,
    /// Its batches (one per partition), in the order the request encoded them.
    pub batches: Vec<KeyedBatch>,
}

/// How long and how many keys the quorum keeps (set by the committing node).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRetention {
    /// Keys committed longer ago than this are forgotten (0: keep until `max_keys`).
    pub window_ms: i64,
    /// At most this many keys are kept; beyond it the oldest are forgotten first (0: no cap).
    pub max_keys: u64,
}

/// What became of a keyed request that was committed before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replayed {
    /// The same request: the offset of each of its batches' first record, in batch order.
    Original(Vec<(PartitionId, Offset)>),
    /// The key was used for a request with different content.
    Conflict,
}

/// A committed keyed request, as the quorum keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The request's fingerprint.
    pub fingerprint: u64,
    /// Topic incarnation it was produced to.
    pub topic_id: TopicId,
    /// When it was committed (ms since epoch, committing node's clock).
    pub committed_ms: i64,
    /// The offset of each of its batches' first record, in batch order.
    pub bases: Vec<(PartitionId, Offset)>,
}
