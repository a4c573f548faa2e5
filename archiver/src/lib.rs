//! The archiver: writes the committed records of topics with `archive=true` as Parquet files
//! under `archive/<topic>/date=YYYY-MM-DD/hour=HH/<partition>-<first>-<last>.parquet`, lists
//! them in the quorum (the archived-through offset retention waits for), publishes a manifest
//! and Iceberg table metadata, and serves archived offsets to the read path once segments
//! expire ([`ArchiveReader`]).
//!
//! Per partition, under a lease in the quorum, the archiver
//!
//! 1. plans the next file from the extents after the archived-through offset: up to
//!    `archive.file.bytes`, cut where record time enters a new hour, and written once the file
//!    is full, the hour is over, or its oldest record is `archive.interval.ms` old (at once when
//!    asked through `POST /v1/topics/{topic}/archive`);
//! 2. records the plan (key and offset span) in the quorum, writes the file (one multipart
//!    upload: the object appears whole or not at all) and commits it, which raises the
//!    archived-through offset.
//!
//! A restarted archiver finds its plan and writes the same key again, so a range is never
//! archived twice under two names, and the manifest lists committed files only.

mod avro;
pub mod iceberg;
mod manifest;
mod read;
pub mod schema;
mod write;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use strata_cache::ReadPath;
use strata_core::background::{self, Demands, Tick, Wake, each_partition};
use strata_core::clock::Clock;
use strata_core::ids::{Incarnation, Offset, PartitionId};
use strata_core::keys::archive_key;
use strata_core::meta::jobs::{self, ARCHIVE_JOB, ArchivePlan, JobLease, JobLeases};
use strata_core::meta::{MetaError, MetaStore, TopicInfo};
use strata_core::settings::{self, Invalid, Section, duration_at_least, size_between};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use manifest::{MANIFEST_VERSION, Manifest, ManifestFile};
pub use read::ArchiveReader;

/// How the archiver works: the `[archiver]` section of the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArchiverConfig {
    /// This process's writer incarnation (the lease holder).
    #[serde(skip)]
    pub node: Incarnation,
    /// Time between background passes over every archived partition.
    #[serde(with = "settings::duration")]
    pub interval: Duration,
    /// Largest row group, in encoded bytes (row groups are the unit the read path reads).
    #[serde(with = "settings::size")]
    pub row_group_bytes: u64,
    /// zstd level of the Parquet pages.
    pub zstd_level: i32,
    /// Raw record bytes per second the archiver reads and writes, at most (0: unlimited).
    #[serde(with = "settings::size")]
    pub bytes_per_sec: u64,
    /// Lease lifetime; renewed while a file is written.
    #[serde(skip)]
    pub lease_ttl: Duration,
    /// The bucket root as engines reach it (`s3://bucket/prefix`, `file:///path`): the
    /// Iceberg metadata names files by absolute URI.
    #[serde(skip)]
    pub location: String,
}

impl Default for ArchiverConfig {
    fn default() -> Self {
        Self {
            node: Incarnation::default(),
            interval: Duration::from_secs(30),
            row_group_bytes: 8 << 20,
            zstd_level: 3,
            bytes_per_sec: 64 << 20,
            lease_ttl: Duration::from_secs(60),
            location: "memory://".into(),
        }
    }
}

impl Section for ArchiverConfig {
    fn check(&self) -> Result<(), Invalid> {
        duration_at_least("interval", self.interval, Duration::from_millis(1))?;
        size_between("row-group-bytes", self.row_group_bytes, 64 << 10, 1 << 30)?;
        if !(1..=19).contains(&self.zstd_level) {
            return Err(Invalid::new(
                "zstd-level",
                "must be a zstd level from 1 to 19",
            ));
        }
        Ok(())
    }
}

