//! The metadata seam: the [`MetaStore`] trait, its value types, the [`Command`]s and
//! queries it carries, and its errors: what the roles speak. The state machine that applies
//! them lives beside the Raft code, in `strata-meta`.
//!
//! The quorum is the sequencer: [`MetaStore::commit_object`] assigns each partition's next
//! offsets to a shipped object, idempotently per object key, so a retried commit never
//! duplicates data.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::watch;

use crate::ids::{FlushSeq, Incarnation, NodeId, Offset, PartitionId, TopicId};
use crate::topic_config::{ConfigError, TopicConfig};

pub mod access;
mod command;
pub mod consumer;
pub mod idempotency;
pub mod jobs;
mod offsets;
mod store;
pub mod writers;

pub use command::{Command, CommandResult, LegacyNode};
pub use offsets::offset_in_section;
pub use store::MetaTransport;
pub use writers::{NodeInfo, WriterStatus};

/// Largest partition count of one topic.
pub const MAX_PARTITIONS: u32 = 10_000;

/// A topic as the quorum knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    /// Name.
    pub name: String,
    /// Incarnation id.
    pub id: TopicId,
    /// Number of partitions.
    pub partitions: u32,
    /// Effective config.
    pub config: TopicConfig,
    /// Creation time (ms since epoch).
    pub created_ms: i64,
}

/// The state of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// Partition number.
    pub partition: PartitionId,
    /// First offset that can be read.
    pub log_start_offset: Offset,
    /// One past the last committed offset.
    pub high_watermark: Offset,
    /// Number of extents (pieces of objects) holding the partition's records.
    pub extents: u64,
    /// Stored bytes of those extents.
    pub bytes: u64,
    /// Extents held by merged per-partition segments (written by the compactor).
    #[serde(default)]
    pub segments: u64,
    /// Stored bytes of those segments (the rest sits in shared ingest objects).
    #[serde(default)]
    pub segment_bytes: u64,
    /// Offsets below this have been compacted (keys deduplicated) at least once.
    #[serde(default)]
    pub cleaned_through: Offset,
    /// Last offset written to the Parquet archive, if any.
    #[serde(default)]
    pub archived_through: Option<Offset>,
    /// First offset the archive holds, if it holds any.
    #[serde(default)]
    pub archive_start_offset: Option<Offset>,
    /// Parquet files of the archive.
    #[serde(default)]
    pub archive_files: u64,
    /// Their bytes.
    #[serde(default)]
    pub archive_bytes: u64,
}

/// A run of a partition's offsets stored in a byte range of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    /// Offset of the first record.
    pub base_offset: Offset,
    /// Offset of the last record.
    pub last_offset: Offset,
    /// Records stored (fewer than the offset span after compaction).
    pub record_count: u64,
    /// Object key.
    pub object: String,
    /// Byte offset of the range in the object.
    pub start: u64,
    /// Byte length of the range.
    pub len: u64,
    /// Smallest record timestamp.
    pub min_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
}

/// A page of a partition's extents with the partition's bounds at the time of the read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtentPage {
    /// Extents in offset order.
    pub extents: Vec<Extent>,
    /// First readable offset.
    pub log_start_offset: Offset,
    /// One past the last committed offset.
    pub high_watermark: Offset,
    /// First offset the Parquet archive holds, when it holds offsets below the log start.
    #[serde(default)]
    pub archive_start_offset: Option<Offset>,
}

impl ExtentPage {
    /// First offset a fetch can read: the archive's first, else the log start.
    pub fn earliest_offset(&self) -> Offset {
        self.archive_start_offset
            .map_or(self.log_start_offset, |a| a.min(self.log_start_offset))
    }
}

/// One partition's section of an object being committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionCommit {
    /// Topic incarnation the records were produced to.
    pub topic_id: TopicId,
    /// Partition.
    pub partition: PartitionId,
    /// Byte offset of the section in the object.
    pub start: u64,
    /// Byte length of the section.
    pub len: u64,
    /// Records in the section.
    pub record_count: u64,
    /// Smallest record timestamp.
    pub min_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
}

impl From<&crate::object::Section> for SectionCommit {
    fn from(s: &crate::object::Section) -> Self {
        Self {
            topic_id: s.topic_id,
            partition: s.partition,
            start: s.start,
            len: s.len,
            record_count: s.record_count,
            min_timestamp: s.min_timestamp,
            max_timestamp: s.max_timestamp,
        }
    }
}

