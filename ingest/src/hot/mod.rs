//! The hot tier: a node-local, append-only log of record batches and markers.
//!
//! Segment files `NNNNNNNNNNNNNNNNNNNN.log` hold frames (`[length][crc32c][body]`): batch
//! frames as producers' requests arrive, a seal marker after the batches of each flush, a
//! commit marker once the quorum has sequenced the flush. Writes go to the page cache; a
//! [`SyncJob`] (run off the async runtime) fsyncs every segment written since the previous
//! job, which is how `acks=local` requests and seals share one fsync (group commit).
//!
//! Committed segments are kept up to `retain_bytes` so this node serves reads of what it
//! wrote from local disk ([`HotReader`]), then deleted oldest first. A segment is never deleted
//! while it holds a batch of an uncommitted flush.

pub mod marker;
mod reader;
mod replay;

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use strata_core::ids::{FlushSeq, Incarnation};
use tracing::{info, warn};

use self::marker::Marker;
pub use self::reader::HotReader;
pub use self::replay::{Replay, ReplayedBatch, ReplayedFlush};

/// Where a frame sits in the hot tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Segment id.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
    /// Frame length.
    pub len: u32,
}

/// Batch locations of a committed flush, by section start in its object.
pub type FlushIndex = HashMap<u64, Vec<Location>>;

/// State shared by the writer and readers.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    files: Mutex<BTreeMap<u64, Arc<File>>>,
    index: Mutex<BTreeMap<(Incarnation, FlushSeq), FlushIndex>>,
}

#[derive(Debug)]
struct SegmentState {
    len: u64,
    /// Newest flush holding a batch of this segment.
    last_flush: Option<FlushSeq>,
    /// Holds batches not sealed yet.
    unsealed: bool,
}

/// Told what each fsync of the hot tier made durable: the simulator's disk, which keeps only
/// that through a power loss.
pub trait SyncObserver: Send + Sync + std::fmt::Debug {
    /// The first `len` bytes of each `(segment, len)` of `files` now survive a power loss; with
    /// `entries`, so do the names of those segment files (the directory was synced).
    fn synced(&self, files: &[(PathBuf, u64)], entries: Option<&[PathBuf]>);
}

/// How the hot tier does its blocking work.
#[derive(Debug, Clone, Default)]
pub struct DiskOptions {
    /// Told of every completed fsync.
    pub observer: Option<Arc<dyn SyncObserver>>,
    /// Fsyncs and segment deletions run on the task that asks for them instead of the blocking
    /// pool, so that a simulated run is one thread and replays exactly.
    pub inline: bool,
}

/// Fsyncs segment files (and the directory, after a file was created) off the async runtime.
#[derive(Debug)]
pub struct SyncJob {
    files: Vec<(Arc<File>, PathBuf, u64)>,
    dir: Option<(PathBuf, Vec<PathBuf>)>,
    observer: Option<Arc<dyn SyncObserver>>,
}

impl SyncJob {
    /// Runs the fsyncs (blocking).
    pub fn run(self) -> io::Result<()> {
        for (f, _, _) in &self.files {
            f.sync_data()?;
        }
        if let Some((dir, _)) = &self.dir {
            File::open(dir)?.sync_all()?;
        }
        if let Some(o) = &self.observer {
            let files: Vec<(PathBuf, u64)> =
                self.files.iter().map(|(_, p, l)| (p.clone(), *l)).collect();
            o.synced(&files, self.dir.as_ref().map(|(_, e)| e.as_slice()));
        }
        Ok(())
    }
}

/// The write side of the hot tier, owned by the writer task.
#[derive(Debug)]
pub struct HotLog {
    dir: PathBuf,
    segment_bytes: u64,
    retain_bytes: u64,
    shared: Arc<Shared>,
    states: BTreeMap<u64, SegmentState>,
    active_id: u64,
    active: Arc<File>,
    unsynced: BTreeMap<u64, Arc<File>>,
    dir_dirty: bool,
    committed_through: Option<FlushSeq>,
    poisoned: bool,
    disk: DiskOptions,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.log"))
}

