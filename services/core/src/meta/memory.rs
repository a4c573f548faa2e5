//! An in-memory [`MetaStore`] for unit tests: the same state machine, no consensus.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use tokio::sync::watch;

use super::state::{Command, CommandResult, MetaState};
use super::{
    CommitOutcome, ExtentPage, GroupOffset, MetaError, MetaStore, ObjectCommit, PartitionInfo,
    QuorumStatus, TopicInfo,
};
use crate::clock::Clock;
use crate::ids::{FlushSeq, NodeId, Offset, PartitionId};

/// A [`MetaStore`] holding [`MetaState`] in memory.
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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, MetaState> {
        self.state.read().expect("no panics while holding the lock")
    }

    fn write(&self, cmd: Command) -> Result<CommandResult, MetaError> {
        let result = self
            .state
            .write()
            .expect("no panics while holding the lock")
            .apply(&cmd);
        self.version.send_modify(|v| *v += 1);
        result.into_result()
    }
}

#[async_trait]
impl MetaStore for InMemoryMetaStore {
    async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        config: BTreeMap<String, String>,
    ) -> Result<TopicInfo, MetaError> {
        match self.write(Command::CreateTopic {
            name: name.to_string(),
            partitions,
            config,
            now_ms: self.clock.now_ms(),
        })? {
            CommandResult::Topic(t) => Ok(t),
            other => Err(unexpected(other)),
        }
    }

    async fn delete_topic(&self, name: &str) -> Result<(), MetaError> {
        self.write(Command::DeleteTopic {
            name: name.to_string(),
        })
        .map(|_| ())
    }

    async fn update_topic_config(
        &self,
        name: &str,
        changes: BTreeMap<String, String>,
    ) -> Result<TopicInfo, MetaError> {
        match self.write(Command::UpdateTopicConfig {
            name: name.to_string(),
            changes,
        })? {
            CommandResult::Topic(t) => Ok(t),
            other => Err(unexpected(other)),
        }
    }

    async fn list_topics(&self) -> Result<Vec<TopicInfo>, MetaError> {
        Ok(self.read().list_topics())
    }

    async fn topic(&self, name: &str) -> Result<TopicInfo, MetaError> {
        self.read().topic(name)
    }

    async fn partitions(&self, name: &str) -> Result<Vec<PartitionInfo>, MetaError> {
        self.read().partitions(name)
    }

    async fn commit_object(&self, commit: ObjectCommit) -> Result<CommitOutcome, MetaError> {
        match self.write(Command::CommitObject {
            commit,
            now_ms: self.clock.now_ms(),
        })? {
            CommandResult::Committed(o) => Ok(o),
            other => Err(unexpected(other)),
        }
    }

    async fn extents(
        &self,
        topic: &str,
        partition: PartitionId,
        from: Offset,
        limit: usize,
    ) -> Result<ExtentPage, MetaError> {
        self.read().extents(topic, partition, from, limit)
    }

    async fn extents_from_timestamp(
        &self,
        topic: &str,
        partition: PartitionId,
        timestamp: i64,
        limit: usize,
    ) -> Result<ExtentPage, MetaError> {
        self.read()
            .extents_from_timestamp(topic, partition, timestamp, limit)
    }

    async fn commit_group_offsets(
        &self,
        group: &str,
        offsets: Vec<GroupOffset>,
    ) -> Result<(), MetaError> {
        self.write(Command::CommitGroupOffsets {
            group: group.to_string(),
            offsets,
        })
        .map(|_| ())
    }

    async fn group_offsets(&self, group: &str) -> Result<Vec<GroupOffset>, MetaError> {
        self.read().group_offsets(group)
    }

    async fn last_flush_seq(&self, node: NodeId) -> Result<Option<FlushSeq>, MetaError> {
        Ok(self.read().last_flush_seq(node))
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
        }
    }
}

fn unexpected(r: CommandResult) -> MetaError {
    MetaError::Internal {
        reason: format!("unexpected command result {r:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn in_memory_store_passes_the_conformance_suite() {
        super::super::conformance::run_all(|| async {
            Arc::new(InMemoryMetaStore::new(Arc::new(ManualClock::new(1000)))) as Arc<dyn MetaStore>
        })
        .await;
    }
}
