//! The HTTP API's error contract: status, stable `error_code` and a message a user can act on.
//!
//! Codes are `status * 100 + n`, in the style of Confluent's REST Proxy. Each crate converts its
//! errors into [`ApiError`]; the server turns it into a response.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::meta::MetaError;

/// Stable error codes.
pub mod codes {
    /// Malformed body or parameter.
    pub const BAD_REQUEST: u32 = 40001;
    /// The request carries no valid credentials (on the internal API: no valid cluster secret).
    pub const UNAUTHENTICATED: u32 = 40101;
    /// The credentials are valid but the principal may not do this (ACLs).
    pub const FORBIDDEN: u32 = 40301;
    /// Unknown topic.
    pub const TOPIC_NOT_FOUND: u32 = 40401;
    /// Unknown partition.
    pub const PARTITION_NOT_FOUND: u32 = 40402;
    /// Unknown consumer group.
    pub const GROUP_NOT_FOUND: u32 = 40403;
    /// Unknown route.
    pub const ROUTE_NOT_FOUND: u32 = 40404;
    /// Unknown API token id.
    pub const TOKEN_NOT_FOUND: u32 = 40405;
    /// Unknown ACL id.
    pub const ACL_NOT_FOUND: u32 = 40406;
    /// Method not allowed on the route.
    pub const METHOD_NOT_ALLOWED: u32 = 40501;
    /// The request body arrived slower than the node's minimum rate.
    pub const REQUEST_TIMEOUT: u32 = 40801;
    /// Topic already exists.
    pub const TOPIC_EXISTS: u32 = 40901;
    /// A background job (compaction, archiving) of the topic is already running.
    pub const JOB_RUNNING: u32 = 40902;
    /// A record is over `max.message.bytes`.
    pub const RECORD_TOO_LARGE: u32 = 41301;
    /// The request body is over the node's limit.
    pub const REQUEST_TOO_LARGE: u32 = 41302;
    /// The request's URI is over the HTTP layer's limit.
    pub const URI_TOO_LONG: u32 = 41401;
    /// Unsupported content type.
    pub const UNSUPPORTED_MEDIA_TYPE: u32 = 41501;
    /// Offset outside `[log_start_offset, high_watermark]`.
    pub const OFFSET_OUT_OF_RANGE: u32 = 41601;
    /// Invalid topic name.
    pub const INVALID_TOPIC_NAME: u32 = 42201;
    /// Invalid config key or value.
    pub const INVALID_CONFIG: u32 = 42202;
    /// A record or request is well-formed but not acceptable.
    pub const INVALID_REQUEST: u32 = 42203;
    /// A record without a key was sent to a compacted topic.
    pub const KEY_REQUIRED: u32 = 42204;
    /// An `Idempotency-Key` was used before for a different request.
    pub const IDEMPOTENCY_CONFLICT: u32 = 42209;
    /// The request's header section is over the HTTP layer's limits.
    pub const HEADERS_TOO_LARGE: u32 = 43101;
    /// Internal error.
    pub const INTERNAL: u32 = 50001;
    /// Stored data failed its checksum.
    pub const CORRUPT_DATA: u32 = 50002;
    /// The node's staging quota is full.
    pub const OVERLOADED: u32 = 50301;
    /// The metadata quorum is unavailable.
    pub const QUORUM_UNAVAILABLE: u32 = 50302;
    /// The object store is unavailable.
    pub const STORE_UNAVAILABLE: u32 = 50303;
    /// The records were not committed in time; they may still be committed later.
    pub const COMMIT_TIMEOUT: u32 = 50304;
    /// The node is shutting down.
    pub const SHUTTING_DOWN: u32 = 50305;
    /// This process was fenced (another process took over its identity); it stops.
    pub const FENCED: u32 = 50306;
    /// Another live process registered under the same node id.
    pub const NODE_ID_IN_USE: u32 = 40903;

    /// The code of a refusal that only has a status (one of the HTTP layer's own, or a
    /// request a route's extractor refused): the status's general code.
    pub fn for_status(status: u16) -> u32 {
        match status {
            400 => BAD_REQUEST,
            404 => ROUTE_NOT_FOUND,
            405 => METHOD_NOT_ALLOWED,
            413 => REQUEST_TOO_LARGE,
            414 => URI_TOO_LONG,
            415 => UNSUPPORTED_MEDIA_TYPE,
            422 => INVALID_REQUEST,
            431 => HEADERS_TOO_LARGE,
            500..=599 => INTERNAL,
            s => u32::from(s) * 100 + 1,
        }
    }
}