/// A shipped object to sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCommit {
    /// Writer incarnation that sealed the flush (it names the object).
    #[serde(alias = "node")]
    pub writer: Incarnation,
    /// The writer's flush sequence number; commits of one writer come in increasing order.
    pub seq: FlushSeq,
    /// Object key.
    pub key: String,
    /// Object size in bytes.
    pub size: u64,
    /// The object's sections.
    pub sections: Vec<SectionCommit>,
    /// The live incarnation sending the commit: the writer itself, or its successor on the
    /// same data directory re-shipping what the writer sealed. The quorum refuses the commit
    /// unless `by` is live and owns `writer`. `None` only in commits from before incarnations
    /// existed (applied as they were then).
    #[serde(default)]
    pub by: Option<Incarnation>,
    /// The requests in the object that carried an `Idempotency-Key`, in staging order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<idempotency::KeyedRequest>,
    /// How long, and how many, keys the quorum keeps.
    #[serde(default)]
    pub keep_keys: idempotency::KeyRetention,
}

/// Offsets assigned to a committed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitOutcome {
    /// Per section (in commit order): the offset of its first record that was kept, or `None`
    /// when its topic no longer exists (deleted, or deleted and created again).
    pub base_offsets: Vec<Option<Offset>>,
    /// Keyed requests (by index in [`ObjectCommit::requests`]) that were committed before: their
    /// batches got no offsets here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replays: Vec<(u32, idempotency::Replayed)>,
}

/// A consumer group's committed offset for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOffset {
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: PartitionId,
    /// Next offset the group will read.
    pub offset: Offset,
}

/// A read of the metadata, in a form that can cross the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaQuery {
    /// Every topic.
    ListTopics,
    /// One topic.
    Topic { name: String },
    /// A topic's partitions.
    Partitions { name: String },
    /// Extents from an offset.
    Extents {
        topic: String,
        partition: PartitionId,
        from: Offset,
        limit: usize,
    },
    /// Extents from a timestamp.
    ExtentsFromTimestamp {
        topic: String,
        partition: PartitionId,
        timestamp: i64,
        limit: usize,
    },
    /// A group's offsets.
    GroupOffsets { group: String },
    /// A writer's last committed flush.
    LastFlushSeq { writer: Incarnation },
    /// Registered processes (writer incarnations), live or recently gone.
    Nodes,
    /// The cluster's name.
    ClusterId,
    /// Objects no extent has referred to since at or before `unreferenced_before_ms`.
    Garbage {
        unreferenced_before_ms: i64,
        limit: usize,
    },
    /// What the quorum knows of some object keys.
    ObjectStatuses { keys: Vec<String> },
    /// A job lease.
    Lease {
        job: String,
        topic: String,
        partition: PartitionId,
    },
    /// Archive files from an offset.
    ArchiveFiles {
        topic: String,
        partition: PartitionId,
        from: Offset,
        limit: usize,
    },
    /// Stored bytes by tier and consumer-group lag.
    Usage,
    /// Every token and ACL, unless their version is still `since`.
    Access { since: Option<u64> },
}

/// The answer to a [`MetaQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryResult {
    /// Topics.
    Topics(Vec<TopicInfo>),
    /// One topic.
    Topic(TopicInfo),
    /// Partitions.
    Partitions(Vec<PartitionInfo>),
    /// Extents.
    Extents(ExtentPage),
    /// Group offsets.
    GroupOffsets(Vec<GroupOffset>),
    /// A flush sequence number.
    FlushSeq(Option<FlushSeq>),
    /// Nodes.
    Nodes(Vec<NodeInfo>),
    /// The cluster's name, once it has one.
    ClusterId(Option<String>),
    /// Object keys with their sizes.
    Objects(Vec<jobs::GarbageObject>),
    /// Per key asked, what the quorum knows of it.
    ObjectStatuses(Vec<jobs::ObjectStatus>),
    /// A lease, if one is held (possibly expired).
    Lease(Option<jobs::Lease>),
    /// Archive files.
    ArchiveFiles(jobs::ArchivePage),
    /// Stored bytes by tier and consumer-group lag.
    Usage(ClusterUsage),
    /// Tokens and ACLs (`None`: unchanged since the version asked about).
    Access(Option<access::Access>),
}

/// What a node knows of the quorum right now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumStatus {
    /// This node's id.
    pub node: NodeId,
    /// The current leader, if one is known.
    pub leader: Option<NodeId>,
    /// Current term.
    pub term: u64,
    /// Last applied log index.
    pub applied_index: u64,
    /// Voters.
    pub voters: Vec<NodeId>,
    /// This node's part in the quorum.
    #[serde(default)]
    pub role: QuorumRole,
    /// Highest log index known committed: on the leader, the index a majority of voters
    /// hold; elsewhere, the applied index (a follower applies what it learns is committed).
    #[serde(default)]
    pub commit_index: u64,
    /// Index of the last entry in this node's log (applied <= committed <= last log).
    #[serde(default)]
    pub last_log_index: u64,
    /// On the leader: how long ago a majority of voters last acknowledged it (ms).
    #[serde(default)]
    pub quorum_ack_ms: Option<u64>,
    /// The leader lease (ms): a leader not acknowledged for longer takes no writes.
    #[serde(default)]
    pub lease_ms: u64,
}

