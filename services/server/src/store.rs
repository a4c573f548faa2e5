//! The node's object store: opened by URL (`strata_core::storage`), metered, and claimed for
//! one cluster.

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use strata_core::keys::CLUSTER_MARKER;
use strata_core::storage::{Hooked, Hooks, Op, Outcome};

use crate::metrics::Metrics;

/// Opens the object store named by `url` (see [`strata_core::storage::open`]), counting
/// every request, error and byte in `metrics`.
pub fn open(url: &str, metrics: Arc<Metrics>) -> Result<Arc<dyn ObjectStore>, String> {
    let inner = strata_core::storage::open(url)?;
    Ok(Arc::new(Hooked::new(inner, Metered { metrics })))
}

/// The marker that ties a bucket prefix to one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMarker {
    /// The cluster's id.
    pub cluster_id: String,
}

/// Why the bucket prefix could not be claimed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The prefix belongs to another cluster (or holds something else): a configuration
    /// error that waiting will not fix.
    #[error("{0}")]
    Foreign(String),
    /// The store did not answer or refused the request: retry.
    #[error("{0}")]
    Store(String),
}

/// Claims the bucket prefix for `cluster_id` (a conditional create where the store supports
/// it), or checks that it already belongs to that cluster. A prefix holding another cluster's
/// objects is refused: a new quorum would reuse its object keys.
pub async fn claim(store: &dyn ObjectStore, cluster_id: &str) -> Result<(), ClaimError> {
    let path = Path::from(CLUSTER_MARKER);
    let mine = ClusterMarker {
        cluster_id: cluster_id.to_string(),
    };
    let body = serde_json::to_vec(&mine).expect("serializes");
    let unreachable = |what: &str, e: object_store::Error| {
        let why = match strata_core::storage::classify_write(&e) {
            strata_core::storage::Failure::Permanent(why) => format!("{why}: "),
            strata_core::storage::Failure::Transient => String::new(),
        };
        ClaimError::Store(format!("{what} {CLUSTER_MARKER}: {why}{e}"))
    };
    match store.get(&path).await {
        Ok(r) => {
            let bytes = r.bytes().await.map_err(|e| unreachable("read", e))?;
            let theirs: ClusterMarker = serde_json::from_slice(&bytes).map_err(|e| {
                ClaimError::Foreign(format!(
                    "{CLUSTER_MARKER} in the bucket is not a strata marker: {e}"
                ))
            })?;
            if theirs != mine {
                return Err(ClaimError::Foreign(format!(
                    "the object store prefix belongs to cluster {} but this node's data directory is for cluster {}; \
                     point --object-store at an empty prefix or use that cluster's data directory",
                    theirs.cluster_id, mine.cluster_id
                )));
            }
            Ok(())
        }
        Err(object_store::Error::NotFound { .. }) => {
            let opts = PutOptions::from(PutMode::Create);
            match store
                .put_opts(&path, PutPayload::from(body.clone()), opts)
                .await
            {
                Ok(_) => Ok(()),
                Err(object_store::Error::AlreadyExists { .. }) => {
                    Box::pin(claim(store, cluster_id)).await
                }
                Err(object_store::Error::NotImplemented { .. }) => store
                    .put(&path, PutPayload::from(body))
                    .await
                    .map(|_| ())
                    .map_err(|e| unreachable("write", e)),
                Err(e) => Err(unreachable("write", e)),
            }
        }
        Err(e) => Err(unreachable("read", e)),
    }
}

/// Checks that the store answers (for `/readyz`).
pub async fn ping(store: &dyn ObjectStore) -> Result<(), String> {
    store
        .head(&Path::from(CLUSTER_MARKER))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Counts requests, errors, latency and bytes by operation.
#[derive(Debug)]
struct Metered {
    metrics: Arc<Metrics>,
}

impl Hooks for Metered {
    fn observed(&self, o: Outcome) {
        let m = &self.metrics;
        let op = o.op.name();
        m.store_requests.with_label_values(&[op]).inc();
        if !o.ok {
            m.store_errors.with_label_values(&[op]).inc();
        }
        if let Some(elapsed) = o.elapsed
            && (o.op == Op::Put || o.op.reads())
        {
            m.store_latency
                .with_label_values(&[op])
                .observe(elapsed.as_secs_f64());
        }
        if o.ok && o.bytes > 0 {
            let way = if o.op.writes() { "up" } else { "down" };
            m.store_bytes.with_label_values(&[way]).inc_by(o.bytes);
        }
    }
}

#[cfg(test)]
mod tests;
