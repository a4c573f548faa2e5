//! Hot-tier marker frames, interleaved with batch frames in the same log.
//!
//! A marker body is `kind u8 | version u8 | seq u64 | batch_count u32 | writer u64` (version 1
//! had no writer: its flushes belong to the data directory's node id). A **seal** marker closes
//! a flush: every batch frame since the previous seal belongs to flush `seq` of writer
//! incarnation `writer`, and `batch_count` says how many there are. It is fsync'd before the
//! flush's object is uploaded, so a restarted node rebuilds exactly the same object under the
//! same key. A **commit** marker records that the quorum sequenced that flush; it is a hint (not
//! fsync'd): the quorum's last committed flush of the writer is the authority.

use strata_core::error::FormatError;
use strata_core::frame::encode_frame;
use strata_core::ids::{FlushSeq, Incarnation};
use strata_core::meta::idempotency::RequestKey;
use strata_core::varint::Reader;

/// Frame kind of a seal marker.
pub const KIND_SEAL: u8 = 2;
/// Frame kind of a commit marker.
pub const KIND_COMMIT: u8 = 3;
/// Frame kind of a request marker.
pub const KIND_REQUEST: u8 = 4;
const VERSION: u8 = 2;

/// A marker in the hot-tier log. `writer` is `None` in markers written before writer
/// incarnations existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// Flush `seq` of `writer` holds the `batches` batch frames since the previous seal.
    Seal {
        seq: FlushSeq,
        batches: u32,
        writer: Option<Incarnation>,
    },
    /// Flush `seq` of `writer` is committed.
    Commit {
        seq: FlushSeq,
        writer: Option<Incarnation>,
    },
    /// The next `batches` batch frames are one request (written in the same write, before
    /// them): a request is replayed whole or not at all, and keeps its `Idempotency-Key`.
    Request {
        batches: u32,
        key: Option<RequestKey>,
    },
}

impl Marker {
    /// Encodes the marker as a whole frame.
    pub fn encode(self) -> Vec<u8> {
        if let Marker::Request { batches, key } = self {
            // kind | version | batches u32 | has_key u8 | [id u128 | fingerprint u64]
            let mut body = Vec::with_capacity(31);
            body.push(KIND_REQUEST);
            body.push(1);
            body.extend_from_slice(&batches.to_le_bytes());
            body.push(u8::from(key.is_some()));
            if let Some(k) = key {
                body.extend_from_slice(&k.id.to_le_bytes());
                body.extend_from_slice(&k.fingerprint.to_le_bytes());
            }
            let mut frame = Vec::with_capacity(39);
            encode_frame(&body, &mut frame);
            return frame;
        }
        let (kind, seq, batches, writer) = match self {
            Marker::Seal {
                seq,
                batches,
                writer,
            } => (KIND_SEAL, seq, batches, writer),
            Marker::Commit { seq, writer } => (KIND_COMMIT, seq, 0, writer),
            Marker::Request { .. } => unreachable!("encoded above"),
        };
        let mut body = Vec::with_capacity(22);
        body.push(kind);
        body.push(if writer.is_some() { VERSION } else { 1 });
        body.extend_from_slice(&seq.0.to_le_bytes());
        body.extend_from_slice(&batches.to_le_bytes());
        if let Some(w) = writer {
            body.extend_from_slice(&w.0.to_le_bytes());
        }
        let mut frame = Vec::with_capacity(30);
        encode_frame(&body, &mut frame);
        frame
    }

    /// Decodes a marker frame body.
    pub fn decode(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body, "hot-tier marker");
        let kind = r.u8()?;
        let version = r.u8()?;
        if kind == KIND_REQUEST {
            if version != 1 {
                return Err(FormatError::UnsupportedVersion {
                    what: "hot-tier request marker",
                    version: version.into(),
                });
            }
            let batches = r.u32()?;
            let key = match r.u8()? {
                0 => None,
                _ => {
                    let lo = r.u64()?;
                    let hi = r.u64()?;
                    Some(RequestKey {
                        id: u128::from(lo) | (u128::from(hi) << 64),
                        fingerprint: r.u64()?,
                    })
                }
            };
            return Ok(Marker::Request { batches, key });
        }
        if version != 1 && version != VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: "hot-tier marker",
                version: version.into(),
            });
        }
        let seq = FlushSeq(r.u64()?);
        let batches = r.u32()?;
        let writer = if version >= 2 {
            Some(Incarnation(r.u64()?))
        } else {
            None
        };
        match kind {
            KIND_SEAL => Ok(Marker::Seal {
                seq,
                batches,
                writer,
            }),
            KIND_COMMIT => Ok(Marker::Commit { seq, writer }),
            other => Err(FormatError::Corrupt {
                what: "hot-tier marker",
                reason: format!("unknown kind {other}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
