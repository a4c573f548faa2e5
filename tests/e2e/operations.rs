//! What operators see: health, readiness, metrics, cluster status, and a bad config refused at start.

use serde_json::json;
use std::time::Duration;
use strata_tests::{Node, NodeOptions, eventually};

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
