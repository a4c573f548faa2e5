//! Retry-safe produce (issue 17): a request sent again with its `Idempotency-Key`, to the same
//! node or another, while the first attempt is in flight or after its node crashed, is stored
//! once and answered with the first copy's offsets.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::{Api, Cluster, Node, Proxy, S3Server, eventually};

fn body(tag: &str) -> String {
    json!({"records": [
        {"value": {"tag": tag, "n": 0}},
        {"key": "k1", "value": {"tag": tag, "n": 1}},
        {"key": "k2", "value": {"tag": tag, "n": 2}},
    ]})
    .to_string()
}

async fn produce(api: &Api, key: &str, body: &str) -> anyhow::Result<(u16, Value)> {
    api.request(
        Method::POST,
        "/v1/topics/t/records",
        &[
            ("content-type", "application/json"),
            ("idempotency-key", key),
        ],
        Some(body.to_string()),
    )
    .await
}

/// Every stored record's `tag` and `n`, by partition and offset.
async fn stored(api: &Api, partitions: u32) -> anyhow::Result<Vec<(u32, i64, String, i64)>> {
    let mut out = Vec::new();
    for p in 0..partitions {
        for r in api.fetch_all("t", p, "json").await? {
            out.push((
                p,
                r["offset"].as_i64().unwrap_or(-1),
                r["value"]["tag"].as_str().unwrap_or_default().to_string(),
                r["value"]["n"].as_i64().unwrap_or(-1),
            ));
        }
    }
    Ok(out)
}

#[tokio::test]
async fn a_request_sent_again_with_its_key_to_another_node_is_stored_once() -> anyhow::Result<()> {
    let c = Cluster::start(1, 2, "").await?;
    let (a, b) = (c.ingest_api(0), c.ingest_api(1));
    a.create_topic("t", 3, json!({})).await?;
    b.sees_topic("t").await?;
    let (s1, first) = produce(&a, "order-1", &body("one")).await?;
    assert_eq!(s1, 200, "{first}");
    let (s2, again) = produce(&b, "order-1", &body("one")).await?;
    assert_eq!(s2, 200, "{again}");
    assert_eq!(again, first, "the retry gets the first copy's offsets");
    let (s3, conflict) = produce(&b, "order-1", &body("two")).await?;
    assert_eq!(s3, 422, "{conflict}");
    assert_eq!(conflict["error_code"], 42209);
    // The REST Proxy v2 route takes the header too.
    let v2 = json!({"records": [{"value": {"tag": "v2", "n": 0}}]}).to_string();
    let send_v2 = |api: Api, v2: String| async move {
        api.request(
            Method::POST,
            "/topics/t",
            &[
                ("content-type", "application/vnd.kafka.json.v2+json"),
                ("idempotency-key", "v2-1"),
            ],
            Some(v2),
        )
        .await
    };
    let (_, v2_first) = send_v2(a.clone(), v2.clone()).await?;
    let (_, v2_again) = send_v2(b.clone(), v2).await?;
    assert_eq!(v2_again, v2_first);
    let records = stored(&a, 3).await?;
    assert_eq!(records.len(), 4, "{records:?}");
    assert_eq!(stored(&b, 3).await?, records);
    Ok(())
}

/// Starts an ingest node of `c` whose bucket is reached through `proxy`.
async fn behind(c: &Cluster, proxy: &Proxy) -> anyhow::Result<Node> {
    let mut opts = c.node_options("ingest", None);
    opts.env = S3Server::env(&proxy.addr());
    Node::start(opts).await
}

#[tokio::test]
async fn a_retry_while_the_first_attempt_is_in_flight_gets_the_same_offsets() -> anyhow::Result<()>
{
    let c = Cluster::start(1, 1, "").await?;
    let b = c.ingest_api(0);
    let proxy = Proxy::start(c.s3.addr()).await?;
    let stuck = behind(&c, &proxy).await?;
    let a = stuck.api();
    a.create_topic("t", 3, json!({})).await?;
    b.sees_topic("t").await?;
    proxy.down();
    let first = {
        let a = a.clone();
        tokio::spawn(async move { produce(&a, "in-flight", &body("x")).await })
    };
    // The first attempt is staged on a (its bucket is cut); the client gives up and retries on b.
    eventually(Duration::from_secs(30), "a to take the request", || async {
        let m = a.metrics().await.ok()?;
        (m.get("strata_flushes_total").copied().unwrap_or(0.0) >= 1.0).then_some(())
    })
    .await?;
    let (s, retried) = produce(&b, "in-flight", &body("x")).await?;
    assert_eq!(s, 200, "{retried}");
    proxy.up();
    let (s, answered) = first.await??;
    assert_eq!(s, 200, "{answered}");
    assert_eq!(
        answered, retried,
        "both attempts are answered with the same offsets"
    );
    assert_eq!(stored(&b, 3).await?.len(), 3, "stored once");
    Ok(())
}

#[tokio::test]
async fn a_retry_after_the_first_attempts_node_was_killed_is_stored_once() -> anyhow::Result<()> {
    let c = Cluster::start(1, 1, "").await?;
    let b = c.ingest_api(0);
    let proxy = Proxy::start(c.s3.addr()).await?;
    let mut dead = behind(&c, &proxy).await?;
    let a = dead.api();
    a.create_topic("t", 3, json!({})).await?;
    b.sees_topic("t").await?;
    proxy.down();
    // acks=local: the first attempt is acknowledged once it is on a's disk, then a dies before
    // shipping it; the client retries on b anyway (it did not see the answer, say).
    let (s, _) = a
        .request(
            Method::POST,
            "/v1/topics/t/records?acks=local",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "crash-1"),
            ],
            Some(body("y")),
        )
        .await?;
    assert_eq!(s, 200);
    dead.kill9().await?;
    let (s, retried) = produce(&b, "crash-1", &body("y")).await?;
    assert_eq!(s, 200, "{retried}");
    // a comes back on its data directory and ships what it staged: the quorum keeps one copy.
    proxy.up();
    dead.restart().await?;
    let a = dead.api();
    let (s, _) = a
        .request(
            Method::POST,
            "/v1/topics/t/records",
            &[("content-type", "application/json")],
            Some(json!({"records": [{"value": {"tag": "after", "n": 9}}]}).to_string()),
        )
        .await?;
    assert_eq!(s, 200);
    let records = stored(&b, 3).await?;
    let y: Vec<_> = records.iter().filter(|r| r.2 == "y").collect();
    assert_eq!(y.len(), 3, "the request is stored once: {records:?}");
    for (i, p) in retried["offsets"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = (
            p["partition"].as_u64().unwrap_or(99) as u32,
            p["offset"].as_i64().unwrap_or(-1),
        );
        assert!(
            y.iter().any(|r| (r.0, r.1) == at && r.3 == i as i64),
            "record {i} is where the retry was told: {at:?} in {records:?}"
        );
    }
    Ok(())
}
