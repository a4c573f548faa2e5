//! The compactor: per partition, under a lease in the quorum, it
//!
//! 1. enforces `cleanup.policy=delete` retention by raising `log_start_offset` past whole
//!    extents older than `retention.ms` or beyond `retention.bytes` (never past the archive);
//! 2. compacts `cleanup.policy=compact` topics: below the head (the newest extent and anything
//!    within `min.compaction.lag.ms`), keeps only the latest record per key, and drops
//!    tombstones older than `delete.retention.ms`; `compact,delete` does both (KIP-71);
//! 3. merges runs of small extents (pieces of shared ingest objects) into per-partition segment
//!    objects of up to `min(segment.bytes, run-bytes)`, with absolute offsets inside;
//!
//! and, across partitions, deletes objects no extent refers to once a grace period has passed,
//! and orphans (uploaded, never committed) after a longer one.
//!
//! Every change is one quorum command that applies only if the extents it replaces are still
//! current and the lease is still held, so a compactor killed at any step leaves a consistent
//! state: objects it uploaded but never swapped in are orphans the collector removes. Offsets
//! never change; a reader sees either the old extents or the new ones.

mod gc;
mod rewrite;
pub mod rules;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use strata_core::background::{self, Demands, Tick, Wake, each_partition};
use strata_core::clock::Clock;
use strata_core::ids::{Incarnation, Offset, PartitionId};
use strata_core::meta::jobs::{self, COMPACT_JOB, JobLease, JobLeases};
use strata_core::meta::{Extent, MetaError, MetaStore, TopicInfo};
use strata_core::settings::{self, Invalid, Section, at_least, duration_at_least, size_between};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use gc::GcReport;

/// How the compactor works: the `[compactor]` section of the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CompactorConfig {
    /// This process's writer incarnation (the lease holder).
    #[serde(skip)]
    pub node: Incarnation,
    /// Time between background passes over every partition.
    #[serde(with = "settings::duration")]
    pub interval: Duration,
    /// Largest segment the compactor writes, and so the most input it holds in memory for one
    /// rewrite (segments are `min(segment.bytes, run_bytes)`).
    #[serde(with = "settings::size")]
    pub run_bytes: u64,
    /// Bytes a background pass rewrites per partition before moving on.
    #[serde(with = "settings::size")]
    pub pass_bytes: u64,
    /// Object-store requests in flight per rewrite or collection.
    #[serde(rename = "requests-in-flight")]
    pub max_in_flight: usize,
    /// Bytes per second the compactor reads and rewrites, at most (0: unlimited), so merges
    /// never take the disk, network or cores from ingest.
    #[serde(with = "settings::size")]
    pub bytes_per_sec: u64,
    /// Lease lifetime; renewed while a pass runs.
    #[serde(skip)]
    pub lease_ttl: Duration,
    /// How long an unreferenced object stays for readers that were already reading it.
    #[serde(with = "settings::duration")]
    pub gc_grace: Duration,
    /// How old an uncommitted upload must be before it is treated as an orphan.
    #[serde(with = "settings::duration")]
    pub orphan_grace: Duration,
    /// A background merge starts once this many small extents are in a row (or half a segment).
    pub merge_min_extents: usize,
    /// Memory for the keys of one compaction (latest offset per key); a cleanable range with
    /// more keys is compacted in several passes.
    #[serde(skip)]
    pub key_map_bytes: u64,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        Self {
            node: Incarnation::default(),
            interval: Duration::from_secs(30),
            run_bytes: 64 << 20,
            pass_bytes: 512 << 20,
            max_in_flight: 4,
            bytes_per_sec: 64 << 20,
            lease_ttl: Duration::from_secs(60),
            gc_grace: Duration::from_secs(300),
            orphan_grace: Duration::from_secs(3600),
            merge_min_extents: 32,
            key_map_bytes: 64 << 20,
        }
    }
}

impl Section for CompactorConfig {
    fn check(&self) -> Result<(), Invalid> {
        duration_at_least("interval", self.interval, Duration::from_millis(1))?;
        size_between("run-bytes", self.run_bytes, 1 << 20, 1 << 30)?;
        at_least("requests-in-flight", self.max_in_flight, 1)?;
        at_least("merge-min-extents", self.merge_min_extents, 2)
    }
}

impl CompactorConfig {
    /// Defaults for the process with writer incarnation `node`.
    pub fn new(node: Incarnation) -> Self {
        Self {
            node,
            ..Self::default()
        }
    }
}

