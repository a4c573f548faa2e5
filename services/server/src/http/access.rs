//! Authorization (issue 20): what each route needs, in one table, checked before the handler
//! runs; and the [`Caller`] handlers ask about resources named in bodies and listings.
//!
//! A route the table does not name is refused to every principal but superusers: a new
//! route is closed until someone writes down what it needs. The check runs before anything
//! is read, so a refusal says nothing of whether the topic or group exists. With
//! authentication off every request may do everything.

use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use strata_core::api::{ApiError, codes};
use strata_core::meta::access::{CLUSTER, Operation, ResourceType};
use tracing::warn;

use super::auth::Principal;
use super::{HttpError, Shared};
use crate::access::View;
use crate::metrics::Metrics;

use Operation::{Alter, Delete, Describe, Read, Write};

/// What a route needs, on the resource its path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// An operation on the topic `{topic}`.
    Topic(Operation),
    /// An operation on the group `{group}`.
    Group(Operation),
    /// An operation on the cluster.
    Cluster(Operation),
}

/// What each route needs before its handler runs (`None`: a route nobody wrote down, closed
/// to all but superusers). An empty list lets every authenticated principal in: the handler
/// checks the resources its body names, or lists only what the principal may describe.
pub fn needs(method: &Method, route: &str) -> Option<&'static [Need]> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    Some(match (method, route) {
        ("GET", "/metrics" | "/v1/cluster" | "/brokers" | "/v1/tokens" | "/v1/acls") => {
            &[Need::Cluster(Describe)]
        }
        ("POST", "/v1/tokens" | "/v1/acls") | ("DELETE", "/v1/tokens/{id}" | "/v1/acls/{id}") => {
            &[Need::Cluster(Alter)]
        }
        // Listings show what the principal may describe; a create names its topic in the body.
        ("GET", "/" | "/v1/topics" | "/topics" | "/v1/groups") | ("POST", "/v1/topics") => &[],
        (
            "GET",
            "/v1/topics/{topic}"
            | "/topics/{topic}"
            | "/topics/{topic}/partitions"
            | "/topics/{topic}/partitions/{partition}"
            | "/topics/{topic}/partitions/{partition}/offsets"
            | "/v1/topics/{topic}/partitions/{partition}/extents",
        ) => &[Need::Topic(Describe)],
        ("DELETE", "/v1/topics/{topic}") => &[Need::Topic(Delete)],
        ("PATCH", "/v1/topics/{topic}/config")
        | ("POST", "/v1/topics/{topic}/compact" | "/v1/topics/{topic}/archive") => {
            &[Need::Topic(Alter)]
        }
        (
            "POST",
            "/v1/topics/{topic}/records"
            | "/topics/{topic}"
            | "/topics/{topic}/partitions/{partition}",
        ) => &[Need::Topic(Write)],
        ("GET", "/v1/topics/{topic}/partitions/{partition}/records") => &[Need::Topic(Read)],
        // Committing needs read on each topic in the body too; the listing shows the topics
        // the principal may describe.
        ("POST", "/v1/groups/{group}/offsets") => &[Need::Group(Read)],
        ("GET", "/v1/groups/{group}/offsets") => &[Need::Group(Describe)],
        // v2 consumers: the group, and read on every topic an operation names or fetches.
        ("GET", "/consumers/{group}/instances/{instance}/topics/{topic}") => {
            &[Need::Group(Read), Need::Topic(Read)]
        }
        (_, r) if r == "/consumers/{group}" || r.starts_with("/consumers/{group}/instances/") => {
            &[Need::Group(Read)]
        }
        _ => return None,
    })
}

/// Who is asking, and what they may do (a request extension every routed handler can take).
#[derive(Debug, Clone)]
pub struct Caller {
    principal: Option<Principal>,
    view: Arc<View>,
    metrics: Arc<Metrics>,
    source: String,
    route: String,
}

impl Caller {
    /// The authenticated principal (`None` with authentication off).
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// Whether the caller may do `op` on the resource.
    pub fn may(&self, op: Operation, resource: ResourceType, name: &str) -> bool {
        match &self.principal {
            None => true,
            Some(p) if p.superuser => true,
            Some(p) => self.view.access.allows(&p.name, op, resource, name),
        }
    }

