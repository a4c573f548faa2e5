//! Archiver figures: `cargo bench -p strata-archiver --bench archive [-- RECORDS [DIR]]`.
//!
//! Ships RECORDS (default 1,000,000) JSON events across 8 partitions as ingest-shaped objects
//! into a local-directory bucket (DIR, or a temporary one) committed to an in-memory quorum,
//! then archives the topic at once, unthrottled, with a three-field JSON projection. Reports
//! the archive's throughput in raw record MiB/s, Parquet bytes per raw byte, and the files.
//! With DIR the bucket stays for queries (`scripts/bench-archiver` runs DuckDB on it).

#![allow(clippy::disallowed_methods)] // a benchmark measures real time

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use strata_archiver::{Archiver, ArchiverConfig};
use strata_cache::{BlockCache, CacheConfig, ReadPath};
use strata_core::clock::ManualClock;
use strata_core::ids::Incarnation;
use strata_core::meta::MetaStore;
use strata_core::record::{Header, Record};
use strata_core::testing::ship;
use strata_meta::memory::InMemoryMetaStore;

const PARTITIONS: u32 = 8;
const PER_OBJECT: u64 = 4096;
const MIB: f64 = (1 << 20) as f64;
const T0: i64 = 1_795_341_600_000;

/// Event `i`: a user id among 100,000, one of five events, an amount, a page and a session.
fn event(i: u64) -> Record {
    let user = (i * 7919) % 100_000;
    let events = ["view", "click", "add_to_cart", "checkout", "search"];
    let value = format!(
        r#"{{"user_id":{user},"event":"{}","amount":{}.{:02},"page":"/products/{}","session":"s-{:016x}"}}"#,
        events[(i % 5) as usize],
        i % 500,
        i % 100,
        i % 10_000,
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 8,
    );
    Record {
        key: Some(Bytes::from(format!("user-{user}"))),
        value: Some(Bytes::from(value)),
        headers: if i.is_multiple_of(10) {
            vec![Header {
                name: "source".into(),
                value: Bytes::from_static(b"web"),
            }]
        } else {
            Vec::new()
        },
        timestamp: T0 + i as i64,
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let records: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let kept = args.next();
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = kept
        .as_ref()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("bucket dir");
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(&dir).expect("local store"));
    let clock = ManualClock::new(T0);
    let meta = Arc::new(InMemoryMetaStore::new(Arc::new(clock.clone())));
    let config = BTreeMap::from([
        ("archive".to_string(), "true".to_string()),
        (
            "archive.json.fields".to_string(),
            "user_id:int64,event:string,amount:double".to_string(),
        ),
    ]);
    let topic = meta
        .create_topic("events", PARTITIONS, config)
        .await
        .expect("creates");

    let t = Instant::now();
    let mut next = 0u64;
    let mut seq = 0;
    let mut shipped = 0u64;
    while next < records {
        seq += 1;
        let n = (PER_OBJECT * u64::from(PARTITIONS)).min(records - next);
        let mut parts: Vec<(u32, Vec<Record>)> = (0..PARTITIONS).map(|p| (p, Vec::new())).collect();
        for i in next..next + n {
            parts[(i % u64::from(PARTITIONS)) as usize].1.push(event(i));
        }
        next += n;
        shipped += ship(&*store, &*meta, seq, topic.id, &parts).await.1.len() as u64;
    }
    println!(
        "shipped {records} records in {seq} objects ({:.1} MiB stored) in {:.1} s",
        shipped as f64 / MIB,
        t.elapsed().as_secs_f64()
    );
    clock.advance(24 * 3_600_000);

    let cache = BlockCache::open(
        store.clone(),
        &CacheConfig {
            block_bytes: 16 << 20,
            memory_bytes: 512 << 20,
            cold_bytes_per_sec: 0,
            ..CacheConfig::default()
        },
    )
    .await
    .expect("cache");
    let read = ReadPath::new(meta.clone() as Arc<dyn MetaStore>, cache, None);
    let archiver = Archiver::new(
        meta.clone(),
        store.clone(),
        read,
        Arc::new(clock.clone()),
        ArchiverConfig {
            bytes_per_sec: 0,
            location: format!("file://{}", dir.display()),
            ..ArchiverConfig::new(Incarnation(2))
        },
    );
    let t = Instant::now();
    archiver.archive_topic("events").await.expect("archives");
    let secs = t.elapsed().as_secs_f64();
    let stats = archiver.stats();
    let raw = stats.raw_bytes.load(Ordering::Relaxed) as f64;
    let parquet = stats.bytes.load(Ordering::Relaxed) as f64;
    println!(
        "archived {} rows into {} files: {:.1} MiB raw -> {:.1} MiB Parquet ({:.3} of raw, {:.3} of the stored segments) in {:.1} s: {:.1} MiB/s raw, {:.0} rows/s",
        stats.rows.load(Ordering::Relaxed),
        stats.files.load(Ordering::Relaxed),
        raw / MIB,
        parquet / MIB,
        parquet / raw,
        parquet / shipped as f64,
        secs,
        raw / MIB / secs,
        records as f64 / secs,
    );
    if let Some(dir) = kept {
        println!("archive kept under {dir}/archive/events");
    }
}
