//! The Raft log, vote and committed index, durable in [`Kv`].

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogId, RaftLogReader, StorageIOError, Vote};

use crate::kv::Kv;
use crate::types::{Entry, LogId, RaftNodeId, StorageError, TypeConfig};

const LAST_PURGED: &str = "last_purged";
const VOTE: &str = "vote";
const COMMITTED: &str = "committed";

/// The log store; cheap to clone (clones share the storage).
#[derive(Debug, Clone)]
pub struct LogStore {
    kv: Kv,
}

impl LogStore {
    /// Uses `kv` for the log.
    pub fn new(kv: Kv) -> Self {
        Self { kv }
    }

    fn read_value<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, StorageError> {
        let Some(bytes) = self
            .kv
            .get(name)
            .map_err(|e| StorageIOError::read_logs(&e))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StorageIOError::read_logs(&e).into())
    }

    async fn write_value<T: serde::Serialize>(
        &self,
        name: &str,
        value: &T,
    ) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StorageIOError::write_logs(&e))?;
        self.kv
            .put(&[(name, &bytes)])
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.kv
            .sync()
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        self.kv
            .range(start, end)
            .map_err(|e| StorageIOError::read_logs(&e))?
            .into_iter()
            .map(|(index, bytes)| {
                serde_json::from_slice(&bytes)
                    .map_err(|e| StorageIOError::read_log_at_index(index, &e).into())
            })
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.read_value(LAST_PURGED)?;
        let last = match self.kv.last().map_err(|e| StorageIOError::read_logs(&e))? {
            Some((index, bytes)) => {
                let entry: Entry = serde_json::from_slice(&bytes)
                    .map_err(|e| StorageIOError::read_log_at_index(index, &e))?;
                Some(*entry.get_log_id())
            }
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<RaftNodeId>) -> Result<(), StorageError> {
        self.write_value(VOTE, vote)
            .await
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<RaftNodeId>>, StorageError> {
        self.read_value(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.write_value(COMMITTED, &committed).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_value::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut rows = Vec::new();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry)
                .map_err(|e| StorageIOError::write_log_entry(*entry.get_log_id(), &e))?;
            rows.push((entry.get_log_id().index, bytes));
        }
        self.kv
            .append(rows)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        let synced = self.kv.sync().await;
        let io_result = synced
            .as_ref()
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()));
        callback.log_io_completed(io_result);
        synced.map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.kv
            .truncate_from(log_id.index)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.kv
            .sync()
            .await
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: a crash in between leaves extra entries, never a hole.
        self.write_value(LAST_PURGED, &log_id).await?;
        self.kv
            .purge_upto(log_id.index)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}
