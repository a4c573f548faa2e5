//! The read path with real processes: one offset space from any node, through the read cache
//! (memory and disk tiers), with cold reads under their budget.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use strata_tests::{Cluster, Node, NodeOptions, noise};

fn metric(m: &BTreeMap<String, f64>, name: &str) -> f64 {
    m.get(name).copied().unwrap_or(0.0)
}

fn served(m: &BTreeMap<String, f64>, source: &str) -> f64 {
    metric(
        m,
        &format!("strata_read_bytes_total{{source=\"{source}\"}}"),
    )
}

async fn read_partitions(
    api: &strata_tests::Api,
    topic: &str,
    n: u32,
) -> anyhow::Result<Vec<Vec<Value>>> {
    let mut out = Vec::new();
    for p in 0..n {
        out.push(api.fetch_all(topic, p, "base64").await?);
    }
    Ok(out)
}

/// Produces `n` records of `size` random bytes each (they do not compress) with `acks=all`.
async fn produce_noise(
    api: &strata_tests::Api,
    topic: &str,
    n: u64,
    size: usize,
) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let records: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"key": format!("k{i}"), "value_base64": noise(*i, size)}))
            .collect();
        api.produce(topic, "all", &records).await?;
        all.extend(records);
    }
    Ok(all)
}

#[tokio::test]
async fn a_node_that_did_not_write_the_data_reads_it_through_the_cache_identically()
-> anyhow::Result<()> {
    let cluster = Cluster::start(1, 2, "").await?;
    let (writer, reader) = (cluster.ingest_api(0), cluster.ingest_api(1));
    writer.create_topic("t", 4, json!({})).await?;
    let produced = produce_noise(&writer, "t", 400, 2_000).await?;
    let on_writer = read_partitions(&writer, "t", 4).await?;
    let on_reader = read_partitions(&reader, "t", 4).await?;
    assert_eq!(
        on_writer.iter().map(Vec::len).sum::<usize>(),
        produced.len()
    );
    assert_eq!(
        on_writer, on_reader,
        "the same offsets hold the same records on both nodes"
    );

    // The writer's tail reads came from its write-through cache, never the bucket.
    let w = writer.metrics().await?;
    assert!(served(&w, "cache_memory") > 0.0, "{w:?}");
    assert_eq!(served(&w, "bucket"), 0.0, "{w:?}");
    // The other node fetched blocks from the bucket, one GET per block however many
    // partitions (and fetches) read from it.
    let r = reader.metrics().await?;
    assert!(served(&r, "bucket") > 0.0, "{r:?}");
    let gets = metric(&r, "strata_object_store_requests_total{op=\"get_range\"}");
    let misses = metric(&r, "strata_cache_lookups_total{result=\"miss\"}")
        + metric(&r, "strata_cache_read_ahead_blocks_total");
    assert!(gets > 0.0 && gets <= misses, "gets {gets}, misses {misses}");
    // Read again: all from the cache.
    assert_eq!(read_partitions(&reader, "t", 4).await?, on_writer);
    let again = reader.metrics().await?;
    assert_eq!(
        metric(
            &again,
            "strata_object_store_requests_total{op=\"get_range\"}"
        ),
        gets,
        "no GET for cached blocks"
    );
    assert!(served(&again, "cache_memory") > served(&r, "cache_memory"));
    Ok(())
}

/// Flips bytes all over the files under `dir`.
fn damage(dir: &Path) -> anyhow::Result<usize> {
    let mut flipped = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            flipped += damage(&path)?;
            continue;
        }
        let mut bytes = std::fs::read(&path)?;
        for i in (0..bytes.len()).step_by(256) {
            bytes[i] ^= 0x5a;
            flipped += 1;
        }
        std::fs::write(&path, bytes)?;
    }
    Ok(flipped)
}

#[tokio::test]
async fn a_warm_disk_cache_serves_after_a_restart_and_damaged_cache_files_are_never_served()
-> anyhow::Result<()> {
    let mut node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("t", 2, json!({})).await?;
    produce_noise(&api, "t", 200, 3_000).await?;
    let expected = read_partitions(&api, "t", 2).await?;

    // Without its hot tier or memory, the node reads from the bucket and fills its disk tier.
    node.terminate().await?;
    std::fs::remove_dir_all(node.data_dir().join("hot"))?;
    node.restart().await?;
    assert_eq!(read_partitions(&node.api(), "t", 2).await?, expected);
    assert!(served(&node.api().metrics().await?, "bucket") > 0.0);

    // Restarted, the disk tier answers and the bucket is not read.
    node.terminate().await?;
    node.restart().await?;
    assert_eq!(read_partitions(&node.api(), "t", 2).await?, expected);
    let m = node.api().metrics().await?;
    assert!(served(&m, "cache_disk") > 0.0, "{m:?}");
    assert_eq!(served(&m, "bucket"), 0.0, "{m:?}");

    // Damaged cache files: detected, read again from the bucket, the right records served.
    node.terminate().await?;
    assert!(damage(&node.data_dir().join("cache"))? > 0);
    node.restart().await?;
    assert_eq!(read_partitions(&node.api(), "t", 2).await?, expected);
    let m = node.api().metrics().await?;
    assert!(served(&m, "bucket") > 0.0, "{m:?}");
    Ok(())
}

#[tokio::test]
async fn a_backfill_under_a_tiny_cold_read_budget_waits_but_never_fails_and_producers_go_on()
-> anyhow::Result<()> {
    let config = "[cache]\nblock-bytes = \"64KiB\"\ncold-read-concurrency = 1\ncold-read-bytes-per-sec = \"1MiB\"\nread-ahead-blocks = 1\n";
    let mut node = Node::start(NodeOptions {
        config: Some(config.into()),
        ..NodeOptions::default()
    })
    .await?;
    let api = node.api();
    api.create_topic("t", 2, json!({})).await?;
    produce_noise(&api, "t", 300, 4_000).await?;
    let expected = read_partitions(&api, "t", 2).await?;
    node.terminate().await?;
    std::fs::remove_dir_all(node.data_dir().join("hot"))?;
    std::fs::remove_dir_all(node.data_dir().join("cache"))?;
    node.restart().await?;
    let api = node.api();
    // Two backfilling consumers and a producer at once: every fetch succeeds.
    let (a, b, produced) = tokio::join!(
        api.fetch_all("t", 0, "base64"),
        api.fetch_all("t", 1, "base64"),
        produce_noise(&api, "t", 100, 1_000),
    );
    produced?;
    let mut got = vec![a?, b?];
    // Records produced after the backfill started are after the expected ones.
    for (g, e) in got.iter_mut().zip(&expected) {
        g.truncate(e.len());
    }
    assert_eq!(got, expected);
    // Every byte came from the bucket, directly or from a block another reader fetched.
    let m = api.metrics().await?;
    assert!(served(&m, "bucket") > 0.0, "{m:?}");
    assert!(
        served(&m, "bucket") + served(&m, "cache_memory") > 1_000_000.0,
        "{m:?}"
    );
    Ok(())
}
