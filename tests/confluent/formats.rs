//! What v2 fetches return: headers and timestamps produced natively, JSON keys and values stored as Confluent stores them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use strata_tests::v2::{V2, V2Client};
use strata_tests::{Node, NodeOptions};

use super::{BINARY, JSON, read_n};

#[tokio::test]
async fn headers_and_timestamps_produced_natively_come_back_on_v2_fetches() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("events", 1, json!({})).await?;
    api.produce(
        "events",
        "all",
        &[
            json!({"key": "k", "value": {"a": 1}, "headers": {"source": "web", "trace": "t-1"}, "timestamp": 1_732_252_800_000i64}),
            json!({"key": "k2", "value": "plain", "headers": [{"key": "bin", "value_base64": "AP8="}], "timestamp": 1_732_252_800_001i64}),
        ],
    )
    .await?;
    // A v2 producer can send them too (an extension: Confluent's v3 header shape).
    let r = V2Client::new(&node.url())
        .call(
            Method::POST,
            "/topics/events",
            &[("content-type", JSON)],
            Some(r#"{"records": [{"key": "k3", "value": 3, "headers": [{"name": "h", "value": "aGk="}], "timestamp": 1732252800002}]}"#),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let v2 = V2Client::new(&node.url());
    for (group, format, accept) in [("gj", "json", JSON), ("gb", "binary", BINARY)] {
        v2.create_consumer(
            group,
            json!({"name": "c", "format": format, "auto.offset.reset": "earliest"}),
        )
        .await?;
        v2.subscribe(group, "c", &["events"]).await?;
        let records = read_n(&v2, group, "c", accept, 3).await?;
        assert_eq!(records[0]["timestamp"], json!(1_732_252_800_000i64));
        assert_eq!(
            records[0]["headers"],
            json!([{"name": "source", "value": BASE64.encode("web")}, {"name": "trace", "value": BASE64.encode("t-1")}])
        );
        assert_eq!(
            records[1]["headers"],
            json!([{"name": "bin", "value": "AP8="}])
        );
        assert_eq!(records[1]["timestamp"], json!(1_732_252_800_001i64));
        assert_eq!(
            records[2]["headers"],
            json!([{"name": "h", "value": "aGk="}])
        );
        assert_eq!(records[2]["timestamp"], json!(1_732_252_800_002i64));
        if format == "json" {
            assert_eq!(records[0]["value"], json!({"a": 1}));
            assert_eq!(records[1]["value"], json!("plain"));
        } else {
            assert_eq!(records[1]["value"], json!(BASE64.encode("plain")));
        }
    }
    // Native and v2 producers put the same key bytes on the same partition: a native string
    // key is its contents (as a v2 binary key), a v2 JSON key its JSON text (with quotes).
    api.create_topic("keys", 8, json!({})).await?;
    for key in ["user-1", "user-2", "user-3", "order-99"] {
        let native = api
            .produce("keys", "all", &[json!({"key": key, "value": 1})])
            .await?;
        let native_quoted = api
            .produce(
                "keys",
                "all",
                &[json!({"key": format!("\"{key}\""), "value": 1})],
            )
            .await?;
        let r = v2
            .call(
                Method::POST,
                "/topics/keys",
                &[("content-type", BINARY)],
                Some(&json!({"records": [{"key": BASE64.encode(key), "value": null}]}).to_string()),
            )
            .await?;
        let j = v2
            .call(
                Method::POST,
                "/topics/keys",
                &[("content-type", JSON)],
                Some(&json!({"records": [{"key": key, "value": 2}]}).to_string()),
            )
            .await?;
        assert_eq!(
            r.json["offsets"][0]["partition"],
            json!(native[0].partition),
            "{key}"
        );
        assert_eq!(
            j.json["offsets"][0]["partition"],
            json!(native_quoted[0].partition),
            "{key}"
        );
    }
    Ok(())
}

/// What a binary consumer instance reads of `topic` from the beginning: (key, value, partition)
/// as raw bytes.
async fn read_binary(
    v2: &V2Client,
    group: &str,
    topic: &str,
    n: usize,
) -> anyhow::Result<Vec<(Option<Vec<u8>>, Option<Vec<u8>>, u64)>> {
    v2.create_consumer(
        group,
        json!({"name": "b", "format": "binary", "auto.offset.reset": "earliest"}),
    )
    .await?;
    v2.subscribe(group, "b", &[topic]).await?;
    let decode = |v: &Value| v.as_str().map(|s| BASE64.decode(s).unwrap_or_default());
    Ok(read_n(v2, group, "b", BINARY, n)
        .await?
        .iter()
        .map(|r| {
            (
                decode(&r["key"]),
                decode(&r["value"]),
                r["partition"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect())
}

#[tokio::test]
async fn json_keys_and_values_are_stored_as_confluent_stores_them() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("jb", 4, json!({})).await?;
    let v2 = V2Client::new(&node.url());
    // The issue's case: Confluent stores the JSON text, so the key "k1" keeps its quotes.
    let r = v2
        .call(
            Method::POST,
            "/topics/jb",
            &[("content-type", JSON), ("accept", V2)],
            Some(r#"{"records":[{"key":"k1","value":"hello"},{"key": {"a": 1, "b": [1, 2.50]}, "value": null},{"value": 7}]}"#),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let json_partition = r.json["offsets"][0]["partition"].as_u64();
    // The same key bytes produced as binary land on the same partition (murmur2 of `"k1"`).
    let r = v2
        .call(
            Method::POST,
            "/topics/jb",
            &[("content-type", BINARY), ("accept", V2)],
            Some(
                &json!({"records": [{"key": BASE64.encode(b"\"k1\""), "value": "AA=="}]})
                    .to_string(),
            ),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["offsets"][0]["partition"].as_u64(), json_partition);

    let got = read_binary(&v2, "jb-binary", "jb", 4).await?;
    let first = got
        .iter()
        .find(|(_, v, _)| v.as_deref() == Some(&b"\"hello\""[..]))
        .cloned();
    assert_eq!(
        first,
        Some((
            Some(b"\"k1\"".to_vec()),
            Some(b"\"hello\"".to_vec()),
            json_partition.unwrap_or(0)
        )),
        "{got:?}"
    );
    // Confluent's binary consumer gives key ImsxIg== for it.
    assert_eq!(BASE64.encode(b"\"k1\""), "ImsxIg==");
    let keys: BTreeSet<Option<Vec<u8>>> = got.iter().map(|(k, _, _)| k.clone()).collect();
    assert!(
        keys.contains(&Some(br#"{"a":1,"b":[1,2.50]}"#.to_vec())),
        "JSON text is stored compact, key order and numbers as sent: {got:?}"
    );
    let values: BTreeSet<Option<Vec<u8>>> = got.iter().map(|(_, v, _)| v.clone()).collect();
    assert!(values.contains(&None), "null is no value: {got:?}");
    assert!(values.contains(&Some(b"7".to_vec())), "{got:?}");

    // A JSON consumer reads them back as the JSON that was sent.
    v2.create_consumer(
        "jb-json",
        json!({"name": "j", "format": "json", "auto.offset.reset": "earliest"}),
    )
    .await?;
    v2.subscribe("jb-json", "j", &["jb"]).await?;
    let records = read_n(&v2, "jb-json", "j", JSON, 4).await?;
    let hello = records.iter().find(|r| r["value"] == json!("hello"));
    assert_eq!(
        hello.map(|r| r["key"].clone()),
        Some(json!("k1")),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["key"] == json!({"a": 1, "b": [1, 2.5]}) && r["value"].is_null()),
        "{records:?}"
    );
    Ok(())
}
