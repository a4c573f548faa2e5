//! strata-ingest: the write path.
//!
//! A produce request is parsed ([`parse`]), validated and partitioned (explicit partition,
//! else Kafka's murmur2 of the key, else sticky round-robin; [`partitioner`]), encoded as one
//! CRC'd, zstd-compressed batch per partition, admitted against a byte quota, and appended to
//! the node's [`hot`] tier by the [`writer`] task. Every `flush_interval` or `flush_bytes` the
//! writer seals what is staged; the [`shipper`] uploads it as ONE object holding every
//! partition's batches and commits it to the quorum, which assigns the offsets. The
//! acknowledgement contract is [`Acks`].
//!
//! At start, [`Ingestor::recover`] replays the hot tier; the process registers with the quorum,
//! adopting the writer incarnations whose flushes the hot tier holds (which fences them), and
//! [`Ingestor::start`] ships again the sealed flushes the quorum has not committed, under the
//! same keys with the same bytes (the quorum's commit is idempotent per key); batches not yet
//! sealed go into the next flush.
//!
//! ```no_run
//! # async fn demo(ingest: std::sync::Arc<strata_ingest::Ingestor>) -> Result<(), strata_ingest::IngestError> {
//! use strata_ingest::{parse::parse_json, Acks};
//! let records = parse_json(br#"{"records": [{"key": "k", "value": {"n": 1}}]}"#)?;
//! let offsets = ingest.produce("orders", records, Acks::All, None).await?;
//! println!("written at {:?}", offsets[0].offset);
//! # Ok(()) }
//! ```

mod acks;
mod config;
mod error;
pub mod hot;
mod ingestor;
pub mod parse;
pub mod partitioner;
pub mod plan;
pub mod shipper;
mod stats;
pub mod writer;

pub use acks::Acks;
pub use config::{IngestConfig, UploadObserver};
pub use error::IngestError;
pub use ingestor::{Ingestor, ProducedOffset, Recovered, check_record};
pub use stats::{COUNTERS, GAUGES, IngestStats};
