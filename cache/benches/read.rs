//! Read-path throughput through the block cache:
//! `cargo bench -p strata-cache --bench read [-- STORED_MIB]`.
//!
//! Writes objects shaped like ingest flushes (8 partitions, ~8 MiB each, random values that do
//! not compress) to a local-directory bucket, commits them to an in-memory quorum, then reads
//! every partition back through `ReadPath` with 1 and 4 consumers: cold (empty cache, every
//! block from the bucket) and warm (every block in the memory tier), for several block sizes.

#![allow(clippy::disallowed_methods)] // a benchmark measures real time

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use strata_cache::{BlockCache, CacheConfig, ReadPath};
use strata_core::clock::ManualClock;
use strata_core::meta::MetaStore;
use strata_core::record::Record;
use strata_core::rng::XorShift;
use strata_core::testing::{noise, ship};
use strata_meta::memory::InMemoryMetaStore;

#[path = "shared/scan.rs"]
mod scan;

const PARTITIONS: u32 = 8;
const RECORD: usize = 1024;
const PER_SECTION: usize = 1000;

async fn load(store: &Arc<dyn ObjectStore>, meta: &InMemoryMetaStore, objects: u64) -> u64 {
    let topic = meta
        .create_topic("bench", PARTITIONS, BTreeMap::new())
        .await
        .expect("creates")
        .id;
    let mut seed = XorShift::new(0x5eed);
    let mut stored = 0;
    for seq in 1..=objects {
        let parts: Vec<(u32, Vec<Record>)> = (0..PARTITIONS)
            .map(|p| {
                let records = (0..PER_SECTION)
                    .map(|i| Record {
                        key: Some(Bytes::from(format!("k{i}"))),
                        value: Some(noise(&mut seed, RECORD)),
                        headers: Vec::new(),
                        timestamp: seq as i64,
                    })
                    .collect();
                (p, records)
            })
            .collect();
        stored += ship(&**store, meta, seq, topic, &parts).await.1.len() as u64;
    }
    stored
}

/// Reads every partition to its end with `consumers` tasks; returns record bytes read.
async fn read_all(read: &ReadPath, consumers: u32) -> u64 {
    let mut tasks = Vec::new();
    for c in 0..consumers {
        let read = read.clone();
        tasks.push(tokio::spawn(async move {
            let mut bytes = 0u64;
            for p in (0..PARTITIONS).filter(|p| p % consumers == c) {
                bytes += scan::partition_bytes(&read, p).await;
            }
            bytes
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("joins");
    }
    total
}

#[tokio::main]
async fn main() {
    let stored_mib: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(512);
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("local store"));
    let meta = Arc::new(InMemoryMetaStore::new(Arc::new(ManualClock::new(0))));
    let objects = (stored_mib / 8).max(1);
    let stored = load(&store, &meta, objects).await;
    println!(
        "{objects} objects, {:.0} MiB stored, {PARTITIONS} partitions, {RECORD} B records",
        stored as f64 / (1 << 20) as f64
    );
    println!("| block | consumers | cold MiB/s | GETs per GiB cold | warm MiB/s |");
    println!("|---|---|---|---|---|");
    for block_mib in [4u64, 8, 16] {
        for consumers in [1u32, 4] {
            let config = CacheConfig {
                block_bytes: block_mib << 20,
                memory_bytes: stored + (256 << 20),
                cold_bytes_per_sec: 0,
                ..CacheConfig::default()
            };
            let cache = BlockCache::open(store.clone(), &config)
                .await
                .expect("opens");
            let read = ReadPath::new(meta.clone() as Arc<dyn MetaStore>, cache, None);
            let t = Instant::now();
            let bytes = read_all(&read, consumers).await;
            let cold = bytes as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64();
            let stats = read.stats();
            let gets = stats.store_gets.load(Ordering::Relaxed) as f64;
            let fetched = stats.store_bytes.load(Ordering::Relaxed) as f64 / (1u64 << 30) as f64;
            let t = Instant::now();
            let bytes = read_all(&read, consumers).await;
            let warm = bytes as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64();
            println!(
                "| {block_mib} MiB | {consumers} | {cold:.0} | {:.0} | {warm:.0} |",
                gets / fetched
            );
        }
    }
}
