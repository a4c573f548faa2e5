//! End-to-end tests against a real S3-compatible server (moto) over HTTP.

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::{Value, json};
use strata_core::object::read_footer;
use strata_tests::{Node, NodeOptions, S3Server, noise};

async fn s3_node(s3: &S3Server, url: &str, config: Option<&str>) -> anyhow::Result<Node> {
    Node::start(NodeOptions {
        object_store: Some(url.to_string()),
        env: S3Server::env(&s3.addr()),
        config: config.map(str::to_string),
        ..NodeOptions::default()
    })
    .await
}

#[tokio::test]
async fn records_ship_to_s3_as_one_object_per_flush_that_reads_back() -> anyhow::Result<()> {
    let s3 = S3Server::start().await?;
    s3.create_bucket("strata").await?;
    let node = s3_node(&s3, "s3://strata/cluster-a", None).await?;
    let api = node.api();
    api.create_topic("t", 3, json!({})).await?;
    let mut sent = Vec::new();
    for req in 0..10 {
        let records: Vec<Value> = (0..30)
            .map(|i| json!({"key": format!("k{i}"), "value": {"req": req, "i": i}}))
            .collect();
        let placed = api.produce("t", "all", &records).await?;
        sent.extend(records.into_iter().zip(placed));
    }
    let partitions = [
        api.fetch_all("t", 0, "json").await?,
        api.fetch_all("t", 1, "json").await?,
        api.fetch_all("t", 2, "json").await?,
    ];
    for (r, at) in &sent {
        assert_eq!(
            partitions[at.partition as usize][at.offset.expect("offset") as usize]["value"],
            r["value"]
        );
    }
    // The bucket holds the marker and the shipped objects, each a valid self-describing object.
    let store = s3.store("strata")?;
    let marker = store
        .get(&Path::from("cluster-a/cluster.json"))
        .await?
        .bytes()
        .await?;
    assert!(serde_json::from_slice::<Value>(&marker)?["cluster_id"].is_string());
    let objects: Vec<_> = store
        .list(Some(&Path::from("cluster-a/segments")))
        .try_collect()
        .await?;
    assert!(!objects.is_empty());
    let mut records = 0u64;
    for o in &objects {
        let bytes = store.get(&o.location).await?.bytes().await?;
        let footer = read_footer(&bytes)?;
        assert_eq!(footer.node.0, 1);
        assert!(
            o.location
                .as_ref()
                .ends_with(&format!("{:020}.seg", footer.seq))
        );
        for s in &footer.sections {
            assert!(s.start + s.len <= bytes.len() as u64);
            records += s.record_count;
        }
    }
    assert_eq!(records, 300, "every record is in exactly one object");
    let m = api.metrics().await?;
    assert_eq!(
        m["strata_objects_uploaded_total"],
        objects.len() as f64,
        "one PUT per flush"
    );
    assert!(
        objects.len() <= 10,
        "one object per flush, not per partition: {}",
        objects.len()
    );
    Ok(())
}

