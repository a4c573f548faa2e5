//! Writing one planned archive file: records read through the read path (cache, hot tier,
//! bucket; every batch CRC-checked), encoded as Parquet row groups, uploaded as one object.

use std::time::Duration;

use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use strata_cache::{FetchOptions, StartAt};
use strata_core::meta::jobs::{ArchiveFile, ArchivePlan};

use crate::schema::{FORMAT_VERSION, Rows};
use crate::{ArchiveError, Archiver, Job};

/// Rows per Arrow batch handed to the Parquet writer.
const BATCH_ROWS: usize = 8192;
/// Record bytes per read of the partition.
const READ_BYTES: u64 = 4 * 1024 * 1024;

/// Key-value metadata names in every file's footer.
pub(crate) mod meta_keys {
    /// Version of the column contract.
    pub(crate) const FORMAT: &str = "strata.archive.format";
    /// Topic.
    pub(crate) const TOPIC: &str = "strata.topic";
    /// Partition.
    pub(crate) const PARTITION: &str = "strata.partition";
    /// First offset of the file's span.
    pub(crate) const FIRST_OFFSET: &str = "strata.first_offset";
    /// Last offset of the file's span.
    pub(crate) const LAST_OFFSET: &str = "strata.last_offset";
}

impl Archiver {
    pub(crate) fn writer_properties(&self, plan: &ArchivePlan, job: &Job<'_>) -> WriterProperties {
        let level = ZstdLevel::try_new(self.config.zstd_level).unwrap_or_default();
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_bytes(Some(self.config.row_group_bytes.max(64 * 1024) as usize))
            .set_sorting_columns(Some(vec![SortingColumn {
                column_idx: 2,
                descending: false,
                nulls_first: false,
            }]))
            .set_created_by(format!("strata {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![
                KeyValue::new(meta_keys::FORMAT.into(), FORMAT_VERSION.to_string()),
                KeyValue::new(meta_keys::TOPIC.into(), job.topic.name.clone()),
                KeyValue::new(meta_keys::PARTITION.into(), job.partition.0.to_string()),
                KeyValue::new(
                    meta_keys::FIRST_OFFSET.into(),
                    plan.first_offset.0.to_string(),
                ),
                KeyValue::new(
                    meta_keys::LAST_OFFSET.into(),
                    plan.last_offset.0.to_string(),
                ),
            ]))
            .build()
    }

    /// Writes the records of `plan`'s span to its key; returns the file as the quorum lists it.
    pub(crate) async fn write_file(
        &self,
        job: &mut Job<'_>,
        plan: &ArchivePlan,
    ) -> Result<ArchiveFile, ArchiveError> {
        let topic = job.topic;
        let mut rows = Rows::new(
            &topic.name,
            job.partition.0,
            &topic.config.archive_json_fields,
        );
        let props = self.writer_properties(plan, job);
        let sink = BufWriter::new(self.store.clone(), Path::from(plan.key.as_str()));
        let mut writer = AsyncArrowWriter::try_new(sink, rows.schema().clone(), Some(props))?;
        let started = tokio::time::Instant::now();
        let mut cursor = plan.first_offset;
        'read: while cursor <= plan.last_offset {
            let page = self
                .read
                .fetch(
                    &topic.name,
                    job.partition,
                    FetchOptions {
                        start: StartAt::Offset(cursor),
                        max_records: 100_000,
                        max_bytes: READ_BYTES,
                        max_wait: Duration::ZERO,
                    },
                )
                .await?;
            if page.records.is_empty() {
                break;
            }
            for r in &page.records {
                if r.offset > plan.last_offset {
                    break 'read;
                }
                rows.push(r);
                if rows.pending() >= BATCH_ROWS {
                    writer.write(&rows.finish()).await?;
                }
            }
            cursor = page.next_offset;
            self.renew(job).await?;
            strata_core::meta::jobs::pace(self.config.bytes_per_sec, rows.stats.raw_bytes, started)
                .await;
        }
        if rows.pending() > 0 {
            writer.write(&rows.finish()).await?;
        }
        writer.finish().await?;
        let bytes = writer.bytes_written() as u64;
        let stats = rows.stats;
        Ok(ArchiveFile {
            key: plan.key.clone(),
            first_offset: plan.first_offset,
            last_offset: plan.last_offset,
            rows: stats.rows,
            bytes,
            raw_bytes: stats.raw_bytes,
            min_timestamp: stats.min_timestamp.unwrap_or(0),
            max_timestamp: stats.max_timestamp.unwrap_or(0),
            projection_misfits: stats.misfits,
        })
    }
}
