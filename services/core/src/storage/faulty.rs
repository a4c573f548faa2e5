//! [`FaultyStore`]: the one fault-injecting bucket of the unit tests (feature `test-util`):
//! writes that fail while it is down, requests held at a gate, and a count of every request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use object_store::memory::InMemory;
use object_store::path::Path;
use tokio::sync::{Notify, Semaphore};

use super::hooked::{Hooked, Hooks, Op};

/// An in-memory bucket with [`Faults`] around it.
pub type FaultyStore = Hooked<Faults>;

/// A fresh in-memory [`FaultyStore`] with no faults.
pub fn faulty_store() -> Arc<FaultyStore> {
    Arc::new(Hooked::new(Arc::new(InMemory::new()), Faults::default()))
}

/// Requests a gate holds.
#[derive(Debug)]
struct Gate {
    /// Reads (`true`) or writes.
    reads: bool,
    /// Only requests for keys under this prefix.
    prefix: String,
    permits: Arc<Semaphore>,
}

/// Faults to inject, and the requests seen.
#[derive(Debug, Default)]
pub struct Faults {
    down: AtomicBool,
    counts: Mutex<HashMap<Op, u64>>,
    gate: Mutex<Option<Gate>>,
    entered: Notify,
}

impl Faults {
    /// While `down`, every write fails with a transient error (an outage).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Requests seen so far (failed and held ones too) that `which` picks, e.g. `Op::reads`;
    /// a multi-range read counts once per range.
    pub fn count(&self, which: impl Fn(Op) -> bool) -> u64 {
        let counts = self.counts.lock().expect("lock");
        counts
            .iter()
            .filter(|(op, _)| which(**op))
            .map(|(_, n)| n)
            .sum()
    }

    /// Holds reads (`reads`) or writes of keys under `prefix` until released; each request
    /// takes one permit of [`Faults::release`].
    pub fn hold(&self, reads: bool, prefix: &str) {
        *self.gate.lock().expect("lock") = Some(Gate {
            reads,
            prefix: prefix.to_string(),
            permits: Arc::new(Semaphore::new(0)),
        });
    }

    /// Lets `n` held (or future) requests through the gate.
    pub fn release(&self, n: usize) {
        if let Some(g) = self.gate.lock().expect("lock").as_ref() {
            g.permits.add_permits(n);
        }
    }

    /// Removes the gate, letting every held request through.
    pub fn open(&self) {
        if let Some(g) = self.gate.lock().expect("lock").take() {
            g.permits.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }

    /// Resolves when a request reaches the gate (one that arrived before the call counts).
    pub async fn entered(&self) {
        self.entered.notified().await;
    }
}

#[async_trait]
impl Hooks for Faults {
    async fn before(&self, op: Op, location: &Path) -> object_store::Result<()> {
        *self.counts.lock().expect("lock").entry(op).or_default() += 1;
        if op.writes() && self.down.load(Ordering::SeqCst) {
            return Err(object_store::Error::Generic {
                store: "faulty",
                source: "injected outage".into(),
            });
        }
        let permits = {
            let gate = self.gate.lock().expect("lock");
            gate.as_ref()
                .filter(|g| {
                    (if g.reads { op.reads() } else { op.writes() })
                        && location.as_ref().starts_with(&g.prefix)
                })
                .map(|g| g.permits.clone())
        };
        if let Some(permits) = permits {
            self.entered.notify_one();
            if let Ok(p) = permits.acquire().await {
                p.forget();
            }
        }
        Ok(())
    }
}
