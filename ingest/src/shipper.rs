//! The shipper: uploads sealed flushes as objects (several at once) and commits them to the
//! quorum strictly in flush order, retrying both with backoff until they succeed or the node
//! stops. A flush not committed when the node stops stays sealed in the hot tier and is
//! shipped again, under the same key and with the same bytes, at the next start.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use strata_core::clock::Clock;
use strata_core::ids::Incarnation;
use strata_core::keys::segment_key;
use strata_core::meta::idempotency::{KeyRetention, KeyedRequest};
use strata_core::meta::writers::Fence;
use strata_core::meta::{MetaError, MetaStore, ObjectCommit};
use strata_core::object::Section;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::UploadObserver;
use crate::hot::FlushIndex;
use crate::plan::{build_object, keyed_requests, section_commits};
use crate::stats::IngestStats;
use crate::writer::{Committed, FlushError, FlushOffsets, SealedFlush};

/// What the shipper needs.
#[derive(Debug, Clone)]
pub struct ShipContext {
    /// This process's writer incarnation: it commits every flush, its own and those it adopted.
    pub by: Incarnation,
    /// Set when this process is fenced: nothing more is uploaded or committed.
    pub fence: Arc<Fence>,
    /// Whether the store refused a conditional create as unsupported (then objects are put
    /// unconditionally: their keys are unique anyway).
    pub no_conditional_put: Arc<std::sync::atomic::AtomicBool>,
    /// The bucket.
    pub store: Arc<dyn ObjectStore>,
    /// The quorum.
    pub meta: Arc<dyn MetaStore>,
    /// Time source for object footers.
    pub clock: Arc<dyn Clock>,
    /// Objects at least this large are uploaded in parts.
    pub multipart_threshold: u64,
    /// Counters.
    pub stats: Arc<IngestStats>,
    /// Stops retries when the node stops.
    pub cancel: CancellationToken,
    /// Told of every uploaded object.
    pub on_uploaded: Option<Arc<dyn UploadObserver>>,
    /// How long, and how many, `Idempotency-Key`s the quorum keeps.
    pub keep_keys: KeyRetention,
}

struct Uploaded {
    flush: SealedFlush,
    key: String,
    size: u64,
    sections: Vec<Section>,
    index: FlushIndex,
    /// The keyed requests of the object, with their numbers.
    requests: Vec<(u64, KeyedRequest)>,
}

/// Returns the delay before retry `attempt` (from 1): 100 ms doubling to 5 s, with jitter.
pub fn backoff(attempt: u32, seed: u64) -> Duration {
    backoff_to(attempt, seed, 5_000)
}

/// Like [`backoff`], doubling up to `cap_ms`.
pub fn backoff_to(attempt: u32, seed: u64, cap_ms: u64) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.min(9)).min(cap_ms);
    // A cheap hash of (seed, attempt) spreads retries of different flushes apart.
    let jitter = (seed ^ u64::from(attempt)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54;
    Duration::from_millis(base / 2 + jitter % (base / 2 + 1))
}

/// Runs the upload and commit stages until `sealed` closes and everything is committed, or
/// the node stops.
pub async fn run(
    ctx: ShipContext,
    mut sealed: mpsc::Receiver<SealedFlush>,
    committed: mpsc::UnboundedSender<Committed>,
    max_concurrent_uploads: usize,
) {
    let (tx, mut uploads) =
        mpsc::channel::<JoinHandle<Option<Uploaded>>>(max_concurrent_uploads.max(1));
    let uploader = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            while let Some(flush) = sealed.recv().await {
                let handle = tokio::spawn(upload(ctx.clone(), flush));
                if tx.send(handle).await.is_err() {
                    break;
                }
            }
        })
    };
    while let Some(handle) = uploads.recv().await {
        match handle.await {
            Ok(Some(u)) => commit(&ctx, u, &committed).await,
            Ok(None) => {}
            Err(e) => error!(error = %e, "upload task failed"),
        }
    }
    let _ = uploader.await;
}

