//! A [`Kv`](super::Kv) disk in memory, for the simulator: writes are kept in order, a sync
//! makes every write so far durable, and a power loss keeps what was synced plus a prefix of
//! the writes after it (the guarantee of a log-structured store such as sled: what survives a
//! crash is a prefix of the writes, each batch whole or not at all).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One write, as [`Kv`](super::Kv) makes it: atomic.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// Log entries written.
    Append(Vec<(u64, Vec<u8>)>),
    /// Log entries with `start <= index < end` deleted.
    Remove(u64, u64),
    /// Named values written.
    Put(Vec<(String, Vec<u8>)>),
}

#[derive(Debug, Clone, Default)]
struct Tables {
    log: BTreeMap<u64, Vec<u8>>,
    values: BTreeMap<String, Vec<u8>>,
}

impl Tables {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(entries) => self.log.extend(entries.iter().cloned()),
            Op::Remove(start, end) => {
                let doomed: Vec<u64> = self.log.range(*start..*end).map(|(k, _)| *k).collect();
                for k in doomed {
                    self.log.remove(&k);
                }
            }
            Op::Put(pairs) => self.values.extend(pairs.iter().cloned()),
        }
    }
}

#[derive(Debug)]
struct State {
    /// What a power loss keeps for certain.
    durable: Tables,
    /// What the mounted storage reads: `durable` with `pending` applied.
    live: Tables,
    /// Writes since the last sync, in order.
    pending: Vec<Op>,
    /// Bumped on every power loss: older mounts fail from then on.
    generation: u64,
    /// How long a sync takes, in milliseconds of the runtime's clock; with a random source,
    /// 1 to 3 ms, and one sync in eight 20 to 60 ms (a disk's occasional slow fsync).
    sync_ms: u64,
    latency: Option<strata_core::rng::XorShift>,
    /// Syncs under way.
    syncing: u32,
}

impl Default for State {
    fn default() -> Self {
        Self {
            durable: Tables::default(),
            live: Tables::default(),
            pending: Vec::new(),
            generation: 0,
            sync_ms: 2,
            latency: None,
            syncing: 0,
        }
    }
}

/// A disk that outlives the voter using it; clones are the same disk.
#[derive(Debug, Clone, Default)]
pub struct MemoryDisk(Arc<Mutex<State>>);

impl MemoryDisk {
    pub(super) fn mount(&self) -> Mounted {
        let generation = self.lock().generation;
        Mounted {
            disk: self.clone(),
            generation,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().expect("no panics while holding the lock")
    }

    /// Makes every sync take `ms` milliseconds (of the runtime's clock; 2 unless set).
    pub fn set_sync_ms(&self, ms: u64) {
        let mut s = self.lock();
        s.sync_ms = ms;
        s.latency = None;
    }

    /// Makes syncs take 1 to 3 ms, and one in eight 20 to 60 ms, drawn from `seed`.
    pub fn set_sync_latency(&self, seed: u64) {
        self.lock().latency = Some(strata_core::rng::XorShift::new(seed));
    }

    /// Whether log entries wait for a sync under way.
    pub fn appending(&self) -> bool {
        let s = self.lock();
        s.syncing > 0 && s.pending.iter().any(|op| matches!(op, Op::Append(_)))
    }

    /// Writes not yet synced.
    pub fn unsynced(&self) -> usize {
        self.lock().pending.len()
    }

    /// Loses power: the first `keep` unsynced writes survive, the rest are gone, and every
    /// mount so far fails from now on. Returns how many writes were lost.
    pub fn power_loss(&self, keep: usize) -> usize {
        let mut s = self.lock();
        let pending = std::mem::take(&mut s.pending);
        let lost = pending.len().saturating_sub(keep);
        for op in pending.iter().take(keep) {
            s.durable.apply(op);
        }
        s.live = s.durable.clone();
        s.generation += 1;
        s.syncing = 0;
        lost
    }
}

/// One mount of a [`MemoryDisk`].
#[derive(Debug)]
pub(super) struct Mounted {
    disk: MemoryDisk,
    generation: u64,
}

fn lost() -> sled::Error {
    sled::Error::Io(std::io::Error::other("the simulated disk lost power"))
}

impl Mounted {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R, sled::Error> {
        let mut s = self.disk.lock();
        if s.generation != self.generation {
            return Err(lost());
        }
        Ok(f(&mut s))
    }

    pub(super) fn write(&self, op: Op) -> Result<(), sled::Error> {
        self.with(|s| {
            s.live.apply(&op);
            s.pending.push(op);
        })
    }

    /// Starts a sync; returns how long it takes, after which [`Self::sync`] ends it.
    pub(super) fn begin_sync(&self) -> Result<std::time::Duration, sled::Error> {
        self.with(|s| {
            s.syncing += 1;
            let ms = match &mut s.latency {
                Some(r) => {
                    if r.below(8) == 0 {
                        20 + r.below(41)
                    } else {
                        1 + r.below(3)
                    }
                }
                None => s.sync_ms,
            };
            std::time::Duration::from_millis(ms)
        })
    }

    pub(super) fn sync(&self) -> Result<(), sled::Error> {
        self.with(|s| {
            s.syncing = s.syncing.saturating_sub(1);
            for op in std::mem::take(&mut s.pending) {
                s.durable.apply(&op);
            }
        })
    }

    pub(super) fn range(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, sled::Error> {
        self.with(|s| {
            s.live
                .log
                .range(start..end)
                .map(|(k, v)| (*k, v.clone()))
                .collect()
        })
    }

    pub(super) fn last(&self) -> Result<Option<(u64, Vec<u8>)>, sled::Error> {
        self.with(|s| s.live.log.last_key_value().map(|(k, v)| (*k, v.clone())))
    }

    pub(super) fn get(&self, name: &str) -> Result<Option<Vec<u8>>, sled::Error> {
        self.with(|s| s.live.values.get(name).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Kv;
    use super::*;

    #[tokio::test]
    async fn a_power_loss_keeps_the_synced_writes_and_a_prefix_of_the_rest() {
        let disk = MemoryDisk::default();
        let kv = Kv::in_memory(&disk);
        kv.append([(1, b"a".to_vec()), (2, b"b".to_vec())])
            .expect("the memory disk takes it");
        kv.sync().await.expect("the memory disk takes it");
        kv.append([(3, b"c".to_vec())])
            .expect("the memory disk takes it");
        kv.put(&[("vote", b"v2")])
            .expect("the memory disk takes it");
        kv.truncate_from(2).expect("the memory disk takes it");
        assert_eq!(disk.unsynced(), 3);
        assert_eq!(disk.power_loss(1), 2);
        assert!(
            kv.last().is_err(),
            "the old mount fails after the power loss"
        );
        let again = Kv::in_memory(&disk);
        let log: Vec<u64> = again
            .range(0, 10)
            .expect("the memory disk takes it")
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            log,
            [1, 2, 3],
            "the synced entries and the first unsynced write"
        );
        assert_eq!(
            again.get("vote").expect("the memory disk takes it"),
            None,
            "a write after the kept prefix is lost"
        );
    }
}
