//! strata-cache: the tiered read path, one offset space over every tier.
//!
//! A fetch names `(topic, partition, offset)`. [`ReadPath`] finds the extents holding the
//! offset in the quorum's applied state, then reads their bytes from the cheapest place that
//! has them: the [`BlockCache`] (foyer memory and disk tiers, keyed by object and aligned
//! block), a [`LocalSource`] (hot-tier segments the node still retains), else the bucket through
//! the cache: one GET per missing block however many readers want it, under the cold-read
//! budget. Every byte is CRC-checked on the way out; a bad cached or local copy is dropped for
//! the bucket's, and a bad copy in the bucket is an error, never data. A fetch at the high
//! watermark long-polls on the quorum's change feed, with no polling loop.
//!
//! ```no_run
//! # async fn demo(read: strata_cache::ReadPath) -> Result<(), strata_cache::ReadError> {
//! use strata_cache::{FetchOptions, StartAt};
//! use strata_core::ids::{Offset, PartitionId};
//! let page = read.fetch("orders", PartitionId(0), FetchOptions::from(StartAt::Offset(Offset(0)))).await?;
//! println!("{} records, next offset {}", page.records.len(), page.next_offset);
//! # Ok(()) }
//! ```

mod blocks;
mod read;

pub use blocks::{BlockCache, CacheConfig, Served};
pub use read::{
    ArchivePageRead, ArchiveSource, FetchOptions, FetchResult, ReadError, ReadPath, ReadStats,
    StartAt, Waiter,
};

use bytes::Bytes;

/// A node-local copy of object byte ranges (the hot tier of the node that shipped them).
///
/// Reads are blocking file I/O; the read path calls them off the async runtime.
pub trait LocalSource: Send + Sync + std::fmt::Debug + 'static {
    /// Returns bytes `start..start + len` of `object` if this source has exactly that range.
    fn read(&self, object: &str, start: u64, len: u64) -> Option<Bytes>;
}
