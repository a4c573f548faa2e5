//! The node's typed configuration: defaults, then a TOML file, then `STRATA_*` environment
//! variables and flags (clap reads both; flags win).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use strata_core::ids::NodeId;

use crate::units::{parse_duration, parse_size};

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

/// Everything a node needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Hot tier, quorum state and cache live here.
    pub data_dir: PathBuf,
    /// Address of the whole HTTP API.
    pub listen: SocketAddr,
    /// Address other nodes and clients reach this node at (default: its `meta-peers` entry,
    /// else the listen address).
    pub advertise: Option<String>,
    /// `file:///abs/path`, `memory://` or `s3://bucket/prefix`.
    pub object_store: String,
    /// Roles this node runs.
    pub roles: Vec<Role>,
    /// This node's id: a voter's Raft id (1 when a single node runs on its own), and on any
    /// other node an optional name that no two live processes may share. Writer identity is
    /// not configured: every process start gets a fresh incarnation from the quorum.
    pub node_id: Option<NodeId>,
    /// Voters of the quorum, `id=host:port`.
    pub meta_peers: Vec<(NodeId, String)>,
    /// Seal and ship at least this often.
    pub flush_interval: Duration,
    /// Seal and ship once this many bytes are staged.
    pub flush_bytes: u64,
    /// Bytes accepted and not yet committed, before `503`.
    pub max_inflight_bytes: u64,
    /// Largest produce request body.
    pub max_request_bytes: u64,
    /// Request bytes being received and parsed at once, across requests, before `503`.
    pub max_buffered_request_bytes: u64,
    /// Hot-tier segment size.
    pub hot_segment_bytes: u64,
    /// Committed hot-tier bytes kept (and read from) before deletion.
    pub hot_retain_bytes: u64,
    /// Memory tier of the read cache.
    pub cache_memory_bytes: u64,
    /// Disk tier of the read cache (under `<data-dir>/cache`); 0 disables it.
    pub cache_disk_bytes: u64,
    /// Block size of the read cache: the unit of GETs and of caching.
    pub cache_block_bytes: u64,
    /// Cold reads (bucket GETs for fetches) in flight at once.
    pub cold_read_concurrency: usize,
    /// Bandwidth of cold reads, bytes per second; 0 is unlimited.
    pub cold_read_bytes_per_sec: u64,
    /// Blocks fetched ahead of a sequential reader.
    pub read_ahead_blocks: usize,
    /// Objects uploading at once.
    pub max_concurrent_uploads: usize,
    /// Objects at least this large are uploaded in parts.
    pub multipart_threshold: u64,
    /// How long `acks=all` waits for its commit.
    pub commit_timeout: Duration,
    /// A produce retried with the same `Idempotency-Key` within this window is stored once.
    pub idempotency_window: Duration,
    /// At most this many `Idempotency-Key`s are kept by the quorum (oldest forgotten first).
    pub idempotency_max_keys: u64,
    /// Log entries between quorum snapshots.
    pub snapshot_logs: u64,
    /// Shortest Raft election timeout of voters: a new leader is elected about 3 to 4 times
    /// this long after the old one stops, and a leader cut off for this long takes no writes.
    pub election_timeout: Duration,
    /// How long `SIGTERM` waits for staged records to ship.
    pub shutdown_timeout: Duration,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Time between the compactor's background passes.
    pub compactor_interval: Duration,
    /// Largest segment the compactor writes (and its memory per rewrite).
    pub compactor_run_bytes: u64,
    /// Bytes a background pass rewrites per partition before moving on.
    pub compactor_pass_bytes: u64,
    /// Object-store requests the compactor has in flight.
    pub compactor_requests_in_flight: usize,
    /// Bytes per second the compactor rewrites, at most (0: unlimited).
    pub compactor_bytes_per_sec: u64,
    /// A background merge starts once this many small extents are in a row.
    pub compactor_merge_min_extents: usize,
    /// How long an unreferenced object stays for in-flight readers.
    pub gc_grace: Duration,
    /// How old an uncommitted upload must be before it is deleted as an orphan.
    pub orphan_grace: Duration,
    /// Time between the archiver's background passes.
    pub archiver_interval: Duration,
    /// Largest Parquet row group the archiver writes (encoded bytes).
    pub archiver_row_group_bytes: u64,
    /// zstd level of archive pages.
    pub archiver_zstd_level: i32,
    /// Raw record bytes per second the archiver archives, at most (0: unlimited).
    pub archiver_bytes_per_sec: u64,
    /// A REST Proxy v2 consumer instance is deleted after this long without a request
    /// (`consumer.instance.timeout.ms`).
    pub consumer_instance_timeout: Duration,
    /// Most record bytes one v2 records fetch returns when it names no `max_bytes`.
    pub consumer_request_max_bytes: u64,
    /// Longest a v2 records fetch waits for records when the instance names no
    /// `consumer.request.timeout.ms`.
    pub consumer_request_timeout: Duration,
    /// Price of 1,000 PUT-class object-store requests (PUT, POST, COPY, LIST), in dollars.
    pub price_put_requests_per_1000: f64,
    /// Price of 1,000 GET-class object-store requests (GET, HEAD), in dollars.
    pub price_get_requests_per_1000: f64,
    /// Price of storing one GiB for a month, in dollars.
    pub price_storage_gib_month: f64,
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
            flush_interval: Duration::from_millis(250),
            flush_bytes: 8 << 20,
            max_inflight_bytes: 256 << 20,
            max_request_bytes: 64 << 20,
            max_buffered_request_bytes: 256 << 20,
            hot_segment_bytes: 64 << 20,
            hot_retain_bytes: 0,
            cache_memory_bytes: 256 << 20,
            cache_disk_bytes: 4 << 30,
            cache_block_bytes: 16 << 20,
            cold_read_concurrency: 8,
            cold_read_bytes_per_sec: 512 << 20,
            read_ahead_blocks: 2,
            max_concurrent_uploads: 4,
            multipart_threshold: 32 << 20,
            commit_timeout: Duration::from_secs(30),
            idempotency_window: Duration::from_secs(600),
            idempotency_max_keys: 200_000,
            snapshot_logs: 10_000,
            election_timeout: Duration::from_millis(300),
            shutdown_timeout: Duration::from_secs(30),
            log_format: "text".to_string(),
            compactor_interval: Duration::from_secs(30),
            compactor_run_bytes: 64 << 20,
            compactor_pass_bytes: 512 << 20,
            compactor_requests_in_flight: 4,
            compactor_bytes_per_sec: 64 << 20,
            compactor_merge_min_extents: 32,
            gc_grace: Duration::from_secs(300),
            orphan_grace: Duration::from_secs(3600),
            archiver_interval: Duration::from_secs(30),
            archiver_row_group_bytes: 8 << 20,
            archiver_zstd_level: 3,
            archiver_bytes_per_sec: 64 << 20,
            consumer_instance_timeout: Duration::from_secs(300),
            consumer_request_max_bytes: 8 << 20,
            consumer_request_timeout: Duration::from_secs(1),
            // AWS S3 Standard list prices (us-east-1).
            price_put_requests_per_1000: 0.005,
            price_get_requests_per_1000: 0.0004,
            price_storage_gib_month: 0.023,
        }
    }
}

