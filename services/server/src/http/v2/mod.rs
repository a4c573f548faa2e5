//! The Confluent REST Proxy v2 API (`/topics`, `/brokers`, `/consumers`): content types,
//! `Accept` negotiation and error bodies as Confluent documents them, over the same quorum,
//! write path and read path as the native API.

mod admin;
mod consumers;
mod produce;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use strata_core::api::{ApiError, codes};
use strata_ingest::parse::ProduceRecord;

use super::Shared;

/// The v2 content type of responses without embedded data.
pub const V2_JSON: &str = "application/vnd.kafka.v2+json";
/// The v1 content type of responses without embedded data, for clients that accept only v1.
pub const V1_JSON: &str = "application/vnd.kafka.v1+json";

/// The v2 routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(root))
        .route("/topics", get(admin::list_topics))
        .route("/topics/{topic}", get(admin::topic).post(produce::to_topic))
        .route("/topics/{topic}/partitions", get(admin::partitions))
        .route(
            "/topics/{topic}/partitions/{partition}",
            get(admin::partition).post(produce::to_partition),
        )
        .route(
            "/topics/{topic}/partitions/{partition}/offsets",
            get(admin::partition_offsets),
        )
        .route("/brokers", get(admin::brokers))
        .route("/consumers/{group}", post(consumers::create))
        .route(
            "/consumers/{group}/instances/{instance}",
            axum::routing::delete(consumers::delete),
        )
        .route(
            "/consumers/{group}/instances/{instance}/subscription",
            post(consumers::subscribe)
                .get(consumers::subscription)
                .delete(consumers::unsubscribe),
        )
        .route(
            "/consumers/{group}/instances/{instance}/assignments",
            post(consumers::assign).get(consumers::assignments),
        )
        .route(
            "/consumers/{group}/instances/{instance}/positions",
            post(consumers::seek),
        )
        .route(
            "/consumers/{group}/instances/{instance}/positions/beginning",
            post(consumers::seek_beginning),
        )
        .route(
            "/consumers/{group}/instances/{instance}/positions/end",
            post(consumers::seek_end),
        )
        .route(
            "/consumers/{group}/instances/{instance}/records",
            get(consumers::records),
        )
        .route(
            "/consumers/{group}/instances/{instance}/topics/{topic}",
            get(consumers::records_v1),
        )
        .route(
            "/consumers/{group}/instances/{instance}/offsets",
            post(consumers::commit).get(consumers::committed),
        )
}

/// An error of a v2 route: Confluent's body `{"error_code", "message"}` as
/// `application/vnd.kafka.v2+json`.
#[derive(Debug)]
pub struct V2Error(pub ApiError);

impl<E: Into<ApiError>> From<E> for V2Error {
    fn from(e: E) -> Self {
        V2Error(e.into())
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let mut r = super::HttpError(self.0).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(V2_JSON),
        );
        r
    }
}

/// The result of v2 handlers.
pub type V2Result<T> = Result<T, V2Error>;

/// A JSON response with a negotiated content type.
pub fn reply<T: serde::Serialize>(status: StatusCode, content_type: &str, value: &T) -> Response {
    let body = serde_json::to_vec(value).expect("responses serialize");
    let content_type = header::HeaderValue::from_str(content_type)
        .unwrap_or_else(|_| header::HeaderValue::from_static(V2_JSON));
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// An embedded format named by a media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `binary` (base64 in JSON).
    Binary,
    /// `json`.
    Json,
    /// `avro`, `protobuf` or `jsonschema`: formats that need a Schema Registry.
    Schema(&'static str),
}

/// The API version a `vnd.kafka` media type names. The v1 request bodies this API takes
/// are the v2 shapes (Confluent's v1 and v2 produce and consumer bodies are the same), so a
/// v1 type only changes the `Content-Type` of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    /// `v2`, or no version (`application/vnd.kafka+json`): the newest.
    V2,
}

/// A media type as the v2 API reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    /// `application/vnd.kafka[.format][.v1|.v2]+json`.
    Kafka(Option<Format>, Version),
    /// `application/json` or `application/octet-stream`.
    Generic,
    /// `*/*` or `application/*`.
    Any,
}

