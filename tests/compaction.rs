//! The compactor with real processes and a real S3 server (moto): merges over HTTP, Kafka's
//! retention policies end to end, two compactors on one cluster, and `kill -9` of the
//! compactor at random points while producers and consumers run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path;
use serde_json::{Value, json};
use strata_tests::load::{Load, check_acknowledged};
use strata_tests::{Api, Cluster, Node, NodeOptions, S3Server, eventually};

/// A node on its own moto bucket with a compactor that only runs when asked.
async fn node_on_s3(config: &str) -> anyhow::Result<(S3Server, Node)> {
    let s3 = S3Server::start().await?;
    s3.create_bucket("compacted").await?;
    let node = Node::start(NodeOptions {
        object_store: Some("s3://compacted/strata".into()),
        env: S3Server::env(&s3.addr()),
        config: Some(config.to_string()),
        ..NodeOptions::default()
    })
    .await?;
    Ok((s3, node))
}

/// Object keys in the bucket under `prefix` (`segments/...`, `topics/...`), relative to it.
async fn bucket_keys(
    s3: &S3Server,
    bucket: &str,
    prefix: &str,
) -> anyhow::Result<BTreeSet<String>> {
    let store = s3.store(bucket)?;
    let keys: Vec<String> = store
        .list(Some(&Path::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await?;
    Ok(keys
        .into_iter()
        .filter_map(|k| k.strip_prefix(&format!("{prefix}/")).map(str::to_string))
        .filter(|k| k.starts_with("segments/") || k.starts_with("topics/"))
        .collect())
}

/// Every object an extent of `topic` refers to.
async fn referenced(api: &Api, topic: &str, partitions: u32) -> anyhow::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for p in 0..partitions {
        let (s, page) = api
            .get(&format!(
                "/v1/topics/{topic}/partitions/{p}/extents?limit=10000"
            ))
            .await?;
        anyhow::ensure!(s == 200, "extents of {topic}/{p}: {s} {page}");
        for e in page["extents"].as_array().into_iter().flatten() {
            out.insert(e["object"].as_str().unwrap_or_default().to_string());
        }
    }
    Ok(out)
}

async fn compact(api: &Api, topic: &str) -> anyhow::Result<Value> {
    let (s, v) = api
        .post(&format!("/v1/topics/{topic}/compact"), &json!({}))
        .await?;
    anyhow::ensure!(s == 200, "compact {topic}: {s} {v}");
    Ok(v)
}

#[tokio::test]
async fn merging_over_http_keeps_every_record_and_the_garbage_leaves_the_bucket()
-> anyhow::Result<()> {
    let (s3, node) = node_on_s3("[compactor]\ninterval = \"1h\"\ngc-grace = \"0s\"\n").await?;
    let api = node.api();
    api.create_topic("t", 3, json!({"retention.ms": -1}))
        .await?;
    for i in 0..30 {
        let records: Vec<Value> = (0..9)
            .map(|j| json!({"key": format!("k{j}"), "value": {"i": i, "j": j}, "headers": {"h": "v"}}))
            .collect();
        api.produce("t", "all", &records).await?;
    }
    let before: Vec<Vec<Value>> =
        futures::future::try_join_all((0..3).map(|p| api.fetch_all("t", p, "json"))).await?;
    let (_, described) = api.get("/v1/topics/t").await?;
    for p in described["partitions"].as_array().into_iter().flatten() {
        anyhow::ensure!(
            p["tiers"]["ingest_objects"]["extents"].as_u64() >= Some(10),
            "{p}"
        );
    }

    let report = compact(&api, "t").await?;
    for p in report["partitions"].as_array().into_iter().flatten() {
        assert!(p["extents_before"].as_u64() >= Some(10), "{p}");
        assert_eq!(p["extents_after"], json!(1), "{p}");
        assert_eq!(p["records_removed"], json!(0));
        assert_eq!(p["log_start_offset"], json!(0));
    }
    for (p, want) in before.iter().enumerate() {
        assert_eq!(
            &api.fetch_all("t", p as u32, "json").await?,
            want,
            "partition {p}"
        );
    }
    let (_, described) = api.get("/v1/topics/t").await?;
    for p in described["partitions"].as_array().into_iter().flatten() {
        assert_eq!(p["tiers"]["segments"]["extents"], json!(1), "{p}");
        assert_eq!(p["tiers"]["ingest_objects"]["extents"], json!(0), "{p}");
    }
    // With no grace period the shared objects went with the pass: the bucket holds exactly the
    // three merged segments.
    let keys = bucket_keys(&s3, "compacted", "strata").await?;
    assert_eq!(keys, referenced(&api, "t", 3).await?);
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("topics/t/")));
    let m = api.metrics().await?;
    assert_eq!(m.get("strata_compactor_segments_written_total"), Some(&3.0));
    assert!(
        m.get("strata_gc_objects_deleted_total") >= Some(&30.0),
        "{m:?}"
    );

    let (s, v) = api.post("/v1/topics/nope/compact", &json!({})).await?;
    assert_eq!((s, v["error_code"].clone()), (404, json!(40401)));
    Ok(())
}

