//! [`BlockCache`]: object bytes by large aligned block, in memory and on local disk (foyer),
//! with one GET per missing block however many readers want it, read-ahead, and cold reads
//! admitted under their own concurrency and bandwidth budget.
//!
//! Block `i` of an object is its bytes `i * block_bytes .. (i + 1) * block_bytes` (the last
//! block is shorter). Objects are immutable once written, so a block never goes stale.
//! Every block carries a CRC32C of its bytes in the disk cache, on top of foyer's own checksum;
//! a block that fails either is a miss, read again from the bucket, never served.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use foyer::{
    BlockEngineConfig, Code, DeviceBuilder, FsDeviceBuilder, HybridCache, HybridCacheBuilder,
    HybridCachePolicy, HybridCacheProperties, Location, RecoverMode, Source,
};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use strata_core::error::FormatError;
use strata_core::settings::{self, Invalid, Section, at_least, size_between};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::warn;

use crate::read::{ReadError, ReadStats};

mod admission;
use admission::{Admission, Queued};

/// Sizes and budgets of the block cache: the `[cache]` section of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheConfig {
    /// Directory of the disk tier; `None` keeps the cache in memory only.
    #[serde(skip)]
    pub dir: Option<PathBuf>,
    /// Memory tier capacity.
    #[serde(with = "settings::size")]
    pub memory_bytes: u64,
    /// Disk tier capacity.
    #[serde(with = "settings::size")]
    pub disk_bytes: u64,
    /// Block size: the unit of GETs and of caching.
    #[serde(with = "settings::size")]
    pub block_bytes: u64,
    /// Cold reads (bucket GETs) in flight at once.
    #[serde(rename = "cold-read-concurrency")]
    pub cold_concurrency: usize,
    /// Bandwidth of cold reads in bytes per second; 0 is unlimited.
    #[serde(rename = "cold-read-bytes-per-sec", with = "settings::size")]
    pub cold_bytes_per_sec: u64,
    /// Blocks a sequential reader fetches ahead of where it reads.
    pub read_ahead_blocks: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            dir: None,
            memory_bytes: 256 << 20,
            disk_bytes: 4 << 30,
            block_bytes: 16 << 20,
            cold_concurrency: 8,
            cold_bytes_per_sec: 512 << 20,
            read_ahead_blocks: 2,
        }
    }
}

impl Section for CacheConfig {
    fn check(&self) -> Result<(), Invalid> {
        size_between("block-bytes", self.block_bytes, 64 << 10, 64 << 20)?;
        at_least("cold-read-concurrency", self.cold_concurrency, 1)
    }
}

/// Names a block: `object`'s bytes from `index * block_bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BlockKey {
    object: String,
    index: u64,
}

impl Code for BlockKey {
    fn encode(&self, w: &mut impl Write) -> foyer::Result<()> {
        w.write_all(&(self.object.len() as u32).to_le_bytes())
            .and_then(|()| w.write_all(self.object.as_bytes()))
            .and_then(|()| w.write_all(&self.index.to_le_bytes()))
            .map_err(foyer::Error::io_error)
    }

    fn decode(r: &mut impl Read) -> foyer::Result<Self> {
        let mut len = [0u8; 4];
        r.read_exact(&mut len).map_err(foyer::Error::io_error)?;
        let len = u32::from_le_bytes(len) as usize;
        if len > 4096 {
            return Err(foyer::Error::new(
                foyer::ErrorKind::OutOfRange,
                "object name too long",
            ));
        }
        let mut name = vec![0u8; len];
        r.read_exact(&mut name).map_err(foyer::Error::io_error)?;
        let object = String::from_utf8(name)
            .map_err(|_| foyer::Error::new(foyer::ErrorKind::Parse, "object name is not utf-8"))?;
        let mut index = [0u8; 8];
        r.read_exact(&mut index).map_err(foyer::Error::io_error)?;
        Ok(Self {
            object,
            index: u64::from_le_bytes(index),
        })
    }

    fn estimated_size(&self) -> usize {
        4 + self.object.len() + 8
    }
}

/// Disk-cache entries that failed our CRC (process-wide: the codec has no context).
static CORRUPT_BLOCKS: AtomicU64 = AtomicU64::new(0);

/// A block's bytes; on disk as `crc32c u32 | len u64 | bytes`.
#[derive(Debug, Clone)]
pub(crate) struct Block(Bytes);

impl Code for Block {
    fn encode(&self, w: &mut impl Write) -> foyer::Result<()> {
        w.write_all(&crc32c::crc32c(&self.0).to_le_bytes())
            .and_then(|()| w.write_all(&(self.0.len() as u64).to_le_bytes()))
            .and_then(|()| w.write_all(&self.0))
            .map_err(foyer::Error::io_error)
    }

