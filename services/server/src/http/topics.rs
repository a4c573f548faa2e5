//! Topic routes.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::api::ApiError;
use strata_core::ids::{Offset, PartitionId};
use strata_core::meta::access::Operation;
use strata_core::meta::{MetaError, PartitionInfo, TopicInfo};

use super::access::Caller;
use super::{ApiResult, Params, Shared, json, json_body, read_body};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTopic {
    name: String,
    #[serde(default = "one")]
    partitions: u32,
    #[serde(default)]
    config: BTreeMap<String, Value>,
}

fn one() -> u32 {
    1
}

/// A topic as the API shows it.
#[derive(Serialize)]
pub(super) struct TopicOut {
    name: String,
    id: u64,
    partitions: Vec<PartitionOut>,
    config: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct PartitionOut {
    partition: u32,
    log_start_offset: i64,
    high_watermark: i64,
    leader: String,
    extents: u64,
    bytes: u64,
    segments: u64,
    cleaned_through: i64,
    tiers: Tiers,
    archive: ArchiveOut,
}

/// Where a partition's committed bytes live.
#[derive(Serialize)]
struct Tiers {
    /// Pieces of shared multi-partition objects, as ingest nodes shipped them.
    ingest_objects: TierOut,
    /// Per-partition segments the compactor merged.
    segments: TierOut,
}

/// The Parquet archive of a partition.
#[derive(Serialize)]
struct ArchiveOut {
    /// Last offset archived (null: none yet).
    archived_through: Option<i64>,
    /// First offset the archive holds (null: none).
    start_offset: Option<i64>,
    /// Committed offsets not archived yet (0 when the topic is not archived).
    lag: u64,
    files: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct TierOut {
    extents: u64,
    bytes: u64,
}

fn topic_out(node: u64, t: TopicInfo, parts: Vec<PartitionInfo>) -> TopicOut {
    TopicOut {
        name: t.name,
        id: t.id.0,
        partitions: parts
            .into_iter()
            .map(|p| PartitionOut {
                archive: ArchiveOut {
                    archived_through: p.archived_through.map(|o| o.0),
                    start_offset: p.archive_start_offset.map(|o| o.0),
                    lag: if t.config.archive {
                        let next = p
                            .archived_through
                            .map_or(p.log_start_offset, |a| a.plus(1).max(p.log_start_offset));
                        p.high_watermark.since(next)
                    } else {
                        0
                    },
                    files: p.archive_files,
                    bytes: p.archive_bytes,
                },
                partition: p.partition.0,
                log_start_offset: p.log_start_offset.0,
                high_watermark: p.high_watermark.0,
                // Any node serves any partition; the one answering is as good a leader as any.
                leader: format!("node-{node}"),
                extents: p.extents,
                bytes: p.bytes,
                segments: p.segments,
                cleaned_through: p.cleaned_through.0,
                tiers: Tiers {
                    ingest_objects: TierOut {
                        extents: p.extents - p.segments,
                        bytes: p.bytes - p.segment_bytes,
                    },
                    segments: TierOut {
                        extents: p.segments,
                        bytes: p.segment_bytes,
                    },
                },
            })
            .collect(),
        config: t.config.to_map(),
    }
}

/// Turns config values given as strings, numbers or booleans into strings.
pub(super) fn config_strings(
    config: BTreeMap<String, Value>,
) -> ApiResult<BTreeMap<String, String>> {
    config
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "config value of {k:?} must be a string or a number, got {other}"
                    ))
                    .into());
                }
            };
            Ok((k, s))
        })
        .collect()
}

async fn described(s: &Shared, name: &str) -> ApiResult<TopicOut> {
    let t = s.meta.topic(name).await?;
    let parts = s.meta.partitions(name).await?;
    Ok(topic_out(s.display_id(), t, parts))
}

