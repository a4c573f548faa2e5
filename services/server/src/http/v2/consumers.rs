//! v2 consumer instances: `/consumers/{group}[/instances/{instance}/...]`.
//!
//! An instance lives in the quorum, not in the node that created it (see
//! `strata_core::meta::consumer`): every route here is one quorum command (a records fetch
//! is two: one to resolve positions, one to move them), so any node behind a load balancer
//! serves any instance, and a node dying loses nothing.

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
use strata_core::clock::{Clock, SystemClock};
use strata_core::ids::{Offset, PartitionId};
use strata_core::json::Object;
use strata_core::meta::GroupOffset;
use strata_core::meta::consumer::{
    Assignor, ConsumerOp, ConsumerView, EmbeddedFormat, InstanceConfig, OffsetReset, PositionMove,
    SeekTo, Subscription, TopicPartition, compile_pattern, validate_name,
};
use strata_core::meta::state::{Command, CommandResult};
use strata_core::record::StoredRecord;
use tokio::time::Instant;

use super::{V2Error, V2Result, body, check_plain_request, negotiate, negotiate_records, reply};
use crate::http::{Params, Shared, read_body};

/// Largest body of a consumer request.
const BODY_LIMIT: u64 = 4 << 20;

async fn run(s: &Shared, group: &str, instance: &str, op: ConsumerOp) -> V2Result<ConsumerView> {
    let cmd = Command::Consumer {
        group: group.to_string(),
        instance: instance.to_string(),
        op,
        now_ms: SystemClock.now_ms(),
    };
    match s.meta.execute(cmd).await? {
        CommandResult::Consumer(v) => Ok(v),
        other => Err(V2Error(ApiError::internal(format!(
            "unexpected quorum result {other:?}"
        )))),
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

// ---- create and delete ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateIn {
    #[serde(default)]
    name: Option<String>,
    /// The v1 name of `name`.
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(rename = "auto.offset.reset", default)]
    auto_offset_reset: Option<Value>,
    #[serde(rename = "auto.commit.enable", default)]
    auto_commit_enable: Option<Value>,
    #[serde(rename = "fetch.min.bytes", default)]
    fetch_min_bytes: Option<Value>,
    #[serde(rename = "consumer.request.timeout.ms", default)]
    request_timeout_ms: Option<Value>,
    /// Strata extension: `range` (default) or `roundrobin`.
    #[serde(rename = "partition.assignment.strategy", default)]
    assignor: Option<Value>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

fn config(req: &CreateIn, s: &Shared) -> V2Result<InstanceConfig> {
    let format = match req
        .format
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("binary") => EmbeddedFormat::Binary,
        Some("json") => EmbeddedFormat::Json,
        Some(f @ ("avro" | "protobuf" | "jsonschema")) => {
            return Err(V2Error(ApiError::new(
                422,
                confluent::PAYLOAD_ERROR,
                format!(
                    "Payload error. Schema Registry must be configured when using schemas: Strata runs none, so format {f} is not available; use binary or json"
                ),
            )));
        }
        Some(other) => {
            return Err(V2Error(ApiError::new(
                422,
                422,
                format!("Invalid format type: {other:?}; use binary or json"),
            )));
        }
    };
    let auto_offset_reset = match req.auto_offset_reset.as_ref().map(text).as_deref() {
        None | Some("latest") => OffsetReset::Latest,
        Some("earliest" | "smallest") => OffsetReset::Earliest,
        Some("none") => OffsetReset::None,
        Some(other) => {
            return Err(invalid_config(format!(
                "auto.offset.reset must be earliest, latest or none, got {other:?}"
            )));
        }
    };
    let auto_commit = match req.auto_commit_enable.as_ref().map(text).as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(invalid_config(format!(
                "auto.commit.enable must be true or false, got {other:?}"
            )));
        }
    };
    let fetch_min_bytes = match req.fetch_min_bytes.as_ref().map(text).as_deref() {
        None | Some("-1") => None,
        Some(t) => match t.parse::<u64>() {
            Ok(n) if n <= 10_000_000 => Some(n),
            _ => {
                return Err(V2Error(ApiError::new(
                    422,
                    confluent::INVALID_CONSUMER_CONFIG_CONSTRAINT,
                    format!(
                        "Invalid consumer configuration. It does not abide by the constraints: fetch.min.bytes must be from -1 to 10000000, got {t:?}"
                    ),
                )));
            }
        },
    };
    let request_timeout_ms = match req.request_timeout_ms.as_ref().map(text).as_deref() {
        None | Some("-1") => None,
        Some(t) => match t.parse::<u64>() {
            Ok(n) if n <= 300_000 => Some(n),
            _ => {
                return Err(invalid_config(format!(
                    "consumer.request.timeout.ms must be a number from 0 to 300000, got {t:?}"
                )));
            }
        },
    };
    let assignor = match req.assignor.as_ref().map(text).as_deref() {
        None | Some("range") => Assignor::Range,
        Some("roundrobin" | "round-robin" | "round_robin") => Assignor::RoundRobin,
        Some(other) => {
            return Err(invalid_config(format!(
                "partition.assignment.strategy must be range or roundrobin, got {other:?}"
            )));
        }
    };
    Ok(InstanceConfig {
        format,
        auto_offset_reset,
        auto_commit,
        fetch_min_bytes,
        request_timeout_ms,
        assignor,
        timeout_ms: s.config.consumer_instance_timeout.as_millis() as i64,
    })
}

