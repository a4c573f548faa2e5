//! v2 metadata routes: topics, partitions, their offsets, brokers.
//!
//! Any node serves any partition, so the node answering is each partition's leader and its
//! only replica, always in sync: the bytes' durable home is the bucket, not a broker.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use strata_core::meta::{MetaError, PartitionInfo};

use super::{V2Result, negotiate, partition_param, reply};
use crate::http::Shared;

#[derive(Serialize)]
struct Replica {
    broker: u64,
    leader: bool,
    in_sync: bool,
}

#[derive(Serialize)]
struct PartitionOut {
    partition: u32,
    leader: u64,
    replicas: Vec<Replica>,
}

#[derive(Serialize)]
struct TopicOut {
    name: String,
    configs: BTreeMap<String, String>,
    partitions: Vec<PartitionOut>,
}

fn partition_out(s: &Shared, p: &PartitionInfo) -> PartitionOut {
    let node = s.display_id();
    PartitionOut {
        partition: p.partition.0,
        leader: node,
        replicas: vec![Replica {
            broker: node,
            leader: true,
            in_sync: true,
        }],
    }
}

async fn one_partition(s: &Shared, topic: &str, partition: &str) -> V2Result<PartitionInfo> {
    let partition = partition_param(partition)?;
    let parts = s.meta.partitions(topic).await?;
    let count = parts.len() as u32;
    parts
        .into_iter()
        .find(|p| p.partition.0 == partition)
        .ok_or_else(|| {
            MetaError::PartitionNotFound {
                topic: topic.to_string(),
                partition,
                partitions: count,
            }
            .into()
        })
}

/// `GET /topics`: topic names.
pub(super) async fn list_topics(
    State(s): State<Shared>,
    caller: crate::http::access::Caller,
    headers: HeaderMap,
) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let names: Vec<String> = s
        .meta
        .list_topics()
        .await?
        .into_iter()
        .map(|t| t.name)
        .filter(|n| caller.may_topic(strata_core::meta::access::Operation::Describe, n))
        .collect();
    Ok(reply(StatusCode::OK, ct, &names))
}

/// `GET /topics/{topic}`: name, configs and partitions.
pub(super) async fn topic(
    State(s): State<Shared>,
    Path(topic): Path<String>,
    headers: HeaderMap,
) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let info = s.meta.topic(&topic).await?;
    let parts = s.meta.partitions(&topic).await?;
    let out = TopicOut {
        name: info.name,
        configs: info.config.to_map(),
        partitions: parts.iter().map(|p| partition_out(&s, p)).collect(),
    };
    Ok(reply(StatusCode::OK, ct, &out))
}

/// `GET /topics/{topic}/partitions`.
pub(super) async fn partitions(
    State(s): State<Shared>,
    Path(topic): Path<String>,
    headers: HeaderMap,
) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let parts = s.meta.partitions(&topic).await?;
    let out: Vec<PartitionOut> = parts.iter().map(|p| partition_out(&s, p)).collect();
    Ok(reply(StatusCode::OK, ct, &out))
}

/// `GET /topics/{topic}/partitions/{partition}`.
pub(super) async fn partition(
    State(s): State<Shared>,
    Path((topic, partition)): Path<(String, String)>,
    headers: HeaderMap,
) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let p = one_partition(&s, &topic, &partition).await?;
    Ok(reply(StatusCode::OK, ct, &partition_out(&s, &p)))
}

#[derive(Serialize)]
struct OffsetsOut {
    beginning_offset: i64,
    end_offset: i64,
}

/// `GET /topics/{topic}/partitions/{partition}/offsets`: the first readable offset (the
/// archive's, when it holds older ones) and the high watermark.
pub(super) async fn partition_offsets(
    State(s): State<Shared>,
    Path((topic, partition)): Path<(String, String)>,
    headers: HeaderMap,
) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let p = one_partition(&s, &topic, &partition).await?;
    let beginning = p
        .archive_start_offset
        .map_or(p.log_start_offset, |a| a.min(p.log_start_offset));
    let out = OffsetsOut {
        beginning_offset: beginning.0,
        end_offset: p.high_watermark.0,
    };
    Ok(reply(StatusCode::OK, ct, &out))
}

/// `GET /brokers`: the ids of the nodes that registered with the quorum.
pub(super) async fn brokers(State(s): State<Shared>, headers: HeaderMap) -> V2Result<Response> {
    let ct = negotiate(&headers)?;
    let now = s.clock.now_ms();
    let mut ids: Vec<u64> = s
        .meta
        .nodes()
        .await?
        .into_iter()
        .filter(|n| n.is_live(now))
        .map(|n| n.display_id())
        .collect();
    if !ids.contains(&s.display_id()) {
        ids.push(s.display_id());
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(reply(
        StatusCode::OK,
        ct,
        &serde_json::json!({ "brokers": ids }),
    ))
}