/// Counters, read by `/metrics`.
#[derive(Debug, Default)]
pub struct CompactorStats {
    /// Partition passes finished.
    pub passes: AtomicU64,
    /// Bytes of extents read and rewritten.
    pub bytes_merged: AtomicU64,
    /// Bytes of segments written.
    pub bytes_written: AtomicU64,
    /// Segment objects written.
    pub segments_written: AtomicU64,
    /// Records dropped by compaction (superseded values and expired tombstones).
    pub records_removed: AtomicU64,
    /// Offsets dropped by retention.
    pub records_expired: AtomicU64,
    /// Unreferenced objects deleted.
    pub objects_deleted: AtomicU64,
    /// Bytes of those objects.
    pub bytes_deleted: AtomicU64,
    /// Orphans (never committed uploads) deleted.
    pub orphans_deleted: AtomicU64,
    /// Swaps refused because the extents changed or the lease was lost.
    pub conflicts: AtomicU64,
}

/// The counters as Prometheus metrics: name, help, and where the value is.
pub const COUNTERS: strata_core::stats::Table<CompactorStats> = &[
    (
        "strata_compactor_partition_passes_total",
        "Partition passes the compactor finished",
        |s| &s.passes,
    ),
    (
        "strata_compactor_bytes_merged_total",
        "Stored bytes the compactor read and rewrote",
        |s| &s.bytes_merged,
    ),
    (
        "strata_compactor_bytes_written_total",
        "Bytes of merged segments written",
        |s| &s.bytes_written,
    ),
    (
        "strata_compactor_segments_written_total",
        "Merged segment objects written",
        |s| &s.segments_written,
    ),
    (
        "strata_compactor_records_removed_total",
        "Records compaction dropped (superseded values, expired tombstones)",
        |s| &s.records_removed,
    ),
    (
        "strata_compactor_records_expired_total",
        "Offsets retention moved the log start past",
        |s| &s.records_expired,
    ),
    (
        "strata_compactor_conflicts_total",
        "Swaps refused because the extents changed or the lease was lost",
        |s| &s.conflicts,
    ),
    (
        "strata_gc_objects_deleted_total",
        "Unreferenced objects deleted after the grace period",
        |s| &s.objects_deleted,
    ),
    (
        "strata_gc_bytes_deleted_total",
        "Bytes of unreferenced objects deleted",
        |s| &s.bytes_deleted,
    ),
    (
        "strata_gc_orphans_deleted_total",
        "Uploads never committed, deleted after the orphan grace period",
        |s| &s.orphans_deleted,
    ),
];

impl CompactorStats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// What one pass did to one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionReport {
    /// Partition.
    pub partition: u32,
    /// Extents before the pass.
    pub extents_before: u64,
    /// Extents after it.
    pub extents_after: u64,
    /// Stored bytes before.
    pub bytes_before: u64,
    /// Stored bytes after.
    pub bytes_after: u64,
    /// Records compaction removed.
    pub records_removed: u64,
    /// Segments written.
    pub segments_written: u64,
    /// The partition's log start offset after the pass.
    pub log_start_offset: i64,
}

/// The compactor of one node.
#[derive(Debug)]
pub struct Compactor {
    meta: Arc<dyn MetaStore>,
    store: Arc<dyn ObjectStore>,
    /// Reads extents of shared flush objects through the node's block cache, when given.
    cache: Option<Arc<strata_cache::BlockCache>>,
    clock: Arc<dyn Clock>,
    config: CompactorConfig,
    stats: Arc<CompactorStats>,
    leases: JobLeases,
    /// On-demand passes (`POST …/compact`), served by this node's background loop.
    demands: Demands<String, Result<Vec<PartitionReport>, CompactError>>,
}

/// A partition's state as a pass sees it.
struct Loaded {
    extents: Vec<Extent>,
    log_start: Offset,
    high_watermark: Offset,
    cleaned_through: Offset,
    archived_through: Option<Offset>,
}

/// The lease a pass holds, renewed as it goes.
struct Job<'a> {
    topic: &'a TopicInfo,
    partition: PartitionId,
    lease: JobLease<'a>,
    objects: u32,
}

impl Compactor {
    /// Creates a compactor over the quorum and the bucket.
    pub fn new(
        meta: Arc<dyn MetaStore>,
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        config: CompactorConfig,
    ) -> Self {
        let leases = JobLeases::new(meta.clone(), COMPACT_JOB, config.node, config.lease_ttl);
        Self {
            meta,
            store,
            cache: None,
            clock,
            config,
            stats: Arc::new(CompactorStats::default()),
            leases,
            demands: Demands::default(),
        }
    }

