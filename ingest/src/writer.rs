//! The writer task: the only writer of the hot tier.
//!
//! It appends each request's batches, stages them for the current flush, fsyncs by group
//! commit (every `acks=local` request and every seal waiting at the time shares one fsync,
//! run off the async runtime), and seals a flush every `flush_interval` or `flush_bytes`.
//! A sealed flush goes to the shipper only after the fsync that covers its seal marker.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use strata_core::batch::EncodedBatch;
use strata_core::budget::Held;
use strata_core::ids::{FlushSeq, Incarnation, Offset, PartitionId, TopicId};
use strata_core::meta::idempotency::{Replayed, RequestKey};
use strata_core::planted;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{error, warn};

use crate::acks::Acks;
use crate::error::IngestError;
use crate::hot::{FlushIndex, HotLog};
use crate::plan::StagedBatch;
use crate::stats::IngestStats;

/// Offsets of a committed flush.
#[derive(Debug, Default)]
pub struct FlushOffsets {
    /// Offset of each section's first kept record, by (topic incarnation, partition) (`None`:
    /// its topic is gone).
    pub bases: HashMap<(TopicId, PartitionId), Option<Offset>>,
    /// Per section, the batches of repeated keyed requests, which got no offsets:
    /// `(records before the batch in the section, its records)`.
    pub holes: HashMap<(TopicId, PartitionId), Vec<(u64, u64)>>,
    /// Keyed requests (by number) that were committed before, and what to answer them.
    pub replays: HashMap<u64, Replayed>,
}

impl FlushOffsets {
    /// Returns the offset of the record `position` records into a section of the flush.
    pub fn offset(&self, section: (TopicId, PartitionId), position: u64) -> Option<Offset> {
        let base = self.bases.get(&section).copied().flatten()?;
        let holes = self.holes.get(&section).map_or(&[][..], Vec::as_slice);
        Some(strata_core::meta::offset_in_section(base, position, holes))
    }
}

/// Why a flush's outcome is not known.
#[derive(Debug, Clone)]
pub enum FlushError {
    /// The node stopped before the flush was committed; it will be re-shipped at the next start.
    ShuttingDown,
    /// The flush was committed before, but its offsets are no longer known.
    Unknown,
    /// This process was fenced: another process took over its identity, and the flush will be
    /// shipped by whichever process next runs on this data directory.
    Fenced(String),
}

/// The outcome of a flush for those waiting on it.
pub type FlushResult = Result<Arc<FlushOffsets>, FlushError>;

/// A flush sealed in the hot tier, ready to ship.
#[derive(Debug)]
pub struct SealedFlush {
    /// The writer incarnation that sealed it; with `seq`, it names the object.
    pub writer: Incarnation,
    /// Its sequence number.
    pub seq: FlushSeq,
    /// Its batches in arrival order.
    pub batches: Vec<StagedBatch>,
    /// `acks=all` requests waiting for the commit.
    pub waiters: Vec<oneshot::Sender<FlushResult>>,
    /// Admission permits released once the flush is committed.
    pub permits: Vec<Held>,
}

/// What an append returns.
#[derive(Debug)]
pub struct Appended {
    /// For each batch, the position of its first record within its partition in the flush.
    pub positions: Vec<u64>,
    /// The request's number, when it carries a key.
    pub request: Option<u64>,
    /// Resolves when the flush is committed (`acks=all`).
    pub commit: Option<oneshot::Receiver<FlushResult>>,
}

/// A message to the writer.
#[derive(Debug)]
pub enum WriterMsg {
    /// Append a request's batches.
    Append {
        batches: Vec<EncodedBatch>,
        acks: Acks,
        permit: Option<Held>,
        key: Option<RequestKey>,
        reply: oneshot::Sender<Result<Appended, IngestError>>,
    },
    /// Seal now; the reply resolves when that flush and every one sealed before it are
    /// committed (`None`: nothing is waiting for a commit).
    Flush {
        reply: oneshot::Sender<Option<oneshot::Receiver<FlushResult>>>,
    },
    /// Seal what is staged, make it durable, hand it to the shipper, and stop.
    Shutdown,
}

/// A flush committed by the shipper, reported back to the writer.
#[derive(Debug)]
pub struct Committed {
    /// The writer that sealed the flush.
    pub writer: Incarnation,
    /// The flush.
    pub seq: FlushSeq,
    /// Where its sections' batches are in the hot tier.
    pub index: FlushIndex,
}

enum SyncWaiter {
    Reply(oneshot::Sender<Result<Appended, IngestError>>, Appended),
    Sealed(SealedFlush),
}

#[derive(Default)]
struct Staging {
    batches: Vec<StagedBatch>,
    bytes: u64,
    records: HashMap<(TopicId, PartitionId), u64>,
    waiters: Vec<oneshot::Sender<FlushResult>>,
    permits: Vec<Held>,
    since: Option<Instant>,
}

