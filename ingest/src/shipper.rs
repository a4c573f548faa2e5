//! The shipper: uploads sealed flushes as objects (several at once) and commits them to the
//! quorum strictly in flush order, retrying both with backoff until they succeed or the node
//! stops. A flush not committed when the node stops stays sealed in the hot tier and is
//! shipped again, under the same key and with the same bytes, at the next start.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use strata_core::clock::Clock;
use strata_core::ids::NodeId;
use strata_core::keys::segment_key;
use strata_core::meta::{MetaError, MetaStore, ObjectCommit};
use strata_core::object::Section;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::UploadObserver;
use crate::hot::FlushIndex;
use crate::plan::{build_object, section_commits};
use crate::stats::IngestStats;
use crate::writer::{Committed, FlushError, FlushOffsets, SealedFlush};

/// What the shipper needs.
#[derive(Debug, Clone)]
pub struct ShipContext {
    /// This node.
    pub node: NodeId,
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
}

struct Uploaded {
    flush: SealedFlush,
    key: String,
    size: u64,
    sections: Vec<Section>,
    index: FlushIndex,
}

/// Returns the delay before retry `attempt` (from 1): 100 ms doubling to 5 s, with jitter.
pub fn backoff(attempt: u32, seed: u64) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.min(6)).min(5_000);
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

async fn upload(ctx: ShipContext, flush: SealedFlush) -> Option<Uploaded> {
    let (bytes, sections, index) =
        build_object(ctx.node, flush.seq, ctx.clock.now_ms(), &flush.batches);
    let key = segment_key(ctx.node, flush.seq);
    let path = Path::from(key.as_str());
    let mut attempt = 0u32;
    loop {
        let result = if bytes.len() as u64 >= ctx.multipart_threshold {
            put_multipart(&ctx, &path, bytes.clone()).await
        } else {
            ctx.store
                .put(&path, PutPayload::from(bytes.clone()))
                .await
                .map(|_| ())
        };
        match result {
            Ok(()) => break,
            Err(e) => {
                attempt += 1;
                IngestStats::add(&ctx.stats.upload_retries, 1);
                warn!(object = %key, attempt, error = %e, "upload failed; retrying");
                let wait = backoff(attempt, flush.seq.0);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = ctx.cancel.cancelled() => {
                        fail(flush, FlushError::ShuttingDown);
                        return None;
                    }
                }
            }
        }
    }
    if let Some(observer) = &ctx.on_uploaded {
        observer.uploaded(&key, &bytes);
    }
    IngestStats::add(&ctx.stats.objects_uploaded, 1);
    IngestStats::add(&ctx.stats.object_bytes, bytes.len() as u64);
    debug!(object = %key, bytes = bytes.len(), sections = sections.len(), "uploaded");
    Some(Uploaded {
        flush,
        size: bytes.len() as u64,
        key,
        sections,
        index,
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
        node: ctx.node,
        seq: u.flush.seq,
        key: u.key.clone(),
        size: u.size,
        sections: section_commits(&u.sections),
    };
    let mut attempt = 0u32;
    let outcome = loop {
        match ctx.meta.commit_object(commit.clone()).await {
            Ok(o) => break Ok(o),
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
        Arc::new(offsets)
    });
    let seq = u.flush.seq;
    for w in u.flush.waiters {
        let _ = w.send(result.clone());
    }
    drop(u.flush.permits);
    let _ = committed.send(Committed {
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
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_cap_with_jitter() {
        for attempt in 1..20 {
            let d = backoff(attempt, 7).as_millis() as u64;
            let base = (100u64 << attempt.min(6)).min(5_000);
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d}ms");
        }
        assert_ne!(
            backoff(3, 1),
            backoff(3, 2),
            "different flushes spread apart"
        );
    }
}
