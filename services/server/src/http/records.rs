//! Produce and consume routes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::value::RawValue;
use strata_cache::{FetchOptions, StartAt};
use strata_core::api::{ApiError, codes};
use strata_core::budget::{Full, Held};
use strata_core::ids::{Offset, PartitionId};
use strata_core::record::StoredRecord;
use strata_ingest::parse::{parse_json, parse_ndjson};
use strata_ingest::{Acks, Ingestor};

use super::{ApiResult, Params, Shared, json};

#[derive(Serialize)]
struct OffsetOut {
    partition: u32,
    offset: Option<i64>,
}

/// What a produce request needs before its body is read.
struct Admitted {
    acks: Acks,
    ingest: Arc<Ingestor>,
    ndjson: bool,
    receiving: Held,
}

/// Checks everything that can refuse a produce request before its body is read: parameters,
/// role, content type, declared size, and the budget of bytes being received.
fn admit(
    s: &Shared,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: &HeaderMap,
) -> ApiResult<Admitted> {
    let params = Params::from_query(q, &["acks"])?;
    let acks: Acks = params
        .get("acks")
        .unwrap_or("all")
        .parse()
        .map_err(ApiError::bad_request)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let ndjson = match content_type.as_deref() {
        // curl -d sends application/x-www-form-urlencoded unless told otherwise; a produce body
        // is never a form, so read it as the JSON it is.
        None | Some("application/json") | Some("") | Some("application/x-www-form-urlencoded") => {
            false
        }
        Some("application/x-ndjson") | Some("application/ndjson") => true,
        Some(other) => {
            return Err(ApiError::new(
                415,
                codes::UNSUPPORTED_MEDIA_TYPE,
                format!("content type {other:?} is not accepted: send application/json or application/x-ndjson"),
            )
            .into());
        }
    };
    let (ingest, receiving) = reserve(s, headers)?;
    Ok(Admitted {
        acks,
        ingest,
        ndjson,
        receiving,
    })
}

/// Checks that this node ingests and that a produce body of the declared size fits, and
/// reserves its bytes in the budget of bodies being received.
pub(crate) fn reserve(s: &Shared, headers: &HeaderMap) -> ApiResult<(Arc<Ingestor>, Held)> {
    let Some(ingest) = s.started()?.ingest.clone() else {
        return Err(ApiError::unavailable(
            codes::SHUTTING_DOWN,
            "this node does not run the ingest role",
            1,
        )
        .into());
    };
    let limit = s.config.http.max_request_bytes;
    let declared = declared_length(headers);
    if let Some(n) = declared
        && n > limit
    {
        return Err(ApiError::new(
            413,
            codes::REQUEST_TOO_LARGE,
            format!(
                "request body of {n} bytes is over this node's limit of {limit} bytes; split it"
            ),
        )
        .into());
    }
    // Bound the memory of bodies being received and parsed, before reading any of them. A
    // body reserves a first slice here and the rest as it arrives ([`read_reserved`]), never
    // its declared length or the whole limit up front: clients that declare large bodies and
    // trickle them must not fill the budget with nothing.
    let want = declared
        .map_or(FIRST_SLICE, |n| n.min(FIRST_SLICE))
        .min(limit);
    let receiving = s.request_budget.try_take(want).map_err(receiving_full)?;
    Ok((ingest, receiving))
}

/// What a body reserves before its first byte is read.
const FIRST_SLICE: u64 = 64 << 10;

/// Reads a produce body within `limit`, growing `receiving` (the budget it holds) as a body of
/// unknown length arrives; `503` when the node's budget cannot hold what arrived.
pub(crate) async fn read_reserved(
    body: axum::body::Body,
    limit: u64,
    receiving: &mut Held,
) -> ApiResult<bytes::Bytes> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| super::body_error(&e))?;
        let len = (out.len() + chunk.len()) as u64;
        if len > limit {
            return Err(ApiError::new(
                413,
                codes::REQUEST_TOO_LARGE,
                format!("request body is over this node's limit of {limit} bytes; split it"),
            )
            .into());
        }
        let held = receiving.bytes();
        // A body that holds the whole budget may go on (as one declared larger than the budget
        // does): it cannot wait for room that will never come.
        if len > held && !receiving.holds_all() {
            // Double what is held (within the limit and the budget), so a large body takes
            // few steps.
            receiving
                .grow_to(len.max(held.saturating_mul(2)).min(limit))
                .map_err(receiving_full)?;
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

fn receiving_full(full: Full) -> ApiError {
    ApiError::unavailable(
        codes::OVERLOADED,
        format!(
            "this node is receiving {} bytes of requests already; retry shortly",
            full.capacity
        ),
        1,
    )
}

pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

pub(crate) async fn produce(
    State(s): State<Shared>,
    Path(topic): Path<String>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let limit = s.config.http.max_request_bytes;
    let Admitted {
        acks,
        ingest,
        ndjson,
        mut receiving,
    } = match admit(&s, q, &headers) {
        Ok(a) => a,
        Err(e) => {
            // Read and discard the body (it is not kept) so the client sees this answer
            // rather than a connection reset mid-upload; far larger bodies are cut off at once.
            if declared_length(&headers).is_none_or(|n| n <= limit.saturating_mul(4)) {
                super::drain(body).await;
            }
            return Err(e);
        }
    };
    let body = read_reserved(body, limit, &mut receiving).await?;
    let key = super::idempotency::request_key(&headers, &topic, "native", &body)?;
    let records = if ndjson {
        parse_ndjson(&body)?
    } else {
        parse_json(&body)?
    };
    // From here the staging quota accounts for the records.
    drop((body, receiving));
    let count = records.len() as u64;
    let offsets = ingest.produce(&topic, records, acks, key).await?;
    s.metrics
        .produce_latency
        .with_label_values(&[acks.as_str()])
        .observe(started.elapsed().as_secs_f64());
    s.metrics
        .produce_records
        .with_label_values(&[acks.as_str()])
        .inc_by(count);
    let offsets = offsets
        .into_iter()
        .map(|o| OffsetOut {
            partition: o.partition.0,
            offset: o.offset.map(|o| o.0),
        })
        .collect();
    Ok(json(StatusCode::OK, &ProduceOut { offsets }))
}

#[derive(Serialize)]
struct ProduceOut {
    offsets: Vec<OffsetOut>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Data<'a> {
    Json(&'a RawValue),
    Text(Cow<'a, str>),
}

#[derive(Serialize)]
struct RecordOut<'a> {
    partition: u32,
    offset: i64,
    timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<Option<Data<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Option<Data<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_base64: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<Option<String>>,
    headers: BTreeMap<&'a str, Cow<'a, str>>,
}

#[derive(Serialize)]
struct FetchOut<'a> {
    records: Vec<RecordOut<'a>>,
    next_offset: i64,
    high_watermark: i64,
    log_start_offset: i64,
}

fn as_json(bytes: &[u8]) -> Data<'_> {
    match serde_json::from_slice::<&RawValue>(bytes) {
        Ok(raw) => Data::Json(raw),
        Err(_) => Data::Text(String::from_utf8_lossy(bytes)),
    }
}

