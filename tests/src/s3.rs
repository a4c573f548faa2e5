//! A real S3-compatible server (moto) on a free loopback port.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use tokio::process::{Child, Command};

use crate::{eventually, free_port};

/// A moto S3 server, stopped when dropped.
#[derive(Debug)]
pub struct S3Server {
    _child: Child,
    port: u16,
}

fn moto() -> String {
    std::env::var("STRATA_MOTO").unwrap_or_else(|_| "moto_server".to_string())
}

impl S3Server {
    /// Starts moto and waits until it answers.
    pub async fn start() -> anyhow::Result<Self> {
        let port = free_port();
        let child = Command::new(moto())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (the S3 server of the tests): run scripts/test, or \
                     pip install 'moto[server]', or set STRATA_MOTO",
                    moto()
                )
            })?;
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/");
        eventually(Duration::from_secs(30), "moto to answer", || {
            let (http, url) = (http.clone(), url.clone());
            async move { http.get(&url).send().await.ok().map(|_| ()) }
        })
        .await?;
        Ok(Self {
            _child: child,
            port,
        })
    }

    /// Returns `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, name: &str) -> anyhow::Result<()> {
        let r = reqwest::Client::new()
            .put(format!("http://{}/{name}", self.addr()))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("creating bucket {name}: {}", r.status());
        }
        Ok(())
    }

    /// Returns the AWS environment that points a node at `addr` (this server or a proxy).
    pub fn env(addr: &str) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", format!("http://{addr}")),
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Returns a client of `bucket` for assertions on the stored bytes.
    pub fn store(&self, bucket: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
        Ok(Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(format!("http://{}", self.addr()))
                .with_bucket_name(bucket)
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .with_region("us-east-1")
                .with_allow_http(true)
                .build()?,
        ))
    }
}
