//! The cluster secret: how voters and nodes prove to each other that they are members.
//!
//! Every request to the internal API (`/internal/*`: Raft's messages, the quorum's apply, query
//! and change feed, elections and membership changes) carries the secret in the
//! [`HEADER`] header, and every voter refuses one that does not, before reading its body. A node
//! started without a secret serves no internal API at all: a quorum of one needs none, and a
//! larger cluster does not start without one (the server's configuration refuses it).
//!
//! The secret travels as it is: over plain HTTP anyone who can watch the network can read it,
//! as with Kafka's SASL/PLAIN on a plaintext listener. Serve HTTPS between members on an open
//! network.

use std::path::Path;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use strata_core::api::{ApiError, codes};
use strata_core::secret::Secret;

/// The request header that carries the cluster secret.
pub const HEADER: &str = "strata-cluster-secret";

/// A cluster secret. Its `Debug` form never shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSecret(Secret);

impl ClusterSecret {
    /// The secret `text` holds (see [`Secret::parse`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        Secret::parse(text).map(Self)
    }

    /// Reads the secret from the file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        Secret::from_file(path).map(Self)
    }

    /// Whether `presented` is this secret, in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.matches(presented)
    }

    /// The headers a member sends on every internal request: the secret, marked sensitive so
    /// that no log of the HTTP client shows it.
    pub fn headers(secret: Option<&Self>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(s) = secret {
            let mut v =
                HeaderValue::from_str(s.0.expose()).expect("printable ASCII, checked when parsed");
            v.set_sensitive(true);
            h.insert(HeaderName::from_static(HEADER), v);
        }
        h
    }
}

fn refuse(message: &str) -> Response {
    let e = ApiError::new(401, codes::UNAUTHENTICATED, message);
    (StatusCode::UNAUTHORIZED, Json(e)).into_response()
}

/// The internal API's guard (an axum middleware): lets through only requests that carry the
/// cluster secret, before their bodies are read.
pub async fn guard(
    State(secret): State<Option<ClusterSecret>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(secret) = secret else {
        return refuse(
            "this node serves no internal API: it was started without --cluster-secret-file (every member of a cluster needs the same one)",
        );
    };
    match request.headers().get(HEADER) {
        Some(v) if secret.matches(v.as_bytes()) => next.run(request).await,
        Some(_) => {
            refuse("the cluster secret is wrong: only members of this cluster may call /internal/*")
        }
        None => refuse(
            "the internal API is for members of this cluster: the request carries no cluster secret",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_goes_out_as_a_sensitive_header() {
        let s = ClusterSecret::parse("0123456789abcdef0123456789abcdef").expect("parses");
        let h = ClusterSecret::headers(Some(&s));
        assert!(h[HEADER].is_sensitive());
        assert!(s.matches(h[HEADER].as_bytes()));
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
        assert!(ClusterSecret::headers(None).is_empty());
    }
}
