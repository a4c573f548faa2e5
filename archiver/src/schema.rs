//! The archive's column contract (version 1) and the conversion of records to and from Arrow.
//!
//! `topic string, partition int32, offset int64, timestamp timestamp[ms, UTC], key binary,
//! value binary, headers list<struct<key: utf8, value: binary>>`, then one nullable column per
//! projected JSON field. Every field carries a Parquet field id (`PARQUET:field_id`), which the
//! Iceberg table metadata refers to.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, BinaryArray, BinaryBuilder, BooleanBuilder, Float32Builder,
    Float64Builder, Int32Builder, Int64Array, Int64Builder, ListArray, ListBuilder, RecordBatch,
    StringArray, StringBuilder, StructArray, StructBuilder, TimestampMillisecondArray,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use serde_json::Value;
use strata_core::ids::Offset;
use strata_core::record::{Header, Record, StoredRecord};
use strata_core::topic_config::{JsonField, JsonKind};

/// Version of the column contract, written into every file's metadata.
pub const FORMAT_VERSION: &str = "1";

/// Field ids of the fixed columns; projected fields follow from [`FIRST_PROJECTED_ID`].
pub mod ids {
    pub const TOPIC: i32 = 1;
    pub const PARTITION: i32 = 2;
    pub const OFFSET: i32 = 3;
    pub const TIMESTAMP: i32 = 4;
    pub const KEY: i32 = 5;
    pub const VALUE: i32 = 6;
    pub const HEADERS: i32 = 7;
    pub const HEADER: i32 = 8;
    pub const HEADER_KEY: i32 = 9;
    pub const HEADER_VALUE: i32 = 10;
}

/// Field id of the first projected JSON column (the i-th projected field gets this + i).
pub const FIRST_PROJECTED_ID: i32 = 11;

fn with_id(field: Field, id: i32) -> Field {
    field.with_metadata(HashMap::from([(
        "PARQUET:field_id".to_string(),
        id.to_string(),
    )]))
}

fn header_fields() -> Fields {
    Fields::from(vec![
        with_id(Field::new("key", DataType::Utf8, false), ids::HEADER_KEY),
        with_id(
            Field::new("value", DataType::Binary, true),
            ids::HEADER_VALUE,
        ),
    ])
}

fn header_item() -> Field {
    with_id(
        Field::new("element", DataType::Struct(header_fields()), false),
        ids::HEADER,
    )
}

/// Arrow type of a projected column.
pub fn json_type(kind: JsonKind) -> DataType {
    match kind {
        JsonKind::Boolean => DataType::Boolean,
        JsonKind::Int32 => DataType::Int32,
        JsonKind::Int64 => DataType::Int64,
        JsonKind::Float => DataType::Float32,
        JsonKind::Double => DataType::Float64,
        JsonKind::String => DataType::Utf8,
    }
}

/// The schema of a topic's archive files, with its projected JSON fields.
pub fn schema(projected: &[JsonField]) -> SchemaRef {
    let mut fields = vec![
        with_id(Field::new("topic", DataType::Utf8, false), ids::TOPIC),
        with_id(
            Field::new("partition", DataType::Int32, false),
            ids::PARTITION,
        ),
        with_id(Field::new("offset", DataType::Int64, false), ids::OFFSET),
        with_id(
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            ids::TIMESTAMP,
        ),
        with_id(Field::new("key", DataType::Binary, true), ids::KEY),
        with_id(Field::new("value", DataType::Binary, true), ids::VALUE),
        with_id(
            Field::new("headers", DataType::List(Arc::new(header_item())), false),
            ids::HEADERS,
        ),
    ];
    for (i, f) in projected.iter().enumerate() {
        fields.push(with_id(
            Field::new(&f.name, json_type(f.kind), true),
            FIRST_PROJECTED_ID + i as i32,
        ));
    }
    Arc::new(Schema::new(fields))
}

