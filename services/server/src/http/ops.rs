//! Operations routes: health, readiness, metrics, cluster view.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json as j;
use strata_core::api::{ApiError, codes};
use strata_core::meta::{MetaQuery, QueryResult, QuorumRole};

use super::{ApiResult, Shared, json};
use crate::metrics::Sources;
use crate::store;

pub(super) async fn healthz() -> Response {
    json(StatusCode::OK, &j!({"status": "ok"}))
}

/// `503` with the reason whenever this node cannot commit or reach the bucket now; `200` once
/// it can. Cheap: it reads what the node already knows (one object-store probe every 2 s at
/// most).
pub(super) async fn readyz(State(s): State<Shared>) -> ApiResult<Response> {
    let not_ready = |n: crate::health::NotReady| {
        let code = match n.what {
            "store" => codes::STORE_UNAVAILABLE,
            _ => codes::QUORUM_UNAVAILABLE,
        };
        ApiError::unavailable(code, n.reason, 1)
    };
    if let Some(phase) = s.health.start_phase() {
        return Err(not_ready(phase).into());
    }
    let started = s.started()?;
    if let Some(reason) = s.fence.reason() {
        return Err(ApiError::unavailable(
            codes::FENCED,
            format!("this process was fenced and stops: {reason}"),
            1,
        )
        .into());
    }
    if started.ingest.as_ref().is_some_and(|i| i.is_stopping()) || s.shutdown.is_cancelled() {
        return Err(
            ApiError::unavailable(codes::SHUTTING_DOWN, "this node is shutting down", 1).into(),
        );
    }
    s.health
        .check_quorum(s.meta.status().leader.is_some())
        .map_err(not_ready)?;
    if let Some((for_how_long, e, permanent)) = started
        .ingest
        .as_ref()
        .and_then(|i| i.stats().store.failing())
        && (permanent || for_how_long >= crate::health::WRITES_FAIL_FOR)
    {
        return Err(ApiError::unavailable(
            codes::STORE_UNAVAILABLE,
            format!(
                "uploads to the object store have failed for {:.1} s: {e}",
                for_how_long.as_secs_f64()
            ),
            1,
        )
        .into());
    }
    let probe = match s.health.store_probe() {
        Some(p) => p,
        None => {
            let p = match tokio::time::timeout(
                std::time::Duration::from_secs(2),
                store::ping(s.store.as_ref()),
            )
            .await
            {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("no answer within 2 s".to_string()),
            };
            s.health.record_store_probe(p.clone());
            p
        }
    };
    if let Some(e) = probe {
        return Err(ApiError::unavailable(
            codes::STORE_UNAVAILABLE,
            format!("object store unreachable: {e}"),
            1,
        )
        .into());
    }
    Ok(json(StatusCode::OK, &j!({"status": "ready"})))
}

pub(super) async fn metrics(State(s): State<Shared>) -> Response {
    let started = s.started.get();
    let ingest = started.and_then(|st| st.ingest.as_ref()).map(|i| i.stats());
    let read = started.map_or_else(Default::default, |st| st.read.stats());
    let receiving = s.request_budget.in_use();
    let quorum = s.meta.status();
    // Cluster-wide figures come from the leader only, so sums across nodes count them once.
    let usage = if quorum.role == QuorumRole::Leader {
        match s.meta.ask(MetaQuery::Usage).await {
            Ok(QueryResult::Usage(u)) => Some(u),
            _ => None,
        }
    } else {
        None
    };
    let text = s.metrics.render(&Sources {
        ingest: ingest.as_deref(),
        read: &read,
        compactor: started.map(|st| st.compactor.stats().as_ref()),
        archiver: started.map(|st| st.archiver.stats().as_ref()),
        quorum: Some(&quorum),
        usage: usage.as_ref(),
        receiving,
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

pub(super) async fn cluster(State(s): State<Shared>) -> ApiResult<Response> {
    let q = s.meta.status();
    let roles: Vec<&str> = s.config.roles.iter().map(|r| r.as_str()).collect();
    let now = s.clock.now_ms();
    let nodes: Vec<serde_json::Value> = s
        .meta
        .nodes()
        .await?
        .into_iter()
        .map(|n| {
            j!({
                "id": n.display_id(),
                "name": n.name.map(|x| x.0),
                "incarnation": n.incarnation.0,
                "addr": n.addr,
                "roles": n.roles,
                "started_ms": n.started_ms,
                "last_seen_ms": n.last_seen_ms,
                "alive": n.is_live(now),
                "status": n.status,
                "voter": n.roles.iter().any(|r| r == "meta")
                    && n.name.is_some_and(|x| q.voters.contains(&x)),
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &j!({
            "node": {
                "id": s.display_id(),
                "incarnation": s.incarnation.get().map(|i| i.0),
                "roles": roles,
                "addr": s.advertise,
            },
            "nodes": nodes,
            "quorum": {
                "leader": q.leader.map(|l| l.0),
                "term": q.term,
                                "applied_index": q.applied_index,
                "commit_index": q.commit_index,
                "last_log_index": q.last_log_index,
                "role": q.role.as_str(),
                "voters": q.voters.iter().map(|v| v.0).collect::<Vec<_>>(),
            }
        }),
    ))
}
