//! Authentication of API requests (issue 20), on when the node has a bootstrap token
//! (`--auth-bootstrap-token-file`).
//!
//! A request proves who it is with `Authorization: Bearer <token>` (an API token or a JWT) or,
//! for REST Proxy clients that only know Basic, `Authorization: Basic base64(principal:token)`;
//! without that header, by the client certificate its connection presented (mTLS). Without valid
//! credentials every route answers `401` with the documented JSON error, except `/healthz`
//! and `/readyz` (load balancers probe them) and the internal API (members prove themselves
//! with the cluster secret instead). The bootstrap token's principal, `bootstrap`, is a
//! superuser, as Kafka's `super.users` are. Each refusal is an audit line (target
//! `strata::audit`: source address, method, path, result, never a credential).

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use strata_core::api::{ApiError, codes};
use strata_core::secret::Secret;
use tracing::warn;

use super::{HttpError, Shared};

/// The principal of the bootstrap token.
pub const BOOTSTRAP_PRINCIPAL: &str = "bootstrap";

/// Who sent a request, once authenticated (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The principal's name.
    pub name: String,
    /// Whether it may do anything (the bootstrap principal).
    pub superuser: bool,
}

/// Routes that answer without credentials.
fn is_open(path: &str) -> bool {
    path.starts_with("/internal/") || matches!(path, "/healthz" | "/readyz")
}

/// Credentials as presented: the principal a Basic header names, and the token.
struct Presented<'a> {
    principal: Option<String>,
    token: std::borrow::Cow<'a, [u8]>,
}

/// Reads the `Authorization` header: `None` when there is none.
fn presented(headers: &HeaderMap) -> Result<Option<Presented<'_>>, &'static str> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.as_bytes();
    let (scheme, rest) = match v.iter().position(|b| *b == b' ') {
        Some(i) => (&v[..i], v[i + 1..].trim_ascii()),
        None => return Err("the Authorization header is not `Bearer <token>` or `Basic <base64>`"),
    };
    if scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(Some(Presented {
            principal: None,
            token: rest.into(),
        }));
    }
    if scheme.eq_ignore_ascii_case(b"basic") {
        let decoded = BASE64
            .decode(rest)
            .map_err(|_| "the Basic credentials are not base64")?;
        let i = decoded
            .iter()
            .position(|b| *b == b':')
            .ok_or("the Basic credentials are not `principal:token`")?;
        let principal = String::from_utf8(decoded[..i].to_vec())
            .map_err(|_| "the Basic principal is not UTF-8")?;
        return Ok(Some(Presented {
            principal: Some(principal),
            token: decoded[i + 1..].to_vec().into(),
        }));
    }
    Err("the Authorization scheme is not Bearer or Basic")
}

/// The `401` every refusal of credentials gets, with the schemes the node takes.
pub fn unauthenticated(message: &str) -> Response {
    let mut r = HttpError(ApiError::new(401, codes::UNAUTHENTICATED, message)).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"strata\", Basic realm=\"strata\""),
    );
    r
}

/// Checks `presented` against the bootstrap token.
fn verify(bootstrap: &Secret, p: &Presented<'_>) -> Option<Principal> {
    let named = p.principal.as_deref().unwrap_or(BOOTSTRAP_PRINCIPAL);
    (bootstrap.matches(&p.token) && named == BOOTSTRAP_PRINCIPAL).then(|| Principal {
        name: BOOTSTRAP_PRINCIPAL.to_string(),
        superuser: true,
    })
}

/// Checks `presented` against the bootstrap token, the JWKS (a bearer JWT), then the quorum's
/// tokens: the principal, or why not. `Err` when the node could never read the quorum's tokens.
async fn verify_any(
    s: &Shared,
    bootstrap: &Secret,
    p: &Presented<'_>,
) -> Result<Result<Principal, &'static str>, ApiError> {
    const INVALID: &str = "the credentials are not valid";
    if bootstrap.matches(&p.token) {
        return Ok(verify(bootstrap, p).ok_or(INVALID));
    }
    if let Some(jwt) = &s.config.jwt
        && p.principal.is_none()
        && super::jwt::JwtVerifier::looks_like_jwt(&p.token)
    {
        return Ok(jwt
            .verify(&p.token, s.clock.now_ms())
            .map(|name| Principal {
                name,
                superuser: false,
            }));
    }
    let Some(cache) = &s.access else {
        return Ok(Err(INVALID));
    };
    let Some(t) = cache.token(&p.token, s.clock.now_ms()).await? else {
        return Ok(Err(INVALID));
    };
    Ok(p.principal
        .as_deref()
        .is_none_or(|named| named == t.principal)
        .then_some(Principal {
            name: t.principal,
            superuser: false,
        })
        .ok_or(INVALID))
}

/// The principal a verified client certificate names (mTLS), or why it names none.
fn from_certificate(c: &super::tls::ClientCertificate) -> Result<Principal, &'static str> {
    match &c.principal {
        Ok(name) if name != BOOTSTRAP_PRINCIPAL => Ok(Principal {
            name: name.clone(),
            superuser: false,
        }),
        Ok(_) => Err("a client certificate cannot name the bootstrap principal"),
        Err(_) => Err(
            "the client certificate names no usable principal (a subject CN, DNS name or email without whitespace or `:`)",
        ),
    }
}

/// The middleware: authenticates every request that needs it, or answers `401`.
pub async fn authenticate(State(s): State<Shared>, mut req: Request, next: Next) -> Response {
    let Some(bootstrap) = s.config.auth_bootstrap_token.as_ref() else {
        return next.run(req).await;
    };
    if is_open(req.uri().path()) {
        return next.run(req).await;
    }
    let outcome = match presented(req.headers()) {
        Ok(Some(p)) => match verify_any(&s, bootstrap, &p).await {
            Ok(found) => found,
            Err(e) => return HttpError(e).into_response(),
        },
        Ok(None) => match req.extensions().get::<super::tls::ClientCertificate>() {
            Some(c) => from_certificate(c),
            None => Err(
                "this node requires authentication: send `Authorization: Bearer <token>` (or Basic `principal:token`)",
            ),
        },
        Err(e) => Err(e),
    };
    match outcome {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(reason) => {
            let source = req
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.to_string())
                .unwrap_or_default();
            warn!(
                target: "strata::audit",
                result = "unauthenticated",
                %source,
                method = %req.method(),
                path = req.uri().path(),
                reason,
                "request refused"
            );
            s.metrics.auth_failures.inc();
            unauthenticated(reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "0123456789abcdef0123456789abcdef";

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(v).expect("a header"),
        );
        h
    }

    #[test]
    fn bearer_and_basic_credentials_are_read_and_checked() {
        let secret = Secret::parse(T).expect("parses");
        let ok = |v: &str| {
            let h = with(v);
            let p = presented(&h).expect("well formed").expect("present");
            verify(&secret, &p)
        };
        assert!(ok(&format!("Bearer {T}")).is_some_and(|p| p.superuser));
        assert!(ok(&format!("bearer  {T} ")).is_some());
        let basic = BASE64.encode(format!("bootstrap:{T}"));
        assert!(ok(&format!("Basic {basic}")).is_some());
        let other = BASE64.encode(format!("alice:{T}"));
        assert!(
            ok(&format!("Basic {other}")).is_none(),
            "the token is bootstrap's"
        );
        assert!(ok("Bearer wrong").is_none());
        assert!(presented(&with("Token x")).is_err());
        assert!(presented(&with("Basic !!!")).is_err());
        assert!(presented(&HeaderMap::new()).expect("fine").is_none());
    }
}
