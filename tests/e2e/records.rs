//! Records through the native API: partitions, keys, headers, tombstones, binary values, offsets, restarts, long-polls, start positions, bulk loads and group offsets.

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use strata_tests::{Node, NodeOptions, eventually};

#[tokio::test]
async fn records_round_trip_across_partitions_with_keys_headers_tombstones_and_binary()
-> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("events", 4, json!({})).await?;
    let mut sent = Vec::new();
    for i in 0..120u32 {
        let r = match i % 6 {
            0 => {
                json!({"key": format!("user-{}", i % 7), "value": {"n": i, "nested": [1, 2, {"x": "y"}]}, "headers": {"source": "web", "n": i.to_string()}})
            }
            1 => {
                json!({"key_base64": "AAEC/w==", "value_base64": "//79AAEC", "headers": [{"key": "bin", "value_base64": "AP8="}]})
            }
            2 => json!({"key": format!("user-{}", i % 7), "value": null}),
            3 => {
                json!({"value": format!("plain text {i}"), "partition": 3, "timestamp": 1_700_000_000_000u64 + u64::from(i)})
            }
            4 => json!({"key": "", "value": ""}),
            _ => json!({"key": {"composite": i}, "value": [i, i + 1]}),
        };
        sent.push(r);
    }
    let mut placed = Vec::new();
    for chunk in sent.chunks(17) {
        placed.extend(api.produce("events", "all", chunk).await?);
    }
    assert_eq!(placed.len(), sent.len());
    let mut by_partition: BTreeMap<u32, Vec<Value>> = BTreeMap::new();
    for p in 0..4 {
        by_partition.insert(p, api.fetch_all("events", p, "json").await?);
    }
    let b64: BTreeMap<u32, Vec<Value>> = {
        let mut m = BTreeMap::new();
        for p in 0..4 {
            m.insert(p, api.fetch_all("events", p, "base64").await?);
        }
        m
    };
    for (i, (r, at)) in sent.iter().zip(&placed).enumerate() {
        let offset = at.offset.expect("acks=all has offsets");
        let got = &by_partition[&at.partition][offset as usize];
        assert_eq!(got["offset"], json!(offset));
        assert_eq!(got["partition"], json!(at.partition));
        let raw = &b64[&at.partition][offset as usize];
        match i % 6 {
            0 => {
                assert_eq!(got["value"], r["value"], "JSON values come back as JSON");
                assert_eq!(got["key"], r["key"]);
                assert_eq!(got["headers"]["source"], json!("web"));
                assert_eq!(got["headers"]["n"], json!(i.to_string()));
            }
            1 => {
                assert_eq!(
                    raw["key_base64"],
                    json!("AAEC/w=="),
                    "binary keys keep every byte"
                );
                assert_eq!(raw["value_base64"], json!("//79AAEC"));
                assert_eq!(raw["headers"]["bin"], json!("AP8="));
            }
            2 => {
                assert_eq!(got["value"], Value::Null, "tombstone");
                assert_eq!(raw["value_base64"], Value::Null);
                assert_eq!(got["key"], r["key"]);
            }
            3 => {
                assert_eq!(at.partition, 3, "explicit partition");
                assert_eq!(got["value"], r["value"]);
                assert_eq!(
                    got["timestamp"], r["timestamp"],
                    "producer timestamps are kept"
                );
            }
            4 => {
                assert_eq!(
                    raw["key_base64"],
                    json!(""),
                    "an empty key is not a missing key"
                );
                assert_eq!(
                    raw["value_base64"],
                    json!(""),
                    "an empty value is not a tombstone"
                );
            }
            _ => {
                assert_eq!(got["key"], r["key"]);
                assert_eq!(got["value"], r["value"]);
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn offsets_are_dense_and_unique_and_keys_keep_their_order_under_concurrent_producers()
-> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("orders", 3, json!({})).await?;
    let mut tasks = Vec::new();
    for t in 0..4u32 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for req in 0..25u32 {
                let records: Vec<Value> = (0..8u32)
                    .map(|j| json!({"key": format!("k{}", (t * 8 + j) % 5), "value": {"t": t, "seq": req * 8 + j}}))
                    .collect();
                let placed = api.produce("orders", "all", &records).await?;
                acked.extend(records.into_iter().zip(placed));
            }
            anyhow::Ok(acked)
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await??);
    }
    let hwms = api.high_watermarks("orders").await?;
    assert_eq!(hwms.iter().sum::<i64>(), 800);
    let mut seen = BTreeSet::new();
    for (_, at) in &acked {
        assert!(
            seen.insert((at.partition, at.offset.expect("offset"))),
            "duplicate offset {at:?}"
        );
    }
    for (p, hwm) in hwms.iter().enumerate() {
        let offsets: Vec<i64> = seen
            .iter()
            .filter(|(q, _)| *q == p as u32)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(
            offsets,
            (0..*hwm).collect::<Vec<_>>(),
            "partition {p} is dense"
        );
    }
    // Per key and producer, records appear in the order they were sent.
    for p in 0..3 {
        let records = api.fetch_all("orders", p, "json").await?;
        let mut last: BTreeMap<(String, u64), u64> = BTreeMap::new();
        for r in records {
            let k = (
                r["key"].as_str().unwrap_or_default().to_string(),
                r["value"]["t"].as_u64().unwrap_or(99),
            );
            let seq = r["value"]["seq"].as_u64().expect("seq");
            if let Some(prev) = last.insert(k.clone(), seq) {
                assert!(seq > prev, "key {k:?} went back from {prev} to {seq}");
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_restarted_node_serves_the_same_records_and_continues_the_offsets() -> anyhow::Result<()>
{
    let mut node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("t", 2, json!({"retention.ms": 3_600_000}))
        .await?;
    let first: Vec<Value> = (0..50)
        .map(|i| json!({"key": format!("k{}", i % 3), "value": {"i": i}}))
        .collect();
    api.produce("t", "all", &first).await?;
    let before = [
        api.fetch_all("t", 0, "json").await?,
        api.fetch_all("t", 1, "json").await?,
    ];
    api.post(
        "/v1/groups/g/offsets",
        &json!({"offsets": [{"topic": "t", "partition": 0, "offset": 3}]}),
    )
    .await?;
    let status = node.terminate().await?;
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    node.restart().await?;
    let api = node.api();
    let after = [
        api.fetch_all("t", 0, "json").await?,
        api.fetch_all("t", 1, "json").await?,
    ];
    assert_eq!(before, after, "the same offsets return the same records");
    let (_, t) = api.get("/v1/topics/t").await?;
    assert_eq!(
        t["config"]["retention.ms"],
        json!("3600000"),
        "config survives"
    );
    let (_, g) = api.get("/v1/groups/g/offsets").await?;
    assert_eq!(g["offsets"][0]["offset"], json!(3), "group offsets survive");
    let hwms = api.high_watermarks("t").await?;
    let more = api
        .produce("t", "all", &[json!({"key": "k0", "value": "again"})])
        .await?;
    assert_eq!(
        more[0].offset,
        Some(hwms[more[0].partition as usize]),
        "offsets continue where they were"
    );
    Ok(())
}

#[tokio::test]
async fn long_poll_returns_when_a_record_is_committed() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    let reader = api.clone();
    let poll = tokio::spawn(async move {
        reader
            .get("/v1/topics/t/partitions/0/records?offset=0&max_wait_ms=60000")
            .await
    });
    // Wait until the fetch is parked at the high watermark, then produce.
    eventually(Duration::from_secs(10), "the fetch to be parked", || {
        let api = api.clone();
        async move {
            let m = api.metrics().await.ok()?;
            (m.get("strata_fetch_waiting").copied().unwrap_or(0.0) >= 1.0).then_some(())
        }
    })
    .await?;
    api.produce("t", "all", &[json!({"value": "wake up"})])
        .await?;
    let (status, v) = tokio::time::timeout(Duration::from_secs(30), poll).await???;
    assert_eq!(status, 200);
    assert_eq!(v["records"][0]["value"], json!("wake up"));
    assert_eq!(v["next_offset"], json!(1));
    let (_, empty) = api
        .get("/v1/topics/t/partitions/0/records?offset=1&max_wait_ms=100")
        .await?;
    assert_eq!(
        empty["records"],
        json!([]),
        "max_wait passes with nothing new"
    );
    Ok(())
}

#[tokio::test]
async fn fetches_start_at_earliest_latest_or_a_timestamp_and_honour_limits() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    let records: Vec<Value> = (0..20)
        .map(|i| json!({"value": i, "timestamp": 1_000 + i * 100}))
        .collect();
    api.produce("t", "all", &records).await?;
    let (_, v) = api
        .get("/v1/topics/t/partitions/0/records?offset=earliest&max_records=3")
        .await?;
    assert_eq!(v["records"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["next_offset"], json!(3));
    let (_, v) = api
        .get("/v1/topics/t/partitions/0/records?offset=latest")
        .await?;
    assert_eq!(
        (
            v["records"].as_array().map(Vec::len),
            v["next_offset"].clone()
        ),
        (Some(0), json!(20))
    );
    let (_, v) = api
        .get("/v1/topics/t/partitions/0/records?timestamp=1450")
        .await?;
    assert_eq!(
        v["records"][0]["offset"],
        json!(5),
        "first record at or after 1450 is at 1500"
    );
    let (_, v) = api
        .get("/v1/topics/t/partitions/0/records?offset=0&max_bytes=40")
        .await?;
    let n = v["records"].as_array().map_or(0, Vec::len);
    assert!(
        (1..20).contains(&n),
        "max_bytes cuts the page without splitting a record: {n}"
    );
    Ok(())
}

#[tokio::test]
async fn ndjson_bulk_loads_and_topics_can_be_changed_and_deleted() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("bulk", 2, json!({})).await?;
    let body: String = (0..300)
        .map(|i| format!("{{\"key\": \"k{}\", \"value\": {{\"i\": {i}}}}}\n", i % 10))
        .collect();
    let (s, v, _) = api
        .send(
            Method::POST,
            "/v1/topics/bulk/records",
            Some("application/x-ndjson"),
            Some(body),
        )
        .await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["offsets"].as_array().map(Vec::len), Some(300));
    assert_eq!(api.high_watermarks("bulk").await?.iter().sum::<i64>(), 300);
    let (s, v, _) = api
        .send(
            Method::PATCH,
            "/v1/topics/bulk/config",
            Some("application/json"),
            Some(r#"{"retention.ms": 60000, "cleanup.policy": "compact,delete"}"#.into()),
        )
        .await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["config"]["retention.ms"], json!("60000"));
    assert_eq!(v["config"]["cleanup.policy"], json!("compact,delete"));
    let (s, _, _) = api
        .send(Method::DELETE, "/v1/topics/bulk", None, None)
        .await?;
    assert_eq!(s, 204);
    assert_eq!(api.get("/v1/topics/bulk").await?.0, 404);
    api.create_topic("bulk", 1, json!({})).await?;
    assert_eq!(
        api.high_watermarks("bulk").await?,
        vec![0],
        "a recreated topic starts empty"
    );
    Ok(())
}

#[tokio::test]
async fn group_offsets_round_trip_with_lag() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    let records: Vec<Value> = (0..10).map(|i| json!({"value": i})).collect();
    api.produce("t", "all", &records).await?;
    let (s, _) = api
        .post(
            "/v1/groups/readers/offsets",
            &json!({"offsets": [{"topic": "t", "partition": 0, "offset": 4}]}),
        )
        .await?;
    assert_eq!(s, 204);
    let (s, v) = api.get("/v1/groups/readers/offsets").await?;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"offsets": [{"topic": "t", "partition": 0, "offset": 4, "lag": 6}]})
    );
    Ok(())
}
