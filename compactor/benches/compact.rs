//! Compactor figures: `cargo bench -p strata-compactor --bench compact [-- STORED_MIB]`.
//!
//! 1. Merge: objects shaped like small ingest flushes (8 partitions, 128 records of 1 KiB per
//!    partition per object, random values that do not compress) in a local-directory bucket,
//!    committed to an in-memory quorum. Reports extents per partition, cold-read throughput and
//!    GETs per GiB through `ReadPath` (16 MiB blocks, empty cache) before and after a forced
//!    merge, and the merge's throughput.
//! 2. Compaction: 1,000 keys updated 100 times each (100-byte values) on a compacted topic;
//!    reports stored bytes before and after, and the compaction's throughput.

#![allow(clippy::disallowed_methods)] // a benchmark measures real time

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use strata_cache::{BlockCache, CacheConfig, ReadPath};
use strata_compactor::{Compactor, CompactorConfig};
use strata_core::clock::ManualClock;
use strata_core::ids::Incarnation;
use strata_core::meta::MetaStore;
use strata_core::record::Record;
use strata_core::rng::XorShift;
use strata_core::testing::{self, noise};
use strata_meta::memory::InMemoryMetaStore;

#[path = "../../cache/benches/shared/scan.rs"]
mod scan;

const PARTITIONS: u32 = 8;
const MIB: f64 = (1 << 20) as f64;

/// Ships and commits one object with `records(p)` for each of `partitions`; returns its size.
async fn ship(
    store: &Arc<dyn ObjectStore>,
    meta: &InMemoryMetaStore,
    topic: strata_core::ids::TopicId,
    seq: u64,
    partitions: u32,
    mut records: impl FnMut(u32) -> Vec<Record>,
) -> u64 {
    let parts: Vec<(u32, Vec<Record>)> = (0..partitions).map(|p| (p, records(p))).collect();
    testing::ship(&**store, meta, seq, topic, &parts)
        .await
        .1
        .len() as u64
}

/// Reads every partition once through a cold cache; returns (MiB/s, GETs per GiB read).
async fn cold_read(store: &Arc<dyn ObjectStore>, meta: &Arc<InMemoryMetaStore>) -> (f64, f64) {
    let config = CacheConfig {
        block_bytes: 16 << 20,
        memory_bytes: 1 << 30,
        cold_bytes_per_sec: 0,
        ..CacheConfig::default()
    };
    let cache = BlockCache::open(store.clone(), &config)
        .await
        .expect("opens");
    let read = ReadPath::new(meta.clone() as Arc<dyn MetaStore>, cache, None);
    let t = Instant::now();
    let mut bytes = 0u64;
    for p in 0..PARTITIONS {
        bytes += scan::partition_bytes(&read, p).await;
    }
    let secs = t.elapsed().as_secs_f64();
    let gets = read.stats().store_gets.load(Ordering::Relaxed) as f64;
    (
        bytes as f64 / MIB / secs,
        gets / (bytes as f64 / (1u64 << 30) as f64),
    )
}

async fn partition_stats(meta: &InMemoryMetaStore, topic: &str) -> (u64, u64) {
    let parts = meta.partitions(topic).await.expect("topic");
    (
        parts.iter().map(|p| p.extents).sum::<u64>() / parts.len() as u64,
        parts.iter().map(|p| p.bytes).sum(),
    )
}

#[tokio::main]
async fn main() {
    let stored_mib: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(256);
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("local store"));
    let clock = ManualClock::new(1_000_000_000_000);
    let meta = Arc::new(InMemoryMetaStore::new(Arc::new(clock.clone())));
    let compactor = Compactor::new(
        meta.clone(),
        store.clone(),
        Arc::new(clock.clone()),
        // Unthrottled, to measure what the compactor can do.
        CompactorConfig {
            bytes_per_sec: 0,
            ..CompactorConfig::new(Incarnation(9))
        },
    );

    // 1. Merge.
    let topic = meta
        .create_topic(
            "bench",
            PARTITIONS,
            BTreeMap::from([("retention.ms".to_string(), "-1".to_string())]),
        )
        .await
        .expect("creates")
        .id;
    let mut seed = XorShift::new(0x5eed);
    let objects = stored_mib; // ~1 MiB each
    let mut stored = 0;
    for seq in 1..=objects {
        stored += ship(&store, &meta, topic, seq, PARTITIONS, |_| {
            (0..128)
                .map(|i| Record {
                    key: Some(Bytes::from(format!("k{i}"))),
                    value: Some(noise(&mut seed, 1024)),
                    headers: Vec::new(),
                    timestamp: seq as i64,
                })
                .collect()
        })
        .await;
    }
    let (extents_before, _) = partition_stats(&meta, "bench").await;
    let (mibs_before, gets_before) = cold_read(&store, &meta).await;
    let t = Instant::now();
    compactor.compact_topic("bench").await.expect("merges");
    let merge_secs = t.elapsed().as_secs_f64();
    let (extents_after, _) = partition_stats(&meta, "bench").await;
    let (mibs_after, gets_after) = cold_read(&store, &meta).await;
    println!(
        "merge: {objects} objects, {:.0} MiB, {PARTITIONS} partitions, 1 KiB records",
        stored as f64 / MIB
    );
    println!("| | extents per partition | cold read MiB/s | GETs per GiB |");
    println!("|---|---|---|---|");
    println!("| before merge | {extents_before} | {mibs_before:.0} | {gets_before:.0} |");
    println!("| after merge | {extents_after} | {mibs_after:.0} | {gets_after:.0} |");
    println!(
        "merge throughput: {:.0} MiB/s ({:.2} s)",
        stored as f64 / MIB / merge_secs,
        merge_secs
    );

    // 2. Compaction: 1,000 keys x 100 updates.
    let topic = meta
        .create_topic(
            "kv",
            1,
            BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]),
        )
        .await
        .expect("creates")
        .id;
    for round in 0..100u64 {
        ship(&store, &meta, topic, objects + 1 + round, 1, |_| {
            (0..1000)
                .map(|k| Record {
                    key: Some(Bytes::from(format!("key-{k:04}"))),
                    value: Some(noise(&mut seed, 100)),
                    headers: Vec::new(),
                    timestamp: round as i64,
                })
                .collect()
        })
        .await;
    }
    let (_, bytes_before) = partition_stats(&meta, "kv").await;
    let t = Instant::now();
    let report = compactor.compact_topic("kv").await.expect("compacts");
    let secs = t.elapsed().as_secs_f64();
    let (_, bytes_after) = partition_stats(&meta, "kv").await;
    println!(
        "compaction: 1000 keys x 100 updates, 100 B values: {:.1} MiB -> {:.2} MiB stored ({:.1}x smaller), {} records removed, {:.0} MiB/s ({:.2} s)",
        bytes_before as f64 / MIB,
        bytes_after as f64 / MIB,
        bytes_before as f64 / bytes_after as f64,
        report[0].records_removed,
        bytes_before as f64 / MIB / secs,
        secs
    );
}