/// The error codes of the Confluent REST Proxy v2 API where they differ from ours (the
/// `/consumers` and `/topics` routes use these).
pub mod confluent {
    /// Topic not found.
    pub const TOPIC_NOT_FOUND: u32 = 40401;
    /// Partition not found.
    pub const PARTITION_NOT_FOUND: u32 = 40402;
    /// Consumer instance not found.
    pub const CONSUMER_INSTANCE_NOT_FOUND: u32 = 40403;
    /// The `Accept` embedded format does not match the consumer instance's format.
    pub const CONSUMER_FORMAT_MISMATCH: u32 = 40601;
    /// The consumer already subscribed to other topics.
    pub const CONSUMER_ALREADY_SUBSCRIBED: u32 = 40901;
    /// A consumer instance of that name exists in the group.
    pub const CONSUMER_ALREADY_EXISTS: u32 = 40902;
    /// The operation does not fit the consumer's state.
    pub const ILLEGAL_STATE: u32 = 40903;
    /// Keys given with a format that needs a key schema, without one.
    pub const KEY_SCHEMA_MISSING: u32 = 42201;
    /// Values given with a format that needs a value schema, without one.
    pub const VALUE_SCHEMA_MISSING: u32 = 42202;
    /// A key or value could not be converted from the request's JSON.
    pub const JSON_CONVERSION: u32 = 42203;
    /// Invalid consumer configuration.
    pub const INVALID_CONSUMER_CONFIG: u32 = 42204;
    /// Invalid schema.
    pub const INVALID_SCHEMA: u32 = 42205;
    /// A schema format was used and there is no Schema Registry.
    pub const PAYLOAD_ERROR: u32 = 42206;
    /// `fetch.min.bytes` out of range when creating a consumer (status 422).
    pub const INVALID_CONSUMER_CONFIG_CONSTRAINT: u32 = 40001;
    /// A record failed for a reason retrying will not fix (per-record produce error).
    pub const KAFKA_ERROR: u32 = 50002;
    /// A record failed for a reason retrying may fix (per-record produce error).
    pub const KAFKA_RETRIABLE_ERROR: u32 = 50003;
}

/// An error as the HTTP API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    /// HTTP status.
    #[serde(skip)]
    pub status: u16,
    /// Stable error code.
    pub error_code: u32,
    /// What was wrong and how to fix it.
    pub message: String,
    /// Seconds a client should wait before retrying (`Retry-After`).
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
    /// Extra body fields (for example `log_start_offset` and `high_watermark` with `416`).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: u16, error_code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            error_code,
            message: message.into(),
            retry_after_secs: None,
            extra: BTreeMap::new(),
        }
    }

    /// `400`: a malformed body or parameter.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, codes::BAD_REQUEST, message)
    }

    /// `422`: well-formed but not acceptable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, codes::INVALID_REQUEST, message)
    }

    /// `500`: a bug or an unexpected failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, codes::INTERNAL, message)
    }

    /// `503` with `Retry-After`.
    pub fn unavailable(error_code: u32, message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::new(503, error_code, message).retry_after(retry_after_secs)
    }

    /// Sets `Retry-After`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Adds a body field.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.error_code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<MetaError> for ApiError {
    fn from(e: MetaError) -> Self {
        let message = e.to_string();
        match e {
            MetaError::TopicNotFound { .. } => Self::new(404, codes::TOPIC_NOT_FOUND, message),
            MetaError::PartitionNotFound { .. } => {
                Self::new(404, codes::PARTITION_NOT_FOUND, message)
            }
            MetaError::GroupNotFound { .. } => Self::new(404, codes::GROUP_NOT_FOUND, message),
            MetaError::TokenNotFound { .. } => Self::new(404, codes::TOKEN_NOT_FOUND, message),
            MetaError::AclNotFound { .. } => Self::new(404, codes::ACL_NOT_FOUND, message),
            MetaError::ConsumerNotFound { .. } => {
                Self::new(404, confluent::CONSUMER_INSTANCE_NOT_FOUND, message)
            }
            MetaError::ConsumerExists { .. } => {
                Self::new(409, confluent::CONSUMER_ALREADY_EXISTS, message)
            }
            MetaError::ConsumerSubscribed { .. } => {
                Self::new(409, confluent::CONSUMER_ALREADY_SUBSCRIBED, message)
            }
            MetaError::ConsumerState { .. } => Self::new(409, confluent::ILLEGAL_STATE, message),
            MetaError::TopicExists { .. } => Self::new(409, codes::TOPIC_EXISTS, message),
            MetaError::InvalidTopicName { .. } => {
                Self::new(422, codes::INVALID_TOPIC_NAME, message)
            }
            MetaError::InvalidConfig(_) => Self::new(422, codes::INVALID_CONFIG, message),
            MetaError::Invalid { .. } => Self::invalid(message),
            MetaError::Unavailable { .. } => {
                Self::unavailable(codes::QUORUM_UNAVAILABLE, message, 1)
            }
            MetaError::LeaseLost { .. } | MetaError::Conflict { .. } => {
                Self::new(409, codes::JOB_RUNNING, message)
            }
            MetaError::Fenced { .. } => Self::unavailable(codes::FENCED, message, 1),
            MetaError::NameInUse { .. } => Self::new(409, codes::NODE_ID_IN_USE, message),
            MetaError::StaleFlush { .. }
            | MetaError::Condemned { .. }
            | MetaError::Internal { .. } => Self::internal(message),
        }
    }
}

#[cfg(test)]
mod tests;
