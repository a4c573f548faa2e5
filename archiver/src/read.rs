//! The archive as the coldest tier of the read path: offsets whose segments expired are read
//! from the Parquet file holding them. The quorum's file list finds the file, the row groups'
//! offset statistics find the row group, and its column chunks are read through the block
//! cache (one GET per cache block, cached like any segment).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, Int64Array, TimestampMillisecondArray};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{
    AsyncFileReader, ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;
use strata_cache::{ArchivePageRead, ArchiveSource, BlockCache, ReadError};
use strata_core::ids::{Offset, PartitionId};
use strata_core::meta::MetaStore;
use strata_core::meta::jobs::{self, ArchiveFile};

use crate::schema;

/// Footers kept in memory, at most.
const FOOTERS: usize = 1024;
/// Index of the `offset` column.
const OFFSET_COLUMN: usize = 2;
/// Index of the `timestamp` column.
const TIMESTAMP_COLUMN: usize = 3;

/// Reads archived offsets for the read path.
#[derive(Debug)]
pub struct ArchiveReader {
    meta: Arc<dyn MetaStore>,
    cache: Arc<BlockCache>,
    footers: Mutex<HashMap<String, Arc<ParquetMetaData>>>,
}

/// One archive file read through the block cache (footer included).
struct CachedFile {
    cache: Arc<BlockCache>,
    key: String,
    size: u64,
    footer: Option<Arc<ParquetMetaData>>,
}

impl AsyncFileReader for CachedFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            match self
                .cache
                .read(&self.key, range.start, range.end - range.start, true)
                .await
            {
                Ok(Some((bytes, _))) => Ok(bytes),
                Ok(None) => Err(ParquetError::General("cold read not admitted".into())),
                Err(e) => Err(ParquetError::External(Box::new(e))),
            }
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            if let Some(footer) = &self.footer {
                return Ok(footer.clone());
            }
            let size = self.size;
            let footer = ParquetMetaDataReader::new()
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(footer))
        }
        .boxed()
    }
}

fn archive_error(file: &ArchiveFile, e: impl std::fmt::Display) -> ReadError {
    ReadError::Archive {
        object: file.key.clone(),
        reason: e.to_string(),
    }
}

/// The smallest and largest value of an int64 column (offset, timestamp) in each row group,
/// from the footer's statistics.
fn column_ranges(footer: &ParquetMetaData, column: usize) -> Vec<Option<(i64, i64)>> {
    footer
        .row_groups()
        .iter()
        .map(|rg| match rg.column(column).statistics() {
            Some(Statistics::Int64(s)) => Some((*s.min_opt()?, *s.max_opt()?)),
            _ => None,
        })
        .collect()
}

impl ArchiveReader {
    /// A reader over the quorum's file lists and the bucket behind `cache`.
    pub fn new(meta: Arc<dyn MetaStore>, cache: Arc<BlockCache>) -> Self {
        Self {
            meta,
            cache,
            footers: Mutex::new(HashMap::new()),
        }
    }

    async fn footer(&self, file: &ArchiveFile) -> Result<Arc<ParquetMetaData>, ReadError> {
        if let Some(f) = self
            .footers
            .lock()
            .expect("no panics while holding the lock")
            .get(&file.key)
        {
            return Ok(f.clone());
        }
        let mut reader = CachedFile {
            cache: self.cache.clone(),
            key: file.key.clone(),
            size: file.bytes,
            footer: None,
        };
        let footer = reader
            .get_metadata(None)
            .await
            .map_err(|e| archive_error(file, e))?;
        let mut footers = self
            .footers
            .lock()
            .expect("no panics while holding the lock");
        if footers.len() >= FOOTERS {
            footers.clear();
        }
        footers.insert(file.key.clone(), footer.clone());
        Ok(footer)
    }

    /// Batches of the root `columns` of `file`, in offset order, from the row groups whose
    /// statistics say int64 `column` (offset or timestamp) may reach `at_least`.
    async fn scan(
        &self,
        file: &ArchiveFile,
        column: usize,
        at_least: i64,
        columns: &[usize],
        batch_size: usize,
    ) -> Result<ParquetRecordBatchStream<CachedFile>, ReadError> {
        let footer = self.footer(file).await?;
        let groups: Vec<usize> = column_ranges(&footer, column)
            .into_iter()
            .enumerate()
            .filter(|(_, r)| r.is_none_or(|(_, max)| max >= at_least))
            .map(|(i, _)| i)
            .collect();
        let metadata = ArrowReaderMetadata::try_new(footer.clone(), ArrowReaderOptions::new())
            .map_err(|e| archive_error(file, e))?;
        let input = CachedFile {
            cache: self.cache.clone(),
            key: file.key.clone(),
            size: file.bytes,
            footer: Some(footer),
        };
        let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(input, metadata);
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
        builder
            .with_row_groups(groups)
            .with_projection(mask)
            .with_batch_size(batch_size)
            .build()
            .map_err(|e| archive_error(file, e))
    }

