//! Reading runs of extents and writing them back as one segment, swapped in atomically.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use strata_cache::BlockCache;
use strata_core::batch::{EncodedBatch, UNASSIGNED, decode_header, encode_batch, with_base_offset};
use strata_core::frame::frames;
use strata_core::ids::Offset;
use strata_core::keys::merged_segment_key;
use strata_core::meta::jobs::{self, ExtentRef, NewObject, Rewrite};
use strata_core::meta::{Extent, MetaError};
use strata_core::object::{ObjectBuilder, decode_section};
use strata_core::record::{Record, StoredRecord};
use tracing::{debug, info};

use crate::rules::{self, KeyMap};
use crate::{CompactError, Compactor, CompactorStats, Job, Loaded};

/// Extents up to this size are read through the block cache: small extents are pieces of
/// small flush objects (a slow trickle over many partitions), where one GET per extent would
/// cost more than the PUT of the flush; larger ones (fast partitions) are read with their own
/// ranged GET, which keeps big transient cache blocks out of the compactor's memory.
const CACHED_EXTENT_MAX: u64 = 256 * 1024;

/// Records per output batch are cut at this many raw bytes.
const BATCH_BYTES: usize = 1024 * 1024;
/// A segment is registered in the quorum as extents of about this many bytes, so a fetch from
/// the middle of a large segment reads and checks a few MiB, not the whole segment. The object
/// stays one (one GET per cache block for all of them).
const EXTENT_BYTES: u64 = 4 * 1024 * 1024;

/// Extent bytes already read, by (object, start).
pub(crate) type Prefetched = HashMap<(String, u64), Bytes>;

/// Reads (unless already read) and checks one extent: every frame's CRC and its record count,
/// and, with `decode`, its records (returned). Extents of shared flush objects come through
/// `cache` when there is one; a cached copy that fails its checks is dropped and the extent is
/// read again from the bucket.
async fn read_extent(
    store: Arc<dyn ObjectStore>,
    cache: Option<Arc<BlockCache>>,
    e: Extent,
    read: Option<Bytes>,
    decode: bool,
) -> Result<(Extent, Bytes, Vec<StoredRecord>), CompactError> {
    let direct = || async {
        store
            .get_range(&Path::from(e.object.as_str()), e.start..e.start + e.len)
            .await
    };
    if let Some(b) = read {
        return check_extent(e, b, decode);
    }
    let cache = cache.filter(|_| {
        e.len <= CACHED_EXTENT_MAX && !strata_core::keys::is_merged_segment_key(&e.object)
    });
    if let Some(c) = cache
        && let Ok(Some((block, _))) = c.read(&e.object, e.start, e.len, true).await
    {
        // A copy, not a slice: a slice would keep the whole cached block (up to
        // cache-block-bytes) alive for as long as a run holds the extent.
        let bytes = Bytes::copy_from_slice(&block);
        drop(block);
        return match check_extent(e.clone(), bytes, decode) {
            Ok(r) => Ok(r),
            Err(_) => {
                c.evict(&e.object, e.start, e.len);
                check_extent(e.clone(), direct().await?, decode)
            }
        };
    }
    check_extent(e.clone(), direct().await?, decode)
}

/// Checks one extent's bytes (see [`read_extent`]).
fn check_extent(
    e: Extent,
    bytes: Bytes,
    decode: bool,
) -> Result<(Extent, Bytes, Vec<StoredRecord>), CompactError> {
    let corrupt = |reason: String| CompactError::Corrupt {
        object: e.object.clone(),
        reason,
    };
    if !decode {
        let mut count = 0u64;
        for body in frames(&bytes) {
            let body = body.map_err(|f| corrupt(f.to_string()))?;
            count += u64::from(
                decode_header(body)
                    .map_err(|f| corrupt(f.to_string()))?
                    .record_count,
            );
        }
        if count != e.record_count {
            return Err(corrupt(format!(
                "extent {}..={} should hold {} records, its batches hold {count}",
                e.base_offset, e.last_offset, e.record_count
            )));
        }
        return Ok((e, bytes, Vec::new()));
    }
    let records = decode_section(&bytes, e.base_offset).map_err(|f| corrupt(f.to_string()))?;
    if records.len() as u64 != e.record_count
        || records
            .iter()
            .any(|r| r.offset < e.base_offset || r.offset > e.last_offset)
    {
        return Err(corrupt(format!(
            "extent {}..={} should hold {} records, found {}",
            e.base_offset,
            e.last_offset,
            e.record_count,
            records.len()
        )));
    }
    Ok((e, bytes, records))
}