impl QuorumStatus {
    /// Whether this answer comes from a leader that holds its lease (can commit now).
    pub fn leads_with_lease(&self) -> bool {
        self.role == QuorumRole::Leader
            && self
                .quorum_ack_ms
                .is_some_and(|ack| self.lease_ms == 0 || ack <= self.lease_ms)
    }
}

/// A node's part in the quorum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuorumRole {
    /// The voter that sequences commands.
    Leader,
    /// A voter following the leader.
    Follower,
    /// A voter asking for votes.
    Candidate,
    /// A non-voting member catching up before it becomes a voter.
    Learner,
    /// Not a member: this node reaches the quorum over the network.
    #[default]
    None,
}

impl QuorumRole {
    /// Every role, in a fixed order (for metrics).
    pub const ALL: [QuorumRole; 5] = [
        QuorumRole::Leader,
        QuorumRole::Follower,
        QuorumRole::Candidate,
        QuorumRole::Learner,
        QuorumRole::None,
    ];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            QuorumRole::Leader => "leader",
            QuorumRole::Follower => "follower",
            QuorumRole::Candidate => "candidate",
            QuorumRole::Learner => "learner",
            QuorumRole::None => "none",
        }
    }
}

/// Stored bytes by tier and consumer-group lag: the cluster-wide figures of `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterUsage {
    /// Objects in the bucket the quorum knows of, by tier (`flush`: shared objects of ingest
    /// flushes; `segment`: merged per-partition segments; `archive`: Parquet files), including
    /// objects no extent refers to any more that wait for garbage collection.
    pub tiers: Vec<TierUsage>,
    /// Every committed group offset with its partition's high watermark.
    pub lag: Vec<GroupLag>,
}

/// Objects and bytes of one storage tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierUsage {
    /// `flush`, `segment` or `archive`.
    pub tier: String,
    /// Objects.
    pub objects: u64,
    /// Bytes.
    pub bytes: u64,
}

/// How far a consumer group's committed offset is behind its partition's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLag {
    /// Group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: PartitionId,
    /// Next offset the group will read.
    pub committed: Offset,
    /// The partition's high watermark.
    pub high_watermark: Offset,
    /// Records between them (0 when the commit is at or past the end).
    pub lag: u64,
}

/// An error from the metadata store.
#[derive(Debug, Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaError {
    /// No topic has this name.
    #[error("topic {topic:?} does not exist")]
    TopicNotFound { topic: String },
    /// The topic has no such partition.
    #[error("topic {topic:?} has no partition {partition} (it has {partitions})")]
    PartitionNotFound {
        topic: String,
        partition: u32,
        partitions: u32,
    },
    /// The group has never committed an offset.
    #[error("group {group:?} has no committed offsets")]
    GroupNotFound { group: String },
    /// The group has no consumer instance of this name (never created, deleted or timed out).
    #[error(
        "consumer instance {instance:?} of group {group:?} does not exist (never created, deleted, or timed out)"
    )]
    ConsumerNotFound { group: String, instance: String },
    /// The group has a consumer instance of this name.
    #[error("consumer instance {instance:?} already exists in group {group:?}")]
    ConsumerExists { group: String, instance: String },
    /// The consumer instance subscribed to topics (or a pattern) and was asked for a pattern
    /// (or topics): it must unsubscribe first.
    #[error(
        "Consumer cannot subscribe to the specified target because it has already subscribed to other topics: {reason}"
    )]
    ConsumerSubscribed { reason: String },
    /// The operation does not fit the consumer instance's state.
    #[error("Illegal state: {reason}")]
    ConsumerState { reason: String },
    /// A topic of this name exists.
    #[error("topic {topic:?} already exists")]
    TopicExists { topic: String },
    /// The name breaks the naming rules.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName { name: String, reason: String },
    /// A config key or value was refused.
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    /// The request is well-formed but not acceptable.
    #[error("{reason}")]
    Invalid { reason: String },
    /// The object was collected as an orphan (uploaded, then not committed within the grace
    /// period); it can never be committed.
    #[error("object {key} was collected as an orphan and can no longer be committed")]
    Condemned { key: String },
    /// A job's lease is not held (expired, taken over, or never granted).
    #[error("lease {job} of {topic}/{partition} is not held by this job: {reason}")]
    LeaseLost {
        job: String,
        topic: String,
        partition: u32,
        reason: String,
    },
    /// The extents a rewrite meant to replace changed under it; nothing was changed.
    #[error("extents of {topic}/{partition} changed since they were read; nothing was changed")]
    Conflict { topic: String, partition: u32 },
    /// A writer committed a flush at or below one it committed before.
    #[error("flush {seq} of writer {writer} is not above its last committed flush {last}")]
    StaleFlush { writer: u64, seq: u64, last: u64 },
    /// The process's writer incarnation was superseded (a successor took over its data
    /// directory or its name), retired or expired: it can never commit again.
    #[error("writer incarnation {incarnation} is fenced: {reason}")]
    Fenced { incarnation: u64, reason: String },
    /// Another live process registered under this node id.
    #[error(
        "node id {name} is in use by a live process (incarnation {incarnation} at {addr}, seen {seen_ms_ago} ms ago)"
    )]
    NameInUse {
        name: u64,
        incarnation: u64,
        addr: String,
        seen_ms_ago: i64,
    },
    /// No token has this id (never made, revoked, or expired and dropped).
    #[error("token {id:?} does not exist")]
    TokenNotFound { id: String },
    /// No ACL has this id.
    #[error("ACL {id:?} does not exist")]
    AclNotFound { id: String },
    /// The quorum cannot be reached or has no leader; retrying may succeed.
    #[error("metadata quorum unavailable: {reason}")]
    Unavailable { reason: String },
    /// The store failed in a way retrying will not fix.
    #[error("metadata store failure: {reason}")]
    Internal { reason: String },
}