pub(super) async fn create(
    State(s): State<Shared>,
    caller: Caller,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let body = read_body(body, 1 << 20).await?;
    let req: CreateTopic = json_body(&body)?;
    caller.require_topic(Operation::Create, &req.name)?;
    let config = config_strings(req.config)?;
    let t = match s.meta.create_topic(&req.name, req.partitions, config).await {
        // Whether a topic exists is for those who may describe it.
        Err(MetaError::TopicExists { .. }) if !caller.may_topic(Operation::Describe, &req.name) => {
            return Err(caller
                .require_topic(Operation::Describe, &req.name)
                .expect_err("may not describe")
                .into());
        }
        other => other?,
    };
    caller.audit_change("topic.create", &t.name);
    let out = described(&s, &t.name).await?;
    Ok(json(StatusCode::CREATED, &out))
}

pub(super) async fn list(State(s): State<Shared>, caller: Caller) -> ApiResult<Response> {
    let mut topics = Vec::new();
    let all = s.meta.list_topics().await?;
    for t in all
        .into_iter()
        .filter(|t| caller.may_topic(Operation::Describe, &t.name))
    {
        let parts = s.meta.partitions(&t.name).await?;
        topics.push(topic_out(s.display_id(), t, parts));
    }
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "topics": topics }),
    ))
}

pub(super) async fn describe(
    State(s): State<Shared>,
    Path(topic): Path<String>,
) -> ApiResult<Response> {
    Ok(json(StatusCode::OK, &described(&s, &topic).await?))
}

pub(super) async fn update_config(
    State(s): State<Shared>,
    caller: Caller,
    Path(topic): Path<String>,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let body = read_body(body, 1 << 20).await?;
    let changes: BTreeMap<String, Value> = json_body(&body)?;
    if changes.is_empty() {
        return Err(ApiError::bad_request("no config changes given").into());
    }
    s.meta
        .update_topic_config(&topic, config_strings(changes)?)
        .await?;
    caller.audit_change("topic.config", &topic);
    Ok(json(StatusCode::OK, &described(&s, &topic).await?))
}

pub(super) async fn delete(
    State(s): State<Shared>,
    caller: Caller,
    Path(topic): Path<String>,
) -> ApiResult<StatusCode> {
    s.meta.delete_topic(&topic).await?;
    caller.audit_change("topic.delete", &topic);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/topics/{topic}/compact`: a full retention, compaction and merge pass now.
pub(super) async fn compact(
    State(s): State<Shared>,
    Path(topic): Path<String>,
) -> ApiResult<Response> {
    Ok(pass_reply(
        &s.started()?.compactor.compact_topic(&topic).await?,
    ))
}

/// The answer of an on-demand pass: its report per partition.
fn pass_reply(partitions: &impl Serialize) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "partitions": partitions }),
    )
}

/// `POST /v1/topics/{topic}/archive`: archive everything committed so far, then publish the
/// manifest and table metadata.
pub(super) async fn archive(
    State(s): State<Shared>,
    Path(topic): Path<String>,
) -> ApiResult<Response> {
    Ok(pass_reply(
        &s.started()?.archiver.archive_topic(&topic).await?,
    ))
}

/// `GET /v1/topics/{topic}/partitions/{partition}/extents?offset=&limit=`: where a partition's
/// offsets are stored (object, byte range, records), for operators.
pub(super) async fn extents(
    State(s): State<Shared>,
    Path((topic, partition)): Path<(String, String)>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Response> {
    let partition: u32 = partition
        .parse()
        .map_err(|_| ApiError::bad_request(format!("partition {partition:?} is not a number")))?;
    let params = Params::from_query(q, &["offset", "limit"])?;
    let from = params.number("offset", 0i64, 0, i64::MAX)?;
    let limit = params.number("limit", 1000usize, 1, 10_000)?;
    let page = s
        .meta
        .extents(&topic, PartitionId(partition), Offset(from), limit)
        .await?;
    Ok(json(StatusCode::OK, &page))
}
