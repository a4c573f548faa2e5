//! Tokens and ACLs: `/v1/tokens`, `/v1/acls` (issue 20). What they need (`alter` on the
//! cluster to change, `describe` to list) is in [`super::access::needs`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use strata_core::api::ApiError;
use strata_core::meta::access::{self, AclSpec};

use super::access::Caller;
use super::auth::BOOTSTRAP_PRINCIPAL;
use super::{ApiResult, Shared, json, json_body, read_body};
use crate::access::{new_token, token_hash};

/// Longest a token can be made to live: ten years.
const MAX_EXPIRES_IN_S: u64 = 10 * 365 * 24 * 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenIn {
    principal: String,
    #[serde(default)]
    expires_in_s: Option<u64>,
}

#[derive(Serialize)]
struct TokenOut {
    id: String,
    /// Shown once: the quorum keeps only its hash.
    token: String,
    principal: String,
    created_ms: i64,
    expires_at: Option<i64>,
}

/// After a change, this node enforces it at once (others within a few seconds).
async fn refreshed(s: &Shared) {
    if let Some(a) = &s.access {
        let _ = a.refresh().await;
    }
}

/// `POST /v1/tokens`: `{"principal", "expires_in_s"}` → `201` with the token, shown once.
pub(super) async fn create_token(
    State(s): State<Shared>,
    caller: Caller,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let req: TokenIn = json_body(&read_body(body, 64 << 10).await?)?;
    if req.principal == BOOTSTRAP_PRINCIPAL {
        return Err(ApiError::invalid(format!(
            "{BOOTSTRAP_PRINCIPAL:?} is the bootstrap token's principal; make tokens for other principals"
        ))
        .into());
    }
    let now_ms = s.clock.now_ms();
    let expires_at = match req.expires_in_s {
        None => None,
        Some(n) if (1..=MAX_EXPIRES_IN_S).contains(&n) => Some(now_ms + n as i64 * 1000),
        Some(n) => {
            return Err(ApiError::invalid(format!(
                "expires_in_s must be from 1 to {MAX_EXPIRES_IN_S}, got {n}"
            ))
            .into());
        }
    };
    let token = new_token();
    let hash = token_hash(token.as_bytes());
    let info =
        access::create_token(s.meta.as_ref(), &req.principal, hash, expires_at, now_ms).await?;
    caller.audit_change("token.create", &format!("{} ({})", info.id, info.principal));
    refreshed(&s).await;
    Ok(json(
        StatusCode::CREATED,
        &TokenOut {
            id: info.id,
            token,
            principal: info.principal,
            created_ms: info.created_ms,
            expires_at: info.expires_at,
        },
    ))
}

/// `GET /v1/tokens`: every valid token, without secrets.
pub(super) async fn tokens(State(s): State<Shared>) -> ApiResult<Response> {
    let now_ms = s.clock.now_ms();
    let all = access::read(s.meta.as_ref(), None)
        .await?
        .unwrap_or_default();
    let tokens: Vec<_> = all
        .tokens
        .into_iter()
        .map(|t| t.info)
        .filter(|t| t.valid_at(now_ms))
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "tokens": tokens }),
    ))
}

/// `DELETE /v1/tokens/{id}`: the token stops working on every node within a few seconds.
pub(super) async fn revoke_token(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    access::revoke_token(s.meta.as_ref(), &id, s.clock.now_ms()).await?;
    caller.audit_change("token.revoke", &id);
    refreshed(&s).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/acls`: `{"principal", "resource", "name", "pattern", "operations",
/// "permission"}` → `201` with its id.
pub(super) async fn create_acl(
    State(s): State<Shared>,
    caller: Caller,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let spec: AclSpec = json_body(&read_body(body, 64 << 10).await?)?;
    let acl = access::create_acl(s.meta.as_ref(), spec, s.clock.now_ms()).await?;
    caller.audit_change(
        "acl.create",
        &format!(
            "{} ({:?} {} {:?} {:?} {:?} {:?})",
            acl.id,
            acl.spec.permission,
            acl.spec.principal,
            acl.spec.operations,
            acl.spec.resource,
            acl.spec.pattern,
            acl.spec.name
        ),
    );
    refreshed(&s).await;
    Ok(json(StatusCode::CREATED, &acl))
}

/// `GET /v1/acls`: every ACL.
pub(super) async fn acls(State(s): State<Shared>) -> ApiResult<Response> {
    let all = access::read(s.meta.as_ref(), None)
        .await?
        .unwrap_or_default();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "acls": all.acls }),
    ))
}

/// `DELETE /v1/acls/{id}`.
pub(super) async fn delete_acl(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    access::delete_acl(s.meta.as_ref(), &id).await?;
    caller.audit_change("acl.delete", &id);
    refreshed(&s).await;
    Ok(StatusCode::NO_CONTENT)
}
