//! The quorum's durable storage: the one module that knows sled.
//!
//! It offers a small key-value surface (an ordered log keyed by index, and named values),
//! so replacing sled with another embedded store (redb, say) is a change to this file only.
//! Every write that must survive a crash is followed by [`Kv::sync`].
//!
//! With the `test-util` feature, [`Kv::in_memory`] keeps the same surface on a
//! [`MemoryDisk`](memory::MemoryDisk), which on a simulated power loss keeps what was synced and
//! only a prefix of what was not (the simulator's voters, issue 21).

use std::path::Path;
use std::sync::{Arc, Weak};

use thiserror::Error;

/// A storage failure.
#[derive(Debug, Error)]
#[error("quorum storage {op} failed: {source}")]
pub struct KvError {
    op: &'static str,
    #[source]
    source: sled::Error,
}

fn err(op: &'static str) -> impl FnOnce(sled::Error) -> KvError {
    move |source| KvError { op, source }
}

/// The quorum's storage: a log of entries by index and a table of named values.
#[derive(Debug, Clone)]
pub struct Kv {
    inner: Arc<Inner>,
}

#[derive(Debug)]
enum Inner {
    Sled {
        db: sled::Db,
        log: sled::Tree,
        values: sled::Tree,
    },
    #[cfg(any(test, feature = "test-util"))]
    Memory(memory::Mounted),
}

/// A handle that tells whether every [`Kv`] clone is gone (and the files are unlocked).
#[derive(Debug, Clone)]
pub struct KvHandle(Weak<Inner>);

impl KvHandle {
    /// Returns whether the storage is closed.
    pub fn is_closed(&self) -> bool {
        self.0.strong_count() == 0
    }
}

