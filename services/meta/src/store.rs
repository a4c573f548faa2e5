//! [`RaftMetaStore`]: the [`MetaStore`] backed by openraft.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, SnapshotPolicy};
use strata_core::clock::Clock;
use strata_core::ids::NodeId;
use strata_core::meta::state::{Command, CommandResult, MetaState};
use strata_core::meta::{MetaError, QuorumStatus, StateStore};
use tokio::sync::watch;
use tracing::info;

use crate::kv::{Kv, KvHandle};
use crate::log_store::LogStore;
use crate::network::NoPeers;
use crate::state_machine::{Shared, StateMachine};
use crate::types::Raft;

/// Settings of the metadata quorum.
#[derive(Debug, Clone)]
pub struct MetaConfig {
    /// This node's id.
    pub node: NodeId,
    /// Directory of the quorum's storage.
    pub dir: PathBuf,
    /// Address other voters reach this node at.
    pub advertise: String,
    /// Log entries between snapshots.
    pub snapshot_logs: u64,
    /// How long a write waits for the quorum before failing as unavailable.
    pub write_timeout: Duration,
}

impl MetaConfig {
    /// Settings for a quorum of one in `dir`.
    pub fn single(node: NodeId, dir: PathBuf) -> Self {
        Self {
            node,
            dir,
            advertise: String::new(),
            snapshot_logs: 10_000,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// The metadata store of a node that is a voter of the quorum.
pub struct RaftMetaStore {
    raft: Raft,
    shared: Arc<Shared>,
    node: NodeId,
    clock: Arc<dyn Clock>,
    write_timeout: Duration,
    storage: KvHandle,
}

impl std::fmt::Debug for RaftMetaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftMetaStore")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> MetaError {
    MetaError::Internal {
        reason: format!("{what}: {e}"),
    }
}

impl RaftMetaStore {
    /// Opens the quorum's storage in `config.dir`, starts Raft, forms a quorum of one on first
    /// start, and waits until this node leads.
    pub async fn open(config: MetaConfig, clock: Arc<dyn Clock>) -> Result<Self, MetaError> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| internal(&format!("create {}", config.dir.display()), e))?;
        let kv = Kv::open(&config.dir).map_err(|e| internal("open quorum storage", e))?;
        let storage = kv.handle();
        let log = LogStore::new(kv.clone());
        let sm = StateMachine::open(kv).map_err(|e| internal("load snapshot", e))?;
        let shared = sm.shared();
        let raft_config = openraft::Config {
            cluster_name: "strata".to_string(),
            heartbeat_interval: 100,
            election_timeout_min: 300,
            election_timeout_max: 600,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_logs),
            max_in_snapshot_log_to_keep: 100,
            ..Default::default()
        }
        .validate()
        .map_err(|e| internal("raft config", e))?;
        let node = config.node;
        let raft = Raft::new(node.0, Arc::new(raft_config), NoPeers, log, sm)
            .await
            .map_err(|e| internal("start raft", e))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| internal("read raft state", e))?;
        if !initialized {
            let members = BTreeMap::from([(node.0, BasicNode::new(&config.advertise))]);
            match raft.initialize(members).await {
                Ok(()) => info!(node = %node, "formed a quorum of one"),
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(internal("initialize quorum", e)),
            }
        }
        raft.wait(Some(Duration::from_secs(30)))
            .current_leader(node.0, "waiting for this voter to lead")
            .await
            .map_err(|e| MetaError::Unavailable {
                reason: format!("no leader elected: {e}"),
            })?;
        Ok(Self {
            raft,
            shared,
            node,
            clock,
            write_timeout: config.write_timeout,
            storage,
        })
    }

    /// Stops Raft and waits (up to 10 s) until its storage is closed, so the directory can be
    /// opened again at once.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not stop cleanly");
        }
        // Snapshot builds run in their own tasks and may still hold the storage briefly.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.storage.is_closed() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !self.storage.is_closed() {
            tracing::warn!("quorum storage still open 10s after raft stopped");
        }
    }
}

#[async_trait]
impl StateStore for RaftMetaStore {
    async fn apply(&self, cmd: Command) -> Result<CommandResult, MetaError> {
        // Refuse what the state would refuse without spending a log entry on it.
        self.shared.read().state.check(&cmd)?;
        let response = tokio::time::timeout(self.write_timeout, self.raft.client_write(cmd))
            .await
            .map_err(|_| MetaError::Unavailable {
                reason: format!("no answer from the quorum within {:?}", self.write_timeout),
            })?;
        match response {
            Ok(r) => r.data.into_result(),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(MetaError::Unavailable {
                    reason: match f.leader_id {
                        Some(l) => format!("this node is not the leader; node {l} is"),
                        None => "no leader elected".to_string(),
                    },
                })
            }
            Err(RaftError::APIError(e)) => Err(internal("quorum write", e)),
            Err(RaftError::Fatal(e)) => Err(MetaError::Unavailable {
                reason: format!("raft stopped: {e}"),
            }),
        }
    }

    fn read<R>(&self, f: impl FnOnce(&MetaState) -> R) -> R {
        f(&self.shared.read().state)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.subscribe()
    }

    fn quorum(&self) -> QuorumStatus {
        let m = self.raft.metrics().borrow().clone();
        let voters: BTreeSet<u64> = m.membership_config.membership().voter_ids().collect();
        QuorumStatus {
            node: self.node,
            leader: m.current_leader.map(NodeId),
            term: m.current_term,
            applied_index: m.last_applied.map_or(0, |l| l.index),
            voters: voters.into_iter().map(NodeId).collect(),
        }
    }
}
