//! The Confluent REST Proxy v2 API against real `strata serve` processes: the request and
//! response examples of Confluent's v2 API reference replayed with their exact headers and
//! bodies, consumer groups splitting partitions, headers and timestamps from the native API,
//! and every Confluent error code Strata answers with.

mod clients;
mod documentation;
mod errors;
mod formats;
mod groups;
mod strict;

use serde_json::Value;
use std::time::Duration;
use strata_tests::NodeOptions;
use strata_tests::v2::{V2Client, lenient_json, same_shape};

/// The `Accept` header of most of Confluent's examples.
pub(crate) const ACCEPT_ANY_V2: &str =
    "application/vnd.kafka.v2+json, application/vnd.kafka+json, application/json";
pub(crate) const BINARY: &str = "application/vnd.kafka.binary.v2+json";
pub(crate) const JSON: &str = "application/vnd.kafka.json.v2+json";

/// Extra fields Strata adds to Confluent's shapes: per-record produce errors (Confluent's
/// own code sends them too) and the headers and timestamp of consumed records.
pub(crate) const EXTRA: &[&str] = &["error_code", "error", "headers", "timestamp"];

pub(crate) fn check_shape(what: &str, expected: &str, got: &Value) -> anyhow::Result<()> {
    let expected = lenient_json(expected)?;
    same_shape(&expected, got, EXTRA, &["configs"])
        .map_err(|e| anyhow::anyhow!("{what}: {e}\nexpected shape {expected}\ngot {got}"))
}

pub(crate) fn node_with(config: &str) -> NodeOptions {
    NodeOptions {
        config: Some(config.to_string()),
        ..NodeOptions::default()
    }
}

/// Reads an instance's records until `n` came back (or fails after a minute).
pub(crate) async fn read_n(
    v2: &V2Client,
    group: &str,
    instance: &str,
    accept: &str,
    n: usize,
) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while out.len() < n {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{instance} read {} of {n} records",
            out.len()
        );
        out.extend(v2.records(group, instance, accept, 500).await?);
    }
    Ok(out)
}