impl Kv {
    /// Opens (or creates) the storage in `dir`.
    ///
    /// The directory is locked while open. A lock still held by this process's own storage
    /// threads (sled finishes background flushes after the last handle is dropped) is waited
    /// for up to 5 s; a lock held longer means another process uses the directory.
    // Synchronous, at start-up, and waiting on sled's own threads: real time, not simulated.
    #[allow(clippy::disallowed_methods)]
    pub fn open(dir: &Path) -> Result<Self, KvError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match Self::try_open(dir) {
                Err(KvError {
                    source: sled::Error::Io(e),
                    ..
                }) if e.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= deadline {
                        return Err(KvError {
                            op: "open (the directory is in use by another strata process)",
                            source: sled::Error::Io(e),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn try_open(dir: &Path) -> Result<Self, KvError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(64 * 1024 * 1024)
            // We sync explicitly after every write that must be durable; sled's own
            // background flusher would only hold the directory lock past close.
            .flush_every_ms(None)
            .open()
            .map_err(err("open"))?;
        let log = db.open_tree("log").map_err(err("open log"))?;
        let values = db.open_tree("values").map_err(err("open values"))?;
        Ok(Self {
            inner: Arc::new(Inner::Sled { db, log, values }),
        })
    }

    /// Mounts `disk`: what it held when last synced, plus what survived its last power loss.
    /// Once the disk is lost again, this mount's reads and writes fail.
    #[cfg(any(test, feature = "test-util"))]
    pub fn in_memory(disk: &memory::MemoryDisk) -> Self {
        Self {
            inner: Arc::new(Inner::Memory(disk.mount())),
        }
    }

    /// Returns a handle that tells when the storage is closed.
    pub fn handle(&self) -> KvHandle {
        KvHandle(Arc::downgrade(&self.inner))
    }

    /// Makes every write so far durable.
    pub async fn sync(&self) -> Result<(), KvError> {
        match &*self.inner {
            Inner::Sled { db, .. } => {
                db.flush_async().await.map_err(err("sync"))?;
            }
            #[cfg(any(test, feature = "test-util"))]
            Inner::Memory(m) => {
                // A sync takes time: a crash may come between a write and its sync.
                let takes = m.begin_sync().map_err(err("sync"))?;
                if !takes.is_zero() {
                    tokio::time::sleep(takes).await;
                }
                m.sync().map_err(err("sync"))?;
            }
        }
        Ok(())
    }

    /// Writes log entries (index, bytes) atomically.
    pub fn append(&self, entries: impl IntoIterator<Item = (u64, Vec<u8>)>) -> Result<(), KvError> {
        match &*self.inner {
            Inner::Sled { log, .. } => {
                let mut batch = sled::Batch::default();
                for (index, bytes) in entries {
                    batch.insert(&index.to_be_bytes(), bytes);
                }
                log.apply_batch(batch).map_err(err("append"))
            }
            #[cfg(any(test, feature = "test-util"))]
            Inner::Memory(m) => m
                .write(memory::Op::Append(entries.into_iter().collect()))
                .map_err(err("append")),
        }
    }

    /// Reads log entries with `start <= index < end`, in order.
    pub fn range(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, KvError> {
        if start >= end {
            return Ok(Vec::new());
        }
        match &*self.inner {
            Inner::Sled { log, .. } => log
                .range(start.to_be_bytes()..end.to_be_bytes())
                .map(|r| {
                    let (k, v) = r.map_err(err("read log"))?;
                    Ok((index_of(&k), v.to_vec()))
                })
                .collect(),
            #[cfg(any(test, feature = "test-util"))]
            Inner::Memory(m) => m.range(start, end).map_err(err("read log")),
        }
    }

    /// Returns the last log entry.
    pub fn last(&self) -> Result<Option<(u64, Vec<u8>)>, KvError> {
        match &*self.inner {
            Inner::Sled { log, .. } => Ok(log
                .last()
                .map_err(err("read log"))?
                .map(|(k, v)| (index_of(&k), v.to_vec()))),
            #[cfg(any(test, feature = "test-util"))]
            Inner::Memory(m) => m.last().map_err(err("read log")),
        }
    }

    /// Deletes log entries with `index >= from`.
    pub fn truncate_from(&self, from: u64) -> Result<(), KvError> {
        self.remove_range(from, u64::MAX)
    }

    /// Deletes log entries with `index <= upto`.
    pub fn purge_upto(&self, upto: u64) -> Result<(), KvError> {
        self.remove_range(0, upto.saturating_add(1))
    }

    fn remove_range(&self, start: u64, end: u64) -> Result<(), KvError> {
        match &*self.inner {
            Inner::Sled { log, .. } => {
                let mut batch = sled::Batch::default();
                for r in log.range(start.to_be_bytes()..end.to_be_bytes()) {
                    let (k, _) = r.map_err(err("read log"))?;
                    batch.remove(k);
                }
                log.apply_batch(batch).map_err(err("delete log"))
            }
            #[cfg(any(test, feature = "test-util"))]
            Inner::Memory(m) => m
                .write(memory::Op::Remove(start, end))
                .map_err(err("delete log")),
        }
    }

    /// Reads a named value.
    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>, KvError> {
        match &*self.inner {
            Inner::Sled { values, .. } => Ok(values
                .get(name)
                .map_err(err("read value"))?
                .map(|v| v.to_vec())),
            #[cfg(any(test, feature = "test-util"))]
            Inner::Memory(m) => m.get(name).map_err(err("read value")),
        }
    }

    /// Writes named values atomically.
    pub fn put(&self, pairs: &[(&str, &[u8])]) -> Result<(), KvError> {
        match &*self.inner {
            Inner::Sled { values, .. } => {
                let mut batch = sled::Batch::default();
                for (name, value) in pairs {
                    batch.insert(name.as_bytes(), *value);
                }
                values.apply_batch(batch).map_err(err("write value"))
            }
            #[cfg(any(test, feature = "test-util"))]
            Inner::Memory(m) => m
                .write(memory::Op::Put(
                    pairs
                        .iter()
                        .map(|(n, v)| ((*n).to_string(), v.to_vec()))
                        .collect(),
                ))
                .map_err(err("write value")),
        }
    }
}

fn index_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[8 - n..].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

#[cfg(any(test, feature = "test-util"))]
pub mod memory;
#[cfg(test)]
mod tests;
