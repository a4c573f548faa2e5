//! Every Confluent error code Strata answers with, where it applies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use serde_json::json;
use strata_tests::v2::V2Client;
use strata_tests::{Node, NodeOptions};

use super::BINARY;

#[tokio::test]
async fn every_confluent_error_code_is_answered_where_it_applies() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("t", 2, json!({})).await?;
    api.create_topic(
        "small",
        1,
        json!({"max.message.bytes": 100, "cleanup.policy": "compact"}),
    )
    .await?;
    let v2 = V2Client::new(&node.url());
    let expect = |what: &str, r: &strata_tests::v2::Reply, status: u16, code: u64| {
        assert_eq!((r.status, r.code()), (status, Some(code)), "{what}: {r:?}");
        assert!(
            r.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {r:?}"
        );
    };
    // 40401, 40402.
    expect("unknown topic", &v2.get("/topics/nope").await?, 404, 40401);
    let produce = |path: &str, ct: &str, body: &str| {
        let (v2, path, ct, body) = (
            v2.clone(),
            path.to_string(),
            ct.to_string(),
            body.to_string(),
        );
        async move {
            v2.call(
                Method::POST,
                &path,
                &[("content-type", ct.as_str())],
                Some(&body),
            )
            .await
        }
    };
    let one_record = r#"{"records": [{"value": "AA=="}]}"#;
    for (path, code) in [("/topics/nope", 40401), ("/topics/t/partitions/7", 40402)] {
        let r = produce(path, BINARY, one_record).await?;
        expect(&format!("produce to {path}"), &r, 404, code);
    }
    expect(
        "unknown partition",
        &v2.get("/topics/t/partitions/7").await?,
        404,
        40402,
    );
    // 40403.
    expect(
        "unknown instance",
        &v2.get("/consumers/g/instances/ghost/subscription").await?,
        404,
        40403,
    );
    // 40902, 40601, 40901, 40903.
    v2.create_consumer("g", json!({"name": "c", "format": "json"}))
        .await?;
    expect(
        "duplicate instance",
        &v2.post("/consumers/g", &json!({"name": "c"})).await?,
        409,
        40902,
    );
    let r = v2
        .call(
            Method::GET,
            "/consumers/g/instances/c/records",
            &[("accept", BINARY)],
            None,
        )
        .await?;
    expect("format mismatch", &r, 406, 40601);
    v2.subscribe("g", "c", &["t"]).await?;
    expect(
        "pattern after topics",
        &v2.post(
            "/consumers/g/instances/c/subscription",
            &json!({"topic_pattern": "t.*"}),
        )
        .await?,
        409,
        40901,
    );
    expect(
        "assign while subscribed",
        &v2.post(
            "/consumers/g/instances/c/assignments",
            &json!({"partitions": [{"topic": "t", "partition": 0}]}),
        )
        .await?,
        409,
        40903,
    );
    expect(
        "seek a partition not assigned",
        &v2.post(
            "/consumers/g/instances/c/positions",
            &json!({"offsets": [{"topic": "small", "partition": 0, "offset": 0}]}),
        )
        .await?,
        409,
        40903,
    );
    // 42201, 42202, 42205, 42206 (schema formats; Strata runs no Schema Registry).
    let avro = "application/vnd.kafka.avro.v2+json";
    expect(
        "keys without a key schema",
        &produce(
            "/topics/t",
            avro,
            r#"{"value_schema": "\"int\"", "records": [{"key": 1, "value": 2}]}"#,
        )
        .await?,
        422,
        42201,
    );
    expect(
        "values without a value schema",
        &produce("/topics/t", avro, r#"{"records": [{"value": 2}]}"#).await?,
        422,
        42202,
    );
    expect(
        "an invalid schema",
        &produce(
            "/topics/t",
            avro,
            r#"{"value_schema": "{not json", "records": [{"value": 2}]}"#,
        )
        .await?,
        422,
        42205,
    );
    expect(
        "a schema format",
        &produce(
            "/topics/t",
            avro,
            r#"{"value_schema": "{\"name\":\"int\",\"type\": \"int\"}", "records": [{"value": 12}]}"#,
        )
        .await?,
        422,
        42206,
    );
    expect(
        "an avro consumer",
        &v2.post("/consumers/g", &json!({"name": "avro", "format": "avro"}))
            .await?,
        422,
        42206,
    );
    // 42203, 42204, 40001.
    expect(
        "bad base64",
        &produce("/topics/t", BINARY, r#"{"records": [{"value": "!!"}]}"#).await?,
        422,
        42203,
    );
    expect(
        "bad auto.offset.reset",
        &v2.post(
            "/consumers/g",
            &json!({"name": "x", "auto.offset.reset": "bad-config"}),
        )
        .await?,
        422,
        42204,
    );
    expect(
        "fetch.min.bytes out of range",
        &v2.post(
            "/consumers/g",
            &json!({"name": "x", "fetch.min.bytes": "20000000"}),
        )
        .await?,
        422,
        40001,
    );
    // Per-record 50002: the records the topic refuses fail alone; the others are produced.
    let big = BASE64.encode(vec![7u8; 500]);
    let r = produce(
        "/topics/small",
        BINARY,
        &json!({"records": [
            {"key": "aw==", "value": "AA=="},
            {"key": "aw==", "value": big},
            {"value": "AA=="},
            {"key": "aw==", "value": "AQ==", "partition": 3},
        ]})
        .to_string(),
    )
    .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let o = &r.json["offsets"];
    assert_eq!(o[0]["offset"], json!(0), "{r:?}");
    assert!(o[0]["error_code"].is_null());
    for i in 1..4 {
        assert_eq!(o[i]["error_code"], json!(50002), "{r:?}");
        assert!(
            o[i]["offset"].is_null() && o[i]["error"].is_string(),
            "{r:?}"
        );
    }
    assert_eq!(api.high_watermarks("small").await?, [1]);
    // Generic errors keep Confluent's statuses.
    let r = produce("/topics/t", BINARY, "{not json").await?;
    assert_eq!((r.status, r.code()), (400, Some(400)), "{r:?}");
    let r = produce(
        "/topics/t",
        BINARY,
        r#"{"records": [{"value": "AA==", "bogus": 1}]}"#,
    )
    .await?;
    assert_eq!((r.status, r.code()), (422, Some(422)), "{r:?}");
    assert!(r.text.contains("Unrecognized field"), "{r:?}");
    let r = produce("/topics/t", BINARY, r#"{"records": []}"#).await?;
    assert_eq!((r.status, r.code()), (422, Some(422)), "{r:?}");
    let r = produce("/topics/t", "text/plain", r#"{"records": []}"#).await?;
    assert_eq!(r.status, 415, "{r:?}");
    let r = v2
        .call(Method::GET, "/topics", &[("accept", "text/html")], None)
        .await?;
    assert_eq!(r.status, 406, "{r:?}");
    let r = v2.call(Method::GET, "/", &[], None).await?;
    assert_eq!((r.status, r.json.clone()), (200, json!({})));
    Ok(())
}
