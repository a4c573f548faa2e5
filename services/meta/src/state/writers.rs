//! The writer registry's commands (see [`strata_core::meta::writers`]): registration, heartbeats,
//! retirement, and the fence every commit passes.

use super::{Command, CommandResult, MetaState};
use strata_core::ids::Incarnation;
use strata_core::meta::writers::{
    EXPIRE_MS, NodeInfo, RegisterRequest, Registration, WriterStatus,
};
use strata_core::meta::{MetaError, ObjectCommit};

fn fenced(incarnation: Incarnation, reason: impl Into<String>) -> MetaError {
    MetaError::Fenced {
        incarnation: incarnation.0,
        reason: reason.into(),
    }
}

impl MetaState {
    pub(super) fn check_writer(&self, cmd: &Command) -> Result<(), MetaError> {
        match cmd {
            Command::RegisterWriter { request, now_ms } => self.check_register(request, *now_ms),
            Command::WriterHeartbeat { incarnation, .. } => {
                self.live_writer(*incarnation).map(|_| ())
            }
            _ => Ok(()),
        }
    }

    pub(super) fn apply_writer(&mut self, cmd: &Command) -> CommandResult {
        match cmd {
            Command::RegisterWriter { request, now_ms } => {
                CommandResult::Registered(self.register(request, *now_ms))
            }
            Command::WriterHeartbeat {
                incarnation,
                addr,
                now_ms,
            } => {
                let w = self.writers.get_mut(incarnation).expect("checked above");
                w.last_seen_ms = w.last_seen_ms.max(*now_ms);
                w.addr.clone_from(addr);
                CommandResult::Done
            }
            Command::RetireWriter {
                incarnation,
                now_ms,
            } => {
                if let Some(w) = self.writers.get_mut(incarnation)
                    && w.status == WriterStatus::Live
                {
                    w.status = WriterStatus::Retired;
                    w.last_seen_ms = w.last_seen_ms.max(*now_ms);
                }
                CommandResult::Done
            }
            _ => CommandResult::Done,
        }
    }

    /// The record of a live incarnation, or why it cannot act.
    fn live_writer(&self, incarnation: Incarnation) -> Result<&NodeInfo, MetaError> {
        let w = self.writers.get(&incarnation).ok_or_else(|| {
            fenced(
                incarnation,
                "the quorum does not know it (expired and forgotten, or never registered)",
            )
        })?;
        match w.status {
            WriterStatus::Live => Ok(w),
            WriterStatus::Superseded { by } => {
                let how = match self.writers.get(&by) {
                    Some(s) if w.owner != by => format!(
                        "incarnation {by} (at {}) took its node id {} while it was silent",
                        s.addr,
                        s.name.map_or(0, |n| n.0)
                    ),
                    Some(s) => format!(
                        "incarnation {by} (at {}) took over its data directory",
                        s.addr
                    ),
                    None => format!("incarnation {by} took over"),
                };
                Err(fenced(incarnation, format!("superseded: {how}")))
            }
            WriterStatus::Retired => Err(fenced(incarnation, "retired: the process stopped")),
            WriterStatus::Expired => Err(fenced(
                incarnation,
                format!(
                    "expired: it was silent for more than {} s",
                    EXPIRE_MS / 1000
                ),
            )),
        }
    }

    fn check_register(&self, r: &RegisterRequest, now_ms: i64) -> Result<(), MetaError> {
        if r.addr.is_empty() {
            return Err(MetaError::Invalid {
                reason: "a registering process needs an address".to_string(),
            });
        }
        if self.retried_registration(r).is_some() {
            return Ok(());
        }
        let Some(name) = r.name else {
            return Ok(());
        };
        if let Some(w) = self.writers.values().find(|w| {
            w.name == Some(name) && !r.adopt.contains(&w.incarnation) && w.is_live(now_ms)
        }) {
            return Err(MetaError::NameInUse {
                name: name.0,
                incarnation: w.incarnation.0,
                addr: w.addr.clone(),
                seen_ms_ago: (now_ms - w.last_seen_ms).max(0),
            });
        }
        Ok(())
    }

    /// The live record a retry of this registration already created, if any.
    fn retried_registration(&self, r: &RegisterRequest) -> Option<&NodeInfo> {
        self.writers.values().find(|w| {
            r.nonce != 0
                && w.nonce == r.nonce
                && w.status == WriterStatus::Live
                && w.name == r.name
                && w.addr == r.addr
        })
    }