/// The TOML file's shape: every key optional, human units as strings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<Human>,
    advertise: Option<Human>,
    object_store: Option<Human>,
    roles: Option<Roles>,
    node_id: Option<u64>,
    meta_peers: Option<Human>,
    flush_interval: Option<Human>,
    flush_bytes: Option<Human>,
    max_inflight_bytes: Option<Human>,
    max_request_bytes: Option<Human>,
    max_buffered_request_bytes: Option<Human>,
    hot_segment_bytes: Option<Human>,
    hot_retain_bytes: Option<Human>,
    cache_memory_bytes: Option<Human>,
    cache_disk_bytes: Option<Human>,
    cache_block_bytes: Option<Human>,
    cold_read_concurrency: Option<usize>,
    cold_read_bytes_per_sec: Option<Human>,
    read_ahead_blocks: Option<usize>,
    max_concurrent_uploads: Option<usize>,
    multipart_threshold: Option<Human>,
    commit_timeout: Option<Human>,
    idempotency_window: Option<Human>,
    idempotency_max_keys: Option<u64>,
    snapshot_logs: Option<u64>,
    election_timeout: Option<Human>,
    shutdown_timeout: Option<Human>,
    log_format: Option<Human>,
    compactor_interval: Option<Human>,
    compactor_run_bytes: Option<Human>,
    compactor_pass_bytes: Option<Human>,
    compactor_requests_in_flight: Option<usize>,
    compactor_bytes_per_sec: Option<Human>,
    compactor_merge_min_extents: Option<usize>,
    gc_grace: Option<Human>,
    orphan_grace: Option<Human>,
    archiver_interval: Option<Human>,
    archiver_row_group_bytes: Option<Human>,
    archiver_zstd_level: Option<i32>,
    archiver_bytes_per_sec: Option<Human>,
    consumer_instance_timeout: Option<Human>,
    consumer_request_max_bytes: Option<Human>,
    consumer_request_timeout: Option<Human>,
    price_put_requests_per_1000: Option<f64>,
    price_get_requests_per_1000: Option<f64>,
    price_storage_gib_month: Option<f64>,
}