impl ArchiverConfig {
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
pub struct ArchiverStats {
    /// Parquet files written and committed.
    pub files: AtomicU64,
    /// Rows (records) written.
    pub rows: AtomicU64,
    /// Raw record bytes archived.
    pub raw_bytes: AtomicU64,
    /// Parquet bytes written.
    pub bytes: AtomicU64,
    /// Records whose JSON value did not fit the projection (kept, with nulls).
    pub misfits: AtomicU64,
    /// Commits refused because the lease was lost or the plan changed.
    pub conflicts: AtomicU64,
}

/// Files a background turn writes to one partition before the next partition's turn.
pub const FILES_PER_TURN: u64 = 4;

/// The counters as Prometheus metrics: name, help, and where the value is.
pub const COUNTERS: strata_core::stats::Table<ArchiverStats> = &[
    (
        "strata_archiver_files_total",
        "Parquet files the archiver wrote and committed",
        |s| &s.files,
    ),
    (
        "strata_archiver_rows_total",
        "Records written to the Parquet archive",
        |s| &s.rows,
    ),
    (
        "strata_archiver_raw_bytes_total",
        "Raw record bytes (keys, values, headers) archived",
        |s| &s.raw_bytes,
    ),
    (
        "strata_archiver_bytes_total",
        "Parquet bytes written",
        |s| &s.bytes,
    ),
    (
        "strata_archiver_projection_misfits_total",
        "Records whose JSON value did not fit the topic's projection (kept with nulls)",
        |s| &s.misfits,
    ),
    (
        "strata_archiver_conflicts_total",
        "Archive commits refused because the lease was lost or the plan changed",
        |s| &s.conflicts,
    ),
];

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// What archiving did to one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionArchiveReport {
    /// Partition.
    pub partition: u32,
    /// Last offset archived, if any.
    pub archived_through: Option<i64>,
    /// Files written by this call.
    pub files_written: u64,
    /// A background turn stopped with files still due (the next turn goes on at once).
    #[serde(skip)]
    pub more: bool,
}

/// The archiver of one node.
#[derive(Debug)]
pub struct Archiver {
    meta: Arc<dyn MetaStore>,
    store: Arc<dyn ObjectStore>,
    read: ReadPath,
    clock: Arc<dyn Clock>,
    config: ArchiverConfig,
    stats: Arc<ArchiverStats>,
    leases: JobLeases,
    publish_leases: JobLeases,
    /// Per topic, what this node's last manifest listed.
    published: Mutex<HashMap<String, manifest::Published>>,
    /// On-demand runs (`POST …/archive`), served by this node's background loop.
    demands: Demands<String, Result<Vec<PartitionArchiveReport>, ArchiveError>>,
}

/// The lease a partition job holds, renewed as it goes.
pub(crate) struct Job<'a> {
    pub(crate) topic: &'a TopicInfo,
    pub(crate) partition: PartitionId,
    pub(crate) lease: JobLease<'a>,
}

impl Archiver {
    /// Creates an archiver reading records through `read` and writing to `store`.
    pub fn new(
        meta: Arc<dyn MetaStore>,
        store: Arc<dyn ObjectStore>,
        read: ReadPath,
        clock: Arc<dyn Clock>,
        config: ArchiverConfig,
    ) -> Self {
        let leases = JobLeases::new(meta.clone(), ARCHIVE_JOB, config.node, config.lease_ttl);
        let publish_leases = JobLeases::new(
            meta.clone(),
            manifest::PUBLISH_JOB,
            config.node,
            config.lease_ttl,
        );
        Self {
            meta,
            store,
            read,
            clock,
            config,
            stats: Arc::new(ArchiverStats::default()),
            leases,
            publish_leases,
            published: Mutex::new(HashMap::new()),
            demands: Demands::default(),
        }
    }

    /// Returns the counters.
    pub fn stats(&self) -> &Arc<ArchiverStats> {
        &self.stats
    }

    /// Returns the config.
    pub fn config(&self) -> &ArchiverConfig {
        &self.config
    }

    /// Archives everything committed to a topic at the time of the call, then publishes its
    /// manifest and table metadata. Fails with [`ArchiveError::Busy`] before writing anything
    /// if a partition is being archived elsewhere.
    ///
    /// Where this node runs the archiver, its background loop serves the request between two
    /// partitions, so the two never race for a lease.
    pub async fn archive_topic(
        &self,
        name: &str,
    ) -> Result<Vec<PartitionArchiveReport>, ArchiveError> {
        let here = |name: String| async move { self.archive_topic_now(&name).await };
        self.demands.ask_or(name.to_string(), here).await
    }

    /// Serves the on-demand runs waiting.
    async fn serve_demands(&self) {
        let work = |name: String| async move { self.archive_topic_now(&name).await };
        self.demands.serve(work).await;
    }

    async fn archive_topic_now(
        &self,
        name: &str,
    ) -> Result<Vec<PartitionArchiveReport>, ArchiveError> {
        let topic = self.meta.topic(name).await?;
        if !topic.config.archive {
            return Err(ArchiveError::NotArchived {
                topic: name.to_string(),
            });
        }
        self.leases
            .check_idle(name, topic.partitions, self.clock.now_ms())
            .await?;
        let partitions = self.meta.partitions(name).await?;
        let mut reports = Vec::with_capacity(partitions.len());
        for p in &partitions {
            let until = Some(p.high_watermark);
            reports.push(self.archive_partition(&topic, p.partition, until).await?);
        }
        self.publish(&topic, true).await?;
        Ok(reports)
    }

