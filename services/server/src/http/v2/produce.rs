//! v2 produce: `POST /topics/{topic}` and `POST /topics/{topic}/partitions/{partition}`.
//!
//! Records are partitioned exactly as the native API does it (an explicit partition, else
//! Kafka's murmur2 of the key bytes, else one partition per request in turn). `json` keys
//! and values are stored as Confluent's REST Proxy stores them: the JSON text, without the
//! whitespace between tokens, as its JSON serializer writes it, so the string key `"k1"` is the
//! four bytes `"k1"` with its quotes, a binary consumer reads `ImsxIg==`, and the key hashes
//! to the partition Kafka would choose for those bytes. (The native API stores a JSON string
//! as its contents; see docs/api.md.) A record the topic refuses (too large, no key on a
//! compacted topic, no such partition) gets its own error in the response, Confluent's way;
//! the others are produced.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use strata_core::api::{ApiError, confluent};
use strata_core::json::Object;
use strata_core::record::{Header, Record};
use strata_ingest::parse::ProduceRecord;
use strata_ingest::{Acks, IngestError};

use super::{Format, V2Error, V2Result, negotiate, partition_param, reply, request_format};
use crate::http::Shared;
use crate::http::records::{declared_length, read_reserved, reserve};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProduceIn<'a> {
    #[serde(default)]
    key_schema: Option<String>,
    #[serde(default)]
    key_schema_id: Option<i64>,
    #[serde(default)]
    value_schema: Option<String>,
    #[serde(default)]
    value_schema_id: Option<i64>,
    #[serde(borrow)]
    records: Vec<Object<RecordIn<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordIn<'a> {
    #[serde(borrow, default)]
    key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(default)]
    partition: Option<u32>,
    /// Strata extension: headers as Confluent's v3 API writes them.
    #[serde(default)]
    headers: Option<Vec<Object<HeaderIn>>>,
    /// Strata extension: the record's timestamp (ms since the epoch).
    #[serde(default)]
    timestamp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderIn {
    name: String,
    /// Base64 of the value; `null` for an empty one.
    #[serde(default)]
    value: Option<String>,
}

#[derive(Serialize)]
struct OffsetOut {
    partition: Option<u32>,
    offset: Option<i64>,
    error_code: Option<u32>,
    error: Option<String>,
}

#[derive(Serialize)]
struct ProduceOut {
    offsets: Vec<OffsetOut>,
    key_schema_id: Option<i64>,
    value_schema_id: Option<i64>,
}

fn conversion(message: String) -> V2Error {
    V2Error(ApiError::new(
        422,
        confluent::JSON_CONVERSION,
        format!("Conversion of JSON to Object failed: {message}"),
    ))
}

fn data(
    format: Format,
    index: usize,
    name: &str,
    raw: Option<&RawValue>,
) -> V2Result<Option<Bytes>> {
    let Some(raw) = raw else { return Ok(None) };
    match format {
        Format::Json => Ok(match raw.get() {
            "null" => None,
            text => Some(Bytes::from(strata_core::json::compact(text))),
        }),
        _ => {
            let text = raw.get();
            if text == "null" {
                return Ok(None);
            }
            let b64: String = serde_json::from_str(text).map_err(|_| {
                conversion(format!(
                    "record {index}: {name} must be a base64 string in the binary format, got {text}"
                ))
            })?;
            BASE64
                .decode(b64.as_bytes())
                .map(|b| Some(Bytes::from(b)))
                .map_err(|e| conversion(format!("record {index}: {name} is not valid base64: {e}")))
        }
    }
}