/// Percent-encodes a path segment.
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL clients used to reach this node: `X-Forwarded-Proto`/`X-Forwarded-Host` from a
/// proxy, else `Host`, else the advertised address.
fn base_url(s: &Shared, headers: &HeaderMap) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let host = first("x-forwarded-host")
        .or_else(|| first(header::HOST.as_str()))
        .unwrap_or_else(|| s.advertise.clone());
    let scheme = first("x-forwarded-proto").unwrap_or_else(|| "http".to_string());
    format!("{scheme}://{host}")
}

fn generated_name(s: &Shared) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "rest-consumer-{}-{:x}-{n}",
        s.display_id(),
        SystemClock.now_ms()
    )
}

#[derive(Serialize)]
struct CreateOut {
    instance_id: String,
    base_uri: String,
}

/// `POST /consumers/{group}`.
pub async fn create(
    State(s): State<Shared>,
    Path(group): Path<String>,
    headers: HeaderMap,
    b: axum::body::Body,
) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let req: CreateIn = optional_body(&headers, b).await?.unwrap_or_default();
    validate_name("group", &group).map_err(invalid_config)?;
    let config = config(&req, &s)?;
    // As Confluent does, the deprecated `id` wins over `name`.
    let name = match req.id.clone().or_else(|| req.name.clone()) {
        Some(n) => {
            validate_name("consumer instance", &n).map_err(invalid_config)?;
            n
        }
        None => generated_name(&s),
    };
    let view = run(&s, &group, &name, ConsumerOp::Create { config }).await?;
    let out = CreateOut {
        base_uri: format!(
            "{}/consumers/{}/instances/{}",
            base_url(&s, &headers),
            segment(&group),
            segment(&view.instance)
        ),
        instance_id: view.instance,
    };
    Ok(reply(StatusCode::OK, ct, &out))
}

/// `DELETE /consumers/{group}/instances/{instance}`.
pub async fn delete(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
) -> V2Result<Response> {
    run(&s, &group, &instance, ConsumerOp::Delete).await?;
    Ok(no_content())
}

// ---- subscription and assignment ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeIn {
    #[serde(default)]
    topics: Option<Vec<String>>,
    #[serde(default)]
    topic_pattern: Option<String>,
}

