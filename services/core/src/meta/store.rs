//! Every [`MetaStore`] method, written once over a [`MetaTransport`]: apply a [`Command`],
//! answer a [`MetaQuery`]. Every store is a transport: the Raft store and the in-memory store
//! of `strata-meta` (apply, and read the applied state), the remote store of nodes that are
//! not voters over HTTP. So no store re-types the typed methods, and none can drift.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{
    Command, CommandResult, CommitOutcome, ExtentPage, GroupOffset, MetaError, MetaQuery,
    MetaStore, NodeInfo, ObjectCommit, PartitionInfo, QueryResult, QuorumStatus, TopicInfo,
};
use crate::ids::{Offset, PartitionId};

fn unexpected(what: &str, r: impl std::fmt::Debug) -> MetaError {
    MetaError::Internal {
        reason: format!("the store answered a {what} request with {r:?}"),
    }
}

/// What a metadata store moves: commands to apply, queries to answer, and change ticks.
#[async_trait]
pub trait MetaTransport: Send + Sync + std::fmt::Debug + 'static {
    /// Applies a command and returns its result (a refusal is an `Err`).
    async fn apply(&self, cmd: Command) -> Result<CommandResult, MetaError>;

    /// Answers a query.
    async fn query(&self, query: MetaQuery) -> Result<QueryResult, MetaError>;

    /// Returns the time to stamp on commands (ms since epoch).
    fn now_ms(&self) -> i64;

    /// Returns a receiver that changes after every applied change.
    fn changes(&self) -> watch::Receiver<u64>;

    /// Returns what this node knows of the quorum.
    fn status(&self) -> QuorumStatus;
}

#[async_trait]
impl<T: MetaTransport> MetaStore for T {
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
            now_ms: MetaTransport::now_ms(self),
        };
        match MetaTransport::apply(self, cmd).await? {
            CommandResult::Topic(t) => Ok(t),
            other => Err(unexpected("create topic", other)),
        }
    }

    async fn delete_topic(&self, name: &str) -> Result<(), MetaError> {
        let cmd = Command::DeleteTopic {
            name: name.to_string(),
            now_ms: MetaTransport::now_ms(self),
        };
        MetaTransport::apply(self, cmd).await.map(|_| ())
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
        match MetaTransport::apply(self, cmd).await? {
            CommandResult::Topic(t) => Ok(t),
            other => Err(unexpected("config update", other)),
        }
    }

    async fn list_topics(&self) -> Result<Vec<TopicInfo>, MetaError> {
        match self.query(MetaQuery::ListTopics).await? {
            QueryResult::Topics(t) => Ok(t),
            other => Err(unexpected("topics", other)),
        }
    }

    async fn topic(&self, name: &str) -> Result<TopicInfo, MetaError> {
        let q = MetaQuery::Topic {
            name: name.to_string(),
        };
        match self.query(q).await? {
            QueryResult::Topic(t) => Ok(t),
            other => Err(unexpected("topic", other)),
        }
    }

    async fn partitions(&self, name: &str) -> Result<Vec<PartitionInfo>, MetaError> {
        let q = MetaQuery::Partitions {
            name: name.to_string(),
        };
        match self.query(q).await? {
            QueryResult::Partitions(p) => Ok(p),
            other => Err(unexpected("partitions", other)),
        }
    }

    async fn commit_object(&self, commit: ObjectCommit) -> Result<CommitOutcome, MetaError> {
        let cmd = Command::CommitObject {
            commit,
            now_ms: MetaTransport::now_ms(self),
        };
        match MetaTransport::apply(self, cmd).await? {
            CommandResult::Committed(o) => Ok(o),
            other => Err(unexpected("commit", other)),
        }
    }

    async fn extents(
        &self,
        topic: &str,
        partition: PartitionId,
        from: Offset,
        limit: usize,
    ) -> Result<ExtentPage, MetaError> {
        let q = MetaQuery::Extents {
            topic: topic.to_string(),
            partition,
            from,
            limit,
        };
        match self.query(q).await? {
            QueryResult::Extents(e) => Ok(e),
            other => Err(unexpected("extents", other)),
        }
    }

    async fn extents_from_timestamp(
        &self,
        topic: &str,
        partition: PartitionId,
        timestamp: i64,
        limit: usize,
    ) -> Result<ExtentPage, MetaError> {
        let q = MetaQuery::ExtentsFromTimestamp {
            topic: topic.to_string(),
            partition,
            timestamp,
            limit,
        };
        match self.query(q).await? {
            QueryResult::Extents(e) => Ok(e),
            other => Err(unexpected("extents", other)),
        }
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
        MetaTransport::apply(self, cmd).await.map(|_| ())
    }

    async fn group_offsets(&self, group: &str) -> Result<Vec<GroupOffset>, MetaError> {
        let q = MetaQuery::GroupOffsets {
            group: group.to_string(),
        };
        match self.query(q).await? {
            QueryResult::GroupOffsets(g) => Ok(g),
            other => Err(unexpected("group offsets", other)),
        }
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, MetaError> {
        match self.query(MetaQuery::Nodes).await? {
            QueryResult::Nodes(n) => Ok(n),
            other => Err(unexpected("nodes", other)),
        }
    }

    async fn init_cluster(&self, cluster_id: &str) -> Result<String, MetaError> {
        if let QueryResult::ClusterId(Some(id)) = self.query(MetaQuery::ClusterId).await? {
            return Ok(id);
        }
        let cmd = Command::InitCluster {
            cluster_id: cluster_id.to_string(),
        };
        match MetaTransport::apply(self, cmd).await? {
            CommandResult::ClusterId(id) => Ok(id),
            other => Err(unexpected("cluster id", other)),
        }
    }

    async fn execute(&self, cmd: Command) -> Result<CommandResult, MetaError> {
        MetaTransport::apply(self, cmd).await
    }

    async fn ask(&self, query: MetaQuery) -> Result<QueryResult, MetaError> {
        self.query(query).await
    }

    fn changes(&self) -> watch::Receiver<u64> {
        MetaTransport::changes(self)
    }

    fn status(&self) -> QuorumStatus {
        MetaTransport::status(self)
    }
}
