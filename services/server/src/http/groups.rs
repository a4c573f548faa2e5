//! Consumer-group offset routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use strata_core::api::ApiError;
use strata_core::ids::{Offset, PartitionId};
use strata_core::meta::{GroupOffset, MetaQuery, QueryResult};

use super::access::Caller;
use super::{ApiResult, Shared, json, json_body, read_body};
use strata_core::meta::access::{Operation, ResourceType};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitIn {
    offsets: Vec<strata_core::json::Object<OffsetIn>>,
}

/// One partition's offset in a commit or seek body, native or REST Proxy v2.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OffsetIn {
    pub(super) topic: String,
    pub(super) partition: u32,
    pub(super) offset: i64,
    /// Accepted for compatibility with REST Proxy clients; Strata keeps no offset metadata.
    #[serde(default, rename = "metadata")]
    _metadata: Option<String>,
}

#[derive(Serialize)]
struct OffsetOut {
    topic: String,
    partition: u32,
    offset: i64,
    lag: i64,
}

pub(super) async fn commit(
    State(s): State<Shared>,
    caller: Caller,
    Path(group): Path<String>,
    body: axum::body::Body,
) -> ApiResult<StatusCode> {
    let body = read_body(body, 4 << 20).await?;
    let req: CommitIn = json_body(&body)?;
    let offsets = req
        .offsets
        .into_iter()
        .map(|strata_core::json::Object(o)| GroupOffset {
            topic: o.topic,
            partition: PartitionId(o.partition),
            offset: Offset(o.offset),
        })
        .collect::<Vec<GroupOffset>>();
    for o in &offsets {
        caller.require_topic(Operation::Read, &o.topic)?;
    }
    s.meta.commit_group_offsets(&group, offsets).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn list(
    State(s): State<Shared>,
    caller: Caller,
    Path(group): Path<String>,
) -> ApiResult<Response> {
    let mut out = Vec::new();
    let offsets = s.meta.group_offsets(&group).await?;
    for o in offsets
        .into_iter()
        .filter(|o| caller.may_topic(Operation::Describe, &o.topic))
    {
        let hwm = s
            .meta
            .partitions(&o.topic)
            .await
            .ok()
            .and_then(|p| p.get(o.partition.0 as usize).map(|p| p.high_watermark.0))
            .unwrap_or(o.offset.0);
        out.push(OffsetOut {
            topic: o.topic,
            partition: o.partition.0,
            offset: o.offset.0,
            lag: (hwm - o.offset.0).max(0),
        });
    }
    Ok(json(StatusCode::OK, &serde_json::json!({ "offsets": out })))
}

#[derive(Serialize)]
struct GroupOut {
    group: String,
    partitions: usize,
    lag: u64,
}

/// `GET /v1/groups`: every group with committed offsets, its partitions and total lag.
pub(super) async fn groups(State(s): State<Shared>, caller: Caller) -> ApiResult<Response> {
    let usage = match s.meta.ask(MetaQuery::Usage).await? {
        QueryResult::Usage(u) => u,
        other => {
            return Err(ApiError::internal(format!(
                "the quorum answered a usage query with {other:?}"
            ))
            .into());
        }
    };
    let mut out: Vec<GroupOut> = Vec::new();
    let lags = usage.lag.into_iter();
    for l in lags.filter(|l| caller.may(Operation::Describe, ResourceType::Group, &l.group)) {
        match out.last_mut() {
            Some(g) if g.group == l.group => {
                g.partitions += 1;
                g.lag += l.lag;
            }
            _ => out.push(GroupOut {
                group: l.group,
                partitions: 1,
                lag: l.lag,
            }),
        }
    }
    Ok(json(StatusCode::OK, &serde_json::json!({ "groups": out })))
}
