//! [`RaftMetaStore`]: the metadata store of a voter, on openraft.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use strata_core::clock::Clock;
use strata_core::ids::NodeId;
use strata_core::meta::{Command, CommandResult};
use strata_core::planted;

use crate::state::MetaState;
use strata_core::meta::{
    MetaError, MetaQuery, MetaTransport, QueryResult, QuorumRole, QuorumStatus,
};
use strata_core::settings::{self, Invalid, Section, at_least, duration_between};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::client::QuorumClient;
use crate::kv::{Kv, KvHandle};
use crate::log_store::LogStore;
use crate::network::HttpNetwork;
use crate::peering::Peering;
use crate::secret::ClusterSecret;
use crate::state_machine::{Shared, StateMachine};
use crate::types::{Raft, TypeConfig};
use crate::wire::ChangesResponse;

mod membership;

/// Settings of the metadata quorum: the `[meta]` section of the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct MetaConfig {
    /// This node's id.
    #[serde(skip)]
    pub node: NodeId,
    /// Directory of the quorum's storage.
    #[serde(skip)]
    pub dir: PathBuf,
    /// The voters, this node included: id and `host:port`. Empty means a quorum of one.
    #[serde(skip)]
    pub peers: Vec<(NodeId, String)>,
    /// Log entries between snapshots.
    pub snapshot_logs: u64,
    /// How long a write waits for the quorum before failing as unavailable.
    #[serde(skip)]
    pub write_timeout: Duration,
    /// Shortest election timeout (the longest is twice it; heartbeats go six times as often).
    /// A leader that has not heard from a majority for this long stops taking writes (its
    /// lease lapsed), and followers elect a new one about twice this long after the last
    /// heartbeat.
    #[serde(with = "settings::duration")]
    pub election_timeout: Duration,
    /// How members reach each other: the secret they prove themselves with
    /// (`--cluster-secret-file`; without one this voter serves no internal API, so it can only
    /// be a quorum of one), and whether over HTTPS.
    #[serde(skip)]
    pub peering: Peering,
    /// Whether a follower that hears no leader for an election timeout stands for election
    /// itself (always, in a real quorum). The simulator turns it off and calls
    /// [`RaftMetaStore::elect`] on its own seeded schedule, since openraft draws its timeouts
    /// from an unseeded random source.
    #[serde(skip)]
    pub timed_elections: bool,
}

impl Default for MetaConfig {
    fn default() -> Self {
        Self {
            node: NodeId(1),
            dir: PathBuf::from("meta"),
            peers: Vec::new(),
            snapshot_logs: 10_000,
            write_timeout: Duration::from_secs(10),
            election_timeout: DEFAULT_ELECTION_TIMEOUT,
            peering: Peering::default(),
            timed_elections: true,
        }
    }
}

impl Section for MetaConfig {
    fn check(&self) -> Result<(), Invalid> {
        at_least("snapshot-logs", self.snapshot_logs, 1)?;
        duration_between(
            "election-timeout",
            self.election_timeout,
            Duration::from_millis(60),
            Duration::from_secs(60),
        )
    }
}

impl MetaConfig {
    /// Settings for a quorum of one in `dir`.
    pub fn single(node: NodeId, dir: PathBuf) -> Self {
        Self {
            node,
            dir,
            ..Self::default()
        }
    }
}

/// The default shortest election timeout: with heartbeats every 50 ms, a new leader is elected
/// about 0.9-1.2 s after the old one stops.
pub(crate) const DEFAULT_ELECTION_TIMEOUT: Duration = Duration::from_millis(300);

/// Why a write could not run on this node.
#[derive(Debug)]
pub enum LocalWriteError {
    /// This node is not the leader; the leader it knows, if any (id, address).
    NotLeader(Option<(u64, String)>),
    /// The write failed.
    Failed(MetaError),
}

/// The metadata store of a node that is a voter of the quorum.
pub struct RaftMetaStore {
    raft: Raft,
    shared: Arc<Shared>,
    node: NodeId,
    clock: Arc<dyn Clock>,
    write_timeout: Duration,
    /// A leader whose majority last acknowledged it longer ago than this takes no writes.
    lease: Duration,
    storage: KvHandle,
    forward: QuorumClient,
    peering: Peering,
    stopping: tokio_util::sync::CancellationToken,
    /// Cancelled when openraft's core stopped without being asked to (it panicked).
    failed: tokio_util::sync::CancellationToken,
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
    /// The secret this voter's internal API asks of every caller, if it serves one.
    pub fn secret(&self) -> Option<&ClusterSecret> {
        self.peering.secret.as_ref()
    }

