//! Record batches: the unit stored in the hot tier and in objects.
//!
//! A batch is one [frame](crate::frame) whose body is a fixed 48-byte header followed by the
//! (optionally zstd-compressed) records:
//!
//! ```text
//! header: kind u8 = 1 | version u8 = 1 | compression u8 | reserved u8 | partition u32
//!         | topic_id u64 | base_offset i64 | record_count u32 | uncompressed_len u32
//!         | min_timestamp i64 | max_timestamp i64                      (little-endian)
//! record: offset_delta uvarint | timestamp_delta varint (from min_timestamp)
//!         | key_len varint (-1 = none) | key | value_len varint (-1 = tombstone) | value
//!         | header_count uvarint | (name_len uvarint | name | value_len uvarint | value)*
//! ```
//!
//! `base_offset` is [`UNASSIGNED`] in batches written by ingest nodes: their offsets are
//! assigned by the quorum at commit time, by position within the extent. Batches rewritten by
//! the compactor carry absolute offsets (`base_offset + offset_delta`).

use bytes::Bytes;

use crate::error::FormatError;
use crate::frame::encode_frame;
use crate::ids::{PartitionId, TopicId};
use crate::record::{Header, Record};
use crate::varint::{Reader, put_uvarint, put_varint};

/// Frame kind of a record batch (the first byte of the body).
pub const KIND_BATCH: u8 = 1;
/// Current batch format version.
pub const BATCH_VERSION: u8 = 1;
/// Bytes taken by the batch header inside the frame body.
pub const BATCH_HEADER_LEN: usize = 48;
/// `base_offset` of a batch whose offsets are assigned at commit.
pub const UNASSIGNED: i64 = -1;
/// Refuses decompressed payloads larger than this (a corrupted length or a zip bomb).
pub const MAX_UNCOMPRESSED: usize = 256 * 1024 * 1024;

const COMPRESSION_NONE: u8 = 0;
const COMPRESSION_ZSTD: u8 = 1;

/// The fixed header of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Topic incarnation the batch belongs to.
    pub topic_id: TopicId,
    /// Partition the batch belongs to.
    pub partition: PartitionId,
    /// Absolute offset of delta 0, or [`UNASSIGNED`].
    pub base_offset: i64,
    /// Number of records.
    pub record_count: u32,
    /// Smallest record timestamp.
    pub min_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
}

/// A batch encoded as a whole frame, ready to append or to place in an object.
#[derive(Debug, Clone)]
pub struct EncodedBatch {
    /// The header values, for indexing without decoding.
    pub header: BatchHeader,
    /// The complete frame (`[length][crc32c][header][payload]`).
    pub frame: Bytes,
    /// Sum of [`Record::size`] over the records, before compression.
    pub raw_bytes: u64,
}

/// Byte position of `base_offset` in a batch body.
const BASE_OFFSET_AT: usize = 16;

/// Returns the batch `body` framed again with its `base_offset` set to `base`, without touching
/// its records: how the compactor gives an ingest batch (offsets by position) absolute offsets
/// without decompressing it. Its records' deltas must count 0, 1, 2, ... (ingest batches do).
pub fn with_base_offset(body: &[u8], base: i64) -> Result<EncodedBatch, FormatError> {
    let mut header = decode_header(body)?;
    let mut patched = body.to_vec();
    patched[BASE_OFFSET_AT..BASE_OFFSET_AT + 8].copy_from_slice(&base.to_le_bytes());
    header.base_offset = base;
    let mut frame = Vec::with_capacity(body.len() + crate::frame::FRAME_PREFIX);
    encode_frame(&patched, &mut frame);
    Ok(EncodedBatch {
        header,
        frame: Bytes::from(frame),
        raw_bytes: 0,
    })
}