fn parse_media(s: &str) -> Option<Media> {
    let s = s
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match s.as_str() {
        "application/json" | "application/octet-stream" => return Some(Media::Generic),
        "*/*" | "application/*" => return Some(Media::Any),
        _ => {}
    }
    let rest = s
        .strip_prefix("application/vnd.kafka")?
        .strip_suffix("+json")?;
    let parts: Vec<&str> = rest.split('.').filter(|p| !p.is_empty()).collect();
    let (format, version) = match parts.as_slice() {
        [] => (None, None),
        [v] if v.starts_with('v') => (None, Some(*v)),
        [f] => (Some(*f), None),
        [f, v] => (Some(*f), Some(*v)),
        _ => return None,
    };
    let version = match version {
        None | Some("v2") => Version::V2,
        Some("v1") => Version::V1,
        Some(_) => return None,
    };
    let format = match format {
        None => None,
        Some("binary") => Some(Format::Binary),
        Some("json") => Some(Format::Json),
        Some("avro") => Some(Format::Schema("avro")),
        Some("protobuf") => Some(Format::Schema("protobuf")),
        Some("jsonschema") => Some(Format::Schema("jsonschema")),
        Some(_) => return None,
    };
    Some(Media::Kafka(format, version))
}

/// The embedded format of a request body from its `Content-Type` (omitted: binary, as
/// Confluent documents). `None` when the type is not one the v2 API takes.
pub fn request_format(headers: &HeaderMap) -> V2Result<Format> {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Format::Binary);
    };
    if ct.trim().is_empty() || ct.starts_with("application/x-www-form-urlencoded") {
        return Ok(Format::Binary);
    }
    match parse_media(ct) {
        Some(Media::Kafka(Some(f), _)) => Ok(f),
        Some(Media::Kafka(None, _) | Media::Generic | Media::Any) => Ok(Format::Binary),
        None => Err(unsupported_media(ct)),
    }
}

/// Refuses a request body whose `Content-Type` the v2 API does not take (bodies without
/// embedded data accept the v2 types, `application/json` and no type).
pub fn check_plain_request(headers: &HeaderMap) -> V2Result<()> {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(()),
        Some(ct) if ct.trim().is_empty() || ct.starts_with("application/x-www-form-urlencoded") => {
            Ok(())
        }
        Some(ct) => match parse_media(ct) {
            Some(_) => Ok(()),
            None => Err(unsupported_media(ct)),
        },
    }
}

fn unsupported_media(ct: &str) -> V2Error {
    V2Error(ApiError::new(
        415,
        415,
        format!(
            "HTTP 415 Unsupported Media Type: {ct:?}; send application/vnd.kafka.v2+json (or the embedded-format type, e.g. application/vnd.kafka.binary.v2+json; the v1 types are taken too)"
        ),
    ))
}

/// One entry of an `Accept` header.
#[derive(Debug, Clone, Copy)]
struct Accepted {
    media: Media,
    q: f32,
}

fn accepted(headers: &HeaderMap) -> Vec<Accepted> {
    let mut out = Vec::new();
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut params = item.split(';');
            let Some(media) = params.next().and_then(parse_media) else {
                continue;
            };
            let q = params
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 {
                out.push(Accepted { media, q });
            }
        }
    }
    out
}

fn has_accept(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| !s.trim().is_empty()))
}

fn not_acceptable() -> V2Error {
    V2Error(ApiError::new(
        406,
        406,
        "HTTP 406 Not Acceptable: accept application/vnd.kafka.v2+json, application/vnd.kafka.v1+json or application/json",
    ))
}

/// The content type of a response without embedded data, by the weighted `Accept` header:
/// the most preferred of the v2 type, the v1 type (for clients that name only v1) and
/// `application/json`, the v2 type on a tie; `406` if none is acceptable.
pub fn negotiate(headers: &HeaderMap) -> V2Result<&'static str> {
    if !has_accept(headers) {
        return Ok(V2_JSON);
    }
    let mut best: Option<(f32, u8, &'static str)> = None;
    for a in accepted(headers) {
        let (rank, ct) = match a.media {
            Media::Kafka(None, Version::V2) => (4, V2_JSON),
            Media::Kafka(None, Version::V1) => (3, V1_JSON),
            Media::Generic => (2, "application/json"),
            Media::Any => (1, V2_JSON),
            Media::Kafka(Some(_), _) => continue,
        };
        if best.is_none_or(|(q, r, _)| a.q > q || (a.q == q && rank > r)) {
            best = Some((a.q, rank, ct));
        }
    }
    best.map(|(_, _, ct)| ct).ok_or_else(not_acceptable)
}

