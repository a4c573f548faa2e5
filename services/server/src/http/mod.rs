//! The HTTP API (API.md): routes, shared state, and the JSON error contract.

pub mod access;
pub mod auth;
mod groups;
pub mod idempotency;
pub mod jwt;
pub mod limits;
mod ops;
mod principals;
pub(crate) mod records;
pub mod settings;
pub mod tls;
mod topics;
pub mod transport;
pub mod v2;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use object_store::ObjectStore;
use serde::de::DeserializeOwned;
use strata_cache::ReadPath;
use strata_core::api::{ApiError, codes};
use strata_core::meta::MetaStore;
use strata_ingest::Ingestor;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;

/// What every handler can reach.
#[derive(Debug)]
pub struct AppState {
    /// The node's config.
    pub config: Config,
    /// This process's writer incarnation, once it registered with the quorum.
    pub incarnation: std::sync::OnceLock<strata_core::ids::Incarnation>,
    /// Set when this process learns it was fenced.
    pub fence: Arc<strata_core::meta::writers::Fence>,
    /// What `/readyz` reports.
    pub health: Arc<crate::health::Health>,
    /// The quorum.
    pub meta: Arc<dyn MetaStore>,
    /// The bucket.
    pub store: Arc<dyn ObjectStore>,
    /// The roles' parts, once every role is up.
    pub started: std::sync::OnceLock<Started>,
    /// The address this node tells others.
    pub advertise: String,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Cancelled when the node stops; long-polls return early.
    pub shutdown: CancellationToken,
    /// The node's clock: handlers read time only from here.
    pub clock: Arc<dyn strata_core::clock::Clock>,
    /// Every background task the node starts; awaited at shutdown.
    pub tasks: tokio_util::task::TaskTracker,
    /// Bytes of produce bodies being received and parsed right now.
    pub request_budget: strata_core::budget::Budget,
    /// The quorum's tokens and ACLs, as this node enforces them (with authentication on).
    pub access: Option<Arc<crate::access::AccessCache>>,
}

/// What a node has once its roles are up.
#[derive(Debug)]
pub struct Started {
    /// The write path (nodes with the ingest role).
    pub ingest: Option<Arc<Ingestor>>,
    /// The read path.
    pub read: ReadPath,
    /// The compactor: background passes on nodes with the role, on-demand passes on any node.
    pub compactor: Arc<strata_compactor::Compactor>,
    /// The archiver: background passes on nodes with the role, on-demand runs on any node.
    pub archiver: Arc<strata_archiver::Archiver>,
}

impl AppState {
    /// Returns the id to show for this node: its node id, else its writer incarnation (0 until
    /// it registered).
    pub fn display_id(&self) -> u64 {
        self.config
            .name()
            .map(|n| n.0)
            .or_else(|| self.incarnation.get().map(|i| i.0))
            .unwrap_or(0)
    }

    /// Returns the roles' parts, or `503` while the node is still starting.
    pub fn started(&self) -> ApiResult<&Started> {
        self.started.get().ok_or_else(|| {
            ApiError::unavailable(
                codes::QUORUM_UNAVAILABLE,
                "this node is still starting: it waits for the metadata quorum",
                1,
            )
            .into()
        })
    }
}

/// Shared state handle.
pub type Shared = Arc<AppState>;

/// An API error as an HTTP response.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl<E: Into<ApiError>> From<E> for HttpError {
    fn from(e: E) -> Self {
        HttpError(e.into())
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&e).expect("errors serialize");
        let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(secs) = e.retry_after_secs {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, HttpError>;

/// Parses a JSON body with our error contract.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    strata_core::json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")).into())
}

/// Returns a JSON response.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_vec(value).expect("responses serialize");
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Query parameters as pairs; unknown names are refused so typos do not pass silently.
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Extracts the query, refusing names not in `known`.
    pub fn from_query(
        q: Result<Query<Vec<(String, String)>>, QueryRejection>,
        known: &[&str],
    ) -> ApiResult<Self> {
        let Query(pairs) =
            q.map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
        if let Some((k, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {k:?}; known: {}",
                known.join(", ")
            ))
            .into());
        }
        Ok(Self(pairs))
    }

    /// Returns a parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parses a numeric parameter within `min..=max`, with a default.
    pub fn number<T>(&self, name: &str, default: T, min: T, max: T) -> ApiResult<T>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        match v.parse::<T>() {
            Ok(n) if n >= min && n <= max => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "{name} must be a number from {min} to {max}, got {v:?}"
            ))
            .into()),
        }
    }
}

