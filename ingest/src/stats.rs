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
    /// Upload attempts that timed out (the store accepted the connection and did not answer).
    pub upload_timeouts: AtomicU64,
    /// Uploads that a second, hedged attempt finished first.
    pub upload_hedges_won: AtomicU64,
    /// How the bucket answered the last upload attempts.
    pub store: StoreHealth,
}

/// The counters as Prometheus metrics: name, help, and where the value is.
pub const COUNTERS: strata_core::stats::Table<IngestStats> = &[
    ("strata_ingest_records_total", "Records accepted", |s| {
        &s.records
    }),
    (
        "strata_ingest_raw_bytes_total",
        "Record bytes accepted, before compression",
        |s| &s.raw_bytes,
    ),
    (
        "strata_hot_tier_written_bytes_total",
        "Batch bytes written to the hot tier",
        |s| &s.hot_bytes_written,
    ),
    (
        "strata_hot_tier_fsyncs_total",
        "Hot-tier group-commit fsyncs",
        |s| &s.fsyncs,
    ),
    ("strata_flushes_total", "Flushes sealed", |s| &s.flushes),
    (
        "strata_objects_uploaded_total",
        "Objects shipped to the object store",
        |s| &s.objects_uploaded,
    ),
    (
        "strata_object_uploaded_bytes_total",
        "Bytes of objects shipped",
        |s| &s.object_bytes,
    ),
    (
        "strata_upload_retries_total",
        "Uploads that failed and were retried",
        |s| &s.upload_retries,
    ),
    (
        "strata_upload_timeouts_total",
        "Upload attempts given up because the object store did not answer in time",
        |s| &s.upload_timeouts,
    ),
    (
        "strata_upload_hedges_won_total",
        "Uploads a second, hedged attempt finished first",
        |s| &s.upload_hedges_won,
    ),
    (
        "strata_commit_retries_total",
        "Quorum commits that failed and were retried",
        |s| &s.commit_retries,
    ),
    (
        "strata_commits_total",
        "Flushes committed to the quorum",
        |s| &s.commits,
    ),
];

/// The gauges as Prometheus metrics.
pub const GAUGES: strata_core::stats::Table<IngestStats> = &[(
    "strata_hot_tier_bytes",
    "Bytes in hot-tier segment files",
    |s| &s.hot_tier_bytes,
)];

/// The object store as the uploads see it.
#[derive(Debug, Default)]
pub struct StoreHealth {
    state: std::sync::Mutex<StoreState>,
}

#[derive(Debug, Default)]
struct StoreState {
    /// Since when uploads fail, and the last failure.
    failing: Option<(tokio::time::Instant, String, bool)>,
}

impl StoreHealth {
    pub(crate) fn ok(&self) {
        self.state
            .lock()
            .expect("no panics while holding the lock")
            .failing = None;
    }

    pub(crate) fn failed(&self, error: String, permanent: bool) {
        let mut s = self.state.lock().expect("no panics while holding the lock");
        let since = s
            .failing
            .as_ref()
            .map_or_else(tokio::time::Instant::now, |f| f.0);
        s.failing = Some((since, error, permanent));
    }

    /// Returns, while uploads fail: for how long, the last error, and whether it needs an
    /// operator (credentials, permissions, a missing bucket) rather than time.
    pub fn failing(&self) -> Option<(std::time::Duration, String, bool)> {
        self.state
            .lock()
            .expect("no panics while holding the lock")
            .failing
            .as_ref()
            .map(|(since, e, permanent)| (since.elapsed(), e.clone(), *permanent))
    }
}

impl IngestStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
