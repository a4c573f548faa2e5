//! In-process clusters of voters talking real HTTP on loopback, for tests and benchmarks.

use std::sync::Arc;
use std::time::Duration;

use strata_core::clock::SystemClock;
use strata_core::ids::NodeId;
use strata_core::meta::MetaStore;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{MetaConfig, RaftMetaStore, RemoteMetaStore};

/// A running voter: its store and its HTTP server.
#[derive(Debug)]
pub struct Voter {
    /// The voter's store.
    pub store: Arc<RaftMetaStore>,
    stop: CancellationToken,
    server: JoinHandle<()>,
}

/// Voters on loopback ports, with their storage in a temporary directory.
#[derive(Debug)]
pub struct LocalCluster {
    /// Voters by index (node id = index + 1); `None` while stopped.
    pub voters: Vec<Option<Voter>>,
    /// Their addresses.
    pub addrs: Vec<String>,
    dirs: TempDir,
    snapshot_logs: u64,
}

/// The cluster secret of every [`LocalCluster`].
pub fn secret() -> crate::ClusterSecret {
    crate::ClusterSecret::parse("local-cluster-secret-0123456789abcdef").expect("long enough")
}

async fn start_voter(
    id: usize,
    addrs: &[String],
    dir: &std::path::Path,
    snapshot_logs: u64,
    listener: TcpListener,
) -> Voter {
    let config = MetaConfig {
        node: NodeId(id as u64 + 1),
        dir: dir.join(format!("v{id}")),
        peers: addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (NodeId(i as u64 + 1), a.clone()))
            .collect(),
        snapshot_logs,
        write_timeout: Duration::from_secs(5),
        election_timeout: crate::store::DEFAULT_ELECTION_TIMEOUT,
        peering: crate::Peering::plain(Some(secret())),
        timed_elections: true,
    };
    let store = Arc::new(
        RaftMetaStore::open(config, Arc::new(SystemClock))
            .await
            .expect("a voter opens"),
    );
    let stop = CancellationToken::new();
    let app = crate::http::router(store.clone());
    let s = stop.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(s.cancelled_owned())
            .await;
    });
    Voter {
        store,
        stop,
        server,
    }
}

impl LocalCluster {
    /// Starts `n` voters and waits until they agree on a leader.
    pub async fn start(n: usize, snapshot_logs: u64) -> Self {
        let mut listeners = Vec::new();
        for _ in 0..n {
            listeners.push(
                TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("binds a loopback port"),
            );
        }
        let addrs: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().expect("bound").to_string())
            .collect();
        let dirs = tempfile::tempdir().expect("a temporary directory");
        let mut voters = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            voters.push(Some(
                start_voter(i, &addrs, dirs.path(), snapshot_logs, l).await,
            ));
        }
        let c = Self {
            voters,
            addrs,
            dirs,
            snapshot_logs,
        };
        c.leader().await;
        c
    }

    /// Returns the store of voter `i`.
    pub fn store(&self, i: usize) -> Arc<RaftMetaStore> {
        self.voters[i]
            .as_ref()
            .expect("voter is running")
            .store
            .clone()
    }

    /// Waits (up to 30 s) until the running voters agree on a leader; returns its index.
    pub async fn leader(&self) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let leaders: Vec<Option<NodeId>> = self
                .voters
                .iter()
                .flatten()
                .map(|v| v.store.status().leader)
                .collect();
            if let Some(Some(l)) = leaders.first()
                && leaders.iter().all(|x| *x == Some(*l))
                && self.voters[l.0 as usize - 1].is_some()
            {
                return l.0 as usize - 1;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no leader agreed on: {leaders:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops voter `i` (its storage stays).
    pub async fn stop(&mut self, i: usize) {
        if let Some(v) = self.voters[i].take() {
            v.stop.cancel();
            v.store.shutdown().await;
            let _ = v.server.await;
        }
    }

    /// Starts voter `i` again on its address and storage.
    pub async fn restart(&mut self, i: usize) {
        let listener = TcpListener::bind(&self.addrs[i])
            .await
            .expect("rebinds its address");
        self.voters[i] = Some(
            start_voter(
                i,
                &self.addrs,
                self.dirs.path(),
                self.snapshot_logs,
                listener,
            )
            .await,
        );
    }

    /// Returns a store for a node that is not a voter.
    pub fn remote(&self) -> RemoteMetaStore {
        RemoteMetaStore::new(
            NodeId(99),
            self.addrs.clone(),
            Duration::from_secs(10),
            Arc::new(SystemClock),
            &crate::Peering::plain(Some(secret())),
        )
    }

    /// Returns a voter's store as the trait.
    pub fn meta(&self, i: usize) -> Arc<dyn MetaStore> {
        self.store(i)
    }
}