/// The content type of a records response for an instance of `format`: the embedded type
/// (or `application/json` when preferred). `406` with error code 40601 when the `Accept`
/// header names only other embedded formats.
pub fn negotiate_records(
    headers: &HeaderMap,
    format: strata_core::meta::consumer::EmbeddedFormat,
) -> V2Result<&'static str> {
    use strata_core::meta::consumer::EmbeddedFormat;
    let (mine, specific, v1) = match format {
        EmbeddedFormat::Binary => (
            Format::Binary,
            "application/vnd.kafka.binary.v2+json",
            "application/vnd.kafka.binary.v1+json",
        ),
        EmbeddedFormat::Json => (
            Format::Json,
            "application/vnd.kafka.json.v2+json",
            "application/vnd.kafka.json.v1+json",
        ),
    };
    if !has_accept(headers) {
        return Ok(specific);
    }
    let list = accepted(headers);
    let mut best: Option<(f32, u8, &'static str)> = None;
    let mut other_format = false;
    for a in &list {
        let (rank, ct) = match a.media {
            Media::Kafka(Some(f), Version::V2) if f == mine => (6, specific),
            Media::Kafka(Some(f), Version::V1) if f == mine => (5, v1),
            Media::Kafka(Some(_), _) => {
                other_format = true;
                continue;
            }
            Media::Kafka(None, Version::V2) => (4, specific),
            Media::Kafka(None, Version::V1) => (3, v1),
            Media::Generic => (2, "application/json"),
            Media::Any => (1, specific),
        };
        if best.is_none_or(|(q, r, _)| a.q > q || (a.q == q && rank > r)) {
            best = Some((a.q, rank, ct));
        }
    }
    match best {
        Some((_, _, ct)) => Ok(ct),
        None if other_format => Err(V2Error(ApiError::new(
            406,
            strata_core::api::confluent::CONSUMER_FORMAT_MISMATCH,
            format!(
                "The requested embedded data format does not match the deserializer for this consumer instance: it reads {}; accept application/vnd.kafka.{}.v2+json",
                format.as_str(),
                format.as_str()
            ),
        ))),
        None => Err(not_acceptable()),
    }
}

/// Parses a JSON body with Confluent's statuses: malformed JSON or a wrong shape is `400`,
/// an unknown field `422` ("Unrecognized field").
pub fn body<T: DeserializeOwned>(bytes: &[u8]) -> V2Result<T> {
    strata_core::json::from_slice(bytes).map_err(body_error)
}

/// Turns a body's JSON error into Confluent's response.
pub fn body_error(e: serde_json::Error) -> V2Error {
    let text = e.to_string();
    if let Some(rest) = text.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        return V2Error(ApiError::new(
            422,
            422,
            format!("Unrecognized field: {field} ({text})"),
        ));
    }
    V2Error(ApiError::new(
        400,
        400,
        format!("invalid JSON body: {text}"),
    ))
}

/// `GET /`: an empty object, which v2 clients use as a liveness check.
pub async fn root(headers: HeaderMap) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    Ok(reply(StatusCode::OK, ct, &serde_json::json!({})))
}

/// Parses a partition number from the path.
pub fn partition_param(p: &str) -> V2Result<u32> {
    p.parse().map_err(|_| {
        V2Error(ApiError::new(
            404,
            codes::ROUTE_NOT_FOUND,
            format!("HTTP 404 Not Found: partition {p:?} is not a number"),
        ))
    })
}

/// Runs `data` through every v2 request body's decoder, as the handlers do before they reach
/// an ingest node or the quorum: the produce body in each embedded format, with and without a
/// path partition, and each consumer body; `data` as a media type goes through the request and
/// answer negotiation. Returns the produce bodies' records (by format) and every refusal.
/// This is the fuzz target `v2-bodies` (issue 21); handlers call the same functions.
#[doc(hidden)]
pub fn decode_bodies(data: &[u8]) -> (Vec<(Format, Vec<ProduceRecord>)>, Vec<ApiError>) {
    let mut produced = Vec::new();
    let mut refused = Vec::new();
    for format in [Format::Binary, Format::Json, Format::Schema("avro")] {
        for partition in [None, Some(3)] {
            match produce::parse(format, data, partition) {
                Ok(records) => produced.push((format, records)),
                Err(V2Error(e)) => refused.push(e),
            }
        }
    }
    consumers::decode_bodies(data, &mut refused);
    if let Ok(value) = header::HeaderValue::from_bytes(data) {
        for name in [header::CONTENT_TYPE, header::ACCEPT] {
            let mut headers = HeaderMap::new();
            headers.insert(name, value.clone());
            let results = [
                request_format(&headers).map(drop),
                negotiate(&headers).map(drop),
                check_plain_request(&headers),
            ];
            refused.extend(
                results
                    .into_iter()
                    .filter_map(|r| r.err().map(|V2Error(e)| e)),
            );
        }
    }
    (produced, refused)
}

#[cfg(test)]
mod tests;