    fn decode(r: &mut impl Read) -> foyer::Result<Self> {
        let mut head = [0u8; 12];
        r.read_exact(&mut head).map_err(foyer::Error::io_error)?;
        let crc = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let len = u64::from_le_bytes(head[4..].try_into().expect("8 bytes"));
        if len > 1 << 30 {
            CORRUPT_BLOCKS.fetch_add(1, Ordering::Relaxed);
            return Err(foyer::Error::new(
                foyer::ErrorKind::OutOfRange,
                "cached block length is impossible",
            ));
        }
        let mut bytes = vec![0u8; len as usize];
        r.read_exact(&mut bytes).map_err(foyer::Error::io_error)?;
        if crc32c::crc32c(&bytes) != crc {
            CORRUPT_BLOCKS.fetch_add(1, Ordering::Relaxed);
            // foyer treats a checksum mismatch as a miss and drops the entry.
            return Err(foyer::Error::new(
                foyer::ErrorKind::ChecksumMismatch,
                "cached block failed its crc",
            ));
        }
        Ok(Self(Bytes::from(bytes)))
    }

    fn estimated_size(&self) -> usize {
        12 + self.0.len()
    }
}

/// Where a read's bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The memory tier.
    Memory,
    /// The disk tier.
    Disk,
    /// The bucket (at least one block was missing).
    Bucket,
}

type Flight = Shared<BoxFuture<'static, Result<Bytes, Arc<ReadError>>>>;

/// The node's read cache in front of the bucket.
pub struct BlockCache {
    store: Arc<dyn ObjectStore>,
    cache: HybridCache<BlockKey, Block>,
    block: u64,
    read_ahead: usize,
    inflight: Arc<Mutex<HashMap<BlockKey, Flight>>>,
    admission: Arc<Admission>,
    stats: Arc<ReadStats>,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("block", &self.block)
            .field("hybrid", &self.cache.is_hybrid())
            .finish_non_exhaustive()
    }
}