/// Keys without a default value: the example shows them commented out.
#[cfg(test)]
const OPTIONAL_KEYS: &[&str] = &["node-id"];

/// Every key of the config file; `STRATA_<KEY>` (upper case, `-` as `_`) overrides each.
pub const KEYS: &[&str] = &[
    "data-dir",
    "listen",
    "advertise",
    "object-store",
    "roles",
    "node-id",
    "meta-peers",
    "flush-interval",
    "flush-bytes",
    "max-inflight-bytes",
    "max-request-bytes",
    "max-buffered-request-bytes",
    "hot-segment-bytes",
    "hot-retain-bytes",
    "cache-memory-bytes",
    "cache-disk-bytes",
    "cache-block-bytes",
    "cold-read-concurrency",
    "cold-read-bytes-per-sec",
    "read-ahead-blocks",
    "max-concurrent-uploads",
    "multipart-threshold",
    "commit-timeout",
    "idempotency-window",
    "idempotency-max-keys",
    "snapshot-logs",
    "election-timeout",
    "shutdown-timeout",
    "log-format",
    "compactor-interval",
    "compactor-run-bytes",
    "compactor-pass-bytes",
    "compactor-requests-in-flight",
    "compactor-bytes-per-sec",
    "compactor-merge-min-extents",
    "gc-grace",
    "orphan-grace",
    "archiver-interval",
    "archiver-row-group-bytes",
    "archiver-zstd-level",
    "archiver-bytes-per-sec",
    "consumer-instance-timeout",
    "consumer-request-max-bytes",
    "consumer-request-timeout",
    "price-put-requests-per-1000",
    "price-get-requests-per-1000",
    "price-storage-gib-month",
];

/// The environment variable that overrides `key`.
pub fn env_name(key: &str) -> String {
    format!("STRATA_{}", key.to_ascii_uppercase().replace('-', "_"))
}

/// A size, duration or other text value; TOML numbers are taken as their text (`8388608`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Human {
    Text(String),
    Int(i64),
}

impl From<Human> for String {
    fn from(h: Human) -> String {
        match h {
            Human::Text(s) => s,
            Human::Int(i) => i.to_string(),
        }
    }
}

/// Roles as a list (`["meta", "ingest"]`) or comma-separated (`"meta,ingest"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Roles {
    List(Vec<String>),
    Text(String),
}

impl Roles {
    fn joined(&self) -> String {
        match self {
            Roles::List(l) => l.join(","),
            Roles::Text(s) => s.clone(),
        }
    }
}

