//! Replay of the hot tier at start: rebuild the flushes exactly as they were sealed.

use bytes::Bytes;
use strata_core::batch::{BatchHeader, KIND_BATCH, decode_header};
use strata_core::frame::{FrameRead, decode_frame};
use strata_core::ids::{FlushSeq, Incarnation};
use tracing::error;

use super::Location;
use super::marker::{KIND_COMMIT, KIND_REQUEST, KIND_SEAL, Marker};
use strata_core::meta::idempotency::RequestKey;

/// A batch found in the hot tier.
#[derive(Debug, Clone)]
pub struct ReplayedBatch {
    /// Its header.
    pub header: BatchHeader,
    /// The whole frame, kept only while its flush may still need shipping.
    pub frame: Option<Bytes>,
    /// Where it is.
    pub loc: Location,
    /// The keyed request it belongs to: a number unique in this replay, and the key.
    pub request: Option<(u64, RequestKey)>,
}

/// A sealed flush found in the hot tier.
#[derive(Debug, Clone)]
pub struct ReplayedFlush {
    /// The writer incarnation that sealed it (it names the object).
    pub writer: Incarnation,
    /// Its sequence number.
    pub seq: FlushSeq,
    /// Its batches in log order.
    pub batches: Vec<ReplayedBatch>,
    /// A commit marker was found for it.
    pub committed: bool,
}

/// What the hot tier held.
#[derive(Debug, Default)]
pub struct Replay {
    /// Sealed flushes in sequence order.
    pub flushes: Vec<ReplayedFlush>,
    /// Batches after the last seal, in log order: they go into the next flush.
    pub unsealed: Vec<ReplayedBatch>,
    /// Highest sequence number in any marker (commit markers may outlive their seals).
    max_marker_seq: Option<FlushSeq>,
    /// Keyed requests numbered by the replay (1..=this); new ones are numbered after.
    pub requests: u64,
}

impl Replay {
    /// Returns `(segment, flush)` for every segment holding a batch of a flush.
    pub(crate) fn segment_flushes(&self) -> impl Iterator<Item = (u64, FlushSeq)> + '_ {
        self.flushes
            .iter()
            .flat_map(|f| f.batches.iter().map(move |b| (b.loc.segment, f.seq)))
    }

    /// Returns the highest flush sequence number any marker names: new flushes of this data
    /// directory are numbered after it.
    pub fn max_seq(&self) -> Option<FlushSeq> {
        self.flushes
            .iter()
            .map(|f| f.seq)
            .max()
            .max(self.max_marker_seq)
    }

    /// Returns the writers of the sealed flushes that carry no commit marker (the quorum may
    /// not have committed them): a restarted process adopts them when it registers.
    pub fn pending_writers(&self) -> std::collections::BTreeSet<Incarnation> {
        self.flushes
            .iter()
            .filter(|f| !f.committed)
            .map(|f| f.writer)
            .collect()
    }
}

/// A keyed request's number and key.
pub(super) type RequestTag = (u64, RequestKey);

/// A request being read: batches still expected, its tag, the batches read so far.
type OpenRequest = (u32, Option<RequestTag>, Vec<ReplayedBatch>);

#[derive(Debug)]
pub(crate) struct Replayer {
    out: Replay,
    /// The writer of markers written before incarnations existed.
    legacy: Incarnation,
    /// The request whose batches are being read: batches still expected, its tag, its batches.
    request: Option<OpenRequest>,
    requests: u64,
}

impl Replayer {
    /// A replayer attributing markers without a writer to `legacy`.
    pub(crate) fn new(legacy: Incarnation) -> Self {
        Self {
            out: Replay::default(),
            legacy,
            request: None,
            requests: 0,
        }
    }

    /// A request whose batches did not all make it to disk (a torn write) is dropped whole:
    /// it was never acknowledged, and half of it must not be stored.
    fn drop_torn_request(&mut self, segment: u64) {
        if let Some((missing, _, found)) = self.request.take() {
            error!(
                segment,
                found = found.len(),
                missing,
                "dropping a request the hot tier holds only part of (torn write)"
            );
        }
    }