/// Builds the router of the whole API.
pub fn router(state: Shared) -> Router {
    let max_body = state.config.http.max_request_bytes as usize;
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/v1/cluster", get(ops::cluster))
        .route("/v1/topics", post(topics::create).get(topics::list))
        .route(
            "/v1/topics/{topic}",
            get(topics::describe).delete(topics::delete),
        )
        .route(
            "/v1/topics/{topic}/config",
            axum::routing::patch(topics::update_config),
        )
        .route("/v1/topics/{topic}/records", post(records::produce))
        .route("/v1/topics/{topic}/compact", post(topics::compact))
        .route("/v1/topics/{topic}/archive", post(topics::archive))
        .route(
            "/v1/topics/{topic}/partitions/{partition}/records",
            get(records::consume),
        )
        .route(
            "/v1/topics/{topic}/partitions/{partition}/extents",
            get(topics::extents),
        )
        .route("/v1/groups", get(groups::groups))
        .route(
            "/v1/groups/{group}/offsets",
            post(groups::commit).get(groups::list),
        )
        .route(
            "/v1/tokens",
            post(principals::create_token).get(principals::tokens),
        )
        .route(
            "/v1/tokens/{id}",
            axum::routing::delete(principals::revoke_token),
        )
        .route(
            "/v1/acls",
            post(principals::create_acl).get(principals::acls),
        )
        .route(
            "/v1/acls/{id}",
            axum::routing::delete(principals::delete_acl),
        )
        .merge(v2::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// Wraps the router so a path with a trailing slash routes as the path without it (clients
/// of the REST Proxy write `POST /consumers/testgroup/`, as Confluent's docs do).
pub fn normalized(router: Router) -> tower::util::MapRequest<Router, fn(Request) -> Request> {
    use tower::Layer;
    tower::util::MapRequestLayer::new(strip_trailing_slash as fn(Request) -> Request).layer(router)
}

fn strip_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(pq) = rebuilt.parse::<axum::http::uri::PathAndQuery>() {
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

async fn not_found() -> HttpError {
    ApiError::new(
        404,
        codes::ROUTE_NOT_FOUND,
        "no such route; see docs/api.md for the routes",
    )
    .into()
}

async fn method_not_allowed() -> HttpError {
    ApiError::new(
        405,
        codes::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
    .into()
}

/// Gives every refusal of the API the documented `{"error_code", "message"}` JSON body: a
/// route's extractor that refuses a request (a path segment that is not UTF-8, a missing
/// body) answers plain text of its own, which is turned into that shape here, so no route can
/// forget it. The HTTP layer's own refusals are rewritten by [`transport`].
async fn json_errors(req: Request, next: Next) -> Response {
    let head = req.method() == axum::http::Method::HEAD;
    let r = next.run(req).await;
    let status = r.status();
    if status.as_u16() < 400 || head {
        return r;
    }
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|t| t.trim().to_ascii_lowercase().ends_with("json"))
        });
    if is_json {
        return r;
    }
    let (mut parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 64 << 10)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
        t => t.to_string(),
    };
    let e = ApiError::new(status.as_u16(), codes::for_status(status.as_u16()), message);
    let body = serde_json::to_vec(&e).expect("errors serialize");
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

async fn count_requests(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = tokio::time::Instant::now();
    let r = next.run(req).await;
    s.metrics
        .http_requests
        .with_label_values(&[route.as_str(), r.status().as_str()])
        .inc();
    tracing::trace!(route, status = r.status().as_u16(), elapsed = ?started.elapsed(), "request");
    r
}

/// Reads and discards a request body.
pub async fn drain(body: axum::body::Body) {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    while let Some(Ok(_)) = stream.next().await {}
}

/// Reads a request body, turning the body-limit rejection into our `413`.
/// The refusal of a body that could not be read: `408` when it arrived too slowly, else `400`.
pub(crate) fn body_error(e: &axum::Error) -> ApiError {
    limits::too_slow(e)
        .unwrap_or_else(|| ApiError::bad_request(format!("could not read the request body: {e}")))
}

pub async fn read_body(body: axum::body::Body, limit: u64) -> ApiResult<bytes::Bytes> {
    axum::body::to_bytes(body, limit as usize)
        .await
        .map_err(|e| {
            let too_big = std::error::Error::source(&e)
                .is_some_and(|s| s.to_string().contains("length limit"))
                || e.to_string().contains("length limit");
            if too_big {
                HttpError(ApiError::new(
                    413,
                    codes::REQUEST_TOO_LARGE,
                    format!("request body is over this node's limit of {limit} bytes; split it"),
                ))
            } else {
                HttpError(body_error(&e))
            }
        })
}