    /// Opens the quorum's storage in `config.dir` and starts Raft. On a first start the voter
    /// with the lowest id forms the quorum of every voter in `config.peers` (unless a peer
    /// already belongs to one); starting again is harmless. A quorum of one waits until it
    /// leads; larger quorums elect a leader once a majority is up.
    pub async fn open(config: MetaConfig, clock: Arc<dyn Clock>) -> Result<Self, MetaError> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| internal(&format!("create {}", config.dir.display()), e))?;
        let kv = Kv::open(&config.dir).map_err(|e| internal("open quorum storage", e))?;
        let network = HttpNetwork::new(&config.peering);
        Self::open_on(config, clock, kv, network).await
    }

    /// [`Self::open`] on storage already open and a Raft transport of the caller's (the
    /// simulator's voters run on a simulated disk and network); `config.dir` is not used.
    pub async fn open_on(
        config: MetaConfig,
        clock: Arc<dyn Clock>,
        kv: Kv,
        network: impl openraft::RaftNetworkFactory<TypeConfig>,
    ) -> Result<Self, MetaError> {
        let storage = kv.handle();
        let log = LogStore::new(kv.clone());
        let sm = StateMachine::open(kv).map_err(|e| internal("load snapshot", e))?;
        let shared = sm.shared();
        let election_ms = (config.election_timeout.as_millis() as u64).max(60);
        let raft_config = openraft::Config {
            cluster_name: "strata".to_string(),
            heartbeat_interval: election_ms / 6,
            election_timeout_min: election_ms,
            election_timeout_max: election_ms * 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_logs),
            max_in_snapshot_log_to_keep: 100,
            enable_elect: config.timed_elections,
            ..Default::default()
        }
        .validate()
        .map_err(|e| internal("raft config", e))?;
        let node = config.node;
        let mut peers: BTreeMap<u64, String> = config
            .peers
            .iter()
            .map(|(id, a)| (id.0, a.clone()))
            .collect();
        peers.entry(node.0).or_default();
        let raft = Raft::new(node.0, Arc::new(raft_config), network, log, sm)
            .await
            .map_err(|e| internal("start raft", e))?;
        let store = Self {
            raft,
            shared,
            node,
            clock,
            write_timeout: config.write_timeout,
            lease: Duration::from_millis(election_ms),
            storage,
            forward: QuorumClient::new(
                peers.values().filter(|a| !a.is_empty()).cloned().collect(),
                config.write_timeout,
                &config.peering,
            ),
            peering: config.peering.clone(),
            stopping: tokio_util::sync::CancellationToken::new(),
            failed: tokio_util::sync::CancellationToken::new(),
        };
        store.watch_core();
        let initialized = store
            .raft
            .is_initialized()
            .await
            .map_err(|e| internal("read raft state", e))?;
        let lowest = *peers.keys().next().expect("this node is a peer");
        if !initialized && lowest == node.0 && !store.a_peer_has_a_quorum(&peers).await {
            let members: BTreeMap<u64, BasicNode> = peers
                .iter()
                .map(|(id, a)| (*id, BasicNode::new(a)))
                .collect();
            match store.raft.initialize(members).await {
                Ok(()) => info!(node = %node, voters = peers.len(), "formed the quorum"),
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(internal("initialize quorum", e)),
            }
        }
        if peers.len() == 1 {
            store
                .raft
                .wait(Some(Duration::from_secs(30)))
                .current_leader(node.0, "waiting for this voter to lead")
                .await
                .map_err(|e| MetaError::Unavailable {
                    reason: format!("no leader elected: {e}"),
                })?;
        }
        Ok(store)
    }

    /// Asks the other voters (all at once, briefly) whether one already belongs to a quorum.
    async fn a_peer_has_a_quorum(&self, peers: &BTreeMap<u64, String>) -> bool {
        let http = self.peering.client(Duration::from_millis(500));
        let asks = peers
            .iter()
            .filter(|(id, a)| **id != self.node.0 && !a.is_empty())
            .map(|(_, addr)| {
                let http = http.clone();
                async move {
                    let url = self
                        .peering
                        .url(addr, "/internal/meta/changes?after=0&wait_ms=0");
                    let r = http
                        .get(url)
                        .timeout(Duration::from_millis(500))
                        .send()
                        .await
                        .ok()?;
                    let c = r.json::<ChangesResponse>().await.ok()?;
                    (!c.status.voters.is_empty()).then(|| addr.clone())
                }
            });
        match futures::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .next()
        {
            Some(peer) => {
                info!(peer = %peer, "a peer already belongs to a quorum; joining it");
                true
            }
            None => false,
        }
    }

    /// Stops Raft and waits (up to 10 s) until its storage is closed, so the directory can be
    /// opened again at once.
    pub async fn shutdown(&self) {
        self.stop_waiting();
        if let Err(e) = self.raft.shutdown().await {
            warn!(error = %e, "raft did not stop cleanly");
        }
        // Snapshot builds run in their own tasks and may still hold the storage briefly.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.storage.is_closed() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !self.storage.is_closed() {
            warn!("quorum storage still open 10s after raft stopped");
        }
    }

    /// Ends the long-polls other nodes hold on this voter (`/internal/meta/changes`), so an
    /// HTTP server draining for shutdown is not held up by them.
    pub fn stop_waiting(&self) {
        self.stopping.cancel();
    }

    /// Watches openraft's core: its metrics channel closes when the core task ends, which
    /// before [`Self::shutdown`] means it failed (a panic on a message it could not handle).
    /// Such a voter can neither vote nor apply again; [`Self::failed`] tells the node, which
    /// stops so that its supervisor restarts it on its intact storage.
    fn watch_core(&self) {
        let mut metrics = self.raft.metrics();
        let (stopping, failed) = (self.stopping.clone(), self.failed.clone());
        tokio::spawn(async move {
            while metrics.changed().await.is_ok() {}
            if !stopping.is_cancelled() {
                tracing::error!(
                    "the quorum's Raft core stopped unexpectedly; this voter can no longer take part"
                );
                failed.cancel();
            }
        });
    }

    /// Resolves if openraft's core stops without being asked to: the voter is dead in the
    /// water and its process should stop.
    pub async fn failed(&self) {
        self.failed.cancelled().await;
    }

    /// Whether openraft's core stopped without being asked to.
    pub fn has_failed(&self) -> bool {
        self.failed.is_cancelled()
    }

    /// openraft's handle, to which a transport delivers the Raft messages of other voters.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Returns the applied log index.
    pub fn applied_index(&self) -> u64 {
        *self.shared.subscribe().borrow()
    }

    /// Waits until the applied index reaches `index` (or `timeout` passes, or the voter stops).
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        let mut rx = self.shared.subscribe();
        let wait = rx.wait_for(|applied| *applied >= index);
        tokio::select! {
            r = tokio::time::timeout(timeout, wait) => matches!(r, Ok(Ok(_))),
            _ = self.stopping.cancelled() => *self.shared.subscribe().borrow() >= index,
        }
    }

    fn leader(&self) -> Option<(u64, String)> {
        let m = self.raft.metrics().borrow().clone();
        let id = m.current_leader?;
        let addr = m.membership_config.membership().get_node(&id)?.addr.clone();
        Some((id, addr))
    }

    /// Returns how long ago a majority of voters last acknowledged this voter as leader, if it
    /// leads.
    fn quorum_ack(&self) -> Option<Duration> {
        let m = self.raft.metrics().borrow().clone();
        if m.state != ServerState::Leader {
            return None;
        }
        Some(Duration::from_millis(
            m.millis_since_quorum_ack.unwrap_or(u64::MAX),
        ))
    }

    /// Whether this voter leads and a majority acknowledged it within the lease: a leader cut
    /// off from its followers keeps thinking it leads, and must not keep clients waiting.
    fn holds_lease(&self) -> bool {
        self.quorum_ack().is_some_and(|ack| ack <= self.lease)
    }

    /// Resolves once this voter leads without a lease (it lost contact with the majority).
    async fn lease_lapsed(&self) {
        loop {
            tokio::time::sleep(self.lease / 4).await;
            if self.quorum_ack().is_some_and(|ack| ack > self.lease) {
                return;
            }
        }
    }

    /// Runs a command if this node leads; returns its result and log index. A leader that lost
    /// its majority answers "not the leader" at once (and gives up on writes in flight), so
    /// clients look for the new leader instead of waiting.
    pub async fn apply_local(&self, cmd: Command) -> Result<(CommandResult, u64), LocalWriteError> {
        if self.quorum_ack().is_some() && !self.holds_lease() {
            return Err(LocalWriteError::NotLeader(None));
        }
        let write = tokio::time::timeout(self.write_timeout, self.raft.client_write(cmd));
        let response = tokio::select! {
            r = write => r.map_err(|_| {
                LocalWriteError::Failed(MetaError::Unavailable {
                    reason: format!("no answer from the quorum within {:?}", self.write_timeout),
                })
            })?,
            _ = self.lease_lapsed() => return Err(LocalWriteError::NotLeader(None)),
        };
        match response {
            Ok(r) => Ok((r.data, r.log_id.index)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                let leader = f.leader_id.zip(f.leader_node.map(|n| n.addr));
                Err(LocalWriteError::NotLeader(leader))
            }
            Err(RaftError::APIError(e)) => {
                Err(LocalWriteError::Failed(internal("quorum write", e)))
            }
            Err(RaftError::Fatal(e)) => Err(LocalWriteError::Failed(MetaError::Unavailable {
                reason: format!("raft stopped: {e}"),
            })),
        }
    }

    /// Refuses `cmd` early if this voter leads and its state refuses it (without spending a
    /// log entry on it). A follower's state may lag the leader's, so only the leader's refusal
    /// counts: a follower passes the command on and the leader decides. So may the state of a
    /// leader that lost its lease (cut off, a new leader may have been elected and applied
    /// more): it passes the command on too, and [`Self::apply_local`] answers "not the leader".
    pub fn precheck(&self, cmd: &Command) -> Result<(), MetaError> {
        let judges = if planted::active(planted::STALE_LEADER_JUDGES) {
            self.quorum_ack().is_some()
        } else {
            self.holds_lease()
        };
        if !judges {
            return Ok(());
        }
        self.shared.read().state.check(cmd)
    }

    /// Reads the applied state.
    pub fn read<R>(&self, f: impl FnOnce(&MetaState) -> R) -> R {
        f(&self.shared.read().state)
    }

    /// Asks this voter to start an election now.
    pub async fn elect(&self) -> Result<(), MetaError> {
        self.raft
            .trigger()
            .elect()
            .await
            .map_err(|e| internal("trigger election", e))
    }
}

