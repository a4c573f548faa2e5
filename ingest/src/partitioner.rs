//! Partition choice: explicit, else Kafka's murmur2 of the key, else sticky round-robin.

use std::collections::HashMap;
use std::sync::Mutex;

/// Kafka's `Utils.murmur2`: 32-bit murmur2 with seed `0x9747b28c`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner gives a key: `toPositive(murmur2(key)) % n`.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    ((murmur2(key) as u32) & 0x7fff_ffff) % partitions
}

/// Chooses partitions for records without a key or an explicit partition: all such records
/// of one request go to one partition, and successive requests rotate through partitions.
#[derive(Debug, Default)]
pub struct StickyPartitioner {
    next: Mutex<HashMap<String, u32>>,
}

impl StickyPartitioner {
    /// Returns the partition for the key-less records of the next request to `topic`.
    pub fn next(&self, topic: &str, partitions: u32) -> u32 {
        let mut next = self.next.lock().expect("no panics while holding the lock");
        let n = next.entry(topic.to_string()).or_insert(0);
        let p = *n % partitions;
        *n = n.wrapping_add(1);
        p
    }
}

#[cfg(test)]
mod tests;
