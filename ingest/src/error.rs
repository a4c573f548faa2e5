//! Errors of the write path.

use strata_core::api::{ApiError, codes};
use strata_core::error::FormatError;
use strata_core::meta::MetaError;
use thiserror::Error;

/// An error of the write path; each says what the producer can do about it.
#[derive(Debug, Error)]
pub enum IngestError {
    /// The body or a parameter is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// A record is well-formed but not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A record on a compacted topic has no key.
    #[error(
        "record {index} has no key, and topic {topic:?} is compacted (cleanup.policy={policy}): every record needs a key"
    )]
    KeyRequired {
        index: usize,
        topic: String,
        policy: String,
    },
    /// A record is larger than the topic's `max.message.bytes`.
    #[error("record {index} is {size} bytes, over the topic's max.message.bytes of {limit}")]
    RecordTooLarge { index: usize, size: u64, limit: u64 },
    /// The request can never fit in this node's staging quota.
    #[error(
        "request of {size} bytes is larger than this node's staging quota of {limit} bytes; split it"
    )]
    RequestTooLarge { size: u64, limit: u64 },
    /// The staging quota is full.
    #[error("this node has {limit} bytes staged and not yet committed; retry shortly")]
    Overloaded { limit: u64 },
    /// The metadata store refused or failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The records were staged but not committed within the commit timeout.
    #[error(
        "records not committed within {secs}s (the object store or quorum is slow or unavailable); they may still be committed, so a retry may duplicate them"
    )]
    CommitTimeout { secs: u64 },
    /// The topic was deleted while the records were being committed.
    #[error("topic {topic:?} was deleted before the records were committed")]
    TopicDeleted { topic: String },
    /// The node is shutting down.
    #[error("this node is shutting down; send the request to another node")]
    ShuttingDown,
    /// The request's `Idempotency-Key` was used before for a request with other content.
    #[error(
        "this Idempotency-Key was used for a different request (another body, topic, partition or content type); use a new key for a new request"
    )]
    IdempotencyConflict,
    /// This process was fenced: another process took over its identity.
    #[error("this node was fenced and no longer writes ({0}); send the request to another node")]
    Fenced(String),
    /// The hot tier could not be written.
    #[error("hot tier write failed: {0}")]
    HotTier(#[source] std::io::Error),
    /// Stored bytes failed to decode.
    #[error(transparent)]
    Format(#[from] FormatError),
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let message = e.to_string();
        match e {
            IngestError::BadRequest(_) => ApiError::bad_request(message),
            IngestError::Invalid(_) => ApiError::invalid(message),
            IngestError::KeyRequired { .. } => ApiError::new(422, codes::KEY_REQUIRED, message),
            IngestError::RecordTooLarge { .. } => {
                ApiError::new(413, codes::RECORD_TOO_LARGE, message)
            }
            IngestError::RequestTooLarge { .. } => {
                ApiError::new(413, codes::REQUEST_TOO_LARGE, message)
            }
            IngestError::Overloaded { .. } => ApiError::unavailable(codes::OVERLOADED, message, 1),
            IngestError::Meta(m) => m.into(),
            IngestError::CommitTimeout { .. } => {
                ApiError::unavailable(codes::COMMIT_TIMEOUT, message, 1)
            }
            IngestError::TopicDeleted { .. } => ApiError::new(404, codes::TOPIC_NOT_FOUND, message),
            IngestError::ShuttingDown => ApiError::unavailable(codes::SHUTTING_DOWN, message, 1),
            IngestError::Fenced(_) => ApiError::unavailable(codes::FENCED, message, 1),
            IngestError::IdempotencyConflict => {
                ApiError::new(422, codes::IDEMPOTENCY_CONFLICT, message)
            }
            IngestError::HotTier(_) => ApiError::unavailable(codes::STORE_UNAVAILABLE, message, 1),
            IngestError::Format(_) => ApiError::internal(message),
        }
    }
}
