//! The Raft state machine: [`MetaState`] in memory, made durable by the log plus snapshots.
//!
//! Applying a command changes only memory; the log (fsync'd before an entry is committed)
//! is the durability point. A snapshot (the whole state as JSON, written to [`Kv`] and synced
//! before openraft may purge the log behind it) bounds how much log a restart replays.

use std::io::Cursor;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, StorageIOError};
use serde::{Deserialize, Serialize};
use strata_core::meta::CommandResult;

use crate::state::MetaState;
use tokio::sync::watch;

use crate::kv::Kv;
use crate::types::{
    Entry, LogId, SnapshotData, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

const SNAPSHOT_META: &str = "snapshot_meta";
const SNAPSHOT_DATA: &str = "snapshot_data";

/// The applied state and the log position it reflects, always read together.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Applied {
    /// Last applied log id.
    pub last_applied: Option<LogId>,
    /// Membership as of `last_applied`.
    pub membership: StoredMembership,
    /// The metadata.
    pub state: MetaState,
}

/// State shared between the state machine (writer) and the store (readers).
#[derive(Debug)]
pub struct Shared {
    applied: RwLock<Applied>,
    version: watch::Sender<u64>,
}

impl Shared {
    /// Reads the applied state.
    pub fn read(&self) -> RwLockReadGuard<'_, Applied> {
        self.applied
            .read()
            .expect("no panics while holding the lock")
    }

    /// Subscribes to applied-index changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn replace(&self, applied: Applied) {
        let index = applied.last_applied.map_or(0, |l| l.index);
        *self
            .applied
            .write()
            .expect("no panics while holding the lock") = applied;
        self.version.send_replace(index);
    }
}

/// The state machine openraft drives.
#[derive(Debug, Clone)]
pub struct StateMachine {
    shared: Arc<Shared>,
    kv: Kv,
}

impl StateMachine {
    /// Opens the state machine, loading the last snapshot from `kv` if there is one.
    pub fn open(kv: Kv) -> Result<Self, StorageError> {
        let mut applied: Applied = match kv
            .get(SNAPSHOT_DATA)
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?
        {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StorageIOError::read_snapshot(None, &e))?,
            None => Applied::default(),
        };
        applied.state.count_refs();
        let index = applied.last_applied.map_or(0, |l| l.index);
        let shared = Arc::new(Shared {
            applied: RwLock::new(applied),
            version: watch::channel(index).0,
        });
        Ok(Self { shared, kv })
    }

    /// Returns the shared state for readers.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    async fn persist_snapshot(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StorageError> {
        let meta_bytes = serde_json::to_vec(meta)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.kv
            .put(&[(SNAPSHOT_META, &meta_bytes), (SNAPSHOT_DATA, data)])
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.kv
            .sync()
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (data, last_applied, membership) = {
            let applied = self.shared.read();
            let data = serde_json::to_vec(&*applied)
                .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
            (data, applied.last_applied, applied.membership.clone())
        };
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}", l.leader_id, l.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        self.persist_snapshot(&meta, &data).await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let a = self.shared.read();
        Ok((a.last_applied, a.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut results = Vec::new();
        let index = {
            let mut a = self
                .shared
                .applied
                .write()
                .expect("no panics while holding the lock");
            for entry in entries {
                a.last_applied = Some(entry.log_id);
                let result = match entry.payload {
                    EntryPayload::Blank => CommandResult::Done,
                    EntryPayload::Normal(cmd) => a.state.apply(&cmd),
                    EntryPayload::Membership(m) => {
                        a.membership = StoredMembership::new(Some(entry.log_id), m);
                        CommandResult::Done
                    }
                };
                results.push(result);
            }
            a.last_applied.map_or(0, |l| l.index)
        };
        self.shared.version.send_replace(index);
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<SnapshotData>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let mut applied: Applied = serde_json::from_slice(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        applied.state.count_refs();
        applied.last_applied = meta.last_log_id;
        applied.membership = meta.last_membership.clone();
        self.persist_snapshot(meta, &data).await?;
        self.shared.replace(applied);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let meta = self
            .kv
            .get(SNAPSHOT_META)
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        let data = self
            .kv
            .get(SNAPSHOT_DATA)
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        let (Some(meta), Some(data)) = (meta, data) else {
            return Ok(None);
        };
        let meta: SnapshotMeta =
            serde_json::from_slice(&meta).map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