/// `POST .../subscription`: `{"topics": [...]}` or `{"topic_pattern": "..."}` (with both,
/// `topics` wins and with neither nothing changes, as Confluent does).
pub async fn subscribe(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
    headers: HeaderMap,
    b: axum::body::Body,
) -> V2Result<Response> {
    let req: SubscribeIn = required_body(&headers, b).await?;
    let op = match (req.topics, req.topic_pattern) {
        (Some(topics), _) => ConsumerOp::Subscribe {
            subscription: Subscription::Topics(topics),
        },
        (None, Some(p)) => {
            compile_pattern(&p).map_err(|e| V2Error(ApiError::new(422, 422, e)))?;
            ConsumerOp::Subscribe {
                subscription: Subscription::Pattern(p),
            }
        }
        (None, None) => ConsumerOp::Touch,
    };
    run(&s, &group, &instance, op).await?;
    Ok(no_content())
}

/// `GET .../subscription`: `{"topics": [...]}` (for a pattern, the topics it matches now).
pub async fn subscription(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
    headers: HeaderMap,
) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let view = run(&s, &group, &instance, ConsumerOp::Touch).await?;
    let topics: Vec<String> = match view.subscription {
        None => Vec::new(),
        Some(Subscription::Topics(t)) => t,
        Some(Subscription::Pattern(p)) => {
            let re = compile_pattern(&p).map_err(|e| V2Error(ApiError::internal(e)))?;
            s.meta
                .list_topics()
                .await?
                .into_iter()
                .map(|t| t.name)
                .filter(|n| re.is_match(n))
                .collect()
        }
    };
    Ok(reply(
        StatusCode::OK,
        ct,
        &serde_json::json!({ "topics": topics }),
    ))
}

