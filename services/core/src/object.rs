//! Shipped objects: the batches of many partitions, grouped by partition, with a footer index.
//!
//! ```text
//! object  := section* footer_frame trailer
//! section := batch_frame*                     (all batches of one partition, in order)
//! footer  := writer u64 | seq u64 | created_ms i64 | count u32 | entry*     (in a frame: CRC'd)
//! entry   := topic_id u64 | partition u32 | start u64 | len u64 | record_count u64
//!            | batch_count u32 | min_ts i64 | max_ts i64 | base_offset i64
//! trailer := footer_frame_len u32 | version u32 | magic "STRATAOB"          (16 bytes)
//! ```
//!
//! Readers normally never touch the footer: the quorum's extent names the byte range of a
//! section. The footer makes an object self-describing for recovery, GC and verification.

use bytes::Bytes;

use crate::batch::{EncodedBatch, UNASSIGNED, decode_batch};
use crate::error::FormatError;
use crate::frame::{FrameRead, decode_frame, encode_frame, frames};
use crate::ids::{Incarnation, Offset, PartitionId, TopicId};
use crate::record::StoredRecord;
use crate::varint::Reader;

/// Magic bytes ending every object.
pub const OBJECT_MAGIC: &[u8; 8] = b"STRATAOB";
/// Current object format version.
pub const OBJECT_VERSION: u32 = 1;
/// Bytes of the fixed trailer.
pub const TRAILER_LEN: usize = 16;

/// One partition's section of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// Topic incarnation.
    pub topic_id: TopicId,
    /// Partition.
    pub partition: PartitionId,
    /// Byte offset of the section in the object.
    pub start: u64,
    /// Byte length of the section.
    pub len: u64,
    /// Records in the section.
    pub record_count: u64,
    /// Batches in the section.
    pub batch_count: u32,
    /// Smallest record timestamp.
    pub min_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Absolute offset of the first record, or [`UNASSIGNED`] for ingest objects.
    pub base_offset: i64,
}

/// The decoded footer of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFooter {
    /// Writer incarnation of the process that wrote the object.
    pub node: Incarnation,
    /// The writer's flush sequence number, or the compactor's job number.
    pub seq: u64,
    /// When the object was sealed (ms since epoch).
    pub created_ms: i64,
    /// Sections in byte order.
    pub sections: Vec<Section>,
}

/// Builds an object from batches pushed grouped by partition.
#[derive(Debug)]
pub struct ObjectBuilder {
    buf: Vec<u8>,
    footer: ObjectFooter,
}

impl ObjectBuilder {
    /// Starts an object for writer `node`'s flush `seq`.
    pub fn new(node: Incarnation, seq: u64, created_ms: i64, capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity + 256),
            footer: ObjectFooter {
                node,
                seq,
                created_ms,
                sections: Vec::new(),
            },
        }
    }

    /// Appends a batch. Batches of one partition must be pushed together; a partition that
    /// comes back after another one is an error.
    pub fn push(&mut self, batch: &EncodedBatch) -> Result<(), FormatError> {
        let h = &batch.header;
        let start = self.buf.len() as u64;
        let same = self
            .footer
            .sections
            .last()
            .is_some_and(|s| s.topic_id == h.topic_id && s.partition == h.partition);
        if !same {
            if self
                .footer
                .sections
                .iter()
                .any(|s| s.topic_id == h.topic_id && s.partition == h.partition)
            {
                return Err(FormatError::corrupt(
                    "object",
                    "batches of one partition must be contiguous",
                ));
            }
            self.footer.sections.push(Section {
                topic_id: h.topic_id,
                partition: h.partition,
                start,
                len: 0,
                record_count: 0,
                batch_count: 0,
                min_timestamp: h.min_timestamp,
                max_timestamp: h.max_timestamp,
                base_offset: h.base_offset,
            });
        }
        let s = self.footer.sections.last_mut().expect("pushed above");
        s.len += batch.frame.len() as u64;
        s.record_count += u64::from(h.record_count);
        s.batch_count += 1;
        s.min_timestamp = s.min_timestamp.min(h.min_timestamp);
        s.max_timestamp = s.max_timestamp.max(h.max_timestamp);
        self.buf.extend_from_slice(&batch.frame);
        Ok(())
    }

    /// Returns the sections pushed so far.
    pub fn sections(&self) -> &[Section] {
        &self.footer.sections
    }

    /// Writes the footer and trailer and returns the object bytes and its sections.
    pub fn finish(mut self) -> (Bytes, Vec<Section>) {
        let f = &self.footer;
        let mut body = Vec::with_capacity(28 + f.sections.len() * 68);
        body.extend_from_slice(&f.node.0.to_le_bytes());
        body.extend_from_slice(&f.seq.to_le_bytes());
        body.extend_from_slice(&f.created_ms.to_le_bytes());
        body.extend_from_slice(&(f.sections.len() as u32).to_le_bytes());
        for s in &f.sections {
            body.extend_from_slice(&s.topic_id.0.to_le_bytes());
            body.extend_from_slice(&s.partition.0.to_le_bytes());
            body.extend_from_slice(&s.start.to_le_bytes());
            body.extend_from_slice(&s.len.to_le_bytes());
            body.extend_from_slice(&s.record_count.to_le_bytes());
            body.extend_from_slice(&s.batch_count.to_le_bytes());
            body.extend_from_slice(&s.min_timestamp.to_le_bytes());
            body.extend_from_slice(&s.max_timestamp.to_le_bytes());
            body.extend_from_slice(&s.base_offset.to_le_bytes());
        }
        let before = self.buf.len();
        encode_frame(&body, &mut self.buf);
        let footer_len = (self.buf.len() - before) as u32;
        self.buf.extend_from_slice(&footer_len.to_le_bytes());
        self.buf.extend_from_slice(&OBJECT_VERSION.to_le_bytes());
        self.buf.extend_from_slice(OBJECT_MAGIC);
        (Bytes::from(self.buf), self.footer.sections)
    }
}

