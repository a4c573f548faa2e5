//! Fault tests: processes killed with SIGKILL, object-store outages, full quotas, SIGTERM.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::{Api, Node, NodeOptions, Proxy, S3Server, eventually};

/// An acknowledged record: its id and where the node said it is.
type Acked = Arc<Mutex<Vec<((u64, u64), u32, i64)>>>;

/// Runs `workers` producers of `acks=all` requests until `stop`; records every acknowledgement.
fn spawn_producers(
    api: &Api,
    topic: &str,
    workers: u64,
    acked: &Acked,
    stop: &Arc<AtomicBool>,
    failures: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|w| {
            let (api, topic, acked, stop, failures) = (api.clone(), topic.to_string(), acked.clone(), stop.clone(), failures.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let records: Vec<Value> = (0..20)
                        .map(|i| json!({"key": format!("w{w}-k{}", (n + i) % 5), "value": {"w": w, "n": n + i}}))
                        .collect();
                    match api.produce(&topic, "all", &records).await {
                        Ok(placed) => {
                            let mut a = acked.lock().expect("lock");
                            for (i, p) in placed.iter().enumerate() {
                                a.push(((w, n + i as u64), p.partition, p.offset.expect("acks=all offset")));
                            }
                        }
                        Err(_) => {
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    n += 20;
                }
            })
        })
        .collect()
}

/// Checks that every acknowledged record is where it was acknowledged, that offsets are dense,
/// and that no record appears twice.
async fn check_all_acknowledged(
    api: &Api,
    topic: &str,
    partitions: u32,
    acked: &[((u64, u64), u32, i64)],
) -> anyhow::Result<usize> {
    let mut stored: BTreeMap<(u32, i64), (u64, u64)> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for p in 0..partitions {
        let records = api.fetch_all(topic, p, "json").await?;
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r["offset"], json!(i as i64), "partition {p} is dense");
            let id = (
                r["value"]["w"].as_u64().expect("w"),
                r["value"]["n"].as_u64().expect("n"),
            );
            assert!(ids.insert(id), "record {id:?} is stored twice");
            stored.insert((p, i as i64), id);
        }
    }
    for (id, p, o) in acked {
        assert_eq!(
            stored.get(&(*p, *o)),
            Some(id),
            "acknowledged record {id:?} is not at {p}/{o}"
        );
    }
    Ok(stored.len())
}

async fn kill_9_under_load(opts: NodeOptions) -> anyhow::Result<()> {
    let mut node = Node::start(opts).await?;
    let api = node.api();
    api.create_topic("t", 4, json!({})).await?;
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let producers = spawn_producers(&api, "t", 4, &acked, &stop, &failures);
    let a = acked.clone();
    eventually(Duration::from_secs(60), "600 acknowledged records", || {
        let a = a.clone();
        async move { (a.lock().expect("lock").len() >= 600).then_some(()) }
    })
    .await?;
    node.kill9().await?;
    stop.store(true, Ordering::SeqCst);
    for p in producers {
        p.await?;
    }
    assert!(
        failures.load(Ordering::SeqCst) > 0,
        "the kill hit requests in flight"
    );
    node.restart().await?;
    let acked = acked.lock().expect("lock").clone();
    let stored = check_all_acknowledged(&node.api(), "t", 4, &acked).await?;
    assert!(stored >= acked.len());
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
    assert_eq!(check_all_acknowledged(&api, "t", 2, &[]).await?, 50);
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
    let (_s3, proxy, node) = behind_proxy("commit-timeout = \"2s\"\n").await?;
    let api = node.api();
    api.create_topic("t", 3, json!({})).await?;
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let producers = spawn_producers(&api, "t", 3, &acked, &stop, &failures);
    let a = acked.clone();
    eventually(Duration::from_secs(30), "writes before the outage", || {
        let a = a.clone();
        async move { (a.lock().expect("lock").len() >= 100).then_some(()) }
    })
    .await?;
    proxy.down();
    let acked_at_outage = acked.lock().expect("lock").len();
    // While the bucket is down, acks=all requests are not acknowledged: they time out with 503.
    let f = failures.clone();
    eventually(Duration::from_secs(30), "a 503 during the outage", || {
        let f = f.clone();
        async move { (f.load(Ordering::SeqCst) >= 3).then_some(()) }
    })
    .await?;
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
    let during = acked.lock().expect("lock").len() - acked_at_outage;
    assert!(
        during <= 60,
        "at most the requests already uploaded were acknowledged: {during}"
    );
    assert!(proxy.refused() > 0, "the node kept retrying the bucket");
    proxy.up();
    let a = acked.clone();
    eventually(Duration::from_secs(60), "writes to resume", || {
        let a = a.clone();
        async move { (a.lock().expect("lock").len() >= acked_at_outage + during + 100).then_some(()) }
    })
    .await?;
    stop.store(true, Ordering::SeqCst);
    for p in producers {
        p.await?;
    }
    let acked = acked.lock().expect("lock").clone();
    let stored = check_all_acknowledged(&api, "t", 3, &acked).await?;
    // Requests refused with 503 may still land (at most once): they were staged before the outage.
    assert!(stored >= acked.len());
    Ok(())
}

#[tokio::test]
async fn a_full_staging_quota_answers_503_with_retry_after_then_recovers() -> anyhow::Result<()> {
    let (_s3, proxy, node) = behind_proxy("max-inflight-bytes = \"64KiB\"\n").await?;
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
        check_all_acknowledged(&api, "t", 1, &[]).await?,
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
