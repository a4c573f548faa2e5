//! The archiver with real processes and a real S3 server (moto): archiving over HTTP, the
//! archive as the read tier once segments expire, and `kill -9` of the archiver mid-file while
//! producers run. (The analyst side, DuckDB, Polars, pyarrow, is in `tests/python`.)

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use strata_tests::load::{Load, check_acknowledged};
use strata_tests::{Api, Cluster, Node, NodeOptions, S3Server, eventually};

async fn node_on_s3(config: &str) -> anyhow::Result<(S3Server, Node)> {
    let s3 = S3Server::start().await?;
    s3.create_bucket("archived").await?;
    let node = Node::start(NodeOptions {
        object_store: Some("s3://archived/strata".into()),
        env: S3Server::env(&s3.addr()),
        config: Some(config.to_string()),
        ..NodeOptions::default()
    })
    .await?;
    Ok((s3, node))
}

async fn describe(api: &Api, topic: &str) -> anyhow::Result<Value> {
    let (s, v) = api.get(&format!("/v1/topics/{topic}")).await?;
    anyhow::ensure!(s == 200, "describe {topic}: {s} {v}");
    Ok(v)
}

#[tokio::test]
async fn after_the_segments_expire_fetches_return_exactly_what_they_did_from_the_archive()
-> anyhow::Result<()> {
    let (_s3, node) =
        node_on_s3("[archiver]\ninterval = \"1h\"\n[compactor]\ninterval = \"1h\"\n").await?;
    let api = node.api();
    api.create_topic(
        "events",
        2,
        json!({"archive": true, "retention.ms": -1, "archive.json.fields": "n:int64"}),
    )
    .await?;
    for round in 0..5 {
        let records: Vec<Value> = (0..100)
            .map(|i| {
                let n = round * 100 + i;
                let mut r = json!({"key": format!("k{}", n % 9), "value": {"n": n, "s": "x".repeat(n % 50)}});
                if n % 13 == 0 {
                    r["value"] = Value::Null;
                }
                if n % 4 == 0 {
                    r["headers"] = json!({"h": format!("v{n}"), "other": ""});
                }
                r
            })
            .collect();
        api.produce("events", "all", &records).await?;
    }
    let before = [
        api.fetch_all("events", 0, "base64").await?,
        api.fetch_all("events", 1, "base64").await?,
    ];
    assert_eq!(before[0].len() + before[1].len(), 500);

    // Not archived yet: retention must wait for the archive.
    let v = describe(&api, "events").await?;
    assert_eq!(v["partitions"][0]["archive"]["lag"], json!(before[0].len()));
    let (s, body) = api.post("/v1/topics/events/archive", &json!({})).await?;
    assert_eq!(s, 200, "{body}");
    for (p, part) in body["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        assert_eq!(
            part["archived_through"],
            json!(before[p].len() - 1),
            "{body}"
        );
    }
    let v = describe(&api, "events").await?;
    for p in v["partitions"].as_array().into_iter().flatten() {
        assert_eq!(p["archive"]["lag"], json!(0), "{p}");
        assert!(p["archive"]["files"].as_u64() >= Some(1), "{p}");
    }

    // Every offset expires from the segments...
    let (s, _) = api
        .send(
            reqwest::Method::PATCH,
            "/v1/topics/events/config",
            Some("application/json"),
            Some(json!({"retention.ms": "1"}).to_string()),
        )
        .await
        .map(|(s, v, _)| (s, v))?;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (s, body) = api.post("/v1/topics/events/compact", &json!({})).await?;
    assert_eq!(s, 200, "{body}");
    let v = describe(&api, "events").await?;
    for (p, part) in v["partitions"].as_array().into_iter().flatten().enumerate() {
        assert_eq!(part["log_start_offset"], json!(before[p].len()), "{part}");
        assert_eq!(part["extents"], json!(0), "{part}");
    }
    // ... and the same fetches return the same records, from the Parquet archive.
    for (p, want) in before.iter().enumerate() {
        let got = api.fetch_all("events", p as u32, "base64").await?;
        assert_eq!(&got, want, "partition {p}");
    }
    let (s, page) = api
        .get("/v1/topics/events/partitions/1/records?offset=earliest&max_records=3")
        .await?;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["log_start_offset"], json!(0));
    assert_eq!(page["records"].as_array().map(Vec::len), Some(3));
    let m = api.metrics().await?;
    assert!(
        m.get("strata_fetch_archive_records_total") >= Some(&500.0),
        "{m:?}"
    );
    assert_eq!(m.get("strata_archiver_rows_total"), Some(&500.0));

    // A topic without the archive is refused, clearly.
    api.create_topic("plain", 1, json!({})).await?;
    let (s, body) = api.post("/v1/topics/plain/archive", &json!({})).await?;
    assert_eq!(s, 422, "{body}");
    Ok(())
}

