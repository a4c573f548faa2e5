//! Cold-read admission: how many bucket reads run at once, and how many bytes per second.

#[allow(unused_imports)]
use super::*;

/// Cold-read admission: a concurrency limit and a token bucket of bytes per second.
#[derive(Debug)]
pub(super) struct Admission {
    permits: Arc<Semaphore>,
    rate: u64,
    burst: f64,
    /// (tokens, last refill); tokens go negative when a read overdraws them.
    bucket: Mutex<(f64, Instant)>,
}

impl Admission {
    pub(super) fn new(concurrency: usize, rate: u64, block: u64) -> Self {
        let burst = (block as f64).max(rate as f64 / 4.0);
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            rate,
            burst,
            bucket: Mutex::new((burst, Instant::now())),
        }
    }

    /// Time until the bandwidth budget allows a read, or zero.
    pub(super) fn bandwidth_wait(&self) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        let mut b = self.bucket.lock().expect("admission lock");
        let now = Instant::now();
        b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * self.rate as f64).min(self.burst);
        b.1 = now;
        // Admit while the balance is positive; a read may overdraw it, and the next waits
        // until the debt is paid off.
        if b.0 > 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - b.0) / self.rate as f64)
        }
    }

    pub(super) fn charge(&self, bytes: u64) {
        if self.rate > 0 {
            self.bucket.lock().expect("admission lock").0 -= bytes as f64;
        }
    }

    /// Admits a read now, or returns `None`.
    pub(super) fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        if !self.bandwidth_wait().is_zero() {
            return None;
        }
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Waits until a read is admitted.
    pub(super) async fn admit(&self) -> OwnedSemaphorePermit {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        loop {
            let wait = self.bandwidth_wait();
            if wait.is_zero() {
                return permit;
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Counts a queued cold read for as long as it lives.
pub(super) struct Queued(Arc<ReadStats>);

impl Queued {
    pub(super) fn new(stats: &Arc<ReadStats>) -> Self {
        stats.cold_queued.fetch_add(1, Ordering::Relaxed);
        Self(stats.clone())
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.cold_queued.fetch_sub(1, Ordering::Relaxed);
    }
}
