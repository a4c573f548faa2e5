//! [`Command`]: the changes the state machine applies, as they stand in the Raft log (their
//! serde form is the log's format: variants and fields are only ever added), and what applying
//! one answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::jobs::{ArchiveFile, ArchivePlan, LeaseToken, Rewrite};
use super::writers::{RegisterRequest, Registration};
use super::{CommitOutcome, GroupOffset, MetaError, ObjectCommit, TopicInfo};
use crate::ids::{Incarnation, NodeId, Offset, PartitionId, TopicId};

/// One atomic change to the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Create a topic.
    CreateTopic {
        name: String,
        partitions: u32,
        config: BTreeMap<String, String>,
        now_ms: i64,
    },
    /// Delete a topic.
    DeleteTopic {
        name: String,
        #[serde(default)]
        now_ms: i64,
    },
    /// Change config values.
    UpdateTopicConfig {
        name: String,
        changes: BTreeMap<String, String>,
    },
    /// Sequence a shipped object.
    CommitObject { commit: ObjectCommit, now_ms: i64 },
    /// Store group offsets.
    CommitGroupOffsets {
        group: String,
        offsets: Vec<GroupOffset>,
    },
    /// Recorded a node's address before writer incarnations existed; applied as nothing now.
    #[doc(hidden)]
    RegisterNode { node: LegacyNode },
    /// Register a process start: allocate its writer incarnation, fence and adopt the
    /// incarnations its data directory names (see [`crate::meta::writers`]).
    RegisterWriter {
        request: RegisterRequest,
        now_ms: i64,
    },
    /// A live process's heartbeat.
    WriterHeartbeat {
        incarnation: Incarnation,
        addr: String,
        now_ms: i64,
    },
    /// A process stopped cleanly.
    RetireWriter {
        incarnation: Incarnation,
        now_ms: i64,
    },
    /// Name the cluster, unless it has a name already (the first proposal wins).
    InitCluster { cluster_id: String },
    /// Take or renew a job lease on a partition.
    AcquireLease {
        job: String,
        topic: String,
        partition: PartitionId,
        holder: Incarnation,
        /// Epoch of the lease being renewed; `None` asks for a new grant.
        renew: Option<u64>,
        ttl_ms: i64,
        now_ms: i64,
    },
    /// Give a lease back.
    ReleaseLease {
        job: String,
        topic: String,
        partition: PartitionId,
        token: LeaseToken,
    },
    /// Replace a run of extents, if still current and the lease is held.
    Rewrite { rewrite: Rewrite, now_ms: i64 },
    /// Raise a partition's log start offset (retention), dropping the extents below it.
    TrimLog {
        topic: String,
        topic_id: TopicId,
        partition: PartitionId,
        lease: LeaseToken,
        log_start: Offset,
        now_ms: i64,
    },
    /// Condemn uncommitted object keys (orphans), so they can never be committed.
    CondemnObjects { keys: Vec<String>, now_ms: i64 },
    /// Forget deleted, unreferenced objects.
    ForgetObjects { keys: Vec<String> },
    /// Record the archive file about to be written (under the archiver's lease).
    PlanArchive {
        topic: String,
        topic_id: TopicId,
        partition: PartitionId,
        lease: LeaseToken,
        plan: ArchivePlan,
        now_ms: i64,
    },
    /// An operation on a consumer instance of the REST Proxy v2 API. Every one first deletes
    /// timed-out instances and rebalances their groups, even when the operation is refused.
    Consumer {
        group: String,
        instance: String,
        op: super::consumer::ConsumerOp,
        now_ms: i64,
    },
    /// Add a written archive file and raise the archived-through offset.
    CommitArchive {
        topic: String,
        topic_id: TopicId,
        partition: PartitionId,
        lease: LeaseToken,
        file: ArchiveFile,
        now_ms: i64,
    },
    /// Store a new API token's hash (the token itself never reaches the quorum). Expired
    /// tokens are dropped first.
    CreateToken {
        principal: String,
        hash: String,
        expires_at: Option<i64>,
        now_ms: i64,
    },
    /// Revoke a token.
    RevokeToken { id: String, now_ms: i64 },
    /// Store an ACL.
    CreateAcl {
        spec: super::access::AclSpec,
        now_ms: i64,
    },
    /// Delete an ACL.
    DeleteAcl { id: String },
}

/// The node record of [`Command::RegisterNode`], kept so that old log entries still read.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyNode {
    id: NodeId,
    addr: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    last_seen_ms: i64,
}

/// The result of applying a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Nothing to report (blank and membership entries, deletes, group commits).
    Done,
    /// The topic after the change.
    Topic(TopicInfo),
    /// The offsets assigned to an object.
    Committed(CommitOutcome),
    /// The cluster's name.
    ClusterId(String),
    /// A granted lease.
    Lease(LeaseToken),
    /// Object keys (those condemned).
    Keys(Vec<String>),
    /// A consumer instance after an operation.
    Consumer(super::consumer::ConsumerView),
    /// A registered process's incarnation.
    Registered(Registration),
    /// A stored token (without its hash).
    Token(super::access::TokenInfo),
    /// A stored ACL.
    Acl(super::access::Acl),
    /// The command was refused; the state is unchanged.
    Refused(MetaError),
}

impl CommandResult {
    /// Turns a refusal into an error.
    pub fn into_result(self) -> Result<CommandResult, MetaError> {
        match self {
            CommandResult::Refused(e) => Err(e),
            other => Ok(other),
        }
    }
}
