//! An in-memory [`MetaStore`](super::MetaStore) for unit tests: the same state machine, no
//! consensus.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use tokio::sync::watch;

use super::state::{Command, CommandResult, MetaState};
use super::store::StateStore;
use super::{MetaError, QuorumStatus};
use crate::clock::Clock;
use crate::ids::NodeId;

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
}

#[async_trait]
impl StateStore for InMemoryMetaStore {
    async fn apply(&self, cmd: Command) -> Result<CommandResult, MetaError> {
        let result = self
            .state
            .write()
            .expect("no panics while holding the lock")
            .apply(&cmd);
        self.version.send_modify(|v| *v += 1);
        result.into_result()
    }

    fn read<R>(&self, f: impl FnOnce(&MetaState) -> R) -> R {
        f(&self.state.read().expect("no panics while holding the lock"))
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn quorum(&self) -> QuorumStatus {
        QuorumStatus {
            node: NodeId(1),
            leader: Some(NodeId(1)),
            term: 1,
            applied_index: *self.version.borrow(),
            voters: vec![NodeId(1)],
            role: super::QuorumRole::Leader,
            commit_index: *self.version.borrow(),
            last_log_index: *self.version.borrow(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests;