/// Encodes `records` as one batch frame. `offset_deltas` gives each record's delta from
/// `base_offset` (compactor output); `None` numbers them 0, 1, 2, ... `zstd_level` 0 stores
/// the payload uncompressed.
pub fn encode_batch(
    topic_id: TopicId,
    partition: PartitionId,
    base_offset: i64,
    records: &[Record],
    offset_deltas: Option<&[u64]>,
    zstd_level: i32,
) -> Result<EncodedBatch, FormatError> {
    if let Some(d) = offset_deltas
        && d.len() != records.len()
    {
        return Err(FormatError::corrupt(
            "batch",
            "one offset delta is needed per record",
        ));
    }
    let min_ts = records.iter().map(|r| r.timestamp).min().unwrap_or(0);
    let max_ts = records.iter().map(|r| r.timestamp).max().unwrap_or(0);
    let mut payload = Vec::with_capacity(records.iter().map(|r| r.size() + 8).sum());
    let mut raw_bytes = 0u64;
    for (i, r) in records.iter().enumerate() {
        raw_bytes += r.size() as u64;
        put_uvarint(&mut payload, offset_deltas.map_or(i as u64, |d| d[i]));
        put_varint(&mut payload, r.timestamp.wrapping_sub(min_ts));
        put_optional(&mut payload, r.key.as_deref());
        put_optional(&mut payload, r.value.as_deref());
        put_uvarint(&mut payload, r.headers.len() as u64);
        for h in &r.headers {
            put_uvarint(&mut payload, h.name.len() as u64);
            payload.extend_from_slice(h.name.as_bytes());
            put_uvarint(&mut payload, h.value.len() as u64);
            payload.extend_from_slice(&h.value);
        }
    }
    if payload.len() > MAX_UNCOMPRESSED {
        return Err(FormatError::corrupt(
            "batch",
            format!("payload of {} bytes is over the batch limit", payload.len()),
        ));
    }
    let (compression, stored) = if zstd_level > 0 {
        let compressed = zstd::bulk::compress(&payload, zstd_level)
            .map_err(|e| FormatError::corrupt("batch", format!("zstd compression failed: {e}")))?;
        if compressed.len() < payload.len() {
            (COMPRESSION_ZSTD, compressed)
        } else {
            (COMPRESSION_NONE, payload.clone())
        }
    } else {
        (COMPRESSION_NONE, payload.clone())
    };
    let header = BatchHeader {
        topic_id,
        partition,
        base_offset,
        record_count: records.len() as u32,
        min_timestamp: min_ts,
        max_timestamp: max_ts,
    };
    let mut body = Vec::with_capacity(BATCH_HEADER_LEN + stored.len());
    body.push(KIND_BATCH);
    body.push(BATCH_VERSION);
    body.push(compression);
    body.push(0);
    body.extend_from_slice(&partition.0.to_le_bytes());
    body.extend_from_slice(&topic_id.0.to_le_bytes());
    body.extend_from_slice(&base_offset.to_le_bytes());
    body.extend_from_slice(&header.record_count.to_le_bytes());
    body.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    body.extend_from_slice(&min_ts.to_le_bytes());
    body.extend_from_slice(&max_ts.to_le_bytes());
    body.extend_from_slice(&stored);
    let mut frame = Vec::with_capacity(body.len() + 8);
    encode_frame(&body, &mut frame);
    Ok(EncodedBatch {
        header,
        frame: Bytes::from(frame),
        raw_bytes,
    })
}

