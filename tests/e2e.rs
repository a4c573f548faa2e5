//! End-to-end tests against real `strata serve` processes on the default `file://` store.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::{Node, NodeOptions, eventually};

fn opts_with_config(config: &str) -> NodeOptions {
    NodeOptions {
        config: Some(config.to_string()),
        ..NodeOptions::default()
    }
}

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

#[tokio::test]
async fn bodies_being_received_are_bounded_and_the_excess_gets_503() -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let node = Node::start(opts_with_config(
        "[http]\nmax-buffered-request-bytes = \"10KiB\"\n",
    ))
    .await?;
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    // A slow client declares 8 KB and sends a little: it holds most of the 10 KiB budget.
    let mut slow = tokio::net::TcpStream::connect(node.url().trim_start_matches("http://")).await?;
    slow.write_all(b"POST /v1/topics/t/records HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 8000\r\n\r\n{\"records\": [").await?;
    eventually(
        Duration::from_secs(10),
        "the slow body to hold the budget",
        || {
            let api = api.clone();
            async move {
                let m = api.metrics().await.ok()?;
                (m.get("strata_produce_receiving_bytes")
                    .copied()
                    .unwrap_or(0.0)
                    >= 8000.0)
                    .then_some(())
            }
        },
    )
    .await?;
    let body = format!(r#"{{"records": [{{"value": "{}"}}]}}"#, "z".repeat(3000));
    let refused = eventually(
        Duration::from_secs(10),
        "a 503 while the slow body holds the budget",
        || {
            let (api, body) = (api.clone(), body.clone());
            async move {
                let r = api
                    .send(
                        Method::POST,
                        "/v1/topics/t/records",
                        Some("application/json"),
                        Some(body),
                    )
                    .await;
                let (s, v, h) = r.ok()?;
                (s == 503).then_some((v, h))
            }
        },
    )
    .await?;
    assert_eq!(refused.0["error_code"], json!(50301), "{}", refused.0);
    assert!(refused.1.contains_key("retry-after"));
    drop(slow);
    // Once the slow client is gone, the budget is back.
    eventually(Duration::from_secs(10), "the budget to come back", || {
        let (api, body) = (api.clone(), body.clone());
        async move {
            let (s, _, _) = api
                .send(
                    Method::POST,
                    "/v1/topics/t/records",
                    Some("application/json"),
                    Some(body),
                )
                .await
                .ok()?;
            (s == 200).then_some(())
        }
    })
    .await?;
    Ok(())
}