impl HotLog {
    /// Opens the hot tier in `dir`, replaying what is there: torn tails are cut off by CRC,
    /// and the flushes and unsealed batches found are returned for re-shipping. Writing
    /// continues in a new segment. Markers written before writer incarnations existed are
    /// attributed to `legacy` (the data directory's node id then).
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
        retain_bytes: u64,
        legacy: Incarnation,
    ) -> io::Result<(Self, Replay)> {
        std::fs::create_dir_all(dir)?;
        let mut ids: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".log")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        let shared = Arc::new(Shared::default());
        let mut replay = replay::Replayer::new(legacy);
        let mut states = BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            let path = segment_path(dir, *id);
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let bytes = std::fs::read(&path)?;
            let valid = replay.segment(*id, &bytes, i + 1 == ids.len());
            if valid < bytes.len() as u64 {
                warn!(
                    segment = %path.display(),
                    dropped = bytes.len() as u64 - valid,
                    "cutting the hot tier's torn or corrupt tail"
                );
                file.set_len(valid)?;
                file.sync_all()?;
            }
            states.insert(
                *id,
                SegmentState {
                    len: valid,
                    last_flush: None,
                    unsealed: false,
                },
            );
            shared
                .files
                .lock()
                .expect("no panics while holding the lock")
                .insert(*id, Arc::new(file));
        }
        let replay = replay.finish();
        for (segment, flush) in replay.segment_flushes() {
            if let Some(s) = states.get_mut(&segment) {
                s.last_flush = s.last_flush.max(Some(flush));
            }
        }
        for b in &replay.unsealed {
            if let Some(s) = states.get_mut(&b.loc.segment) {
                s.unsealed = true;
            }
        }
        let active_id = ids.last().map_or(0, |id| id + 1);
        let active = Arc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(segment_path(dir, active_id))?,
        );
        shared
            .files
            .lock()
            .expect("no panics while holding the lock")
            .insert(active_id, active.clone());
        states.insert(
            active_id,
            SegmentState {
                len: 0,
                last_flush: None,
                unsealed: false,
            },
        );
        if !ids.is_empty() {
            info!(
                segments = ids.len(),
                flushes = replay.flushes.len(),
                unsealed = replay.unsealed.len(),
                "replayed the hot tier"
            );
        }
        let log = Self {
            dir: dir.to_path_buf(),
            segment_bytes,
            retain_bytes,
            shared,
            states,
            active_id,
            active: active.clone(),
            unsynced: BTreeMap::from([(active_id, active)]),
            dir_dirty: true,
            committed_through: None,
            poisoned: false,
            disk: DiskOptions::default(),
        };
        Ok((log, replay))
    }

    /// Returns a reader of committed flushes.
    pub fn reader(&self) -> HotReader {
        HotReader::new(self.shared.clone())
    }

    /// Appends frames, returning where each landed. On a failed write the segment is cut
    /// back, so a failure never leaves a torn frame in the middle of the log.
    pub fn append(&mut self, frames: &[&[u8]]) -> io::Result<Vec<Location>> {
        if self.poisoned {
            return Err(io::Error::other(
                "the hot tier failed earlier and could not be repaired; restart the node",
            ));
        }
        if self.active_len() >= self.segment_bytes {
            self.roll()?;
        }
        let start = self.active_len();
        let total: usize = frames.iter().map(|f| f.len()).sum();
        let mut buf = Vec::with_capacity(total);
        let mut locations = Vec::with_capacity(frames.len());
        for f in frames {
            locations.push(Location {
                segment: self.active_id,
                offset: start + buf.len() as u64,
                len: f.len() as u32,
            });
            buf.extend_from_slice(f);
        }
        if let Err(e) = self.active.write_all_at(&buf, start) {
            if self.active.set_len(start).is_err() {
                self.poisoned = true;
            }
            return Err(e);
        }
        let state = self.states.get_mut(&self.active_id).expect("active exists");
        state.len += buf.len() as u64;
        self.unsynced.insert(self.active_id, self.active.clone());
        Ok(locations)
    }

    /// Appends batch frames that a flush has not sealed yet.
    pub fn append_batches(&mut self, frames: &[&[u8]]) -> io::Result<Vec<Location>> {
        self.append_request(None, frames)
    }

    /// Appends the batch frames of one request, in one write: with a request marker before
    /// them when there are several or the request carries a key, so that a torn write is
    /// dropped whole at replay and the key is replayed with its batches.
    pub fn append_request(
        &mut self,
        key: Option<strata_core::meta::idempotency::RequestKey>,
        frames: &[&[u8]],
    ) -> io::Result<Vec<Location>> {
        let marker = (key.is_some() || frames.len() > 1).then(|| {
            Marker::Request {
                batches: frames.len() as u32,
                key,
            }
            .encode()
        });
        let mut all: Vec<&[u8]> = Vec::with_capacity(frames.len() + 1);
        all.extend(marker.as_deref());
        all.extend_from_slice(frames);
        let mut locations = self.append(&all)?;
        if marker.is_some() {
            locations.remove(0);
        }
        self.states
            .get_mut(&self.active_id)
            .expect("active exists")
            .unsealed = true;
        Ok(locations)
    }

    /// Writes the seal marker of `writer`'s flush `seq`, closing every unsealed batch into it.
    pub fn seal(&mut self, writer: Incarnation, seq: FlushSeq, batches: u32) -> io::Result<()> {
        self.append(&[&Marker::Seal {
            seq,
            batches,
            writer: Some(writer),
        }
        .encode()])?;
        for s in self.states.values_mut().filter(|s| s.unsealed) {
            s.unsealed = false;
            s.last_flush = Some(seq);
        }
        Ok(())
    }

    /// Records that `writer`'s flush `seq` is committed, makes its batches readable, and
    /// deletes committed segments beyond the retention.
    pub fn committed(
        &mut self,
        writer: Incarnation,
        seq: FlushSeq,
        index: FlushIndex,
    ) -> io::Result<()> {
        self.append(&[&Marker::Commit {
            seq,
            writer: Some(writer),
        }
        .encode()])?;
        self.index_committed(writer, seq, index);
        self.collect_garbage();
        Ok(())
    }

    /// Makes the batches of an already-committed replayed flush readable.
    pub fn index_committed(&mut self, writer: Incarnation, seq: FlushSeq, index: FlushIndex) {
        self.committed_through = self.committed_through.max(Some(seq));
        self.shared
            .index
            .lock()
            .expect("no panics while holding the lock")
            .insert((writer, seq), index);
    }

    /// Returns the job that makes every write so far durable, if any write is not yet.
    pub fn sync_job(&mut self) -> Option<SyncJob> {
        if self.unsynced.is_empty() && !self.dir_dirty {
            return None;
        }
        let files = std::mem::take(&mut self.unsynced)
            .into_iter()
            .map(|(id, f)| {
                let len = self.states.get(&id).map_or(0, |s| s.len);
                (f, segment_path(&self.dir, id), len)
            })
            .collect();
        let dir = std::mem::take(&mut self.dir_dirty).then(|| {
            let entries = self.states.keys().map(|id| segment_path(&self.dir, *id));
            (self.dir.clone(), entries.collect())
        });
        Some(SyncJob {
            files,
            dir,
            observer: self.disk.observer.clone(),
        })
    }

    /// Sets how the log does its blocking work (the simulator's disk).
    pub fn set_disk(&mut self, disk: DiskOptions) {
        self.disk = disk;
    }

    /// Whether fsyncs run on the asking task rather than the blocking pool.
    pub fn inline_io(&self) -> bool {
        self.disk.inline
    }

    /// Returns the bytes in all segments.
    pub fn total_bytes(&self) -> u64 {
        self.states.values().map(|s| s.len).sum()
    }

    fn active_len(&self) -> u64 {
        self.states.get(&self.active_id).map_or(0, |s| s.len)
    }

    fn roll(&mut self) -> io::Result<()> {
        let id = self.active_id + 1;
        let file = Arc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(segment_path(&self.dir, id))?,
        );
        self.shared
            .files
            .lock()
            .expect("no panics while holding the lock")
            .insert(id, file.clone());
        self.states.insert(
            id,
            SegmentState {
                len: 0,
                last_flush: None,
                unsealed: false,
            },
        );
        self.active_id = id;
        self.active = file;
        self.dir_dirty = true;
        Ok(())
    }

    fn collect_garbage(&mut self) {
        let mut total = self.total_bytes();
        let mut doomed = Vec::new();
        while total > self.retain_bytes {
            let Some((&id, state)) = self.states.iter().next() else {
                break;
            };
            let committed = state
                .last_flush
                .is_none_or(|f| Some(f) <= self.committed_through);
            if id == self.active_id || state.unsealed || !committed {
                break;
            }
            total -= state.len;
            let last_flush = state.last_flush;
            self.states.remove(&id);
            self.unsynced.remove(&id);
            self.shared
                .files
                .lock()
                .expect("no panics while holding the lock")
                .remove(&id);
            if let Some(last) = last_flush {
                self.shared
                    .index
                    .lock()
                    .expect("no panics while holding the lock")
                    .retain(|(_, seq), _| *seq > last);
            }
            doomed.push(segment_path(&self.dir, id));
        }
        if !doomed.is_empty() {
            // Readers keep their own file handles, so the files can go in the background.
            let remove = move || {
                for path in doomed {
                    if let Err(e) = remove_gradually(&path) {
                        warn!(segment = %path.display(), error = %e, "could not delete a hot-tier segment");
                    }
                }
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) if !self.disk.inline => drop(rt.spawn_blocking(remove)),
                _ => remove(),
            }
        }
    }
}

/// Deletes a file by cutting it down 1 MiB at a time, then unlinking it.
///
/// Freeing a large file in one go holds the filesystem journal for as long as the blocks take
/// to release (on ext4 mounted with `discard`, about 90 ms for 64 MiB here), and every fsync of
/// the hot tier waits behind it. Small steps bound that wait to a few milliseconds.
fn remove_gradually(path: &Path) -> io::Result<()> {
    const STEP: u64 = 1 << 20;
    let file = OpenOptions::new().write(true).open(path)?;
    let mut len = file.metadata()?.len();
    while len > 0 {
        len = len.saturating_sub(STEP);
        file.set_len(len)?;
    }
    drop(file);
    std::fs::remove_file(path)
}

#[cfg(test)]
mod tests;
