//! [`CompactError`], and how it reads to the driver and to HTTP clients.

use strata_core::api::{ApiError, codes};
use strata_core::background::PartitionError;
use strata_core::meta::MetaError;
use strata_core::meta::jobs::{Busy, ClaimError};
use thiserror::Error;

/// Why a pass failed.
#[derive(Debug, Error)]
pub enum CompactError {
    /// Another compactor (or another request on this node) is working the partition.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The quorum refused or could not be reached.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// Stored data failed its checks; nothing was rewritten.
    #[error("stored data of {object} is corrupt: {reason}")]
    Corrupt { object: String, reason: String },
}

/// How a refused or failed pass reads to an HTTP client.
impl From<CompactError> for ApiError {
    fn from(e: CompactError) -> Self {
        match e {
            CompactError::Busy(b) => b.into(),
            CompactError::Meta(MetaError::Conflict { topic, .. }) => ApiError::new(
                409,
                codes::JOB_RUNNING,
                format!("the extents of topic {topic:?} changed during the pass; run it again"),
            ),
            CompactError::Meta(e) => e.into(),
            CompactError::Store(e) => ApiError::unavailable(
                codes::STORE_UNAVAILABLE,
                format!("the object store failed during compaction: {e}"),
                1,
            ),
            e @ CompactError::Corrupt { .. } => {
                ApiError::new(500, codes::CORRUPT_DATA, e.to_string())
            }
        }
    }
}

impl From<ClaimError> for CompactError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Busy(b) => Self::Busy(b),
            ClaimError::Meta(m) => Self::Meta(m),
        }
    }
}

impl PartitionError for CompactError {
    fn is_busy(&self) -> bool {
        matches!(self, CompactError::Busy(_))
    }

    fn topic_gone(&self) -> bool {
        matches!(self, CompactError::Meta(MetaError::TopicNotFound { .. }))
    }
}
