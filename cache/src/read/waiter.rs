//! The wait of every long-poll, and the gauge of requests parked in one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strata_core::meta::MetaError;
use tokio::time::Instant;

use super::{ReadError, ReadStats};

/// The wait of a long-poll: read, then [`Waiter::wait`] for the next change, until the
/// reader has enough or the deadline passes. Made by
/// [`ReadPath::waiter`](super::ReadPath::waiter).
#[derive(Debug)]
pub struct Waiter {
    pub(super) changes: tokio::sync::watch::Receiver<u64>,
    pub(super) deadline: Instant,
    pub(super) waiting: Arc<ReadStats>,
}

impl Waiter {
    /// Marks the quorum's state as seen: call it before each read.
    pub fn seen(&mut self) {
        self.changes.borrow_and_update();
    }

    /// Waits until the quorum changes after the last [`Waiter::seen`] (`true`: read again),
    /// the deadline passes or `stop` completes (`false`: answer with what was read).
    pub async fn wait(&mut self, stop: impl Future<Output = ()>) -> Result<bool, ReadError> {
        if Instant::now() >= self.deadline {
            return Ok(false);
        }
        let _parked = Parked::new(&self.waiting.waiting);
        tokio::select! {
            changed = self.changes.changed() => {
                if changed.is_err() {
                    return Err(MetaError::Unavailable { reason: "metadata store stopped".into() }.into());
                }
                Ok(true)
            }
            _ = tokio::time::sleep_until(self.deadline) => Ok(false),
            _ = stop => Ok(false),
        }
    }
}

/// Counts a parked fetch for as long as it lives (cancellation included).
pub(super) struct Parked<'a>(&'a AtomicU64);

impl<'a> Parked<'a> {
    pub(super) fn new(c: &'a AtomicU64) -> Self {
        c.fetch_add(1, Ordering::Relaxed);
        Self(c)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