fn record_out(partition: u32, r: &StoredRecord, base64: bool) -> RecordOut<'_> {
    let rec = &r.record;
    let headers = rec
        .headers
        .iter()
        .map(|h| {
            let v = if base64 {
                Cow::Owned(BASE64.encode(&h.value))
            } else {
                String::from_utf8_lossy(&h.value)
            };
            (h.name.as_str(), v)
        })
        .collect();
    let (key, value, key_base64, value_base64) = if base64 {
        (
            None,
            None,
            Some(rec.key.as_ref().map(|k| BASE64.encode(k))),
            Some(rec.value.as_ref().map(|v| BASE64.encode(v))),
        )
    } else {
        (
            Some(rec.key.as_deref().map(as_json)),
            Some(rec.value.as_deref().map(as_json)),
            None,
            None,
        )
    };
    RecordOut {
        partition,
        offset: r.offset.0,
        timestamp: rec.timestamp,
        key,
        value,
        key_base64,
        value_base64,
        headers,
    }
}

pub(crate) async fn consume(
    State(s): State<Shared>,
    Path((topic, partition)): Path<(String, String)>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let params = Params::from_query(
        q,
        &[
            "offset",
            "timestamp",
            "max_records",
            "max_bytes",
            "max_wait_ms",
            "format",
        ],
    )?;
    let partition: u32 = partition
        .parse()
        .map_err(|_| ApiError::bad_request(format!("partition {partition:?} is not a number")))?;
    let start = match (params.get("offset"), params.get("timestamp")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give offset or timestamp, not both").into());
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "give offset (a number, earliest or latest) or timestamp",
            )
            .into());
        }
        (Some("earliest"), None) => StartAt::Earliest,
        (Some("latest"), None) => StartAt::Latest,
        (Some(o), None) => StartAt::Offset(Offset(o.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "offset must be a number, earliest or latest, got {o:?}"
            ))
        })?)),
        (None, Some(t)) => StartAt::Timestamp(t.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "timestamp must be milliseconds since the Unix epoch, got {t:?}"
            ))
        })?),
    };
    let base64 = match params.get("format").unwrap_or("json") {
        "json" => false,
        "base64" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "format must be json or base64, got {other:?}"
            ))
            .into());
        }
    };
    let opts = FetchOptions {
        start,
        max_records: params.number("max_records", 500usize, 1, 100_000)?,
        max_bytes: params.number("max_bytes", 1u64 << 20, 1, 64 << 20)?,
        max_wait: Duration::from_millis(params.number("max_wait_ms", 0u64, 0, 300_000)?),
    };
    let fetch = s
        .started()?
        .read
        .fetch(&topic, PartitionId(partition), opts);
    let result = tokio::select! {
        r = fetch => r?,
        _ = s.shutdown.cancelled() => {
            return Err(ApiError::unavailable(codes::SHUTTING_DOWN, "this node is shutting down", 1).into());
        }
    };
    let bytes: u64 = result.records.iter().map(|r| r.record.size() as u64).sum();
    s.metrics.fetch_records.inc_by(result.records.len() as u64);
    s.metrics.fetch_bytes.inc_by(bytes);
    let out = FetchOut {
        records: result
            .records
            .iter()
            .map(|r| record_out(partition, r, base64))
            .collect(),
        next_offset: result.next_offset.0,
        high_watermark: result.high_watermark.0,
        log_start_offset: result.log_start_offset.0,
    };
    let response = json(StatusCode::OK, &out);
    s.metrics
        .fetch_latency
        .observe(started.elapsed().as_secs_f64());
    Ok(response)
}