/// A produce body sent in chunks (no `Content-Length`, as Node.js's http module sends), held
/// open for a while: two chunks 300 ms apart.
fn chunked(records: String) -> reqwest::Body {
    let chunks: Vec<Vec<u8>> = vec![
        b"{\"records\": [".to_vec(),
        format!("{records}]}}").into_bytes(),
    ];
    let stream = futures::stream::unfold((0usize, chunks), |(i, chunks)| async move {
        if i >= chunks.len() {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let chunk = bytes::Bytes::from(chunks[i].clone());
        Some((Ok::<_, std::io::Error>(chunk), (i + 1, chunks)))
    });
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test]
async fn bodies_of_unknown_length_reserve_what_arrives_not_the_whole_limit() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("chunked", 1, json!({})).await?;
    // Twelve small chunked bodies at once: each used to reserve the whole 64 MiB request
    // limit of the 256 MiB budget, so the fifth and later were refused with 503.
    let http = reqwest::Client::new();
    let url = format!("{}/v1/topics/chunked/records", node.url());
    let sends = (0..12).map(|i| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .post(&url)
                .header("content-type", "application/json")
                .body(chunked(format!(r#"{{"value": "chunked {i}"}}"#)))
                .send()
                .await?;
            let status = r.status().as_u16();
            let text = r.text().await?;
            anyhow::Ok((status, text))
        }
    });
    for (status, text) in futures::future::try_join_all(sends).await? {
        assert_eq!(status, 200, "{text}");
    }
    assert_eq!(api.high_watermarks("chunked").await?, [12]);
    // A chunked body grows its reservation only while the budget has room: with 200 KiB, a
    // slow client holding 100 KB and a chunked body growing past the 100 KiB left, the
    // growth is refused with 503 and nothing is stored.
    use tokio::io::AsyncWriteExt;
    let small = Node::start(opts_with_config(
        "[http]\nmax-buffered-request-bytes = \"200KiB\"\n",
    ))
    .await?;
    let sapi = small.api();
    sapi.create_topic("t", 1, json!({})).await?;
    let mut slow =
        tokio::net::TcpStream::connect(small.url().trim_start_matches("http://")).await?;
    slow.write_all(b"POST /v1/topics/t/records HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{\"records\": [").await?;
    eventually(
        Duration::from_secs(10),
        "the slow body to hold its budget",
        || {
            let sapi = sapi.clone();
            async move {
                let m = sapi.metrics().await.ok()?;
                (m.get("strata_produce_receiving_bytes")
                    .copied()
                    .unwrap_or(0.0)
                    >= 100_000.0)
                    .then_some(())
            }
        },
    )
    .await?;
    let r = http
        .post(format!("{}/v1/topics/t/records", small.url()))
        .header("content-type", "application/json")
        .body(chunked(format!(
            r#"{{"value": "{}"}}"#,
            "z".repeat(150_000)
        )))
        .send()
        .await?;
    let status = r.status().as_u16();
    let v: Value = serde_json::from_str(&r.text().await?)?;
    assert_eq!(
        (status, v["error_code"].clone()),
        (503, json!(50301)),
        "{v}"
    );
    drop(slow);
    assert_eq!(sapi.high_watermarks("t").await?, [0]);
    // Alone, a chunked body larger than the whole budget goes through once it holds all of it
    // (as a declared one does): no retry could ever find more room.
    eventually(
        Duration::from_secs(10),
        "a body larger than the budget to pass alone",
        || {
            let (http, url) = (http.clone(), format!("{}/v1/topics/t/records", small.url()));
            async move {
                let r = http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(chunked(format!(
                        r#"{{"value": "{}"}}"#,
                        "y".repeat(300_000)
                    )))
                    .send()
                    .await
                    .ok()?;
                (r.status().as_u16() == 200).then_some(())
            }
        },
    )
    .await?;
    assert_eq!(sapi.high_watermarks("t").await?, [1]);
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

#[tokio::test]
async fn operations_endpoints_report_health_readiness_metrics_and_cluster() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    assert_eq!(api.get("/healthz").await?.0, 200);
    assert_eq!(api.get("/readyz").await?.0, 200);
    api.create_topic("t", 1, json!({})).await?;
    let before = api.metrics().await?;
    api.produce("t", "all", &[json!({"value": 1})]).await?;
    api.produce("t", "local", &[json!({"value": 2})]).await?;
    let (s, _) = api
        .post(
            "/v1/groups/g/offsets",
            &json!({"offsets": [{"topic": "t", "partition": 0, "offset": 0}]}),
        )
        .await?;
    assert_eq!(s, 204);
    // The second flush (acks=local) may still be shipping: wait until both are committed.
    eventually(
        Duration::from_secs(10),
        "both records committed",
        || async { (api.high_watermarks("t").await.ok()? == vec![2]).then_some(()) },
    )
    .await?;
    let (s, _) = api
        .get("/v1/topics/t/partitions/0/records?offset=0")
        .await?;
    assert_eq!(s, 200);
    let m = api.metrics().await?;
    for name in [
        "strata_produce_records_total{acks=\"all\"}",
        "strata_produce_records_total{acks=\"local\"}",
        "strata_produce_latency_seconds_count{acks=\"all\"}",
        "strata_object_store_requests_total{op=\"put\"}",
        "strata_objects_uploaded_total",
        "strata_quorum_has_leader",
        "strata_quorum_role{role=\"leader\"}",
        "strata_quorum_commit_index",
        "strata_quorum_last_log_index",
        "strata_process_resident_memory_bytes",
        "strata_object_store_request_cost_dollars_total",
        "strata_object_store_cost_dollars_per_hour{kind=\"requests\"}",
        "strata_object_store_cost_dollars_per_hour{kind=\"storage\"}",
        "strata_stored_bytes{tier=\"flush\"}",
        "strata_stored_objects{tier=\"flush\"}",
        "strata_fetch_records_total",
    ] {
        assert!(
            m.get(name).is_some_and(|v| *v > 0.0),
            "{name} missing or zero"
        );
    }
    // The figures move with traffic: more requests cost more, and the group lags by 2.
    let grew =
        |name: &str| m.get(name).copied().unwrap_or(0.0) > before.get(name).copied().unwrap_or(0.0);
    assert!(grew("strata_fetch_records_total"));
    assert!(grew("strata_object_store_request_cost_dollars_total"));
    assert!(grew("strata_stored_bytes{tier=\"flush\"}"));
    assert!(grew("strata_quorum_commit_index"));
    assert_eq!(
        m.get("strata_consumer_group_lag_records{group=\"g\",partition=\"0\",topic=\"t\"}"),
        Some(&2.0)
    );
    assert_eq!(m.get("strata_quorum_role{role=\"follower\"}"), Some(&0.0));
    let (_, c) = api.get("/v1/cluster").await?;
    assert_eq!(c["quorum"]["leader"], json!(1));
    assert_eq!(c["quorum"]["role"], json!("leader"));
    assert_eq!(c["quorum"]["voters"], json!([1]));
    assert!(
        c["node"]["roles"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("ingest")))
    );
    Ok(())
}