#[tokio::test]
async fn kafka_retention_policies_hold_end_to_end() -> anyhow::Result<()> {
    let (_s3, node) = node_on_s3("[compactor]\ninterval = \"1h\"\n").await?;
    let api = node.api();
    // compact: five rounds of ten keys, then a head the pass must not touch.
    api.create_topic("kv", 1, json!({"cleanup.policy": "compact"}))
        .await?;
    for round in 0..5 {
        let records: Vec<Value> = (0..10)
            .map(|k| json!({"key": format!("k{k}"), "value": {"round": round}}))
            .collect();
        api.produce("kv", "all", &records).await?;
    }
    api.produce(
        "kv",
        "all",
        &[json!({"key": "k0", "value": {"round": "head"}})],
    )
    .await?;
    let r = compact(&api, "kv").await?;
    assert_eq!(r["partitions"][0]["records_removed"], json!(40));
    let log = api.fetch_all("kv", 0, "json").await?;
    let offsets: Vec<i64> = log.iter().filter_map(|r| r["offset"].as_i64()).collect();
    assert_eq!(offsets, (40..=50).collect::<Vec<_>>());
    assert!(log[..10].iter().all(|r| r["value"]["round"] == json!(4)));
    assert_eq!(log[10]["value"]["round"], json!("head"));
    // A key-less record is refused on a compacted topic.
    let (s, v) = api
        .post("/v1/topics/kv/records", &json!({"records": [{"value": 1}]}))
        .await?;
    assert_eq!((s, v["error_code"].clone()), (422, json!(42204)));

    // delete: everything older than retention.ms goes, whole extents at a time.
    api.create_topic("logs", 1, json!({"retention.ms": 1}))
        .await?;
    for i in 0..3 {
        api.produce("logs", "all", &[json!({"value": i})]).await?;
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = compact(&api, "logs").await?;
    assert_eq!(r["partitions"][0]["log_start_offset"], json!(3));
    let (s, v) = api
        .get("/v1/topics/logs/partitions/0/records?offset=0")
        .await?;
    assert_eq!((s, v["log_start_offset"].clone()), (416, json!(3)));
    Ok(())
}

/// For a compacted topic: every record stored is where it was acknowledged, and for every key
/// a record at or after its latest acknowledged one is stored.
async fn check_compacted(
    api: &Api,
    topic: &str,
    partitions: u32,
    acked: &[strata_tests::load::Ack],
) -> anyhow::Result<()> {
    let key = |n: u64| n % 5;
    let at: BTreeMap<(u32, i64), (u64, u64)> = acked
        .iter()
        .filter_map(|(id, p, o)| o.map(|o| ((*p, o), *id)))
        .collect();
    let mut latest_acked: BTreeMap<(u32, u64, u64), i64> = BTreeMap::new();
    for ((p, o), (w, n)) in &at {
        latest_acked.insert((*p, *w, key(*n)), *o);
    }
    let mut latest_stored: BTreeMap<(u32, u64, u64), i64> = BTreeMap::new();
    for p in 0..partitions {
        for r in api.fetch_all(topic, p, "json").await? {
            let o = r["offset"].as_i64().unwrap_or(-1);
            let id = (
                r["value"]["w"].as_u64().unwrap_or(u64::MAX),
                r["value"]["n"].as_u64().unwrap_or(u64::MAX),
            );
            if let Some(want) = at.get(&(p, o)) {
                anyhow::ensure!(
                    *want == id,
                    "{topic}/{p} offset {o} holds {id:?}, acked {want:?}"
                );
            }
            latest_stored.insert((p, id.0, key(id.1)), o);
        }
    }
    for (k, o) in latest_acked {
        anyhow::ensure!(
            latest_stored.get(&k).is_some_and(|s| *s >= o),
            "key {k:?}: acknowledged at {o}, latest stored {:?}",
            latest_stored.get(&k)
        );
    }
    Ok(())
}

#[tokio::test]
async fn kill_9_of_the_compactor_at_random_points_loses_nothing_and_leaves_no_garbage()
-> anyhow::Result<()> {
    let config = "[compactor]\ninterval = \"100ms\"\ngc-grace = \"1s\"\norphan-grace = \"3s\"\nmerge-min-extents = 4\n";
    let cluster = Cluster::start(1, 1, config).await?;
    let api = cluster.ingest_api(0);
    api.create_topic("plain", 3, json!({"retention.ms": -1}))
        .await?;
    api.create_topic("kv", 2, json!({"cleanup.policy": "compact"}))
        .await?;
    let plain = Load::start(&api, "plain", 0, 2, "all");
    let kv = Load::start(&api, "kv", 10, 2, "all");
    // A consumer re-reads partition 0 throughout: it must never fail or see a record change.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (api, stop) = (api.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen: BTreeMap<i64, Value> = BTreeMap::new();
            let mut reads = 0u32;
            while !stop.load(Ordering::SeqCst) {
                for r in api.fetch_all("plain", 0, "json").await? {
                    let o = r["offset"].as_i64().unwrap_or(-1);
                    if let Some(before) = seen.insert(o, r["value"].clone()) {
                        anyhow::ensure!(before == r["value"], "offset {o} changed");
                    }
                }
                reads += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok::<u32, anyhow::Error>(reads)
        })
    };
    plain.wait_acked(200, Duration::from_secs(60)).await?;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..8 {
        let mut compactor = cluster.start_node("compactor").await?;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(100 + seed % 1400)).await;
        compactor.kill9().await?;
        eprintln!("round {round}: compactor killed");
    }
    let plain_acked = plain.stop().await;
    let kv_acked = kv.stop().await;
    stop.store(true, Ordering::SeqCst);
    let reads = reader.await??;
    anyhow::ensure!(reads > 5, "the consumer read throughout ({reads} passes)");
    anyhow::ensure!(plain_acked.len() > 200, "load ran");

    // A compactor that is left alone finishes the job and collects what the killed ones left.
    let compactor = cluster.start_node("compactor").await?;
    check_acknowledged(&api, "plain", 3, &plain_acked).await?;
    check_compacted(&api, "kv", 2, &kv_acked).await?;
    let s3 = &cluster.s3;
    eventually(
        Duration::from_secs(60),
        "the bucket to hold only referenced objects",
        || async {
            let mut refs = referenced(&api, "plain", 3).await.ok()?;
            refs.extend(referenced(&api, "kv", 2).await.ok()?);
            let keys = bucket_keys(s3, "cluster", "c").await.ok()?;
            (keys == refs).then_some(())
        },
    )
    .await?;
    // Merges happened (by the killed compactors or the last one): segments are referenced.
    let refs = referenced(&api, "plain", 3).await?;
    assert!(
        refs.iter().any(|k| k.starts_with("topics/")),
        "merged segments hold records: {refs:?}"
    );
    drop(compactor);
    // Everything acknowledged is still there after the collection.
    check_acknowledged(&api, "plain", 3, &plain_acked).await?;
    check_compacted(&api, "kv", 2, &kv_acked).await?;
    Ok(())
}