    /// Archives one partition under its lease: with `until`, every offset below it (files
    /// written whatever their size); without, the files that are due.
    pub async fn archive_partition(
        &self,
        topic: &TopicInfo,
        partition: PartitionId,
        until: Option<Offset>,
    ) -> Result<PartitionArchiveReport, ArchiveError> {
        let lease = self
            .leases
            .claim(&topic.name, partition, self.clock.now_ms())
            .await?;
        let mut job = Job {
            topic,
            partition,
            lease,
        };
        let result = self.archive_files(&mut job, until).await;
        job.lease.release().await;
        if matches!(
            result,
            Err(ArchiveError::Meta(
                MetaError::Conflict { .. } | MetaError::LeaseLost { .. }
            ))
        ) {
            add(&self.stats.conflicts, 1);
        }
        result
    }

    /// Renews the job's lease when due.
    pub(crate) async fn renew(&self, job: &mut Job<'_>) -> Result<(), ArchiveError> {
        Ok(job.lease.renew(self.clock.now_ms()).await?)
    }

    async fn archive_files(
        &self,
        job: &mut Job<'_>,
        until: Option<Offset>,
    ) -> Result<PartitionArchiveReport, ArchiveError> {
        let topic = job.topic;
        let mut files_written = 0;
        let mut more = false;
        let archived_through = loop {
            if until.is_none() && files_written == FILES_PER_TURN {
                // Let the other partitions have their turn; the next pass goes on from here.
                more = true;
                break None;
            }
            let page =
                jobs::archive_files(self.meta.as_ref(), &topic.name, job.partition, Offset(0), 0)
                    .await?;
            let next = page.next_offset();
            let plan = match page.pending {
                // A file planned before a restart (or a lost lease): write that same key again.
                Some(plan) if plan.first_offset == next => plan,
                stale => {
                    if let Some(stale) = stale {
                        self.delete_quietly(&stale.key).await;
                    }
                    if until.is_some_and(|u| next >= u) || next >= page.high_watermark {
                        break page.archived_through;
                    }
                    let Some(plan) = self
                        .plan(
                            topic,
                            job.partition,
                            next,
                            page.high_watermark,
                            until.is_some(),
                        )
                        .await?
                    else {
                        break page.archived_through;
                    };
                    self.renew(job).await?;
                    jobs::plan_archive(
                        self.meta.as_ref(),
                        &job.lease.name(),
                        topic.id,
                        job.lease.token(),
                        plan.clone(),
                        self.clock.now_ms(),
                    )
                    .await?;
                    plan
                }
            };
            let file = self.write_file(job, &plan).await?;
            self.renew(job).await?;
            jobs::commit_archive(
                self.meta.as_ref(),
                &job.lease.name(),
                topic.id,
                job.lease.token(),
                file.clone(),
                self.clock.now_ms(),
            )
            .await?;
            add(&self.stats.files, 1);
            add(&self.stats.rows, file.rows);
            add(&self.stats.raw_bytes, file.raw_bytes);
            add(&self.stats.bytes, file.bytes);
            add(&self.stats.misfits, file.projection_misfits);
            files_written += 1;
            info!(topic = %topic.name, partition = job.partition.0, key = %file.key, rows = file.rows, bytes = file.bytes, "archived");
        };
        Ok(PartitionArchiveReport {
            partition: job.partition.0,
            archived_through: archived_through.map(|o| o.0),
            files_written,
            more,
        })
    }

