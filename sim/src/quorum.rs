//! The quorum as each node reaches it: the one linearizable state machine (the real
//! `MetaState` in an `InMemoryMetaStore`), behind a link the nemesis cuts, slows, or makes
//! lose the answer of a command that was applied.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use strata_core::clock::Clock;
use strata_core::meta::{
    Command, CommandResult, MetaError, MetaQuery, MetaTransport, QueryResult, QuorumStatus,
};
use strata_core::rng::XorShift;
use strata_meta::memory::InMemoryMetaStore;
use tokio::sync::watch;

/// One node's link to the quorum.
#[derive(Debug)]
pub(crate) struct Link {
    quorum: Arc<InMemoryMetaStore>,
    clock: Arc<dyn Clock>,
    rng: Mutex<XorShift>,
    /// Requests fail at once while cut.
    cut: AtomicBool,
    /// Per mille of applied commands whose answer is lost.
    lose_per_mille: AtomicU64,
    /// Requests wait up to this long.
    slow_ms: AtomicU64,
}

impl Link {
    pub(crate) fn new(quorum: Arc<InMemoryMetaStore>, clock: Arc<dyn Clock>, seed: u64) -> Self {
        Self {
            quorum,
            clock,
            rng: Mutex::new(XorShift::new(seed)),
            cut: AtomicBool::new(false),
            lose_per_mille: AtomicU64::new(0),
            slow_ms: AtomicU64::new(0),
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
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        if self.cut.load(Ordering::SeqCst) {
            return Err(MetaError::Unavailable {
                reason: "the simulated network is partitioned".to_string(),
            });
        }
        Ok(roll)
    }
}

#[async_trait]
impl MetaTransport for Link {
    async fn apply(&self, cmd: Command) -> Result<CommandResult, MetaError> {
        let roll = self.reach().await?;
        let result = self.quorum.apply(cmd).await;
        if roll < self.lose_per_mille.load(Ordering::SeqCst) {
            return Err(MetaError::Unavailable {
                reason: "the answer was lost after the quorum applied the command".to_string(),
            });
        }
        result
    }

    async fn query(&self, query: MetaQuery) -> Result<QueryResult, MetaError> {
        self.reach().await?;
        self.quorum.query(query).await
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.quorum.changes()
    }

    fn status(&self) -> QuorumStatus {
        self.quorum.status()
    }
}