#[tokio::test]
async fn large_flushes_upload_in_parts_and_read_back_from_the_bucket_alone() -> anyhow::Result<()> {
    let s3 = S3Server::start().await?;
    s3.create_bucket("strata").await?;
    let config = "[ingest]\nmultipart-threshold = \"1MiB\"\nflush-bytes = \"16MiB\"\n";
    let mut node = s3_node(&s3, "s3://strata/mp", Some(config)).await?;
    let api = node.api();
    api.create_topic("big", 2, json!({"max.message.bytes": 1_000_000}))
        .await?;
    let records: Vec<Value> = (0..100)
        .map(|i| json!({"key": format!("k{i}"), "value_base64": noise(i, 100_000)}))
        .collect();
    let placed = api.produce("big", "all", &records).await?;
    let m = api.metrics().await?;
    assert!(
        m.get("strata_object_store_requests_total{op=\"create_multipart\"}")
            .is_some_and(|v| *v >= 1.0),
        "{m:?}"
    );
    assert!(
        m.get("strata_object_store_requests_total{op=\"put_part\"}")
            .is_some_and(|v| *v >= 2.0),
        "{m:?}"
    );
    // Lose the hot tier: every byte must now come from the bucket.
    node.terminate().await?;
    std::fs::remove_dir_all(node.data_dir().join("hot"))?;
    node.restart().await?;
    let api = node.api();
    let partitions = [
        api.fetch_all("big", 0, "base64").await?,
        api.fetch_all("big", 1, "base64").await?,
    ];
    for (r, at) in records.iter().zip(&placed) {
        let got = &partitions[at.partition as usize][at.offset.expect("offset") as usize];
        assert_eq!(got["value_base64"], r["value_base64"]);
    }
    let m = api.metrics().await?;
    assert!(
        m["strata_read_bytes_total{source=\"bucket\"}"] > 2_000_000.0,
        "{m:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_second_cluster_cannot_take_over_a_bucket_prefix() -> anyhow::Result<()> {
    let s3 = S3Server::start().await?;
    s3.create_bucket("shared").await?;
    let first = s3_node(&s3, "s3://shared/prod", None).await?;
    first.api().create_topic("t", 1, json!({})).await?;
    let err = s3_node(&s3, "s3://shared/prod", None)
        .await
        .expect_err("a fresh cluster on a used prefix");
    assert!(err.to_string().contains("belongs to cluster"), "{err}");
    // Another prefix of the same bucket is fine.
    s3_node(&s3, "s3://shared/staging", None).await?;
    Ok(())
}

/// Every object the node wrote, with its `x-amz-server-side-encryption*` headers as S3 reports
/// them on a `HEAD`.
async fn encryption_of_every_object(
    s3: &S3Server,
    bucket: &str,
) -> anyhow::Result<Vec<(String, Option<String>, Option<String>)>> {
    let keys: Vec<String> = s3
        .store(bucket)?
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await?;
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for key in keys {
        // moto refuses anonymous reads and does not check signatures.
        let r = http
            .head(format!("http://{}/{bucket}/{key}", s3.addr()))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
            )
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "HEAD {key}: {}", r.status());
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        out.push((
            key,
            header("x-amz-server-side-encryption"),
            header("x-amz-server-side-encryption-aws-kms-key-id"),
        ));
    }
    Ok(out)
}

#[tokio::test]
async fn server_side_encryption_covers_every_object_the_node_writes() -> anyhow::Result<()> {
    let s3 = S3Server::start().await?;
    for (bucket, sse, kms_key) in [
        ("sse-s3", "AES256", None),
        ("sse-kms", "aws:kms", Some("strata-test-key")),
    ] {
        s3.create_bucket(bucket).await?;
        let mut env = S3Server::env(&s3.addr());
        env.push(("AWS_SERVER_SIDE_ENCRYPTION".to_string(), sse.to_string()));
        if let Some(k) = kms_key {
            env.push(("AWS_SSE_KMS_KEY_ID".to_string(), k.to_string()));
        }
        let node = Node::start(NodeOptions {
            object_store: Some(format!("s3://{bucket}/c")),
            env,
            ..NodeOptions::default()
        })
        .await?;
        let api = node.api();
        api.create_topic("t", 2, json!({"archive": "true"})).await?;
        let records: Vec<Value> = (0..50)
            .map(|i| json!({"key": format!("k{i}"), "value": {"i": i}}))
            .collect();
        api.produce("t", "all", &records).await?;
        let (s, v) = api.post("/v1/topics/t/archive", &json!({})).await?;
        assert_eq!(s, 200, "{v}");
        let objects = encryption_of_every_object(&s3, bucket).await?;
        assert!(
            objects.iter().any(|(k, _, _)| k.contains("segments/")),
            "{objects:?}"
        );
        assert!(
            objects.iter().any(|(k, _, _)| k.ends_with(".parquet")),
            "{objects:?}"
        );
        let plain: Vec<_> = objects
            .iter()
            .filter(|o| o.1.as_deref() != Some(sse))
            .collect();
        assert!(
            plain.is_empty(),
            "not encrypted in {bucket}: {plain:?} of {objects:?}"
        );
        for (key, _, key_id) in &objects {
            if let Some(k) = kms_key {
                assert!(
                    key_id.as_deref().is_some_and(|id| id.contains(k)),
                    "{key}: {key_id:?}"
                );
            }
        }
    }
    Ok(())
}
