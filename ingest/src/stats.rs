//! Counters of the write path, read by the server's `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the write path.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Records accepted.
    pub records: AtomicU64,
    /// Record bytes accepted (before compression).
    pub raw_bytes: AtomicU64,
    /// Batch bytes written to the hot tier.
    pub hot_bytes_written: AtomicU64,
    /// Hot-tier fsyncs.
    pub fsyncs: AtomicU64,
    /// Flushes sealed.
    pub flushes: AtomicU64,
    /// Objects uploaded.
    pub objects_uploaded: AtomicU64,
    /// Object bytes uploaded.
    pub object_bytes: AtomicU64,
    /// Upload attempts that failed and were retried.
    pub upload_retries: AtomicU64,
    /// Commit attempts that failed and were retried.
    pub commit_retries: AtomicU64,
    /// Flushes committed.
    pub commits: AtomicU64,
    /// Bytes staged and not yet committed.
    pub inflight_bytes: AtomicU64,
    /// Bytes in hot-tier segment files.
    pub hot_tier_bytes: AtomicU64,
}

impl IngestStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
