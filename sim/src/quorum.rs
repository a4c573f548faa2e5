//! The quorum: real voters (`RaftMetaStore`, openraft over the real log store and state
//! machine) on simulated disks (`MemoryDisk`: a power loss keeps what was synced and a prefix of
//! the rest) and a simulated network the nemesis cuts (both ways or one way), slows and pauses.
//!
//! openraft draws its election timeouts from an unseeded random source, so the voters run with
//! timed elections off and [`Quorum::elections`] plays Raft's election timer from the seed: a
//! voter in the membership that has heard no leader for its timeout (300 to 600 ms, drawn
//! again after each try) stands for election.
//!
//! Ingest nodes reach the quorum through a [`Link`] each, which does what `RemoteMetaStore`
//! does over HTTP: writes go to the leader (hints followed, retried across elections until a
//! deadline), reads go to any voter and wait until it has applied what the node has seen.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use openraft::error::{NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetwork, RaftNetworkFactory, ServerState};
use strata_core::clock::Clock;
use strata_core::ids::NodeId;
use strata_core::meta::{
    Command, CommandResult, MetaError, MetaQuery, MetaTransport, QueryResult, QuorumStatus,
};
use strata_core::rng::XorShift;
use strata_meta::kv::Kv;
use strata_meta::kv::memory::MemoryDisk;
use strata_meta::types::{Raft, TypeConfig};
use strata_meta::wire::MembershipChange;
use strata_meta::{LocalWriteError, MetaConfig, RaftMetaStore};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};

/// The id the network gives every ingest node (a client of the quorum).
const CLIENTS: u64 = 0;
/// How long a write or a read keeps looking for a voter that takes it.
const DEADLINE: Duration = Duration::from_secs(10);

/// One voter slot: its disk outlives the process running on it.
#[derive(Debug)]
struct Voter {
    id: u64,
    disk: MemoryDisk,
    store: Mutex<Option<Arc<RaftMetaStore>>>,
    paused: watch::Sender<bool>,
    /// When it last heard a leader (or granted a vote).
    heard: Mutex<Instant>,
    timeout_ms: AtomicU64,
    /// Whether it is a member, as far as the nemesis's membership changes went.
    member: AtomicBool,
}

/// The voters and the network between them.
#[derive(Debug)]
pub(crate) struct Quorum {
    clock: Arc<dyn Clock>,
    voters: Vec<Voter>,
    /// The first voters, which form the quorum.
    initial: usize,
    rng: Mutex<XorShift>,
    /// Directed links that deliver nothing: (from, to), with [`CLIENTS`] for the ingest nodes.
    cut: Mutex<BTreeSet<(u64, u64)>>,
    /// The highest index any voter applied: the ingest nodes' change feed.
    version: watch::Sender<u64>,
    stopped: AtomicBool,
    /// What happened to the voters, for the trace: (ms since the start, what).
    pub(crate) log: Mutex<Vec<(u64, String)>>,
    pub(crate) start: Instant,
}

type RpcResult<T, E> = Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

fn unreachable<E: std::error::Error>(why: &str) -> RPCError<u64, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(why.to_string())))
}

fn unavailable(reason: &str) -> MetaError {
    MetaError::Unavailable {
        reason: reason.to_string(),
    }
}

impl Quorum {
    /// `slots` voter slots, of which the first `initial` form the quorum.
    pub(crate) fn new(clock: Arc<dyn Clock>, slots: usize, initial: usize, seed: u64) -> Arc<Self> {
        let mut rng = XorShift::new(seed);
        let q = Arc::new(Self {
            clock,
            voters: (1..=slots as u64)
                .map(|id| Voter {
                    id,
                    disk: MemoryDisk::default(),
                    store: Mutex::new(None),
                    paused: watch::Sender::new(false),
                    heard: Mutex::new(Instant::now()),
                    timeout_ms: AtomicU64::new(300 + 37 * id),
                    member: AtomicBool::new(id <= initial as u64),
                })
                .collect(),
            initial,
            rng: Mutex::new(XorShift::new(rng.next())),
            cut: Mutex::new(BTreeSet::new()),
            version: watch::Sender::new(0),
            stopped: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            start: Instant::now(),
        });
        // An fsync takes about as long as a message between voters, and now and then longer.
        for v in &q.voters {
            v.disk.set_sync_latency(rng.next());
        }
        q
    }

    fn below(&self, n: u64) -> u64 {
        self.rng.lock().expect("lock").below(n)
    }

