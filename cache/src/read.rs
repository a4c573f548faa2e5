//! [`ReadPath::fetch`]: offsets to records, whichever tier holds them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use strata_core::api::{ApiError, codes};
use strata_core::error::FormatError;
use strata_core::ids::{Offset, PartitionId};
use strata_core::meta::{Extent, ExtentPage, MetaError, MetaStore};
use strata_core::object::decode_section_from;
use strata_core::record::StoredRecord;
use thiserror::Error;
use tokio::time::Instant;
use tracing::{error, warn};

use crate::LocalSource;
use crate::blocks::{BlockCache, Served};

/// Where a fetch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At this offset.
    Offset(Offset),
    /// At the log start offset.
    Earliest,
    /// At the high watermark (only records committed from now on).
    Latest,
    /// At the first record whose timestamp is at or after this (ms).
    Timestamp(i64),
}

/// Per-fetch knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchOptions {
    /// Where to start.
    pub start: StartAt,
    /// Most records to return.
    pub max_records: usize,
    /// Most record bytes to return; a first record larger than this is returned alone, so a
    /// consumer always makes progress.
    pub max_bytes: u64,
    /// How long to wait at the high watermark for new records.
    pub max_wait: Duration,
}

impl From<StartAt> for FetchOptions {
    fn from(start: StartAt) -> Self {
        Self {
            start,
            max_records: 500,
            max_bytes: 1024 * 1024,
            max_wait: Duration::ZERO,
        }
    }
}

/// The records a fetch returns and the partition's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResult {
    /// Records in offset order.
    pub records: Vec<StoredRecord>,
    /// Offset to fetch next.
    pub next_offset: Offset,
    /// One past the last committed offset.
    pub high_watermark: Offset,
    /// First readable offset.
    pub log_start_offset: Offset,
}

/// A fetch failure.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The metadata store refused or failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The offset is outside the partition's readable range.
    #[error(
        "offset {offset} is out of range: readable offsets are {log_start} to {high_watermark}"
    )]
    OutOfRange {
        offset: Offset,
        log_start: Offset,
        high_watermark: Offset,
    },
    /// The object store failed.
    #[error("object store read of {object} failed: {source}")]
    Store {
        object: String,
        #[source]
        source: object_store::Error,
    },
    /// Stored bytes failed their checks.
    #[error("stored data in {object} is corrupt: {source}")]
    Corrupt {
        object: String,
        #[source]
        source: FormatError,
    },
    /// An archive file could not be read.
    #[error("archive file {object} could not be read: {reason}")]
    Archive { object: String, reason: String },
    /// A block fetch shared by several readers failed.
    #[error(transparent)]
    Shared(Arc<ReadError>),
    /// A block fetch task died.
    #[error("a block fetch failed: {0}")]
    Task(String),
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        api_error(&e)
    }
}

fn api_error(e: &ReadError) -> ApiError {
    let message = e.to_string();
    match e {
        ReadError::Meta(m) => m.clone().into(),
        ReadError::OutOfRange {
            log_start,
            high_watermark,
            ..
        } => ApiError::new(416, codes::OFFSET_OUT_OF_RANGE, message)
            .with("log_start_offset", log_start.0)
            .with("high_watermark", high_watermark.0),
        ReadError::Store { .. } | ReadError::Task(_) => {
            ApiError::unavailable(codes::STORE_UNAVAILABLE, message, 1)
        }
        ReadError::Corrupt { .. } | ReadError::Archive { .. } => {
            ApiError::new(500, codes::CORRUPT_DATA, message)
        }
        ReadError::Shared(inner) => api_error(inner),
    }
}

/// Records read from the Parquet archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePageRead {
    /// Records from the requested offset, in offset order (possibly none, when compaction had
    /// removed the rest of the file's span before it was archived).
    pub records: Vec<StoredRecord>,
    /// Offset to fetch next.
    pub next_offset: Offset,
}

/// The coldest tier: offsets that only the Parquet archive still holds (segments expired).
#[async_trait::async_trait]
pub trait ArchiveSource: Send + Sync + std::fmt::Debug + 'static {
    /// Reads records of a partition from offset `from` out of the archive file holding it,
    /// within the limits (a first record larger than `max_bytes` is returned alone). `None`
    /// when no archive file holds `from` or a later offset.
    async fn read(
        &self,
        topic: &str,
        partition: PartitionId,
        from: Offset,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Option<ArchivePageRead>, ReadError>;

    /// The first archived offset whose record timestamp is at or after `timestamp`, looking
    /// at the files that begin below `below` (the offsets the segments no longer hold).
    async fn offset_for_timestamp(
        &self,
        topic: &str,
        partition: PartitionId,
        timestamp: i64,
        below: Offset,
    ) -> Result<Option<Offset>, ReadError>;
}

