//! The node's configuration: node-level settings at the top of the file, and one section per
//! role that deserializes straight into that role's own type (`[ingest]` is
//! [`IngestConfig`], `[cache]` is [`CacheConfig`], ...), whose `Default` is the only default.
//!
//! Layers, each over the one before: defaults, the TOML file, `STRATA_<SECTION>_<KEY>`
//! environment variables (`STRATA_INGEST_FLUSH_BYTES`, `STRATA_DATA_DIR`), then flags: one per
//! node-level setting, and `--set section.key=value` for any key. Adding a knob to a role is
//! one field in that role's crate; the file, the environment, `--set`, the example check and
//! the error that names a bad value all follow from it.

mod flags;
mod forms;
mod layers;
mod legacy;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_archiver::ArchiverConfig;
use strata_cache::CacheConfig;
use strata_compactor::CompactorConfig;
use strata_core::ids::NodeId;
use strata_core::settings::{self, Invalid, Section};
use strata_ingest::IngestConfig;
use strata_meta::MetaConfig;

pub use flags::Overrides;
pub use layers::env_name;

use crate::http::settings::{ConsumersConfig, HttpConfig};
use crate::metrics::Prices;
use layers::Layers;

/// A role a node can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// A voter of the metadata quorum.
    Meta,
    /// Takes produce and fetch requests.
    Ingest,
    /// Merges and compacts segments (issue 5).
    Compactor,
    /// Writes the Parquet archive (issue 6).
    Archiver,
}

impl Role {
    fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "meta" => Ok(Role::Meta),
            "ingest" => Ok(Role::Ingest),
            "compactor" => Ok(Role::Compactor),
            "archiver" => Ok(Role::Archiver),
            other => Err(format!(
                "unknown role {other:?}: roles are meta, ingest, compactor and archiver"
            )),
        }
    }

    /// Returns the role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Meta => "meta",
            Role::Ingest => "ingest",
            Role::Compactor => "compactor",
            Role::Archiver => "archiver",
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line per event, for people.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything a node needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Hot tier, quorum state and cache live here.
    pub data_dir: PathBuf,
    /// Address of the whole HTTP API.
    #[serde(with = "forms::addr")]
    pub listen: SocketAddr,
    /// Address other nodes and clients reach this node at (default: its `meta-peers` entry,
    /// else the listen address).
    #[serde(with = "forms::optional_text")]
    pub advertise: Option<String>,
    /// `file:///abs/path`, `memory://` or `s3://bucket/prefix`.
    pub object_store: String,
    /// Roles this node runs.
    #[serde(with = "forms::roles")]
    pub roles: Vec<Role>,
    /// This node's id: a voter's Raft id (1 when a single node runs on its own), and on any
    /// other node an optional name that no two live processes may share. Writer identity is
    /// not configured: every process start gets a fresh incarnation from the quorum.
    #[serde(with = "forms::node_id", skip_serializing_if = "Option::is_none")]
    pub node_id: Option<NodeId>,
    /// Voters of the quorum, `id=host:port`.
    #[serde(with = "forms::peers")]
    pub meta_peers: Vec<(NodeId, String)>,
    /// The file holding the cluster secret every member proves itself with on the internal
    /// API; required in a cluster of more than one process.
    #[serde(with = "forms::optional_text")]
    pub cluster_secret_file: Option<String>,
    /// The secret read from `cluster_secret_file`.
    #[serde(skip)]
    pub cluster_secret: Option<strata_meta::ClusterSecret>,
    /// The file holding the bootstrap token: it turns authentication on and is a superuser's.
    #[serde(with = "forms::optional_text")]
    pub auth_bootstrap_token_file: Option<String>,
    /// The token read from `auth_bootstrap_token_file`.
    #[serde(skip)]
    pub auth_bootstrap_token: Option<strata_core::secret::Secret>,
    /// A JWKS file: bearer JWTs signed by its keys authenticate as their `sub`.
    #[serde(with = "forms::optional_text")]
    pub auth_jwks_file: Option<String>,
    /// The issuer (`iss`) every JWT must name.
    #[serde(with = "forms::optional_text")]
    pub auth_jwt_issuer: Option<String>,
    /// The audience (`aud`) every JWT must name.
    #[serde(with = "forms::optional_text")]
    pub auth_jwt_audience: Option<String>,
    /// The verifier made from `auth_jwks_file`.
    #[serde(skip)]
    pub jwt: Option<crate::http::jwt::JwtVerifier>,
    /// The certificate chain (PEM, leaf first) HTTPS is served with on `listen`; read again
    /// whenever it changes.
    #[serde(with = "forms::optional_text")]
    pub tls_cert_file: Option<String>,
    /// The private key (PEM) of `tls_cert_file`.
    #[serde(with = "forms::optional_text")]
    pub tls_key_file: Option<String>,
    /// The authorities (PEM) whose client certificates authenticate as the principal they
    /// name (mTLS).
    #[serde(with = "forms::optional_text")]
    pub tls_client_ca_file: Option<String>,
    /// The authorities (PEM) this node trusts when it calls other members over HTTPS (default:
    /// the system's).
    #[serde(with = "forms::optional_text")]
    pub tls_ca_file: Option<String>,
    /// HTTPS, made from the `tls_*` files.
    #[serde(skip)]
    pub tls: Option<std::sync::Arc<crate::http::tls::Tls>>,
    /// The certificates read from `tls_ca_file`.
    #[serde(skip)]
    pub tls_ca_pem: Option<Vec<u8>>,
    /// Serve anyone who can reach a listen address beyond this host, without authentication.
    pub allow_anonymous: bool,
    /// How long `SIGTERM` waits for staged records to ship.
    #[serde(with = "settings::duration")]
    pub shutdown_timeout: Duration,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// `[http]`: request limits of the API.
    pub http: HttpConfig,
    /// `[ingest]`: the write path.
    pub ingest: IngestConfig,
    /// `[cache]`: the read cache.
    pub cache: CacheConfig,
    /// `[meta]`: the quorum (voters).
    pub meta: MetaConfig,
    /// `[compactor]`: retention, compaction, merging and garbage collection.
    pub compactor: CompactorConfig,
    /// `[archiver]`: the Parquet archive.
    pub archiver: ArchiverConfig,
    /// `[consumers]`: REST Proxy v2 consumer instances.
    pub consumers: ConsumersConfig,
    /// `[prices]`: object-store prices for the cost estimate.
    pub prices: Prices,
    /// Old key names the layers used, for the log.
    #[serde(skip)]
    pub notes: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./strata-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            advertise: None,
            object_store: String::new(),
            roles: vec![Role::Meta, Role::Ingest, Role::Compactor, Role::Archiver],
            node_id: None,
            meta_peers: Vec::new(),
            cluster_secret_file: None,
            cluster_secret: None,
            auth_bootstrap_token_file: None,
            auth_bootstrap_token: None,
            auth_jwks_file: None,
            auth_jwt_issuer: None,
            auth_jwt_audience: None,
            jwt: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_ca_file: None,
            tls: None,
            tls_ca_pem: None,
            allow_anonymous: false,
            shutdown_timeout: Duration::from_secs(30),
            log_format: LogFormat::Text,
            http: HttpConfig::default(),
            ingest: IngestConfig::default(),
            cache: CacheConfig::default(),
            meta: MetaConfig::default(),
            compactor: CompactorConfig::default(),
            archiver: ArchiverConfig::default(),
            consumers: ConsumersConfig::default(),
            prices: Prices::default(),
            notes: Vec::new(),
        }
    }
}