enum Projected {
    Boolean(BooleanBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float(Float32Builder),
    Double(Float64Builder),
    String(StringBuilder),
}

impl Projected {
    fn new(kind: JsonKind) -> Self {
        match kind {
            JsonKind::Boolean => Projected::Boolean(BooleanBuilder::new()),
            JsonKind::Int32 => Projected::Int32(Int32Builder::new()),
            JsonKind::Int64 => Projected::Int64(Int64Builder::new()),
            JsonKind::Float => Projected::Float(Float32Builder::new()),
            JsonKind::Double => Projected::Double(Float64Builder::new()),
            JsonKind::String => Projected::String(StringBuilder::new()),
        }
    }

    /// Appends `v` (a missing or null field appends null). Returns false when `v` does not fit
    /// the column's type (null appended).
    fn append(&mut self, v: Option<&Value>) -> bool {
        let v = match v {
            None | Some(Value::Null) => {
                self.append_null();
                return true;
            }
            Some(v) => v,
        };
        let fits = match self {
            Projected::Boolean(b) => v.as_bool().map(|x| b.append_value(x)).is_some(),
            Projected::Int32(b) => v
                .as_i64()
                .and_then(|x| i32::try_from(x).ok())
                .map(|x| b.append_value(x))
                .is_some(),
            Projected::Int64(b) => v.as_i64().map(|x| b.append_value(x)).is_some(),
            Projected::Float(b) => v.as_f64().map(|x| b.append_value(x as f32)).is_some(),
            Projected::Double(b) => v.as_f64().map(|x| b.append_value(x)).is_some(),
            Projected::String(b) => v.as_str().map(|x| b.append_value(x)).is_some(),
        };
        if !fits {
            self.append_null();
        }
        fits
    }

    fn append_null(&mut self) {
        match self {
            Projected::Boolean(b) => b.append_null(),
            Projected::Int32(b) => b.append_null(),
            Projected::Int64(b) => b.append_null(),
            Projected::Float(b) => b.append_null(),
            Projected::Double(b) => b.append_null(),
            Projected::String(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Projected::Boolean(b) => Arc::new(b.finish()),
            Projected::Int32(b) => Arc::new(b.finish()),
            Projected::Int64(b) => Arc::new(b.finish()),
            Projected::Float(b) => Arc::new(b.finish()),
            Projected::Double(b) => Arc::new(b.finish()),
            Projected::String(b) => Arc::new(b.finish()),
        }
    }
}

/// Totals over the rows of a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowStats {
    /// Rows.
    pub rows: u64,
    /// Raw record bytes (keys, values, header names and values).
    pub raw_bytes: u64,
    /// Smallest timestamp.
    pub min_timestamp: Option<i64>,
    /// Largest timestamp.
    pub max_timestamp: Option<i64>,
    /// Records whose value did not fit the projection.
    pub misfits: u64,
}

/// Builds record batches of one partition's records.
pub struct Rows {
    schema: SchemaRef,
    topic: String,
    partition: i32,
    projected: Vec<JsonField>,
    topics: StringBuilder,
    partitions: Int32Builder,
    offsets: Int64Builder,
    timestamps: TimestampMillisecondBuilder,
    keys: BinaryBuilder,
    values: BinaryBuilder,
    headers: ListBuilder<StructBuilder>,
    columns: Vec<Projected>,
    pending: usize,
    /// Totals over every row appended so far.
    pub stats: RowStats,
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("pending", &self.pending)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Rows {
    /// Rows of `topic`/`partition` with `projected` JSON columns.
    pub fn new(topic: &str, partition: u32, projected: &[JsonField]) -> Self {
        let headers = ListBuilder::new(StructBuilder::new(
            header_fields(),
            vec![
                Box::new(StringBuilder::new()) as Box<dyn ArrayBuilder>,
                Box::new(BinaryBuilder::new()),
            ],
        ))
        .with_field(Arc::new(header_item()));
        Self {
            schema: schema(projected),
            topic: topic.to_string(),
            partition: partition as i32,
            projected: projected.to_vec(),
            topics: StringBuilder::new(),
            partitions: Int32Builder::new(),
            offsets: Int64Builder::new(),
            timestamps: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            keys: BinaryBuilder::new(),
            values: BinaryBuilder::new(),
            headers,
            columns: projected.iter().map(|f| Projected::new(f.kind)).collect(),
            pending: 0,
            stats: RowStats::default(),
        }
    }

    /// The schema of the batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows appended since the last [`Rows::finish`].
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Appends one record.
    pub fn push(&mut self, r: &StoredRecord) {
        let rec = &r.record;
        self.topics.append_value(&self.topic);
        self.partitions.append_value(self.partition);
        self.offsets.append_value(r.offset.0);
        self.timestamps.append_value(rec.timestamp);
        self.keys.append_option(rec.key.as_deref());
        self.values.append_option(rec.value.as_deref());
        let item = self.headers.values();
        for h in &rec.headers {
            item.field_builder::<StringBuilder>(0)
                .expect("header key builder")
                .append_value(&h.name);
            item.field_builder::<BinaryBuilder>(1)
                .expect("header value builder")
                .append_value(&h.value);
            item.append(true);
        }
        self.headers.append(true);
        if !self.columns.is_empty() {
            let parsed = rec
                .value
                .as_deref()
                .and_then(|v| serde_json::from_slice::<serde_json::Map<String, Value>>(v).ok());
            let mut fits = parsed.is_some() || rec.value.is_none();
            for (col, field) in self.columns.iter_mut().zip(&self.projected) {
                fits &= col.append(parsed.as_ref().and_then(|m| m.get(&field.name)));
            }
            if !fits {
                self.stats.misfits += 1;
            }
        }
        self.pending += 1;
        let s = &mut self.stats;
        s.rows += 1;
        s.raw_bytes += (rec.size() - 16) as u64;
        s.min_timestamp = Some(
            s.min_timestamp
                .map_or(rec.timestamp, |m| m.min(rec.timestamp)),
        );
        s.max_timestamp = Some(
            s.max_timestamp
                .map_or(rec.timestamp, |m| m.max(rec.timestamp)),
        );
    }

    /// Returns the rows appended since the last call as one batch.
    pub fn finish(&mut self) -> RecordBatch {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.topics.finish()),
            Arc::new(self.partitions.finish()),
            Arc::new(self.offsets.finish()),
            Arc::new(self.timestamps.finish()),
            Arc::new(self.keys.finish()),
            Arc::new(self.values.finish()),
            Arc::new(self.headers.finish()),
        ];
        columns.extend(self.columns.iter_mut().map(Projected::finish));
        self.pending = 0;
        RecordBatch::try_new(self.schema.clone(), columns).expect("columns are built to the schema")
    }
}

