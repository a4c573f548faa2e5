//! Reads of committed flushes from the hot tier, for the node that wrote them.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use strata_cache::LocalSource;
use strata_core::keys::parse_segment_key;

use super::Shared;

/// Serves byte ranges of objects this node shipped from its hot-tier segment files.
#[derive(Debug, Clone)]
pub struct HotReader {
    shared: Arc<Shared>,
}

impl HotReader {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl LocalSource for HotReader {
    fn read(&self, object: &str, start: u64, len: u64) -> Option<Bytes> {
        let flush = parse_segment_key(object)?;
        let locations = self
            .shared
            .index
            .lock()
            .expect("no panics while holding the lock")
            .get(&flush)?
            .get(&start)?
            .clone();
        if locations.iter().map(|l| u64::from(l.len)).sum::<u64>() != len {
            return None;
        }
        let mut out = BytesMut::zeroed(len as usize);
        let mut at = 0usize;
        for l in locations {
            let file = self
                .shared
                .files
                .lock()
                .expect("no panics while holding the lock")
                .get(&l.segment)?
                .clone();
            let end = at + l.len as usize;
            file.read_exact_at(&mut out[at..end], l.offset).ok()?;
            at = end;
        }
        Some(out.freeze())
    }
}
