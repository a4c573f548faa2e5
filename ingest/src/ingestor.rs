//! [`Ingestor`]: the write path of one node, from validated records to committed offsets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use object_store::ObjectStore;
use strata_core::batch::{EncodedBatch, UNASSIGNED, encode_batch};
use strata_core::budget::Budget;
use strata_core::clock::Clock;
use strata_core::ids::{FlushSeq, Incarnation, Offset, PartitionId};
use strata_core::meta::idempotency::{KeyRetention, Replayed, RequestKey};
use strata_core::meta::writers::{self, Fence, RegisterRequest, Registration};
use strata_core::meta::{MetaError, MetaStore, TopicInfo};
use strata_core::planted;
use strata_core::record::Record;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::acks::Acks;
use crate::config::IngestConfig;
use crate::error::IngestError;
use crate::hot::{HotLog, HotReader, Replay, ReplayedBatch};
use crate::parse::ProduceRecord;
use crate::partitioner::{StickyPartitioner, partition_for_key};
use crate::plan::{StagedBatch, index_of};
use crate::shipper::{self, ShipContext};
use crate::stats::IngestStats;
use crate::writer::{FlushError, FlushResult, SealedFlush, Writer, WriterMsg};

/// Turns replayed batches that still hold their bytes into staged batches.
fn staged(batches: Vec<ReplayedBatch>) -> Vec<StagedBatch> {
    batches
        .into_iter()
        .filter_map(|b| {
            Some(StagedBatch {
                header: b.header,
                frame: b.frame?,
                loc: b.loc,
                request: b.request,
            })
        })
        .collect()
}

/// Where one produced record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducedOffset {
    /// Partition.
    pub partition: PartitionId,
    /// Offset, known only with `acks=all`.
    pub offset: Option<Offset>,
}

/// A hot tier opened and replayed, before the process registered with the quorum.
#[derive(Debug)]
pub struct Recovered {
    log: HotLog,
    replay: Replay,
}

impl Recovered {
    /// Returns the writer incarnations whose sealed flushes the quorum may not have committed:
    /// the process adopts them when it registers, then re-ships what they sealed.
    pub fn pending_writers(&self) -> Vec<Incarnation> {
        self.replay.pending_writers().into_iter().collect()
    }
}

