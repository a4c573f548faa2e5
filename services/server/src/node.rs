//! `strata serve`: start every role of the node on a bound listener, stop on a token.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use strata_cache::{LocalSource, ReadPath};
use strata_core::clock::{Clock, SystemClock};
use strata_core::ids::NodeId;
use strata_core::meta::MetaStore;
use strata_ingest::{IngestConfig, Ingestor};
use strata_meta::{MetaConfig, RaftMetaStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{Config, Role};
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::store;

/// What a data directory belongs to, written on first start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The node id the directory was created with.
    pub node_id: u64,
    /// The cluster the directory belongs to.
    pub cluster_id: String,
}

/// Reads the data directory's identity, or creates one for a new directory.
pub fn identity(data_dir: &Path, node: NodeId) -> anyhow::Result<Identity> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let path = data_dir.join("node.json");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let id: Identity = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a strata identity file", path.display()))?;
            if id.node_id != node.0 {
                bail!(
                    "data directory {} belongs to node {}, not node {}: pass --node-id {} or use another --data-dir",
                    data_dir.display(),
                    id.node_id,
                    node.0,
                    id.node_id
                );
            }
            Ok(id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let nanos =
                SystemClock.now_ms() as u128 * 1_000_000 + u128::from(std::process::id()) * 7_919;
            let id = Identity {
                node_id: node.0,
                cluster_id: format!(
                    "{:016x}",
                    (nanos as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ),
            };
            let tmp = data_dir.join("node.json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&id)?)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(data_dir)?.sync_all()?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Runs a node on `listener` until `shutdown` is cancelled, then drains and stops.
/// Prints `listening on ADDR` on stdout once every role is up.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if !config.has_role(Role::Meta) {
        bail!(
            "this version runs the meta role on every node (a quorum of one); --roles must include meta"
        );
    }
    if config
        .meta_peers
        .iter()
        .any(|(id, _)| *id != config.node_id)
    {
        bail!("multi-voter quorums are not available yet: --meta-peers may only name this node");
    }
    for role in [Role::Compactor, Role::Archiver] {
        if config.has_role(role) {
            info!(role = role.as_str(), "role has no work in this version yet");
        }
    }
    let ident = identity(&config.data_dir, config.node_id)?;
    let metrics = Arc::new(Metrics::new());
    let store = store::open(&config.object_store, metrics.clone()).map_err(anyhow::Error::msg)?;
    store::claim(store.as_ref(), &ident.cluster_id)
        .await
        .map_err(anyhow::Error::msg)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut meta_config = MetaConfig::single(config.node_id, config.data_dir.join("meta"));
    meta_config.advertise = config.listen.to_string();
    meta_config.snapshot_logs = config.snapshot_logs;
    let raft = Arc::new(
        RaftMetaStore::open(meta_config, clock.clone())
            .await
            .context("cannot start the metadata quorum")?,
    );
    let meta: Arc<dyn MetaStore> = raft.clone();
    let ingest = if config.has_role(Role::Ingest) {
        let mut c = IngestConfig::new(config.node_id, config.data_dir.join("hot"));
        c.flush_interval = config.flush_interval;
        c.flush_bytes = config.flush_bytes;
        c.max_inflight_bytes = config.max_inflight_bytes;
        c.segment_bytes = config.hot_segment_bytes;
        c.retain_bytes = config.hot_retain_bytes;
        c.max_concurrent_uploads = config.max_concurrent_uploads;
        c.multipart_threshold = config.multipart_threshold;
        c.commit_timeout = config.commit_timeout;
        Some(
            Ingestor::start(c, meta.clone(), store.clone(), clock.clone())
                .await
                .context("cannot start the write path")?,
        )
    } else {
        None
    };
    let local = ingest
        .as_ref()
        .map(|i| Arc::new(i.hot_reader()) as Arc<dyn LocalSource>);
    let read = ReadPath::new(meta.clone(), store.clone(), local);
    let state = Arc::new(AppState {
        config: config.clone(),
        meta,
        store,
        ingest: ingest.clone(),
        read,
        metrics,
        shutdown: shutdown.clone(),
        request_budget: Arc::new(tokio::sync::Semaphore::new(
            config
                .max_buffered_request_bytes
                .min(tokio::sync::Semaphore::MAX_PERMITS as u64) as usize,
        )),
    });
    let addr = listener.local_addr()?;
    info!(%addr, node = %config.node_id, cluster = %ident.cluster_id, object_store = %config.object_store, "strata is ready");
    println!("listening on {addr}");
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("http server failed")?;
    info!("draining");
    if let Some(i) = ingest {
        i.shutdown(config.shutdown_timeout).await;
    }
    raft.shutdown().await;
    info!("stopped");
    Ok(())
}
