//! The quorum's internal HTTP API (see [`crate::wire`]), served by every voter.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::Deserialize;
use strata_core::meta::{CommandResult, MetaTransport};

use crate::store::{LocalWriteError, RaftMetaStore};
use crate::types::{RaftNodeId, TypeConfig};
use crate::wire::{
    ApplyRequest, ApplyResponse, ChangesResponse, MembershipChange, NotLeader, QueryRequest,
    QueryResponse,
};

/// The largest body of a quorum request (apply, query, membership): a command for the commit
/// of a flush to thousands of partitions is well below it.
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// The largest body of a Raft message: a batch of log entries (up to openraft's 300 commands)
/// or a snapshot chunk.
pub const MAX_RAFT_BYTES: usize = 256 << 20;

/// Told of every change of the quorum's membership made through this voter's API, by action
/// (`membership.elect`, `membership.add-voter`, `membership.remove-voter`): the server counts
/// them in its metrics.
pub type OnChange = Arc<dyn Fn(&'static str) + Send + Sync>;

/// Builds the router of the quorum's internal API, logging membership changes as audit lines.
pub fn router(store: Arc<RaftMetaStore>) -> axum::Router {
    router_with(store, Arc::new(|_| {}))
}

/// Builds the router of the quorum's internal API; `on_change` hears of each membership change
/// as well as the audit log. Every route asks for the cluster secret
/// ([`crate::secret::guard`]) before it reads a body; without a secret, none answers.
pub fn router_with(store: Arc<RaftMetaStore>, on_change: OnChange) -> axum::Router {
    let secret = store.secret().cloned();
    let raft = axum::Router::new()
        .route("/internal/raft/append", post(append))
        .route("/internal/raft/vote", post(vote))
        .route("/internal/raft/snapshot", post(snapshot))
        .layer(DefaultBodyLimit::max(MAX_RAFT_BYTES));
    axum::Router::new()
        .route("/internal/meta/apply", post(apply))
        .route("/internal/meta/query", post(query))
        .route("/internal/meta/changes", get(changes))
        .route("/internal/meta/status", get(status))
        .route("/internal/meta/elect", post(elect))
        .route("/internal/meta/membership", post(membership))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .merge(raft)
        .route_layer(axum::middleware::from_fn_with_state(
            secret,
            crate::secret::guard,
        ))
        .layer(axum::Extension(on_change))
        .with_state(store)
}

type S = State<Arc<RaftMetaStore>>;

async fn append(State(s): S, Json(rpc): Json<AppendEntriesRequest<TypeConfig>>) -> Response {
    Json(s.raft().append_entries(rpc).await).into_response()
}

async fn vote(State(s): S, Json(rpc): Json<VoteRequest<RaftNodeId>>) -> Response {
    Json(s.raft().vote(rpc).await).into_response()
}

async fn snapshot(State(s): S, Json(rpc): Json<InstallSnapshotRequest<TypeConfig>>) -> Response {
    Json(s.raft().install_snapshot(rpc).await).into_response()
}

fn write_error(e: LocalWriteError) -> Response {
    match e {
        LocalWriteError::NotLeader(leader) => {
            (StatusCode::MISDIRECTED_REQUEST, Json(NotLeader { leader })).into_response()
        }
        LocalWriteError::Failed(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
    }
}

async fn apply(State(s): S, Json(req): Json<ApplyRequest>) -> Response {
    // Refuse what the state would refuse without spending a log entry on it.
    if let Err(e) = s.precheck(&req.command) {
        let log_index = s.applied_index();
        return Json(ApplyResponse {
            result: CommandResult::Refused(e),
            log_index,
        })
        .into_response();
    }
    match s.apply_local(req.command).await {
        Ok((result, log_index)) => Json(ApplyResponse { result, log_index }).into_response(),
        Err(e) => write_error(e),
    }
}

/// How long a query waits for this voter to apply what the client has seen: a healthy voter
/// applies a committed entry within milliseconds; one that is catching up (just restarted or
/// resumed) answers `503` soon, so the client asks another voter instead of waiting on it.
const QUERY_CATCH_UP: Duration = Duration::from_millis(300);

async fn query(State(s): S, Json(req): Json<QueryRequest>) -> Response {
    if !s.wait_applied(req.min_index, QUERY_CATCH_UP).await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "this voter has not applied index {} yet (it is catching up)",
                req.min_index
            ),
        )
            .into_response();
    }
    let (result, applied_index) = {
        let guard = s.shared().read();
        let index = guard.last_applied.map_or(0, |l| l.index);
        (guard.state.query(&req.query), index)
    };
    Json(QueryResponse {
        result,
        applied_index,
    })
    .into_response()
}

#[derive(Deserialize)]
struct ChangesParams {
    after: u64,
    #[serde(default)]
    wait_ms: u64,
}

async fn changes(State(s): S, Query(p): Query<ChangesParams>) -> Response {
    let wait = Duration::from_millis(p.wait_ms.min(30_000));
    s.wait_applied(p.after + 1, wait).await;
    Json(ChangesResponse {
        applied_index: s.applied_index(),
        status: s.status(),
    })
    .into_response()
}

/// Answers at once with this voter's view of the quorum: clients probe a voter that is slow to
/// answer a request, to tell a busy leader from a paused or cut-off one.
async fn status(State(s): S) -> Response {
    Json(ChangesResponse {
        applied_index: s.applied_index(),
        status: s.status(),
    })
    .into_response()
}

async fn elect(State(s): S, axum::Extension(on_change): axum::Extension<OnChange>) -> Response {
    match s.elect().await {
        Ok(()) => {
            tracing::info!(target: "strata::audit", result = "changed", action = "membership.elect", "change made");
            on_change("membership.elect");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

async fn membership(
    State(s): S,
    axum::Extension(on_change): axum::Extension<OnChange>,
    Json(change): Json<MembershipChange>,
) -> Response {
    let result = s.change_membership(&change).await;
    let action = match change {
        MembershipChange::AddVoter { .. } => "membership.add-voter",
        MembershipChange::RemoveVoter { .. } => "membership.remove-voter",
    };
    tracing::info!(
        target: "strata::audit",
        result = if result.is_ok() { "changed" } else { "failed" },
        action,
        change = ?change,
        "membership change"
    );
    if result.is_ok() {
        on_change(action);
    }
    match result {
        Ok(()) => Json(ChangesResponse {
            applied_index: s.applied_index(),
            status: s.status(),
        })
        .into_response(),
        // A refusal is final: the caller must not retry it.
        Err(LocalWriteError::Failed(e @ strata_core::meta::MetaError::Invalid { .. })) => {
            (StatusCode::CONFLICT, Json(e)).into_response()
        }
        Err(e) => write_error(e),
    }
}
