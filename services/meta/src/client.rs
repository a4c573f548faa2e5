//! [`QuorumClient`]: how a node reaches the quorum over HTTP: it finds the leader, follows
//! `421` redirects, and retries with backoff across elections until a deadline.
//!
//! A voter that is slow to answer is probed (`/internal/meta/status`) every
//! [`PROBE_EVERY`]: one that does not answer the probe within [`PROBE_TIMEOUT`] (paused, cut off,
//! overloaded) or no longer leads with a lease is left at once, and avoided for
//! [`SUSPECT_FOR`], so a stalled leader holds a write for well under a second instead of the
//! whole request timeout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use strata_core::meta::Command;
use strata_core::meta::{MetaError, MetaQuery};
use tokio::time::Instant;
use tracing::debug;

use crate::peering::Peering;
use crate::wire::{
    ApplyRequest, ApplyResponse, ChangesResponse, MembershipChange, NotLeader, QueryRequest,
    QueryResponse,
};

/// A request a voter has not answered after this long gets its voter probed.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

/// A probe unanswered after this long means the voter is not answering.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(400);

/// A voter that failed a probe is tried last, and followed to only once a probe says it leads,
/// for this long (renewed whenever it fails again).
pub const SUSPECT_FOR: Duration = Duration::from_secs(3);

/// A client of the quorum's internal HTTP API.
#[derive(Debug)]
pub struct QuorumClient {
    http: reqwest::Client,
    peering: Peering,
    peers: Vec<String>,
    leader: Mutex<Option<String>>,
    deadline: Duration,
    suspects: std::sync::Arc<Mutex<HashMap<String, Instant>>>,
}

enum Attempt<T> {
    Done(T),
    Redirect(Option<String>),
    Retry(String),
    /// The voter refused the request for good (`409` with the error).
    Refused(MetaError),
}

/// What a request needs of the voter it waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// Only that it answers (reads).
    Answer,
    /// Only that it answers, over a long-poll that waits on purpose (the change feed).
    Feed,
    /// That it leads, holding its lease (writes).
    Leader,
}

fn unavailable(reason: String) -> MetaError {
    MetaError::Unavailable { reason }
}

impl QuorumClient {
    /// Talks to the voters at `peers` (`host:port`) as `peering` says; each call gives up
    /// after `deadline`.
    pub fn new(peers: Vec<String>, deadline: Duration, peering: &Peering) -> Self {
        Self {
            http: peering.client(Duration::from_secs(2)),
            peering: peering.clone(),
            peers,
            leader: Mutex::new(None),
            deadline,
            suspects: std::sync::Arc::default(),
        }
    }

    fn is_suspect(&self, addr: &str) -> bool {
        let mut s = self
            .suspects
            .lock()
            .expect("no panics while holding the lock");
        match s.get(addr) {
            Some(since) if since.elapsed() < SUSPECT_FOR => true,
            Some(_) => {
                s.remove(addr);
                false
            }
            None => false,
        }
    }

    fn suspect(&self, addr: &str) {
        self.suspects
            .lock()
            .expect("no panics while holding the lock")
            .insert(addr.to_string(), Instant::now());
    }

    fn clear_suspect(&self, addr: &str) {
        self.suspects
            .lock()
            .expect("no panics while holding the lock")
            .remove(addr);
    }

    /// Checks again, in the background, whether a suspect voter answers and leads with a lease
    /// (it came back, and won), at most once a second per voter; until then it is not followed
    /// to. The caller never waits on the probe.
    fn recheck_suspect(&self, addr: &str) {
        {
            let mut s = self
                .suspects
                .lock()
                .expect("no panics while holding the lock");
            match s.get_mut(addr) {
                Some(since) if since.elapsed() >= Duration::from_secs(1) => {
                    // Re-arm, so only one probe runs at a time.
                    *since = Instant::now() - Duration::from_millis(1);
                }
                _ => return,
            }
        }
        let (http, suspects, addr) = (self.http.clone(), self.suspects.clone(), addr.to_string());
        let peering = self.peering.clone();
        tokio::spawn(async move {
            let leads = async {
                let r = http
                    .get(peering.url(&addr, "/internal/meta/status"))
                    .timeout(PROBE_TIMEOUT)
                    .send()
                    .await
                    .ok()?;
                let c = r.json::<ChangesResponse>().await.ok()?;
                Some(c.status.leads_with_lease())
            };
            if leads.await == Some(true) {
                suspects
                    .lock()
                    .expect("no panics while holding the lock")
                    .remove(&addr);
            }
        });
    }

