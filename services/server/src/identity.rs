//! A process's identity: its data directory (locked, with `node.json` recording the voter id,
//! the cluster and the last incarnation), its registration with the quorum (adopting the
//! incarnations its hot tier holds flushes of), and its heartbeat (see
//! [`strata_core::meta::writers`]).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use strata_core::background::{Job, Tick};
use strata_core::clock::Clock;
use strata_core::ids::{Incarnation, NodeId};
use strata_core::meta::writers::{self, Fence, RegisterRequest, Registration};
use strata_core::meta::{MetaError, MetaStore};
use strata_ingest::Recovered;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::health::Health;
use strata_cli::output::Usage;

/// What a data directory belongs to, written on first start and after every registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The voter id the directory was created with; for directories created before writer
    /// incarnations existed, the node id its flushes were named by.
    #[serde(default)]
    pub node_id: Option<u64>,
    /// The cluster the directory belongs to, once it has joined one.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The writer incarnation the last process on this directory registered as: the next one
    /// adopts it.
    #[serde(default)]
    pub incarnation: Option<u64>,
}

pub(crate) fn write_identity(data_dir: &Path, id: &Identity) -> anyhow::Result<()> {
    let tmp = data_dir.join("node.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(id)?)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, data_dir.join("node.json"))?;
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(())
}

/// Reads the data directory's identity, or creates one for a new directory. A voter's
/// directory holds its Raft state and must belong to the same voter id.
pub fn identity(data_dir: &Path, voter: Option<NodeId>) -> anyhow::Result<Identity> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let path = data_dir.join("node.json");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let mut id: Identity = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a strata identity file", path.display()))?;
            if let Some(v) = voter {
                match id.node_id {
                    Some(n) if n != v.0 && data_dir.join("meta").exists() => bail!(
                        "data directory {} belongs to voter {n}, not voter {v}: pass --node-id {n} or use another --data-dir",
                        data_dir.display()
                    ),
                    _ => id.node_id = Some(v.0),
                }
            }
            Ok(id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = Identity {
                node_id: voter.map(|v| v.0),
                cluster_id: None,
                incarnation: None,
            };
            write_identity(data_dir, &id)?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Takes the data directory's lock for the life of the process: two processes on one
/// directory would write the same hot tier.
pub(crate) fn lock_data_dir(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let path = data_dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(anyhow::Error::new(Usage(format!(
            "data directory {} is in use by another strata process: stop it, or give this one its own --data-dir",
            data_dir.display()
        )))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Registers this process start with the quorum, adopting the incarnations its data directory
/// holds flushes of (and the one it last ran as). Waits for the quorum as long as it takes;
/// `None` if the node stops first. A node id another live process holds is a usage error.
pub(crate) async fn register(
    config: &Config,
    ident: &Identity,
    meta: &dyn MetaStore,
    recovered: Option<&Recovered>,
    advertise: &str,
    clock: &Arc<dyn Clock>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Registration>> {
    let mut adopt: Vec<Incarnation> = recovered
        .map(Recovered::pending_writers)
        .unwrap_or_default();
    adopt.extend(ident.incarnation.map(Incarnation));
    adopt.sort_unstable();
    adopt.dedup();
    let request = RegisterRequest {
        name: config.name(),
        addr: advertise.to_string(),
        roles: config
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        adopt,
        // Unique to this start: a registration retried after a lost answer is recognised.
        nonce: (clock.now_ms() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ u64::from(std::process::id()).rotate_left(40),
    };
    let mut attempt = 0u32;
    loop {
        let r = tokio::select! {
            r = writers::register(meta, request.clone(), clock.now_ms()) => r,
            _ = shutdown.cancelled() => return Ok(None),
        };
        match r {
            Ok(r) => return Ok(Some(r)),
            Err(MetaError::NameInUse {
                name,
                incarnation,
                addr,
                seen_ms_ago,
            }) => {
                return Err(anyhow::Error::new(Usage(format!(
                    "node id {name} is in use by a live process at {addr} (incarnation {incarnation}, seen {:.1} s ago): stop it first, or start this one with another --node-id (or none); a node id is free {} s after its process stopped",
                    seen_ms_ago as f64 / 1000.0,
                    writers::LIVE_MS / 1000
                ))));
            }
            Err(e) if e.is_retryable() => {
                attempt += 1;
                info!(error = %e, "waiting for the metadata quorum to register this process");
                tokio::select! {
                    _ = tokio::time::sleep(strata_ingest::shipper::backoff(attempt, 7)) => {}
                    _ = shutdown.cancelled() => return Ok(None),
                }
            }
            Err(e) => return Err(e).context("cannot register this process with the quorum"),
        }
    }
}

/// Tells the quorum every few seconds that this process is alive; stops the process's writes
/// (through `fence`) once the quorum answers that it was fenced. Each heartbeat is a write with
/// a short deadline, so its outcome tells readiness whether this node can commit now.
pub(crate) async fn heartbeat(
    meta: Arc<dyn MetaStore>,
    incarnation: Incarnation,
    addr: String,
    clock: Arc<dyn Clock>,
    fence: Arc<Fence>,
    health: Arc<Health>,
    shutdown: CancellationToken,
) {
    // Say the first failure of a run of them, and the rest only at debug.
    let warned = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let job = Job::new("heartbeat", writers::HEARTBEAT_INTERVAL);
    job.run(shutdown, |_, _| {
        let (meta, addr, clock, fence, health, warned) = (
            meta.clone(),
            addr.clone(),
            clock.clone(),
            fence.clone(),
            health.clone(),
            warned.clone(),
        );
        async move {
            let beat = tokio::time::timeout(
                Duration::from_secs(3),
                writers::heartbeat(meta.as_ref(), incarnation, &addr, clock.now_ms()),
            )
            .await
            .unwrap_or_else(|_| {
                Err(MetaError::Unavailable {
                    reason: "a heartbeat was not committed within 3 s".to_string(),
                })
            });
            health.quorum_write(match &beat {
                Ok(()) => Ok(()),
                Err(e) => Err(e.to_string()),
            });
            match beat {
                Ok(()) => warned.store(false, Ordering::Relaxed),
                Err(MetaError::Fenced { reason, .. }) => {
                    fence.fence(reason);
                    return Ok::<_, MetaError>(Tick::Stop);
                }
                Err(e) if !warned.swap(true, Ordering::Relaxed) => {
                    warn!(error = %e, "cannot reach the quorum to heartbeat this process");
                }
                Err(e) => debug!(error = %e, "cannot reach the quorum to heartbeat this process"),
            }
            Ok(Tick::Idle)
        }
    })
    .await;
}