#[async_trait]
impl MetaTransport for RaftMetaStore {
    async fn apply(&self, cmd: Command) -> Result<CommandResult, MetaError> {
        // Refuse what the state would refuse without spending a log entry on it.
        self.precheck(&cmd)?;
        match self.apply_local(cmd.clone()).await {
            Ok((result, _)) => result.into_result(),
            Err(LocalWriteError::Failed(e)) => Err(e),
            Err(LocalWriteError::NotLeader(_)) => {
                // A follower hands the write to the leader, then waits until it has applied
                // the entry itself, so its own reads see the write.
                let r = self.forward.apply(&cmd).await?;
                if !self.wait_applied(r.log_index, self.write_timeout).await {
                    warn!(index = r.log_index, "this voter lags behind the leader");
                }
                r.result.into_result()
            }
        }
    }

    async fn query(&self, query: MetaQuery) -> Result<QueryResult, MetaError> {
        self.read(|s| s.query(&query))
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.shared.subscribe()
    }

    fn status(&self) -> QuorumStatus {
        let m = self.raft.metrics().borrow().clone();
        let voters: BTreeSet<u64> = m.membership_config.membership().voter_ids().collect();
        let applied = m.last_applied.map_or(0, |l| l.index);
        let last_log = m.last_log_index.unwrap_or(0);
        // openraft 0.9 reports no commit index: on the leader it is the highest index a
        // majority of voters hold (the leader holds its whole log); elsewhere, the applied one.
        let commit_index = match &m.replication {
            Some(matched) if m.state == ServerState::Leader => {
                let mut held: Vec<u64> = voters
                    .iter()
                    .map(|id| {
                        if *id == self.node.0 {
                            last_log
                        } else {
                            matched.get(id).copied().flatten().map_or(0, |l| l.index)
                        }
                    })
                    .collect();
                held.sort_unstable_by(|a, b| b.cmp(a));
                held.get(held.len() / 2)
                    .copied()
                    .unwrap_or(applied)
                    .max(applied)
            }
            _ => applied,
        };
        QuorumStatus {
            node: self.node,
            leader: m.current_leader.map(NodeId),
            term: m.current_term,
            applied_index: applied,
            voters: voters.into_iter().map(NodeId).collect(),
            role: match m.state {
                ServerState::Leader => QuorumRole::Leader,
                ServerState::Follower => QuorumRole::Follower,
                ServerState::Candidate => QuorumRole::Candidate,
                ServerState::Learner => QuorumRole::Learner,
                ServerState::Shutdown => QuorumRole::None,
            },
            commit_index,
            last_log_index: last_log,
            quorum_ack_ms: (m.state == ServerState::Leader)
                .then(|| m.millis_since_quorum_ack.unwrap_or(u64::MAX)),
            lease_ms: self.lease.as_millis() as u64,
        }
    }
}