#[tokio::test]
async fn the_command_line_creates_produces_consumes_and_commits() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let (ok, out, err) = node
        .cli(
            &[
                "topic",
                "create",
                "cli",
                "--partitions",
                "2",
                "--config",
                "retention.ms=1000",
                "--json",
            ],
            None,
        )
        .await?;
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(&out)?;
    assert_eq!(created["config"]["retention.ms"], json!("1000"), "{out}");
    let (code, _, err) = node.cli_bytes(&["topic", "create", "cli"], None).await?;
    assert_eq!(code, Some(5), "exists: {err}");
    let (code, _, err) = node
        .cli_bytes(&["topic", "create", "cli", "--if-not-exists"], None)
        .await?;
    assert_eq!(code, Some(0), "{err}");

    let lines: String = (0..25).map(|i| format!("line {i}\n")).collect();
    let (ok, out, err) = node
        .cli(
            &["produce", "cli", "--key", "same", "--batch", "10", "--json"],
            Some(&lines),
        )
        .await?;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out)?;
    assert_eq!(report["records"], json!(25), "{out}");
    let hwms = node.api().high_watermarks("cli").await?;
    let p = hwms
        .iter()
        .position(|h| *h == 25)
        .expect("one key, one partition")
        .to_string();
    assert_eq!(
        report["partitions"],
        json!([{"partition": p.parse::<u32>()?, "records": 25, "first_offset": 0, "last_offset": 24}])
    );
    let (ok, out, err) = node
        .cli(
            &["consume", "cli", "--partition", &p, "--offset", "earliest"],
            None,
        )
        .await?;
    assert!(ok, "{err}");
    let got: Vec<Value> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(got.len(), 25);
    assert_eq!(got[24]["value"], json!("line 24"));
    // Every partition by default; the last N of each; a start time after everything.
    let (ok, out, _) = node.cli(&["consume", "cli"], None).await?;
    assert!(ok && out.lines().count() == 25, "{out}");
    let (ok, out, _) = node
        .cli(
            &["consume", "cli", "--offset", "-3", "--format", "raw"],
            None,
        )
        .await?;
    assert!(ok);
    assert_eq!(out, "line 22\nline 23\nline 24\n");
    let (ok, out, _) = node
        .cli(&["consume", "cli", "-n", "2", "--format", "raw"], None)
        .await?;
    assert!(ok);
    assert_eq!(out, "line 0\nline 1\n");
    let (ok, out, _) = node
        .cli(&["consume", "cli", "--from-time", "4102444800000"], None)
        .await?;
    assert!(ok && out.is_empty(), "{out}");

    let (ok, out, _) = node.cli(&["topic", "list"], None).await?;
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("cli "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(ok && row[..3] == ["cli", "2", "25"], "{out}");
    let (ok, out, _) = node.cli(&["topic", "describe", "cli"], None).await?;
    assert!(
        ok && out.contains("HIGH-WATERMARK") && out.contains("retention.ms"),
        "{out}"
    );
    let (ok, _, err) = node
        .cli(&["topic", "alter", "cli", "-c", "retention.ms=2000"], None)
        .await?;
    assert!(ok && err.contains("retention.ms = 2000"), "{err}");

    let (ok, _, err) = node
        .cli(
            &[
                "group",
                "commit",
                "g",
                "--topic",
                "cli",
                "--partition",
                &p,
                "--offset",
                "20",
            ],
            None,
        )
        .await?;
    assert!(ok, "{err}");
    let (ok, out, _) = node.cli(&["group", "offsets", "g", "--json"], None).await?;
    let offsets: Value = serde_json::from_str(&out)?;
    assert!(ok && offsets["offsets"][0]["lag"] == json!(5), "{out}");
    let (ok, out, _) = node.cli(&["group", "list"], None).await?;
    assert!(
        ok && out
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["g", "1", "5"]),
        "{out}"
    );
    let (ok, out, _) = node.cli(&["cluster", "status"], None).await?;
    assert!(
        ok && out.contains("leader 1") && out.contains("VOTER"),
        "{out}"
    );

    // Exit codes scripts rely on.
    let (code, _, err) = node
        .cli_bytes(&["produce", "missing", "--value", "x"], None)
        .await?;
    assert!(code == Some(3) && err.contains("does not exist"), "{err}");
    let (code, _, _) = node
        .cli_bytes(&["consume", "cli", "--partition", "7"], None)
        .await?;
    assert_eq!(code, Some(3));
    let (code, _, _) = node.cli_bytes(&["topic", "frobnicate"], None).await?;
    assert_eq!(code, Some(2));
    let closed = format!("http://127.0.0.1:{}", strata_tests::free_port());
    let (code, _, err) = node
        .cli_bytes(&["topic", "list", "--url", &closed], None)
        .await?;
    assert!(code == Some(4) && err.contains("cannot reach"), "{err}");
    let (ok, _, _) = node.cli(&["topic", "delete", "cli"], None).await?;
    assert!(ok);
    let (code, _, _) = node.cli_bytes(&["topic", "describe", "cli"], None).await?;
    assert_eq!(code, Some(3));
    let (code, _, _) = node
        .cli_bytes(&["topic", "delete", "cli", "--if-exists"], None)
        .await?;
    assert_eq!(code, Some(0));
    let (ok, out, _) = node.cli(&["completions", "bash"], None).await?;
    assert!(
        ok && out.contains("_strata()"),
        "{}",
        &out[..out.len().min(200)]
    );
    Ok(())
}