/// Flushes by writer and sequence number.
type Flushes = BTreeSet<(Incarnation, FlushSeq)>;

/// The writer task's state.
pub struct Writer {
    log: HotLog,
    writer: Incarnation,
    next_seq: FlushSeq,
    flush_interval: Duration,
    flush_bytes: u64,
    staging: Staging,
    waiting: Vec<SyncWaiter>,
    running: Option<(JoinHandle<std::io::Result<()>>, Vec<SyncWaiter>)>,
    sealed_tx: mpsc::Sender<SealedFlush>,
    stats: Arc<IngestStats>,
    /// The number of the next keyed request.
    next_request: u64,
    /// Flushes sealed (or handed over for re-shipping) and not yet reported committed.
    outstanding: Flushes,
    /// `Flush` requests waiting for the outstanding flushes they came after.
    drains: Vec<(Flushes, oneshot::Sender<FlushResult>)>,
}

impl Writer {
    /// Creates the writer of incarnation `writer`; `unsealed` batches from the replay are
    /// staged first.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        log: HotLog,
        writer: Incarnation,
        next_seq: FlushSeq,
        flush_interval: Duration,
        flush_bytes: u64,
        unsealed: Vec<StagedBatch>,
        sealed_tx: mpsc::Sender<SealedFlush>,
        stats: Arc<IngestStats>,
        next_request: u64,
    ) -> Self {
        let mut w = Self {
            log,
            writer,
            next_seq,
            flush_interval,
            flush_bytes,
            staging: Staging::default(),
            waiting: Vec::new(),
            running: None,
            sealed_tx,
            stats,
            next_request,
            outstanding: BTreeSet::new(),
            drains: Vec::new(),
        };
        for b in unsealed {
            w.stage(b);
        }
        w
    }

    /// Counts `flushes` (handed to the shipper before the writer started) as outstanding until
    /// the shipper reports them committed.
    pub fn shipping(&mut self, flushes: impl IntoIterator<Item = (Incarnation, FlushSeq)>) {
        self.outstanding.extend(flushes);
    }

    /// Runs until told to shut down (or every sender is gone).
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<WriterMsg>,
        mut committed_rx: mpsc::UnboundedReceiver<Committed>,
    ) {
        loop {
            let deadline = self.staging.since.map(|t| t + self.flush_interval);
            tokio::select! {
                biased;
                done = wait_sync(&mut self.running), if self.running.is_some() => {
                    self.sync_done(done).await;
                }
                Some(c) = committed_rx.recv() => self.committed(c),
                msg = rx.recv() => match msg {
                    Some(WriterMsg::Append { batches, acks, permit, key, reply }) => {
                        self.append(batches, acks, permit, key, reply);
                    }
                    Some(WriterMsg::Flush { reply }) => {
                        self.seal();
                        // Commits are reported in any order; the request waits for every
                        // flush sealed before it, the one just sealed included.
                        let rx = (!self.outstanding.is_empty()).then(|| {
                            let (tx, rx) = oneshot::channel();
                            self.drains.push((self.outstanding.clone(), tx));
                            rx
                        });
                        let _ = reply.send(rx);
                    }
                    Some(WriterMsg::Shutdown) | None => break,
                },
                _ = sleep_until(deadline), if deadline.is_some() => self.seal(),
            }
            if self.staging.bytes >= self.flush_bytes {
                self.seal();
            }
            if self.running.is_none() && !self.waiting.is_empty() {
                self.start_sync();
            }
        }
        // Seal the rest and make it durable; the shipper gets it unless the node stops first.
        self.seal();
        while self.running.is_some() || !self.waiting.is_empty() {
            if self.running.is_none() {
                self.start_sync();
            }
            let done = wait_sync(&mut self.running).await;
            self.sync_done(done).await;
        }
    }

    fn stage(&mut self, b: StagedBatch) -> u64 {
        let key = (b.header.topic_id, b.header.partition);
        let count = self.staging.records.entry(key).or_default();
        let position = *count;
        *count += u64::from(b.header.record_count);
        self.staging.bytes += b.frame.len() as u64;
        self.staging.since.get_or_insert_with(Instant::now);
        self.staging.batches.push(b);
        position
    }

    fn append(
        &mut self,
        batches: Vec<EncodedBatch>,
        acks: Acks,
        permit: Option<Held>,
        key: Option<RequestKey>,
        reply: oneshot::Sender<Result<Appended, IngestError>>,
    ) {
        let frames: Vec<&[u8]> = batches.iter().map(|b| b.frame.as_ref()).collect();
        let locations = match self.log.append_request(key, &frames) {
            Ok(l) => l,
            Err(e) => {
                error!(error = %e, "hot tier append failed");
                let _ = reply.send(Err(IngestError::HotTier(e)));
                return;
            }
        };
        let written: u64 = frames.iter().map(|f| f.len() as u64).sum();
        IngestStats::add(&self.stats.hot_bytes_written, written);
        self.stats
            .hot_tier_bytes
            .store(self.log.total_bytes(), Ordering::Relaxed);
        let tag = key.map(|k| {
            let no = self.next_request;
            self.next_request += 1;
            (no, k)
        });
        let positions = batches
            .into_iter()
            .zip(locations)
            .map(|(b, loc)| {
                self.stage(StagedBatch {
                    header: b.header,
                    frame: b.frame,
                    loc,
                    request: tag,
                })
            })
            .collect();
        self.staging.permits.extend(permit);
        let mut appended = Appended {
            positions,
            request: tag.map(|(no, _)| no),
            commit: None,
        };
        match acks {
            Acks::All => {
                let (tx, rx) = oneshot::channel();
                self.staging.waiters.push(tx);
                appended.commit = Some(rx);
                let _ = reply.send(Ok(appended));
            }
            Acks::Local if planted::active(planted::LOCAL_ACK_BEFORE_FSYNC) => {
                let _ = reply.send(Ok(appended));
            }
            Acks::Local => self.waiting.push(SyncWaiter::Reply(reply, appended)),
            Acks::None => {
                let _ = reply.send(Ok(appended));
            }
        }
    }

    fn seal(&mut self) {
        if self.staging.batches.is_empty() {
            return;
        }
        let seq = self.next_seq;
        let count = self.staging.batches.len() as u32;
        if let Err(e) = self.log.seal(self.writer, seq, count) {
            // The staged batches stay staged; the next tick tries again.
            warn!(flush = %seq, error = %e, "could not write the seal marker");
            return;
        }
        self.next_seq = FlushSeq(seq.0 + 1);
        self.outstanding.insert((self.writer, seq));
        let staging = std::mem::take(&mut self.staging);
        IngestStats::add(&self.stats.flushes, 1);
        let flush = SealedFlush {
            writer: self.writer,
            seq,
            batches: staging.batches,
            waiters: staging.waiters,
            permits: staging.permits,
        };
        let flush = if planted::active(planted::SHIP_BEFORE_SEAL_FSYNC) {
            match self.sealed_tx.try_send(flush) {
                Ok(()) => return,
                Err(e) => e.into_inner(),
            }
        } else {
            flush
        };
        self.waiting.push(SyncWaiter::Sealed(flush));
    }

    fn start_sync(&mut self) {
        let waiters = std::mem::take(&mut self.waiting);
        let handle = match self.log.sync_job() {
            Some(job) if self.log.inline_io() => {
                let done = job.run();
                tokio::spawn(async { done })
            }
            Some(job) => tokio::task::spawn_blocking(move || job.run()),
            None => tokio::spawn(async { Ok(()) }),
        };
        IngestStats::add(&self.stats.fsyncs, 1);
        self.running = Some((handle, waiters));
    }

    async fn sync_done(&mut self, (result, waiters): (std::io::Result<()>, Vec<SyncWaiter>)) {
        if let Err(e) = &result {
            error!(error = %e, "hot tier fsync failed: acks=local requests fail; sealed flushes still ship");
        }
        for w in waiters {
            match w {
                SyncWaiter::Reply(reply, appended) => {
                    let r = match &result {
                        Ok(()) => Ok(appended),
                        Err(e) => Err(IngestError::HotTier(std::io::Error::new(
                            e.kind(),
                            e.to_string(),
                        ))),
                    };
                    let _ = reply.send(r);
                }
                SyncWaiter::Sealed(flush) => {
                    if self.sealed_tx.send(flush).await.is_err() {
                        warn!(
                            "shipper stopped; the flush stays in the hot tier for the next start"
                        );
                    }
                }
            }
        }
    }

    fn committed(&mut self, c: Committed) {
        if let Err(e) = self.log.committed(c.writer, c.seq, c.index) {
            warn!(flush = %c.seq, error = %e, "could not write the commit marker");
        }
        let key = (c.writer, c.seq);
        self.outstanding.remove(&key);
        let drains = std::mem::take(&mut self.drains);
        for (mut waits, tx) in drains {
            waits.remove(&key);
            if waits.is_empty() {
                let _ = tx.send(Ok(Arc::default()));
            } else if !tx.is_closed() {
                self.drains.push((waits, tx));
            }
        }
        self.stats
            .hot_tier_bytes
            .store(self.log.total_bytes(), Ordering::Relaxed);
    }
}

async fn wait_sync(
    running: &mut Option<(JoinHandle<std::io::Result<()>>, Vec<SyncWaiter>)>,
) -> (std::io::Result<()>, Vec<SyncWaiter>) {
    let (handle, waiters) = running.as_mut().expect("checked by the caller");
    let result = match handle.await {
        Ok(r) => r,
        Err(e) => Err(std::io::Error::other(format!("fsync task failed: {e}"))),
    };
    let waiters = std::mem::take(waiters);
    *running = None;
    (result, waiters)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