/// Reads the footer of a whole object.
pub fn read_footer(object: &[u8]) -> Result<ObjectFooter, FormatError> {
    if object.len() < TRAILER_LEN {
        return Err(FormatError::Truncated {
            what: "object",
            at: object.len() as u64,
        });
    }
    let trailer = &object[object.len() - TRAILER_LEN..];
    let mut t = Reader::new(trailer, "object trailer");
    let footer_len = t.u32()? as usize;
    let version = t.u32()?;
    if t.bytes(8)? != OBJECT_MAGIC {
        return Err(FormatError::corrupt("object", "missing magic"));
    }
    if version != OBJECT_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what: "object",
            version,
        });
    }
    let footer_end = object.len() - TRAILER_LEN;
    let footer_start = footer_end
        .checked_sub(footer_len)
        .ok_or_else(|| FormatError::corrupt("object", "footer longer than the object"))?;
    let body = match decode_frame(&object[footer_start..footer_end])
        .map_err(|e| e.at(footer_start as u64))?
    {
        FrameRead::Frame { body, len } if len == footer_len => body,
        _ => {
            return Err(FormatError::corrupt(
                "object",
                "footer frame length mismatch",
            ));
        }
    };
    let mut r = Reader::new(body, "object footer");
    let node = Incarnation(r.u64()?);
    let seq = r.u64()?;
    let created_ms = r.i64()?;
    let count = r.u32()? as usize;
    let mut sections = Vec::with_capacity(count.min(body.len() / 68 + 1));
    for _ in 0..count {
        let s = Section {
            topic_id: TopicId(r.u64()?),
            partition: PartitionId(r.u32()?),
            start: r.u64()?,
            len: r.u64()?,
            record_count: r.u64()?,
            batch_count: r.u32()?,
            min_timestamp: r.i64()?,
            max_timestamp: r.i64()?,
            base_offset: r.i64()?,
        };
        if s.start
            .checked_add(s.len)
            .is_none_or(|end| end > footer_start as u64)
        {
            return Err(FormatError::corrupt("object", "section outside the object"));
        }
        sections.push(s);
    }
    Ok(ObjectFooter {
        node,
        seq,
        created_ms,
        sections,
    })
}

/// Decodes the records of one section (or extent) whose first record has offset `base`.
///
/// Batches with an assigned `base_offset` carry absolute offsets; the others are numbered by
/// position from `base`. Every frame's CRC is checked: a bad byte is an error, never data.
pub fn decode_section(bytes: &[u8], base: Offset) -> Result<Vec<StoredRecord>, FormatError> {
    decode_section_from(bytes, base, Offset(i64::MIN), usize::MAX)
}

/// Decodes at most `limit` records with offsets from `from` on, of a section (or extent) whose
/// first record has offset `base`. Batches that end before `from` are skipped without being
/// decompressed, and decoding stops once `limit` records are found, so a reader of a large
/// merged segment pays for what it returns. Every frame's CRC is still checked.
pub fn decode_section_from(
    bytes: &[u8],
    base: Offset,
    from: Offset,
    limit: usize,
) -> Result<Vec<StoredRecord>, FormatError> {
    let bodies = frames(bytes).collect::<Result<Vec<&[u8]>, _>>()?;
    let headers = bodies
        .iter()
        .map(|b| crate::batch::decode_header(b))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    let mut next = base;
    for (i, body) in bodies.iter().enumerate() {
        if out.len() >= limit {
            break;
        }
        let h = &headers[i];
        let skip = if h.base_offset == UNASSIGNED {
            let end = next.plus(u64::from(h.record_count));
            let skip = end <= from;
            if skip {
                next = end;
            }
            skip
        } else {
            headers
                .get(i + 1)
                .is_some_and(|n| n.base_offset != UNASSIGNED && n.base_offset <= from.0)
        };
        if skip {
            continue;
        }
        let batch = decode_batch(body)?;
        let assigned = batch.header.base_offset != UNASSIGNED;
        for (delta, record) in batch.records {
            let offset = if assigned {
                Offset(batch.header.base_offset + delta as i64)
            } else {
                next
            };
            next = offset.plus(1);
            if offset >= from && out.len() < limit {
                out.push(StoredRecord { offset, record });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
