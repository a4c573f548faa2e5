//! Reading one partition whole through the read path, shared by the cache's and the
//! compactor's benches (the compactor's includes this file by path).

use strata_cache::{FetchOptions, ReadPath, StartAt};
use strata_core::ids::{Offset, PartitionId};

/// Reads partition `p` of topic `bench` from offset 0 to its high watermark, in pages of 5,000
/// records or 8 MiB; returns the record bytes read.
pub(crate) async fn partition_bytes(read: &ReadPath, p: u32) -> u64 {
    let mut bytes = 0u64;
    let mut next = Offset(0);
    loop {
        let mut opts = FetchOptions::from(StartAt::Offset(next));
        opts.max_records = 5000;
        opts.max_bytes = 8 << 20;
        let page = read
            .fetch("bench", PartitionId(p), opts)
            .await
            .expect("fetches");
        bytes += page
            .records
            .iter()
            .map(|r| r.record.size() as u64)
            .sum::<u64>();
        next = page.next_offset;
        if next >= page.high_watermark {
            return bytes;
        }
    }
}