    /// Asks a voter for its view of the quorum, briefly.
    async fn probe(&self, addr: &str) -> Option<ChangesResponse> {
        let r = self
            .http
            .get(self.peering.url(addr, "/internal/meta/status"))
            .timeout(PROBE_TIMEOUT)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json::<ChangesResponse>().await.ok()
    }

    /// Runs `request` against the voter at `addr`, probing the voter while it waits: gives up
    /// on a voter that stops answering, or (for writes) no longer leads with a lease.
    async fn watched<T>(
        &self,
        addr: &str,
        needs: Needs,
        request: impl std::future::Future<Output = Attempt<T>>,
    ) -> Attempt<T> {
        // Writes and reads are short: probe soon. A change-feed long-poll waits on purpose:
        // probe it less often.
        let every = match needs {
            Needs::Leader | Needs::Answer => PROBE_EVERY,
            Needs::Feed => PROBE_EVERY * 4,
        };
        tokio::pin!(request);
        loop {
            let probe = async {
                tokio::time::sleep(every).await;
                self.probe(addr).await
            };
            tokio::select! {
                r = &mut request => return r,
                p = probe => match p {
                    None => {
                        self.suspect(addr);
                        return Attempt::Retry(format!(
                            "{addr} stopped answering (paused, cut off or overloaded)"
                        ));
                    }
                    Some(c) if needs == Needs::Leader && !c.status.leads_with_lease() => {
                        return Attempt::Retry(format!(
                            "{addr} no longer leads with a majority behind it"
                        ));
                    }
                    Some(_) => {}
                },
            }
        }
    }

    /// Returns the voters this client knows.
    pub fn peers(&self) -> &[String] {
        &self.peers
    }

    /// Voters in the order to try them: the known leader, the others, then the suspects.
    fn candidates(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.peers.len() + 1);
        if let Some(l) = self
            .leader
            .lock()
            .expect("no panics while holding the lock")
            .clone()
        {
            out.push(l);
        }
        for p in &self.peers {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        let (mut fine, suspect): (Vec<String>, Vec<String>) =
            out.into_iter().partition(|a| !self.is_suspect(a));
        fine.extend(suspect);
        fine
    }

    fn remember_leader(&self, leader: Option<String>) {
        *self
            .leader
            .lock()
            .expect("no panics while holding the lock") = leader;
    }

    /// Forgets the remembered leader if it is `addr` (another voter's failure says nothing
    /// about it).
    fn forget_leader(&self, addr: &str) {
        let mut l = self
            .leader
            .lock()
            .expect("no panics while holding the lock");
        if l.as_deref() == Some(addr) {
            *l = None;
        }
    }

