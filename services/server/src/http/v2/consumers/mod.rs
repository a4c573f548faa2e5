//! v2 consumer instances: `/consumers/{group}[/instances/{instance}/...]`.
//!
//! An instance lives in the quorum, not in the node that created it (see
//! `strata_core::meta::consumer`): every route here is one quorum command (a records fetch
//! is two: one to resolve positions, one to move them), so any node behind a load balancer
//! serves any instance, and a node dying loses nothing.

//!
//! One file per resource: [`instances`] (create, delete), [`subscription`] (subscription and
//! assignment), [`positions`] (seeks), [`offsets`] (commits) and [`records`] (fetches).

mod instances;
mod offsets;
mod positions;
mod records;
mod subscription;

pub(super) use instances::{create, delete};
pub(super) use offsets::{commit, committed};
pub(super) use positions::{seek, seek_beginning, seek_end};
pub(super) use records::{records, records_v1};
pub(super) use subscription::{assign, assignments, subscribe, subscription, unsubscribe};

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use strata_cache::{FetchOptions, ReadError, StartAt};
use strata_core::api::{ApiError, confluent};

use strata_core::ids::{Offset, PartitionId};
use strata_core::json::Object;
use strata_core::meta::GroupOffset;
use strata_core::meta::consumer::{
    Assignor, ConsumerOp, ConsumerView, EmbeddedFormat, InstanceConfig, OffsetReset, PositionMove,
    SeekTo, Subscription, TopicPartition, compile_pattern, operate, validate_name,
};
use strata_core::record::StoredRecord;

use super::{V2Error, V2Result, body, check_plain_request, negotiate, negotiate_records, reply};
use crate::http::access::Caller;
use crate::http::groups::OffsetIn;
use crate::http::{Params, Shared, read_body};
use strata_core::meta::access::Operation;

/// Largest body of a consumer request.
const BODY_LIMIT: u64 = 4 << 20;

/// Applies `op` to an instance, if the caller may read every topic it names; a fetch's
/// partitions are checked once the quorum says which they are.
async fn run(
    s: &Shared,
    caller: &Caller,
    group: &str,
    instance: &str,
    op: ConsumerOp,
) -> V2Result<ConsumerView> {
    let named: Vec<&str> = match &op {
        ConsumerOp::Subscribe {
            subscription: Subscription::Topics(topics),
        } => topics.iter().map(String::as_str).collect(),
        ConsumerOp::Assign { partitions } => partitions.iter().map(|p| p.topic.as_str()).collect(),
        ConsumerOp::Seek { positions } => positions.iter().map(|(p, _)| p.topic.as_str()).collect(),
        ConsumerOp::Commit {
            offsets: Some(offsets),
        } => offsets.iter().map(|o| o.topic.as_str()).collect(),
        _ => Vec::new(),
    };
    for topic in named {
        caller.require_topic(Operation::Read, topic)?;
    }
    let poll = matches!(op, ConsumerOp::Poll);
    let now_ms = s.clock.now_ms();
    let view = operate(s.meta.as_ref(), group, instance, op, now_ms).await?;
    if poll {
        for o in &view.partitions {
            caller.require_topic(Operation::Read, &o.tp.topic)?;
        }
    }
    Ok(view)
}

/// A request to one consumer instance (`/consumers/{group}/instances/{instance}/…`): the
/// node, the names from the path, the headers and the body.
pub(crate) struct Call {
    s: Shared,
    caller: Caller,
    group: String,
    instance: String,
    headers: HeaderMap,
    body: axum::body::Body,
}

impl axum::extract::FromRequest<Shared> for Call {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, s: &Shared) -> Result<Self, Response> {
        use axum::extract::FromRequestParts;
        let (mut parts, body) = req.into_parts();
        let Path((group, instance)) = Path::<(String, String)>::from_request_parts(&mut parts, s)
            .await
            .map_err(IntoResponse::into_response)?;
        let caller = Caller::from_request_parts(&mut parts, s)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            s: s.clone(),
            caller,
            group,
            instance,
            headers: parts.headers,
            body,
        })
    }
}