#[tokio::test]
async fn a_file_produced_with_the_cli_consumes_back_byte_for_byte() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("plain", 1, json!({})).await?;
    api.create_topic("keyed", 1, json!({})).await?;
    let dir = tempfile::tempdir()?;
    // Values only: text, JSON, empty lines, a CRLF line, bytes that are not UTF-8, and a
    // line long enough to span buffers; 3,000 lines so requests are batched.
    let mut plain: Vec<u8> = Vec::new();
    for i in 0..3000 {
        match i % 7 {
            0 => plain
                .extend_from_slice(format!("{{\"n\": {i}, \"name\": \"caf\u{e9}\"}}").as_bytes()),
            1 => {}
            2 => plain.extend_from_slice(b"windows line\r"),
            3 => plain.extend_from_slice(&[0xff, 0xfe, b'x', 0x00, 0x80]),
            4 => plain.extend_from_slice(&vec![b'z'; 70_000]),
            _ => plain.extend_from_slice(format!("  plain text {i}\t").as_bytes()),
        }
        plain.push(b'\n');
    }
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, &plain)?;
    let path = file.to_string_lossy().to_string();
    let (code, _, err) = node
        .cli_bytes(
            &["produce", "plain", "--file", &path, "--batch", "500"],
            None,
        )
        .await?;
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = node
        .cli_bytes(&["consume", "plain", "--format", "raw"], None)
        .await?;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out == plain,
        "{} bytes back for {} sent",
        out.len(),
        plain.len()
    );

    // Keys and values split at a tab, both ways.
    let mut keyed: Vec<u8> = Vec::new();
    for i in 0..500 {
        keyed.extend_from_slice(format!("user-{}\t{{\"i\": {i}}}\n", i % 13).as_bytes());
    }
    let file = dir.path().join("keyed.tsv");
    std::fs::write(&file, &keyed)?;
    let path = file.to_string_lossy().to_string();
    let (code, _, err) = node
        .cli_bytes(
            &["produce", "keyed", "-f", &path, "--key-separator", "\\t"],
            None,
        )
        .await?;
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = node
        .cli_bytes(
            &[
                "consume",
                "keyed",
                "--format",
                "raw",
                "--key-separator",
                "\\t",
            ],
            None,
        )
        .await?;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out == keyed,
        "{}",
        String::from_utf8_lossy(&out[..out.len().min(300)])
    );
    let (_, out, _) = node.cli(&["consume", "keyed", "-n", "1"], None).await?;
    let first: Value = serde_json::from_str(out.trim())?;
    assert_eq!(
        (first["key"].clone(), first["value"].clone()),
        (json!("user-0"), json!({"i": 0}))
    );
    Ok(())
}

