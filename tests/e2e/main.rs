//! End-to-end tests against real `strata serve` processes on the default `file://` store.

mod bodies;
mod cli;
mod errors;
mod operations;
mod records;

use strata_tests::NodeOptions;

pub(crate) fn opts_with_config(config: &str) -> NodeOptions {
    NodeOptions {
        config: Some(config.to_string()),
        ..NodeOptions::default()
    }
}
