//! The Raft type configuration: our commands are the log's payload.

use std::io::Cursor;

use strata_core::meta::{Command, CommandResult};

openraft::declare_raft_types!(
    /// Strata's Raft types: [`Command`] in, [`CommandResult`] out, `u64` node ids.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
);

/// Our Raft.
pub type Raft = openraft::Raft<TypeConfig>;
/// A node id in Raft terms.
pub type RaftNodeId = u64;
/// A log id.
pub type LogId = openraft::LogId<RaftNodeId>;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A storage error.
pub type StorageError = openraft::StorageError<RaftNodeId>;
/// Stored membership.
pub type StoredMembership = openraft::StoredMembership<RaftNodeId, openraft::BasicNode>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<RaftNodeId, openraft::BasicNode>;

/// The snapshot payload.
pub type SnapshotData = Cursor<Vec<u8>>;