#[tokio::test]
async fn a_pipelined_cli_load_keeps_every_partitions_input_order() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("lanes", 5, json!({})).await?;
    // NDJSON: keyed, keyless, an explicit partition and a `"partition": null`; small requests
    // and 3 lanes over 5 partitions, so many requests are in flight at once.
    let mut lines = String::new();
    for i in 0..3000 {
        let line = match i % 4 {
            0 => json!({"key": format!("k{}", i % 37), "value": {"n": i}}),
            1 => json!({"value": {"n": i}}),
            2 => json!({"value": {"n": i}, "partition": i % 5}),
            _ => json!({"value": {"n": i}, "partition": null}),
        };
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("lanes.ndjson");
    std::fs::write(&file, &lines)?;
    let path = file.to_string_lossy().to_string();
    let (code, _, err) = node
        .cli_bytes(
            &[
                "produce",
                "lanes",
                "-f",
                &path,
                "--ndjson",
                "--batch",
                "40",
                "--in-flight",
                "3",
            ],
            None,
        )
        .await?;
    assert_eq!(code, Some(0), "{err}");
    let mut seen = BTreeSet::new();
    for p in 0..5 {
        let records = api.fetch_all("lanes", p, "json").await?;
        let ns: Vec<i64> = records
            .iter()
            .filter_map(|r| r["value"]["n"].as_i64())
            .collect();
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "partition {p} is out of input order: {ns:?}"
        );
        for n in ns {
            assert!(seen.insert(n), "{n} stored twice");
        }
    }
    assert_eq!(seen.len(), 3000, "every line stored once");
    // A refused line stops the load and says where.
    std::fs::write(&file, "{\"value\": 1}\n{\"value\": 2, \"bogus\": true}\n")?;
    let (code, _, err) = node
        .cli_bytes(&["produce", "lanes", "-f", &path, "--ndjson"], None)
        .await?;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("input line 1") && err.contains("bogus"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn an_invalid_config_stops_the_node_at_start_naming_the_option() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bad.toml");
    let data = dir.path().join("data");
    for (config, env, needle) in [
        (
            "[cache]\nblock-bytes = \"1GiB\"\n",
            None,
            "cache.block-bytes (in ",
        ),
        (
            "[cache]\nblock-bytes = \"1GiB\"\n",
            None,
            "must be between 64KiB and 64MiB",
        ),
        // The flat layout of earlier releases is still read, and errors say both names.
        (
            "cache-block-bytes = \"1GiB\"\n",
            None,
            "cache.block-bytes (cache-block-bytes in ",
        ),
        (
            "[ingest]\nflush-intervall = \"1s\"\n",
            None,
            "ingest.flush-intervall",
        ),
        (
            "",
            Some(("STRATA_CACHE_COLD_READ_CONCURRENCY", "lots")),
            "cache.cold-read-concurrency (STRATA_CACHE_COLD_READ_CONCURRENCY)",
        ),
        (
            "",
            Some(("STRATA_COLD_READ_CONCURRENCY", "lots")),
            "cache.cold-read-concurrency (STRATA_COLD_READ_CONCURRENCY)",
        ),
        ("", Some(("STRATA_GC_GRACE", "soon")), "compactor.gc-grace"),
    ] {
        std::fs::write(&file, config)?;
        let mut cmd = tokio::process::Command::new(strata_tests::strata_bin());
        cmd.arg("serve")
            .arg("--config")
            .arg(&file)
            .arg("--data-dir")
            .arg(&data)
            .arg("--listen")
            .arg("127.0.0.1:0");
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(30), cmd.output()).await??;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{config:?} {env:?}: {err}");
        assert!(err.contains(needle), "{err} should name {needle}");
        assert!(!data.exists(), "a refused config creates nothing");
    }
    Ok(())
}

#[tokio::test]
async fn the_cli_and_the_log_read_well_for_people() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    // `--help` opens with what Strata is, not the crate's internal description.
    let (ok, out, _) = node.cli(&["--help"], None).await?;
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().next(),
        Some("Strata: event streams whose durable home is object storage"),
        "{out}"
    );
    let (ok, _, err) = node
        .cli(&["topic", "create", "one", "--partitions", "1"], None)
        .await?;
    assert!(
        ok && err.contains("with 1 partition") && !err.contains("1 partitions"),
        "{err}"
    );
    let (ok, _, err) = node.cli(&["produce", "one", "--value", "v"], None).await?;
    assert!(
        ok && err.contains("produced 1 record ") && !err.contains("1 records"),
        "{err}"
    );
    let (ok, out, _) = node.cli(&["topic", "describe", "one"], None).await?;
    assert!(ok && out.contains("1 (zstd level)"), "{out}");
    let (status, v) = node.api().get("/no/such/route").await?;
    assert_eq!(status, 404);
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("docs/api.md")),
        "{v}"
    );
    // The node's log goes to a file here: no colour codes, no cache-library chatter.
    let log = node.log_text();
    assert!(log.contains("strata is ready"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in a log file: {log:?}");
    assert!(!log.contains("foyer"), "{log}");
    Ok(())
}