impl Compactor {
    /// Reads the extents of `run` in order, a few at a time.
    fn read_run(
        &self,
        run: &[Extent],
        prefetched: &Prefetched,
        decode: bool,
    ) -> impl futures::Stream<Item = Result<(Extent, Bytes, Vec<StoredRecord>), CompactError>>
    + Send
    + 'static {
        let reads: Vec<_> = run
            .iter()
            .map(|e| {
                let read = prefetched.get(&(e.object.clone(), e.start)).cloned();
                read_extent(
                    self.store.clone(),
                    self.cache.clone(),
                    e.clone(),
                    read,
                    decode,
                )
            })
            .collect();
        futures::stream::iter(reads).buffered(self.config.max_in_flight.max(1))
    }

    /// Compacts the cleanable range if it is dirty enough (Kafka's default
    /// `min.cleanable.dirty.ratio` of 0.5, or any dirt at all when forced). Returns the records
    /// removed and whether anything changed.
    pub(crate) async fn compact(
        &self,
        job: &mut Job<'_>,
        state: &Loaded,
        force: bool,
        now: i64,
    ) -> Result<(u64, bool), CompactError> {
        let config = &job.topic.config;
        let end = rules::first_uncleanable(&state.extents, config, now);
        let cleanable = &state.extents[..end];
        let total: u64 = cleanable.iter().map(|e| e.len).sum();
        let dirty: u64 = cleanable
            .iter()
            .filter(|e| e.last_offset >= state.cleaned_through)
            .map(|e| e.len)
            .sum();
        if dirty == 0 || (!force && dirty * 2 < total) {
            return Ok((0, false));
        }
        // Pass 1: the latest offset of every key, keeping the bytes when they fit in a run.
        let keep_bytes = total <= self.config.run_bytes;
        let mut prefetched = Prefetched::new();
        let mut map = KeyMap::default();
        let mut mapped = 0;
        let mut reads = self.read_run(cleanable, &prefetched, true);
        while let Some((e, bytes, records)) = reads.try_next().await? {
            for r in &records {
                map.observe(r);
            }
            if keep_bytes {
                prefetched.insert((e.object.clone(), e.start), bytes);
            }
            mapped += 1;
            if map.bytes() > self.config.key_map_bytes {
                break;
            }
        }
        drop(reads);
        let cleanable = &cleanable[..mapped];
        let horizon = rules::tombstone_horizon(config, now);
        let target = self.target(job.topic);
        let mut removed = 0;
        let mut changed = false;
        for chunk in rules::chunks(cleanable, target) {
            let through = cleanable[chunk.end - 1].last_offset.plus(1);
            let (r, c) = self
                .rewrite(
                    job,
                    &cleanable[chunk],
                    Some((&map, horizon)),
                    Some(through),
                    &prefetched,
                )
                .await?;
            removed += r;
            changed |= c;
        }
        if removed > 0 {
            info!(topic = %job.topic.name, partition = job.partition.0, removed, keys = map.len(), "compacted");
        }
        Ok((removed, changed))
    }

    /// Rewrites `run` (consecutive current extents) as one segment, keeping the records
    /// `filter` keeps (all without one), and swaps it in. Returns the records removed and
    /// whether the partition changed (a single extent that keeps everything is left alone).
    pub(crate) async fn rewrite(
        &self,
        job: &mut Job<'_>,
        run: &[Extent],
        filter: Option<(&KeyMap, i64)>,
        cleaned_through: Option<Offset>,
        prefetched: &Prefetched,
    ) -> Result<(u64, bool), CompactError> {
        let topic = job.topic;
        let input: u64 = run.iter().map(|e| e.len).sum();
        let mut builder = ObjectBuilder::new(
            self.config.node,
            job.lease.token().epoch,
            self.clock.now_ms(),
            input as usize,
        );
        let mut out = Output::default();
        let mut removed = 0u64;
        let started = tokio::time::Instant::now();
        let mut reads = self.read_run(run, prefetched, filter.is_some());
        while let Some((e, bytes, records)) = reads.try_next().await? {
            if filter.is_none() {
                // A merge keeps every record: batches are copied as they are, ingest batches
                // only get their absolute base offset, nothing is decompressed.
                out.copy_batches(&e, &bytes, &mut builder)?;
                continue;
            }
            for r in records {
                if filter.is_some_and(|(map, horizon)| !map.keeps(&r, horizon)) {
                    removed += 1;
                    continue;
                }
                out.push(r);
                if out.raw >= BATCH_BYTES {
                    out.flush(job, &mut builder)?;
                }
            }
        }
        drop(reads);
        out.flush(job, &mut builder)?;
        if removed == 0 && run.len() == 1 {
            return Ok((0, false));
        }
        let mut extents = Vec::new();
        let mut objects = Vec::new();
        if let (Some(first), Some(last)) = (out.first, out.last) {
            let (bytes, sections) = builder.finish();
            let key = merged_segment_key(
                &topic.name,
                job.partition,
                first,
                last,
                job.lease.token().epoch,
                job.objects,
            );
            job.objects += 1;
            let size = bytes.len() as u64;
            self.store
                .put(&Path::from(key.as_str()), PutPayload::from(bytes))
                .await?;
            let section_start = sections.first().map_or(0, |s| s.start);
            for p in out.pieces.drain(..) {
                extents.push(Extent {
                    base_offset: p.first,
                    last_offset: p.last,
                    record_count: p.records,
                    object: key.clone(),
                    start: section_start + p.start,
                    len: p.len,
                    min_timestamp: p.min_timestamp,
                    max_timestamp: p.max_timestamp,
                });
            }
            objects.push(NewObject { key, size });
            CompactorStats::add(&self.stats.bytes_written, size);
            CompactorStats::add(&self.stats.segments_written, 1);
        }
        self.renew(job).await?;
        let rewrite = Rewrite {
            topic: topic.name.clone(),
            topic_id: topic.id,
            partition: job.partition,
            lease: job.lease.token(),
            replaced: run.iter().map(ExtentRef::from).collect(),
            extents,
            objects,
            cleaned_through,
        };
        jobs::rewrite(self.meta.as_ref(), rewrite, self.clock.now_ms())
            .await
            .map_err(|e| match e {
                MetaError::Condemned { .. } => CompactError::Meta(MetaError::Conflict {
                    topic: topic.name.clone(),
                    partition: job.partition.0,
                }),
                e => CompactError::Meta(e),
            })?;
        CompactorStats::add(&self.stats.bytes_merged, input);
        jobs::pace(self.config.bytes_per_sec, input, started).await;
        CompactorStats::add(&self.stats.records_removed, removed);
        debug!(topic = %topic.name, partition = job.partition.0, extents = run.len(), input, removed, "rewrote a run");
        Ok((removed, true))
    }
}