/// The records of a produce body in `format`, with the path's partition if any.
pub(super) fn parse(
    format: Format,
    body: &[u8],
    partition: Option<u32>,
) -> V2Result<Vec<ProduceRecord>> {
    let req: ProduceIn<'_> =
        strata_core::json::from_slice_borrowed(body).map_err(super::body_error)?;
    if let Format::Schema(name) = format {
        let given = |v: Option<&RawValue>| v.is_some_and(|v| v.get() != "null");
        let keys = req.records.iter().any(|r| given(r.key));
        let values = req.records.iter().any(|r| given(r.value));
        if keys && req.key_schema.is_none() && req.key_schema_id.is_none() {
            return Err(V2Error(ApiError::new(
                422,
                confluent::KEY_SCHEMA_MISSING,
                "Request includes keys but does not include key schema",
            )));
        }
        if values && req.value_schema.is_none() && req.value_schema_id.is_none() {
            return Err(V2Error(ApiError::new(
                422,
                confluent::VALUE_SCHEMA_MISSING,
                "Request includes values but does not include value schema",
            )));
        }
        for schema in [&req.key_schema, &req.value_schema].into_iter().flatten() {
            if serde_json::from_str::<serde_json::Value>(schema).is_err() {
                return Err(V2Error(ApiError::new(
                    422,
                    confluent::INVALID_SCHEMA,
                    format!("Invalid schema: {schema}"),
                )));
            }
        }
        return Err(V2Error(ApiError::new(
            422,
            confluent::PAYLOAD_ERROR,
            format!(
                "Payload error. Schema Registry must be configured when using schemas: Strata runs none, so the {name} format is not available; produce binary or json"
            ),
        )));
    }
    if req.records.is_empty() {
        return Err(V2Error(ApiError::new(422, 422, "records may not be empty")));
    }
    let mut out = Vec::with_capacity(req.records.len());
    for (index, Object(r)) in req.records.into_iter().enumerate() {
        let key = data(format, index, "key", r.key)?;
        let value = data(format, index, "value", r.value)?;
        let mut headers = Vec::new();
        for Object(h) in r.headers.unwrap_or_default() {
            let value = match h.value {
                None => Bytes::new(),
                Some(v) => Bytes::from(BASE64.decode(v.as_bytes()).map_err(|e| {
                    conversion(format!(
                        "record {index}: header {:?} value is not valid base64: {e}",
                        h.name
                    ))
                })?),
            };
            headers.push(Header {
                name: h.name,
                value,
            });
        }
        if let Some(ts) = r.timestamp
            && ts < 0
        {
            return Err(V2Error(ApiError::new(
                422,
                422,
                format!("record {index}: timestamp {ts} is negative"),
            )));
        }
        out.push(ProduceRecord {
            record: Record {
                key,
                value,
                headers,
                timestamp: r.timestamp.unwrap_or(0),
            },
            // As Confluent does, a record's own partition wins over the path's.
            partition: r.partition.or(partition),
            timestamp: r.timestamp,
        });
    }
    Ok(out)
}

async fn produce(
    s: Shared,
    topic: String,
    partition: Option<u32>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> V2Result<Response> {
    let started = tokio::time::Instant::now();
    let ct = negotiate(&headers)?;
    let format = request_format(&headers)?;
    let limit = s.config.http.max_request_bytes;
    let (ingest, mut receiving) = match reserve(&s, &headers) {
        Ok(r) => r,
        Err(e) => {
            if declared_length(&headers).is_none_or(|n| n <= limit.saturating_mul(4)) {
                crate::http::drain(body).await;
            }
            return Err(V2Error(e.0));
        }
    };
    let body = read_reserved(body, limit, &mut receiving)
        .await
        .map_err(|e| V2Error(e.0))?;
    let route = partition.map_or_else(|| "v2".to_string(), |p| format!("v2/{p}"));
    let key =
        crate::http::idempotency::request_key(&headers, &topic, &route, &body).map_err(V2Error)?;
    let records = parse(format, &body, partition)?;
    drop((body, receiving));
    // A refused record's answer names the partition it asked for, if any.
    let asked: Vec<Option<u32>> = records.iter().map(|r| r.partition).collect();
    let results = ingest
        .produce_each(&topic, partition, records, Acks::All, key)
        .await?;
    let mut count = 0u64;
    let offsets: Vec<OffsetOut> = results
        .into_iter()
        .zip(asked)
        .map(|(r, asked)| match r {
            Ok(o) => {
                count += 1;
                OffsetOut {
                    partition: Some(o.partition.0),
                    offset: o.offset.map(|o| o.0),
                    error_code: None,
                    error: None,
                }
            }
            Err(e @ IngestError::CommitTimeout { .. }) => OffsetOut {
                partition: None,
                offset: None,
                error_code: Some(confluent::KAFKA_RETRIABLE_ERROR),
                error: Some(e.to_string()),
            },
            Err(e) => OffsetOut {
                partition: asked,
                offset: None,
                error_code: Some(confluent::KAFKA_ERROR),
                error: Some(e.to_string()),
            },
        })
        .collect();
    s.metrics
        .produce_latency
        .with_label_values(&[Acks::All.as_str()])
        .observe(started.elapsed().as_secs_f64());
    s.metrics
        .produce_records
        .with_label_values(&[Acks::All.as_str()])
        .inc_by(count);
    Ok(reply(
        StatusCode::OK,
        ct,
        &ProduceOut {
            key_schema_id: None,
            value_schema_id: None,
            offsets,
        },
    ))
}

/// `POST /topics/{topic}`.
pub(super) async fn to_topic(
    State(s): State<Shared>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> V2Result<Response> {
    produce(s, topic, None, headers, body).await
}

/// `POST /topics/{topic}/partitions/{partition}`.
pub(super) async fn to_partition(
    State(s): State<Shared>,
    Path((topic, partition)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> V2Result<Response> {
    let partition = partition_param(&partition)?;
    produce(s, topic, Some(partition), headers, body).await
}
