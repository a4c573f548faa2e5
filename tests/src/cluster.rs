//! A cluster of real processes: voters on fixed loopback ports, ingest nodes, one S3 bucket.

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::{Api, Node, NodeOptions, S3Server, eventually, free_port};

/// Voters (`--roles meta`) and ingest nodes (`--roles ingest`) sharing a moto bucket.
#[derive(Debug)]
pub struct Cluster {
    /// The S3 server.
    pub s3: S3Server,
    /// Voters, by index (node id = index + 1).
    pub voters: Vec<Node>,
    /// Ingest nodes, by index (node id = index + 11).
    pub ingest: Vec<Node>,
    config: String,
    peers: String,
    /// Every node serves HTTPS: its flags, and the CA clients trust.
    https: Option<(Vec<String>, std::path::PathBuf)>,
}

/// The cluster secret every node of a [`Cluster`] is started with.
pub const SECRET: &str = "test-cluster-secret-0123456789abcdef";

/// The variable that names the cluster secret's file, for `strata serve` and `strata cluster`.
pub const SECRET_ENV: &str = "STRATA_CLUSTER_SECRET_FILE";

/// The file holding [`SECRET`] (written once per test process).
pub fn secret_file() -> std::path::PathBuf {
    crate::file_once("cluster-secret", &format!("{SECRET}\n"))
}

fn peers(ports: &[u16]) -> String {
    ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",")
}

/// Options of a cluster node: the shared bucket, a role, an id (if any) and the voters it
/// knows.
fn node_opts(
    s3: &S3Server,
    config: &str,
    role: &str,
    id: Option<u64>,
    port: Option<u16>,
    ready: bool,
    peers: &str,
) -> NodeOptions {
    let mut args: Vec<String> = vec![
        "--set".into(),
        "ingest.flush-interval=50ms".into(),
        "--roles".into(),
        role.into(),
        "--meta-peers".into(),
        peers.into(),
        "--cluster-secret-file".into(),
        secret_file().display().to_string(),
    ];
    if let Some(id) = id {
        args.extend(["--node-id".to_string(), id.to_string()]);
    }
    NodeOptions {
        object_store: Some("s3://cluster/c".into()),
        env: S3Server::env(&s3.addr()),
        args,
        config: Some(config.to_string()),
        port,
        wait_ready: ready,
        data_dir: None,
        tls_ca: None,
    }
}

/// `opts`, serving HTTPS when `https` says how.
fn with_https(
    mut opts: NodeOptions,
    https: Option<&(Vec<String>, std::path::PathBuf)>,
) -> NodeOptions {
    if let Some((args, ca)) = https {
        opts.args.extend(args.iter().cloned());
        opts.tls_ca = Some(ca.clone());
    }
    opts
}

impl Cluster {
    /// Starts `voters` voters and `ingest` ingest nodes; `config` is every node's TOML.
    pub async fn start(voters: usize, ingest: usize, config: &str) -> anyhow::Result<Self> {
        Self::start_with(voters, ingest, config, None).await
    }

    /// Starts a cluster whose every node serves HTTPS with a certificate of `pki`.
    pub async fn start_over_https(
        voters: usize,
        ingest: usize,
        config: &str,
        pki: &crate::pki::Pki,
    ) -> anyhow::Result<Self> {
        Self::start_with(voters, ingest, config, Some(crate::pki::https(pki)?)).await
    }

    async fn start_with(
        voters: usize,
        ingest: usize,
        config: &str,
        https: Option<(Vec<String>, std::path::PathBuf)>,
    ) -> anyhow::Result<Self> {
        let s3 = S3Server::start().await?;
        s3.create_bucket("cluster").await?;
        let ports: Vec<u16> = (0..voters).map(|_| free_port()).collect();
        let peers = peers(&ports);
        let opts = |role: &str, id: usize, port: Option<u16>, ready: bool| {
            with_https(
                node_opts(&s3, config, role, Some(id as u64), port, ready, &peers),
                https.as_ref(),
            )
        };
        // Voters alone cannot be ready: start them all, then wait.
        let mut vs = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            vs.push(Node::start(opts("meta", i + 1, Some(*port), false)).await?);
        }
        for v in &mut vs {
            v.wait_ready(Duration::from_secs(60)).await?;
        }
        let mut is = Vec::new();
        for i in 0..ingest {
            is.push(Node::start(opts("ingest", i + 11, None, true)).await?);
        }
        Ok(Self {
            s3,
            voters: vs,
            ingest: is,
            config: config.to_string(),
            peers,
            https,
        })
    }

    /// Starts a voter that is not (yet) in the quorum, with its own view of the voters
    /// (`peers`, `id=host:port,...`, including itself). It cannot be ready until it is added.
    pub async fn start_extra_voter(
        &mut self,
        id: u64,
        port: u16,
        peers: &str,
    ) -> anyhow::Result<()> {
        let opts = node_opts(
            &self.s3,
            &self.config,
            "meta",
            Some(id),
            Some(port),
            false,
            peers,
        );
        self.voters
            .push(Node::start(with_https(opts, self.https.as_ref())).await?);
        Ok(())
    }

    /// Starts a node with `role` (for example `compactor`) and no node id in this cluster (it
    /// gets a fresh writer identity, so it can be started again on a new directory right after
    /// a `kill -9`); the caller owns it.
    pub async fn start_node(&self, role: &str) -> anyhow::Result<Node> {
        Node::start(self.node_options(role, None)).await
    }

    /// Returns the options of a node with `role` and node id `id` (none: a nameless node that
    /// gets a fresh writer identity at every start) in this cluster, ready to adjust.
    pub fn node_options(&self, role: &str, id: Option<u64>) -> NodeOptions {
        with_https(
            node_opts(&self.s3, &self.config, role, id, None, true, &self.peers),
            self.https.as_ref(),
        )
    }

    /// Returns `/v1/cluster` as seen by the first running voter.
    pub async fn status(&self) -> anyhow::Result<Value> {
        for v in self.voters.iter().filter(|v| v.is_running()) {
            if let Ok((200, s)) = v.api().get("/v1/cluster").await {
                return Ok(s);
            }
        }
        anyhow::bail!("no running voter answers")
    }

    /// Waits until the running voters agree on a leader; returns its index in `voters`.
    pub async fn leader(&self) -> anyhow::Result<usize> {
        eventually(
            Duration::from_secs(60),
            "the voters to agree on a leader",
            || async {
                let mut seen = None;
                for v in self.voters.iter().filter(|v| v.is_running()) {
                    let (_, s) = v.api().get("/v1/cluster").await.ok()?;
                    let l = s["quorum"]["leader"].as_u64()?;
                    if seen.is_some_and(|x| x != l) {
                        return None;
                    }
                    seen = Some(l);
                }
                let i = seen? as usize - 1;
                self.voters.get(i).filter(|v| v.is_running())?;
                Some(i)
            },
        )
        .await
    }

    /// Returns the applied index the voter at `i` reports.
    pub async fn applied_index(&self, i: usize) -> anyhow::Result<u64> {
        let (_, s) = self.voters[i].api().get("/v1/cluster").await?;
        s["quorum"]["applied_index"]
            .as_u64()
            .context("applied_index")
    }

    /// An API client of ingest node `i`.
    pub fn ingest_api(&self, i: usize) -> Api {
        self.ingest[i].api()
    }
}