#[tokio::test]
async fn two_compactor_processes_share_a_cluster_without_conflicts() -> anyhow::Result<()> {
    let config = "[compactor]\ninterval = \"50ms\"\ngc-grace = \"1s\"\nmerge-min-extents = 4\n";
    let cluster = Cluster::start(1, 1, config).await?;
    let api = cluster.ingest_api(0);
    api.create_topic("t", 4, json!({"retention.ms": -1}))
        .await?;
    let a = cluster.start_node("compactor").await?;
    let b = cluster.start_node("compactor").await?;
    let load = Load::start(&api, "t", 0, 2, "all");
    load.wait_acked(2000, Duration::from_secs(60)).await?;
    let acked = load.stop().await;
    // Both work until every partition is down to a few extents.
    eventually(
        Duration::from_secs(60),
        "the partitions to be merged",
        || async {
            let (_, t) = api.get("/v1/topics/t").await.ok()?;
            t["partitions"]
                .as_array()?
                .iter()
                .all(|p| p["tiers"]["ingest_objects"]["extents"].as_u64() < Some(8))
                .then_some(())
        },
    )
    .await?;
    let (ma, mb) = (a.api().metrics().await?, b.api().metrics().await?);
    let passes = |m: &BTreeMap<String, f64>| {
        m.get("strata_compactor_partition_passes_total")
            .copied()
            .unwrap_or(0.0)
    };
    assert!(
        passes(&ma) > 0.0 && passes(&mb) > 0.0,
        "both compactors worked"
    );
    assert_eq!(ma.get("strata_compactor_conflicts_total"), Some(&0.0));
    assert_eq!(mb.get("strata_compactor_conflicts_total"), Some(&0.0));
    check_acknowledged(&api, "t", 4, &acked).await?;
    Ok(())
}
