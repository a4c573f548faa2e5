//! A real `strata serve` process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::api::Api;

/// Returns the `strata` binary, building it once per test process if `STRATA_BIN` is unset.
pub fn strata_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("STRATA_BIN") {
            return PathBuf::from(p);
        }
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "strata-server", "--bin", "strata"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the strata binary failed");
        let exe = std::env::current_exe().expect("test binary path");
        // target/debug/deps/<test> -> target/debug/strata
        exe.parent()
            .and_then(Path::parent)
            .map(|d| d.join("strata"))
            .expect("target directory")
    })
    .clone()
}

/// How to start a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Object store URL (`file://` under the data dir when `None`).
    pub object_store: Option<String>,
    /// Extra environment (AWS settings for S3).
    pub env: Vec<(String, String)>,
    /// Extra `serve` flags.
    pub args: Vec<String>,
    /// TOML config file contents.
    pub config: Option<String>,
    /// Listen on this port (voters need fixed addresses); `None` picks a free one.
    pub port: Option<u16>,
    /// Wait for `/readyz` before returning from start (voters alone cannot be ready).
    pub wait_ready: bool,
    /// Run on this data directory instead of a fresh one.
    pub data_dir: Option<PathBuf>,
    /// The node serves HTTPS with a certificate this CA (PEM) signed.
    pub tls_ca: Option<PathBuf>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            object_store: None,
            env: Vec::new(),
            args: vec!["--set".into(), "ingest.flush-interval=50ms".into()],
            config: None,
            port: None,
            wait_ready: true,
            data_dir: None,
            tls_ca: None,
        }
    }
}

/// A running (or stopped) node with its data directory.
#[derive(Debug)]
pub struct Node {
    child: Option<Child>,
    addr: String,
    data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    opts: NodeOptions,
    /// Standard error of the last run, for diagnostics.
    pub log: PathBuf,
}

impl Node {
    /// Starts a node on a fresh data directory.
    pub async fn start(opts: NodeOptions) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut node = Self {
            child: None,
            addr: String::new(),
            data_dir: opts
                .data_dir
                .clone()
                .unwrap_or_else(|| dir.path().join("data")),
            log: dir.path().join("stderr.log"),
            _dir: Some(dir),
            opts,
        };
        node.launch().await?;
        Ok(node)
    }

    /// Returns the data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Returns `http://HOST:PORT`, or `https://` when it serves HTTPS.
    pub fn url(&self) -> String {
        let scheme = if self.opts.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// A client of this node: one that trusts its CA when it serves HTTPS.
    pub fn http(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(120));
        if let Some(ca) = &self.opts.tls_ca {
            let pem = std::fs::read(ca).expect("the test CA is readable");
            b = b.tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).expect("PEM"));
        }
        b.build().expect("client builds")
    }

    /// Returns an API client for this node.
    pub fn api(&self) -> Api {
        Api::over(&self.url(), self.http())
    }

    /// Returns an API client for this node that sends `Authorization: {authorization}`.
    pub fn authorized(&self, authorization: &str) -> Api {
        Api::over(&self.url(), self.http()).with_authorization(authorization)
    }

    /// Returns the object store URL the node uses.
    pub fn object_store(&self) -> String {
        self.opts
            .object_store
            .clone()
            .unwrap_or_else(|| format!("file://{}", self.data_dir.join("bucket").display()))
    }

    /// Starts the process and waits for its `listening on` line.
    async fn launch(&mut self) -> anyhow::Result<()> {
        let mut cmd = Command::new(strata_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.opts.port.unwrap_or(0)))
            .arg("--object-store")
            .arg(self.object_store())
            .args(&self.opts.args)
            .envs(self.opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "info,strata_ingest=debug,openraft=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.log)?,
            )
            .kill_on_drop(true);
        if let Some(text) = &self.opts.config {
            let file = self.data_dir.with_file_name("strata.toml");
            std::fs::write(&file, text)?;
            cmd.arg("--config").arg(file);
        }
        let mut child = cmd.spawn().context("cannot start strata")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return Ok(addr.to_string());
                }
            }
            bail!("strata exited before listening")
        })
        .await;
        let addr = match addr {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => bail!("{e}; its log:\n{}", self.tail_log()),
            Err(_) => bail!(
                "strata did not listen within 60s; its log:\n{}",
                self.tail_log()
            ),
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.addr = addr;
        self.child = Some(child);
        if self.opts.wait_ready {
            self.wait_ready(Duration::from_secs(60)).await?;
        }
        Ok(())
    }

    /// Waits until `/readyz` answers `200`; fails at once if the process exits.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let http = self.http();
        let url = format!("{}/readyz", self.url());
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(c) = self.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                self.child = None;
                bail!(
                    "strata exited ({status}) before it was ready; its log:\n{}",
                    self.tail_log()
                );
            }
            if let Ok(r) = http.get(&url).timeout(Duration::from_secs(2)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "strata was not ready within {timeout:?}; its log:\n{}",
                    self.tail_log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal (`STOP`, `CONT`, `TERM`, ...) to the process.
    pub fn signal(&self, sig: &str) -> anyhow::Result<()> {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .context("not running")?;
        let status = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -{sig} failed");
        Ok(())
    }

    /// Returns whether the process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Returns the last lines of the node's log.
    pub fn tail_log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Kills the process with SIGKILL and waits for it.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.start_kill()?;
            c.wait().await?;
        }
        Ok(())
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let mut c = self.child.take().context("not running")?;
        let pid = c.id().context("no pid")?;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        Ok(tokio::time::timeout(Duration::from_secs(60), c.wait()).await??)
    }

    /// Waits (up to `timeout`) for the process to exit by itself; returns its status.
    pub async fn wait_exit(
        &mut self,
        timeout: Duration,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let mut c = self.child.take().context("not running")?;
        match tokio::time::timeout(timeout, c.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                self.child = Some(c);
                bail!(
                    "strata still runs after {timeout:?}; its log:\n{}",
                    self.tail_log()
                )
            }
        }
    }

    /// Returns the whole log of the node's runs.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Starts the node again on the same data directory (a new port).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            self.kill9().await?;
        }
        self.launch().await
    }

    /// Runs a `strata` client command against this node and returns (success, stdout, stderr).
    pub async fn cli(
        &self,
        args: &[&str],
        stdin: Option<&str>,
    ) -> anyhow::Result<(bool, String, String)> {
        let (code, out, err) = self.cli_bytes(args, stdin.map(str::as_bytes)).await?;
        Ok((
            code == Some(0),
            String::from_utf8_lossy(&out).into_owned(),
            err,
        ))
    }

    /// Runs a `strata` client command against this node and returns (exit code, stdout bytes,
    /// stderr).
    pub async fn cli_bytes(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> anyhow::Result<(Option<i32>, Vec<u8>, String)> {
        let mut cmd = Command::new(strata_bin());
        cmd.args(args)
            .env("STRATA_URL", self.url())
            // The cluster commands speak the internal API with the test clusters' secret.
            .env(crate::cluster::SECRET_ENV, crate::cluster::secret_file())
            .envs(self.opts.tls_ca.iter().map(|ca| ("STRATA_CA_FILE", ca)))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt;
            let mut s = child.stdin.take().context("stdin")?;
            s.write_all(input).await?;
            drop(s);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await??;
        Ok((
            out.status.code(),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}
