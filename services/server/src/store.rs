//! The object store: chosen by URL, wrapped for metrics and (local directories) durability.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use serde::{Deserialize, Serialize};
use strata_core::keys::CLUSTER_MARKER;

use crate::metrics::Metrics;

/// Opens the object store named by `url`: `file:///abs/path`, `memory://` or
/// `s3://bucket/prefix` (endpoint and credentials from the standard `AWS_*` variables).
pub fn open(url: &str, metrics: Arc<Metrics>) -> Result<Arc<dyn ObjectStore>, String> {
    let inner: Arc<dyn ObjectStore> = if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(format!(
                "object store {url:?}: file:// needs an absolute path, like file:///var/lib/strata/bucket"
            ));
        }
        std::fs::create_dir_all(path)
            .map_err(|e| format!("object store {url:?}: cannot create {path}: {e}"))?;
        let local = LocalFileSystem::new_with_prefix(path)
            .map_err(|e| format!("object store {url:?}: {e}"))?;
        Arc::new(SyncedLocal {
            inner: Arc::new(local),
        })
    } else if url == "memory://" || url == "memory:" {
        Arc::new(InMemory::new())
    } else if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "object store {url:?}: s3:// needs a bucket, like s3://bucket/prefix"
            ));
        }
        let s3 = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| format!("object store {url:?}: {e}"))?;
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        }
    } else {
        return Err(format!(
            "unknown object store {url:?}: use file:///abs/path, memory:// or s3://bucket/prefix"
        ));
    };
    Ok(Arc::new(Metered { inner, metrics }))
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

/// A local directory whose writes are fsync'd (file and directory) before they return:
/// object_store's `LocalFileSystem` renames into place but does not fsync, and the bucket is
/// the durability point of `acks=all`.
#[derive(Debug)]
struct SyncedLocal {
    inner: Arc<LocalFileSystem>,
}

impl fmt::Display for SyncedLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SyncedLocal({})", self.inner)
    }
}

async fn sync_path(file: PathBuf) -> object_store::Result<()> {
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::File::open(&file)?.sync_all()?;
        if let Some(dir) = file.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(|e| object_store::Error::Generic {
        store: "local",
        source: Box::new(e),
    })?
    .map_err(|e| object_store::Error::Generic {
        store: "local",
        source: Box::new(e),
    })
}

#[derive(Debug)]
struct SyncedUpload {
    inner: Box<dyn MultipartUpload>,
    file: PathBuf,
}

#[async_trait]
impl MultipartUpload for SyncedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let r = self.inner.complete().await?;
        sync_path(self.file.clone()).await?;
        Ok(r)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for SyncedLocal {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let r = self.inner.put_opts(location, payload, opts).await?;
        sync_path(self.inner.path_to_filesystem(location)?).await?;
        Ok(r)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(SyncedUpload {
            inner,
            file: self.inner.path_to_filesystem(location)?,
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Counts requests, errors and bytes by operation.
#[derive(Debug)]
struct Metered {
    inner: Arc<dyn ObjectStore>,
    metrics: Arc<Metrics>,
}

impl fmt::Display for Metered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Metered({})", self.inner)
    }
}

impl Metered {
    fn count<T>(&self, op: &str, r: object_store::Result<T>) -> object_store::Result<T> {
        self.metrics.store_requests.with_label_values(&[op]).inc();
        if r.is_err() {
            self.metrics.store_errors.with_label_values(&[op]).inc();
        }
        r
    }
}

#[derive(Debug)]
struct MeteredUpload {
    inner: Box<dyn MultipartUpload>,
    metrics: Arc<Metrics>,
}

#[async_trait]
impl MultipartUpload for MeteredUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.metrics
            .store_requests
            .with_label_values(&["put_part"])
            .inc();
        self.metrics
            .store_bytes
            .with_label_values(&["up"])
            .inc_by(data.content_length() as u64);
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.metrics
            .store_requests
            .with_label_values(&["complete_multipart"])
            .inc();
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for Metered {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let len = payload.content_length() as u64;
        let started = std::time::Instant::now();
        let r = self.inner.put_opts(location, payload, opts).await;
        self.metrics
            .store_latency
            .with_label_values(&["put"])
            .observe(started.elapsed().as_secs_f64());
        let r = self.count("put", r);
        if r.is_ok() {
            self.metrics
                .store_bytes
                .with_label_values(&["up"])
                .inc_by(len);
        }
        r
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.count(
            "create_multipart",
            self.inner.put_multipart_opts(location, opts).await,
        )?;
        Ok(Box::new(MeteredUpload {
            inner,
            metrics: self.metrics.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let op = if options.head {
            "head"
        } else if options.range.is_some() {
            "get_range"
        } else {
            "get"
        };
        let started = std::time::Instant::now();
        let r = self.inner.get_opts(location, options).await;
        self.metrics
            .store_latency
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        let r = self.count(op, r);
        if let Ok(g) = &r {
            self.metrics
                .store_bytes
                .with_label_values(&["down"])
                .inc_by(g.range.end - g.range.start);
        }
        r
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let r = self.count("get_range", self.inner.get_ranges(location, ranges).await);
        if let Ok(parts) = &r {
            let n: usize = parts.iter().map(Bytes::len).sum();
            self.metrics
                .store_bytes
                .with_label_values(&["down"])
                .inc_by(n as u64);
        }
        r
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.metrics
            .store_requests
            .with_label_values(&["delete"])
            .inc();
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.metrics
            .store_requests
            .with_label_values(&["list"])
            .inc();
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let r = self.inner.list_with_delimiter(prefix).await;
        self.count("list", r)
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let r = self.inner.copy_opts(from, to, options).await;
        self.count("copy", r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_prefix_is_claimed_once_and_refused_to_another_cluster() {
        let metrics = Arc::new(Metrics::new());
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}", dir.path().join("bucket").display());
        let store = open(&url, metrics.clone()).expect("opens");
        claim(store.as_ref(), "a").await.expect("claims");
        claim(store.as_ref(), "a")
            .await
            .expect("same cluster again");
        let err = claim(store.as_ref(), "b")
            .await
            .expect_err("another cluster");
        assert!(
            matches!(&err, ClaimError::Foreign(m) if m.contains("belongs to cluster a")),
            "{err}"
        );
        ping(store.as_ref()).await.expect("answers");
        let text = metrics.render(&crate::metrics::Sources {
            ingest: None,
            read: &strata_cache::ReadStats::default(),
            compactor: None,
            archiver: None,
            quorum: None,
            usage: None,
            receiving: 0,
        });
        assert!(
            text.contains("strata_object_store_requests_total{op=\"put\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn bad_urls_are_refused_with_the_forms_that_work() {
        let m = Arc::new(Metrics::new());
        for url in ["ftp://x", "file://relative/path", "s3://"] {
            let e = open(url, m.clone()).expect_err("refused");
            assert!(e.contains(url), "{e}");
        }
    }
}
