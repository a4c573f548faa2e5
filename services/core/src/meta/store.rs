//! [`StateStore`]: every [`MetaStore`] method, written once over [`MetaState`].
//!
//! A store that can apply a [`Command`] (through consensus or directly) and read the applied
//! state implements this small trait and gets [`MetaStore`] for free, so the in-memory store
//! and the Raft store cannot drift apart.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tokio::sync::watch;

use super::state::{Command, CommandResult, MetaState};
use super::{
    CommitOutcome, ExtentPage, GroupOffset, MetaError, MetaQuery, MetaStore, NodeInfo,
    ObjectCommit, PartitionInfo, QueryResult, QuorumStatus, TopicInfo,
};
use crate::ids::{Offset, PartitionId};

/// A store of [`MetaState`] that applies commands and answers reads from its applied state.
#[async_trait]
pub trait StateStore: Send + Sync + std::fmt::Debug + 'static {
    /// Applies a command and returns its result (a refusal is an `Err`).
    async fn apply(&self, cmd: Command) -> Result<CommandResult, MetaError>;

    /// Reads the applied state.
    fn read<R>(&self, f: impl FnOnce(&MetaState) -> R) -> R;

    /// Returns the time to stamp on commands (ms since epoch).
    fn now_ms(&self) -> i64;

    /// Returns a receiver that changes after every applied change.
    fn subscribe(&self) -> watch::Receiver<u64>;

    /// Returns what this node knows of the quorum.
    fn quorum(&self) -> QuorumStatus;
}

fn unexpected(r: CommandResult) -> MetaError {
    MetaError::Internal {
        reason: format!("unexpected command result {r:?}"),
    }
}

#[async_trait]
impl<S: StateStore> MetaStore for S {
    async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        config: BTreeMap<String, String>,
    ) -> Result<TopicInfo, MetaError> {
        let cmd = Command::CreateTopic {
            name: name.to_string(),
            partitions,
            config,
            now_ms: self.now_ms(),
        };
        match self.apply(cmd).await? {
            CommandResult::Topic(t) => Ok(t),
            other => Err(unexpected(other)),
        }
    }

    async fn delete_topic(&self, name: &str) -> Result<(), MetaError> {
        let cmd = Command::DeleteTopic {
            name: name.to_string(),
            now_ms: self.now_ms(),
        };
        self.apply(cmd).await.map(|_| ())
    }

    async fn update_topic_config(
        &self,
        name: &str,
        changes: BTreeMap<String, String>,
    ) -> Result<TopicInfo, MetaError> {
        let cmd = Command::UpdateTopicConfig {
            name: name.to_string(),
            changes,
        };
        match self.apply(cmd).await? {
            CommandResult::Topic(t) => Ok(t),
            other => Err(unexpected(other)),
        }
    }

    async fn list_topics(&self) -> Result<Vec<TopicInfo>, MetaError> {
        Ok(self.read(MetaState::list_topics))
    }

    async fn topic(&self, name: &str) -> Result<TopicInfo, MetaError> {
        self.read(|s| s.topic(name))
    }

    async fn partitions(&self, name: &str) -> Result<Vec<PartitionInfo>, MetaError> {
        self.read(|s| s.partitions(name))
    }

    async fn commit_object(&self, commit: ObjectCommit) -> Result<CommitOutcome, MetaError> {
        let cmd = Command::CommitObject {
            commit,
            now_ms: self.now_ms(),
        };
        match self.apply(cmd).await? {
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
        self.read(|s| s.extents(topic, partition, from, limit))
    }

    async fn extents_from_timestamp(
        &self,
        topic: &str,
        partition: PartitionId,
        timestamp: i64,
        limit: usize,
    ) -> Result<ExtentPage, MetaError> {
        self.read(|s| s.extents_from_timestamp(topic, partition, timestamp, limit))
    }

    async fn commit_group_offsets(
        &self,
        group: &str,
        offsets: Vec<GroupOffset>,
    ) -> Result<(), MetaError> {
        let cmd = Command::CommitGroupOffsets {
            group: group.to_string(),
            offsets,
        };
        self.apply(cmd).await.map(|_| ())
    }

    async fn group_offsets(&self, group: &str) -> Result<Vec<GroupOffset>, MetaError> {
        self.read(|s| s.group_offsets(group))
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, MetaError> {
        Ok(self.read(MetaState::writers))
    }

    async fn init_cluster(&self, cluster_id: &str) -> Result<String, MetaError> {
        if let Some(id) = self.read(MetaState::cluster_id) {
            return Ok(id);
        }
        let cmd = Command::InitCluster {
            cluster_id: cluster_id.to_string(),
        };
        match self.apply(cmd).await? {
            CommandResult::ClusterId(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    async fn execute(&self, cmd: Command) -> Result<CommandResult, MetaError> {
        self.apply(cmd).await
    }

    async fn ask(&self, query: MetaQuery) -> Result<QueryResult, MetaError> {
        self.read(|s| s.query(&query))
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.subscribe()
    }

    fn status(&self) -> QuorumStatus {
        self.quorum()
    }
}
