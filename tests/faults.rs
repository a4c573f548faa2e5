//! Fault tests: processes killed with SIGKILL, object-store outages, full quotas, SIGTERM.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::load::{Load, check_acknowledged};
use strata_tests::{Node, NodeOptions, Proxy, S3Server, eventually};

async fn kill_9_under_load(opts: NodeOptions) -> anyhow::Result<()> {
    let mut node = Node::start(opts).await?;
    let api = node.api();
    api.create_topic("t", 4, json!({})).await?;
    let load = Load::start(&api, "t", 0, 4, "all");
    load.wait_acked(600, Duration::from_secs(60)).await?;
    node.kill9().await?;
    load.wait_failures(1, Duration::from_secs(30)).await?;
    let acked = load.stop().await;
    node.restart().await?;
    let stored = check_acknowledged(&node.api(), "t", 4, &acked).await?;
    assert!(stored.len() >= acked.len());
    // The restarted node keeps taking writes on the same offset space.
    let more = node
        .api()
        .produce("t", "all", &[json!({"value": {"w": 99, "n": 0}})])
        .await?;
    assert_eq!(
        more[0].offset,
        Some(node.api().high_watermarks("t").await?[more[0].partition as usize] - 1)
    );
    Ok(())
}

#[tokio::test]
async fn kill_9_under_acks_all_load_loses_no_acknowledged_record_on_the_file_store()
-> anyhow::Result<()> {
    kill_9_under_load(NodeOptions::default()).await
}

#[tokio::test]
async fn kill_9_under_acks_all_load_loses_no_acknowledged_record_on_s3() -> anyhow::Result<()> {
    let s3 = S3Server::start().await?;
    s3.create_bucket("strata-faults").await?;
    kill_9_under_load(NodeOptions {
        object_store: Some("s3://strata-faults/k9".into()),
        env: S3Server::env(&s3.addr()),
        ..NodeOptions::default()
    })
    .await
}

async fn behind_proxy(config: &str) -> anyhow::Result<(S3Server, Proxy, Node)> {
    let s3 = S3Server::start().await?;
    s3.create_bucket("strata-faults").await?;
    let proxy = Proxy::start(s3.addr()).await?;
    let node = Node::start(NodeOptions {
        object_store: Some("s3://strata-faults/p".into()),
        env: S3Server::env(&proxy.addr()),
        config: Some(config.to_string()),
        ..NodeOptions::default()
    })
    .await?;
    Ok((s3, proxy, node))
}