    fn register(&mut self, r: &RegisterRequest, now_ms: i64) -> Registration {
        let incarnation = match self.retried_registration(r) {
            Some(w) => w.incarnation,
            None => self.new_writer(r, now_ms),
        };
        let last_flushes = r
            .adopt
            .iter()
            .map(|a| (*a, self.node_seqs.get(a).copied()))
            .collect();
        Registration {
            incarnation,
            last_flushes,
        }
    }

    fn new_writer(&mut self, r: &RegisterRequest, now_ms: i64) -> Incarnation {
        self.sweep_writers(now_ms);
        // Incarnations start above every writer id committed before they existed (node ids
        // named objects then), so no key is ever reused.
        let floor = self.node_seqs.keys().next_back().map_or(1, |w| w.0 + 1);
        let incarnation = Incarnation(self.next_incarnation.max(floor));
        self.next_incarnation = incarnation.0 + 1;
        for w in self.writers.values_mut() {
            // A silent process whose name is taken is fenced: if it comes back, it stops.
            let takes_name =
                r.name.is_some() && w.name == r.name && !r.adopt.contains(&w.incarnation);
            if takes_name && w.status == WriterStatus::Live {
                w.status = WriterStatus::Superseded { by: incarnation };
            }
        }
        for a in &r.adopt {
            let w = self.writers.entry(*a).or_insert_with(|| NodeInfo {
                incarnation: *a,
                name: None,
                addr: String::new(),
                roles: Vec::new(),
                started_ms: now_ms,
                last_seen_ms: now_ms,
                status: WriterStatus::Retired,
                owner: *a,
                nonce: 0,
            });
            if w.status == WriterStatus::Live {
                w.status = WriterStatus::Superseded { by: incarnation };
            }
            w.owner = incarnation;
        }
        self.writers.insert(
            incarnation,
            NodeInfo {
                incarnation,
                name: r.name,
                addr: r.addr.clone(),
                roles: r.roles.clone(),
                started_ms: now_ms,
                last_seen_ms: now_ms,
                status: WriterStatus::Live,
                owner: incarnation,
                nonce: r.nonce,
            },
        );
        incarnation
    }

    /// Expires incarnations silent for [`EXPIRE_MS`] and forgets fenced ones silent twice as
    /// long whose flushes no live incarnation owns.
    fn sweep_writers(&mut self, now_ms: i64) {
        for w in self.writers.values_mut() {
            if w.status == WriterStatus::Live && now_ms - w.last_seen_ms > EXPIRE_MS {
                w.status = WriterStatus::Expired;
            }
        }
        let live: std::collections::BTreeSet<Incarnation> = self
            .writers
            .values()
            .filter(|w| w.status == WriterStatus::Live)
            .map(|w| w.incarnation)
            .collect();
        self.writers.retain(|i, w| {
            w.status == WriterStatus::Live
                || (w.owner != *i && live.contains(&w.owner))
                || now_ms - w.last_seen_ms <= 2 * EXPIRE_MS
        });
    }

    /// The fence of every commit: `by` is live and owns the writer whose flush it commits.
    pub(super) fn check_commit_fence(&self, commit: &ObjectCommit) -> Result<(), MetaError> {
        let Some(by) = commit.by else {
            // Commits from before incarnations existed are applied as they were then.
            return Ok(());
        };
        self.live_writer(by)?;
        let owner = self.writers.get(&commit.writer).map(|w| w.owner);
        if owner != Some(by) {
            return Err(fenced(
                by,
                format!(
                    "it does not own writer {}'s flushes (owner: {})",
                    commit.writer,
                    owner.map_or_else(|| "none".to_string(), |o| o.to_string())
                ),
            ));
        }
        Ok(())
    }

    /// A commit is proof of life.
    pub(super) fn saw_writer(&mut self, by: Option<Incarnation>, now_ms: i64) {
        if let Some(w) = by.and_then(|b| self.writers.get_mut(&b)) {
            w.last_seen_ms = w.last_seen_ms.max(now_ms);
        }
    }

    /// Returns every registered process.
    pub fn writers(&self) -> Vec<NodeInfo> {
        self.writers.values().cloned().collect()
    }
}