/// Counters of the read path, for metrics.
#[derive(Debug, Default)]
pub struct ReadStats {
    /// Extent bytes served from the hot tier (this node wrote them).
    pub local_bytes: AtomicU64,
    /// Extent bytes served from the cache's memory tier.
    pub served_memory: AtomicU64,
    /// Extent bytes served from the cache's disk tier.
    pub served_disk: AtomicU64,
    /// Extent bytes that needed a block from the bucket.
    pub served_bucket: AtomicU64,
    /// Block bytes fetched from the object store.
    pub store_bytes: AtomicU64,
    /// Ranged GETs issued.
    pub store_gets: AtomicU64,
    /// Block lookups answered by the memory tier.
    pub cache_memory_hits: AtomicU64,
    /// Block lookups answered by the disk tier.
    pub cache_disk_hits: AtomicU64,
    /// Block lookups that went to the bucket.
    pub cache_misses: AtomicU64,
    /// Cached or local copies that failed their checks and were re-read from the bucket.
    pub local_corrupt: AtomicU64,
    /// Blocks fetched ahead of a sequential reader.
    pub read_ahead_blocks: AtomicU64,
    /// Cold reads waiting for admission right now.
    pub cold_queued: AtomicU64,
    /// Cold reads (GETs) in flight right now.
    pub cold_inflight: AtomicU64,
    /// Fetches parked at the high watermark right now.
    pub waiting: AtomicU64,
    /// Records served from the Parquet archive.
    pub archive_records: AtomicU64,
}

/// The read path of a node.
#[derive(Debug, Clone)]
pub struct ReadPath {
    meta: Arc<dyn MetaStore>,
    cache: Arc<BlockCache>,
    local: Option<Arc<dyn LocalSource>>,
    archive: Option<Arc<dyn ArchiveSource>>,
    stats: Arc<ReadStats>,
}

const EXTENTS_PER_PAGE: usize = 16;

impl ReadPath {
    /// Builds a read path over `meta` and the bucket behind `cache`; the cache first, then
    /// `local` (the hot tier of this node), then the bucket through the cache.
    pub fn new(
        meta: Arc<dyn MetaStore>,
        cache: Arc<BlockCache>,
        local: Option<Arc<dyn LocalSource>>,
    ) -> Self {
        let stats = cache.stats();
        Self {
            meta,
            cache,
            local,
            archive: None,
            stats,
        }
    }

    /// Serves offsets below the log start from the Parquet archive.
    pub fn with_archive(mut self, archive: Arc<dyn ArchiveSource>) -> Self {
        self.archive = Some(archive);
        self
    }

    /// Returns the block cache.
    pub fn cache(&self) -> &Arc<BlockCache> {
        &self.cache
    }

    /// Returns the read path's counters.
    pub fn stats(&self) -> Arc<ReadStats> {
        self.stats.clone()
    }

    /// Fetches committed records of one partition, waiting up to `max_wait` at the high
    /// watermark for new ones.
    pub async fn fetch(
        &self,
        topic: &str,
        partition: PartitionId,
        opts: FetchOptions,
    ) -> Result<FetchResult, ReadError> {
        let mut waiter = self.waiter(opts.max_wait);
        let start = self.resolve(topic, partition, opts.start).await?;
        loop {
            waiter.seen();
            let got = self.read_at(topic, partition, start, opts).await?;
            if !got.records.is_empty()
                || got.next_offset != start
                || !waiter.wait(std::future::pending()).await?
            {
                return Ok(got);
            }
        }
    }

    /// The one long-poll of every fetch API (the native fetch, the REST Proxy's records of
    /// many partitions), waiting up to `max_wait` from now. It subscribes to the quorum's
    /// changes at once, so no commit can slip between a read and the wait after it.
    pub fn waiter(&self, max_wait: Duration) -> Waiter {
        Waiter {
            changes: self.meta.changes(),
            deadline: Instant::now() + max_wait,
            waiting: self.stats.clone(),
        }
    }