    fn voter(&self, id: u64) -> Option<&Voter> {
        self.voters.iter().find(|v| v.id == id)
    }

    fn store(&self, id: u64) -> Option<Arc<RaftMetaStore>> {
        self.voter(id)?.store.lock().expect("lock").clone()
    }

    pub(crate) fn slots(&self) -> usize {
        self.voters.len()
    }

    fn note(&self, what: String) {
        let at = self.start.elapsed().as_millis() as u64;
        self.log.lock().expect("lock").push((at, what));
    }

    /// Starts voter `id` on its disk; `false` if it would not open.
    pub(crate) async fn start(self: &Arc<Self>, id: u64) -> bool {
        let Some(v) = self.voter(id) else {
            return false;
        };
        if v.store.lock().expect("lock").is_some() {
            return true;
        }
        let config = MetaConfig {
            node: NodeId(id),
            peers: (1..=self.initial as u64)
                .chain([id])
                .map(|p| (NodeId(p), String::new()))
                .collect(),
            // Small, so snapshots are built and installed within a run.
            snapshot_logs: 64,
            write_timeout: Duration::from_secs(5),
            timed_elections: false,
            ..MetaConfig::default()
        };
        let network = Net {
            from: id,
            quorum: Arc::downgrade(self),
        };
        let kv = Kv::in_memory(&v.disk);
        match RaftMetaStore::open_on(config, self.clock.clone(), kv, network).await {
            Ok(store) => {
                let store = Arc::new(store);
                let mut changes = store.changes();
                let version = self.version.clone();
                tokio::spawn(async move {
                    while changes.changed().await.is_ok() {
                        let at = *changes.borrow();
                        version.send_if_modified(|v| {
                            let newer = at > *v;
                            *v = (*v).max(at);
                            newer
                        });
                    }
                });
                *v.heard.lock().expect("lock") = Instant::now();
                *v.store.lock().expect("lock") = Some(store);
                true
            }
            Err(e) => {
                self.note(format!("voter {id} did not open: {e}"));
                false
            }
        }
    }

    /// Starts voter `id` again after a crash, unless it was removed from the membership
    /// meanwhile (an operator does not restart a voter they removed).
    pub(crate) async fn restart(self: &Arc<Self>, id: u64) {
        if self
            .voter(id)
            .is_some_and(|v| v.member.load(Ordering::SeqCst))
        {
            self.start(id).await;
        }
    }

    /// Starts the first voters, which form the quorum, and the election timer.
    pub(crate) async fn start_all(self: &Arc<Self>) {
        for id in 1..=self.initial as u64 {
            assert!(self.start(id).await, "voter {id} opens on an empty disk");
        }
        tokio::spawn(self.clone().elections());
    }

    /// Stops voter `id`. With `power_loss`, its disk first loses power, preferably while a
    /// write waits for its sync, and keeps a seeded prefix of its unsynced writes (the old
    /// process's storage fails from then on).
    pub(crate) async fn stop(&self, id: u64, power_loss: bool) {
        let Some(v) = self.voter(id) else { return };
        if power_loss {
            // The worst moment: while log entries wait for their sync (up to 300 ms for some).
            for _ in 0..300 {
                if v.disk.appending() {
                    break;
                }
                sleep(Duration::from_millis(1)).await;
            }
        }
        let Some(store) = v.store.lock().expect("lock").take() else {
            return;
        };
        if power_loss {
            let unsynced = v.disk.unsynced();
            let keep = self.below(unsynced as u64 + 1) as usize;
            let lost = v.disk.power_loss(keep);
            self.note(format!(
                "voter {id} lost power, {lost} of {unsynced} unsynced writes lost"
            ));
        } else {
            self.note(format!("voter {id} stopped"));
        }
        store.shutdown().await;
    }

