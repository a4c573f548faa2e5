//! `strata serve`: start every role of the node on a bound listener, stop on a token.
//!
//! The HTTP API (and, on voters, the quorum's internal API) serves at once, so voters can form
//! the quorum; the roles that need the quorum (the cluster's name, the bucket claim, the write
//! path) start in the background, and the node is ready (`/readyz`) once they are up.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use strata_archiver::{ArchiveReader, Archiver, ArchiverConfig};
use strata_cache::{BlockCache, CacheConfig, LocalSource, ReadPath};
use strata_compactor::{Compactor, CompactorConfig};
use strata_core::clock::{Clock, SystemClock};
use strata_core::ids::Incarnation;
use strata_core::meta::MetaStore;
use strata_core::meta::writers::{self, Fence};
use strata_ingest::{IngestConfig, Ingestor};
use strata_meta::{MetaConfig, RaftMetaStore, RemoteMetaStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::config::{Config, Role};
use crate::http::{self, AppState, Started};
use crate::identity::{Identity, heartbeat, identity, lock_data_dir, register, write_identity};
use crate::metrics::Metrics;
use crate::store;
use strata_cli::output::Usage;

/// A name for a new cluster: time and process id, mixed.
fn new_cluster_id() -> String {
    let nanos = SystemClock.now_ms() as u128 * 1_000_000 + u128::from(std::process::id()) * 7_919;
    format!(
        "{:016x}",
        (nanos as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

/// Runs a node on `listener` until `shutdown` is cancelled, then drains and stops.
/// Prints `listening on ADDR` on stdout once the HTTP API serves; `/readyz` answers `200` once
/// every role is up.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let bound = listener.local_addr()?;
    let advertise = config.advertised(bound);
    let voter = config.has_role(Role::Meta);
    if voter
        && !config.meta_peers.is_empty()
        && !config
            .meta_peers
            .iter()
            .any(|(id, _)| *id == config.voter_id())
    {
        bail!(
            "--meta-peers must list this voter (node {}) with its address",
            config.voter_id()
        );
    }
    if !voter && config.meta_peers.is_empty() {
        bail!("a node without the meta role needs --meta-peers to find the quorum");
    }
    let _lock = lock_data_dir(&config.data_dir)?;
    let ident = identity(&config.data_dir, voter.then(|| config.voter_id()))?;
    let metrics = Arc::new(Metrics::with_prices(config.prices));
    let store = store::open(&config.object_store, metrics.clone()).map_err(anyhow::Error::msg)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let raft = if voter {
        let meta_config = MetaConfig {
            node: config.voter_id(),
            dir: config.data_dir.join("meta"),
            peers: config.meta_peers.clone(),
            peering: config.peering(),
            ..config.meta.clone()
        };
        Some(Arc::new(
            RaftMetaStore::open(meta_config, clock.clone())
                .await
                .context("cannot start the metadata quorum")?,
        ))
    } else {
        None
    };
    // A node that is not a voter follows the quorum's change feed; it is closed last.
    let remote = raft.is_none().then(|| {
        Arc::new(RemoteMetaStore::new(
            config.name().unwrap_or_default(),
            config.meta_peers.iter().map(|(_, a)| a.clone()).collect(),
            Duration::from_secs(10),
            clock.clone(),
            &config.peering(),
        ))
    });
    let meta: Arc<dyn MetaStore> = match (&raft, &remote) {
        (Some(r), _) => r.clone(),
        (None, r) => r
            .clone()
            .context("a node has a Raft store or a remote one")?,
    };
    let fence = Arc::new(Fence::default());
    let state = Arc::new(AppState {
        config: config.clone(),
        incarnation: std::sync::OnceLock::new(),
        fence: fence.clone(),
        health: Arc::new(crate::health::Health::new(config.meta.election_timeout * 2)),
        meta: meta.clone(),
        store: store.clone(),
        started: std::sync::OnceLock::new(),
        advertise: advertise.clone(),
        metrics,
        shutdown: shutdown.clone(),
        clock: clock.clone(),
        tasks: tokio_util::task::TaskTracker::new(),
        request_budget: strata_core::budget::Budget::new(config.http.max_buffered_request_bytes),
        access: config
            .auth_bootstrap_token
            .is_some()
            .then(|| Arc::new(crate::access::AccessCache::new(meta.clone()))),
    });
    if let Some(a) = &state.access {
        state.tasks.spawn(a.clone().follow(shutdown.clone()));
    }
    let mut router = http::router(state.clone());
    if let Some(r) = &raft {
        let metrics = state.metrics.clone();
        router = router.merge(strata_meta::http::router_with(
            r.clone(),
            Arc::new(move |action| {
                metrics.audit_changes.with_label_values(&[action]).inc();
            }),
        ));
    }
    if let Some(r) = &raft {
        // Long-polls of other nodes must not hold up this node's HTTP drain.
        let (r, stop) = (r.clone(), shutdown.clone());
        state.tasks.spawn(async move {
            stop.cancelled().await;
            r.stop_waiting();
        });
    }
    if let Some(tls) = &config.tls {
        state.tasks.spawn(tls.clone().watch(shutdown.clone()));
    }
    println!("listening on {bound}");
    let server = {
        let (limits, tls, stop) = (config.http.clone(), config.tls.clone(), shutdown.clone());
        tokio::spawn(async move {
            http::limits::serve(listener, http::normalized(router), &limits, tls, stop).await;
            Ok::<(), std::io::Error>(())
        })
    };
    let startup = start_roles(
        &config,
        &ident,
        meta.clone(),
        store,
        clock.clone(),
        &state,
        &advertise,
        &shutdown,
    );
    if let Err(e) = startup.await {
        shutdown.cancel();
        let _ = server.await;
        stop_tasks(&state, config.shutdown_timeout).await;
        if let Some(r) = &raft {
            r.shutdown().await;
        }
        if let Some(r) = &remote {
            r.close().await;
        }
        return Err(e);
    }
    // A fenced process stops: whichever process next runs on this data directory ships what
    // it staged.
    // So does a voter whose Raft core failed: restarted, it recovers from its storage.
    let fenced = {
        let (fence, shutdown, raft) = (fence.clone(), shutdown.clone(), raft.clone());
        state.tasks.spawn(async move {
            let core_failed = async {
                match &raft {
                    Some(r) => r.failed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = fence.fenced() => {
                    error!(reason = fence.reason().unwrap_or_default(), "this process was fenced by another one; stopping");
                    shutdown.cancel();
                }
                _ = core_failed => {
                    error!("the quorum's Raft core failed; stopping so that a supervisor restarts this voter");
                    shutdown.cancel();
                }
                _ = shutdown.cancelled() => {}
            }
        })
    };
    server
        .await
        .context("http server task failed")?
        .context("http server failed")?;
    info!("draining");
    let _ = fenced.await;
    stop_tasks(&state, config.shutdown_timeout).await;
    if let Some(i) = state.started.get().and_then(|s| s.ingest.clone()) {
        i.shutdown(config.shutdown_timeout).await;
    }
    if let Some(s) = state.started.get() {
        s.read.cache().close().await;
    }
    if let Some(incarnation) = state.incarnation.get()
        && fence.reason().is_none()
    {
        // A clean stop frees the node id at once.
        let retired = tokio::time::timeout(
            Duration::from_secs(2),
            writers::retire(meta.as_ref(), *incarnation, clock.now_ms()),
        )
        .await;
        if !matches!(retired, Ok(Ok(()))) {
            warn!("could not retire this process's incarnation; its node id frees itself in 10 s");
        }
    }
    drop(meta);
    let core_failed = raft.as_ref().is_some_and(|r| r.has_failed());
    if let Some(r) = raft {
        r.shutdown().await;
    }
    if let Some(r) = remote {
        r.close().await;
    }
    if let Some(reason) = fence.reason() {
        bail!("this process was fenced: {reason}");
    }
    if core_failed {
        bail!("the quorum's Raft core failed; restart this voter (its storage is intact)");
    }
    info!("stopped");
    Ok(())
}

/// Puts every object this node uploads into the read cache.
#[derive(Debug)]
struct WriteThrough(Arc<BlockCache>);

impl strata_ingest::UploadObserver for WriteThrough {
    fn uploaded(&self, key: &str, bytes: &bytes::Bytes) {
        self.0.insert_object(key, bytes);
    }
}

/// Waits for every background task (they watch the shutdown token) to finish its step: a
/// compaction or archive file in flight completes or is abandoned cleanly, never cut off
/// by the process exiting.
async fn stop_tasks(state: &AppState, within: Duration) {
    state.tasks.close();
    if tokio::time::timeout(within, state.tasks.wait())
        .await
        .is_err()
    {
        warn!(
            running = state.tasks.len(),
            "background tasks did not stop within the shutdown timeout; leaving them"
        );
    }
}

/// Brings up what needs the quorum; returns once the node is ready (or stopping).
#[allow(clippy::too_many_arguments)]
async fn start_roles(
    config: &Config,
    ident: &Identity,
    meta: Arc<dyn MetaStore>,
    store: Arc<dyn object_store::ObjectStore>,
    clock: Arc<dyn Clock>,
    state: &Arc<AppState>,
    advertise: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    // The quorum names the cluster (the first proposal wins); wait for it as long as it takes.
    let health = state.health.clone();
    let proposal = ident.cluster_id.clone().unwrap_or_else(new_cluster_id);
    let mut attempt = 0u32;
    let cluster_id = loop {
        let attempt_result = tokio::select! {
            r = meta.init_cluster(&proposal) => r,
            _ = shutdown.cancelled() => return Ok(()),
        };
        match attempt_result {
            Ok(id) => break id,
            Err(e) if e.is_retryable() => {
                attempt += 1;
                health.starting("quorum", format!("waiting for the metadata quorum: {e}"));
                if attempt == 1 {
                    warn!(error = %e, "waiting for the metadata quorum");
                } else {
                    debug!(error = %e, attempt, "waiting for the metadata quorum");
                }
                tokio::select! {
                    _ = tokio::time::sleep(strata_ingest::shipper::backoff_to(attempt, 3, 2_000)) => {}
                    _ = shutdown.cancelled() => return Ok(()),
                }
            }
            Err(e) => return Err(e).context("cannot name the cluster"),
        }
    };
    if let Some(mine) = &ident.cluster_id
        && *mine != cluster_id
    {
        bail!(
            "data directory {} belongs to cluster {mine}, but the quorum is cluster {cluster_id}: use another --data-dir",
            config.data_dir.display()
        );
    }
    // The bucket may be unreachable at start: the node stays up (not ready, saying why) and
    // tries again until it answers. A prefix of another cluster is a configuration error.
    let mut attempt = 0u32;
    loop {
        let claimed = tokio::select! {
            r = tokio::time::timeout(Duration::from_secs(10), store::claim(store.as_ref(), &cluster_id)) => {
                r.unwrap_or_else(|_| Err(store::ClaimError::Store("no answer within 10 s".to_string())))
            }
            _ = shutdown.cancelled() => return Ok(()),
        };
        match claimed {
            Ok(()) => break,
            Err(store::ClaimError::Foreign(m)) => return Err(anyhow::Error::new(Usage(m))),
            Err(store::ClaimError::Store(e)) => {
                attempt += 1;
                health.starting("store", format!("waiting for the object store: {e}"));
                if attempt == 1 || attempt.is_multiple_of(20) {
                    warn!(error = %e, attempt, "waiting for the object store");
                }
                tokio::select! {
                    _ = tokio::time::sleep(strata_ingest::shipper::backoff_to(attempt, 5, 5_000)) => {}
                    _ = shutdown.cancelled() => return Ok(()),
                }
            }
        }
    }
    health.starting(
        "quorum",
        "registering this process with the metadata quorum",
    );
    // The hot tier is replayed before registering: the process adopts the writers whose
    // flushes it holds (which fences them), then ships what they sealed.
    let mut ingest_config = IngestConfig {
        dir: config.data_dir.join("hot"),
        ..config.ingest.clone()
    };
    if let Some(legacy) = ident.node_id {
        ingest_config.legacy_writer = Incarnation(legacy);
    }
    let recovered = if config.has_role(Role::Ingest) {
        Some(Ingestor::recover(&ingest_config).context("cannot open the hot tier")?)
    } else {
        None
    };
    let Some(registration) = register(
        config,
        ident,
        meta.as_ref(),
        recovered.as_ref(),
        advertise,
        &clock,
        shutdown,
    )
    .await?
    else {
        return Ok(());
    };
    let incarnation = registration.incarnation;
    write_identity(
        &config.data_dir,
        &Identity {
            node_id: ident.node_id,
            cluster_id: Some(cluster_id.clone()),
            incarnation: Some(incarnation.0),
        },
    )?;
    state
        .incarnation
        .set(incarnation)
        .expect("the process registers once");
    let cache = BlockCache::open(
        store.clone(),
        &CacheConfig {
            dir: Some(config.data_dir.join("cache")),
            ..config.cache.clone()
        },
    )
    .await
    .context("cannot open the read cache")?;
    let compactor = Arc::new(
        Compactor::new(
            meta.clone(),
            store.clone(),
            clock.clone(),
            CompactorConfig {
                node: incarnation,
                ..config.compactor.clone()
            },
        )
        // Merges read small extents of shared flush objects through the block cache: one GET
        // per object for all its partitions (none for objects this node uploaded), not one per
        // extent.
        .with_cache(cache.clone()),
    );
    if config.has_role(Role::Compactor) {
        state
            .tasks
            .spawn(strata_compactor::run(compactor.clone(), shutdown.clone()));
    }
    let ingest = match recovered {
        Some(recovered) => {
            let mut c = ingest_config;
            c.on_uploaded = Some(Arc::new(WriteThrough(cache.clone())));
            Some(
                Ingestor::start(
                    c,
                    recovered,
                    &registration,
                    state.fence.clone(),
                    meta.clone(),
                    store.clone(),
                    clock.clone(),
                )
                .await
                .context("cannot start the write path")?,
            )
        }
        None => None,
    };
    let local = ingest
        .as_ref()
        .map(|i| Arc::new(i.hot_reader()) as Arc<dyn LocalSource>);
    let archive_reader = Arc::new(ArchiveReader::new(meta.clone(), cache.clone()));
    let read = ReadPath::new(meta.clone(), cache, local).with_archive(archive_reader);
    let archiver = Arc::new(Archiver::new(
        meta.clone(),
        store.clone(),
        read.clone(),
        clock.clone(),
        ArchiverConfig {
            node: incarnation,
            location: config.object_store.trim_end_matches('/').to_string(),
            ..config.archiver.clone()
        },
    ));
    if config.has_role(Role::Archiver) {
        state
            .tasks
            .spawn(strata_archiver::run(archiver.clone(), shutdown.clone()));
    }
    state
        .started
        .set(Started {
            ingest,
            read,
            compactor,
            archiver,
        })
        .expect("roles start once");
    health.quorum_write(Ok(()));
    state.tasks.spawn(heartbeat(
        meta,
        incarnation,
        advertise.to_string(),
        clock,
        state.fence.clone(),
        health.clone(),
        shutdown.clone(),
    ));
    health.started();
    info!(addr = %advertise, incarnation = %incarnation, node = ?config.name().map(|n| n.0), cluster = %cluster_id, object_store = %config.object_store, "strata is ready");
    Ok(())
}