impl MetaError {
    /// Returns whether the same request may succeed if retried.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MetaError::Unavailable { .. })
    }
}

/// The metadata store: topics, offsets, extents and group offsets.
///
/// Every write is one atomic command of the quorum's log; reads see the local node's applied
/// state. [`MetaStore::changes`] ticks after every applied change, so readers can long-poll.
#[async_trait]
pub trait MetaStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates a topic.
    async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        config: BTreeMap<String, String>,
    ) -> Result<TopicInfo, MetaError>;

    /// Deletes a topic, its extents and its group offsets.
    async fn delete_topic(&self, name: &str) -> Result<(), MetaError>;

    /// Changes some config values of a topic.
    async fn update_topic_config(
        &self,
        name: &str,
        changes: BTreeMap<String, String>,
    ) -> Result<TopicInfo, MetaError>;

    /// Lists topics by name.
    async fn list_topics(&self) -> Result<Vec<TopicInfo>, MetaError>;

    /// Returns one topic.
    async fn topic(&self, name: &str) -> Result<TopicInfo, MetaError>;

    /// Returns the state of every partition of a topic.
    async fn partitions(&self, name: &str) -> Result<Vec<PartitionInfo>, MetaError>;

    /// Sequences a shipped object: assigns offsets to its sections. Idempotent per key.
    async fn commit_object(&self, commit: ObjectCommit) -> Result<CommitOutcome, MetaError>;

    /// Returns up to `limit` extents of a partition, starting with the one holding `from`
    /// (or the next one, when `from` falls in a gap).
    async fn extents(
        &self,
        topic: &str,
        partition: PartitionId,
        from: Offset,
        limit: usize,
    ) -> Result<ExtentPage, MetaError>;

    /// Returns up to `limit` extents starting with the first whose largest timestamp is at or
    /// after `timestamp`.
    async fn extents_from_timestamp(
        &self,
        topic: &str,
        partition: PartitionId,
        timestamp: i64,
        limit: usize,
    ) -> Result<ExtentPage, MetaError>;

    /// Stores a group's offsets, all or none.
    async fn commit_group_offsets(
        &self,
        group: &str,
        offsets: Vec<GroupOffset>,
    ) -> Result<(), MetaError>;

    /// Returns a group's committed offsets.
    async fn group_offsets(&self, group: &str) -> Result<Vec<GroupOffset>, MetaError>;

    /// Returns the registered processes (writer incarnations), live or recently gone.
    async fn nodes(&self) -> Result<Vec<NodeInfo>, MetaError>;

    /// Names the cluster `cluster_id` unless it has a name; returns the name it has.
    async fn init_cluster(&self, cluster_id: &str) -> Result<String, MetaError>;

    /// Applies any command (the background jobs' commands go through here; see
    /// [`jobs`]). The command carries its own timestamps.
    async fn execute(&self, cmd: Command) -> Result<CommandResult, MetaError>;

    /// Answers any query.
    async fn ask(&self, query: MetaQuery) -> Result<QueryResult, MetaError>;

    /// Returns a receiver that changes after every applied change.
    fn changes(&self) -> watch::Receiver<u64>;

    /// Returns what this node knows of the quorum.
    fn status(&self) -> QuorumStatus;
}
