//! The quorum's internal HTTP API: request and response bodies.
//!
//! Routes (all JSON, mounted on every node that runs the meta role):
//! - `POST /internal/raft/append`, `/vote`, `/snapshot`: openraft's RPCs.
//! - `POST /internal/meta/apply`: run a [`Command`]; a follower answers `421` with
//!   [`NotLeader`] so the caller can follow it to the leader.
//! - `POST /internal/meta/query`: answer a [`MetaQuery`] once this node has applied `min_index`.
//! - `GET /internal/meta/changes?after=N&wait_ms=M`: return once the applied index passes `N`.
//! - `GET /internal/meta/status`: this voter's view of the quorum, at once (a liveness probe).
//! - `POST /internal/meta/elect`: ask this voter to start an election.
//! - `POST /internal/meta/membership`: add or remove a voter (leader only, else `421`); a
//!   change the quorum refuses (a new voter that did not catch up, say) is `409` with the
//!   [`MetaError`] as the body.

use serde::{Deserialize, Serialize};
use strata_core::meta::{Command, CommandResult};
use strata_core::meta::{MetaError, MetaQuery, QueryResult, QuorumStatus};

/// `POST /internal/meta/apply` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// The command.
    pub command: Command,
}

/// `POST /internal/meta/apply` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyResponse {
    /// The command's result (a refusal is a result too).
    pub result: CommandResult,
    /// Log index of the entry; reads fenced at it see the write.
    pub log_index: u64,
}

/// `421` answer of a node that is not the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotLeader {
    /// The leader this node knows: id and address.
    pub leader: Option<(u64, String)>,
}

/// `POST /internal/meta/query` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryRequest {
    /// The query.
    pub query: MetaQuery,
    /// Answer only once this log index is applied (read-your-writes).
    pub min_index: u64,
}

/// `POST /internal/meta/query` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryResponse {
    /// The answer.
    pub result: Result<QueryResult, MetaError>,
    /// Applied index of the node that answered.
    pub applied_index: u64,
}

/// `GET /internal/meta/changes` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangesResponse {
    /// Applied index of the node that answered.
    pub applied_index: u64,
    /// What that node knows of the quorum.
    pub status: QuorumStatus,
}

/// `POST /internal/meta/membership` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipChange {
    /// Add a voter: it joins as a learner, and becomes a voter only once it has caught up
    /// (within `catch_up_ms`, default 30 s); otherwise it is removed again and the membership
    /// is what it was.
    AddVoter {
        id: u64,
        addr: String,
        #[serde(default)]
        catch_up_ms: Option<u64>,
    },
    /// Remove a voter (or a learner).
    RemoveVoter { id: u64 },
}