/// Reads `STRATA_<KEY>` variables into the file's table and returns the keys they set. A value
/// that reads as a number is a number where the key takes one (`STRATA_NODE_ID=2`), text
/// otherwise (`STRATA_DATA_DIR=2` is a directory named `2`).
fn env_layer(table: &mut toml::Table, var: impl Fn(&str) -> Option<String>) -> Vec<&'static str> {
    let takes = |key: &str, value: &toml::Value| {
        let mut one = toml::Table::new();
        one.insert(key.to_string(), value.clone());
        one.try_into::<FileConfig>().is_ok()
    };
    let mut set = Vec::new();
    for key in KEYS {
        let Some(v) = var(&env_name(key)) else {
            continue;
        };
        let t = v.trim();
        let number = match t.parse::<i64>() {
            Ok(i) => Some(toml::Value::Integer(i)),
            Err(_) => t
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(toml::Value::Float),
        };
        let value = number
            .filter(|n| takes(key, n))
            .unwrap_or_else(|| toml::Value::String(v.clone()));
        table.insert((*key).to_string(), value);
        set.push(*key);
    }
    set
}

/// Values from the environment and flags (`None` = not given).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Hot tier, quorum state and cache directory [default: ./strata-data]
    #[arg(long, env = "STRATA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTP API [default: 127.0.0.1:8080]
    #[arg(long, env = "STRATA_LISTEN")]
    pub listen: Option<String>,
    /// Address other nodes reach this node at [default: its --meta-peers entry, else --listen]
    #[arg(long, env = "STRATA_ADVERTISE")]
    pub advertise: Option<String>,
    /// file:///abs/path, memory:// or s3://bucket/prefix [default: file://DATA_DIR/bucket]
    #[arg(long, env = "STRATA_OBJECT_STORE")]
    pub object_store: Option<String>,
    /// Comma-separated roles: meta,ingest,compactor,archiver [default: all]
    #[arg(long, env = "STRATA_ROLES")]
    pub roles: Option<String>,
    /// This node's id: required for voters (their --meta-peers id; 1 for a single node), and
    /// otherwise an optional name no other live process may have
    #[arg(long, env = "STRATA_NODE_ID")]
    pub node_id: Option<u64>,
    /// Voters of the quorum: 1=HOST:PORT,2=HOST:PORT,...
    #[arg(long, env = "STRATA_META_PEERS")]
    pub meta_peers: Option<String>,
    /// Seal and ship at least this often, e.g. 250ms
    #[arg(long, env = "STRATA_FLUSH_INTERVAL")]
    pub flush_interval: Option<String>,
    /// Seal and ship once this much is staged, e.g. 8MiB
    #[arg(long, env = "STRATA_FLUSH_BYTES")]
    pub flush_bytes: Option<String>,
    /// Bytes accepted but not yet committed before 503, e.g. 256MiB
    #[arg(long, env = "STRATA_MAX_INFLIGHT_BYTES")]
    pub max_inflight_bytes: Option<String>,
    /// How long acks=all waits for its commit, e.g. 30s
    #[arg(long, env = "STRATA_COMMIT_TIMEOUT")]
    pub commit_timeout: Option<String>,
    /// How long SIGTERM waits for staged records to ship, e.g. 30s
    #[arg(long, env = "STRATA_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<String>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "STRATA_LOG_FORMAT")]
    pub log_format: Option<String>,
}

