//! [`ArchiveError`], and how it reads to the driver and to HTTP clients.

use strata_cache::ReadError;
use strata_core::api::{ApiError, codes};
use strata_core::background::PartitionError;
use strata_core::meta::MetaError;
use strata_core::meta::jobs::{Busy, ClaimError};
use thiserror::Error;

/// Why archiving failed.
#[derive(Debug, Error)]
pub enum ArchiveError {
    /// Another archiver (or another request on this node) is working the partition.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The topic does not have `archive=true`.
    #[error("topic {topic} is not archived: set its config archive=true first")]
    NotArchived { topic: String },
    /// The quorum refused or could not be reached.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Reading the records failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// Encoding or decoding Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// How a refused or failed run reads to an HTTP client.
impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Busy(b) => b.into(),
            ArchiveError::Meta(MetaError::Conflict { topic, .. }) => ApiError::new(
                409,
                codes::JOB_RUNNING,
                format!("another archiver changed topic {topic:?} during the run; run it again"),
            ),
            e @ ArchiveError::NotArchived { .. } => {
                ApiError::new(422, codes::INVALID_REQUEST, e.to_string())
            }
            ArchiveError::Meta(e) => e.into(),
            ArchiveError::Read(e) => e.into(),
            ArchiveError::Store(e) => ApiError::unavailable(
                codes::STORE_UNAVAILABLE,
                format!("the object store failed during archiving: {e}"),
                1,
            ),
            e @ ArchiveError::Parquet(_) => ApiError::new(500, codes::INTERNAL, e.to_string()),
        }
    }
}

impl From<ClaimError> for ArchiveError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Busy(b) => Self::Busy(b),
            ClaimError::Meta(m) => Self::Meta(m),
        }
    }
}

impl PartitionError for ArchiveError {
    fn is_busy(&self) -> bool {
        matches!(self, ArchiveError::Busy(_))
    }

    fn topic_gone(&self) -> bool {
        matches!(self, ArchiveError::Meta(MetaError::TopicNotFound { .. }))
    }
}
