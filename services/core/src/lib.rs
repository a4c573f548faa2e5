//! strata-core: the formats and seams every Strata role shares.
//!
//! - [`frame`], [`batch`], [`object`]: the stored formats. Every stored byte sits in a frame
//!   `[length][crc32c][body]`; record batches are frames, shipped objects are sections of
//!   batch frames grouped by partition with a CRC'd footer index.
//! - [`keys`]: every object key, built in one place.
//! - [`meta`]: the [`meta::MetaStore`] seam, its [`meta::Command`]s and value types; the
//!   state machine that applies them is `strata-meta`'s.
//! - [`clock`]: the [`clock::Clock`] seam; library code reads time only through it.
//! - [`api`]: the HTTP error contract.
//!
//! ```
//! use strata_core::batch::{decode_batch, encode_batch, UNASSIGNED};
//! use strata_core::frame::{decode_frame, FrameRead};
//! use strata_core::ids::{PartitionId, TopicId};
//! use strata_core::record::Record;
//!
//! let records = vec![Record { value: Some("hello".into()), ..Record::default() }];
//! let batch = encode_batch(TopicId(1), PartitionId(0), UNASSIGNED, &records, None, 3).unwrap();
//! let FrameRead::Frame { body, .. } = decode_frame(&batch.frame).unwrap() else { unreachable!() };
//! assert_eq!(decode_batch(body).unwrap().records[0].1, records[0]);
//! ```

pub mod api;
pub mod background;
pub mod batch;
pub mod budget;
pub mod clock;
pub mod error;
pub mod frame;
pub mod ids;
pub mod json;
pub mod keys;
pub mod meta;
pub mod object;
pub mod planted;
pub mod record;
pub mod rng;
pub mod secret;
pub mod settings;
pub mod stats;
pub mod storage;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod topic_config;
pub mod varint;