fn put_optional(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// Reads the header of a batch frame body without decompressing its records.
pub fn decode_header(body: &[u8]) -> Result<BatchHeader, FormatError> {
    Ok(parse_header(body)?.0)
}

fn parse_header(body: &[u8]) -> Result<(BatchHeader, u8, usize), FormatError> {
    let mut r = Reader::new(body, "batch header");
    let kind = r.u8()?;
    if kind != KIND_BATCH {
        return Err(FormatError::corrupt(
            "batch",
            format!("frame kind {kind} is not a record batch"),
        ));
    }
    let version = r.u8()?;
    if version != BATCH_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what: "batch",
            version: version.into(),
        });
    }
    let compression = r.u8()?;
    let _reserved = r.u8()?;
    let partition = PartitionId(r.u32()?);
    let topic_id = TopicId(r.u64()?);
    let base_offset = r.i64()?;
    let record_count = r.u32()?;
    let uncompressed_len = r.u32()? as usize;
    let min_timestamp = r.i64()?;
    let max_timestamp = r.i64()?;
    if uncompressed_len > MAX_UNCOMPRESSED {
        return Err(FormatError::corrupt(
            "batch",
            format!("claims {uncompressed_len} uncompressed bytes"),
        ));
    }
    let header = BatchHeader {
        topic_id,
        partition,
        base_offset,
        record_count,
        min_timestamp,
        max_timestamp,
    };
    Ok((header, compression, uncompressed_len))
}

/// A decoded batch: its header and its records with their offset deltas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBatch {
    /// The batch header.
    pub header: BatchHeader,
    /// `(offset_delta, record)` in stored order.
    pub records: Vec<(u64, Record)>,
}

/// Decodes a batch frame body (as returned by [`crate::frame::decode_frame`]).
pub fn decode_batch(body: &[u8]) -> Result<DecodedBatch, FormatError> {
    let (header, compression, uncompressed_len) = parse_header(body)?;
    let stored = &body[BATCH_HEADER_LEN..];
    let payload: Bytes = match compression {
        COMPRESSION_NONE => Bytes::copy_from_slice(stored),
        COMPRESSION_ZSTD => {
            let out = zstd::bulk::decompress(stored, uncompressed_len)
                .map_err(|e| FormatError::corrupt("batch", format!("zstd: {e}")))?;
            Bytes::from(out)
        }
        other => {
            return Err(FormatError::corrupt(
                "batch",
                format!("unknown compression {other}"),
            ));
        }
    };
    if payload.len() != uncompressed_len {
        return Err(FormatError::corrupt(
            "batch",
            format!(
                "payload is {} bytes, header says {uncompressed_len}",
                payload.len()
            ),
        ));
    }
    let mut r = Reader::new(&payload, "batch records");
    let mut records = Vec::with_capacity((header.record_count as usize).min(1 << 16));
    for _ in 0..header.record_count {
        let delta = r.uvarint()?;
        let timestamp = header.min_timestamp.wrapping_add(r.varint()?);
        let key = read_optional(&mut r, &payload)?;
        let value = read_optional(&mut r, &payload)?;
        let count = r.uvarint()?;
        if count > payload.len() as u64 {
            return Err(FormatError::corrupt(
                "batch",
                "header count past the payload",
            ));
        }
        let mut headers = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let n = r.len()?;
            let name = std::str::from_utf8(r.bytes(n)?)
                .map_err(|_| FormatError::corrupt("batch", "header name is not utf-8"))?
                .to_string();
            let n = r.len()?;
            let start = r.pos();
            r.bytes(n)?;
            headers.push(Header {
                name,
                value: payload.slice(start..start + n),
            });
        }
        records.push((
            delta,
            Record {
                key,
                value,
                headers,
                timestamp,
            },
        ));
    }
    if !r.is_empty() {
        return Err(FormatError::corrupt(
            "batch",
            "bytes left after the last record",
        ));
    }
    Ok(DecodedBatch { header, records })
}

fn read_optional(r: &mut Reader<'_>, payload: &Bytes) -> Result<Option<Bytes>, FormatError> {
    let n = r.varint()?;
    if n == -1 {
        return Ok(None);
    }
    if n < 0 {
        return Err(FormatError::corrupt(
            "batch",
            format!("negative length {n}"),
        ));
    }
    let start = r.pos();
    r.bytes(n as usize)?;
    Ok(Some(payload.slice(start..start + n as usize)))
}

#[cfg(test)]
pub(crate) mod tests;
