//! The `Idempotency-Key` request header of the produce routes (the IETF httpapi draft's name):
//! a request sent again with the same key is stored once (see
//! [`strata_core::meta::idempotency`]).

use aws_lc_rs::digest::{SHA256, digest};
use axum::http::HeaderMap;
use strata_core::api::ApiError;
use strata_core::meta::idempotency::RequestKey;

/// The header's name.
pub const HEADER: &str = "idempotency-key";

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 255;

/// Reads the request's `Idempotency-Key`, if it has one. The key may be given bare or as a
/// structured-field string (`"..."`); it is 1 to 255 visible ASCII characters. The request's
/// identity is the key within `topic`; its fingerprint covers `route` (the produce route and
/// partition, if the path names one), the content type and the body, so a retry must send the
/// same request.
pub fn request_key(
    headers: &HeaderMap,
    topic: &str,
    route: &str,
    body: &[u8],
) -> Result<Option<RequestKey>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request(
            "give one Idempotency-Key header, not several",
        ));
    }
    let raw = value.as_bytes();
    let key = match raw {
        [b'"', inner @ .., b'"'] => inner,
        _ => raw,
    };
    if key.is_empty()
        || key.len() > MAX_KEY_BYTES
        || !key.iter().all(|c| c.is_ascii_graphic() && *c != b'"')
    {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_BYTES} visible ASCII characters (a UUID, say)"
        )));
    }
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map_or(&b""[..], |v| v.as_bytes());
    Ok(Some(RequestKey {
        id: u128::from_le_bytes(first(&hash(&[b"id", topic.as_bytes(), key]))),
        fingerprint: u64::from_le_bytes(first(&hash(&[
            b"request",
            route.as_bytes(),
            content_type,
            body,
        ]))),
    }))
}

/// SHA-256 of the parts, each prefixed by its length (so no two lists of parts collide).
fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut all = Vec::with_capacity(parts.iter().map(|p| p.len() + 8).sum());
    for p in parts {
        all.extend_from_slice(&(p.len() as u64).to_le_bytes());
        all.extend_from_slice(p);
    }
    let d = digest(&SHA256, &all);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn first<const N: usize>(h: &[u8; 32]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&h[..N]);
    out
}

#[cfg(test)]
mod tests;
