//! The one driver of background work: [`Job`] runs a pass every interval (jittered, so nodes
//! started together do not move in step), at once when [`Trigger`]ed, or again at once when
//! the pass says more work waits, until cancelled. Waits are `tokio::time` sleeps, so
//! simulated time drives them (see [`crate::clock`]).
//!
//! [`each_partition`] is the loop of the partition jobs (the compactor and the archiver):
//! every partition of every wanted topic, in turn, with the outcomes sorted the same way.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ids::PartitionId;
use crate::meta::{MetaError, MetaStore, TopicInfo};

/// What one pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Done for now: wait for the next interval or trigger.
    Idle,
    /// More work waits: run again at once.
    More,
    /// The job is over (its process was fenced, say).
    Stop,
}

/// Runs a job's pass now, whatever its interval.
#[derive(Debug, Clone, Default)]
pub struct Trigger(Arc<Notify>);

impl Trigger {
    /// Asks for a pass now; triggers before the pass starts are one.
    pub fn fire(&self) {
        self.0.notify_one();
    }
}

/// A background job: its name (for the log), interval and jitter.
#[derive(Debug, Clone)]
pub struct Job {
    name: &'static str,
    every: Duration,
    jitter: f64,
    trigger: Trigger,
    /// The first pass waits one interval.
    wait_first: bool,
}

impl Job {
    /// A job named `name` that runs every `every`, give or take a tenth.
    pub fn new(name: &'static str, every: Duration) -> Self {
        Self {
            name,
            every,
            jitter: 0.1,
            trigger: Trigger::default(),
            wait_first: true,
        }
    }

    /// Spreads each wait uniformly over `every * (1 ± fraction)` (0 for exact intervals).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// Runs the first pass at once instead of after one interval.
    pub fn at_once(mut self) -> Self {
        self.wait_first = false;
        self
    }

    /// The job's trigger.
    pub fn trigger(&self) -> Trigger {
        self.trigger.clone()
    }

    /// Runs `pass` until `cancel` (or a pass returns [`Tick::Stop`]). A failed pass is logged
    /// and retried at the next interval.
    pub async fn run<E, F, Fut>(self, cancel: CancellationToken, mut pass: F)
    where
        E: fmt::Display,
        F: FnMut(CancellationToken) -> Fut,
        Fut: Future<Output = Result<Tick, E>>,
    {
        let mut rng = Jitter::new(self.name);
        let mut wait = self.wait_first;
        loop {
            if wait {
                let sleep = rng.spread(self.every, self.jitter);
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(sleep) => {}
                    _ = self.trigger.0.notified() => {}
                }
            } else if cancel.is_cancelled() {
                return;
            }
            wait = match pass(cancel.clone()).await {
                Ok(Tick::Idle) => true,
                Ok(Tick::More) => {
                    // Let others run between passes that find more to do.
                    tokio::task::yield_now().await;
                    false
                }
                Ok(Tick::Stop) => return,
                Err(e) => {
                    tracing::warn!(job = self.name, error = %e, "background pass failed; retrying at the next interval");
                    true
                }
            };
        }
    }
}

/// A small generator for the jitter (xorshift, seeded per process and job).
struct Jitter(u64);

impl Jitter {
    fn new(name: &str) -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write(name.as_bytes());
        Self(h.finish() | 1)
    }

    fn spread(&mut self, every: Duration, fraction: f64) -> Duration {
        if fraction == 0.0 {
            return every;
        }
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let unit = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        every.mul_f64(1.0 - fraction + 2.0 * fraction * unit)
    }
}

/// How a partition job's error reads to the driver.
pub trait PartitionError: fmt::Display {
    /// Another process holds the partition's lease: skip it this pass.
    fn is_busy(&self) -> bool;
    /// The topic was deleted meanwhile: go on with the next topic.
    fn topic_gone(&self) -> bool;
}

/// Runs `work` on every partition of every topic `wanted` picks, in turn, until `cancel`.
/// Busy partitions are skipped, a deleted topic ends its turn, other failures are logged as
/// `job`'s and the pass goes on. Returns the topics it went through.
pub async fn each_partition<E, F, Fut>(
    job: &str,
    meta: &dyn MetaStore,
    cancel: &CancellationToken,
    wanted: impl Fn(&TopicInfo) -> bool,
    mut work: F,
) -> Result<Vec<TopicInfo>, MetaError>
where
    E: PartitionError,
    F: FnMut(TopicInfo, PartitionId) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut done = Vec::new();
    for topic in meta.list_topics().await? {
        if !wanted(&topic) {
            continue;
        }
        for p in 0..topic.partitions {
            if cancel.is_cancelled() {
                return Ok(done);
            }
            match work(topic.clone(), PartitionId(p)).await {
                Ok(()) => {}
                Err(e) if e.is_busy() => {}
                Err(e) if e.topic_gone() => break,
                Err(e) => {
                    tracing::warn!(job, topic = %topic.name, partition = p, error = %e, "partition pass failed; retrying at the next interval");
                }
            }
        }
        done.push(topic);
    }
    Ok(done)
}

#[cfg(test)]
mod tests;