    /// Every voter loses power at once (a data centre's outage), while log entries wait for a
    /// sync; each keeps a seeded prefix of its unsynced writes.
    pub(crate) async fn outage(&self) -> Vec<u64> {
        // The k-th millisecond in which most voters wait for log entries to sync (after 300
        // ms, in which any does): a write's pipeline at a seeded phase, at its most fragile.
        let mut k = self.below(4);
        for ms in 0..500 {
            let appending = self.voters.iter().filter(|v| v.disk.appending()).count();
            if appending >= if ms < 300 { 2 } else { 1 } {
                if k == 0 {
                    break;
                }
                k -= 1;
            }
            sleep(Duration::from_millis(1)).await;
        }
        let mut stopped = Vec::new();
        for v in &self.voters {
            let Some(store) = v.store.lock().expect("lock").take() else {
                continue;
            };
            let unsynced = v.disk.unsynced();
            let keep = self.below(unsynced as u64 + 1) as usize;
            let lost = v.disk.power_loss(keep);
            self.note(format!(
                "voter {} lost power, {lost} of {unsynced} unsynced writes lost",
                v.id
            ));
            stopped.push((v.id, store));
        }
        for (_, store) in &stopped {
            store.shutdown().await;
        }
        stopped.into_iter().map(|(id, _)| id).collect()
    }

    /// Plays Raft's election timer from the seed.
    async fn elections(self: Arc<Self>) {
        while !self.stopped.load(Ordering::SeqCst) {
            sleep(Duration::from_millis(50)).await;
            for v in &self.voters {
                let Some(store) = self.store(v.id) else {
                    continue;
                };
                if *v.paused.borrow() {
                    continue;
                }
                let m = store.raft().metrics().borrow().clone();
                let member = m
                    .membership_config
                    .membership()
                    .voter_ids()
                    .any(|i| i == v.id);
                let quiet = v.heard.lock().expect("lock").elapsed()
                    > Duration::from_millis(v.timeout_ms.load(Ordering::SeqCst));
                if m.state != ServerState::Leader && member && quiet {
                    *v.heard.lock().expect("lock") = Instant::now();
                    v.timeout_ms.store(300 + self.below(300), Ordering::SeqCst);
                    let _ = store.elect().await;
                }
            }
        }
    }

    /// Ends the election timer and stops every voter.
    pub(crate) async fn shutdown(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        for v in &self.voters {
            self.stop(v.id, false).await;
        }
    }

    fn heard(&self, id: u64) {
        if let Some(v) = self.voter(id) {
            *v.heard.lock().expect("lock") = Instant::now();
        }
    }

    async fn unpaused(&self, id: u64) {
        if let Some(v) = self.voter(id) {
            let mut rx = v.paused.subscribe();
            let _ = rx.wait_for(|p| !*p).await;
        }
    }

    /// One hop of a message: 1 to 3 ms on the wire (never none: a retry loop must let time
    /// pass), nothing if the link is cut.
    async fn hop(&self, from: u64, to: u64) -> bool {
        sleep(Duration::from_millis(1 + self.below(3))).await;
        !self.cut.lock().expect("lock").contains(&(from, to))
    }

    /// Delivers a Raft message from `from` to `to` and its answer back, within the RPC's TTL.
    async fn deliver<T, E, F, Fut>(
        &self,
        from: u64,
        to: u64,
        option: &RPCOption,
        f: F,
    ) -> RpcResult<T, E>
    where
        E: std::error::Error,
        F: FnOnce(Raft) -> Fut,
        Fut: Future<Output = Result<T, RaftError<u64, E>>>,
    {
        let go = async {
            self.unpaused(from).await;
            if !self.hop(from, to).await {
                return Err(unreachable("the simulated network is partitioned"));
            }
            let Some(store) = self.store(to) else {
                return Err(unreachable("the voter is down"));
            };
            self.unpaused(to).await;
            let raft = store.raft().clone();
            drop(store);
            let answer = f(raft).await;
            if !self.hop(to, from).await {
                return Err(RPCError::Network(NetworkError::new(
                    &std::io::Error::other("the answer was lost on the way back"),
                )));
            }
            answer.map_err(|e| RPCError::RemoteError(RemoteError::new(to, e)))
        };
        match timeout(option.hard_ttl(), go).await {
            Ok(r) => r,
            Err(_) => Err(RPCError::Network(NetworkError::new(
                &std::io::Error::other("no answer within the RPC's time"),
            ))),
        }
    }

