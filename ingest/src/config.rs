//! Settings of the write path.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use strata_core::ids::Incarnation;
use strata_core::settings::{self, Invalid, Section, at_least, duration_at_least};

/// Sees every object this node uploads, before it is committed (the read cache's
/// write-through).
pub trait UploadObserver: Send + Sync + std::fmt::Debug {
    /// `bytes` were stored in the bucket as `key`.
    fn uploaded(&self, key: &str, bytes: &Bytes);
}

/// Settings of the write path of one node: the `[ingest]` section of the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct IngestConfig {
    /// The writer of hot-tier markers written before writer incarnations existed: the node id
    /// the data directory had then (its flushes were named by it).
    #[serde(skip)]
    pub legacy_writer: Incarnation,
    /// Directory of the hot tier's segment files.
    #[serde(skip)]
    pub dir: PathBuf,
    /// Seal and ship staged records at least this often.
    #[serde(with = "settings::duration")]
    pub flush_interval: Duration,
    /// Seal and ship as soon as this many bytes are staged.
    #[serde(with = "settings::size")]
    pub flush_bytes: u64,
    /// Bytes accepted but not yet committed, across all requests; beyond it, `503`.
    #[serde(with = "settings::size")]
    pub max_inflight_bytes: u64,
    /// Hot-tier segment file size before rolling to a new one.
    #[serde(with = "settings::size")]
    pub segment_bytes: u64,
    /// Committed hot-tier bytes kept (and read from by this node) before deletion.
    #[serde(with = "settings::size")]
    pub retain_bytes: u64,
    /// Objects uploading at once.
    pub max_concurrent_uploads: usize,
    /// Objects at least this large are uploaded in parts.
    #[serde(with = "settings::size")]
    pub multipart_threshold: u64,
    /// How long an `acks=all` request waits for its commit before `503`.
    #[serde(with = "settings::duration")]
    pub commit_timeout: Duration,
    /// Told of every uploaded object.
    #[serde(skip)]
    pub on_uploaded: Option<Arc<dyn UploadObserver>>,
    /// How the hot tier does its blocking work (the simulator's disk).
    #[serde(skip)]
    pub disk: crate::hot::DiskOptions,
    /// A request retried with the same `Idempotency-Key` within this window is stored once.
    #[serde(with = "settings::duration")]
    pub idempotency_window: Duration,
    /// At most this many keys are kept (about 150 bytes each in the quorum); beyond it the
    /// oldest are forgotten first, shortening the window.
    pub idempotency_max_keys: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            legacy_writer: Incarnation(1),
            dir: PathBuf::from("hot"),
            flush_interval: Duration::from_millis(250),
            flush_bytes: 8 << 20,
            max_inflight_bytes: 256 << 20,
            segment_bytes: 64 << 20,
            retain_bytes: 0,
            max_concurrent_uploads: 4,
            multipart_threshold: 32 << 20,
            commit_timeout: Duration::from_secs(30),
            on_uploaded: None,
            disk: crate::hot::DiskOptions::default(),
            idempotency_window: Duration::from_secs(600),
            idempotency_max_keys: 200_000,
        }
    }
}

impl Section for IngestConfig {
    fn check(&self) -> Result<(), Invalid> {
        duration_at_least(
            "flush-interval",
            self.flush_interval,
            Duration::from_millis(1),
        )?;
        at_least("max-concurrent-uploads", self.max_concurrent_uploads, 1)?;
        duration_at_least(
            "idempotency-window",
            self.idempotency_window,
            Duration::from_secs(1),
        )?;
        at_least("idempotency-max-keys", self.idempotency_max_keys, 1)
    }
}

impl IngestConfig {
    /// Defaults for a hot tier in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            ..Self::default()
        }
    }
}