/// `DELETE .../subscription`.
pub async fn unsubscribe(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
) -> V2Result<Response> {
    run(&s, &group, &instance, ConsumerOp::Unsubscribe).await?;
    Ok(no_content())
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
struct PartitionIn {
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
struct PartitionsIn {
    partitions: Vec<Object<PartitionIn>>,
}

/// `POST .../assignments`: `{"partitions": [{"topic", "partition"}]}`.
pub async fn assign(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
    headers: HeaderMap,
    b: axum::body::Body,
) -> V2Result<Response> {
    let req: PartitionsIn = required_body(&headers, b).await?;
    let partitions = req
        .partitions
        .iter()
        .map(|p| TopicPartition::from(&**p))
        .collect();
    run(&s, &group, &instance, ConsumerOp::Assign { partitions }).await?;
    Ok(no_content())
}

/// `GET .../assignments`: the partitions the instance reads now.
pub async fn assignments(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
    headers: HeaderMap,
) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let view = run(&s, &group, &instance, ConsumerOp::Touch).await?;
    let partitions: Vec<PartitionIn> = view
        .partitions
        .iter()
        .map(|o| PartitionIn {
            topic: o.tp.topic.clone(),
            partition: o.tp.partition.0,
        })
        .collect();
    Ok(reply(StatusCode::OK, ct, &PartitionsOut { partitions }))
}

// ---- positions ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetIn {
    topic: String,
    partition: u32,
    offset: i64,
    /// Accepted for compatibility; Strata keeps no offset metadata.
    #[serde(default, rename = "metadata")]
    _metadata: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimestampIn {
    topic: String,
    partition: u32,
    /// An ISO-8601 instant (`2019-10-25T14:07:30.123Z`) or milliseconds since the epoch.
    timestamp: Value,
    #[serde(default, rename = "metadata")]
    _metadata: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetsIn {
    #[serde(default)]
    offsets: Option<Vec<Object<OffsetIn>>>,
    #[serde(default)]
    timestamps: Option<Vec<Object<TimestampIn>>>,
}

/// `POST .../positions`: `{"offsets": [{"topic", "partition", "offset"}], "timestamps":
/// [{"topic", "partition", "timestamp"}]}`: the next fetch of each partition starts at its
/// offset, or at its first record at or after the timestamp.
pub async fn seek(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
    headers: HeaderMap,
    b: axum::body::Body,
) -> V2Result<Response> {
    let req: OffsetsIn = required_body(&headers, b).await?;
    let mut positions: Vec<(TopicPartition, SeekTo)> = req
        .offsets
        .unwrap_or_default()
        .iter()
        .map(|o| {
            (
                TopicPartition::new(o.topic.clone(), o.partition),
                SeekTo::Offset(Offset(o.offset)),
            )
        })
        .collect();
    for Object(t) in req.timestamps.unwrap_or_default() {
        let ms = match &t.timestamp {
            Value::Number(n) => n.as_i64(),
            Value::String(v) => crate::units::parse_instant(v).or_else(|| v.parse().ok()),
            _ => None,
        }
        .ok_or_else(|| {
            V2Error(ApiError::new(
                400,
                400,
                format!(
                    "timestamp {} of {}-{} is not an ISO-8601 instant (2019-10-25T14:07:30.123Z) or milliseconds",
                    t.timestamp, t.topic, t.partition
                ),
            ))
        })?;
        let read = &s.started().map_err(|e| V2Error(e.0))?.read;
        let opts = FetchOptions {
            start: StartAt::Timestamp(ms),
            max_records: 1,
            max_bytes: 1,
            max_wait: Duration::ZERO,
        };
        let got = read.fetch(&t.topic, PartitionId(t.partition), opts).await?;
        let at = got.records.first().map_or(got.next_offset, |r| r.offset);
        positions.push((
            TopicPartition::new(t.topic, t.partition),
            SeekTo::Offset(at),
        ));
    }
    run(&s, &group, &instance, ConsumerOp::Seek { positions }).await?;
    Ok(no_content())
}

async fn seek_all(
    s: Shared,
    group: String,
    instance: String,
    headers: HeaderMap,
    b: axum::body::Body,
    to: SeekTo,
) -> V2Result<Response> {
    let req: PartitionsIn = required_body(&headers, b).await?;
    let positions = req
        .partitions
        .iter()
        .map(|p| (TopicPartition::from(&**p), to))
        .collect();
    run(&s, &group, &instance, ConsumerOp::Seek { positions }).await?;
    Ok(no_content())
}

/// `POST .../positions/beginning`.
pub async fn seek_beginning(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
    headers: HeaderMap,
    b: axum::body::Body,
) -> V2Result<Response> {
    seek_all(s, group, instance, headers, b, SeekTo::Beginning).await
}

/// `POST .../positions/end`.
pub async fn seek_end(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
    headers: HeaderMap,
    b: axum::body::Body,
) -> V2Result<Response> {
    seek_all(s, group, instance, headers, b, SeekTo::End).await
}

// ---- offsets ----

/// `POST .../offsets`: commits the given offsets (each the last record consumed, so the
/// group's next offset is one past it, as Confluent does), or with no body every position
/// the instance has reached.
pub async fn commit(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
    headers: HeaderMap,
    b: axum::body::Body,
) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let req: Option<OffsetsIn> = optional_body(&headers, b).await?;
    let offsets = match req.and_then(|r| r.offsets) {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|o| {
                    if o.offset < 0 {
                        return Err(V2Error(ApiError::new(
                            422,
                            422,
                            format!(
                                "offset {} of {}-{} is negative",
                                o.offset, o.topic, o.partition
                            ),
                        )));
                    }
                    // The committed offset is the next one to read: one past the given one,
                    // which must leave room for it.
                    let next = o.offset.checked_add(1).ok_or_else(|| {
                        V2Error(ApiError::new(
                            422,
                            422,
                            format!(
                                "offset {} of {}-{} is too large: the largest offset that can be committed is {}",
                                o.offset,
                                o.topic,
                                o.partition,
                                i64::MAX - 1
                            ),
                        ))
                    })?;
                    Ok(GroupOffset {
                        topic: o.topic.clone(),
                        partition: PartitionId(o.partition),
                        offset: Offset(next),
                    })
                })
                .collect::<V2Result<Vec<_>>>()?,
        ),
    };
    run(&s, &group, &instance, ConsumerOp::Commit { offsets }).await?;
    // Confluent answers `200` with an empty list.
    Ok(reply(StatusCode::OK, ct, &serde_json::json!([])))
}

