//! An in-memory [`MetaStore`](strata_core::meta::MetaStore) for unit tests: the same state machine, no
//! consensus.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use tokio::sync::watch;

use strata_core::clock::Clock;
use strata_core::ids::NodeId;
use strata_core::meta::{
    Command, CommandResult, MetaError, MetaQuery, MetaTransport, QueryResult, QuorumRole,
    QuorumStatus,
};

use crate::state::MetaState;

/// A store holding [`MetaState`] in memory.
#[derive(Debug)]
pub struct InMemoryMetaStore {
    state: RwLock<MetaState>,
    version: watch::Sender<u64>,
    clock: Arc<dyn Clock>,
}

impl InMemoryMetaStore {
    /// Creates an empty store reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: RwLock::new(MetaState::default()),
            version: watch::channel(0).0,
            clock,
        }
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&MetaState) -> R) -> R {
        f(&self.state.read().expect("no panics while holding the lock"))
    }
}

#[async_trait]
impl MetaTransport for InMemoryMetaStore {
    async fn apply(&self, cmd: Command) -> Result<CommandResult, MetaError> {
        let result = self
            .state
            .write()
            .expect("no panics while holding the lock")
            .apply(&cmd);
        self.version.send_modify(|v| *v += 1);
        result.into_result()
    }

    async fn query(&self, query: MetaQuery) -> Result<QueryResult, MetaError> {
        self.read(|s| s.query(&query))
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn status(&self) -> QuorumStatus {
        QuorumStatus {
            node: NodeId(1),
            leader: Some(NodeId(1)),
            term: 1,
            applied_index: *self.version.borrow(),
            voters: vec![NodeId(1)],
            role: QuorumRole::Leader,
            commit_index: *self.version.borrow(),
            last_log_index: *self.version.borrow(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests;
