//! [`RemoteMetaStore`]: the metadata store of a node that is not a voter.
//!
//! Writes go to the leader through [`QuorumClient`] (redirects followed, retried across
//! elections until a deadline). Reads go to a voter and carry the highest log index this node
//! has seen, so a node always reads its own writes. A background long-poll keeps
//! [`MetaStore::changes`] ticking and the quorum status fresh.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use strata_core::clock::Clock;
use strata_core::ids::{NodeId, Offset, PartitionId};
use strata_core::meta::state::{Command, CommandResult};
use strata_core::meta::{
    CommitOutcome, ExtentPage, GroupOffset, MetaError, MetaQuery, MetaStore, NodeInfo,
    ObjectCommit, PartitionInfo, QueryResult, QuorumRole, QuorumStatus, TopicInfo,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::client::QuorumClient;

/// A [`MetaStore`] that reaches the quorum over HTTP.
#[derive(Debug)]
pub struct RemoteMetaStore {
    client: Arc<QuorumClient>,
    node: NodeId,
    clock: Arc<dyn Clock>,
    seen: Arc<AtomicU64>,
    version: watch::Sender<u64>,
    status: Arc<Mutex<QuorumStatus>>,
    stop: CancellationToken,
}

impl Drop for RemoteMetaStore {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn unexpected(what: &str) -> MetaError {
    MetaError::Internal {
        reason: format!("the quorum answered a {what} query with another kind of result"),
    }
}

impl RemoteMetaStore {
    /// Reaches the voters at `peers` (`host:port`); requests give up after `deadline`.
    pub fn new(
        node: NodeId,
        peers: Vec<String>,
        deadline: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let client = Arc::new(QuorumClient::new(peers, deadline));
        let seen = Arc::new(AtomicU64::new(0));
        let version = watch::channel(0).0;
        let status = Arc::new(Mutex::new(QuorumStatus {
            node,
            leader: None,
            term: 0,
            applied_index: 0,
            voters: Vec::new(),
            role: QuorumRole::None,
            commit_index: 0,
            last_log_index: 0,
            ..Default::default()
        }));
        let stop = CancellationToken::new();
        tokio::spawn(follow(
            client.clone(),
            seen.clone(),
            version.clone(),
            status.clone(),
            stop.clone(),
        ));
        Self {
            client,
            node,
            clock,
            seen,
            version,
            status,
            stop,
        }
    }

    async fn apply(&self, cmd: Command) -> Result<CommandResult, MetaError> {
        let r = self.client.apply(&cmd).await?;
        self.seen.fetch_max(r.log_index, Ordering::SeqCst);
        r.result.into_result()
    }

    async fn query(&self, q: MetaQuery) -> Result<QueryResult, MetaError> {
        let r = self
            .client
            .query(&q, self.seen.load(Ordering::SeqCst))
            .await?;
        self.seen.fetch_max(r.applied_index, Ordering::SeqCst);
        r.result
    }
}

/// Long-polls the quorum for changes; ticks `version` and refreshes `status`.
async fn follow(
    client: Arc<QuorumClient>,
    seen: Arc<AtomicU64>,
    version: watch::Sender<u64>,
    status: Arc<Mutex<QuorumStatus>>,
    stop: CancellationToken,
) {
    let mut after = 0u64;
    let mut pause = Duration::from_millis(50);
    loop {
        let r = tokio::select! {
            r = client.changes(after, Duration::from_secs(10)) => r,
            _ = stop.cancelled() => return,
        };
        match r {
            Ok(c) => {
                pause = Duration::from_millis(50);
                {
                    let mut s = status.lock().expect("no panics while holding the lock");
                    let node = s.node;
                    *s = c.status;
                    s.node = node;
                }
                if c.applied_index != after {
                    after = c.applied_index;
                    seen.fetch_max(after, Ordering::SeqCst);
                    version.send_replace(after);
                }
            }
            Err(e) => {
                debug!(error = %e, "quorum change feed unavailable; retrying");
                status
                    .lock()
                    .expect("no panics while holding the lock")
                    .leader = None;
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.cancelled() => return,
                }
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

#[async_trait]
impl MetaStore for RemoteMetaStore {
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
            now_ms: self.clock.now_ms(),
        };
        match self.apply(cmd).await? {
            CommandResult::Topic(t) => Ok(t),
            _ => Err(unexpected("create topic")),
        }
    }

    async fn delete_topic(&self, name: &str) -> Result<(), MetaError> {
        self.apply(Command::DeleteTopic {
            name: name.to_string(),
            now_ms: self.clock.now_ms(),
        })
        .await
        .map(|_| ())
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
            _ => Err(unexpected("config update")),
        }
    }

    async fn list_topics(&self) -> Result<Vec<TopicInfo>, MetaError> {
        match self.query(MetaQuery::ListTopics).await? {
            QueryResult::Topics(t) => Ok(t),
            _ => Err(unexpected("topics")),
        }
    }

    async fn topic(&self, name: &str) -> Result<TopicInfo, MetaError> {
        match self
            .query(MetaQuery::Topic {
                name: name.to_string(),
            })
            .await?
        {
            QueryResult::Topic(t) => Ok(t),
            _ => Err(unexpected("topic")),
        }
    }

    async fn partitions(&self, name: &str) -> Result<Vec<PartitionInfo>, MetaError> {
        match self
            .query(MetaQuery::Partitions {
                name: name.to_string(),
            })
            .await?
        {
            QueryResult::Partitions(p) => Ok(p),
            _ => Err(unexpected("partitions")),
        }
    }

    async fn commit_object(&self, commit: ObjectCommit) -> Result<CommitOutcome, MetaError> {
        let cmd = Command::CommitObject {
            commit,
            now_ms: self.clock.now_ms(),
        };
        match self.apply(cmd).await? {
            CommandResult::Committed(o) => Ok(o),
            _ => Err(unexpected("commit")),
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
            _ => Err(unexpected("extents")),
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
            _ => Err(unexpected("extents")),
        }
    }

    async fn commit_group_offsets(
        &self,
        group: &str,
        offsets: Vec<GroupOffset>,
    ) -> Result<(), MetaError> {
        self.apply(Command::CommitGroupOffsets {
            group: group.to_string(),
            offsets,
        })
        .await
        .map(|_| ())
    }

    async fn group_offsets(&self, group: &str) -> Result<Vec<GroupOffset>, MetaError> {
        match self
            .query(MetaQuery::GroupOffsets {
                group: group.to_string(),
            })
            .await?
        {
            QueryResult::GroupOffsets(g) => Ok(g),
            _ => Err(unexpected("group offsets")),
        }
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, MetaError> {
        match self.query(MetaQuery::Nodes).await? {
            QueryResult::Nodes(n) => Ok(n),
            _ => Err(unexpected("nodes")),
        }
    }

    async fn init_cluster(&self, cluster_id: &str) -> Result<String, MetaError> {
        if let QueryResult::ClusterId(Some(id)) = self.query(MetaQuery::ClusterId).await? {
            return Ok(id);
        }
        let cmd = Command::InitCluster {
            cluster_id: cluster_id.to_string(),
        };
        match self.apply(cmd).await? {
            CommandResult::ClusterId(id) => Ok(id),
            _ => Err(unexpected("cluster id")),
        }
    }

    async fn execute(&self, cmd: Command) -> Result<CommandResult, MetaError> {
        self.apply(cmd).await
    }

    async fn ask(&self, query: MetaQuery) -> Result<QueryResult, MetaError> {
        self.query(query).await
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn status(&self) -> QuorumStatus {
        let mut s = self
            .status
            .lock()
            .expect("no panics while holding the lock")
            .clone();
        // The figures are the voter's that answered; this node is not a member.
        s.node = self.node;
        s.role = QuorumRole::None;
        s
    }
}