#[derive(Serialize)]
struct CommittedListOut {
    offsets: Vec<CommittedOut>,
}

#[derive(Serialize)]
struct CommittedOut {
    topic: String,
    partition: u32,
    offset: i64,
    metadata: String,
}

/// `GET .../offsets` with `{"partitions": [...]}`: the group's committed offsets (the next
/// offsets to read) of those partitions; those without one are left out.
pub async fn committed(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
    headers: HeaderMap,
    b: axum::body::Body,
) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let req: Option<PartitionsIn> = optional_body(&headers, b).await?;
    let view = run(&s, &group, &instance, ConsumerOp::Touch).await?;
    let wanted: Option<BTreeSet<TopicPartition>> = req.map(|r| {
        r.partitions
            .iter()
            .map(|p| TopicPartition::from(&**p))
            .collect()
    });
    if let Some(wanted) = &wanted {
        // One metadata read per topic named (the set is in topic order).
        let mut counts: Option<(&str, u32)> = None;
        for tp in wanted {
            let count = match counts {
                Some((t, n)) if t == tp.topic => n,
                _ => s.meta.topic(&tp.topic).await?.partitions,
            };
            counts = Some((&tp.topic, count));
            if tp.partition.0 >= count {
                return Err(strata_core::meta::MetaError::PartitionNotFound {
                    topic: tp.topic.clone(),
                    partition: tp.partition.0,
                    partitions: count,
                }
                .into());
            }
        }
    }
    let offsets: Vec<CommittedOut> = view
        .committed
        .into_iter()
        .filter(|o| {
            wanted.as_ref().is_none_or(|w| {
                w.contains(&TopicPartition {
                    topic: o.topic.clone(),
                    partition: o.partition,
                })
            })
        })
        .map(|o| CommittedOut {
            topic: o.topic,
            partition: o.partition.0,
            offset: o.offset.0,
            metadata: String::new(),
        })
        .collect();
    Ok(reply(StatusCode::OK, ct, &CommittedListOut { offsets }))
}

// ---- records ----

#[derive(Serialize)]
struct HeaderOut {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct RecordOut<'a> {
    topic: &'a str,
    key: Option<Embedded<'a>>,
    value: Option<Embedded<'a>>,
    partition: u32,
    offset: i64,
    /// Strata extension: the record's timestamp (ms since the epoch).
    timestamp: i64,
    /// Strata extension: the record's headers, values base64 (Confluent's v3 shape).
    headers: Vec<HeaderOut>,
}

/// A key or value in a response: JSON text as stored (key order and numbers kept), or a
/// string (base64, or bytes that are not JSON).
#[derive(Serialize)]
#[serde(untagged)]
enum Embedded<'a> {
    Json(&'a RawValue),
    Text(Cow<'a, str>),
}

fn embed(format: EmbeddedFormat, bytes: Option<&[u8]>) -> Option<Embedded<'_>> {
    let b = bytes?;
    Some(match format {
        EmbeddedFormat::Binary => Embedded::Text(Cow::Owned(BASE64.encode(b))),
        EmbeddedFormat::Json => match serde_json::from_slice::<&RawValue>(b) {
            Ok(raw) => Embedded::Json(raw),
            Err(_) => Embedded::Text(String::from_utf8_lossy(b)),
        },
    })
}

fn record_out<'a>(
    format: EmbeddedFormat,
    tp: &'a TopicPartition,
    r: &'a StoredRecord,
) -> RecordOut<'a> {
    RecordOut {
        topic: &tp.topic,
        key: embed(format, r.record.key.as_deref()),
        value: embed(format, r.record.value.as_deref()),
        partition: tp.partition.0,
        offset: r.offset.0,
        timestamp: r.record.timestamp,
        headers: r
            .record
            .headers
            .iter()
            .map(|h| HeaderOut {
                name: h.name.clone(),
                value: BASE64.encode(&h.value),
            })
            .collect(),
    }
}

/// One owned partition during a fetch.
struct Reading {
    tp: TopicPartition,
    from: Offset,
    next: Offset,
    records: Vec<StoredRecord>,
}

