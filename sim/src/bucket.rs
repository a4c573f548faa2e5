//! The simulated bucket: an in-memory object store whose requests the nemesis delays, fails
//! with `503 SlowDown`, or answers with an error after the object was written.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::path::Path;
use strata_core::rng::XorShift;
use strata_core::storage::{Hooked, Hooks, Op};

/// The faults in force.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Weather {
    /// Each request waits up to this long first (so completions reorder).
    pub(crate) slow_ms: u64,
    /// Share of requests refused with `503 SlowDown`.
    pub(crate) fail: f64,
    /// Share of successful writes whose answer is lost (the object is written).
    pub(crate) lose: f64,
}

/// The bucket's faults, drawn from its own seeded generator.
#[derive(Debug)]
pub(crate) struct BucketFaults {
    rng: Mutex<XorShift>,
    weather: Mutex<Weather>,
}

impl BucketFaults {
    pub(crate) fn set(&self, w: Weather) {
        *self.weather.lock().expect("lock") = w;
    }

    fn draw(&self) -> (Weather, u64, f64) {
        let w = *self.weather.lock().expect("lock");
        let mut rng = self.rng.lock().expect("lock");
        (w, rng.below(w.slow_ms + 1), rng.unit())
    }
}

fn slow_down(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "sim",
        source: format!("503 SlowDown ({what})").into(),
    }
}

#[async_trait]
impl Hooks for BucketFaults {
    async fn before(&self, op: Op, _location: &Path) -> object_store::Result<()> {
        let (w, wait, p) = self.draw();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        if op.writes() && p < w.fail {
            return Err(slow_down("refused"));
        }
        Ok(())
    }

    async fn written(&self, _location: &Path) -> object_store::Result<()> {
        let (w, _, p) = self.draw();
        if p < w.lose {
            return Err(slow_down(
                "the answer was lost after the object was written",
            ));
        }
        Ok(())
    }
}

/// The bucket: what the nodes write through (with faults) and what the checkers read (without).
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub(crate) raw: Arc<InMemory>,
    pub(crate) faulty: Arc<Hooked<BucketFaults>>,
}

impl Bucket {
    pub(crate) fn new(seed: u64) -> Self {
        let raw = Arc::new(InMemory::new());
        let faults = BucketFaults {
            rng: Mutex::new(XorShift::new(seed)),
            weather: Mutex::new(Weather::default()),
        };
        let faulty = Arc::new(Hooked::new(raw.clone() as Arc<dyn ObjectStore>, faults));
        Self { raw, faulty }
    }

    pub(crate) fn faults(&self) -> &BucketFaults {
        self.faulty.hooks()
    }
}
