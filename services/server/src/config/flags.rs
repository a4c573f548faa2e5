//! Flags of `strata serve`.

use std::path::PathBuf;

use super::{ConfigError, legacy};

/// Flags of `strata serve`: the node-level settings, and `--set` for a role's.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Hot tier, quorum state and cache directory [default: ./strata-data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTP API [default: 127.0.0.1:8080]
    #[arg(long)]
    pub listen: Option<String>,
    /// Address other nodes reach this node at [default: its --meta-peers entry, else --listen]
    #[arg(long)]
    pub advertise: Option<String>,
    /// file:///abs/path, memory:// or s3://bucket/prefix [default: file://DATA_DIR/bucket]
    #[arg(long)]
    pub object_store: Option<String>,
    /// Comma-separated roles: meta,ingest,compactor,archiver [default: all]
    #[arg(long)]
    pub roles: Option<String>,
    /// This node's id: required for voters (their --meta-peers id; 1 for a single node), and
    /// otherwise an optional name no other live process may have
    #[arg(long)]
    pub node_id: Option<u64>,
    /// Voters of the quorum: 1=HOST:PORT,2=HOST:PORT,...
    #[arg(long)]
    pub meta_peers: Option<String>,
    /// File holding the cluster secret members prove themselves with on the internal API
    /// (required with more than one process; the same file on every member)
    #[arg(long)]
    pub cluster_secret_file: Option<PathBuf>,
    /// File holding the bootstrap token: turns authentication on, and the token is a
    /// superuser's (principal `bootstrap`)
    #[arg(long)]
    pub auth_bootstrap_token_file: Option<PathBuf>,
    /// A JWKS file: bearer JWTs signed by its keys authenticate as their `sub` (needs
    /// --auth-jwt-issuer and --auth-jwt-audience)
    #[arg(long)]
    pub auth_jwks_file: Option<PathBuf>,
    /// The issuer (`iss`) every JWT must name
    #[arg(long)]
    pub auth_jwt_issuer: Option<String>,
    /// The audience (`aud`) every JWT must name
    #[arg(long)]
    pub auth_jwt_audience: Option<String>,
    /// Serve HTTPS on --listen with this certificate chain (PEM, leaf first); read again
    /// whenever it changes
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert-file
    #[arg(long)]
    pub tls_key_file: Option<PathBuf>,
    /// Authorities (PEM) whose client certificates authenticate as the principal they name
    /// (mTLS; the subject's CN, else a DNS name or email of its alternative names)
    #[arg(long)]
    pub tls_client_ca_file: Option<PathBuf>,
    /// Authorities (PEM) trusted when this node calls other members over HTTPS [default: the
    /// system's]
    #[arg(long)]
    pub tls_ca_file: Option<PathBuf>,
    /// Serve without authentication on a listen address beyond this host
    #[arg(long)]
    pub allow_anonymous: bool,
    /// How long SIGTERM waits for staged records to ship, e.g. 30s
    #[arg(long)]
    pub shutdown_timeout: Option<String>,
    /// Log format: text or json [default: text]
    #[arg(long)]
    pub log_format: Option<String>,
    /// Any setting of the config file, as SECTION.KEY=VALUE (e.g. --set
    /// ingest.flush-interval=50ms); repeat for more. Every setting can also be given as
    /// STRATA_SECTION_KEY (STRATA_INGEST_FLUSH_INTERVAL=50ms)
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub set: Vec<String>,
    /// Same as --set ingest.flush-interval=VALUE (kept for earlier releases' command lines)
    #[arg(long, hide = true)]
    pub flush_interval: Option<String>,
    /// Same as --set ingest.flush-bytes=VALUE
    #[arg(long, hide = true)]
    pub flush_bytes: Option<String>,
    /// Same as --set ingest.max-inflight-bytes=VALUE
    #[arg(long, hide = true)]
    pub max_inflight_bytes: Option<String>,
    /// Same as --set ingest.commit-timeout=VALUE
    #[arg(long, hide = true)]
    pub commit_timeout: Option<String>,
}

impl Overrides {
    /// `(path, value, flag)` for every flag given.
    pub(super) fn given(&self) -> Result<Vec<(String, toml::Value, String)>, ConfigError> {
        let text = |v: &str| toml::Value::String(v.to_string());
        let mut out = Vec::new();
        let mut flag = |path: &str, value: Option<toml::Value>, name: &str| {
            if let Some(v) = value {
                out.push((path.to_string(), v, format!("--{name}")));
            }
        };
        let path_text = |p: &Option<PathBuf>| p.as_ref().map(|p| text(&p.to_string_lossy()));
        flag("data-dir", path_text(&self.data_dir), "data-dir");
        flag("listen", self.listen.as_deref().map(text), "listen");
        flag(
            "advertise",
            self.advertise.as_deref().map(text),
            "advertise",
        );
        flag(
            "object-store",
            self.object_store.as_deref().map(text),
            "object-store",
        );
        flag("roles", self.roles.as_deref().map(text), "roles");
        flag(
            "node-id",
            self.node_id.map(|n| toml::Value::Integer(n as i64)),
            "node-id",
        );
        flag(
            "meta-peers",
            self.meta_peers.as_deref().map(text),
            "meta-peers",
        );
        flag(
            "cluster-secret-file",
            path_text(&self.cluster_secret_file),
            "cluster-secret-file",
        );
        flag(
            "auth-bootstrap-token-file",
            path_text(&self.auth_bootstrap_token_file),
            "auth-bootstrap-token-file",
        );
        flag(
            "auth-jwks-file",
            path_text(&self.auth_jwks_file),
            "auth-jwks-file",
        );
        flag(
            "auth-jwt-issuer",
            self.auth_jwt_issuer.as_deref().map(text),
            "auth-jwt-issuer",
        );
        flag(
            "auth-jwt-audience",
            self.auth_jwt_audience.as_deref().map(text),
            "auth-jwt-audience",
        );
        for (key, value) in [
            ("tls-cert-file", &self.tls_cert_file),
            ("tls-key-file", &self.tls_key_file),
            ("tls-client-ca-file", &self.tls_client_ca_file),
            ("tls-ca-file", &self.tls_ca_file),
        ] {
            flag(key, path_text(value), key);
        }
        flag(
            "allow-anonymous",
            self.allow_anonymous.then_some(toml::Value::Boolean(true)),
            "allow-anonymous",
        );
        flag(
            "shutdown-timeout",
            self.shutdown_timeout.as_deref().map(text),
            "shutdown-timeout",
        );
        flag(
            "log-format",
            self.log_format.as_deref().map(text),
            "log-format",
        );
        for (path, value, name) in [
            (
                "ingest.flush-interval",
                &self.flush_interval,
                "flush-interval",
            ),
            ("ingest.flush-bytes", &self.flush_bytes, "flush-bytes"),
            (
                "ingest.max-inflight-bytes",
                &self.max_inflight_bytes,
                "max-inflight-bytes",
            ),
            (
                "ingest.commit-timeout",
                &self.commit_timeout,
                "commit-timeout",
            ),
        ] {
            flag(path, value.as_deref().map(text), name);
        }
        for set in &self.set {
            let Some((key, value)) = set.split_once('=') else {
                return Err(ConfigError::new(
                    set,
                    Some("--set".into()),
                    "expected SECTION.KEY=VALUE",
                ));
            };
            let key = key.trim();
            let path = legacy::moved(key).unwrap_or(key);
            out.push((path.to_string(), text(value), format!("--set {key}")));
        }
        Ok(out)
    }
}