/// Puts a flush object so that it is created, never overwritten: a conditional create where the
/// store supports it. An object already under the key was written by an earlier attempt (or,
/// re-shipped, by the writer that sealed the flush) from the same batches. If its size differs,
/// the hot tier lost batches since it was uploaded: the object in the bucket stands, and its
/// own sections are returned to be committed instead.
async fn put_object(
    ctx: &ShipContext,
    path: &Path,
    bytes: &Bytes,
) -> Result<Option<(Vec<Section>, u64)>, object_store::Error> {
    use std::sync::atomic::Ordering;
    if bytes.len() as u64 >= ctx.multipart_threshold {
        return put_multipart(ctx, path, bytes.clone()).await.map(|()| None);
    }
    if !ctx.no_conditional_put.load(Ordering::Relaxed) {
        let create = PutOptions::from(PutMode::Create);
        match ctx
            .store
            .put_opts(path, PutPayload::from(bytes.clone()), create)
            .await
        {
            Ok(_) => return Ok(None),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let theirs = ctx.store.get(path).await?.bytes().await?;
                if theirs.len() == bytes.len() {
                    return Ok(None);
                }
                let footer = strata_core::object::read_footer(&theirs).map_err(|e| {
                    object_store::Error::Generic {
                        store: "strata",
                        source: format!("{path} exists and is not a flush object: {e}").into(),
                    }
                })?;
                error!(object = %path, ours = bytes.len(), theirs = theirs.len(), "the object in the bucket differs from the hot tier's flush (lost batches?): committing the bucket's");
                return Ok(Some((footer.sections, theirs.len() as u64)));
            }
            Err(object_store::Error::NotImplemented { .. }) => {
                ctx.no_conditional_put.store(true, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    ctx.store
        .put(path, PutPayload::from(bytes.clone()))
        .await
        .map(|_| None)
}

/// How long one upload attempt may take before it is given up (and retried): 2 s plus the
/// object at 8 MiB/s. A store that accepts the connection and never answers holds a flush (and
/// the commits behind it) this long at most, not the HTTP client's 30 s.
pub fn attempt_timeout(size: u64) -> Duration {
    Duration::from_secs(2) + Duration::from_secs_f64(size as f64 / f64::from(8u32 << 20))
}

/// One upload attempt, hedged: if it has not finished after half its time, a second attempt
/// starts beside it (the object is created once: the conditional create or, without one, the
/// same bytes), and the first to finish wins. Objects uploaded in parts are not hedged.
async fn put_hedged(
    ctx: &ShipContext,
    path: &Path,
    bytes: &Bytes,
) -> Result<Option<(Vec<Section>, u64)>, object_store::Error> {
    let limit = attempt_timeout(bytes.len() as u64);
    let timed_out = || object_store::Error::Generic {
        store: "strata",
        source: format!("no answer from the object store within {limit:?}").into(),
    };
    let first = tokio::time::timeout(limit, put_object(ctx, path, bytes));
    tokio::pin!(first);
    if bytes.len() as u64 >= ctx.multipart_threshold {
        return first.await.unwrap_or_else(|_| {
            IngestStats::add(&ctx.stats.upload_timeouts, 1);
            Err(timed_out())
        });
    }
    tokio::select! {
        r = &mut first => {
            return r.unwrap_or_else(|_| {
                IngestStats::add(&ctx.stats.upload_timeouts, 1);
                Err(timed_out())
            });
        }
        _ = tokio::time::sleep(limit / 2) => {}
    }
    let second = tokio::time::timeout(limit, put_object(ctx, path, bytes));
    tokio::pin!(second);
    let mut last = None;
    let (mut first_done, mut second_done) = (false, false);
    while !(first_done && second_done) {
        let (r, hedge) = tokio::select! {
            r = &mut first, if !first_done => { first_done = true; (r, false) }
            r = &mut second, if !second_done => { second_done = true; (r, true) }
        };
        match r {
            Ok(Ok(v)) => {
                if hedge {
                    IngestStats::add(&ctx.stats.upload_hedges_won, 1);
                }
                return Ok(v);
            }
            Ok(Err(e)) => last = Some(e),
            Err(_) => IngestStats::add(&ctx.stats.upload_timeouts, 1),
        }
    }
    Err(last.unwrap_or_else(timed_out))
}

async fn upload(ctx: ShipContext, flush: SealedFlush) -> Option<Uploaded> {
    if let Some(reason) = ctx.fence.reason() {
        fail(flush, FlushError::Fenced(reason.to_string()));
        return None;
    }
    let (bytes, mut sections, mut index) =
        build_object(flush.writer, flush.seq, ctx.clock.now_ms(), &flush.batches);
    let key = segment_key(flush.writer, flush.seq);
    let path = Path::from(key.as_str());
    let mut requests = keyed_requests(&flush.batches);
    let mut attempt = 0u32;
    let mut size = bytes.len() as u64;
    let ours = loop {
        let result = put_hedged(&ctx, &path, &bytes).await;
        match result {
            Ok(None) => break true,
            Ok(Some((theirs, their_size))) => {
                sections = theirs;
                size = their_size;
                index = FlushIndex::default();
                requests.clear();
                break false;
            }
            Err(e) => {
                attempt += 1;
                IngestStats::add(&ctx.stats.upload_retries, 1);
                let failure = strata_core::storage::classify_write(&e);
                let wait = match failure {
                    strata_core::storage::Failure::Transient => {
                        warn!(object = %key, attempt, error = %e, "upload failed; retrying");
                        ctx.stats.store.failed(e.to_string(), false);
                        backoff(attempt, flush.seq.0)
                    }
                    strata_core::storage::Failure::Permanent(why) => {
                        // Retrying will not fix it, but the records must not be dropped: say
                        // what is wrong, and retry slowly in case an operator fixes it.
                        if attempt == 1 || attempt.is_multiple_of(10) {
                            error!(object = %key, attempt, error = %e, "the object store refuses uploads: {why}");
                        }
                        ctx.stats.store.failed(format!("{why}: {e}"), true);
                        backoff_to(attempt, flush.seq.0, 30_000)
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = ctx.cancel.cancelled() => {
                        fail(flush, FlushError::ShuttingDown);
                        return None;
                    }
                }
            }
        }
    };
    ctx.stats.store.ok();
    if ours && let Some(observer) = &ctx.on_uploaded {
        observer.uploaded(&key, &bytes);
    }
    IngestStats::add(&ctx.stats.objects_uploaded, 1);
    IngestStats::add(&ctx.stats.object_bytes, size);
    debug!(object = %key, bytes = size, sections = sections.len(), "uploaded");
    Some(Uploaded {
        flush,
        size,
        key,
        sections,
        index,
        requests,
    })
}

async fn put_multipart(
    ctx: &ShipContext,
    path: &Path,
    bytes: Bytes,
) -> Result<(), object_store::Error> {
    let upload = ctx.store.put_multipart(path).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024);
    writer.put(bytes);
    match writer.finish().await {
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn commit(ctx: &ShipContext, u: Uploaded, committed: &mpsc::UnboundedSender<Committed>) {
    let commit = ObjectCommit {
        writer: u.flush.writer,
        seq: u.flush.seq,
        by: Some(ctx.by),
        requests: u.requests.iter().map(|(_, r)| r.clone()).collect(),
        keep_keys: ctx.keep_keys,
        key: u.key.clone(),
        size: u.size,
        sections: section_commits(&u.sections),
    };
    let mut attempt = 0u32;
    let outcome = loop {
        if let Some(reason) = ctx.fence.reason() {
            fail(u.flush, FlushError::Fenced(reason.to_string()));
            return;
        }
        match ctx.meta.commit_object(commit.clone()).await {
            Ok(o) => break Ok(o),
            Err(MetaError::Fenced { reason, .. }) => {
                // Another process took over this one's identity: nothing more may be
                // committed from here. What is sealed stays in the hot tier for whichever
                // process next runs on this data directory.
                error!(object = %u.key, reason = %reason, "this process is fenced; it stops writing");
                ctx.fence.fence(reason.clone());
                fail(u.flush, FlushError::Fenced(reason));
                return;
            }
            Err(MetaError::StaleFlush { .. }) => {
                // Only a flush committed before (and replayed) can be stale: commits of one
                // node are strictly ordered and never abandoned.
                break Err(FlushError::Unknown);
            }
            Err(e @ MetaError::Condemned { .. }) => {
                // The flush could not be committed for longer than the collector's orphan
                // grace period and its object was collected: it can never be committed.
                error!(object = %u.key, error = %e, "flush abandoned: its object was collected as an orphan");
                break Err(FlushError::Unknown);
            }
            Err(e) => {
                attempt += 1;
                IngestStats::add(&ctx.stats.commit_retries, 1);
                if e.is_retryable() {
                    warn!(object = %u.key, attempt, error = %e, "commit failed; retrying");
                } else {
                    error!(object = %u.key, attempt, error = %e, "commit refused; retrying in case it clears");
                }
                let wait = backoff(attempt, u.flush.seq.0);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = ctx.cancel.cancelled() => {
                        fail(u.flush, FlushError::ShuttingDown);
                        return;
                    }
                }
            }
        }
    };
    IngestStats::add(&ctx.stats.commits, 1);
    let result = outcome.map(|o| {
        let mut offsets = FlushOffsets::default();
        for (s, base) in u.sections.iter().zip(o.base_offsets) {
            offsets.bases.insert((s.topic_id, s.partition), base);
        }
        for (i, replayed) in o.replays {
            let Some((no, r)) = u.requests.get(i as usize) else {
                continue;
            };
            for b in &r.batches {
                if let Some(s) = u.sections.get(b.section as usize) {
                    offsets
                        .holes
                        .entry((s.topic_id, s.partition))
                        .or_default()
                        .push((b.records_before, b.records));
                }
            }
            offsets.replays.insert(*no, replayed);
        }
        Arc::new(offsets)
    });
    let (writer, seq) = (u.flush.writer, u.flush.seq);
    for w in u.flush.waiters {
        let _ = w.send(result.clone());
    }
    drop(u.flush.permits);
    let _ = committed.send(Committed {
        writer,
        seq,
        index: u.index,
    });
}

fn fail(flush: SealedFlush, e: FlushError) {
    for w in flush.waiters {
        let _ = w.send(Err(e.clone()));
    }
}

#[cfg(test)]
mod tests;