    /// Reads what is committed at `start` now, without waiting: an empty page at the high
    /// watermark.
    async fn read_at(
        &self,
        topic: &str,
        partition: PartitionId,
        start: Offset,
        opts: FetchOptions,
    ) -> Result<FetchResult, ReadError> {
        let page = self
            .meta
            .extents(topic, partition, start, EXTENTS_PER_PAGE)
            .await?;
        let earliest = self.earliest(&page);
        if start < earliest || start > page.high_watermark {
            return Err(ReadError::OutOfRange {
                offset: start,
                log_start: earliest,
                high_watermark: page.high_watermark,
            });
        }
        if start < page.log_start_offset
            && let Some(archive) = &self.archive
            && let Some(read) = archive
                .read(
                    topic,
                    partition,
                    start,
                    opts.max_records.max(1),
                    opts.max_bytes,
                )
                .await?
        {
            self.stats
                .archive_records
                .fetch_add(read.records.len() as u64, Ordering::Relaxed);
            return Ok(FetchResult {
                records: read.records,
                next_offset: read.next_offset,
                high_watermark: page.high_watermark,
                log_start_offset: earliest,
            });
        }
        if start < page.high_watermark && !page.extents.is_empty() {
            return self.collect(topic, partition, start, page, opts).await;
        }
        Ok(FetchResult {
            records: Vec::new(),
            next_offset: start,
            high_watermark: page.high_watermark,
            log_start_offset: earliest,
        })
    }

    /// The first offset readable: the archive's, when this path reads the archive.
    fn earliest(&self, page: &ExtentPage) -> Offset {
        if self.archive.is_some() {
            page.earliest_offset()
        } else {
            page.log_start_offset
        }
    }

    async fn resolve(
        &self,
        topic: &str,
        partition: PartitionId,
        start: StartAt,
    ) -> Result<Offset, ReadError> {
        match start {
            StartAt::Offset(o) => Ok(o),
            StartAt::Earliest | StartAt::Latest => {
                let page = self.meta.extents(topic, partition, Offset(0), 0).await?;
                Ok(if start == StartAt::Earliest {
                    self.earliest(&page)
                } else {
                    page.high_watermark
                })
            }
            StartAt::Timestamp(ts) => {
                // Offsets only the archive holds come first.
                if let Some(archive) = &self.archive {
                    let head = self.meta.extents(topic, partition, Offset(0), 0).await?;
                    if head.earliest_offset() < head.log_start_offset
                        && let Some(o) = archive
                            .offset_for_timestamp(topic, partition, ts, head.log_start_offset)
                            .await?
                    {
                        return Ok(o);
                    }
                }
                let page = self
                    .meta
                    .extents_from_timestamp(topic, partition, ts, EXTENTS_PER_PAGE)
                    .await?;
                for extent in &page.extents {
                    let records = self
                        .read_extent(extent, true, extent.base_offset, usize::MAX)
                        .await?
                        .unwrap_or_default();
                    if let Some(r) = records.iter().find(|r| r.record.timestamp >= ts) {
                        return Ok(r.offset.max(page.log_start_offset));
                    }
                }
                Ok(page.high_watermark)
            }
        }
    }