impl Call {
    /// Applies `op` to this instance. (It borrows the names, not the whole call: the body is
    /// not `Sync`, so a future holding `&Call` would not be `Send`.)
    fn run(&self, op: ConsumerOp) -> impl Future<Output = V2Result<ConsumerView>> + Send + '_ {
        let (s, caller, group, instance) = (&self.s, &self.caller, &self.group, &self.instance);
        async move { run(s, caller, group, instance, op).await }
    }

    /// Reads the body, which must be there.
    async fn required<T: serde::de::DeserializeOwned>(&mut self) -> V2Result<T> {
        required_body(&self.headers, std::mem::take(&mut self.body)).await
    }

    /// Reads the body, which may be empty (`None`).
    async fn optional<T: serde::de::DeserializeOwned>(&mut self) -> V2Result<Option<T>> {
        optional_body(&self.headers, std::mem::take(&mut self.body)).await
    }
}

fn invalid_config(message: impl Into<String>) -> V2Error {
    V2Error(ApiError::new(
        422,
        confluent::INVALID_CONSUMER_CONFIG,
        format!("Invalid consumer configuration: {}", message.into()),
    ))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Reads a body that may be empty (`None`).
async fn optional_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    b: axum::body::Body,
) -> V2Result<Option<T>> {
    check_plain_request(headers)?;
    let bytes = read_body(b, BODY_LIMIT).await.map_err(|e| V2Error(e.0))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    body(&bytes).map(Some)
}

async fn required_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    b: axum::body::Body,
) -> V2Result<T> {
    optional_body(headers, b)
        .await?
        .ok_or_else(|| V2Error(ApiError::new(422, 422, "the request needs a JSON body")))
}

// ---- bodies several resources take ----

#[derive(Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct PartitionIn {
    topic: String,
    partition: u32,
}

impl From<&PartitionIn> for TopicPartition {
    fn from(p: &PartitionIn) -> Self {
        TopicPartition::new(p.topic.clone(), p.partition)
    }
}

#[derive(Serialize)]
struct PartitionsOut {
    partitions: Vec<PartitionIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PartitionsIn {
    partitions: Vec<Object<PartitionIn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TimestampIn {
    topic: String,
    partition: u32,
    /// An ISO-8601 instant (`2019-10-25T14:07:30.123Z`) or milliseconds since the epoch.
    timestamp: Value,
    #[serde(default, rename = "metadata")]
    _metadata: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OffsetsIn {
    #[serde(default)]
    offsets: Option<Vec<Object<OffsetIn>>>,
    #[serde(default)]
    timestamps: Option<Vec<Object<TimestampIn>>>,
}

/// Runs `data` through every consumer body's decoder and the checks the handlers make before
/// they reach the quorum, and collects each refusal (the fuzz target `v2-bodies`).
pub(super) fn decode_bodies(data: &[u8], refused: &mut Vec<ApiError>) {
    let mut check = |r: V2Result<()>| {
        if let Err(V2Error(e)) = r {
            refused.push(e);
        }
    };
    check(body::<instances::CreateIn>(data).and_then(|req| {
        instances::config(&req, 30_000)?;
        instances::asked_name(&req).map(drop)
    }));
    check(
        body::<subscription::SubscribeIn>(data)
            .and_then(|r| subscription::subscribe_op(r).map(drop)),
    );
    check(body::<PartitionsIn>(data).map(drop));
    check(body::<OffsetsIn>(data).and_then(|req| {
        if let Some(list) = &req.offsets {
            offsets::to_commit(list)?;
        }
        for Object(t) in req.timestamps.iter().flatten() {
            positions::timestamp_ms(t)?;
        }
        Ok(())
    }));
}