    /// Runs a write on the leader: what `QuorumClient` does over HTTP.
    async fn write(
        &self,
        cmd: &Command,
        hint: &AtomicU64,
    ) -> Result<(CommandResult, u64), MetaError> {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            let mut id = hint.load(Ordering::SeqCst);
            if self.store(id).is_none() || self.below(8) == 0 {
                id = 1 + self.below(self.voters.len() as u64);
            }
            let reached = self.hop(CLIENTS, id).await;
            let Some(store) = self.store(id).filter(|_| reached) else {
                sleep(Duration::from_millis(20)).await;
                continue;
            };
            self.unpaused(id).await;
            store.precheck(cmd)?;
            match store.apply_local(cmd.clone()).await {
                Ok(done) => {
                    hint.store(id, Ordering::SeqCst);
                    return if self.hop(id, CLIENTS).await {
                        Ok(done)
                    } else {
                        Err(unavailable("the answer was lost on the way back"))
                    };
                }
                Err(LocalWriteError::NotLeader(Some((leader, _)))) => {
                    // A voter may name itself, or a leader that is gone: try again shortly.
                    if leader == id || self.store(leader).is_none() {
                        sleep(Duration::from_millis(20 + self.below(30))).await;
                    }
                    hint.store(leader, Ordering::SeqCst);
                }
                Err(LocalWriteError::NotLeader(None)) => {
                    sleep(Duration::from_millis(20 + self.below(30))).await;
                }
                Err(LocalWriteError::Failed(e)) => return Err(e),
            }
        }
        Err(unavailable("no voter took the write within 10 s"))
    }

    /// Runs a read on a voter that has applied at least `seen`; returns its applied index too.
    async fn read(&self, query: &MetaQuery, seen: u64) -> Result<(QueryResult, u64), MetaError> {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            let id = 1 + self.below(self.voters.len() as u64);
            let reached = self.hop(CLIENTS, id).await;
            let Some(store) = self.store(id).filter(|_| reached) else {
                sleep(Duration::from_millis(20)).await;
                continue;
            };
            self.unpaused(id).await;
            if !store.wait_applied(seen, Duration::from_secs(2)).await {
                continue;
            }
            let applied = store.applied_index();
            let result = store.read(|s| s.query(query));
            if self.hop(id, CLIENTS).await {
                return result.map(|r| (r, applied));
            }
        }
        Err(unavailable("no voter answered the read within 10 s"))
    }

    /// The leader's status, or the first running voter's.
    fn status(&self) -> QuorumStatus {
        let running: Vec<Arc<RaftMetaStore>> = self
            .voters
            .iter()
            .filter_map(|v| self.store(v.id))
            .collect();
        running
            .iter()
            .map(|s| s.status())
            .find(|s| s.leader == Some(s.node))
            .or_else(|| running.first().map(|s| s.status()))
            .unwrap_or_else(|| QuorumStatus {
                node: NodeId(0),
                leader: None,
                term: 0,
                applied_index: 0,
                voters: Vec::new(),
                role: strata_core::meta::QuorumRole::None,
                commit_index: 0,
                last_log_index: 0,
                quorum_ack_ms: None,
                lease_ms: 0,
            })
    }

    /// The running leader, if one leads.
    fn leader(&self) -> Option<Arc<RaftMetaStore>> {
        self.voters
            .iter()
            .filter_map(|v| self.store(v.id))
            .find(|s| s.raft().metrics().borrow().state == ServerState::Leader)
    }

    /// The voters in the leader's membership.
    fn members(&self) -> BTreeSet<u64> {
        self.leader().map_or_else(BTreeSet::new, |l| {
            l.raft()
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .voter_ids()
                .collect()
        })
    }

    // ---- the nemesis's faults ----

    /// A voter: the leader half the time, else any slot.
    pub(crate) fn pick(&self) -> u64 {
        let leader = self.leader().map(|l| l.status().node.0);
        match leader {
            Some(l) if self.below(2) == 0 => l,
            _ => 1 + self.below(self.voters.len() as u64),
        }
    }

    pub(crate) fn pause(&self, id: u64, paused: bool) {
        if let Some(v) = self.voter(id) {
            v.paused.send_replace(paused);
        }
    }

    /// Cuts voter `id` off from every other voter and from the ingest nodes, both ways.
    pub(crate) fn isolate(&self, id: u64, cut: bool) {
        let mut links = self.cut.lock().expect("lock");
        for other in (0..=self.voters.len() as u64).filter(|o| *o != id) {
            for link in [(id, other), (other, id)] {
                if cut {
                    links.insert(link);
                } else {
                    links.remove(&link);
                }
            }
        }
    }

    /// Cuts the link from `from` to `to` only: messages and answers that way are lost.
    pub(crate) fn cut_one_way(&self, from: u64, to: u64, cut: bool) {
        let mut links = self.cut.lock().expect("lock");
        if cut {
            links.insert((from, to));
        } else {
            links.remove(&(from, to));
        }
    }

    /// Replaces a voter: a slot outside the membership is started and added, then a member
    /// other than it is removed and stopped. Returns what happened, for the trace.
    pub(crate) async fn replace(self: &Arc<Self>) -> String {
        let members = self.members();
        let Some(leader) = self.leader() else {
            return "no leader to change the membership".to_string();
        };
        let spare: Vec<u64> = (1..=self.voters.len() as u64)
            .filter(|id| !members.contains(id))
            .collect();
        let Some(&new) = spare.get(self.below(spare.len().max(1) as u64) as usize) else {
            return "no spare voter".to_string();
        };
        if !self.start(new).await {
            return format!("voter {new} did not start");
        }
        let add = MembershipChange::AddVoter {
            id: new,
            addr: String::new(),
            catch_up_ms: Some(3_000),
        };
        let member = |id: u64, is: bool| {
            if let Some(v) = self.voter(id) {
                v.member.store(is, Ordering::SeqCst);
            }
        };
        member(new, true);
        if let Err(e) = leader.change_membership(&add).await {
            member(new, false);
            self.stop(new, false).await;
            return format!("adding voter {new} failed: {}", describe(&e));
        }
        let old: Vec<u64> = members.iter().copied().filter(|m| *m != new).collect();
        let gone = old[self.below(old.len() as u64) as usize];
        let remove = MembershipChange::RemoveVoter { id: gone };
        let mut removed = Err(String::from("no leader"));
        for _ in 0..20 {
            let Some(leader) = self.leader() else {
                sleep(Duration::from_millis(100)).await;
                continue;
            };
            match leader.change_membership(&remove).await {
                Ok(()) => {
                    removed = Ok(());
                    break;
                }
                Err(e) => removed = Err(describe(&e)),
            }
            sleep(Duration::from_millis(100)).await;
        }
        match removed {
            Ok(()) => {
                member(gone, false);
                self.stop(gone, false).await;
                format!("voter {new} added, voter {gone} removed and stopped")
            }
            Err(e) => format!("voter {new} added; removing voter {gone} failed: {e}"),
        }
    }

    /// Heals the network and every pause.
    pub(crate) fn heal(&self) {
        self.cut.lock().expect("lock").clear();
        for v in &self.voters {
            v.paused.send_replace(false);
        }
    }

    /// Starts every member that is down until one leads and every member of its membership
    /// runs.
    pub(crate) async fn recover(self: &Arc<Self>) {
        loop {
            let mut wanted = self.members();
            wanted.extend(
                self.voters
                    .iter()
                    .filter(|v| v.member.load(Ordering::SeqCst))
                    .map(|v| v.id),
            );
            for id in &wanted {
                self.start(*id).await;
            }
            if self.leader().is_some() && self.members().iter().all(|m| self.store(*m).is_some()) {
                return;
            }
            sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every running member has applied the leader's whole log, then compares their
    /// states: the quorum's state must be identical on every voter.
    pub(crate) async fn converged(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let running: BTreeMap<u64, Arc<RaftMetaStore>> = self
                .members()
                .into_iter()
                .filter_map(|m| self.store(m).map(|s| (m, s)))
                .collect();
            let last = self
                .leader()
                .and_then(|l| l.raft().metrics().borrow().last_log_index)
                .unwrap_or(0);
            let applied: Vec<u64> = running.values().map(|s| s.applied_index()).collect();
            if last > 0 && !running.is_empty() && applied.iter().all(|a| *a == last) {
                let states: Vec<(u64, serde_json::Value)> = running
                    .iter()
                    .map(|(id, s)| {
                        (
                            *id,
                            s.read(|st| serde_json::to_value(st).expect("state serializes")),
                        )
                    })
                    .collect();
                let (first, state) = &states[0];
                for (id, other) in &states[1..] {
                    if other != state {
                        return Err(format!(
                            "voter {id}'s state differs from voter {first}'s at index {last}"
                        ));
                    }
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the voters did not converge within 60 simulated seconds (leader's log {last}, applied {applied:?})"
                ));
            }
            sleep(Duration::from_millis(100)).await;
        }
    }
}