impl Config {
    /// Defaults for tests: short flushes, everything in `dir`.
    pub fn for_test(dir: &Path) -> Self {
        Self {
            data_dir: dir.to_path_buf(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            flush_interval: Duration::from_millis(20),
            shutdown_timeout: Duration::from_secs(5),
            cache_memory_bytes: 64 << 20,
            cache_disk_bytes: 64 << 20,
            ..Self::default()
        }
    }

    /// Builds the config from defaults, an optional TOML file and the overrides.
    pub fn load(file: Option<&Path>, o: &Overrides) -> Result<Self, String> {
        Self::load_with_env(file, o, |name| std::env::var(name).ok())
    }

    /// [`Config::load`] with the environment given as a function (for tests).
    pub fn load_with_env(
        file: Option<&Path>,
        o: &Overrides,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
                toml::from_str::<toml::Table>(&text)
                    .map_err(|e| format!("invalid config file {}: {e}", path.display()))?
            }
            None => toml::Table::new(),
        };
        let from_env = env_layer(&mut table, var);
        let f: FileConfig = table.clone().try_into().map_err(|e: toml::de::Error| {
            // Name the key: the first one that does not deserialize on its own.
            let culprit = table.iter().find(|(k, v)| {
                let mut one = toml::Table::new();
                one.insert((*k).clone(), (*v).clone());
                one.try_into::<FileConfig>().is_err()
            });
            let source = |k: &str| match file {
                _ if from_env.contains(&k) => format!("{} ", env_name(k)),
                Some(path) => format!("in {} ", path.display()),
                None => String::new(),
            };
            match culprit {
                Some((k, _)) => format!("{k} ({}): {}", source(k).trim(), e.message()),
                None => format!("invalid config: {}", e.message()),
            }
        })?;
        let mut c = Config::default();
        macro_rules! set {
            ($field:ident, $parse:expr) => {
                if let Some(v) = o.$field.clone().or(f.$field.clone().map(Into::into)) {
                    c.$field = $parse(v).map_err(|e: String| {
                        format!("{}: {e}", stringify!($field).replace('_', "-"))
                    })?;
                }
            };
        }
        set!(data_dir, |v: PathBuf| Ok(v));
        set!(listen, |v: String| v
            .parse::<SocketAddr>()
            .map_err(|e| format!("{v:?} is not HOST:PORT ({e})")));
        set!(object_store, |v: String| Ok(v));
        if let Some(a) = o
            .advertise
            .clone()
            .or(f.advertise.clone().map(String::from))
        {
            c.advertise = (!a.trim().is_empty()).then_some(a);
        }
        if let Some(roles) = o.roles.clone().or(f.roles.as_ref().map(Roles::joined)) {
            c.roles = parse_roles(&roles).map_err(|e| format!("roles: {e}"))?;
        }
        set!(node_id, |v: u64| if v == 0 {
            Err("node-id must be at least 1".to_string())
        } else {
            Ok(Some(NodeId(v)))
        });
        set!(meta_peers, |v: String| parse_peers(&v));
        set!(flush_interval, |v: String| parse_duration(&v));
        set!(flush_bytes, |v: String| parse_size(&v));
        set!(max_inflight_bytes, |v: String| parse_size(&v));
        set!(commit_timeout, |v: String| parse_duration(&v));
        set!(shutdown_timeout, |v: String| parse_duration(&v));
        set!(log_format, |v: String| match v.as_str() {
            "text" | "json" => Ok(v),
            _ => Err("expected text or json".to_string()),
        });
        macro_rules! file_only {
            ($field:ident, $parse:expr) => {
                if let Some(v) = f.$field.clone().map(Into::into) {
                    c.$field = $parse(v).map_err(|e: String| {
                        format!("{}: {e}", stringify!($field).replace('_', "-"))
                    })?;
                }
            };
        }
        file_only!(max_request_bytes, |v: String| parse_size(&v));
        file_only!(max_buffered_request_bytes, |v: String| parse_size(&v));
        file_only!(hot_segment_bytes, |v: String| parse_size(&v));
        file_only!(hot_retain_bytes, |v: String| parse_size(&v));
        file_only!(cache_memory_bytes, |v: String| parse_size(&v));
        file_only!(cache_disk_bytes, |v: String| parse_size(&v));
        file_only!(cache_block_bytes, |v: String| parse_size(&v).and_then(
            |b| {
                if (64 << 10..=64 << 20).contains(&b) {
                    Ok(b)
                } else {
                    Err("must be between 64KiB and 64MiB".to_string())
                }
            }
        ));
        file_only!(cold_read_concurrency, |v: usize| if v == 0 {
            Err("must be at least 1".to_string())
        } else {
            Ok(v)
        });
        file_only!(cold_read_bytes_per_sec, |v: String| parse_size(&v));
        file_only!(read_ahead_blocks, |v: usize| Ok::<usize, String>(v));
        file_only!(multipart_threshold, |v: String| parse_size(&v));
        file_only!(max_concurrent_uploads, |v: usize| if v == 0 {
            Err("must be at least 1".to_string())
        } else {
            Ok(v)
        });
        file_only!(snapshot_logs, |v: u64| if v == 0 {
            Err("must be at least 1".to_string())
        } else {
            Ok(v)
        });
        file_only!(compactor_interval, |v: String| parse_duration(&v).and_then(
            |d| {
                if d.is_zero() {
                    Err("must be above zero".to_string())
                } else {
                    Ok(d)
                }
            }
        ));
        file_only!(compactor_run_bytes, |v: String| parse_size(&v).and_then(
            |b| {
                if (1 << 20..=1 << 30).contains(&b) {
                    Ok(b)
                } else {
                    Err("must be between 1MiB and 1GiB".to_string())
                }
            }
        ));
        file_only!(compactor_pass_bytes, |v: String| parse_size(&v));
        file_only!(compactor_requests_in_flight, |v: usize| if v == 0 {
            Err("must be at least 1".to_string())
        } else {
            Ok(v)
        });
        file_only!(compactor_bytes_per_sec, |v: String| parse_size(&v));
        file_only!(compactor_merge_min_extents, |v: usize| if v < 2 {
            Err("must be at least 2".to_string())
        } else {
            Ok(v)
        });
        file_only!(gc_grace, |v: String| parse_duration(&v));
        file_only!(orphan_grace, |v: String| parse_duration(&v));
        file_only!(archiver_interval, |v: String| parse_duration(&v).and_then(
            |d| {
                if d.is_zero() {
                    Err("must be above zero".to_string())
                } else {
                    Ok(d)
                }
            }
        ));
        file_only!(archiver_row_group_bytes, |v: String| parse_size(&v)
            .and_then(|b| {
                if (64 << 10..=1 << 30).contains(&b) {
                    Ok(b)
                } else {
                    Err("must be between 64KiB and 1GiB".to_string())
                }
            }));
        file_only!(archiver_zstd_level, |v: i32| if (1..=19).contains(&v) {
            Ok(v)
        } else {
            Err("must be a zstd level from 1 to 19".to_string())
        });
        file_only!(archiver_bytes_per_sec, |v: String| parse_size(&v));
        file_only!(election_timeout, |v: String| parse_duration(&v).and_then(
            |d| {
                if (Duration::from_millis(60)..=Duration::from_secs(60)).contains(&d) {
                    Ok(d)
                } else {
                    Err("must be between 60ms and 60s".to_string())
                }
            }
        ));
        file_only!(idempotency_window, |v: String| parse_duration(&v).and_then(
            |d| {
                if d >= Duration::from_secs(1) {
                    Ok(d)
                } else {
                    Err("must be at least 1s".to_string())
                }
            }
        ));
        file_only!(idempotency_max_keys, |v: u64| if v >= 1 {
            Ok(v)
        } else {
            Err("must be at least 1".to_string())
        });
        file_only!(consumer_instance_timeout, |v: String| parse_duration(&v)
            .and_then(|d| {
                if d >= Duration::from_secs(1) {
                    Ok(d)
                } else {
                    Err("must be at least 1s".to_string())
                }
            }));
        file_only!(consumer_request_max_bytes, |v: String| parse_size(&v)
            .and_then(|b| {
                if (1..=64 << 20).contains(&b) {
                    Ok(b)
                } else {
                    Err("must be between 1B and 64MiB".to_string())
                }
            }));
        file_only!(consumer_request_timeout, |v: String| parse_duration(&v)
            .and_then(|d| {
                if d <= Duration::from_secs(300) {
                    Ok(d)
                } else {
                    Err("must be at most 5m".to_string())
                }
            }));
        for (name, value) in [
            ("price-put-requests-per-1000", f.price_put_requests_per_1000),
            ("price-get-requests-per-1000", f.price_get_requests_per_1000),
            ("price-storage-gib-month", f.price_storage_gib_month),
        ] {
            if value.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                return Err(format!("{name}: must be a price of zero or more"));
            }
        }
        if let Some(v) = f.price_put_requests_per_1000 {
            c.price_put_requests_per_1000 = v;
        }
        if let Some(v) = f.price_get_requests_per_1000 {
            c.price_get_requests_per_1000 = v;
        }
        if let Some(v) = f.price_storage_gib_month {
            c.price_storage_gib_month = v;
        }
        if c.object_store.is_empty() {
            let abs = std::path::absolute(&c.data_dir)
                .map_err(|e| format!("data-dir {}: {e}", c.data_dir.display()))?;
            c.object_store = format!("file://{}", abs.join("bucket").display());
        }
        if c.flush_interval.is_zero() {
            return Err("flush-interval must be above zero".to_string());
        }
        if c.has_role(Role::Meta) && !c.meta_peers.is_empty() && c.node_id.is_none() {
            return Err(
                "node-id: a voter of a quorum needs its id, the one --meta-peers lists it under"
                    .to_string(),
            );
        }
        Ok(c)
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

