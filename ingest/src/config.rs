//! Settings of the write path.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata_core::ids::Incarnation;

/// Sees every object this node uploads, before it is committed (the read cache's
/// write-through).
pub trait UploadObserver: Send + Sync + std::fmt::Debug {
    /// `bytes` were stored in the bucket as `key`.
    fn uploaded(&self, key: &str, bytes: &Bytes);
}

/// Settings of the write path of one node.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// The writer of hot-tier markers written before writer incarnations existed: the node id
    /// the data directory had then (its flushes were named by it).
    pub legacy_writer: Incarnation,
    /// Directory of the hot tier's segment files.
    pub dir: PathBuf,
    /// Seal and ship staged records at least this often.
    pub flush_interval: Duration,
    /// Seal and ship as soon as this many bytes are staged.
    pub flush_bytes: u64,
    /// Bytes accepted but not yet committed, across all requests; beyond it, `503`.
    pub max_inflight_bytes: u64,
    /// Hot-tier segment file size before rolling to a new one.
    pub segment_bytes: u64,
    /// Committed hot-tier bytes kept (and read from by this node) before deletion.
    pub retain_bytes: u64,
    /// Objects uploading at once.
    pub max_concurrent_uploads: usize,
    /// Objects at least this large are uploaded in parts.
    pub multipart_threshold: u64,
    /// How long an `acks=all` request waits for its commit before `503`.
    pub commit_timeout: Duration,
    /// Told of every uploaded object.
    pub on_uploaded: Option<Arc<dyn UploadObserver>>,
    /// A request retried with the same `Idempotency-Key` within this window is stored once.
    pub idempotency_window: Duration,
    /// At most this many keys are kept (about 150 bytes each in the quorum); beyond it the
    /// oldest are forgotten first, shortening the window.
    pub idempotency_max_keys: u64,
}

impl IngestConfig {
    /// Defaults for a hot tier in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            legacy_writer: Incarnation(1),
            dir,
            flush_interval: Duration::from_millis(250),
            flush_bytes: 8 * 1024 * 1024,
            max_inflight_bytes: 256 * 1024 * 1024,
            segment_bytes: 64 * 1024 * 1024,
            retain_bytes: 0,
            max_concurrent_uploads: 4,
            multipart_threshold: 32 * 1024 * 1024,
            commit_timeout: Duration::from_secs(30),
            on_uploaded: None,
            idempotency_window: Duration::from_secs(600),
            idempotency_max_keys: 200_000,
        }
    }
}