impl BlockCache {
    /// Opens the cache over `store`; with a directory, recovers what its disk tier holds.
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        config: &CacheConfig,
    ) -> Result<Arc<Self>, foyer::Error> {
        let block = config.block_bytes.max(4096);
        let memory = config.memory_bytes.max(block);
        // Shards split the memory tier; each must hold several blocks.
        let shards = (memory / (4 * block)).clamp(1, 8) as usize;
        let builder = HybridCacheBuilder::new()
            .with_name("strata-blocks")
            .with_policy(HybridCachePolicy::WriteOnInsertion)
            .with_flush_on_close(false)
            .memory(memory as usize)
            .with_shards(shards)
            .with_weighter(|k: &BlockKey, v: &Block| k.object.len() + v.0.len() + 64)
            .storage();
        let builder = match &config.dir {
            Some(dir) if config.disk_bytes > 0 => {
                std::fs::create_dir_all(dir).map_err(foyer::Error::io_error)?;
                // A foyer block holds whole entries: room for one of ours and its headers.
                let region = (2 * block).max(16 << 20).next_multiple_of(4096);
                let capacity = config.disk_bytes.max(4 * region);
                let device = FsDeviceBuilder::new(dir)
                    .with_capacity(capacity as usize)
                    .build()?;
                builder
                    .with_engine_config(
                        BlockEngineConfig::new(device)
                            .with_block_size(region as usize)
                            .with_buffer_pool_size(region as usize)
                            .with_submit_queue_size_threshold(2 * region as usize),
                    )
                    .with_recover_mode(RecoverMode::Quiet)
            }
            _ => builder,
        };
        let cache = builder.build().await?;
        Ok(Arc::new(Self {
            store,
            cache,
            block,
            read_ahead: config.read_ahead_blocks,
            inflight: Arc::default(),
            admission: Arc::new(Admission::new(
                config.cold_concurrency,
                config.cold_bytes_per_sec,
                block,
            )),
            stats: Arc::default(),
        }))
    }

    /// Opens a memory-only cache with default budgets (tests, tools).
    pub async fn in_memory(store: Arc<dyn ObjectStore>) -> Arc<Self> {
        Self::open(store, &CacheConfig::default())
            .await
            .expect("a memory-only cache cannot fail to open")
    }

    /// Returns the counters (shared with the read path that uses this cache).
    pub fn stats(&self) -> Arc<ReadStats> {
        self.stats.clone()
    }

    /// Disk-cache blocks that failed their CRC in this process.
    pub fn corrupt_blocks() -> u64 {
        CORRUPT_BLOCKS.load(Ordering::Relaxed)
    }

    /// Stops the disk tier's background work.
    pub async fn close(&self) {
        if let Err(e) = self.cache.close().await {
            warn!(error = %e, "closing the block cache failed");
        }
    }

    fn key(object: &str, index: u64) -> BlockKey {
        BlockKey {
            object: object.to_string(),
            index,
        }
    }

    fn blocks(&self, start: u64, len: u64) -> std::ops::RangeInclusive<u64> {
        start / self.block..=(start + len.max(1) - 1) / self.block
    }

    /// Write-through of a freshly shipped object: its blocks go to the memory tier, so tail
    /// consumers on this node never touch the bucket. They skip the disk tier (the hot tier
    /// already wrote these bytes once; a tail reader wants them within seconds or not at all).
    pub fn insert_object(&self, object: &str, bytes: &Bytes) {
        let mut index = 0u64;
        let mut at = 0usize;
        while at < bytes.len() {
            let end = (at + self.block as usize).min(bytes.len());
            self.cache.insert_with_properties(
                Self::key(object, index),
                Block(bytes.slice(at..end)),
                HybridCacheProperties::default().with_location(Location::InMem),
            );
            index += 1;
            at = end;
        }
    }

    /// Returns the cached block, from memory or disk, or `None`.
    async fn cached(&self, key: &BlockKey) -> Option<(Bytes, Served)> {
        match self.cache.get(key).await {
            Ok(Some(e)) => {
                let served = if e.source() == Source::Disk {
                    self.stats.cache_disk_hits.fetch_add(1, Ordering::Relaxed);
                    Served::Disk
                } else {
                    self.stats.cache_memory_hits.fetch_add(1, Ordering::Relaxed);
                    Served::Memory
                };
                Some((e.value().0.clone(), served))
            }
            Ok(None) => None,
            Err(e) => {
                warn!(object = %key.object, block = key.index, error = %e, "disk cache read failed; treating as a miss");
                self.cache.remove(key);
                None
            }
        }
    }

    /// Reads `object[start..start + len]` from the cache alone, if every block is there.
    pub async fn read_cached(&self, object: &str, start: u64, len: u64) -> Option<(Bytes, Served)> {
        let mut parts = Vec::new();
        let mut served = Served::Memory;
        for index in self.blocks(start, len) {
            let (bytes, from) = self.cached(&Self::key(object, index)).await?;
            if from == Served::Disk {
                served = Served::Disk;
            }
            parts.push(bytes);
        }
        self.assemble(object, start, len, &parts)
            .ok()
            .map(|b| (b, served))
    }

    /// Reads `object[start..start + len]`, fetching missing blocks from the bucket.
    ///
    /// With `wait` false, a read that needs the bucket and is not admitted at once returns
    /// `Ok(None)` (the caller returns what it has); with `wait` true it queues for admission.
    pub async fn read(
        &self,
        object: &str,
        start: u64,
        len: u64,
        wait: bool,
    ) -> Result<Option<(Bytes, Served)>, ReadError> {
        let mut parts = Vec::new();
        let mut served = Served::Memory;
        for index in self.blocks(start, len) {
            let key = Self::key(object, index);
            if let Some((bytes, from)) = self.cached(&key).await {
                if from == Served::Disk && served == Served::Memory {
                    served = Served::Disk;
                }
                parts.push(bytes);
                continue;
            }
            self.stats.cache_misses.fetch_add(1, Ordering::Relaxed);
            let Some(flight) = self.flight(key, wait) else {
                return Ok(None);
            };
            parts.push(flight.await.map_err(ReadError::Shared)?);
            served = Served::Bucket;
        }
        self.assemble(object, start, len, &parts)
            .map(|b| Some((b, served)))
    }

    /// Drops the blocks of a range (their bytes failed a check) so the next read refetches.
    pub fn evict(&self, object: &str, start: u64, len: u64) {
        for index in self.blocks(start, len) {
            self.cache.remove(&Self::key(object, index));
        }
    }

    /// Fetches the blocks of a range in the background if they are missing and a cold read
    /// is admitted at once (read-ahead never queues behind real reads).
    pub fn prefetch(self: &Arc<Self>, object: &str, start: u64, len: u64, limit: &mut usize) {
        for index in self.blocks(start, len) {
            if *limit == 0 {
                return;
            }
            let key = Self::key(object, index);
            if self.cache.contains(&key) || self.inflight.lock().expect("lock").contains_key(&key) {
                continue;
            }
            if let Some(flight) = self.flight(key, false) {
                *limit -= 1;
                self.stats.read_ahead_blocks.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(flight);
            } else {
                return;
            }
        }
    }

    /// Blocks a sequential reader may fetch ahead.
    pub fn read_ahead_blocks(&self) -> usize {
        self.read_ahead
    }

    /// Joins the GET in flight for `key`, or starts one (single flight). `None` when `wait`
    /// is false and the cold-read budget is spent.
    fn flight(&self, key: BlockKey, wait: bool) -> Option<Flight> {
        let mut inflight = self.inflight.lock().expect("lock");
        if let Some(f) = inflight.get(&key) {
            return Some(f.clone());
        }
        // The fetch that just finished inserted into memory before leaving the map.
        if let Some(e) = self.cache.memory().get(&key) {
            let bytes = e.value().0.clone();
            return Some(futures::future::ready(Ok(bytes)).boxed().shared());
        }
        let permit = if wait {
            None
        } else {
            Some(self.admission.try_admit()?)
        };
        let me = FlightCtx {
            store: self.store.clone(),
            cache: self.cache.clone(),
            inflight: self.inflight.clone(),
            admission: self.admission.clone(),
            stats: self.stats.clone(),
            block: self.block,
        };
        let k = key.clone();
        let task = tokio::spawn(async move { me.fetch(k, permit).await });
        let flight = async move {
            match task.await {
                Ok(r) => r,
                Err(e) => Err(Arc::new(ReadError::Task(e.to_string()))),
            }
        }
        .boxed()
        .shared();
        inflight.insert(key, flight.clone());
        Some(flight)
    }

    fn assemble(
        &self,
        object: &str,
        start: u64,
        len: u64,
        parts: &[Bytes],
    ) -> Result<Bytes, ReadError> {
        let first = start / self.block;
        let truncated = |at: u64| ReadError::Corrupt {
            object: object.to_string(),
            source: FormatError::Truncated {
                what: "object range",
                at,
            },
        };
        let offset = (start - first * self.block) as usize;
        if let [only] = parts {
            let end = offset + len as usize;
            if only.len() < end {
                return Err(truncated(first * self.block + only.len() as u64));
            }
            return Ok(only.slice(offset..end));
        }
        let mut out = BytesMut::with_capacity(len as usize);
        for (i, part) in parts.iter().enumerate() {
            let from = if i == 0 { offset } else { 0 };
            let want = (len as usize - out.len()).min(part.len().saturating_sub(from));
            out.extend_from_slice(&part[from..from + want]);
            if out.len() < len as usize && part.len() < self.block as usize {
                break;
            }
        }
        if out.len() < len as usize {
            return Err(truncated(start + out.len() as u64));
        }
        Ok(out.freeze())
    }
}