/// The write path of one node.
#[derive(Debug)]
pub struct Ingestor {
    config: IngestConfig,
    incarnation: Incarnation,
    fence: Arc<Fence>,
    meta: Arc<dyn MetaStore>,
    clock: Arc<dyn Clock>,
    /// The staging quota: bytes accepted and not yet committed.
    admission: Budget,
    writer: mpsc::Sender<WriterMsg>,
    sticky: StickyPartitioner,
    stats: Arc<IngestStats>,
    reader: HotReader,
    stopping: AtomicBool,
    cancel: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Ingestor {
    /// Opens and replays the hot tier (torn tails cut). Register the process (adopting
    /// [`Recovered::pending_writers`]), then [`Ingestor::start`] it.
    pub fn recover(config: &IngestConfig) -> Result<Recovered, IngestError> {
        let (mut log, replay) = HotLog::open(
            &config.dir,
            config.segment_bytes,
            config.retain_bytes,
            config.legacy_writer,
        )
        .map_err(IngestError::HotTier)?;
        log.set_disk(config.disk.clone());
        Ok(Recovered { log, replay })
    }

    /// Opens the hot tier, registers a nameless process with the quorum, and starts (for tests
    /// and embedded use; a node registers once for all its roles and calls
    /// [`Ingestor::start`]).
    pub async fn open(
        config: IngestConfig,
        meta: Arc<dyn MetaStore>,
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, IngestError> {
        let recovered = Self::recover(&config)?;
        let now = clock.now_ms();
        let request = RegisterRequest {
            name: None,
            addr: format!("in-process:{}", config.dir.display()),
            roles: vec!["ingest".to_string()],
            adopt: recovered.pending_writers(),
            nonce: writers::nonce(),
        };
        let registration = writers::register(meta.as_ref(), request, now).await?;
        Self::start(
            config,
            recovered,
            &registration,
            Arc::new(Fence::default()),
            meta,
            store,
            clock,
        )
        .await
    }

    /// Starts the write path of the registered incarnation: flushes of adopted writers the
    /// quorum has not committed are shipped again first (under their keys, committed by this
    /// incarnation), then the writer and shipper run. `fence` stops writing once the process
    /// learns it was fenced.
    pub async fn start(
        config: IngestConfig,
        recovered: Recovered,
        registration: &Registration,
        fence: Arc<Fence>,
        meta: Arc<dyn MetaStore>,
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, IngestError> {
        let Recovered { mut log, replay } = recovered;
        let writer = registration.incarnation;
        let next_seq = FlushSeq(replay.max_seq().map_or(1, |s| s.0 + 1));
        let stats = Arc::new(IngestStats::default());
        let cancel = CancellationToken::new();
        let (sealed_tx, sealed_rx) = mpsc::channel(config.max_concurrent_uploads.max(1));
        let (committed_tx, committed_rx) = mpsc::unbounded_channel();

        // Flushes the quorum has not committed are shipped again, before anything new. The
        // registration fenced their writers first, so "committed" is decided for good.
        let mut reship = Vec::new();
        for flush in replay.flushes {
            let last = registration.last_flush(flush.writer);
            let done = flush.committed || last.is_some_and(|l| flush.seq <= l);
            if done {
                let headers: Vec<_> = flush.batches.iter().map(|b| b.header).collect();
                let locations: Vec<_> = flush.batches.iter().map(|b| b.loc).collect();
                log.index_committed(flush.writer, flush.seq, index_of(&headers, &locations));
                continue;
            }
            reship.push(SealedFlush {
                writer: flush.writer,
                seq: flush.seq,
                batches: staged(flush.batches),
                waiters: Vec::new(),
                permits: Vec::new(),
            });
        }
        let next_request = replay.requests + 1;
        let unsealed = if planted::active(planted::RECOVERY_DROPS_UNSEALED) {
            Vec::new()
        } else {
            staged(replay.unsealed)
        };
        if !reship.is_empty() || !unsealed.is_empty() {
            info!(
                flushes = reship.len(),
                unsealed_batches = unsealed.len(),
                "shipping what the hot tier held"
            );
        }

        let reader = log.reader();
        let ctx = ShipContext {
            by: writer,
            fence: fence.clone(),
            no_conditional_put: Arc::default(),
            store,
            meta: meta.clone(),
            clock: clock.clone(),
            multipart_threshold: config.multipart_threshold,
            stats: stats.clone(),
            cancel: cancel.clone(),
            on_uploaded: config.on_uploaded.clone(),
            keep_keys: KeyRetention {
                window_ms: i64::try_from(config.idempotency_window.as_millis()).unwrap_or(i64::MAX),
                max_keys: config.idempotency_max_keys,
            },
        };
        let shipper = tokio::spawn(shipper::run(
            ctx,
            sealed_rx,
            committed_tx,
            config.max_concurrent_uploads,
        ));
        let reshipping: Vec<_> = reship.iter().map(|f| (f.writer, f.seq)).collect();
        for flush in reship {
            if sealed_tx.send(flush).await.is_err() {
                break;
            }
        }
        let (writer_tx, writer_rx) = mpsc::channel(1024);
        let mut writer_state = Writer::new(
            log,
            writer,
            next_seq,
            config.flush_interval,
            config.flush_bytes,
            unsealed,
            sealed_tx,
            stats.clone(),
            next_request,
        );
        writer_state.shipping(reshipping);
        let writer_task = tokio::spawn(writer_state.run(writer_rx, committed_rx));
        Ok(Arc::new(Self {
            incarnation: writer,
            fence,
            admission: Budget::new(config.max_inflight_bytes),
            config,
            meta,
            clock,
            writer: writer_tx,
            sticky: StickyPartitioner::default(),
            stats,
            reader,
            stopping: AtomicBool::new(false),
            cancel,
            tasks: Mutex::new(vec![writer_task, shipper]),
        }))
    }

    /// Returns this process's writer incarnation.
    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// Returns the reader of what this node shipped.
    pub fn hot_reader(&self) -> HotReader {
        self.reader.clone()
    }

    /// Returns the write path's counters.
    pub fn stats(&self) -> Arc<IngestStats> {
        self.stats.clone()
    }

    /// Validates, partitions and stages `records` for `topic`, and acknowledges per `acks`.
    /// The whole request is accepted or none of it is. A request with a `key` (from its
    /// `Idempotency-Key`) is stored once however often it is sent, to this node or any other,
    /// within the quorum's window: a repeat is answered with the first copy's offsets, or
    /// refused if its content differs.
    pub async fn produce(
        &self,
        topic: &str,
        records: Vec<ProduceRecord>,
        acks: Acks,
        key: Option<RequestKey>,
    ) -> Result<Vec<ProducedOffset>, IngestError> {
        self.ready()?;
        if records.is_empty() {
            return Err(IngestError::BadRequest(
                "the request has no records".to_string(),
            ));
        }
        let info = self.meta.topic(topic).await?;
        for (index, r) in records.iter().enumerate() {
            check_record(&info, index, r)?;
        }
        self.stage(&info, records, acks, key).await
    }

    /// Like [`Ingestor::produce`], but each record that fails its checks ([`check_record`]) is
    /// refused alone and the rest are stored, as the REST Proxy's v2 API answers: one result
    /// per record, in request order. A commit that times out is each stored record's
    /// (retriable) error. `partition` is the route's: a partition the topic does not have
    /// refuses the whole request.
    pub async fn produce_each(
        &self,
        topic: &str,
        partition: Option<u32>,
        records: Vec<ProduceRecord>,
        acks: Acks,
        key: Option<RequestKey>,
    ) -> Result<Vec<Result<ProducedOffset, IngestError>>, IngestError> {
        self.ready()?;
        let info = self.meta.topic(topic).await?;
        if let Some(p) = partition
            && p >= info.partitions
        {
            return Err(IngestError::Meta(MetaError::PartitionNotFound {
                topic: info.name.clone(),
                partition: p,
                partitions: info.partitions,
            }));
        }
        let mut refused = Vec::with_capacity(records.len());
        let mut accepted = Vec::with_capacity(records.len());
        for (index, r) in records.into_iter().enumerate() {
            match check_record(&info, index, &r) {
                Ok(()) => {
                    refused.push(None);
                    accepted.push(r);
                }
                Err(e) => refused.push(Some(e)),
            }
        }
        let count = accepted.len();
        let stored: Vec<Result<ProducedOffset, IngestError>> = if accepted.is_empty() {
            Vec::new()
        } else {
            match self.stage(&info, accepted, acks, key).await {
                Ok(offsets) => offsets.into_iter().map(Ok).collect(),
                Err(IngestError::CommitTimeout { secs }) => (0..count)
                    .map(|_| Err(IngestError::CommitTimeout { secs }))
                    .collect(),
                Err(e) => return Err(e),
            }
        };
        let mut stored = stored.into_iter();
        refused
            .into_iter()
            .map(|r| match r {
                Some(e) => Ok(Err(e)),
                None => stored.next().ok_or_else(|| {
                    IngestError::Meta(MetaError::Internal {
                        reason: "fewer offsets than records stored".into(),
                    })
                }),
            })
            .collect()
    }

    fn ready(&self) -> Result<(), IngestError> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(IngestError::ShuttingDown);
        }
        if let Some(reason) = self.fence.reason() {
            return Err(IngestError::Fenced(reason.to_string()));
        }
        Ok(())
    }

    /// Partitions, encodes and stages records already checked against `info`, and
    /// acknowledges per `acks`.
    async fn stage(
        &self,
        info: &TopicInfo,
        records: Vec<ProduceRecord>,
        acks: Acks,
        key: Option<RequestKey>,
    ) -> Result<Vec<ProducedOffset>, IngestError> {
        let topic = info.name.as_str();
        let now = self.clock.now_ms();
        let (batches, placement) = self.encode(info, records, now, key)?;
        let size: u64 = batches.iter().map(|b| b.frame.len() as u64).sum();
        let raw: u64 = batches.iter().map(|b| b.raw_bytes).sum();
        let count = placement.len() as u64;
        if size > self.config.max_inflight_bytes {
            return Err(IngestError::RequestTooLarge {
                size,
                limit: self.config.max_inflight_bytes,
            });
        }
        let permit = self
            .admission
            .try_take(size)
            .map_err(|_| IngestError::Overloaded {
                limit: self.config.max_inflight_bytes,
            })?;
        let partitions: Vec<PartitionId> = batches.iter().map(|b| b.header.partition).collect();
        let (reply, appended) = oneshot::channel();
        self.writer
            .send(WriterMsg::Append {
                batches,
                acks,
                permit: Some(permit),
                key,
                reply,
            })
            .await
            .map_err(|_| IngestError::ShuttingDown)?;
        let appended = appended.await.map_err(|_| IngestError::ShuttingDown)??;
        IngestStats::add(&self.stats.records, count);
        IngestStats::add(&self.stats.raw_bytes, raw);
        let Some(commit) = appended.commit else {
            return Ok(placement
                .iter()
                .map(|(b, _)| ProducedOffset {
                    partition: partitions[*b],
                    offset: None,
                })
                .collect());
        };
        let offsets = match tokio::time::timeout(self.config.commit_timeout, commit).await {
            Err(_) => {
                return Err(IngestError::CommitTimeout {
                    secs: self.config.commit_timeout.as_secs(),
                });
            }
            Ok(Err(_)) | Ok(Ok(Err(FlushError::ShuttingDown))) => {
                return Err(IngestError::ShuttingDown);
            }
            Ok(Ok(Err(FlushError::Fenced(reason)))) => return Err(IngestError::Fenced(reason)),
            Ok(Ok(Err(FlushError::Unknown))) => {
                return Err(IngestError::Meta(MetaError::Internal {
                    reason: "commit outcome unknown".to_string(),
                }));
            }
            Ok(Ok(Ok(o))) => o,
        };
        if let Some(replayed) = appended.request.and_then(|no| offsets.replays.get(&no)) {
            // A copy of this request was committed before: answer with its offsets.
            let Replayed::Original(bases) = replayed else {
                return Err(IngestError::IdempotencyConflict);
            };
            return placement
                .iter()
                .map(|(b, i)| match bases.get(*b) {
                    Some((p, base)) if *p == partitions[*b] && bases.len() == partitions.len() => {
                        Ok(ProducedOffset {
                            partition: *p,
                            offset: Some(base.plus(*i)),
                        })
                    }
                    _ => Err(IngestError::IdempotencyConflict),
                })
                .collect();
        }
        placement
            .iter()
            .map(|(b, i)| {
                let offset = offsets
                    .offset((info.id, partitions[*b]), appended.positions[*b] + *i)
                    .ok_or_else(|| IngestError::TopicDeleted {
                        topic: topic.to_string(),
                    })?;
                Ok(ProducedOffset {
                    partition: partitions[*b],
                    offset: Some(offset),
                })
            })
            .collect()
    }

    /// Encodes one batch per partition. Returns the batches and, per record in
    /// request order, `(batch index, position in batch)`.
    #[allow(clippy::type_complexity)]
    fn encode(
        &self,
        info: &TopicInfo,
        records: Vec<ProduceRecord>,
        now: i64,
        key: Option<RequestKey>,
    ) -> Result<(Vec<EncodedBatch>, Vec<(usize, u64)>), IngestError> {
        let c = &info.config;
        let mut sticky = None;
        let mut by_partition: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
        let mut placement = Vec::with_capacity(records.len());
        for r in records {
            let partition = match (r.partition, &r.record.key) {
                (Some(p), _) => p,
                (None, Some(k)) => partition_for_key(k, info.partitions),
                (None, None) => *sticky.get_or_insert_with(|| match key {
                    // A retried request must land where its first copy did.
                    Some(k) => (k.id % u128::from(info.partitions.max(1))) as u32,
                    None => self.sticky.next(&info.name, info.partitions),
                }),
            };
            let mut record = r.record;
            record.timestamp = r.timestamp.unwrap_or(now);
            let batch = by_partition.entry(partition).or_default();
            placement.push((partition, batch.len() as u64));
            batch.push(record);
        }
        let mut batch_index = BTreeMap::new();
        let mut batches = Vec::with_capacity(by_partition.len());
        for (p, records) in by_partition {
            batch_index.insert(p, batches.len());
            batches.push(encode_batch(
                info.id,
                PartitionId(p),
                UNASSIGNED,
                &records,
                None,
                c.compression,
            )?);
        }
        let placement = placement
            .into_iter()
            .map(|(p, i)| (batch_index[&p], i))
            .collect();
        Ok((batches, placement))
    }

    /// Seals what is staged now and waits until it, and every flush sealed before it, is
    /// committed (or `timeout` passes). Returns whether everything accepted before the call is
    /// committed.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let (reply, rx) = oneshot::channel();
        if self.writer.send(WriterMsg::Flush { reply }).await.is_err() {
            return false;
        }
        let waiter: Option<oneshot::Receiver<FlushResult>> = match rx.await {
            Ok(w) => w,
            Err(_) => return false,
        };
        match waiter {
            None => true,
            Some(w) => matches!(tokio::time::timeout(timeout, w).await, Ok(Ok(Ok(_)))),
        }
    }