    async fn post_once<B: Serialize, T: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Attempt<T> {
        let resp = self
            .http
            .post(self.peering.url(addr, path))
            .json(body)
            .timeout(timeout)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(format!("{addr}: {e}")),
        };
        let status = resp.status().as_u16();
        match status {
            200 => match resp.json::<T>().await {
                Ok(v) => Attempt::Done(v),
                Err(e) => Attempt::Retry(format!("{addr}: bad answer: {e}")),
            },
            421 => match resp.json::<NotLeader>().await {
                Ok(n) => Attempt::Redirect(n.leader.map(|(_, addr)| addr)),
                Err(e) => Attempt::Retry(format!("{addr}: bad redirect: {e}")),
            },
            409 => match resp.json::<MetaError>().await {
                Ok(e) => Attempt::Refused(e),
                Err(e) => Attempt::Retry(format!("{addr}: bad refusal: {e}")),
            },
            other => {
                let text = resp.text().await.unwrap_or_default();
                Attempt::Retry(format!("{addr} answered {other}: {text}"))
            }
        }
    }

    /// Sends `body` to the leader (or whichever node will take it), following redirects and
    /// retrying until the deadline.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        per_try: Duration,
        needs: Needs,
    ) -> Result<T, MetaError> {
        let deadline = Instant::now() + self.deadline;
        let mut last_error = "no voter answered".to_string();
        let mut pause = Duration::from_millis(25);
        loop {
            for addr in self.candidates() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(unavailable(format!(
                        "no quorum leader answered within {:?}: {last_error}",
                        self.deadline
                    )));
                }
                let attempt = self
                    .watched(
                        &addr,
                        needs,
                        self.post_once(&addr, path, body, per_try.min(left)),
                    )
                    .await;
                match attempt {
                    Attempt::Done(v) => {
                        self.clear_suspect(&addr);
                        self.remember_leader(Some(addr));
                        return Ok(v);
                    }
                    Attempt::Redirect(Some(leader))
                        if leader != addr && self.is_suspect(&leader) =>
                    {
                        // Followers name the old leader until they time it out; if it came
                        // back and leads again, the background check clears it.
                        self.recheck_suspect(&leader);
                        last_error = format!("{addr} names {leader}, which stopped answering");
                    }
                    Attempt::Redirect(Some(leader)) if leader != addr => {
                        debug!(from = %addr, to = %leader, "following the quorum leader");
                        self.remember_leader(Some(leader.clone()));
                        let again = self.watched(
                            &leader,
                            needs,
                            self.post_once(&leader, path, body, per_try.min(left)),
                        );
                        match again.await {
                            Attempt::Done(v) => {
                                self.clear_suspect(&leader);
                                return Ok(v);
                            }
                            Attempt::Refused(e) => return Err(e),
                            Attempt::Redirect(_) => {
                                self.forget_leader(&leader);
                                last_error = format!("{leader} is not the leader either")
                            }
                            Attempt::Retry(e) => {
                                self.forget_leader(&leader);
                                last_error = e;
                            }
                        }
                    }
                    Attempt::Redirect(_) => {
                        self.forget_leader(&addr);
                        last_error = format!("{addr} knows no leader (election under way?)");
                    }
                    Attempt::Refused(e) => return Err(e),
                    Attempt::Retry(e) => {
                        self.forget_leader(&addr);
                        last_error = e;
                    }
                }
            }
            if Instant::now() + pause >= deadline {
                return Err(unavailable(format!(
                    "no quorum leader answered within {:?}: {last_error}",
                    self.deadline
                )));
            }
            tokio::time::sleep(pause).await;
            // Elections take a few hundred ms; retrying every 100 ms catches the new leader
            // soon after it is elected, at the cost of a few small requests.
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Runs a command on the leader.
    pub async fn apply(&self, command: &Command) -> Result<ApplyResponse, MetaError> {
        let body = ApplyRequest {
            command: command.clone(),
        };
        self.call(
            "/internal/meta/apply",
            &body,
            Duration::from_secs(10),
            Needs::Leader,
        )
        .await
    }

    /// Runs a query on a voter that has applied `min_index`.
    pub async fn query(
        &self,
        query: &MetaQuery,
        min_index: u64,
    ) -> Result<QueryResponse, MetaError> {
        let body = QueryRequest {
            query: query.clone(),
            min_index,
        };
        self.call(
            "/internal/meta/query",
            &body,
            Duration::from_secs(10),
            Needs::Answer,
        )
        .await
    }

    /// Changes the voters.
    pub async fn change_membership(
        &self,
        change: &MembershipChange,
    ) -> Result<ChangesResponse, MetaError> {
        self.call(
            "/internal/meta/membership",
            change,
            Duration::from_secs(60),
            Needs::Leader,
        )
        .await
    }

    /// Waits up to `wait` for the applied index to pass `after`, on any voter that answers.
    pub async fn changes(&self, after: u64, wait: Duration) -> Result<ChangesResponse, MetaError> {
        let mut last_error = String::new();
        for addr in self.candidates() {
            let poll = async {
                let resp = self
                    .http
                    .get(self.peering.url(
                        &addr,
                        &format!(
                            "/internal/meta/changes?after={after}&wait_ms={}",
                            wait.as_millis()
                        ),
                    ))
                    .timeout(wait + Duration::from_secs(5))
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().is_success() => match r.json::<ChangesResponse>().await {
                        Ok(c) => Attempt::Done(c),
                        Err(e) => Attempt::Retry(format!("{addr}: {e}")),
                    },
                    Ok(r) => Attempt::Retry(format!("{addr} answered {}", r.status())),
                    Err(e) => Attempt::Retry(format!("{addr}: {e}")),
                }
            };
            match self.watched(&addr, Needs::Feed, poll).await {
                Attempt::Done(c) => return Ok(c),
                Attempt::Retry(e) | Attempt::Redirect(Some(e)) => last_error = e,
                Attempt::Refused(e) => last_error = e.to_string(),
                Attempt::Redirect(None) => {}
            }
        }
        Err(unavailable(format!("no voter answered: {last_error}")))
    }
}
