//! Writer identities: every process start registers with the quorum and gets an
//! [`Incarnation`] no other process ever had.
//!
//! - **Registration** ([`register`]) allocates the incarnation. The process names the
//!   incarnations whose flushes its data directory still holds (`adopt`): the quorum fences them
//!   (a zombie of an earlier start can no longer commit) and hands their commits to the new
//!   incarnation, which re-ships what they sealed under their keys. The answer carries each
//!   adopted writer's last committed flush, decided after the fence, so "already committed" is
//!   exact.
//! - **Names.** A voter registers under its id, any other process under `--node-id` when one is
//!   given. A name is refused while another process that was not adopted holds it and
//!   heartbeated within [`LIVE_MS`]; taking the name of a silent process fences that process.
//! - **Heartbeats** ([`heartbeat`], every [`HEARTBEAT_INTERVAL`]) keep a process live; a fenced
//!   process learns of it there and stops. A clean stop retires the incarnation ([`retire`]).
//!   An incarnation silent for [`EXPIRE_MS`] is expired (fenced), and fenced records are
//!   forgotten [`EXPIRE_MS`] later; a commit from an incarnation the quorum does not know is
//!   refused.
//!
//! Fencing needs no clock: a commit is accepted only from a live incarnation that owns the
//! writer it commits for. Time decides only whether a name is free and when silent records go.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Command, CommandResult};
use super::{MetaError, MetaStore};
use crate::ids::{FlushSeq, Incarnation, NodeId};

/// How often a process heartbeats.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);

/// A process is live (its name taken) while its last heartbeat is at most this old.
pub const LIVE_MS: i64 = 10_000;

/// An incarnation silent this long is expired: fenced, and its record forgotten as long again
/// after that.
pub const EXPIRE_MS: i64 = 3_600_000;

/// What became of a writer incarnation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum WriterStatus {
    /// Registered and not fenced.
    Live,
    /// Fenced by a later registration: a successor on its data directory, or a process that
    /// took its name after it fell silent.
    Superseded {
        /// The incarnation that superseded it.
        by: Incarnation,
    },
    /// Stopped cleanly.
    Retired,
    /// Silent for longer than [`EXPIRE_MS`].
    Expired,
}

/// A registered process, as the quorum knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its writer incarnation.
    pub incarnation: Incarnation,
    /// Its node id (`--node-id`, or a voter's id), if it has one.
    pub name: Option<NodeId>,
    /// Address of its HTTP API.
    pub addr: String,
    /// Roles it runs.
    pub roles: Vec<String>,
    /// When it registered (ms since epoch, its own clock).
    pub started_ms: i64,
    /// When it last heartbeated or committed.
    pub last_seen_ms: i64,
    /// Live or fenced.
    pub status: WriterStatus,
    /// The incarnation allowed to commit this writer's flushes: itself while live, its
    /// successor on the same data directory once adopted.
    pub owner: Incarnation,
    /// The registering process's nonce: a retried registration gets the same incarnation.
    #[serde(default)]
    pub nonce: u64,
}

impl NodeInfo {
    /// Returns the id to show for the process: its node id, else its incarnation.
    pub fn display_id(&self) -> u64 {
        self.name.map_or(self.incarnation.0, |n| n.0)
    }

    /// Returns whether the process is live at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.status == WriterStatus::Live && now_ms - self.last_seen_ms <= LIVE_MS
    }
}

/// What a process asks for when it registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// Its node id, if it has one.
    pub name: Option<NodeId>,
    /// Address of its HTTP API.
    pub addr: String,
    /// Roles it runs.
    pub roles: Vec<String>,
    /// Incarnations whose flushes its data directory holds (and the last one it ran as).
    pub adopt: Vec<Incarnation>,
    /// A number unique to this process start: a retry of the same registration (after a lost
    /// answer) gets the same incarnation instead of a second one.
    pub nonce: u64,
}

/// The quorum's answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The new incarnation.
    pub incarnation: Incarnation,
    /// For each adopted writer, its last committed flush (after it was fenced).
    pub last_flushes: Vec<(Incarnation, Option<FlushSeq>)>,
}

impl Registration {
    /// Returns the last committed flush of an adopted writer.
    pub fn last_flush(&self, writer: Incarnation) -> Option<FlushSeq> {
        self.last_flushes
            .iter()
            .find(|(w, _)| *w == writer)
            .and_then(|(_, s)| *s)
    }
}

/// Returns a number unique to this process start, for [`RegisterRequest::nonce`]: 64 bits
/// from the operating system's randomness (through the standard library's hash keys) mixed
/// with the process id. Two starts never share one, so a retried registration is never
/// mistaken for another process's.
pub fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish().max(1)
}

/// Registers this process start; see the module docs.
pub async fn register(
    meta: &dyn MetaStore,
    request: RegisterRequest,
    now_ms: i64,
) -> Result<Registration, MetaError> {
    match meta
        .execute(Command::RegisterWriter { request, now_ms })
        .await?
    {
        CommandResult::Registered(r) => Ok(r),
        other => Err(MetaError::Internal {
            reason: format!("registration answered {other:?}"),
        }),
    }
}

/// Tells the quorum the process is alive; [`MetaError::Fenced`] once it is not allowed to be.
pub async fn heartbeat(
    meta: &dyn MetaStore,
    incarnation: Incarnation,
    addr: &str,
    now_ms: i64,
) -> Result<(), MetaError> {
    meta.execute(Command::WriterHeartbeat {
        incarnation,
        addr: addr.to_string(),
        now_ms,
    })
    .await
    .map(|_| ())
}

/// Retires the incarnation of a process that stopped cleanly: its name is free at once.
pub async fn retire(
    meta: &dyn MetaStore,
    incarnation: Incarnation,
    now_ms: i64,
) -> Result<(), MetaError> {
    meta.execute(Command::RetireWriter {
        incarnation,
        now_ms,
    })
    .await
    .map(|_| ())
}

/// Set once this process learns it was fenced; every part that writes watches it.
#[derive(Debug, Default)]
pub struct Fence {
    token: tokio_util::sync::CancellationToken,
    reason: std::sync::OnceLock<String>,
}

impl Fence {
    /// Records that the process is fenced, and why (the first reason wins).
    pub fn fence(&self, reason: impl Into<String>) {
        let _ = self.reason.set(reason.into());
        self.token.cancel();
    }

    /// Returns why the process is fenced, if it is.
    pub fn reason(&self) -> Option<&str> {
        self.reason.get().map(String::as_str)
    }

    /// Resolves once the process is fenced.
    pub async fn fenced(&self) {
        self.token.cancelled().await;
    }
}