/// The archive files of `topic` in the bucket, with their rows' (partition, offset).
async fn archive_files(
    store: &dyn ObjectStore,
    topic: &str,
) -> anyhow::Result<BTreeMap<String, Vec<(u32, i64)>>> {
    let prefix = Path::from(format!("c/archive/{topic}"));
    let keys: Vec<String> = store
        .list(Some(&prefix))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await?;
    let mut out = BTreeMap::new();
    for key in keys.into_iter().filter(|k| k.ends_with(".parquet")) {
        let bytes: Bytes = store.get(&Path::from(key.as_str())).await?.bytes().await?;
        let mut rows = Vec::new();
        for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
            let batch = batch?;
            let partitions = batch
                .column_by_name("partition")
                .and_then(|c| c.as_any().downcast_ref::<arrow::array::Int32Array>())
                .ok_or_else(|| anyhow::anyhow!("partition column"))?
                .clone();
            for (i, r) in strata_archiver::schema::records(&batch)?.iter().enumerate() {
                rows.push((partitions.value(i) as u32, r.offset.0));
            }
        }
        out.insert(key, rows);
    }
    Ok(out)
}

#[tokio::test]
async fn kill_9_of_the_archiver_mid_file_leaves_no_duplicate_no_gap_and_no_partial_file()
-> anyhow::Result<()> {
    let config = "[archiver]\ninterval = \"50ms\"\nrow-group-bytes = \"64KiB\"\n";
    let cluster = Cluster::start(1, 1, config).await?;
    let api = cluster.ingest_api(0);
    api.create_topic(
        "stream",
        2,
        json!({"archive": true, "archive.file.bytes": 65536, "archive.interval.ms": 1}),
    )
    .await?;
    let load = Load::start(&api, "stream", 0, 2, "all");
    load.wait_acked(400, Duration::from_secs(60)).await?;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..6 {
        let mut archiver = cluster.start_node("archiver").await?;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(50 + seed % 700)).await;
        archiver.kill9().await?;
        eprintln!("round {round}: archiver killed");
    }
    let acked = load.stop().await;
    anyhow::ensure!(acked.len() > 400, "load ran");
    let stored = check_acknowledged(&api, "stream", 2, &acked).await?;

    // An archiver left alone finishes: everything committed is archived exactly once.
    let archiver = cluster.start_node("archiver").await?;
    // Its background pass may hold a partition for a moment: the request then says 409.
    let archiver_api = archiver.api();
    eventually(
        Duration::from_secs(60),
        "an archive run to complete",
        || {
            let api = archiver_api.clone();
            async move {
                let (s, _) = api
                    .post("/v1/topics/stream/archive", &json!({}))
                    .await
                    .ok()?;
                (s == 200).then_some(())
            }
        },
    )
    .await?;
    let hws = api.high_watermarks("stream").await?;
    let store = cluster.s3.store("cluster")?;
    let files = archive_files(store.as_ref(), "stream").await?;
    anyhow::ensure!(
        files.len() >= 4,
        "small files were written throughout ({} files)",
        files.len()
    );
    let mut seen = BTreeSet::new();
    for (key, rows) in &files {
        for at in rows {
            anyhow::ensure!(
                seen.insert(*at),
                "row {at:?} is in two files (again in {key})"
            );
        }
    }
    let want: BTreeSet<(u32, i64)> = stored.keys().copied().collect();
    anyhow::ensure!(
        seen == want,
        "archived rows differ from the stored records: {} archived, {} stored",
        seen.len(),
        want.len()
    );
    for (p, hw) in hws.iter().enumerate() {
        anyhow::ensure!(
            want.range((p as u32, 0)..(p as u32 + 1, 0)).count() as i64 == *hw,
            "partition {p} is dense up to {hw}"
        );
    }
    // The manifest lists exactly the files in the bucket, whole (its row counts match).
    let manifest: Value = serde_json::from_slice(
        &store
            .get(&Path::from("c/archive/stream/_manifest.json"))
            .await?
            .bytes()
            .await?,
    )?;
    let listed: BTreeMap<String, u64> = manifest["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                format!("c/{}", f["key"].as_str().unwrap_or_default()),
                f["rows"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    let in_bucket: BTreeMap<String, u64> = files
        .iter()
        .map(|(k, rows)| (k.clone(), rows.len() as u64))
        .collect();
    anyhow::ensure!(
        listed == in_bucket,
        "manifest {listed:?} vs bucket {in_bucket:?}"
    );
    let v = describe(&api, "stream").await?;
    for p in v["partitions"].as_array().into_iter().flatten() {
        anyhow::ensure!(p["archive"]["lag"] == json!(0), "archive lag left: {p}");
    }
    Ok(())
}
