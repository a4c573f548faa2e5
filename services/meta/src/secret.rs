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
use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use strata_core::api::{ApiError, codes};
use subtle::ConstantTimeEq;

/// The request header that carries the cluster secret.
pub const HEADER: &str = "strata-cluster-secret";

/// The shortest secret accepted, in bytes: 128 bits as hex.
pub const MIN_LEN: usize = 32;

/// A cluster secret. Its `Debug` form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSecret(Arc<str>);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(<redacted>)")
    }
}

impl ClusterSecret {
    /// The secret `text` holds (surrounding whitespace, such as a final newline, is not part of
    /// it). Refused when shorter than [`MIN_LEN`] bytes or not a valid header value; the error
    /// never repeats the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let s = text.trim();
        if s.len() < MIN_LEN {
            return Err(format!(
                "a cluster secret needs at least {MIN_LEN} characters, this one has {} (make one with `openssl rand -hex 32`)",
                s.len()
            ));
        }
        if HeaderValue::from_str(s).is_err() || s.chars().any(char::is_whitespace) {
            return Err(
                "a cluster secret must be printable ASCII without spaces (make one with `openssl rand -hex 32`)"
                    .to_string(),
            );
        }
        Ok(Self(s.into()))
    }

    /// Reads the secret from the file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether `presented` is this secret, in time that does not depend on where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }

    /// The headers a member sends on every internal request: the secret, marked sensitive so
    /// that no log of the HTTP client shows it.
    pub fn headers(secret: Option<&Self>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(s) = secret {
            let mut v = HeaderValue::from_str(&s.0).expect("checked when parsed");
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

    const S: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_secret_is_trimmed_checked_and_never_shown() {
        let s = ClusterSecret::parse(&format!("  {S}\n")).expect("parses");
        assert!(s.matches(S.as_bytes()));
        assert!(!s.matches(b"0123456789abcdef0123456789abcdeX"));
        assert!(!s.matches(b"0123456789abcdef"));
        assert!(!format!("{s:?}").contains(S));
        let short = ClusterSecret::parse("hunter2").expect_err("too short");
        assert!(
            short.contains("at least 32") && !short.contains("hunter2"),
            "{short}"
        );
        let spaced = ClusterSecret::parse(&format!("{S} {S}")).expect_err("a space");
        assert!(!spaced.contains(S), "{spaced}");
        let h = ClusterSecret::headers(Some(&s));
        assert!(h[HEADER].is_sensitive());
        assert!(ClusterSecret::headers(None).is_empty());
    }
}
