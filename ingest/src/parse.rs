//! Parsing of produce bodies: a JSON `{"records": [...]}` document or NDJSON, one record per
//! line. JSON keys and values are kept as their JSON text (a JSON string as its own bytes)
//! without building a document tree; `*_base64` fields carry raw bytes.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use strata_core::json::Object;
use strata_core::record::{Header, Record};

use crate::error::IngestError;

/// A record as a producer sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRecord {
    /// The record; its timestamp is 0 when the producer gave none.
    pub record: Record,
    /// Explicit partition.
    pub partition: Option<u32>,
    /// Producer timestamp (ms).
    pub timestamp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordIn<'a> {
    #[serde(borrow, default)]
    key: Option<&'a RawValue>,
    #[serde(default)]
    key_base64: Option<String>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(default)]
    value_base64: Option<String>,
    #[serde(default)]
    headers: Option<HeadersIn>,
    #[serde(default)]
    partition: Option<u32>,
    #[serde(default)]
    timestamp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestIn<'a> {
    #[serde(borrow)]
    records: Vec<Object<RecordIn<'a>>>,
}

/// Headers as an object `{"name": "value"}` (order kept) or a list
/// `[{"key": "name", "value": "text"} | {"key": "name", "value_base64": "..."}]`.
struct HeadersIn(Vec<(String, HeaderValue)>);

enum HeaderValue {
    Text(String),
    Base64(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderIn {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    value_base64: Option<String>,
}

impl<'de> Deserialize<'de> for HeadersIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HeadersIn;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string header values or a list of {key, value}")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeadersIn, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, HeaderValue::Text(v)));
                }
                Ok(HeadersIn(out))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HeadersIn, A::Error> {
                let mut out = Vec::new();
                while let Some(Object(h)) = seq.next_element::<Object<HeaderIn>>()? {
                    let v = match (h.value, h.value_base64) {
                        (Some(v), None) => HeaderValue::Text(v),
                        (None, Some(b)) => HeaderValue::Base64(b),
                        _ => {
                            return Err(de::Error::custom(format!(
                                "header {:?} needs exactly one of value and value_base64",
                                h.key
                            )));
                        }
                    };
                    out.push((h.key, v));
                }
                Ok(HeadersIn(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a `{"records": [...]}` body.
pub fn parse_json(body: &[u8]) -> Result<Vec<ProduceRecord>, IngestError> {
    let req: RequestIn<'_> = strata_core::json::from_slice_borrowed(body)
        .map_err(|e| IngestError::BadRequest(format!("invalid produce body: {e}")))?;
    req.records
        .into_iter()
        .enumerate()
        .map(|(i, Object(r))| convert(i, r))
        .collect()
}

/// Parses an NDJSON body: one record object per line; blank lines are skipped.
pub fn parse_ndjson(body: &[u8]) -> Result<Vec<ProduceRecord>, IngestError> {
    let mut out = Vec::new();
    for (line_no, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let r: RecordIn<'_> = strata_core::json::from_slice_borrowed(line).map_err(|e| {
            IngestError::BadRequest(format!("invalid record on line {}: {e}", line_no + 1))
        })?;
        out.push(convert(out.len(), r)?);
    }
    Ok(out)
}

fn convert(index: usize, r: RecordIn<'_>) -> Result<ProduceRecord, IngestError> {
    let key = bytes_field(index, "key", r.key, r.key_base64)?;
    let value = bytes_field(index, "value", r.value, r.value_base64)?;
    let mut headers = Vec::new();
    for (name, v) in r.headers.map(|h| h.0).unwrap_or_default() {
        let value = match v {
            HeaderValue::Text(t) => Bytes::from(t),
            HeaderValue::Base64(b) => Bytes::from(BASE64.decode(b.as_bytes()).map_err(|e| {
                IngestError::BadRequest(format!(
                    "record {index}: header {name:?} value_base64 is not valid base64: {e}"
                ))
            })?),
        };
        headers.push(Header { name, value });
    }
    if let Some(ts) = r.timestamp
        && ts < 0
    {
        return Err(IngestError::Invalid(format!(
            "record {index}: timestamp {ts} is negative; give milliseconds since the Unix epoch"
        )));
    }
    Ok(ProduceRecord {
        record: Record {
            key,
            value,
            headers,
            timestamp: r.timestamp.unwrap_or(0),
        },
        partition: r.partition,
        timestamp: r.timestamp,
    })
}

fn bytes_field(
    index: usize,
    name: &str,
    json: Option<&RawValue>,
    b64: Option<String>,
) -> Result<Option<Bytes>, IngestError> {
    match (json, b64) {
        (Some(_), Some(_)) => Err(IngestError::BadRequest(format!(
            "record {index}: give {name} or {name}_base64, not both"
        ))),
        (None, Some(b)) => BASE64
            .decode(b.as_bytes())
            .map(|v| Some(Bytes::from(v)))
            .map_err(|e| {
                IngestError::BadRequest(format!(
                    "record {index}: {name}_base64 is not valid base64: {e}"
                ))
            }),
        (Some(raw), None) => json_bytes(raw)
            .map_err(|e| IngestError::BadRequest(format!("record {index}: {name}: {e}"))),
        (None, None) => Ok(None),
    }
}

/// The bytes a JSON key or value is stored as: a JSON string as its UTF-8 bytes, `null` as
/// no bytes, anything else as its JSON text.
pub fn json_bytes(raw: &RawValue) -> Result<Option<Bytes>, String> {
    let text = raw.get();
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(Some(Bytes::from(s)))
    } else if text == "null" {
        Ok(None)
    } else {
        Ok(Some(Bytes::copy_from_slice(text.as_bytes())))
    }
}

#[cfg(test)]
mod tests;
