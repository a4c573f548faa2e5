use object_store::PutPayload;
use strata_core::storage::{FaultyStore, Op, faulty_store};

use super::*;

/// A bucket that counts GETs and, `gated`, holds each one until released.
fn counting(gated: bool) -> Arc<FaultyStore> {
    let store = faulty_store();
    if gated {
        store.hooks().hold(true, "");
    }
    store
}

fn gets(store: &FaultyStore) -> u64 {
    store.hooks().count(Op::reads)
}

/// An object of `len` bytes where byte `i` is a function of `i` (so misplaced bytes show).
fn object(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

async fn put(store: &FaultyStore, key: &str, bytes: &Bytes) {
    store
        .put(&Path::from(key), PutPayload::from(bytes.clone()))
        .await
        .expect("puts");
}

fn small_blocks() -> CacheConfig {
    CacheConfig {
        block_bytes: 4096,
        memory_bytes: 1 << 20,
        ..CacheConfig::default()
    }
}

#[tokio::test]
async fn ranges_across_blocks_come_back_exact_and_each_block_is_fetched_once() {
    let store = counting(false);
    let data = object(10_000); // blocks of 4096, 4096, 1808
    put(&store, "o", &data).await;
    let cache = BlockCache::open(store.clone(), &small_blocks())
        .await
        .expect("opens");
    for (start, len) in [
        (0u64, 10_000u64),
        (4000, 200),
        (4096, 4096),
        (9999, 1),
        (0, 1),
    ] {
        let (got, _) = cache
            .read("o", start, len, true)
            .await
            .expect("reads")
            .expect("admitted");
        assert_eq!(got, data.slice(start as usize..(start + len) as usize));
    }
    assert_eq!(gets(&store), 3, "one GET per block, then all hits");
    let (_, served) = cache
        .read("o", 100, 100, true)
        .await
        .expect("reads")
        .expect("admitted");
    assert_eq!(served, Served::Memory);
    // A range past the object's end is an error, never short data.
    assert!(matches!(
        cache.read("o", 9_000, 2_000, true).await,
        Err(ReadError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn concurrent_readers_of_a_cold_block_share_one_get() {
    let store = counting(true);
    let data = object(3 * 4096);
    put(&store, "o", &data).await;
    let cache = BlockCache::open(store.clone(), &small_blocks())
        .await
        .expect("opens");
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.read("o", 0, 3 * 4096, true).await })
        })
        .collect();
    // Every reader has missed block 0 and joined a flight before the first GET answers.
    let stats = cache.stats();
    while stats.cache_misses.load(Ordering::SeqCst) < 8 {
        tokio::task::yield_now().await;
    }
    store.hooks().release(1000);
    for r in readers {
        let (got, _) = r.await.expect("joins").expect("reads").expect("admitted");
        assert_eq!(got, data);
    }
    assert_eq!(gets(&store), 3, "one GET per block for eight readers");
}

#[tokio::test]
async fn a_written_through_object_is_read_without_the_bucket() {
    let store = counting(false);
    let data = object(9_000);
    put(&store, "o", &data).await;
    let cache = BlockCache::open(store.clone(), &small_blocks())
        .await
        .expect("opens");
    cache.insert_object("o", &data);
    let (got, served) = cache
        .read("o", 5_000, 4_000, true)
        .await
        .expect("reads")
        .expect("admitted");
    assert_eq!(got, data.slice(5_000..9_000));
    assert_eq!(served, Served::Memory);
    assert_eq!(gets(&store), 0);
}

#[tokio::test]
async fn a_spent_cold_budget_defers_optional_reads_and_queues_required_ones() {
    let store = counting(false);
    let data = object(8 * 4096);
    put(&store, "o", &data).await;
    let config = CacheConfig {
        cold_concurrency: 1,
        // One block per second after the first: the second read must wait for tokens.
        cold_bytes_per_sec: 4096,
        ..small_blocks()
    };
    let cache = BlockCache::open(store.clone(), &config)
        .await
        .expect("opens");
    tokio::time::pause();
    let (first, _) = cache
        .read("o", 0, 4096, false)
        .await
        .expect("reads")
        .expect("admitted");
    assert_eq!(first, data.slice(..4096));
    assert!(
        cache
            .read("o", 4096, 4096, false)
            .await
            .expect("reads")
            .is_none(),
        "not admitted at once, so not read"
    );
    let (second, _) = cache
        .read("o", 4096, 4096, true)
        .await
        .expect("waits, never fails")
        .expect("admitted");
    assert_eq!(second, data.slice(4096..8192));
    assert_eq!(gets(&store), 2);
}

#[tokio::test]
async fn read_ahead_fetches_missing_blocks_in_the_background() {
    let store = counting(false);
    let data = object(4 * 4096);
    put(&store, "o", &data).await;
    let cache = BlockCache::open(store.clone(), &small_blocks())
        .await
        .expect("opens");
    let mut limit = 2;
    cache.prefetch("o", 0, 4 * 4096, &mut limit);
    assert_eq!(limit, 0);
    let stats = cache.stats();
    while stats.read_ahead_blocks.load(Ordering::SeqCst) < 2
        || !cache.inflight.lock().expect("lock").is_empty()
    {
        tokio::task::yield_now().await;
    }
    let (got, served) = cache
        .read("o", 0, 8192, true)
        .await
        .expect("reads")
        .expect("admitted");
    assert_eq!(got, data.slice(..8192));
    assert_eq!(served, Served::Memory, "both blocks were read ahead");
    assert_eq!(gets(&store), 2);
}

/// Flips bytes all over the disk tier's files.
fn corrupt_files(dir: &std::path::Path) -> usize {
    let mut flipped = 0;
    for entry in std::fs::read_dir(dir).expect("lists") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            flipped += corrupt_files(&path);
            continue;
        }
        let mut bytes = std::fs::read(&path).expect("reads");
        for i in (0..bytes.len()).step_by(512) {
            bytes[i] ^= 0x5a;
            flipped += 1;
        }
        std::fs::write(&path, bytes).expect("writes");
    }
    flipped
}