fn describe(e: &LocalWriteError) -> String {
    match e {
        LocalWriteError::NotLeader(_) => "not the leader".to_string(),
        LocalWriteError::Failed(e) => format!("{e}"),
    }
}

/// The Raft transport of voter `from`.
struct Net {
    from: u64,
    quorum: Weak<Quorum>,
}

impl RaftNetworkFactory<TypeConfig> for Net {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Peer {
        Peer {
            from: self.from,
            to: target,
            quorum: self.quorum.clone(),
        }
    }
}

/// Voter `from`'s connection to voter `to`.
struct Peer {
    from: u64,
    to: u64,
    quorum: Weak<Quorum>,
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>, openraft::error::Infallible> {
        let Some(q) = self.quorum.upgrade() else {
            return Err(unreachable("the run is over"));
        };
        let r = q
            .deliver(self.from, self.to, &option, |raft| async move {
                raft.append_entries(rpc).await
            })
            .await;
        if matches!(
            r,
            Ok(AppendEntriesResponse::Success
                | AppendEntriesResponse::PartialSuccess(_)
                | AppendEntriesResponse::Conflict)
        ) {
            q.heard(self.to);
        }
        r
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, openraft::error::InstallSnapshotError> {
        let Some(q) = self.quorum.upgrade() else {
            return Err(unreachable("the run is over"));
        };
        let r = q
            .deliver(self.from, self.to, &option, |raft| async move {
                raft.install_snapshot(rpc).await
            })
            .await;
        if r.is_ok() {
            q.heard(self.to);
        }
        r
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>, openraft::error::Infallible> {
        let Some(q) = self.quorum.upgrade() else {
            return Err(unreachable("the run is over"));
        };
        let r = q
            .deliver(self.from, self.to, &option, |raft| async move {
                raft.vote(rpc).await
            })
            .await;
        if matches!(&r, Ok(v) if v.vote_granted) {
            q.heard(self.to);
        }
        r
    }
}

/// One ingest node's link to the quorum.
#[derive(Debug)]
pub(crate) struct Link {
    quorum: Arc<Quorum>,
    clock: Arc<dyn Clock>,
    rng: Mutex<XorShift>,
    /// Requests fail at once while cut.
    cut: AtomicBool,
    /// Per mille of applied commands whose answer is lost.
    lose_per_mille: AtomicU64,
    /// Requests wait up to this long.
    slow_ms: AtomicU64,
    /// The highest log index this node has seen: its reads wait for it.
    seen: AtomicU64,
    /// The voter that led last.
    hint: AtomicU64,
}

impl Link {
    pub(crate) fn new(quorum: Arc<Quorum>, clock: Arc<dyn Clock>, seed: u64) -> Self {
        Self {
            quorum,
            clock,
            rng: Mutex::new(XorShift::new(seed)),
            cut: AtomicBool::new(false),
            lose_per_mille: AtomicU64::new(0),
            slow_ms: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            hint: AtomicU64::new(1),
        }
    }

    pub(crate) fn set(&self, cut: bool, lose_per_mille: u64, slow_ms: u64) {
        self.cut.store(cut, Ordering::SeqCst);
        self.lose_per_mille.store(lose_per_mille, Ordering::SeqCst);
        self.slow_ms.store(slow_ms, Ordering::SeqCst);
    }

    async fn reach(&self) -> Result<u64, MetaError> {
        let (wait, roll) = {
            let mut rng = self.rng.lock().expect("lock");
            let slow = self.slow_ms.load(Ordering::SeqCst);
            (rng.below(slow + 1), rng.below(1000))
        };
        if wait > 0 {
            sleep(Duration::from_millis(wait)).await;
        }
        if self.cut.load(Ordering::SeqCst) {
            return Err(unavailable("the simulated network is partitioned"));
        }
        Ok(roll)
    }
}

#[async_trait]
impl MetaTransport for Link {
    async fn apply(&self, cmd: Command) -> Result<CommandResult, MetaError> {
        let roll = self.reach().await?;
        let (result, index) = self.quorum.write(&cmd, &self.hint).await?;
        self.seen.fetch_max(index, Ordering::SeqCst);
        if roll < self.lose_per_mille.load(Ordering::SeqCst) {
            return Err(unavailable(
                "the answer was lost after the quorum applied the command",
            ));
        }
        result.into_result()
    }

    async fn query(&self, query: MetaQuery) -> Result<QueryResult, MetaError> {
        self.reach().await?;
        let (result, applied) = self
            .quorum
            .read(&query, self.seen.load(Ordering::SeqCst))
            .await?;
        self.seen.fetch_max(applied, Ordering::SeqCst);
        Ok(result)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.quorum.version.subscribe()
    }

    fn status(&self) -> QuorumStatus {
        self.quorum.status()
    }
}