#[tokio::test]
async fn acks_local_records_reappear_after_a_kill_9_while_the_bucket_was_down() -> anyhow::Result<()>
{
    let (_s3, proxy, mut node) = behind_proxy("").await?;
    let api = node.api();
    api.create_topic("t", 2, json!({})).await?;
    proxy.down();
    let records: Vec<Value> = (0..50)
        .map(|i| json!({"key": format!("k{}", i % 4), "value": {"w": 0, "n": i}}))
        .collect();
    let placed = api.produce("t", "local", &records).await?;
    assert!(
        placed.iter().all(|p| p.offset.is_none()),
        "acks=local has no offsets yet"
    );
    assert_eq!(
        api.high_watermarks("t").await?,
        vec![0, 0],
        "nothing is committed while the bucket is down"
    );
    node.kill9().await?;
    proxy.up();
    node.restart().await?;
    let api = node.api();
    eventually(Duration::from_secs(60), "the staged records to be committed", || {
        let api = api.clone();
        async move { (api.high_watermarks("t").await.ok()?.iter().sum::<i64>() == 50).then_some(()) }
    })
    .await?;
    assert_eq!(check_acknowledged(&api, "t", 2, &[]).await?.len(), 50);
    // Per key, the records kept the order they were sent in.
    for p in 0..2 {
        let mut last = BTreeMap::new();
        for r in api.fetch_all("t", p, "json").await? {
            let n = r["value"]["n"].as_u64().expect("n");
            if let Some(prev) = last.insert(r["key"].to_string(), n) {
                assert!(n > prev);
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn an_object_store_outage_delays_or_refuses_writes_but_loses_nothing() -> anyhow::Result<()> {
    let (_s3, proxy, node) = behind_proxy("[ingest]\ncommit-timeout = \"2s\"\n").await?;
    let api = node.api();
    api.create_topic("t", 3, json!({})).await?;
    let load = Load::start(&api, "t", 0, 3, "all");
    load.wait_acked(100, Duration::from_secs(30)).await?;
    proxy.down();
    let acked_at_outage = load.acked();
    // While the bucket is down, acks=all requests are not acknowledged: they time out with 503.
    load.wait_failures(3, Duration::from_secs(30)).await?;
    let (status, body, headers) = api
        .send(
            Method::POST,
            "/v1/topics/t/records",
            Some("application/json"),
            Some(r#"{"records": [{"value": {"w": 100, "n": 0}}]}"#.into()),
        )
        .await?;
    assert_eq!(status, 503, "{body}");
    assert!(
        headers.contains_key("retry-after"),
        "503 carries Retry-After"
    );
    assert!(
        body["error_code"] == json!(50304) || body["error_code"] == json!(50301),
        "{body}"
    );
    let during = load.acked() - acked_at_outage;
    assert!(
        during <= 60,
        "at most the requests already uploaded were acknowledged: {during}"
    );
    assert!(proxy.refused() > 0, "the node kept retrying the bucket");
    proxy.up();
    load.wait_acked(acked_at_outage + during + 100, Duration::from_secs(60))
        .await?;
    let acked = load.stop().await;
    let stored = check_acknowledged(&api, "t", 3, &acked).await?;
    // Requests refused with 503 may still land (at most once): they were staged before the outage.
    assert!(stored.len() >= acked.len());
    Ok(())
}

#[tokio::test]
async fn a_full_staging_quota_answers_503_with_retry_after_then_recovers() -> anyhow::Result<()> {
    let (_s3, proxy, node) = behind_proxy("[ingest]\nmax-inflight-bytes = \"64KiB\"\n").await?;
    let api = node.api();
    api.create_topic("t", 1, json!({"compression": 0})).await?;
    proxy.down();
    let value = "v".repeat(10_000);
    let mut accepted = 0u64;
    let refusal = loop {
        let body =
            json!({"records": [{"value": {"w": 0, "n": accepted, "pad": value}}]}).to_string();
        let (status, v, headers) = api
            .send(
                Method::POST,
                "/v1/topics/t/records?acks=none",
                Some("application/json"),
                Some(body),
            )
            .await?;
        match status {
            200 => accepted += 1,
            503 => break (v, headers),
            other => anyhow::bail!("unexpected {other}: {v}"),
        }
        anyhow::ensure!(accepted < 100, "the quota never filled");
    };
    assert_eq!(refusal.0["error_code"], json!(50301), "{}", refusal.0);
    assert_eq!(
        refusal.1.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert!(
        (4..=7).contains(&accepted),
        "64 KiB holds about six 10 KB records: {accepted}"
    );
    proxy.up();
    eventually(Duration::from_secs(60), "the quota to free up", || {
        let api = api.clone();
        async move {
            let r = json!({"value": {"w": 1, "n": 0}});
            api.produce("t", "all", &[r]).await.ok()
        }
    })
    .await?;
    assert_eq!(
        check_acknowledged(&api, "t", 1, &[]).await?.len(),
        accepted as usize + 1
    );
    Ok(())
}

#[tokio::test]
async fn sigterm_ships_what_is_staged_and_exits_cleanly() -> anyhow::Result<()> {
    let mut node = Node::start(NodeOptions {
        args: vec!["--flush-interval".into(), "1h".into()],
        ..NodeOptions::default()
    })
    .await?;
    let api = node.api();
    api.create_topic("t", 2, json!({})).await?;
    let records: Vec<Value> = (0..40)
        .map(|i| json!({"value": {"w": 0, "n": i}}))
        .collect();
    api.produce("t", "local", &records).await?;
    assert_eq!(
        api.high_watermarks("t").await?.iter().sum::<i64>(),
        0,
        "nothing ships before the hour is up"
    );
    let status = node.terminate().await?;
    assert!(status.success(), "{status:?}");
    let segments = node.data_dir().join("bucket/segments");
    let shipped = walk(&segments);
    assert_eq!(
        shipped, 1,
        "the staged records were shipped as one object on the way out"
    );
    node.restart().await?;
    assert_eq!(
        node.api().high_watermarks("t").await?.iter().sum::<i64>(),
        40,
        "committed before the restart"
    );
    Ok(())
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_v2_produce_during_a_bucket_outage_answers_retriable_per_record_errors()
-> anyhow::Result<()> {
    let (_s3, proxy, node) = behind_proxy("[ingest]\ncommit-timeout = \"2s\"\n").await?;
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    proxy.down();
    let r = strata_tests::v2::V2Client::new(&node.url())
        .call(
            Method::POST,
            "/topics/t",
            &[("content-type", "application/vnd.kafka.binary.v2+json")],
            Some(r#"{"records": [{"value": "AQ=="}, {"value": "Ag=="}]}"#),
        )
        .await?;
    // Confluent's shape: 200, and each record says it may succeed if retried.
    assert_eq!(r.status, 200, "{r:?}");
    for o in r.json["offsets"].as_array().cloned().unwrap_or_default() {
        assert_eq!(o["error_code"], json!(50003), "{r:?}");
        assert!(o["offset"].is_null(), "{r:?}");
        assert!(
            o["error"]
                .as_str()
                .is_some_and(|e| e.contains("may still be committed")),
            "{r:?}"
        );
    }
    assert_eq!(r.json["offsets"].as_array().map(Vec::len), Some(2));
    // The records were staged: once the bucket is back they are committed, once.
    proxy.up();
    eventually(
        Duration::from_secs(60),
        "the staged records to commit",
        || {
            let api = api.clone();
            async move { (api.high_watermarks("t").await.ok()? == vec![2]).then_some(()) }
        },
    )
    .await?;
    Ok(())
}

/// Reads `/readyz`: its status and JSON body.
async fn readyz(node: &Node) -> anyhow::Result<(u16, Value)> {
    node.api().get("/readyz").await
}

/// The issue's third case: a node started while its bucket was unreachable exited with code 1.
/// Now it stays up, not ready and saying why, and serves once the bucket answers.
#[tokio::test]
async fn a_node_started_while_its_bucket_is_unreachable_waits_for_it_then_serves()
-> anyhow::Result<()> {
    let s3 = S3Server::start().await?;
    s3.create_bucket("strata-faults").await?;
    let proxy = Proxy::start(s3.addr()).await?;
    proxy.down();
    let mut node = Node::start(NodeOptions {
        object_store: Some("s3://strata-faults/late".into()),
        env: S3Server::env(&proxy.addr()),
        wait_ready: false,
        ..NodeOptions::default()
    })
    .await?;
    let (status, body) = eventually(
        Duration::from_secs(30),
        "readyz to say it waits for the object store",
        || async {
            let (s, b) = readyz(&node).await.ok()?;
            (s == 503 && b["message"].as_str()?.contains("object store")).then_some((s, b))
        },
    )
    .await?;
    assert_eq!(status, 503);
    assert_eq!(body["error_code"], 50303, "{body}");
    assert!(node.is_running(), "it did not exit");
    let (live, _) = node.api().get("/healthz").await?;
    assert_eq!(live, 200, "liveness is not readiness");
    proxy.up();
    node.wait_ready(Duration::from_secs(30)).await?;
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    let placed = api.produce("t", "all", &[json!({"value": 1})]).await?;
    assert_eq!(placed[0].offset, Some(0));
    Ok(())
}

#[tokio::test]
async fn a_node_started_while_the_quorum_is_unreachable_waits_for_it_then_serves()
-> anyhow::Result<()> {
    let mut c = strata_tests::Cluster::start(1, 0, "").await?;
    c.voters[0].kill9().await?;
    let mut opts = c.node_options("ingest", None);
    opts.wait_ready = false;
    let mut node = Node::start(opts).await?;
    let body = eventually(
        Duration::from_secs(30),
        "readyz to say it waits for the quorum",
        || async {
            let (s, b) = readyz(&node).await.ok()?;
            (s == 503 && b["message"].as_str()?.contains("metadata quorum")).then_some(b)
        },
    )
    .await?;
    assert_eq!(body["error_code"], 50302, "{body}");
    c.voters[0].restart().await?;
    node.wait_ready(Duration::from_secs(60)).await?;
    node.api().create_topic("t", 1, json!({})).await?;
    Ok(())
}

/// The issue's sixth case: a bucket that accepts connections and never answers stalled writes
/// for the HTTP client's 30 s timeout, whatever the outage. Now uploads are given up after a
/// few seconds and retried (or hedged), so writes resume soon after the bucket answers again.
#[tokio::test]
async fn a_hung_bucket_holds_writes_only_for_the_hang_and_a_few_seconds() -> anyhow::Result<()> {
    let (_s3, proxy, node) = behind_proxy("[ingest]\ncommit-timeout = \"60s\"\n").await?;
    let api = node.api();
    api.create_topic("t", 2, json!({})).await?;
    let load = Load::start(&api, "t", 0, 3, "all");
    load.wait_acked(200, Duration::from_secs(60)).await?;
    proxy.hang();
    let hung = std::time::Instant::now();
    // Once nothing is acknowledged any more the hang holds every write.
    let mut last = load.acked();
    eventually(Duration::from_secs(20), "writes to stall", || {
        let now = load.acked();
        let stalled = now == last;
        last = now;
        async move { stalled.then_some(()) }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(8).saturating_sub(hung.elapsed())).await;
    let before = load.acked();
    proxy.up();
    let restored = std::time::Instant::now();
    eventually(
        Duration::from_secs(15),
        "writes to resume after the bucket answers again",
        || async { (load.acked() >= before + 100).then_some(()) },
    )
    .await?;
    eprintln!(
        "a {:?} hang: writes resumed {:?} after the bucket answered again",
        restored - hung,
        restored.elapsed()
    );
    let metrics = api.metrics().await?;
    assert!(
        metrics
            .get("strata_upload_timeouts_total")
            .copied()
            .unwrap_or(0.0)
            >= 1.0,
        "uploads were given up, not waited out: {:?}",
        metrics.get("strata_upload_timeouts_total")
    );
    let acked = load.stop().await;
    check_acknowledged(&api, "t", 2, &acked).await?;
    Ok(())
}

/// A bucket that refuses the node's credentials is an operator's problem: readiness says so,
/// nothing acknowledged is lost, and writes resume once it is fixed.
#[tokio::test]
async fn a_bucket_refusing_access_is_reported_and_writes_resume_once_it_is_fixed()
-> anyhow::Result<()> {
    let (_s3, proxy, node) = behind_proxy("[ingest]\ncommit-timeout = \"60s\"\n").await?;
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    proxy.answer_with(403);
    let pending = {
        let api = api.clone();
        tokio::spawn(async move {
            api.produce("t", "all", &[json!({"value": {"w": 1, "n": 0}})])
                .await
        })
    };
    let body = eventually(
        Duration::from_secs(30),
        "readyz to report the refusal",
        || async {
            let (s, b) = readyz(&node).await.ok()?;
            (s == 503 && b["message"].as_str()?.contains("access denied")).then_some(b)
        },
    )
    .await?;
    assert_eq!(body["error_code"], 50303, "{body}");
    proxy.up();
    let placed = pending.await??;
    assert_eq!(
        placed[0].offset,
        Some(0),
        "the staged record was kept and shipped"
    );
    eventually(Duration::from_secs(30), "readyz to clear", || async {
        (readyz(&node).await.ok()?.0 == 200).then_some(())
    })
    .await?;
    Ok(())
}
