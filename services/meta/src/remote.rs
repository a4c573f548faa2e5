//! [`RemoteMetaStore`]: the metadata store of a node that is not a voter.
//!
//! Writes go to the leader through [`QuorumClient`] (redirects followed, retried across
//! elections until a deadline). Reads go to a voter and carry the highest log index this node
//! has seen, so a node always reads its own writes. A background long-poll keeps
//! `MetaStore::changes` ticking and the quorum status fresh. It is a [`MetaTransport`]: the
//! typed `MetaStore` methods are the ones every store shares.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use strata_core::clock::Clock;
use strata_core::ids::NodeId;
use strata_core::meta::{Command, CommandResult};
use strata_core::meta::{
    MetaError, MetaQuery, MetaTransport, QueryResult, QuorumRole, QuorumStatus,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::client::QuorumClient;
use crate::peering::Peering;

/// A [`MetaStore`](strata_core::meta::MetaStore) that reaches the quorum over HTTP.
#[derive(Debug)]
pub struct RemoteMetaStore {
    client: Arc<QuorumClient>,
    node: NodeId,
    clock: Arc<dyn Clock>,
    seen: Arc<AtomicU64>,
    version: watch::Sender<u64>,
    status: Arc<Mutex<QuorumStatus>>,
    stop: CancellationToken,
    /// The change-feed follower, awaited by [`RemoteMetaStore::close`].
    follower: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for RemoteMetaStore {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl RemoteMetaStore {
    /// Reaches the voters at `peers` (`host:port`) as `peering` says; requests give up after
    /// `deadline`.
    pub fn new(
        node: NodeId,
        peers: Vec<String>,
        deadline: Duration,
        clock: Arc<dyn Clock>,
        peering: &Peering,
    ) -> Self {
        let client = Arc::new(QuorumClient::new(peers, deadline, peering));
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
        let follower = tokio::spawn(follow(
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
            follower: Mutex::new(Some(follower)),
        }
    }

    /// Stops following the quorum's changes and waits until the follower has stopped.
    pub async fn close(&self) {
        self.stop.cancel();
        let follower = self
            .follower
            .lock()
            .expect("no panics while holding the lock")
            .take();
        if let Some(f) = follower {
            let _ = f.await;
        }
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
impl MetaTransport for RemoteMetaStore {
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

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
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
