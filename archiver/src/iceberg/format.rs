//! The Iceberg table format as the archive writes it: schemas, partition spec, Avro manifest entries.

#[allow(unused_imports)]
use super::*;

/// A run of consecutive entries of a manifest added by one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Run {
    pub(super) files: u64,
    pub(super) snapshot: i64,
    pub(super) seq: i64,
}

/// A manifest of the current snapshot, as the metadata remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ManifestRecord {
    pub(super) key: String,
    pub(super) length: u64,
    pub(super) partition: u32,
    /// Index (in the partition's file list) of its first file.
    pub(super) first: u64,
    pub(super) files: u64,
    pub(super) rows: u64,
    /// Snapshot and sequence number that wrote it.
    pub(super) snapshot: i64,
    pub(super) seq: i64,
    pub(super) added_files: u64,
    pub(super) added_rows: u64,
    pub(super) runs: Vec<Run>,
}

/// The table schema: the column contract and the topic's projected JSON fields.
pub(super) fn table_schema(topic: &TopicInfo, schema_id: i64) -> Value {
    let mut fields = vec![
        json!({"id": ids::TOPIC, "name": "topic", "required": true, "type": "string"}),
        json!({"id": ids::PARTITION, "name": "partition", "required": true, "type": "int"}),
        json!({"id": ids::OFFSET, "name": "offset", "required": true, "type": "long"}),
        json!({"id": ids::TIMESTAMP, "name": "timestamp", "required": true, "type": "timestamptz"}),
        json!({"id": ids::KEY, "name": "key", "required": false, "type": "binary"}),
        json!({"id": ids::VALUE, "name": "value", "required": false, "type": "binary"}),
        json!({"id": ids::HEADERS, "name": "headers", "required": true, "type": {
            "type": "list",
            "element-id": ids::HEADER,
            "element-required": true,
            "element": {"type": "struct", "fields": [
                {"id": ids::HEADER_KEY, "name": "key", "required": true, "type": "string"},
                {"id": ids::HEADER_VALUE, "name": "value", "required": false, "type": "binary"},
            ]},
        }}),
    ];
    for (i, f) in topic.config.archive_json_fields.iter().enumerate() {
        let ty = match f.kind {
            JsonKind::Boolean => "boolean",
            JsonKind::Int32 => "int",
            JsonKind::Int64 => "long",
            JsonKind::Float => "float",
            JsonKind::Double => "double",
            JsonKind::String => "string",
        };
        fields.push(json!({
            "id": FIRST_PROJECTED_ID + i as i32,
            "name": f.name,
            "required": false,
            "type": ty,
        }));
    }
    json!({"type": "struct", "schema-id": schema_id, "identifier-field-ids": [], "fields": fields})
}

pub(super) fn last_column_id(topic: &TopicInfo) -> i64 {
    i64::from(FIRST_PROJECTED_ID) + topic.config.archive_json_fields.len() as i64 - 1
}

pub(super) fn partition_spec_fields() -> Value {
    json!([{
        "name": "partition",
        "transform": "identity",
        "source-id": ids::PARTITION,
        "field-id": PARTITION_FIELD_ID,
    }])
}

/// Avro schema of a manifest entry (Iceberg v2 field ids; optional fields left out).
pub(super) fn manifest_entry_schema() -> String {
    let bounds = |id: i32, k: i32, v: i32| {
        json!({"name": if id == 125 { "lower_bounds" } else { "upper_bounds" },
            "type": ["null", {"type": "array", "logicalType": "map", "items": {
                "type": "record", "name": format!("k{k}_v{v}"), "fields": [
                    {"name": "key", "type": "int", "field-id": k},
                    {"name": "value", "type": "bytes", "field-id": v},
                ]}}],
            "default": null, "field-id": id})
    };
    json!({"type": "record", "name": "manifest_entry", "fields": [
        {"name": "status", "type": "int", "field-id": 0},
        {"name": "snapshot_id", "type": ["null", "long"], "default": null, "field-id": 1},
        {"name": "sequence_number", "type": ["null", "long"], "default": null, "field-id": 3},
        {"name": "file_sequence_number", "type": ["null", "long"], "default": null, "field-id": 4},
        {"name": "data_file", "field-id": 2, "type": {"type": "record", "name": "r2", "fields": [
            {"name": "content", "type": "int", "field-id": 134},
            {"name": "file_path", "type": "string", "field-id": 100},
            {"name": "file_format", "type": "string", "field-id": 101},
            {"name": "partition", "field-id": 102, "type": {"type": "record", "name": "r102", "fields": [
                {"name": "partition", "type": ["null", "int"], "default": null, "field-id": PARTITION_FIELD_ID},
            ]}},
            {"name": "record_count", "type": "long", "field-id": 103},
            {"name": "file_size_in_bytes", "type": "long", "field-id": 104},
            bounds(125, 126, 127),
            bounds(128, 129, 130),
            {"name": "sort_order_id", "type": ["null", "int"], "default": null, "field-id": 140},
        ]}},
    ]})
    .to_string()
}

