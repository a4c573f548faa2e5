//! strata-tests: the cluster harness for end-to-end tests.
//!
//! Tests run real `strata serve` processes on loopback ports and, where they need S3, a real
//! S3-compatible server (moto) on a free loopback port, optionally behind a [`Proxy`] that can
//! cut the network. Nothing here sleeps to synchronise: every wait polls a condition against
//! a deadline.
//!
//! - `STRATA_BIN`: the `strata` binary (default: built with cargo on first use).
//! - `STRATA_MOTO`: the `moto_server` executable (default: `moto_server` on `PATH`).

mod api;
pub mod chaos;
pub mod cluster;
pub mod load;
mod node;
pub mod pki;
mod proxy;
mod s3;
pub mod v2;

use std::future::Future;
use std::time::Duration;

pub use api::{Api, Produced};
pub use cluster::Cluster;
pub use node::{Node, NodeOptions, strata_bin};
pub use proxy::Proxy;
pub use s3::S3Server;

/// Polls `check` until it returns `Some`, or fails after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A file `name` holding `contents` in this test process's temporary directory, written once
/// (atomically, so tests running side by side never read half of it).
pub fn file_once(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-tests-{}", std::process::id()));
    let path = dir.join(name);
    if !path.exists() {
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let tmp = dir.join(format!("{name}.{:?}", std::thread::current().id()));
        std::fs::write(&tmp, contents).expect("the file is written");
        std::fs::rename(&tmp, &path).expect("the file is moved into place");
    }
    path
}

/// Returns a free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Base64 of random bytes: stored as bytes, they do not compress.
pub fn noise(seed: u64, n: usize) -> String {
    use base64::Engine;
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let bytes: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
