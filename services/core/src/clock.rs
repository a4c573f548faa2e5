//! The `Clock` seam: library code reads wall time only through it.
//!
//! Waits and measurements go through `tokio::time` (`sleep`, `timeout`, `Instant`), never
//! `std::thread::sleep` or `std::time::Instant` (clippy.toml holds that): a runtime with its
//! time paused (tokio's test-util, the simulator) then moves every wait and measurement
//! itself, and [`RuntimeClock`] gives wall time that moves with it, so one switch makes all
//! of a node's time simulated and deterministic.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Returns the current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one reading of the system's wall clock.
    #[allow(clippy::disallowed_methods)]
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// Wall time that follows the tokio runtime's clock from `start_ms`: real time normally,
/// simulated time when the runtime's time is paused.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeClock {
    start_ms: i64,
    start: tokio::time::Instant,
}

impl RuntimeClock {
    /// Starts at `start_ms` now (call from within the runtime).
    pub fn new(start_ms: i64) -> Self {
        Self {
            start_ms,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for RuntimeClock {
    fn now_ms(&self) -> i64 {
        self.start_ms + self.start.elapsed().as_millis() as i64
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Starts at `ms`.
    pub fn new(ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(ms)))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests;
