//! The archive's manifest: `archive/<topic>/_manifest.json` lists every committed file with its
//! partition, offset span, time range and row count, so engines (and people) find the files
//! without listing the bucket. It is rewritten from the quorum's file lists after every run
//! that committed files, under a topic lease, so it only ever lists committed, whole files.
//! Its name starts with `_`, like the Iceberg metadata folder `_iceberg/`, so engines that
//! discover a directory of Parquet files (pyarrow datasets, Spark) skip it.

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use strata_core::ids::{Offset, PartitionId};
use strata_core::keys::archive_topic_prefix;
use strata_core::meta::TopicInfo;
use strata_core::meta::jobs::{self, ArchiveFile, Busy, ClaimError};
use tracing::debug;

use crate::schema::FORMAT_VERSION;
use crate::{ArchiveError, Archiver};

/// Version of the manifest's own layout.
pub const MANIFEST_VERSION: u32 = 1;

/// Lease name of the job that publishes a topic's manifest and table metadata (taken on
/// partition 0 for the whole topic).
pub(crate) const PUBLISH_JOB: &str = "archive-publish";

/// One file in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Object key, relative to the cluster's prefix in the bucket.
    pub key: String,
    /// Partition.
    pub partition: u32,
    /// First offset of the file's span.
    pub first_offset: i64,
    /// Last offset of the file's span.
    pub last_offset: i64,
    /// Smallest record timestamp (ms since the epoch, UTC).
    pub min_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Rows.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
}

/// A partition's archive bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPartition {
    /// Partition.
    pub partition: u32,
    /// Last offset archived, if any.
    pub archived_through: Option<i64>,
}

/// `archive/<topic>/_manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of this document.
    pub manifest_version: u32,
    /// Version of the files' column contract.
    pub format_version: String,
    /// Topic.
    pub topic: String,
    /// Projected JSON columns (`name:type`), after the fixed ones.
    pub projected_columns: Vec<String>,
    /// When it was written (ms since the epoch).
    pub updated_ms: i64,
    /// Per partition, how far the archive reaches.
    pub partitions: Vec<ManifestPartition>,
    /// Every committed file, by partition then offset.
    pub files: Vec<ManifestFile>,
}

impl Archiver {
    /// Every committed file of a topic, by partition then offset.
    pub(crate) async fn committed_files(
        &self,
        topic: &TopicInfo,
    ) -> Result<Vec<(PartitionId, Vec<ArchiveFile>)>, ArchiveError> {
        let mut out = Vec::with_capacity(topic.partitions as usize);
        for p in 0..topic.partitions {
            let partition = PartitionId(p);
            let mut files = Vec::new();
            let mut from = Offset(0);
            loop {
                let page =
                    jobs::archive_files(self.meta.as_ref(), &topic.name, partition, from, 1000)
                        .await?;
                let done = page.files.len() < 1000;
                if let Some(f) = page.files.last() {
                    from = f.last_offset.plus(1);
                }
                files.extend(page.files);
                if done {
                    break;
                }
            }
            out.push((partition, files));
        }
        Ok(out)
    }

    /// Builds the manifest of a topic from the quorum.
    pub async fn manifest(&self, topic: &TopicInfo) -> Result<Manifest, ArchiveError> {
        let files = self.committed_files(topic).await?;
        Ok(Manifest {
            manifest_version: MANIFEST_VERSION,
            format_version: FORMAT_VERSION.to_string(),
            topic: topic.name.clone(),
            projected_columns: topic
                .config
                .archive_json_fields
                .iter()
                .map(|f| format!("{}:{}", f.name, f.kind.as_str()))
                .collect(),
            updated_ms: self.clock.now_ms(),
            partitions: files
                .iter()
                .map(|(p, f)| ManifestPartition {
                    partition: p.0,
                    archived_through: f.last().map(|f| f.last_offset.0),
                })
                .collect(),
            files: files
                .iter()
                .flat_map(|(p, files)| {
                    files.iter().map(move |f| ManifestFile {
                        key: f.key.clone(),
                        partition: p.0,
                        first_offset: f.first_offset.0,
                        last_offset: f.last_offset.0,
                        min_timestamp: f.min_timestamp,
                        max_timestamp: f.max_timestamp,
                        rows: f.rows,
                        bytes: f.bytes,
                    })
                })
                .collect(),
        })
    }

    /// Rewrites a topic's manifest (and table metadata) from the quorum, under the topic's
    /// publish lease. Returns whether it did: with `wait`, it waits for a publish running
    /// elsewhere to end (up to a lease lifetime); without, it leaves the topic to the next
    /// background pass, which publishes again until the manifest matches the quorum.
    pub async fn publish(&self, topic: &TopicInfo, wait: bool) -> Result<bool, ArchiveError> {
        let deadline = tokio::time::Instant::now() + self.config.lease_ttl;
        let lease = loop {
            match self
                .publish_leases
                .claim(&topic.name, PartitionId(0), self.clock.now_ms())
                .await
            {
                Ok(lease) => break lease,
                Err(ClaimError::Busy(Busy { holder, .. })) => {
                    if !wait || tokio::time::Instant::now() >= deadline {
                        debug!(topic = %topic.name, holder, "another publish of the manifest is running");
                        return Ok(false);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(ClaimError::Meta(e)) => return Err(e.into()),
            }
        };
        let result = self.write_manifest(topic).await;
        lease.release().await;
        let published = result?;
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(topic.name.clone(), published);
        Ok(true)
    }

    /// Writes the manifest and table metadata; returns the archived-through offsets they list.
    async fn write_manifest(&self, topic: &TopicInfo) -> Result<Published, ArchiveError> {
        let manifest = self.manifest(topic).await?;
        let body = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        let key = format!("{}_manifest.json", archive_topic_prefix(&topic.name));
        self.store
            .put(&Path::from(key), PutPayload::from(body))
            .await?;
        self.publish_iceberg(topic, &manifest).await?;
        Ok(published(topic, &manifest))
    }

    /// Whether the topic's manifest as this node last wrote it lists less than the quorum
    /// holds (`archived_through` per partition, from the quorum).
    pub(crate) fn manifest_behind(&self, topic: &TopicInfo, archived: &[Option<Offset>]) -> bool {
        let published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        published
            .get(&topic.name)
            .is_none_or(|p| p.id != topic.id || p.archived_through != archived)
    }
}

/// What a node last published for a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Published {
    id: strata_core::ids::TopicId,
    archived_through: Vec<Option<Offset>>,
}

fn published(topic: &TopicInfo, manifest: &Manifest) -> Published {
    Published {
        id: topic.id,
        archived_through: manifest
            .partitions
            .iter()
            .map(|p| p.archived_through.map(Offset))
            .collect(),
    }
}