/// Avro schema of a manifest list entry (Iceberg v2).
pub(super) fn manifest_file_schema() -> String {
    json!({"type": "record", "name": "manifest_file", "fields": [
        {"name": "manifest_path", "type": "string", "field-id": 500},
        {"name": "manifest_length", "type": "long", "field-id": 501},
        {"name": "partition_spec_id", "type": "int", "field-id": 502},
        {"name": "content", "type": "int", "field-id": 517},
        {"name": "sequence_number", "type": "long", "field-id": 515},
        {"name": "min_sequence_number", "type": "long", "field-id": 516},
        {"name": "added_snapshot_id", "type": "long", "field-id": 503},
        {"name": "added_files_count", "type": "int", "field-id": 504},
        {"name": "existing_files_count", "type": "int", "field-id": 505},
        {"name": "deleted_files_count", "type": "int", "field-id": 506},
        {"name": "added_rows_count", "type": "long", "field-id": 512},
        {"name": "existing_rows_count", "type": "long", "field-id": 513},
        {"name": "deleted_rows_count", "type": "long", "field-id": 514},
        {"name": "partitions", "default": null, "field-id": 507, "type": ["null", {
            "type": "array", "element-id": 508, "items": {
                "type": "record", "name": "r508", "fields": [
                    {"name": "contains_null", "type": "boolean", "field-id": 509},
                    {"name": "contains_nan", "type": ["null", "boolean"], "default": null, "field-id": 518},
                    {"name": "lower_bound", "type": ["null", "bytes"], "default": null, "field-id": 510},
                    {"name": "upper_bound", "type": ["null", "bytes"], "default": null, "field-id": 511},
                ]}}]},
    ]})
    .to_string()
}

/// A sync marker derived from the file's name (any 16 bytes do; a fixed derivation keeps a
/// rewritten file byte-identical).
pub(super) fn sync_marker(key: &str) -> [u8; 16] {
    let a = crc32c::crc32c(key.as_bytes());
    let b = crc32c::crc32c_append(a, b"strata");
    let c = crc32c::crc32c_append(b, b"iceberg");
    let d = crc32c::crc32c_append(c, b"avro");
    let mut out = [0u8; 16];
    for (i, w) in [a, b, c, d].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// One data file entry of a manifest being written.
pub(super) struct Entry<'a> {
    pub(super) file: &'a ManifestFile,
    pub(super) added: bool,
    pub(super) snapshot: i64,
    pub(super) seq: i64,
}

pub(super) fn encode_entry(e: &mut Encoder, entry: &Entry<'_>, location: &str) {
    let f = entry.file;
    e.long(if entry.added { 1 } else { 0 });
    e.branch(1);
    e.long(entry.snapshot);
    e.branch(1);
    e.long(entry.seq);
    e.branch(1);
    e.long(entry.seq);
    // data_file
    e.long(0);
    e.string(&format!("{location}/{}", f.key));
    e.string("PARQUET");
    e.branch(1);
    e.long(i64::from(f.partition));
    e.long(f.rows as i64);
    e.long(f.bytes as i64);
    let partition = (f.partition as i32).to_le_bytes().to_vec();
    let bounds = |offset: i64, ms: i64| -> Vec<(i32, Vec<u8>)> {
        vec![
            (ids::PARTITION, partition.clone()),
            (ids::OFFSET, offset.to_le_bytes().to_vec()),
            (
                ids::TIMESTAMP,
                ms.saturating_mul(1000).to_le_bytes().to_vec(),
            ),
        ]
    };
    for b in [
        bounds(f.first_offset, f.min_timestamp),
        bounds(f.last_offset, f.max_timestamp),
    ] {
        if f.rows == 0 {
            e.branch(0);
        } else {
            e.branch(1);
            e.array(&b, |e, (id, v)| {
                e.long(i64::from(*id));
                e.bytes(v);
            });
        }
    }
    e.branch(1);
    e.long(i64::from(SORT_ORDER_ID));
}
