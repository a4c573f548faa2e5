//! The archive's records in the quorum: files planned, committed and listed per partition.

#[allow(unused_imports)]
use super::*;

/// A Parquet file of the archive, as the quorum lists it. The file holds the records of
/// offsets `first_offset..=last_offset` that existed when it was written (compaction may have
/// removed some before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveFile {
    /// Object key.
    pub key: String,
    /// First offset of its span.
    pub first_offset: Offset,
    /// Last offset of its span.
    pub last_offset: Offset,
    /// Rows (records).
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Raw record bytes (keys, values and headers) it holds.
    #[serde(default)]
    pub raw_bytes: u64,
    /// Smallest record timestamp (ms).
    pub min_timestamp: i64,
    /// Largest record timestamp (ms).
    pub max_timestamp: i64,
    /// Records whose value did not fit the topic's JSON projection (kept, with nulls).
    #[serde(default)]
    pub projection_misfits: u64,
}

/// A file the archiver is about to write: recorded before the upload, so a restarted archiver
/// finishes or replaces exactly that file and never leaves a second copy of a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivePlan {
    /// Object key.
    pub key: String,
    /// First offset of its span.
    pub first_offset: Offset,
    /// Last offset of its span.
    pub last_offset: Offset,
}

/// A page of a partition's archive files and its archive bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivePage {
    /// Files in offset order.
    pub files: Vec<ArchiveFile>,
    /// The file being written, if any.
    pub pending: Option<ArchivePlan>,
    /// Last offset archived.
    pub archived_through: Option<Offset>,
    /// First offset the segments hold.
    pub log_start_offset: Offset,
    /// One past the last committed offset.
    pub high_watermark: Offset,
}

impl ArchivePage {
    /// First offset the next archive file starts at.
    pub fn next_offset(&self) -> Offset {
        self.archived_through.map_or(self.log_start_offset, |a| {
            a.plus(1).max(self.log_start_offset)
        })
    }
}

/// Returns up to `limit` archive files of a partition, from the one holding `from` (or the
/// next one).
pub async fn archive_files(
    meta: &dyn MetaStore,
    topic: &str,
    partition: PartitionId,
    from: Offset,
    limit: usize,
) -> Result<ArchivePage, MetaError> {
    match meta
        .ask(MetaQuery::ArchiveFiles {
            topic: topic.to_string(),
            partition,
            from,
            limit,
        })
        .await?
    {
        QueryResult::ArchiveFiles(p) => Ok(p),
        other => Err(unexpected(other)),
    }
}

/// Records, under the archiver's lease, the file about to be written.
pub async fn plan_archive(
    meta: &dyn MetaStore,
    name: &LeaseName<'_>,
    topic_id: TopicId,
    lease: LeaseToken,
    plan: ArchivePlan,
    now_ms: i64,
) -> Result<(), MetaError> {
    let cmd = Command::PlanArchive {
        topic: name.topic.to_string(),
        topic_id,
        partition: name.partition,
        lease,
        plan,
        now_ms,
    };
    meta.execute(cmd).await.map(|_| ())
}

/// Adds a written file to the archive and raises the partition's archived-through offset.
/// Idempotent: committing a file already listed succeeds.
pub async fn commit_archive(
    meta: &dyn MetaStore,
    name: &LeaseName<'_>,
    topic_id: TopicId,
    lease: LeaseToken,
    file: ArchiveFile,
    now_ms: i64,
) -> Result<(), MetaError> {
    let cmd = Command::CommitArchive {
        topic: name.topic.to_string(),
        topic_id,
        partition: name.partition,
        lease,
        file,
        now_ms,
    };
    meta.execute(cmd).await.map(|_| ())
}