    /// Reads records at or after `from` from one file, within the limits.
    async fn read_file(
        &self,
        file: &ArchiveFile,
        from: Offset,
        max_records: usize,
        max_bytes: u64,
        out: &mut Vec<strata_core::record::StoredRecord>,
        bytes: &mut u64,
    ) -> Result<bool, ReadError> {
        let mut stream = self
            .scan(file, OFFSET_COLUMN, from.0, &[2, 3, 4, 5, 6], 1024)
            .await?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|e| archive_error(file, e))?
        {
            for r in schema::records(&batch).map_err(|e| archive_error(file, e))? {
                if r.offset < from {
                    continue;
                }
                let size = r.record.size() as u64;
                if out.len() >= max_records || (!out.is_empty() && *bytes + size > max_bytes) {
                    return Ok(true);
                }
                *bytes += size;
                out.push(r);
            }
        }
        Ok(false)
    }

    /// The first row of `file` (in offset order) stamped at or after `timestamp`.
    async fn first_at_or_after(
        &self,
        file: &ArchiveFile,
        timestamp: i64,
    ) -> Result<Option<Offset>, ReadError> {
        let mut stream = self
            .scan(
                file,
                TIMESTAMP_COLUMN,
                timestamp,
                &[OFFSET_COLUMN, TIMESTAMP_COLUMN],
                8192,
            )
            .await?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|e| archive_error(file, e))?
        {
            let offsets = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| archive_error(file, "offset column is not int64"))?;
            let stamps = batch
                .column(1)
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .ok_or_else(|| archive_error(file, "timestamp column is not ms"))?;
            if let Some(i) = (0..batch.num_rows()).find(|&i| stamps.value(i) >= timestamp) {
                return Ok(Some(Offset(offsets.value(i))));
            }
        }
        Ok(None)
    }
}

#[async_trait::async_trait]
impl ArchiveSource for ArchiveReader {
    async fn read(
        &self,
        topic: &str,
        partition: PartitionId,
        from: Offset,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Option<ArchivePageRead>, ReadError> {
        let mut records = Vec::new();
        let mut bytes = 0u64;
        let mut next = from;
        loop {
            let page = jobs::archive_files(self.meta.as_ref(), topic, partition, next, 4).await?;
            if page.files.is_empty() {
                break;
            }
            for file in &page.files {
                let start = next.max(file.first_offset);
                let full = self
                    .read_file(
                        file,
                        start,
                        max_records,
                        max_bytes,
                        &mut records,
                        &mut bytes,
                    )
                    .await?;
                if full {
                    let last = records.last().map_or(start, |r| r.offset.plus(1));
                    return Ok(Some(ArchivePageRead {
                        records,
                        next_offset: last,
                    }));
                }
                next = file.last_offset.plus(1);
                // Stop at the end of a file once something was read, or where the segments
                // take over.
                if !records.is_empty() || next >= page.log_start_offset {
                    return Ok(Some(ArchivePageRead {
                        records,
                        next_offset: next,
                    }));
                }
            }
        }
        Ok((next > from).then_some(ArchivePageRead {
            records,
            next_offset: next,
        }))
    }

    async fn offset_for_timestamp(
        &self,
        topic: &str,
        partition: PartitionId,
        timestamp: i64,
        below: Offset,
    ) -> Result<Option<Offset>, ReadError> {
        let mut from = Offset(0);
        loop {
            let page = jobs::archive_files(self.meta.as_ref(), topic, partition, from, 64).await?;
            let Some(last) = page.files.last() else {
                return Ok(None);
            };
            from = last.last_offset.plus(1);
            for file in &page.files {
                if file.first_offset >= below {
                    return Ok(None);
                }
                if file.rows == 0 || file.max_timestamp < timestamp {
                    continue;
                }
                if let Some(o) = self.first_at_or_after(file, timestamp).await? {
                    return Ok(Some(o));
                }
            }
        }
    }
}