/// The kept records of a rewrite, cut into batches with absolute offsets, and the batches
/// grouped into extents of about [`EXTENT_BYTES`].
#[derive(Default)]
struct Output {
    records: Vec<Record>,
    offsets: Vec<Offset>,
    raw: usize,
    first: Option<Offset>,
    last: Option<Offset>,
    kept: u64,
    /// Bytes of batches written so far.
    written: u64,
    pieces: Vec<Piece>,
}

/// Consecutive batches of a segment registered as one extent.
struct Piece {
    first: Offset,
    last: Offset,
    records: u64,
    start: u64,
    len: u64,
    min_timestamp: i64,
    max_timestamp: i64,
}

impl Output {
    fn push(&mut self, r: StoredRecord) {
        self.raw += r.record.size();
        self.first.get_or_insert(r.offset);
        self.last = Some(r.offset);
        self.kept += 1;
        self.offsets.push(r.offset);
        self.records.push(r.record);
    }

    /// Copies the batches of extent `e` (bytes already checked) into the segment.
    fn copy_batches(
        &mut self,
        e: &Extent,
        bytes: &[u8],
        builder: &mut ObjectBuilder,
    ) -> Result<(), CompactError> {
        let corrupt = |reason: String| CompactError::Corrupt {
            object: e.object.clone(),
            reason,
        };
        let bodies = frames(bytes)
            .collect::<Result<Vec<&[u8]>, _>>()
            .map_err(|f| corrupt(f.to_string()))?;
        let headers = bodies
            .iter()
            .map(|b| decode_header(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|f| corrupt(f.to_string()))?;
        let mut next = e.base_offset;
        for (i, (body, h)) in bodies.iter().zip(&headers).enumerate() {
            if h.record_count == 0 {
                continue;
            }
            let (first, last) = if h.base_offset == UNASSIGNED {
                (next, next.plus(u64::from(h.record_count) - 1))
            } else {
                // Compacted batches may have gaps: the batch ends before the next one starts.
                let last = headers
                    .get(i + 1)
                    .filter(|n| n.base_offset != UNASSIGNED)
                    .map_or(e.last_offset, |n| Offset(n.base_offset - 1));
                (Offset(h.base_offset), last)
            };
            next = last.plus(1);
            let batch = with_base_offset(body, first.0).map_err(|f| corrupt(f.to_string()))?;
            builder.push(&batch).map_err(|f| corrupt(f.to_string()))?;
            self.first.get_or_insert(first);
            self.last = Some(last);
            self.kept += u64::from(h.record_count);
            self.note_batch(&batch, first, last);
        }
        Ok(())
    }

    /// Adds a batch written to the segment to the current extent, or starts a new one.
    fn note_batch(&mut self, batch: &EncodedBatch, first: Offset, last: Offset) {
        let (len, h) = (batch.frame.len() as u64, batch.header);
        match self.pieces.last_mut() {
            Some(p) if p.len < EXTENT_BYTES => {
                p.last = last;
                p.records += u64::from(h.record_count);
                p.len += len;
                p.min_timestamp = p.min_timestamp.min(h.min_timestamp);
                p.max_timestamp = p.max_timestamp.max(h.max_timestamp);
            }
            _ => self.pieces.push(Piece {
                first,
                last,
                records: u64::from(h.record_count),
                start: self.written,
                len,
                min_timestamp: h.min_timestamp,
                max_timestamp: h.max_timestamp,
            }),
        }
        self.written += len;
    }

    fn flush(&mut self, job: &Job<'_>, builder: &mut ObjectBuilder) -> Result<(), CompactError> {
        let Some(base) = self.offsets.first().copied() else {
            return Ok(());
        };
        let deltas: Vec<u64> = self.offsets.iter().map(|o| o.since(base)).collect();
        let corrupt = |reason: String| CompactError::Corrupt {
            object: "(segment being written)".into(),
            reason,
        };
        let batch = encode_batch(
            job.topic.id,
            job.partition,
            base.0,
            &self.records,
            Some(&deltas),
            job.topic.config.compression,
        )
        .map_err(|e| corrupt(e.to_string()))?;
        builder.push(&batch).map_err(|e| corrupt(e.to_string()))?;
        let last = *self.offsets.last().expect("not empty");
        self.note_batch(&batch, base, last);
        self.records.clear();
        self.offsets.clear();
        self.raw = 0;
        Ok(())
    }
}