/// What a spawned block fetch needs.
struct FlightCtx {
    store: Arc<dyn ObjectStore>,
    cache: HybridCache<BlockKey, Block>,
    inflight: Arc<Mutex<HashMap<BlockKey, Flight>>>,
    admission: Arc<Admission>,
    stats: Arc<ReadStats>,
    block: u64,
}

impl FlightCtx {
    async fn fetch(
        self,
        key: BlockKey,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Bytes, Arc<ReadError>> {
        let result = self.fetch_inner(&key, permit).await;
        if let Ok(bytes) = &result {
            self.cache.insert(key.clone(), Block(bytes.clone()));
        }
        // After the insert, so a reader finds the block in the map or in memory.
        self.inflight.lock().expect("lock").remove(&key);
        result.map_err(Arc::new)
    }

    async fn fetch_inner(
        &self,
        key: &BlockKey,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Bytes, ReadError> {
        let _permit = match permit {
            Some(p) => p,
            None => {
                let _queued = Queued::new(&self.stats);
                self.admission.admit().await
            }
        };
        self.stats.cold_inflight.fetch_add(1, Ordering::Relaxed);
        let result = self.get(key).await;
        self.stats.cold_inflight.fetch_sub(1, Ordering::Relaxed);
        if let Ok(bytes) = &result {
            self.admission.charge(bytes.len() as u64);
        }
        result
    }

    async fn get(&self, key: &BlockKey) -> Result<Bytes, ReadError> {
        let path = Path::from(key.object.as_str());
        let range = key.index * self.block..(key.index + 1) * self.block;
        let mut attempt = 0u32;
        loop {
            self.stats.store_gets.fetch_add(1, Ordering::Relaxed);
            match self.store.get_range(&path, range.clone()).await {
                Ok(bytes) => {
                    self.stats
                        .store_bytes
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    return Ok(bytes);
                }
                Err(e @ object_store::Error::NotFound { .. }) => {
                    return Err(ReadError::Store {
                        object: key.object.clone(),
                        source: e,
                    });
                }
                Err(e) if attempt >= 2 => {
                    return Err(ReadError::Store {
                        object: key.object.clone(),
                        source: e,
                    });
                }
                Err(e) => {
                    attempt += 1;
                    warn!(object = %key.object, block = key.index, attempt, error = %e, "ranged get failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