    /// Stops taking records, seals and ships what is staged (waiting up to `drain`), then
    /// stops the writer and shipper. What could not be shipped stays in the hot tier for the
    /// next start.
    pub async fn shutdown(&self, drain: Duration) {
        self.stopping.store(true, Ordering::Release);
        let _ = self.writer.send(WriterMsg::Shutdown).await;
        let tasks = std::mem::take(&mut *self.tasks.lock().await);
        let all = futures::future::join_all(tasks);
        tokio::pin!(all);
        tokio::select! {
            _ = &mut all => {}
            _ = tokio::time::sleep(drain) => {
                warn!(?drain, "not everything was shipped in time; the rest ships at the next start");
                self.cancel.cancel();
                all.await;
            }
        }
        self.cancel.cancel();
    }

    /// Stops this write path at once, as a crash would: the writer and shipper end at their
    /// next await, nothing staged is sealed, nothing more is committed, and requests waiting for
    /// an answer get none. For the simulator; a node stops with [`Ingestor::shutdown`].
    pub fn kill(&self) {
        self.stopping.store(true, Ordering::Release);
        self.cancel.cancel();
        if let Ok(tasks) = self.tasks.try_lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }

    /// Why this process was fenced, once it was. It writes nothing more; its process should stop
    /// so that whichever process next runs on the data directory ships what it staged (the
    /// server does; the simulator plays the supervisor that restarts it).
    pub fn fenced(&self) -> Option<String> {
        self.fence.reason().map(str::to_string)
    }

    /// Returns whether the node has stopped taking records.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// Checks one record (at `index` of its request) against its topic: size under
/// `max.message.bytes`, a key on compacted topics, an existing explicit partition.
/// [`Ingestor::produce`] refuses a request when one record fails it,
/// [`Ingestor::produce_each`] refuses that record alone.
pub fn check_record(info: &TopicInfo, index: usize, r: &ProduceRecord) -> Result<(), IngestError> {
    let c = &info.config;
    let size = r.record.size() as u64;
    if size > c.max_message_bytes {
        return Err(IngestError::RecordTooLarge {
            index,
            size,
            limit: c.max_message_bytes,
        });
    }
    if c.cleanup_policy.compact && r.record.key.is_none() {
        return Err(IngestError::KeyRequired {
            index,
            topic: info.name.clone(),
            policy: c.to_map()["cleanup.policy"].clone(),
        });
    }
    if let Some(p) = r.partition
        && p >= info.partitions
    {
        return Err(IngestError::Meta(MetaError::PartitionNotFound {
            topic: info.name.clone(),
            partition: p,
            partitions: info.partitions,
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