/// A setting the node cannot start with: its key, where it was given, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `section.key` or a node-level `key`.
    pub key: String,
    /// `in FILE`, `STRATA_X` or `--flag`; `None` for a combination of settings.
    pub source: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, source: Option<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            source,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{} ({source}): {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Whether a table holding some settings deserializes.
fn takes(t: &toml::Table) -> bool {
    t.clone().try_into::<Config>().is_ok()
}

/// Every setting's `section.key` (or node-level `key`).
pub fn keys() -> Vec<String> {
    let table = toml::Table::try_from(Config::default()).expect("the defaults serialize");
    let mut keys: Vec<String> = layers::leaves(&table).into_iter().map(|(k, _)| k).collect();
    keys.extend(OPTIONAL_KEYS.iter().map(|k| k.to_string()));
    keys
}

/// Keys without a default value: the example shows them commented out.
const OPTIONAL_KEYS: &[&str] = &["node-id"];

/// Checks one role's section, naming its key under the section.
fn check(
    section: &str,
    s: &impl Section,
    sources: &std::collections::BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    s.check().map_err(|Invalid { key, message }| {
        let path = format!("{section}.{key}");
        let source = sources.get(&path).cloned();
        ConfigError::new(&path, source, message)
    })
}

impl Config {
    /// Defaults for tests: short flushes, everything in `dir`.
    pub fn for_test(dir: &Path) -> Self {
        let mut c = Self {
            data_dir: dir.to_path_buf(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            shutdown_timeout: Duration::from_secs(5),
            ..Self::default()
        };
        c.ingest.flush_interval = Duration::from_millis(20);
        c.cache.memory_bytes = 64 << 20;
        c.cache.disk_bytes = 64 << 20;
        c
    }

    /// Builds the config from defaults, an optional TOML file, the environment and flags.
    pub fn load(file: Option<&Path>, o: &Overrides) -> Result<Self, ConfigError> {
        Self::load_with_env(file, o, |name| std::env::var(name).ok())
    }

    /// [`Config::load`] with the environment given as a function (for tests).
    pub fn load_with_env(
        file: Option<&Path>,
        o: &Overrides,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut layers = match file {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new(
                        "config",
                        Some("--config".into()),
                        format!("cannot read {shown}: {e}"),
                    )
                })?;
                let table = toml::from_str::<toml::Table>(&text).map_err(|e| {
                    ConfigError::new(
                        "config",
                        Some(format!("in {shown}")),
                        format!("not TOML: {e}"),
                    )
                })?;
                Layers::from_file(table, &shown)?
            }
            None => Layers::default(),
        };
        let paths = keys();
        layers.environment(&paths, &var, &takes);
        for (path, value, flag) in o.given()? {
            match value {
                toml::Value::String(s) => layers.set_text(&path, &s, flag, &takes),
                v => layers.set(&path, v, flag),
            }
        }
        let mut c: Config = layers
            .table
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| {
                // Name the key: the first one that does not deserialize on its own.
                let culprit = layers::leaves(&layers.table)
                    .into_iter()
                    .find_map(|(path, v)| {
                        layers::single(&path, v)
                            .try_into::<Config>()
                            .err()
                            .map(|e| (path, e))
                    });
                match culprit {
                    Some((path, e)) => {
                        let source = layers.sources.get(&path).cloned();
                        ConfigError::new(&path, source, e.message())
                    }
                    None => ConfigError::new("config", None, e.message()),
                }
            })?;
        check("http", &c.http, &layers.sources)?;
        check("ingest", &c.ingest, &layers.sources)?;
        check("cache", &c.cache, &layers.sources)?;
        check("meta", &c.meta, &layers.sources)?;
        check("compactor", &c.compactor, &layers.sources)?;
        check("archiver", &c.archiver, &layers.sources)?;
        check("consumers", &c.consumers, &layers.sources)?;
        check("prices", &c.prices, &layers.sources)?;
        c.notes = layers.notes;
        if c.object_store.is_empty() {
            let abs = std::path::absolute(&c.data_dir).map_err(|e| {
                ConfigError::new(
                    "data-dir",
                    layers.sources.get("data-dir").cloned(),
                    e.to_string(),
                )
            })?;
            c.object_store = format!("file://{}", abs.join("bucket").display());
        }
        if c.has_role(Role::Meta) && !c.meta_peers.is_empty() && c.node_id.is_none() {
            return Err(ConfigError::new(
                "node-id",
                None,
                "a voter of a quorum needs its id, the one --meta-peers lists it under",
            ));
        }
        let source = || layers.sources.get("cluster-secret-file").cloned();
        match &c.cluster_secret_file {
            Some(path) => {
                let secret = strata_meta::ClusterSecret::from_file(Path::new(path))
                    .map_err(|e| ConfigError::new("cluster-secret-file", source(), e))?;
                c.cluster_secret = Some(secret);
            }
            None if c.is_cluster() => {
                return Err(ConfigError::new(
                    "cluster-secret-file",
                    None,
                    "a cluster of more than one process needs a cluster secret, the same file on every member (make one with `openssl rand -hex 32 > cluster-secret`): members prove themselves with it on the internal API",
                ));
            }
            None => {}
        }
        if let Some(path) = &c.auth_bootstrap_token_file {
            let source = layers.sources.get("auth-bootstrap-token-file").cloned();
            let token = strata_core::secret::Secret::from_file(Path::new(path))
                .map_err(|e| ConfigError::new("auth-bootstrap-token-file", source, e))?;
            c.auth_bootstrap_token = Some(token);
        }
        if let Some(path) = &c.auth_jwks_file {
            let source = layers.sources.get("auth-jwks-file").cloned();
            if c.auth_bootstrap_token.is_none() {
                return Err(ConfigError::new(
                    "auth-jwks-file",
                    source,
                    "JWTs are a way to authenticate: turn authentication on with --auth-bootstrap-token-file too",
                ));
            }
            let verifier = crate::http::jwt::JwtVerifier::from_file(
                Path::new(path),
                c.auth_jwt_issuer.as_deref().unwrap_or_default(),
                c.auth_jwt_audience.as_deref().unwrap_or_default(),
            )
            .map_err(|e| ConfigError::new("auth-jwks-file", source, e))?;
            c.jwt = Some(verifier);
        }
        c.load_tls(&layers.sources)?;
        if c.auth_bootstrap_token.is_none() && !c.allow_anonymous && !c.listen.ip().is_loopback() {
            return Err(ConfigError::new(
                "listen",
                layers.sources.get("listen").cloned(),
                format!(
                    "{} is reachable beyond this host and authentication is off: give --auth-bootstrap-token-file (make one with `openssl rand -hex 32 > token`), or --allow-anonymous to serve anyone who can reach it",
                    c.listen
                ),
            ));
        }
        Ok(c)
    }

    /// Loads the `tls-*` files: HTTPS on `listen`, mTLS, and the authorities trusted for calls
    /// to other members.
    fn load_tls(
        &mut self,
        sources: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        let at = |key: &str| sources.get(key).cloned();
        if let Some(path) = &self.tls_ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| ConfigError::new("tls-ca-file", at("tls-ca-file"), e.to_string()))
                .and_then(|pem| {
                    strata_meta::Peering::check_ca(&pem)
                        .map(|()| pem)
                        .map_err(|e| ConfigError::new("tls-ca-file", at("tls-ca-file"), e))
                })?;
            self.tls_ca_pem = Some(pem);
        }
        let (cert, key) = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(c), Some(k)) => (c, k),
            (None, None) => {
                if self.tls_client_ca_file.is_some() {
                    return Err(ConfigError::new(
                        "tls-client-ca-file",
                        at("tls-client-ca-file"),
                        "client certificates are part of HTTPS: give --tls-cert-file and --tls-key-file too",
                    ));
                }
                return Ok(());
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "tls-key-file",
                    None,
                    "HTTPS needs the certificate's private key too",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "tls-cert-file",
                    None,
                    "HTTPS needs the certificate of the key too",
                ));
            }
        };
        if self.tls_client_ca_file.is_some() && self.auth_bootstrap_token.is_none() {
            return Err(ConfigError::new(
                "tls-client-ca-file",
                at("tls-client-ca-file"),
                "client certificates are a way to authenticate: turn authentication on with --auth-bootstrap-token-file too",
            ));
        }
        let tls = crate::http::tls::Tls::load(
            Path::new(cert),
            Path::new(key),
            self.tls_client_ca_file.as_deref().map(Path::new),
        )
        .map_err(|e| {
            let key = if e.contains("client CA") {
                "tls-client-ca-file"
            } else if e.contains("key file") {
                "tls-key-file"
            } else {
                "tls-cert-file"
            };
            ConfigError::new(key, at(key), e)
        })?;
        self.tls = Some(std::sync::Arc::new(tls));
        Ok(())
    }

    /// How this node calls the other members: the cluster secret, and HTTPS when it serves
    /// HTTPS itself (every member of a cluster serves the same scheme).
    pub fn peering(&self) -> strata_meta::Peering {
        strata_meta::Peering {
            secret: self.cluster_secret.clone(),
            tls: self.tls.is_some(),
            ca_pem: self.tls_ca_pem.clone(),
        }
    }

    /// Returns the address this node tells others to reach it at.
    pub fn advertised(&self, bound: SocketAddr) -> String {
        if let Some(a) = &self.advertise {
            return a.clone();
        }
        if self.has_role(Role::Meta)
            && let Some((_, a)) = self
                .meta_peers
                .iter()
                .find(|(id, _)| *id == self.voter_id())
        {
            return a.clone();
        }
        bound.to_string()
    }

    /// Whether this node is one of several processes (voters listed besides it, or a quorum
    /// elsewhere): its members need the cluster secret to talk to each other.
    pub fn is_cluster(&self) -> bool {
        if self.has_role(Role::Meta) {
            self.meta_peers.iter().any(|(id, _)| *id != self.voter_id())
        } else {
            !self.meta_peers.is_empty()
        }
    }

    /// Returns this voter's Raft id: `--node-id`, else 1 (a single node on its own).
    pub fn voter_id(&self) -> NodeId {
        self.node_id.unwrap_or(NodeId(1))
    }

    /// Returns the node id this process registers under: a voter's id, else `--node-id` if
    /// one was given.
    pub fn name(&self) -> Option<NodeId> {
        if self.has_role(Role::Meta) {
            Some(self.voter_id())
        } else {
            self.node_id
        }
    }

    /// Returns whether the node runs `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[cfg(test)]
mod tests;