fn parse_roles(s: &str) -> Result<Vec<Role>, String> {
    let mut roles: Vec<Role> = s
        .split(',')
        .filter(|r| !r.trim().is_empty())
        .map(Role::parse)
        .collect::<Result<_, _>>()?;
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err("give at least one role".to_string());
    }
    Ok(roles)
}

fn parse_peers(s: &str) -> Result<Vec<(NodeId, String)>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (id, addr) = p
                .split_once('=')
                .ok_or_else(|| format!("peer {p:?} is not ID=HOST:PORT"))?;
            let id: u64 = id
                .trim()
                .parse()
                .map_err(|_| format!("peer id {id:?} is not a number"))?;
            Ok((NodeId(id), addr.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses_and_matches_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../strata.example.toml");
        let c =
            Config::load_with_env(Some(&example), &Overrides::default(), |_| None).expect("parses");
        let d = Config::load_with_env(None, &Overrides::default(), |_| None).expect("defaults");
        assert_eq!(c, d, "the example documents the defaults");
    }

    #[test]
    fn the_example_documents_every_key() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../strata.example.toml");
        let text = std::fs::read_to_string(example).expect("reads");
        let table: toml::Table = toml::from_str(&text).expect("parses");
        let mut documented: Vec<&str> = table.keys().map(String::as_str).collect();
        // Keys without a default are shown commented out.
        documented.extend(OPTIONAL_KEYS);
        let mut keys = KEYS.to_vec();
        documented.sort_unstable();
        keys.sort_unstable();
        assert_eq!(documented, keys);
        for key in KEYS {
            assert!(
                text.contains(&format!("\n{key} = ")) || text.contains(&format!("\n# {key} = ")),
                "{key} has its own line in the example"
            );
        }
    }

    #[test]
    fn environment_variables_override_every_key_and_flags_override_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "cache-memory-bytes = \"1MiB\"\nlog-format = \"json\"\n",
        )
        .expect("writes");
        let env = |name: &str| -> Option<String> {
            match name {
                "STRATA_CACHE_MEMORY_BYTES" => Some("1GiB".into()),
                "STRATA_COLD_READ_CONCURRENCY" => Some("3".into()),
                "STRATA_ROLES" => Some("meta,ingest".into()),
                "STRATA_PRICE_STORAGE_GIB_MONTH" => Some("0.02".into()),
                "STRATA_FLUSH_BYTES" => Some("1048576".into()),
                "STRATA_FLUSH_INTERVAL" => Some("1s".into()),
                "STRATA_URL" => Some("not a config key".into()),
                "STRATA_DATA_DIR" => Some("2".into()),
                "STRATA_NODE_ID" => Some("7".into()),
                _ => None,
            }
        };
        let o = Overrides {
            flush_interval: Some("50ms".into()),
            ..Overrides::default()
        };
        let c = Config::load_with_env(Some(&file), &o, env).expect("loads");
        assert_eq!(c.cache_memory_bytes, 1 << 30);
        assert_eq!(c.cold_read_concurrency, 3);
        assert_eq!(
            c.data_dir,
            PathBuf::from("2"),
            "a number where a path goes is a path"
        );
        assert_eq!(c.node_id, Some(NodeId(7)));
        assert_eq!(c.roles, vec![Role::Meta, Role::Ingest]);
        assert!((c.price_storage_gib_month - 0.02).abs() < 1e-12);
        assert_eq!(c.flush_bytes, 1 << 20);
        assert_eq!(c.flush_interval, Duration::from_millis(50), "flags win");
        assert_eq!(
            c.log_format, "json",
            "the file's value stays when no variable is set"
        );

        let bad = |name: &'static str, value: &'static str| {
            move |n: &str| (n == name).then(|| value.to_string())
        };
        let e = Config::load_with_env(
            None,
            &Overrides::default(),
            bad("STRATA_COLD_READ_CONCURRENCY", "lots"),
        )
        .expect_err("refused");
        assert!(
            e.contains("cold-read-concurrency") && e.contains("STRATA_COLD_READ_CONCURRENCY"),
            "{e}"
        );
        let e = Config::load_with_env(None, &Overrides::default(), bad("STRATA_GC_GRACE", "soon"))
            .expect_err("refused");
        assert!(e.contains("gc-grace"), "{e}");
        let e = Config::load_with_env(
            None,
            &Overrides::default(),
            bad("STRATA_PRICE_PUT_REQUESTS_PER_1000", "-1"),
        )
        .expect_err("refused");
        assert!(e.contains("price-put-requests-per-1000"), "{e}");
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nflush-interval = \"1s\"\nroles = [\"meta\", \"ingest\"]\nhot-retain-bytes = \"1MiB\"\n").expect("writes");
        let o = Overrides {
            flush_interval: Some("100ms".into()),
            ..Overrides::default()
        };
        let c = Config::load_with_env(Some(&file), &o, |_| None).expect("loads");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.flush_interval, Duration::from_millis(100));
        assert_eq!(c.roles, vec![Role::Meta, Role::Ingest]);
        assert_eq!(c.hot_retain_bytes, 1 << 20);
        assert!(c.object_store.starts_with("file:///"));
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        for (o, needle) in [
            (
                Overrides {
                    flush_bytes: Some("8 lots".into()),
                    ..Default::default()
                },
                "flush-bytes",
            ),
            (
                Overrides {
                    roles: Some("meta,brokers".into()),
                    ..Default::default()
                },
                "brokers",
            ),
            (
                Overrides {
                    listen: Some("nowhere".into()),
                    ..Default::default()
                },
                "listen",
            ),
            (
                Overrides {
                    node_id: Some(0),
                    ..Default::default()
                },
                "node-id",
            ),
            (
                Overrides {
                    meta_peers: Some("1:host".into()),
                    ..Default::default()
                },
                "ID=HOST:PORT",
            ),
        ] {
            let e = Config::load_with_env(None, &o, |_| None).expect_err("refused");
            assert!(e.contains(needle), "{e} should mention {needle}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "flush-intervall = \"1s\"\n").expect("writes");
        let e =
            Config::load_with_env(Some(&file), &Overrides::default(), |_| None).expect_err("typo");
        assert!(
            e.contains("unknown field") && e.contains("flush-intervall"),
            "{e}"
        );
        std::fs::write(&file, "cold-read-concurrency = \"eight\"\n").expect("writes");
        let e = Config::load_with_env(Some(&file), &Overrides::default(), |_| None)
            .expect_err("wrong type");
        assert!(
            e.contains("cold-read-concurrency") && e.contains("c.toml"),
            "{e}"
        );
    }
}