#[tokio::test]
async fn the_disk_tier_survives_a_restart_and_a_corrupted_copy_is_refetched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = counting(false);
    let data = object(3 * 4096 + 100);
    put(&store, "o", &data).await;
    let config = CacheConfig {
        dir: Some(dir.path().to_path_buf()),
        disk_bytes: 64 << 20,
        ..small_blocks()
    };
    let cache = BlockCache::open(store.clone(), &config)
        .await
        .expect("opens");
    cache
        .read("o", 0, data.len() as u64, true)
        .await
        .expect("reads");
    assert_eq!(gets(&store), 4);
    cache.close().await;
    drop(cache);

    // Restart: the disk tier answers, the bucket is not asked.
    let cache = BlockCache::open(store.clone(), &config)
        .await
        .expect("reopens");
    let (got, served) = cache
        .read("o", 0, data.len() as u64, true)
        .await
        .expect("reads")
        .expect("admitted");
    assert_eq!(got, data);
    assert_eq!(served, Served::Disk);
    assert_eq!(gets(&store), 4, "warm disk cache");
    cache.close().await;
    drop(cache);

    // Restart over damaged files: never served, read again from the bucket.
    assert!(corrupt_files(dir.path()) > 0);
    let cache = BlockCache::open(store.clone(), &config)
        .await
        .expect("reopens over damage");
    let (got, _) = cache
        .read("o", 0, data.len() as u64, true)
        .await
        .expect("reads")
        .expect("admitted");
    assert_eq!(got, data, "the bucket's bytes, not the damaged copy");
    assert!(gets(&store) > 4, "damaged blocks were fetched again");
}
