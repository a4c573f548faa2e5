//! Every documented API error, reached, with nothing changed.

use reqwest::Method;
use serde_json::json;
use strata_tests::Node;

use super::opts_with_config;

/// Method, path, content type, body, expected status and error code.
type ErrorCase = (
    Method,
    String,
    Option<&'static str>,
    Option<String>,
    u16,
    u64,
);

#[tokio::test]
async fn every_api_error_is_reachable_and_changes_nothing() -> anyhow::Result<()> {
    let node = Node::start(opts_with_config("[http]\nmax-request-bytes = \"64KiB\"\n")).await?;
    let api = node.api();
    api.create_topic("t", 2, json!({"max.message.bytes": 2000}))
        .await?;
    api.create_topic("kv", 1, json!({"cleanup.policy": "compact"}))
        .await?;
    api.produce("t", "all", &[json!({"key": "a", "value": 1})])
        .await?;
    let before = (
        api.get("/v1/topics").await?,
        api.high_watermarks("t").await?,
    );
    let big = "x".repeat(3000);
    let huge = "y".repeat(70_000);
    let cases: Vec<ErrorCase> = vec![
        (
            Method::POST,
            "/v1/topics/t/records".into(),
            Some("application/json"),
            Some("{not json".into()),
            400,
            40001,
        ),
        (
            Method::POST,
            "/v1/topics/t/records".into(),
            Some("application/json"),
            Some(r#"{"records": [{"valeu": 1}]}"#.into()),
            400,
            40001,
        ),
        (
            Method::POST,
            "/v1/topics/t/records".into(),
            Some("application/json"),
            Some(r#"{"records": []}"#.into()),
            400,
            40001,
        ),
        (
            Method::POST,
            "/v1/topics/t/records?acks=maybe".into(),
            Some("application/json"),
            Some(r#"{"records": [{"value": 1}]}"#.into()),
            400,
            40001,
        ),
        (
            Method::POST,
            "/v1/topics/t/records?ack=all".into(),
            Some("application/json"),
            Some(r#"{"records": [{"value": 1}]}"#.into()),
            400,
            40001,
        ),
        (
            Method::POST,
            "/v1/topics".into(),
            Some("application/json"),
            Some(r#"{"name": 5}"#.into()),
            400,
            40001,
        ),
        (
            Method::GET,
            "/v1/topics/t/partitions/0/records?offset=abc".into(),
            None,
            None,
            400,
            40001,
        ),
        (
            Method::GET,
            "/v1/topics/t/partitions/0/records?offset=0&timestamp=5".into(),
            None,
            None,
            400,
            40001,
        ),
        (
            Method::GET,
            "/v1/topics/t/partitions/0/records".into(),
            None,
            None,
            400,
            40001,
        ),
        (
            Method::GET,
            "/v1/topics/t/partitions/x/records?offset=0".into(),
            None,
            None,
            400,
            40001,
        ),
        (
            Method::GET,
            "/v1/topics/t/partitions/0/records?offset=0&format=xml".into(),
            None,
            None,
            400,
            40001,
        ),
        (
            Method::GET,
            "/v1/topics/t/partitions/0/records?offset=0&max_records=0".into(),
            None,
            None,
            400,
            40001,
        ),
        (
            Method::POST,
            "/v1/topics/nope/records".into(),
            Some("application/json"),
            Some(r#"{"records": [{"value": 1}]}"#.into()),
            404,
            40401,
        ),
        (
            Method::GET,
            "/v1/topics/nope".into(),
            None,
            None,
            404,
            40401,
        ),
        (
            Method::DELETE,
            "/v1/topics/nope".into(),
            None,
            None,
            404,
            40401,
        ),
        (
            Method::PATCH,
            "/v1/topics/nope/config".into(),
            Some("application/json"),
            Some(r#"{"retention.ms": 1}"#.into()),
            404,
            40401,
        ),
        (
            Method::GET,
            "/v1/topics/nope/partitions/0/records?offset=0".into(),
            None,
            None,
            404,
            40401,
        ),
        (
            Method::GET,
            "/v1/topics/t/partitions/7/records?offset=0".into(),
            None,
            None,
            404,
            40402,
        ),
        (
            Method::POST,
            "/v1/topics/t/records".into(),
            Some("application/json"),
            Some(r#"{"records": [{"value": 1}, {"value": 2, "partition": 7}]}"#.into()),
            404,
            40402,
        ),
        (
            Method::GET,
            "/v1/groups/nobody/offsets".into(),
            None,
            None,
            404,
            40403,
        ),
        (
            Method::GET,
            "/v1/nothing/here".into(),
            None,
            None,
            404,
            40404,
        ),
        (Method::PUT, "/v1/topics".into(), None, None, 405, 40501),
        (
            Method::POST,
            "/v1/topics".into(),
            Some("application/json"),
            Some(r#"{"name": "t", "partitions": 1}"#.into()),
            409,
            40901,
        ),
        (
            Method::POST,
            "/v1/topics/t/records".into(),
            Some("application/json"),
            Some(format!(
                r#"{{"records": [{{"value": 1}}, {{"value": "{big}"}}]}}"#
            )),
            413,
            41301,
        ),
        (
            Method::POST,
            "/v1/topics/t/records".into(),
            Some("application/json"),
            Some(format!(r#"{{"records": [{{"value": "{huge}"}}]}}"#)),
            413,
            41302,
        ),
        (
            Method::POST,
            "/v1/topics/t/records".into(),
            Some("text/csv"),
            Some("a,b".into()),
            415,
            41501,
        ),
        (
            Method::GET,
            "/v1/topics/t/partitions/0/records?offset=1000".into(),
            None,
            None,
            416,
            41601,
        ),
        (
            Method::GET,
            "/v1/topics/t/partitions/0/records?offset=-1".into(),
            None,
            None,
            416,
            41601,
        ),
        (
            Method::POST,
            "/v1/topics".into(),
            Some("application/json"),
            Some(r#"{"name": "bad/name", "partitions": 1}"#.into()),
            422,
            42201,
        ),
        (
            Method::POST,
            "/v1/topics".into(),
            Some("application/json"),
            Some(r#"{"name": "new", "partitions": 1, "config": {"retention.ms": "soon"}}"#.into()),
            422,
            42202,
        ),
        (
            Method::POST,
            "/v1/topics".into(),
            Some("application/json"),
            Some(r#"{"name": "new", "partitions": 1, "config": {"no.such.key": 1}}"#.into()),
            422,
            42202,
        ),
        (
            Method::PATCH,
            "/v1/topics/t/config".into(),
            Some("application/json"),
            Some(r#"{"cleanup.policy": "sometimes"}"#.into()),
            422,
            42202,
        ),
        (
            Method::POST,
            "/v1/topics".into(),
            Some("application/json"),
            Some(r#"{"name": "new", "partitions": 0}"#.into()),
            422,
            42203,
        ),
        (
            Method::POST,
            "/v1/topics/t/records".into(),
            Some("application/json"),
            Some(r#"{"records": [{"value": 1, "timestamp": -4}]}"#.into()),
            422,
            42203,
        ),
        (
            Method::POST,
            "/v1/topics/kv/records".into(),
            Some("application/json"),
            Some(r#"{"records": [{"key": "a", "value": 1}, {"value": 2}]}"#.into()),
            422,
            42204,
        ),
        (
            Method::POST,
            "/v1/groups/g/offsets".into(),
            Some("application/json"),
            Some(r#"{"offsets": [{"topic": "t", "partition": 9, "offset": 1}]}"#.into()),
            404,
            40402,
        ),
        (
            Method::POST,
            "/v1/groups/g/offsets".into(),
            Some("application/json"),
            Some(r#"{"offsets": [{"topic": "nope", "partition": 0, "offset": 1}]}"#.into()),
            404,
            40401,
        ),
    ];
    for (method, path, ct, body, status, code) in cases {
        let (s, v, _) = api.send(method.clone(), &path, ct, body).await?;
        assert_eq!(
            (s, v["error_code"].as_u64()),
            (status, Some(code)),
            "{method} {path}: {v}"
        );
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{method} {path} explains itself: {v}"
        );
    }
    let (_, oor, _) = api
        .send(
            Method::GET,
            "/v1/topics/t/partitions/0/records?offset=1000",
            None,
            None,
        )
        .await?;
    assert!(
        oor["high_watermark"].is_i64() && oor["log_start_offset"].is_i64(),
        "416 carries the bounds: {oor}"
    );
    let after = (
        api.get("/v1/topics").await?,
        api.high_watermarks("t").await?,
    );
    assert_eq!(before, after, "rejected requests changed nothing");
    assert_eq!(
        api.get("/v1/groups/g/offsets").await?.0,
        404,
        "a refused group commit stored nothing"
    );
    Ok(())
}
