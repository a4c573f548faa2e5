//! The one driver of background work: [`Job`] runs a pass every interval (jittered, so nodes
//! started together do not move in step), at once when [`Trigger`]ed, or again at once when
//! the pass says more work waits, until cancelled. Waits are `tokio::time` sleeps, so
//! simulated time drives them (see [`crate::clock`]). A trigger does not move the schedule:
//! the next scheduled pass comes when it would have.
//!
//! [`Demands`] carries requests to a job's own loop (an operator's "compact this topic now"),
//! so on-demand work and background work take turns instead of racing for the same leases.
//!
//! [`each_partition`] is the loop of the partition jobs (the compactor and the archiver):
//! every partition of every wanted topic, in turn, with the outcomes sorted the same way.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

use crate::ids::PartitionId;
use crate::meta::{MetaError, MetaStore, TopicInfo};
use crate::rng::XorShift;

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

/// Why a pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Its interval came round (or it is the first pass of a job that starts at once).
    Scheduled,
    /// Its [`Trigger`] fired.
    Triggered,
    /// The pass before said more work waits.
    Again,
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

    /// Runs `pass` until `cancel` (or a pass returns [`Tick::Stop`]), telling each pass why it
    /// runs. A failed pass is logged and retried at the next interval.
    pub async fn run<E, F, Fut>(self, cancel: CancellationToken, mut pass: F)
    where
        E: fmt::Display,
        F: FnMut(CancellationToken, Wake) -> Fut,
        Fut: Future<Output = Result<Tick, E>>,
    {
        let mut rng = Jitter::new(self.name);
        let mut due = tokio::time::Instant::now();
        let mut wake = if self.wait_first {
            None
        } else {
            Some(Wake::Scheduled)
        };
        loop {
            let why = match wake {
                Some(why) if !cancel.is_cancelled() => why,
                Some(_) => return,
                None => {
                    if due <= tokio::time::Instant::now() {
                        due = tokio::time::Instant::now() + rng.spread(self.every, self.jitter);
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep_until(due) => Wake::Scheduled,
                        _ = self.trigger.0.notified() => Wake::Triggered,
                    }
                }
            };
            wake = match pass(cancel.clone(), why).await {
                Ok(Tick::Idle) => None,
                Ok(Tick::More) => {
                    // Let others run between passes that find more to do.
                    tokio::task::yield_now().await;
                    Some(Wake::Again)
                }
                Ok(Tick::Stop) => return,
                Err(e) => {
                    tracing::warn!(job = self.name, error = %e, "background pass failed; retrying at the next interval");
                    None
                }
            };
        }
    }
}

/// Requests of type `Q` that a job's own loop serves, answering each with an `R`.
pub struct Demands<Q, R> {
    queue: Mutex<VecDeque<Demand<Q, R>>>,
    /// Set while a job serves the requests: the trigger that wakes it.
    server: Mutex<Option<Trigger>>,
}

impl<Q, R> fmt::Debug for Demands<Q, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Demands")
            .field("waiting", &self.lock_queue().len())
            .finish()
    }
}

impl<Q, R> Default for Demands<Q, R> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            server: Mutex::new(None),
        }
    }
}

/// One request, to answer with [`Demand::answer`].
#[derive(Debug)]
pub struct Demand<Q, R> {
    /// What is asked.
    pub query: Q,
    reply: oneshot::Sender<R>,
}

impl<Q, R> Demand<Q, R> {
    /// Answers the request (the asker may have gone: then nobody hears it).
    pub fn answer(self, r: R) {
        let _ = self.reply.send(r);
    }
}

impl<Q, R> Demands<Q, R> {
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Demand<Q, R>>> {
        // Only pushed to and popped from: a panic elsewhere cannot leave it half-changed.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_server(&self) -> std::sync::MutexGuard<'_, Option<Trigger>> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves the requests in the job that `trigger` wakes, until [`Demands::close`].
    pub fn open(&self, trigger: Trigger) {
        *self.lock_server() = Some(trigger);
    }

    /// Stops serving: waiting requests are dropped, and their askers hear `None`.
    pub fn close(&self) {
        *self.lock_server() = None;
        self.lock_queue().clear();
    }

    /// Hands `query` to the serving job and waits for its answer. `None` when no job serves
    /// the requests (this node does not run it, or it stopped): the caller does the work.
    pub async fn ask(&self, query: Q) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        {
            let server = self.lock_server();
            let trigger = server.as_ref()?;
            self.lock_queue().push_back(Demand { query, reply });
            trigger.fire();
        }
        answer.await.ok()
    }

    /// The next waiting request, if any.
    pub fn next(&self) -> Option<Demand<Q, R>> {
        self.lock_queue().pop_front()
    }

    /// [`Demands::ask`], or where no job serves the requests, `here(query)` in place.
    pub async fn ask_or<F, Fut>(&self, query: Q, here: F) -> R
    where
        Q: Clone,
        F: FnOnce(Q) -> Fut,
        Fut: Future<Output = R>,
    {
        match self.ask(query.clone()).await {
            Some(answer) => answer,
            None => here(query).await,
        }
    }

    /// Answers every waiting request with `work` (the serving job calls it between steps).
    pub async fn serve<F, Fut>(&self, mut work: F)
    where
        F: FnMut(Q) -> Fut,
        Fut: Future<Output = R>,
    {
        while let Some(Demand { query, reply }) = self.next() {
            let _ = reply.send(work(query).await);
        }
    }
}

/// The jitter's generator, seeded per process and job.
struct Jitter(XorShift);

impl Jitter {
    fn new(name: &str) -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write(name.as_bytes());
        Self(XorShift::new(h.finish()))
    }

    fn spread(&mut self, every: Duration, fraction: f64) -> Duration {
        if fraction == 0.0 {
            return every;
        }
        every.mul_f64(1.0 - fraction + 2.0 * fraction * self.0.unit())
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
