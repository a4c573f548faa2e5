//! strata-meta: the metadata quorum.
//!
//! [`RaftMetaStore`] implements [`strata_core::meta::MetaStore`] on openraft: every write is a
//! [`Command`](strata_core::meta::Command) appended to the Raft log (fsync'd in sled)
//! and applied by the same deterministic state machine the in-memory test store uses; reads
//! come from the node's applied state. Snapshots bound the log.
//!
//! - [`kv`]: the only module that knows sled (log and named values).
//! - [`log_store`] / [`state_machine`]: openraft's storage traits over [`kv::Kv`].
//! - [`network`]: the Raft transport, openraft's RPCs over HTTP; [`http`] serves them and the
//!   quorum's internal API ([`wire`]) to other nodes.
//! - [`RemoteMetaStore`]: the `MetaStore` of nodes that are not voters, through
//!   [`QuorumClient`] (leader found, redirects followed, retries across elections).
//!
//! ```no_run
//! # async fn demo() -> Result<(), strata_core::meta::MetaError> {
//! use std::sync::Arc;
//! use strata_core::{clock::SystemClock, ids::NodeId, meta::MetaStore};
//! use strata_meta::{MetaConfig, RaftMetaStore};
//!
//! let config = MetaConfig::single(NodeId(1), "strata-data/meta".into());
//! let meta = RaftMetaStore::open(config, Arc::new(SystemClock)).await?;
//! meta.create_topic("orders", 3, Default::default()).await?;
//! # Ok(()) }
//! ```

// openraft's traits fix `StorageError` (224 bytes) as the error type of the storage layer.
#![allow(clippy::result_large_err)]

pub mod client;
#[cfg(any(test, feature = "test-util"))]
pub mod conformance;
pub mod http;
pub mod kv;
pub mod log_store;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod network;
pub mod peering;
mod remote;
pub mod secret;
pub mod state;
pub mod state_machine;
mod store;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod types;
pub mod wire;

pub use client::QuorumClient;
pub use peering::Peering;
pub use remote::RemoteMetaStore;
pub use secret::ClusterSecret;
pub use store::{LocalWriteError, MetaConfig, RaftMetaStore};

#[cfg(test)]
mod tests;
