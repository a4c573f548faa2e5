//! strata-server: the `strata` binary's library: config, roles, HTTP router, command line.
//!
//! [`node::run`] starts every role of a node on a bound listener and stops when its
//! cancellation token fires (the binary cancels it on `SIGTERM` or `SIGINT`): HTTP stops
//! accepting, in-flight requests finish, staged records are shipped, the quorum stops.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use strata_server::config::Config;
//! let config = Config::for_test(std::path::Path::new("/tmp/strata-demo"));
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! let stop = tokio_util::sync::CancellationToken::new();
//! strata_server::node::run(config, listener, stop).await
//! # }
//! ```

pub mod access;
pub mod cli;
pub mod config;
pub mod health;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod node;
pub mod store;
