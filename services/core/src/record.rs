//! The record model: key, value (none = tombstone), headers and timestamp.

use bytes::Bytes;

use crate::ids::Offset;

/// One header of a record: a UTF-8 name and a binary value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name (UTF-8).
    pub name: String,
    /// Header value (any bytes).
    pub value: Bytes,
}

/// A record as a producer sends it and as it is stored, without its offset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Optional key; `Some(empty)` and `None` are different.
    pub key: Option<Bytes>,
    /// Optional value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers in the order the producer gave them.
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch (the producer's or the broker's).
    pub timestamp: i64,
}

impl Record {
    /// Returns the bytes this record counts for against `max.message.bytes` and fetch limits.
    pub fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum();
        self.key.as_ref().map_or(0, Bytes::len)
            + self.value.as_ref().map_or(0, Bytes::len)
            + headers
            + 16
    }
}

/// A committed record together with its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record's offset in its partition.
    pub offset: Offset,
    /// The record itself.
    pub record: Record,
}
