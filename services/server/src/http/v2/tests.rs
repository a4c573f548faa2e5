use super::*;
use strata_core::meta::consumer::EmbeddedFormat;

fn accept(v: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::ACCEPT, v.parse().expect("header"));
    h
}

fn content_type(v: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, v.parse().expect("header"));
    h
}

#[test]
fn media_types_parse_with_and_without_format_and_version() {
    assert_eq!(
        parse_media("application/vnd.kafka.binary.v2+json"),
        Some(Media::Kafka(Some(Format::Binary), Version::V2))
    );
    assert_eq!(
        parse_media("application/vnd.kafka.json.v2+json; charset=utf-8"),
        Some(Media::Kafka(Some(Format::Json), Version::V2))
    );
    assert_eq!(
        parse_media("application/vnd.kafka.v2+json"),
        Some(Media::Kafka(None, Version::V2))
    );
    assert_eq!(
        parse_media("application/vnd.kafka+json"),
        Some(Media::Kafka(None, Version::V2))
    );
    assert_eq!(
        parse_media("application/vnd.kafka.avro.v2+json"),
        Some(Media::Kafka(Some(Format::Schema("avro")), Version::V2))
    );
    assert_eq!(
        parse_media("application/vnd.kafka.binary.v1+json"),
        Some(Media::Kafka(Some(Format::Binary), Version::V1))
    );
    assert_eq!(
        parse_media("application/vnd.kafka.v1+json"),
        Some(Media::Kafka(None, Version::V1))
    );
    assert_eq!(parse_media("application/vnd.kafka.v3+json"), None);
    assert_eq!(parse_media("text/html"), None);
}

#[test]
fn an_omitted_embedded_format_means_binary() {
    assert_eq!(request_format(&HeaderMap::new()).ok(), Some(Format::Binary));
    for ct in [
        "application/vnd.kafka.v2+json",
        "application/json",
        "application/octet-stream",
    ] {
        assert_eq!(
            request_format(&content_type(ct)).ok(),
            Some(Format::Binary),
            "{ct}"
        );
    }
    assert_eq!(
        request_format(&content_type("application/vnd.kafka.json.v2+json")).ok(),
        Some(Format::Json)
    );
    assert!(request_format(&content_type("text/plain")).is_err());
}

#[test]
fn accept_weights_choose_the_response_type() {
    assert_eq!(negotiate(&HeaderMap::new()).ok(), Some(V2_JSON));
    assert_eq!(
        negotiate(&accept(
            "application/vnd.kafka.v2+json; q=0.9, application/json; q=0.5"
        ))
        .ok(),
        Some(V2_JSON)
    );
    assert_eq!(
        negotiate(&accept(
            "application/vnd.kafka.v2+json; q=0.4, application/json; q=0.5"
        ))
        .ok(),
        Some("application/json")
    );
    assert_eq!(negotiate(&accept("*/*")).ok(), Some(V2_JSON));
    // Confluent's Node.js client (API v1) sends exactly this.
    assert_eq!(
        negotiate(&accept(
            "application/vnd.kafka.v1+json, application/vnd.kafka+json; q=0.9, application/json; q=0.8"
        ))
        .ok(),
        Some(V1_JSON)
    );
    assert_eq!(
        negotiate(&accept(
            "application/vnd.kafka.v1+json, application/vnd.kafka.v2+json"
        ))
        .ok(),
        Some(V2_JSON)
    );
    let refused = negotiate(&accept("text/html")).err().map(|e| e.0.status);
    assert_eq!(refused, Some(406));
}

#[test]
fn records_must_be_accepted_in_the_instance_format() {
    let json = EmbeddedFormat::Json;
    assert_eq!(
        negotiate_records(&accept("application/vnd.kafka.json.v2+json"), json).ok(),
        Some("application/vnd.kafka.json.v2+json")
    );
    assert_eq!(
        negotiate_records(&accept("application/vnd.kafka.v2+json"), json).ok(),
        Some("application/vnd.kafka.json.v2+json")
    );
    let e = negotiate_records(&accept("application/vnd.kafka.binary.v2+json"), json)
        .err()
        .map(|e| (e.0.status, e.0.error_code));
    assert_eq!(e, Some((406, 40601)));
    assert_eq!(
        negotiate_records(
            &accept("application/vnd.kafka.binary.v1+json"),
            EmbeddedFormat::Binary
        )
        .ok(),
        Some("application/vnd.kafka.binary.v1+json")
    );
    assert_eq!(
        negotiate_records(
            &accept("application/vnd.kafka.binary.v2+json; q=0.9, application/vnd.kafka.json.v2+json; q=0.1"),
            json
        )
        .ok(),
        Some("application/vnd.kafka.json.v2+json")
    );
}