    async fn delete_quietly(&self, key: &str) {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => warn!(key, error = %e, "could not delete an abandoned archive file"),
        }
    }

    /// Plans the next file from `next`: whole extents up to the topic's file size, cut where
    /// record time enters a new hour. `None` when nothing is due yet (`force` writes whatever
    /// is there).
    async fn plan(
        &self,
        topic: &TopicInfo,
        partition: PartitionId,
        next: Offset,
        high_watermark: Offset,
        force: bool,
    ) -> Result<Option<ArchivePlan>, ArchiveError> {
        const HOUR_MS: i64 = 3_600_000;
        let target = topic.config.archive_file_bytes.max(1);
        let mut from = next;
        let mut bytes = 0u64;
        let mut last = None;
        let mut first_ts = None;
        let mut cut = false;
        'pages: loop {
            let page = self
                .meta
                .extents(&topic.name, partition, from, 1000)
                .await?;
            let full = page.extents.len() == 1000;
            for e in page.extents.iter().filter(|e| e.last_offset >= next) {
                match first_ts {
                    None => first_ts = Some(e.min_timestamp),
                    Some(ts) => {
                        if e.min_timestamp.div_euclid(HOUR_MS) > ts.div_euclid(HOUR_MS)
                            || bytes + e.len > target
                        {
                            cut = true;
                            break 'pages;
                        }
                    }
                }
                bytes += e.len;
                last = Some(e.last_offset);
                if bytes >= target {
                    cut = true;
                    break 'pages;
                }
            }
            match page.extents.last() {
                Some(e) if full => from = e.last_offset.plus(1),
                _ => break,
            }
        }
        let now = self.clock.now_ms();
        let last = match last {
            Some(l) => l,
            // Compaction removed every record left; the file records the span, empty.
            None if next < high_watermark => Offset(high_watermark.0 - 1),
            None => return Ok(None),
        };
        let first_ts = first_ts.unwrap_or(now);
        let due = force || cut || now.saturating_sub(first_ts) >= topic.config.archive_interval_ms;
        if !due {
            return Ok(None);
        }
        Ok(Some(ArchivePlan {
            key: archive_key(&topic.name, partition, next, last, first_ts),
            first_offset: next,
            last_offset: last,
        }))
    }

    /// One background round: every partition of every archived topic, each for up to
    /// [`FILES_PER_TURN`] files; waiting on-demand runs are served between partitions. Says
    /// [`Tick::More`] when a partition stopped with files still due.
    pub async fn archive_round(&self, cancel: &CancellationToken) -> Result<Tick, ArchiveError> {
        let more = std::sync::atomic::AtomicBool::new(false);
        each_partition(
            "archiver",
            self.meta.as_ref(),
            cancel,
            |t| t.config.archive,
            |topic, p| {
                let more = &more;
                async move {
                    self.serve_demands().await;
                    let r = self.archive_partition(&topic, p, None).await?;
                    if r.more {
                        more.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok::<(), ArchiveError>(())
                }
            },
        )
        .await?;
        Ok(if more.into_inner() {
            Tick::More
        } else {
            Tick::Idle
        })
    }

    /// Archives until nothing is due, then publishes the manifests that are behind: what the
    /// background jobs do between two intervals, in one call.
    pub async fn run_once(&self, cancel: &CancellationToken) -> Result<(), ArchiveError> {
        while self.archive_round(cancel).await? == Tick::More && !cancel.is_cancelled() {}
        self.publish_behind().await
    }

    /// Publishes the manifest of every archived topic whose quorum record holds more than
    /// this node's last manifest listed (files committed here or elsewhere, or a publish that
    /// was skipped or failed).
    pub async fn publish_behind(&self) -> Result<(), ArchiveError> {
        for topic in self.meta.list_topics().await? {
            if !topic.config.archive {
                continue;
            }
            let archived: Vec<Option<Offset>> = match self.meta.partitions(&topic.name).await {
                Ok(parts) => parts.iter().map(|p| p.archived_through).collect(),
                Err(MetaError::TopicNotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            if self.manifest_behind(&topic, &archived)
                && let Err(e) = self.publish(&topic, false).await
            {
                warn!(topic = %topic.name, error = %e, "publishing the archive manifest failed");
            }
        }
        Ok(())
    }
}

/// Runs the archiver until `cancel`: a pass every `interval` that also serves on-demand runs
/// and goes on at once while files are due, and the manifest publisher, run after each pass
/// and every `interval`.
pub async fn run(archiver: Arc<Archiver>, cancel: CancellationToken) {
    let job = background::Job::new("archiver", archiver.config.interval);
    let publisher = background::Job::new("manifest publish", archiver.config.interval);
    let publish = publisher.trigger();
    archiver.demands.open(job.trigger());
    let passes = job.run(cancel.clone(), |cancel, why| {
        let (archiver, publish) = (archiver.clone(), publish.clone());
        async move {
            archiver.serve_demands().await;
            if why == Wake::Triggered {
                return Ok(Tick::Idle);
            }
            let tick = archiver.archive_round(&cancel).await;
            if !matches!(tick, Ok(Tick::More)) {
                publish.fire();
            }
            tick
        }
    });
    let publishes = publisher.run(cancel.clone(), |_, _| {
        let archiver = archiver.clone();
        async move { archiver.publish_behind().await.map(|()| Tick::Idle) }
    });
    tokio::join!(passes, publishes);
    archiver.demands.close();
}

mod error;
pub use error::ArchiveError;

#[cfg(test)]
mod tests;
