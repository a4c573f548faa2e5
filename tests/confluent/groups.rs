//! Consumer groups of v2 instances: partitions split between instances, a silent instance timed out and its partitions rebalanced.

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use strata_tests::v2::V2Client;
use strata_tests::{Node, NodeOptions, eventually};

use super::{JSON, node_with, read_n};

#[tokio::test]
async fn two_instances_of_a_group_split_the_partitions_and_read_each_record_once()
-> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("orders", 4, json!({})).await?;
    let v2 = V2Client::new(&node.url());
    for name in ["a", "b"] {
        v2.create_consumer(
            "billing",
            json!({"name": name, "format": "json", "auto.offset.reset": "earliest", "auto.commit.enable": "true"}),
        )
        .await?;
        v2.subscribe("billing", name, &["orders"]).await?;
    }
    let mut owned = BTreeMap::new();
    for name in ["a", "b"] {
        let r = v2
            .get(&format!("/consumers/billing/instances/{name}/assignments"))
            .await?;
        let ps: Vec<u64> = r.json["partitions"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["partition"].as_u64()).collect())
            .unwrap_or_default();
        owned.insert(name, ps);
    }
    assert_eq!(owned["a"], [0, 1], "range assignment: {owned:?}");
    assert_eq!(owned["b"], [2, 3]);

    let records: Vec<Value> = (0..200)
        .map(|i| json!({"key": format!("customer-{}", i % 13), "value": {"n": i}}))
        .collect();
    for chunk in records.chunks(50) {
        let r = v2
            .call(
                Method::POST,
                "/topics/orders",
                &[("content-type", JSON)],
                Some(&json!({ "records": chunk }).to_string()),
            )
            .await?;
        assert_eq!(r.status, 200, "{r:?}");
    }
    // Both read in turns until every record came back.
    let mut seen: BTreeMap<i64, &str> = BTreeMap::new();
    let mut by_partition: BTreeMap<u64, &str> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 200 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "read {} of 200",
            seen.len()
        );
        for name in ["a", "b"] {
            for r in v2.records("billing", name, JSON, 200).await? {
                let n = r["value"]["n"].as_i64().unwrap_or(-1);
                let p = r["partition"].as_u64().unwrap_or(99);
                assert!(seen.insert(n, name).is_none(), "record {n} read twice");
                assert_eq!(
                    *by_partition.entry(p).or_insert(name),
                    name,
                    "partition {p} read by both"
                );
            }
        }
    }
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (0..200).collect::<Vec<_>>()
    );
    // Nothing more to read; auto-commit committed every position at the last fetch round.
    for name in ["a", "b"] {
        assert!(v2.records("billing", name, JSON, 100).await?.is_empty());
    }
    let (s, committed) = api.get("/v1/groups/billing/offsets").await?;
    assert_eq!(s, 200);
    let lag: i64 = committed["offsets"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["lag"].as_i64()).sum())
        .unwrap_or(-1);
    assert_eq!(lag, 0, "{committed}");

    // `b` leaves: `a` takes its partitions and, from the committed offsets, reads only new
    // records.
    let r = v2
        .call(Method::DELETE, "/consumers/billing/instances/b", &[], None)
        .await?;
    assert_eq!(r.status, 204);
    let r = v2
        .call(
            Method::POST,
            "/topics/orders",
            &[("content-type", JSON)],
            Some(&json!({"records": (200..240).map(|i| json!({"key": format!("customer-{i}"), "value": {"n": i}})).collect::<Vec<_>>()}).to_string()),
        )
        .await?;
    assert_eq!(r.status, 200);
    let more = read_n(&v2, "billing", "a", JSON, 40).await?;
    let ns: BTreeSet<i64> = more
        .iter()
        .filter_map(|r| r["value"]["n"].as_i64())
        .collect();
    assert_eq!(ns, (200..240).collect::<BTreeSet<_>>());
    Ok(())
}

#[tokio::test]
async fn a_silent_instance_times_out_and_the_group_rebalances_to_the_others() -> anyhow::Result<()>
{
    let node = Node::start(node_with("[consumers]\ninstance-timeout = \"5s\"\n")).await?;
    node.api().create_topic("t", 2, json!({})).await?;
    let v2 = V2Client::new(&node.url());
    for name in ["quiet", "busy"] {
        v2.create_consumer("g", json!({"name": name})).await?;
        v2.subscribe("g", name, &["t"]).await?;
    }
    let assigned = |v2: V2Client| async move {
        let r = v2
            .get("/consumers/g/instances/busy/assignments")
            .await
            .ok()?;
        r.json["partitions"].as_array().map(Vec::len)
    };
    assert_eq!(assigned(v2.clone()).await, Some(1));
    eventually(
        Duration::from_secs(60),
        "busy to own both partitions",
        || {
            let v2 = v2.clone();
            async move { (assigned(v2).await == Some(2)).then_some(()) }
        },
    )
    .await?;
    let r = v2.get("/consumers/g/instances/quiet/assignments").await?;
    assert_eq!((r.status, r.code()), (404, Some(40403)), "{r:?}");
    Ok(())
}