    /// Reads small extents (up to 256 KiB) of shared flush objects through `cache` (the node's
    /// block cache): a flush object holds a piece of many partitions, and the cache fetches it
    /// with one GET (or not at all when this node uploaded it) for all of them, where a direct
    /// read costs one GET per extent. Larger extents and merged segments are read directly.
    pub fn with_cache(mut self, cache: Arc<strata_cache::BlockCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Returns the counters.
    pub fn stats(&self) -> &Arc<CompactorStats> {
        &self.stats
    }

    /// Returns the config.
    pub fn config(&self) -> &CompactorConfig {
        &self.config
    }

    /// Runs a full pass over every partition of a topic now (retention, compaction, and a
    /// merge of every run of small extents), then collects garbage past its grace period.
    /// Fails with [`CompactError::Busy`] before changing anything if a partition is being
    /// worked elsewhere.
    ///
    /// Where this node runs the compactor, its background loop serves the request between two
    /// partitions, so the two never race for a lease.
    pub async fn compact_topic(&self, name: &str) -> Result<Vec<PartitionReport>, CompactError> {
        let here = |name: String| async move { self.compact_topic_now(&name).await };
        self.demands.ask_or(name.to_string(), here).await
    }

    /// Serves the on-demand passes waiting.
    async fn serve_demands(&self) {
        let work = |name: String| async move { self.compact_topic_now(&name).await };
        self.demands.serve(work).await;
    }

    async fn compact_topic_now(&self, name: &str) -> Result<Vec<PartitionReport>, CompactError> {
        let topic = self.meta.topic(name).await?;
        self.leases
            .check_idle(name, topic.partitions, self.clock.now_ms())
            .await?;
        let mut reports = Vec::with_capacity(topic.partitions as usize);
        for p in 0..topic.partitions {
            reports.push(self.compact_partition(&topic, PartitionId(p), true).await?);
        }
        if let Err(e) = self.collect_garbage(false).await {
            warn!(error = %e, "garbage collection after an on-demand pass failed");
        }
        Ok(reports)
    }

    /// Runs one pass over a partition under its lease. `force` merges every run of small
    /// extents and compacts whatever is dirty, as an operator asking expects; the background
    /// pass waits for enough work to be worth it.
    pub async fn compact_partition(
        &self,
        topic: &TopicInfo,
        partition: PartitionId,
        force: bool,
    ) -> Result<PartitionReport, CompactError> {
        let lease = self
            .leases
            .claim(&topic.name, partition, self.clock.now_ms())
            .await?;
        let mut job = Job {
            topic,
            partition,
            lease,
            objects: 0,
        };
        let result = self.pass(&mut job, force).await;
        job.lease.release().await;
        if matches!(
            result,
            Err(CompactError::Meta(
                MetaError::Conflict { .. } | MetaError::LeaseLost { .. }
            ))
        ) {
            CompactorStats::add(&self.stats.conflicts, 1);
        }
        result
    }

    /// Renews the job's lease when due.
    async fn renew(&self, job: &mut Job<'_>) -> Result<(), CompactError> {
        Ok(job.lease.renew(self.clock.now_ms()).await?)
    }

    async fn load(&self, topic: &TopicInfo, partition: PartitionId) -> Result<Loaded, MetaError> {
        let info = self
            .meta
            .partitions(&topic.name)
            .await?
            .into_iter()
            .nth(partition.0 as usize)
            .ok_or_else(|| MetaError::PartitionNotFound {
                topic: topic.name.clone(),
                partition: partition.0,
                partitions: topic.partitions,
            })?;
        let mut extents = Vec::new();
        let mut from = Offset(0);
        let (log_start, high_watermark) = loop {
            let page = self
                .meta
                .extents(&topic.name, partition, from, 1000)
                .await?;
            let done = page.extents.len() < 1000;
            if let Some(last) = page.extents.last() {
                from = last.last_offset.plus(1);
            }
            extents.extend(page.extents);
            if done {
                break (page.log_start_offset, page.high_watermark);
            }
        };
        Ok(Loaded {
            extents,
            log_start,
            high_watermark,
            cleaned_through: info.cleaned_through,
            archived_through: info.archived_through,
        })
    }

    fn target(&self, topic: &TopicInfo) -> u64 {
        topic.config.segment_bytes.min(self.config.run_bytes).max(1)
    }

    async fn pass(&self, job: &mut Job<'_>, force: bool) -> Result<PartitionReport, CompactError> {
        let topic = job.topic;
        let config = &topic.config;
        let mut state = self.load(topic, job.partition).await?;
        let extents_before = state.extents.len() as u64;
        let bytes_before: u64 = state.extents.iter().map(|e| e.len).sum();
        let now = self.clock.now_ms();

        let start = rules::retention_start(
            &state.extents,
            state.log_start,
            state.high_watermark,
            config,
            state.archived_through,
            now,
        );
        if start > state.log_start {
            self.renew(job).await?;
            jobs::trim_log(
                self.meta.as_ref(),
                &topic.name,
                topic.id,
                job.partition,
                job.lease.token(),
                start,
                self.clock.now_ms(),
            )
            .await?;
            CompactorStats::add(&self.stats.records_expired, start.since(state.log_start));
            info!(topic = %topic.name, partition = job.partition.0, from = state.log_start.0, to = start.0, "retention raised the log start offset");
            state = self.load(topic, job.partition).await?;
        }

        let mut records_removed = 0;
        let segments_before = job.objects;
        if config.cleanup_policy.compact {
            let (removed, changed) = self.compact(job, &state, force, now).await?;
            records_removed += removed;
            if changed {
                state = self.load(topic, job.partition).await?;
            }
        }

        // On a compacted topic only the cleanable range merges: the head stays as it is.
        let mergeable = if config.cleanup_policy.compact {
            &state.extents[..rules::first_uncleanable(&state.extents, config, now)]
        } else {
            &state.extents[..]
        };
        let target = self.target(topic);
        let mut budget = self.config.pass_bytes;
        for run in rules::merge_runs(mergeable, target, self.config.merge_min_extents, force) {
            let bytes: u64 = state.extents[run.clone()].iter().map(|e| e.len).sum();
            if !force && bytes > budget {
                break;
            }
            budget = budget.saturating_sub(bytes);
            self.rewrite(job, &mergeable[run], None, None, &Default::default())
                .await?;
        }

        let after = self.load(topic, job.partition).await?;
        CompactorStats::add(&self.stats.passes, 1);
        Ok(PartitionReport {
            partition: job.partition.0,
            extents_before,
            extents_after: after.extents.len() as u64,
            bytes_before,
            bytes_after: after.extents.iter().map(|e| e.len).sum(),
            records_removed,
            segments_written: u64::from(job.objects - segments_before),
            log_start_offset: after.log_start.0,
        })
    }
}

/// Runs the compactor until `cancel`: a pass every `interval` (each partition of each topic in
/// turn, then garbage collection) that also serves on-demand passes, and an orphan scan every
/// sixth of the orphan grace period (at least every `interval`).
pub async fn run(compactor: Arc<Compactor>, cancel: CancellationToken) {
    let job = background::Job::new("compactor", compactor.config.interval);
    compactor.demands.open(job.trigger());
    let passes = job.run(cancel.clone(), |cancel, why| {
        let compactor = compactor.clone();
        async move {
            compactor.serve_demands().await;
            if why == Wake::Triggered {
                return Ok(Tick::Idle);
            }
            compactor.run_once(&cancel).await.map(|()| Tick::Idle)
        }
    });
    let every = (compactor.config.orphan_grace / 6).max(compactor.config.interval);
    let scans = background::Job::new("orphan scan", every)
        .at_once()
        .run(cancel.clone(), |_, _| {
            let compactor = compactor.clone();
            async move { compactor.scan_orphans().await.map(|_| Tick::Idle) }
        });
    tokio::join!(passes, scans);
    compactor.demands.close();
}

impl Compactor {
    /// One background round: every partition, then garbage collection. Waiting on-demand
    /// passes are served between partitions.
    pub async fn run_once(&self, cancel: &CancellationToken) -> Result<(), CompactError> {
        each_partition(
            "compactor",
            self.meta.as_ref(),
            cancel,
            |_| true,
            |topic, p| async move {
                self.serve_demands().await;
                let r = self.compact_partition(&topic, p, false).await?;
                if r.segments_written > 0 || r.extents_after != r.extents_before {
                    debug!(topic = %topic.name, partition = p.0, ?r, "compacted");
                }
                Ok::<(), CompactError>(())
            },
        )
        .await?;
        if cancel.is_cancelled() {
            return Ok(());
        }
        self.collect_garbage(false).await?;
        Ok(())
    }
}

mod error;
pub use error::CompactError;

#[cfg(test)]
mod tests;