/// Why a batch read back from an archive file is not in the contract's shape.
#[derive(Debug, thiserror::Error)]
#[error("archive batch does not match the column contract: {0}")]
pub struct ShapeError(String);

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, ShapeError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| ShapeError(format!("column {name} is missing or of another type")))
}

/// Converts a batch of archive rows back into records (offsets, timestamps, keys, values and
/// headers exactly as they were produced).
pub fn records(batch: &RecordBatch) -> Result<Vec<StoredRecord>, ShapeError> {
    let offsets: &Int64Array = column(batch, "offset")?;
    let timestamps: &TimestampMillisecondArray = column(batch, "timestamp")?;
    let keys: &BinaryArray = column(batch, "key")?;
    let values: &BinaryArray = column(batch, "value")?;
    let headers: &ListArray = column(batch, "headers")?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let bytes = |a: &BinaryArray| (!a.is_null(i)).then(|| Bytes::copy_from_slice(a.value(i)));
        let list = headers.value(i);
        let items = list
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or_else(|| ShapeError("headers are not structs".into()))?;
        let names = items
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| ShapeError("header keys are not strings".into()))?;
        let vals = items
            .column(1)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(|| ShapeError("header values are not binary".into()))?;
        let headers = (0..items.len())
            .map(|j| Header {
                name: names.value(j).to_string(),
                value: Bytes::copy_from_slice(vals.value(j)),
            })
            .collect();
        out.push(StoredRecord {
            offset: Offset(offsets.value(i)),
            record: Record {
                key: bytes(keys),
                value: bytes(values),
                headers,
                timestamp: timestamps.value(i),
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
