//! Commit throughput of the quorum: `cargo bench -p strata-meta --features test-util --bench commit`.
//!
//! Voters run in this process and talk HTTP on loopback, as separate nodes would; every commit
//! is one Raft entry, fsync'd by a majority before it is applied. Committers commit objects
//! with N partitions each, as N-partition flushes of N ingest nodes would.

#![allow(clippy::disallowed_methods)] // a benchmark measures real time

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata_core::ids::{PartitionId, TopicId};
use strata_meta::conformance::object_commit;
use strata_meta::testing::LocalCluster;

async fn run(voters: usize, partitions: u32, committers: u64, secs: u64) -> (f64, f64) {
    let cluster = LocalCluster::start(voters, 100_000).await;
    let leader = cluster.leader().await;
    let meta = cluster.meta(leader);
    let topic = meta
        .create_topic("bench", partitions, BTreeMap::new())
        .await
        .expect("creates")
        .id;
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..committers {
        let (meta, done) = (meta.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let sections: Vec<(TopicId, u32, u64)> =
                (0..partitions).map(|p| (topic, p, 100)).collect();
            let mut seq = 0;
            while Instant::now() < end {
                seq += 1;
                meta.commit_object(object_commit(1000 + c, seq, &sections))
                    .await
                    .expect("commits");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    for t in tasks {
        t.await.expect("joins");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let commits = done.load(Ordering::Relaxed) as f64;
    let hwm =
        meta.partitions("bench").await.expect("reads")[PartitionId(0).0 as usize].high_watermark;
    assert_eq!(hwm.0 as f64, commits * 100.0, "every commit landed once");
    (commits / elapsed, commits * f64::from(partitions) / elapsed)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let secs = std::env::var("STRATA_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!("| voters | partitions/commit | committers | commits/s | partition-commits/s |");
    println!("|---|---|---|---|---|");
    for voters in [1, 3] {
        for (partitions, committers) in [(1, 1), (1, 16), (16, 16), (64, 16)] {
            let (cps, pps) = run(voters, partitions, committers, secs).await;
            println!("| {voters} | {partitions} | {committers} | {cps:.0} | {pps:.0} |");
        }
    }
}
