//! Readiness: whether this node can commit and reach the bucket right now, and why not.
//!
//! `/readyz` answers from here without waiting on anything slow: the start-up phase, the
//! quorum's view (a leader known, or not for longer than an election), the outcome of this
//! node's own recent writes to the quorum (its heartbeats, every 2 s, with a short deadline),
//! and the object store as uploads and a cached probe saw it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// What `/readyz` reports against.
#[derive(Debug)]
pub struct Health {
    state: Mutex<State>,
    /// Leaderless for longer than this is not an election any more.
    election: Duration,
}

#[derive(Debug)]
struct State {
    /// While starting: what the node waits for (`quorum`, `store` or `starting`) and why.
    starting: Option<(&'static str, String)>,
    /// Since when no quorum leader is known.
    leaderless_since: Option<Instant>,
    /// The last write of this node to the quorum that succeeded, and the last failure after it.
    last_write_ok: Option<Instant>,
    write_failure: Option<(Instant, String)>,
    /// The last object-store probe: when, and its error.
    store_probe: Option<(Instant, Option<String>)>,
}

/// Why a node is not ready: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// `quorum`, `store` or `starting`.
    pub what: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// How long a write to the quorum may fail before the node says it cannot commit.
pub const WRITES_FAIL_FOR: Duration = Duration::from_secs(4);

/// How long an object-store probe result is reused.
pub const STORE_PROBE_TTL: Duration = Duration::from_secs(2);

impl Health {
    /// A node that is starting; `election` is the quorum's longest election timeout.
    pub fn new(election: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                starting: Some(("starting", "this node is starting".to_string())),
                leaderless_since: None,
                last_write_ok: None,
                write_failure: None,
                store_probe: None,
            }),
            election,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("no panics while holding the lock")
    }

    /// Records what the starting node waits for now: `what` is `quorum` or `store`.
    pub fn starting(&self, what: &'static str, reason: impl Into<String>) {
        self.lock().starting = Some((what, reason.into()));
    }

    /// Records that the node has started.
    pub fn started(&self) {
        self.lock().starting = None;
    }

    /// Returns what the starting node waits for, if it is still starting.
    pub fn start_phase(&self) -> Option<NotReady> {
        self.lock()
            .starting
            .clone()
            .map(|(what, reason)| NotReady { what, reason })
    }

    /// Records the outcome of one of this node's writes to the quorum.
    pub fn quorum_write(&self, outcome: Result<(), String>) {
        let mut s = self.lock();
        match outcome {
            Ok(()) => {
                s.last_write_ok = Some(Instant::now());
                s.write_failure = None;
            }
            Err(e) => {
                let since = s.write_failure.as_ref().map_or_else(Instant::now, |f| f.0);
                s.write_failure = Some((since, e));
            }
        }
    }

    /// Checks the quorum: `leader_known` is the node's current view.
    pub fn check_quorum(&self, leader_known: bool) -> Result<(), NotReady> {
        let mut s = self.lock();
        if leader_known {
            s.leaderless_since = None;
        } else {
            let since = *s.leaderless_since.get_or_insert_with(Instant::now);
            if since.elapsed() > self.election * 2 {
                return Err(NotReady {
                    what: "quorum",
                    reason: format!(
                        "no metadata quorum leader known for {:.1} s (a majority of voters is down or unreachable)",
                        since.elapsed().as_secs_f64()
                    ),
                });
            }
        }
        if let Some((since, e)) = &s.write_failure
            && since.elapsed() >= WRITES_FAIL_FOR
        {
            return Err(NotReady {
                what: "quorum",
                reason: format!(
                    "the metadata quorum has not committed this node's writes for {:.1} s: {e}",
                    since.elapsed().as_secs_f64()
                ),
            });
        }
        Ok(())
    }

    /// Returns the cached object-store probe, if it is fresh.
    pub fn store_probe(&self) -> Option<Option<String>> {
        let s = self.lock();
        s.store_probe
            .as_ref()
            .filter(|(at, _)| at.elapsed() < STORE_PROBE_TTL)
            .map(|(_, e)| e.clone())
    }

    /// Records an object-store probe.
    pub fn record_store_probe(&self, error: Option<String>) {
        self.lock().store_probe = Some((Instant::now(), error));
    }
}

#[cfg(test)]
mod tests;