/// `GET .../records?timeout=&max_bytes=`: records of the instance's partitions from its
/// positions, waiting up to the timeout for `fetch.min.bytes` (by default, any record).
pub async fn records(
    State(s): State<Shared>,
    Path((group, instance)): Path<(String, String)>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> V2Result<Response> {
    fetch(s, group, instance, q, headers, None).await
}

/// `GET .../topics/{topic}?max_bytes=` (API v1): records of `topic` only. As v1 does, an
/// instance not yet subscribed to the topic subscribes to it first (adding it to the topics
/// it already has), which may rebalance its group.
pub async fn records_v1(
    State(s): State<Shared>,
    Path((group, instance, topic)): Path<(String, String, String)>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> V2Result<Response> {
    s.meta.topic(&topic).await?;
    let view = run(&s, &group, &instance, ConsumerOp::Touch).await?;
    let subscription = match view.subscription {
        None if !view.manual => Some(vec![topic.clone()]),
        Some(Subscription::Topics(mut topics)) if !topics.contains(&topic) => {
            topics.push(topic.clone());
            Some(topics)
        }
        _ => None,
    };
    if let Some(topics) = subscription {
        let op = ConsumerOp::Subscribe {
            subscription: Subscription::Topics(topics),
        };
        run(&s, &group, &instance, op).await?;
    }
    fetch(s, group, instance, q, headers, Some(topic)).await
}

async fn fetch(
    s: Shared,
    group: String,
    instance: String,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
    only_topic: Option<String>,
) -> V2Result<Response> {
    let params = Params::from_query(q, &["timeout", "max_bytes"]).map_err(|e| V2Error(e.0))?;
    // As Confluent does: `timeout` can only shorten the instance's (or the node's) request
    // timeout, and a value of 0 or below (or none) means that timeout; `max_bytes` of 0 or
    // below (or none) means the node's `consumer-request-max-bytes`.
    let timeout_param = params
        .number("timeout", -1i64, i64::MIN, i64::MAX)
        .map_err(|e| V2Error(e.0))?;
    let max_bytes = params
        .number("max_bytes", -1i64, i64::MIN, i64::MAX)
        .map_err(|e| V2Error(e.0))?;
    let max_bytes = if max_bytes <= 0 {
        s.config.consumer_request_max_bytes
    } else {
        (max_bytes as u64).min(64 << 20)
    };
    let view = run(&s, &group, &instance, ConsumerOp::Poll).await?;
    let ct = negotiate_records(&headers, view.config.format)?;
    let timeout = Duration::from_millis(
        view.config
            .request_timeout_ms
            .unwrap_or(s.config.consumer_request_timeout.as_millis() as u64)
            .min(if timeout_param > 0 {
                timeout_param as u64
            } else {
                u64::MAX
            }),
    );
    let deadline = Instant::now() + timeout;
    let mut readings = Vec::with_capacity(view.partitions.len());
    for o in &view.partitions {
        if only_topic.as_ref().is_some_and(|t| *t != o.tp.topic) {
            continue;
        }
        let Some(position) = o.position else {
            return Err(V2Error(ApiError::new(
                409,
                confluent::ILLEGAL_STATE,
                format!(
                    "Illegal state: no committed offset for partition {} and auto.offset.reset is none: set a position with POST .../positions",
                    o.tp
                ),
            )));
        };
        readings.push(Reading {
            tp: o.tp.clone(),
            from: position,
            next: position,
            records: Vec::new(),
        });
    }
    let read = &s.started().map_err(|e| V2Error(e.0))?.read;
    let min_bytes = view.config.fetch_min_bytes.unwrap_or(1).max(1);
    let mut changes = s.meta.changes();
    let mut bytes = 0u64;
    loop {
        changes.borrow_and_update();
        let open = readings.len().max(1) as u64;
        for r in readings.iter_mut() {
            if bytes >= max_bytes {
                break;
            }
            let share = ((max_bytes - bytes) / open).max(1);
            let opts = FetchOptions {
                start: StartAt::Offset(r.next),
                max_records: 10_000,
                max_bytes: share,
                max_wait: Duration::ZERO,
            };
            match read.fetch(&r.tp.topic, r.tp.partition, opts).await {
                Ok(got) => {
                    bytes += got
                        .records
                        .iter()
                        .map(|x| x.record.size() as u64)
                        .sum::<u64>();
                    r.next = got.next_offset;
                    r.records.extend(got.records);
                }
                Err(ReadError::OutOfRange {
                    log_start,
                    high_watermark,
                    ..
                }) => {
                    r.next = match view.config.auto_offset_reset {
                        OffsetReset::Earliest => log_start,
                        OffsetReset::Latest => high_watermark,
                        OffsetReset::None => {
                            return Err(V2Error(ApiError::new(
                                409,
                                confluent::ILLEGAL_STATE,
                                format!(
                                    "Illegal state: position {} of {} is out of range ({log_start} to {high_watermark}) and auto.offset.reset is none",
                                    r.next.0, r.tp
                                ),
                            )));
                        }
                    };
                }
                // A topic deleted under the instance: the next command drops its partitions.
                Err(ReadError::Meta(
                    strata_core::meta::MetaError::TopicNotFound { .. }
                    | strata_core::meta::MetaError::PartitionNotFound { .. },
                )) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let have = readings.iter().any(|r| !r.records.is_empty());
        if (have && bytes >= min_bytes) || bytes >= max_bytes || Instant::now() >= deadline {
            break;
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
            _ = s.shutdown.cancelled() => break,
        }
    }
    let moves: Vec<PositionMove> = readings
        .iter()
        .filter(|r| r.next != r.from)
        .map(|r| PositionMove {
            tp: r.tp.clone(),
            from: r.from,
            to: r.next,
        })
        .collect();
    let moved: BTreeSet<TopicPartition> = if moves.is_empty() {
        BTreeSet::new()
    } else {
        run(&s, &group, &instance, ConsumerOp::Advance { moves })
            .await?
            .moved
            .into_iter()
            .collect()
    };
    let format = view.config.format;
    let mut out = Vec::new();
    let mut count = 0u64;
    for r in &readings {
        if !moved.contains(&r.tp) {
            continue;
        }
        count += r.records.len() as u64;
        out.extend(r.records.iter().map(|x| record_out(format, &r.tp, x)));
    }
    s.metrics.fetch_records.inc_by(count);
    s.metrics.fetch_bytes.inc_by(bytes);
    Ok(reply(StatusCode::OK, ct, &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_instants_parse_to_epoch_millis() {
        assert_eq!(crate::units::parse_instant("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            crate::units::parse_instant("2019-10-25T14:07:30.123Z"),
            Some(1_572_012_450_123)
        );
        assert_eq!(
            crate::units::parse_instant("2019-10-25T16:07:30.123+02:00"),
            Some(1_572_012_450_123)
        );
        assert_eq!(
            crate::units::parse_instant("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        assert_eq!(crate::units::parse_instant("yesterday"), None);
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(segment("my_consumer-1.a~"), "my_consumer-1.a~");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    fn text(format: EmbeddedFormat, bytes: Option<&[u8]>) -> String {
        serde_json::to_string(&embed(format, bytes)).unwrap_or_default()
    }

    #[test]
    fn json_embedding_keeps_json_text_and_wraps_other_bytes_as_strings() {
        assert_eq!(
            text(EmbeddedFormat::Json, Some(br#"{"z":1,"a":"bar"}"#)),
            r#"{"z":1,"a":"bar"}"#,
            "key order and numbers are kept"
        );
        assert_eq!(
            text(EmbeddedFormat::Json, Some(b"plain text")),
            r#""plain text""#
        );
        assert_eq!(
            text(EmbeddedFormat::Binary, Some(b"kafka")),
            r#""a2Fma2E=""#
        );
        assert_eq!(text(EmbeddedFormat::Binary, None), "null");
    }
}
