//! Just enough of Apache Avro to write Iceberg's manifests and manifest lists: the binary
//! encoding of the primitive types, unions, arrays and records, and the object container file
//! (uncompressed, one block). Reading is never needed: the archiver keeps what it must know of
//! earlier manifests in the table metadata.

/// Binary Avro encoding into a buffer.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// `long` (and `int`): zig-zag, then variable length.
    pub(crate) fn long(&mut self, v: i64) {
        let mut n = ((v << 1) ^ (v >> 63)) as u64;
        while n >= 0x80 {
            self.buf.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        self.buf.push(n as u8);
    }

    /// `boolean`.
    pub(crate) fn boolean(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// `bytes`: length, then the bytes.
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.long(v.len() as i64);
        self.buf.extend_from_slice(v);
    }

    /// `string`: UTF-8 `bytes`.
    pub(crate) fn string(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// The branch of a union (`["null", T]`: 0 is null, 1 is the value that follows).
    pub(crate) fn branch(&mut self, index: i64) {
        self.long(index);
    }

    /// An array (or map) of `n` items written by `item`, as one block and the end marker.
    pub(crate) fn array<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Self, &T)) {
        if !items.is_empty() {
            self.long(items.len() as i64);
            for i in items {
                item(self, i);
            }
        }
        self.long(0);
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// An object container file: header (magic, metadata with the schema, sync marker), then one
/// block of `count` records already encoded in `records`.
pub(crate) fn container(
    schema: &str,
    metadata: &[(&str, String)],
    count: usize,
    records: &[u8],
    sync: [u8; 16],
) -> Vec<u8> {
    let mut e = Encoder::default();
    e.buf.extend_from_slice(b"Obj\x01");
    let mut meta: Vec<(&str, &[u8])> =
        vec![("avro.schema", schema.as_bytes()), ("avro.codec", b"null")];
    meta.extend(metadata.iter().map(|(k, v)| (*k, v.as_bytes())));
    e.array(&meta, |e, (k, v)| {
        e.string(k);
        e.bytes(v);
    });
    e.buf.extend_from_slice(&sync);
    if count > 0 {
        e.long(count as i64);
        e.long(records.len() as i64);
        e.buf.extend_from_slice(records);
        e.buf.extend_from_slice(&sync);
    }
    e.into_bytes()
}

#[cfg(test)]
mod tests;