    async fn collect(
        &self,
        topic: &str,
        partition: PartitionId,
        start: Offset,
        page: ExtentPage,
        opts: FetchOptions,
    ) -> Result<FetchResult, ReadError> {
        let mut records = Vec::new();
        let mut bytes = 0u64;
        let mut next = start;
        let max_records = opts.max_records.max(1);
        let mut high_watermark = page.high_watermark;
        let mut log_start_offset = self.earliest(&page);
        let mut extents = page.extents;
        'outer: loop {
            for extent in &extents {
                // The first extent may wait for a cold-read slot; later ones are read only if
                // admitted at once, else the fetch returns what it has.
                let wanted = max_records - records.len();
                let Some(read) = self
                    .read_extent(extent, records.is_empty(), next, wanted)
                    .await?
                else {
                    break 'outer;
                };
                // A read cut at the limit may leave records of this extent after it.
                let cut = read.len() >= wanted;
                for r in read {
                    if r.offset < next {
                        continue;
                    }
                    let size = r.record.size() as u64;
                    if records.len() >= max_records
                        || (!records.is_empty() && bytes + size > opts.max_bytes)
                    {
                        break 'outer;
                    }
                    bytes += size;
                    next = r.offset.plus(1);
                    records.push(r);
                }
                if cut {
                    break 'outer;
                }
                // Offsets of the extent that compaction removed are skipped too.
                next = next.max(extent.last_offset.plus(1));
            }
            if records.len() >= max_records || bytes >= opts.max_bytes {
                break;
            }
            let page = self
                .meta
                .extents(topic, partition, next, EXTENTS_PER_PAGE)
                .await?;
            high_watermark = page.high_watermark;
            log_start_offset = self.earliest(&page);
            if page.extents.is_empty() || next >= page.high_watermark {
                break;
            }
            extents = page.extents;
        }
        self.read_ahead(&extents, next);
        Ok(FetchResult {
            records,
            next_offset: next,
            high_watermark,
            log_start_offset,
        })
    }

    /// Starts fetching the blocks of the extents after `next`, for a sequential reader.
    fn read_ahead(&self, extents: &[Extent], next: Offset) {
        let mut limit = self.cache.read_ahead_blocks();
        for e in extents.iter().filter(|e| e.base_offset >= next) {
            if limit == 0 {
                break;
            }
            self.cache.prefetch(&e.object, e.start, e.len, &mut limit);
        }
    }

    /// Reads and decodes one extent: the cache, else the local copy, else the bucket through
    /// the cache. `None` when `wait` is false and the cold-read budget is spent.
    async fn read_extent(
        &self,
        extent: &Extent,
        wait: bool,
        from: Offset,
        limit: usize,
    ) -> Result<Option<Vec<StoredRecord>>, ReadError> {
        let (object, start, len) = (extent.object.as_str(), extent.start, extent.len);
        if let Some((bytes, served)) = self.cache.read_cached(object, start, len).await
            && let Ok(records) = self.decode(extent, &bytes, served, from, limit)
        {
            return Ok(Some(records));
        }
        if let Some(local) = &self.local {
            let (local, object, start, len) = (local.clone(), extent.object.clone(), start, len);
            let bytes = tokio::task::spawn_blocking(move || local.read(&object, start, len))
                .await
                .ok()
                .flatten();
            if let Some(bytes) = bytes {
                match decode_section_from(&bytes, extent.base_offset, from, limit) {
                    Ok(records) => {
                        self.stats
                            .local_bytes
                            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                        return Ok(Some(records));
                    }
                    Err(e) => {
                        self.stats.local_corrupt.fetch_add(1, Ordering::Relaxed);
                        warn!(object = %extent.object, error = %e, "local copy failed its checks; reading the bucket");
                    }
                }
            }
        }
        for _ in 0..2 {
            let Some((bytes, served)) = self.cache.read(object, start, len, wait).await? else {
                return Ok(None);
            };
            match self.decode(extent, &bytes, served, from, limit) {
                Ok(records) => return Ok(Some(records)),
                Err(source) if served == Served::Bucket => {
                    error!(object = %extent.object, start, error = %source, "corrupt data in the object store");
                    return Err(ReadError::Corrupt {
                        object: extent.object.clone(),
                        source,
                    });
                }
                // A cached copy failed and was evicted: read again.
                Err(_) => {}
            }
        }
        Err(ReadError::Corrupt {
            object: extent.object.clone(),
            source: FormatError::Truncated {
                what: "object range (cached copies kept failing)",
                at: start,
            },
        })
    }

    /// Decodes a section; a cached copy that fails is evicted so the caller reads again.
    fn decode(
        &self,
        extent: &Extent,
        bytes: &[u8],
        served: Served,
        from: Offset,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, FormatError> {
        let result = decode_section_from(bytes, extent.base_offset, from, limit);
        match &result {
            Ok(_) => {
                let counter = match served {
                    Served::Memory => &self.stats.served_memory,
                    Served::Disk => &self.stats.served_disk,
                    Served::Bucket => &self.stats.served_bucket,
                };
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            Err(e) if served != Served::Bucket => {
                self.stats.local_corrupt.fetch_add(1, Ordering::Relaxed);
                warn!(object = %extent.object, error = %e, "cached copy failed its checks; reading the bucket");
                self.cache.evict(&extent.object, extent.start, extent.len);
            }
            Err(_) => {}
        }
        result
    }
}

mod waiter;
pub use waiter::Waiter;

#[cfg(test)]
mod tests;
