//! Consumer instances: `POST /consumers/{group}`, `DELETE .../instances/{instance}`.

use super::*;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateIn {
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

/// The instance configuration a create body asks for, with the server's instance timeout.
pub(super) fn config(req: &CreateIn, timeout_ms: i64) -> V2Result<InstanceConfig> {
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
        timeout_ms,
    })
}

/// The instance name a create body asks for, if any; as Confluent does, the deprecated `id`
/// wins over `name`.
pub(super) fn asked_name(req: &CreateIn) -> V2Result<Option<String>> {
    let name = req.id.clone().or_else(|| req.name.clone());
    if let Some(n) = &name {
        validate_name("consumer instance", n).map_err(invalid_config)?;
    }
    Ok(name)
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
/// trusted proxy (`http.trusted-proxies`), else `Host`, else the advertised address.
fn base_url(s: &Shared, headers: &HeaderMap, peer: Option<std::net::IpAddr>) -> String {
    let trusted = peer.is_some_and(|p| s.config.http.trusts(p));
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let forwarded = |name: &str| first(name).filter(|_| trusted);
    let host = forwarded("x-forwarded-host")
        .or_else(|| first(header::HOST.as_str()))
        .unwrap_or_else(|| s.advertise.clone());
    let scheme = forwarded("x-forwarded-proto").unwrap_or_else(|| "http".to_string());
    format!("{scheme}://{host}")
}

fn generated_name(s: &Shared) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "rest-consumer-{}-{:x}-{n}",
        s.display_id(),
        s.clock.now_ms()
    )
}

#[derive(Serialize)]
struct CreateOut {
    instance_id: String,
    base_uri: String,
}

/// `POST /consumers/{group}`.
pub(crate) async fn create(
    State(s): State<Shared>,
    caller: Caller,
    Path(group): Path<String>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    b: axum::body::Body,
) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let req: CreateIn = optional_body(&headers, b).await?.unwrap_or_default();
    validate_name("group", &group).map_err(invalid_config)?;
    let config = config(&req, s.config.consumers.instance_timeout.as_millis() as i64)?;
    let name = match asked_name(&req)? {
        Some(n) => n,
        None => generated_name(&s),
    };
    let view = run(&s, &caller, &group, &name, ConsumerOp::Create { config }).await?;
    let out = CreateOut {
        base_uri: format!(
            "{}/consumers/{}/instances/{}",
            base_url(&s, &headers, peer.map(|p| p.0.0.ip())),
            segment(&group),
            segment(&view.instance)
        ),
        instance_id: view.instance,
    };
    Ok(reply(StatusCode::OK, ct, &out))
}

/// `DELETE /consumers/{group}/instances/{instance}`.
pub(crate) async fn delete(call: Call) -> V2Result<Response> {
    call.run(ConsumerOp::Delete).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests;
