//! Hot-tier marker frames, interleaved with batch frames in the same log.
//!
//! A marker body is `kind u8 | version u8 | seq u64 | batch_count u32`. A **seal** marker
//! closes a flush: every batch frame since the previous seal belongs to flush `seq`, and
//! `batch_count` says how many there are. It is fsync'd before the flush's object is uploaded,
//! so a restarted node rebuilds exactly the same object under the same key. A **commit** marker
//! records that the quorum sequenced flush `seq`; it is a hint (not fsync'd): the quorum's last
//! committed flush of this node is the authority.

use strata_core::error::FormatError;
use strata_core::frame::encode_frame;
use strata_core::ids::FlushSeq;
use strata_core::varint::Reader;

/// Frame kind of a seal marker.
pub const KIND_SEAL: u8 = 2;
/// Frame kind of a commit marker.
pub const KIND_COMMIT: u8 = 3;
const VERSION: u8 = 1;

/// A marker in the hot-tier log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// Flush `seq` holds the `batches` batch frames since the previous seal.
    Seal { seq: FlushSeq, batches: u32 },
    /// Flush `seq` is committed.
    Commit { seq: FlushSeq },
}

impl Marker {
    /// Encodes the marker as a whole frame.
    pub fn encode(self) -> Vec<u8> {
        let (kind, seq, batches) = match self {
            Marker::Seal { seq, batches } => (KIND_SEAL, seq, batches),
            Marker::Commit { seq } => (KIND_COMMIT, seq, 0),
        };
        let mut body = Vec::with_capacity(14);
        body.push(kind);
        body.push(VERSION);
        body.extend_from_slice(&seq.0.to_le_bytes());
        body.extend_from_slice(&batches.to_le_bytes());
        let mut frame = Vec::with_capacity(22);
        encode_frame(&body, &mut frame);
        frame
    }

    /// Decodes a marker frame body.
    pub fn decode(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body, "hot-tier marker");
        let kind = r.u8()?;
        let version = r.u8()?;
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: "hot-tier marker",
                version: version.into(),
            });
        }
        let seq = FlushSeq(r.u64()?);
        let batches = r.u32()?;
        match kind {
            KIND_SEAL => Ok(Marker::Seal { seq, batches }),
            KIND_COMMIT => Ok(Marker::Commit { seq }),
            other => Err(FormatError::Corrupt {
                what: "hot-tier marker",
                reason: format!("unknown kind {other}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use strata_core::frame::{FrameRead, decode_frame};

    use super::*;

    #[test]
    fn markers_round_trip() {
        for m in [
            Marker::Seal {
                seq: FlushSeq(7),
                batches: 3,
            },
            Marker::Commit { seq: FlushSeq(9) },
        ] {
            let frame = m.encode();
            let FrameRead::Frame { body, .. } = decode_frame(&frame).expect("valid") else {
                panic!("incomplete")
            };
            assert_eq!(Marker::decode(body).expect("decodes"), m);
        }
    }
}
