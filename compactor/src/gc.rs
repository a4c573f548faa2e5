//! Garbage collection: objects no extent refers to (after `gc_grace`, for readers that were
//! already reading them) and orphans, uploads the quorum never committed (after
//! `orphan_grace`, and only once the quorum has condemned their keys, so a slow commit and a
//! delete can never both succeed).

use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::Serialize;
use strata_core::keys::{SEGMENTS_PREFIX, TOPICS_PREFIX};
use strata_core::meta::jobs::{self, ObjectStatus};
use tracing::{info, warn};

use crate::{CompactError, Compactor, CompactorStats};

/// Keys per quorum command or query.
const KEYS_PER_CALL: usize = 1000;

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Unreferenced objects deleted.
    pub objects_deleted: u64,
    /// Their bytes.
    pub bytes_deleted: u64,
    /// Orphans deleted.
    pub orphans_deleted: u64,
}

impl Compactor {
    /// Deletes unreferenced objects past the grace period and, with `scan_orphans`, lists the
    /// bucket for orphans older than the orphan grace period and deletes them too.
    pub async fn collect_garbage(&self, scan_orphans: bool) -> Result<GcReport, CompactError> {
        let mut report = GcReport::default();
        let before = self.clock.now_ms() - self.config.gc_grace.as_millis() as i64;
        loop {
            let garbage = jobs::garbage(self.meta.as_ref(), before, KEYS_PER_CALL).await?;
            if garbage.is_empty() {
                break;
            }
            let keys: Vec<String> = garbage.iter().map(|g| g.key.clone()).collect();
            self.delete_all(&keys).await?;
            jobs::forget(self.meta.as_ref(), keys).await?;
            report.objects_deleted += garbage.len() as u64;
            report.bytes_deleted += garbage.iter().map(|g| g.size).sum::<u64>();
            if garbage.len() < KEYS_PER_CALL {
                break;
            }
        }
        CompactorStats::add(&self.stats.objects_deleted, report.objects_deleted);
        CompactorStats::add(&self.stats.bytes_deleted, report.bytes_deleted);
        if scan_orphans {
            report.orphans_deleted = self.scan_orphans().await?;
        }
        if report != GcReport::default() {
            info!(?report, "garbage collected");
        }
        Ok(report)
    }

    /// Lists the bucket for orphans (objects the quorum does not know) older than the orphan
    /// grace period and deletes them; returns how many.
    pub async fn scan_orphans(&self) -> Result<u64, CompactError> {
        let deleted = self.collect_orphans().await?;
        CompactorStats::add(&self.stats.orphans_deleted, deleted);
        if deleted > 0 {
            info!(deleted, "orphans collected");
        }
        Ok(deleted)
    }

    async fn collect_orphans(&self) -> Result<u64, CompactError> {
        let cutoff = self.clock.now_ms() - self.config.orphan_grace.as_millis() as i64;
        let mut deleted = 0;
        for prefix in [SEGMENTS_PREFIX, TOPICS_PREFIX] {
            let mut listing = self.store.list(Some(&Path::from(prefix)));
            let mut old = Vec::new();
            while let Some(meta) = listing.next().await {
                let meta = meta?;
                if meta.last_modified.timestamp_millis() <= cutoff {
                    old.push(meta.location.to_string());
                }
                if old.len() == KEYS_PER_CALL {
                    deleted += self.delete_orphans(std::mem::take(&mut old)).await?;
                }
            }
            deleted += self.delete_orphans(old).await?;
        }
        Ok(deleted)
    }

    async fn delete_orphans(&self, keys: Vec<String>) -> Result<u64, CompactError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let statuses = jobs::object_statuses(self.meta.as_ref(), keys.clone()).await?;
        let mut doomed = Vec::new();
        let mut unknown = Vec::new();
        for (key, status) in keys.into_iter().zip(statuses) {
            match status {
                ObjectStatus::Committed => {}
                ObjectStatus::Condemned | ObjectStatus::Superseded => doomed.push(key),
                ObjectStatus::Unknown => unknown.push(key),
            }
        }
        if !unknown.is_empty() {
            doomed.extend(jobs::condemn(self.meta.as_ref(), unknown, self.clock.now_ms()).await?);
        }
        self.delete_all(&doomed).await?;
        if !doomed.is_empty() {
            info!(count = doomed.len(), "orphans deleted");
        }
        Ok(doomed.len() as u64)
    }

    /// Deletes objects, several at once; one already gone counts as deleted.
    async fn delete_all(&self, keys: &[String]) -> Result<(), CompactError> {
        let deletes: Vec<_> = keys
            .iter()
            .map(|k| {
                let (store, k) = (self.store.clone(), k.clone());
                async move {
                    match store.delete(&Path::from(k.as_str())).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                        Err(e) => {
                            warn!(object = %k, error = %e, "delete failed");
                            Err(e)
                        }
                    }
                }
            })
            .collect();
        let results: Vec<Result<(), object_store::Error>> = futures::stream::iter(deletes)
            .buffer_unordered(self.config.max_in_flight.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(())
    }
}