    /// Whether the caller may do `op` on the topic.
    pub fn may_topic(&self, op: Operation, topic: &str) -> bool {
        self.may(op, ResourceType::Topic, topic)
    }

    /// `Ok` if the caller may do `op` on the resource, else `403` (an audit line, counted).
    pub fn require(
        &self,
        op: Operation,
        resource: ResourceType,
        name: &str,
    ) -> Result<(), ApiError> {
        if self.may(op, resource, name) {
            return Ok(());
        }
        let principal = self.principal.as_ref().map_or("", |p| p.name.as_str());
        warn!(
            target: "strata::audit",
            result = "denied",
            principal,
            operation = ?op,
            resource = ?resource,
            name,
            source = %self.source,
            route = %self.route,
            "request refused"
        );
        self.metrics.access_denied.inc();
        Err(ApiError::new(
            403,
            codes::FORBIDDEN,
            format!(
                "principal {principal:?} may not {} {} {name:?}",
                format!("{op:?}").to_lowercase(),
                format!("{resource:?}").to_lowercase()
            ),
        ))
    }

    /// `Ok` for superusers (and with authentication off), else `403`.
    fn require_superuser(&self) -> Result<(), ApiError> {
        match &self.principal {
            Some(p) if !p.superuser => {
                self.metrics.access_denied.inc();
                warn!(target: "strata::audit", result = "denied", principal = p.name, source = %self.source, route = %self.route, "request refused: the route is open to superusers only");
                Err(ApiError::new(
                    403,
                    codes::FORBIDDEN,
                    format!("principal {:?} may not use {}", p.name, self.route),
                ))
            }
            _ => Ok(()),
        }
    }

    /// [`Caller::require`] on a topic.
    pub fn require_topic(&self, op: Operation, topic: &str) -> Result<(), ApiError> {
        self.require(op, ResourceType::Topic, topic)
    }

    /// An audit line for a change the caller made, counted by action.
    pub fn audit_change(&self, action: &str, resource: &str) {
        let principal = self.principal.as_ref().map_or("", |p| p.name.as_str());
        tracing::info!(
            target: "strata::audit",
            result = "changed",
            principal,
            action,
            resource,
            source = %self.source,
            "change made"
        );
        self.metrics
            .audit_changes
            .with_label_values(&[action])
            .inc();
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HttpError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            HttpError(ApiError::internal(
                "no access check ran for this route (a routing bug)",
            ))
        })
    }
}

/// The route layer: checks what the route needs and hands the handler a [`Caller`].
pub async fn authorize(
    State(s): State<Shared>,
    route: MatchedPath,
    params: RawPathParams,
    mut req: Request,
    next: Next,
) -> Response {
    let source = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let mut caller = Caller {
        principal: req.extensions().get::<Principal>().cloned(),
        view: s.access.as_ref().map(|a| a.view()).unwrap_or_default(),
        metrics: s.metrics.clone(),
        source,
        route: format!("{} {}", req.method(), route.as_str()),
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v)
    };
    let needed = needs(req.method(), route.as_str());
    let allowed = |c: &Caller| match needed {
        None => c.principal.as_ref().is_none_or(|p| p.superuser),
        Some(list) => list.iter().all(|n| match *n {
            Need::Topic(op) => c.may_topic(op, param("topic")),
            Need::Group(op) => c.may(op, ResourceType::Group, param("group")),
            Need::Cluster(op) => c.may(op, ResourceType::Cluster, CLUSTER),
        }),
    };
    // What the copy would refuse may have been allowed a moment ago on another node: read the
    // quorum once (rate-limited with unknown tokens) before refusing.
    if !allowed(&caller)
        && let Some(a) = &s.access
        && caller.principal.as_ref().is_some_and(|p| !p.superuser)
    {
        if let Err(e) = a.refresh_if_due().await {
            return HttpError(e.into()).into_response();
        }
        caller.view = a.view();
    }
    let checked = match needed {
        None => caller.require_superuser(),
        Some(list) => list.iter().try_for_each(|n| match *n {
            Need::Topic(op) => caller.require_topic(op, param("topic")),
            Need::Group(op) => caller.require(op, ResourceType::Group, param("group")),
            Need::Cluster(op) => caller.require(op, ResourceType::Cluster, CLUSTER),
        }),
    };
    if let Err(e) = checked {
        return HttpError(e).into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}
