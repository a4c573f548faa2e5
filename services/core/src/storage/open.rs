//! Opening the bucket by URL, and the local directory that syncs what it writes.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;

use super::hooked::{Hooked, Hooks};

/// Opens the object store named by `url`: `file:///abs/path`, `memory://` or
/// `s3://bucket/prefix` (endpoint and credentials from the standard `AWS_*` variables).
pub fn open(url: &str) -> Result<Arc<dyn ObjectStore>, String> {
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(format!(
                "object store {url:?}: file:// needs an absolute path, like file:///var/lib/strata/bucket"
            ));
        }
        std::fs::create_dir_all(path)
            .map_err(|e| format!("object store {url:?}: cannot create {path}: {e}"))?;
        let local = Arc::new(
            LocalFileSystem::new_with_prefix(path)
                .map_err(|e| format!("object store {url:?}: {e}"))?,
        );
        Ok(Arc::new(Hooked::new(local.clone(), Synced { local })))
    } else if url == "memory://" || url == "memory:" {
        Ok(Arc::new(InMemory::new()))
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
            Ok(Arc::new(s3))
        } else {
            Ok(Arc::new(PrefixStore::new(s3, prefix)))
        }
    } else {
        Err(format!(
            "unknown object store {url:?}: use file:///abs/path, memory:// or s3://bucket/prefix"
        ))
    }
}

/// A local directory whose writes are fsync'd (file and directory) before they return:
/// object_store's `LocalFileSystem` renames into place but does not fsync, and the bucket is
/// the durability point of `acks=all`.
#[derive(Debug)]
struct Synced {
    local: Arc<LocalFileSystem>,
}

#[async_trait]
impl Hooks for Synced {
    async fn written(&self, location: &Path) -> object_store::Result<()> {
        sync_path(self.local.path_to_filesystem(location)?).await
    }
}

async fn sync_path(file: PathBuf) -> object_store::Result<()> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| object_store::Error::Generic {
        store: "local",
        source: e,
    };
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::File::open(&file)?.sync_all()?;
        if let Some(dir) = file.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(|e| failed(Box::new(e)))?
    .map_err(|e| failed(Box::new(e)))
}

#[cfg(test)]
mod tests;
