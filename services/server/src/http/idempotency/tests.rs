use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            v.parse().expect("value"),
        );
    }
    h
}

#[test]
fn keys_name_requests_per_topic_and_fingerprints_cover_the_request() {
    let h = headers(&[
        ("idempotency-key", "abc-1"),
        ("content-type", "application/json"),
    ]);
    let k = request_key(&h, "t", "native", b"{}")
        .expect("valid")
        .expect("some");
    let quoted = headers(&[
        ("idempotency-key", "\"abc-1\""),
        ("content-type", "application/json"),
    ]);
    assert_eq!(
        request_key(&quoted, "t", "native", b"{}").expect("valid"),
        Some(k)
    );
    let other_topic = request_key(&h, "u", "native", b"{}")
        .expect("valid")
        .expect("some");
    assert_ne!(other_topic.id, k.id);
    let other_body = request_key(&h, "t", "native", b"{ }")
        .expect("valid")
        .expect("some");
    assert_eq!(other_body.id, k.id);
    assert_ne!(other_body.fingerprint, k.fingerprint);
    let other_route = request_key(&h, "t", "v2/0", b"{}")
        .expect("valid")
        .expect("some");
    assert_ne!(other_route.fingerprint, k.fingerprint);
    assert_eq!(
        request_key(&HeaderMap::new(), "t", "native", b"{}").expect("valid"),
        None
    );
}

#[test]
fn bad_keys_are_refused() {
    let long = "x".repeat(256);
    for bad in ["", "with space", "\"\"", long.as_str()] {
        let h = headers(&[("idempotency-key", bad)]);
        let e = request_key(&h, "t", "native", b"").expect_err(bad);
        assert_eq!(e.status, 400, "{bad}");
    }
    let two = headers(&[("idempotency-key", "a"), ("idempotency-key", "b")]);
    assert_eq!(
        request_key(&two, "t", "native", b"")
            .expect_err("two")
            .status,
        400
    );
}