    /// Reads one segment; returns the length of its valid prefix.
    pub(crate) fn segment(&mut self, id: u64, bytes: &[u8], is_last: bool) -> u64 {
        let mut pos = 0usize;
        while pos < bytes.len() {
            let (body, len) = match decode_frame(&bytes[pos..]) {
                Ok(FrameRead::Frame { body, len }) => (body, len),
                Ok(FrameRead::Incomplete) => break,
                Err(e) => {
                    if !is_last {
                        error!(segment = id, at = pos, error = %e, "corrupt frame inside a sealed hot-tier segment");
                    }
                    break;
                }
            };
            let loc = Location {
                segment: id,
                offset: pos as u64,
                len: len as u32,
            };
            match body.first().copied() {
                Some(KIND_BATCH) => match decode_header(body) {
                    Ok(header) => {
                        let mut batch = ReplayedBatch {
                            header,
                            frame: Some(Bytes::copy_from_slice(&bytes[pos..pos + len])),
                            loc,
                            request: None,
                        };
                        match self.request.as_mut() {
                            Some((missing, tag, found)) => {
                                batch.request = *tag;
                                found.push(batch);
                                *missing -= 1;
                                if *missing == 0 {
                                    let (_, _, found) = self.request.take().expect("just seen");
                                    self.out.unsealed.extend(found);
                                }
                            }
                            None => self.out.unsealed.push(batch),
                        }
                    }
                    Err(e) => {
                        error!(segment = id, at = pos, error = %e, "unreadable batch header in the hot tier");
                        break;
                    }
                },
                Some(KIND_SEAL | KIND_COMMIT | KIND_REQUEST) => match Marker::decode(body) {
                    Ok(Marker::Request { batches, key }) => {
                        self.drop_torn_request(id);
                        let tag = key.map(|k| {
                            self.requests += 1;
                            (self.requests, k)
                        });
                        if batches > 0 {
                            self.request = Some((batches, tag, Vec::new()));
                        }
                    }
                    Ok(Marker::Seal {
                        seq,
                        batches,
                        writer,
                    }) => {
                        self.drop_torn_request(id);
                        self.out.max_marker_seq = self.out.max_marker_seq.max(Some(seq));
                        let found = std::mem::take(&mut self.out.unsealed);
                        if found.len() != batches as usize {
                            error!(
                                flush = %seq,
                                sealed = batches,
                                found = found.len(),
                                "a hot-tier flush lost batches; shipping what is left"
                            );
                        }
                        self.out.flushes.push(ReplayedFlush {
                            writer: writer.unwrap_or(self.legacy),
                            seq,
                            batches: found,
                            committed: false,
                        });
                    }
                    Ok(Marker::Commit { seq, writer }) => {
                        self.out.max_marker_seq = self.out.max_marker_seq.max(Some(seq));
                        let writer = writer.unwrap_or(self.legacy);
                        if let Some(f) = self
                            .out
                            .flushes
                            .iter_mut()
                            .find(|f| f.seq == seq && f.writer == writer)
                        {
                            f.committed = true;
                            for b in &mut f.batches {
                                b.frame = None;
                            }
                        }
                    }
                    Err(e) => {
                        error!(segment = id, at = pos, error = %e, "unreadable hot-tier marker");
                        break;
                    }
                },
                other => {
                    error!(segment = id, at = pos, kind = ?other, "unknown frame kind in the hot tier");
                    break;
                }
            }
            pos += len;
        }
        // One write never spans segments: a request still missing batches here was torn.
        self.drop_torn_request(id);
        pos as u64
    }

    pub(crate) fn finish(mut self) -> Replay {
        self.out.flushes.sort_by_key(|f| f.seq);
        self.out.requests = self.requests;
        self.out
    }
}
