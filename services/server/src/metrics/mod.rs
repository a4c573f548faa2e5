//! `/metrics`: Prometheus text built from request-level metrics and the roles' counters.
//!
//! One file per source: `cost` (prices, the cost estimate and the cluster's usage),
//! `sources` (each role's own counter table, the read path, the quorum). The roles own their
//! tables (`strata_ingest::COUNTERS`, `strata_compactor::COUNTERS`, ...); this module registers
//! them as they are.

mod cost;
mod sources;

use std::sync::Arc;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use strata_archiver::ArchiverStats;
use strata_cache::ReadStats;
use strata_compactor::CompactorStats;
use strata_core::meta::{ClusterUsage, QuorumStatus};
use strata_ingest::IngestStats;

use cost::Cost;
pub use cost::Prices;
use sources::{Exported, QuorumMetrics, ReadMetrics};

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
    0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Where the figures of one render come from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The write path, on ingest nodes.
    pub ingest: Option<&'a IngestStats>,
    /// The read path.
    pub read: &'a ReadStats,
    /// The compactor, once started.
    pub compactor: Option<&'a CompactorStats>,
    /// The archiver, once started.
    pub archiver: Option<&'a ArchiverStats>,
    /// What this node knows of the quorum.
    pub quorum: Option<&'a QuorumStatus>,
    /// Cluster-wide usage (the quorum leader only).
    pub usage: Option<&'a ClusterUsage>,
    /// Request bytes being received and parsed.
    pub receiving: u64,
}

/// Every metric the node exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    cost: Cost,
    /// HTTP requests by route and status.
    pub http_requests: IntCounterVec,
    /// Produce latency by acks mode.
    pub produce_latency: HistogramVec,
    /// Records produced by acks mode.
    pub produce_records: IntCounterVec,
    /// Fetch latency (including long-poll waits).
    pub fetch_latency: Histogram,
    /// Records fetched.
    pub fetch_records: IntCounter,
    /// Record bytes fetched.
    pub fetch_bytes: IntCounter,
    /// Requests refused for want of valid credentials.
    pub auth_failures: IntCounter,
    /// Authenticated requests the ACLs refused (403).
    pub access_denied: IntCounter,
    /// Changes of topics, configs, tokens, ACLs and membership, by action.
    pub audit_changes: IntCounterVec,
    /// Object-store requests by operation.
    pub store_requests: IntCounterVec,
    /// Object-store errors by operation.
    pub store_errors: IntCounterVec,
    /// Object-store bytes by direction (`up`, `down`).
    pub store_bytes: IntCounterVec,
    /// Object-store request latency by operation.
    pub store_latency: HistogramVec,
    ingest: Exported<IngestStats>,
    compactor: Exported<CompactorStats>,
    archiver: Exported<ArchiverStats>,
    read: ReadMetrics,
    quorum: QuorumMetrics,
    receiving: IntGauge,
    rss: IntGauge,
    peak_rss: IntGauge,
}

/// Registers `metric` (made valid by construction) and returns it.
fn register<M: Collector + Clone + 'static>(r: &Registry, metric: prometheus::Result<M>) -> M {
    let m = metric.expect("valid metric");
    r.register(Box::new(m.clone())).expect("registered once");
    m
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    register(r, IntCounter::new(name, help))
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    register(r, IntGauge::new(name, help))
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(r, IntCounterVec::new(Opts::new(name, help), labels))
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(r, IntGaugeVec::new(Opts::new(name, help), labels))
}

fn histogram(r: &Registry, name: &str, help: &str) -> Histogram {
    register(
        r,
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec())),
    )
}

fn histogram_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    register(
        r,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
            labels,
        ),
    )
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, with S3 Standard prices.
    pub fn new() -> Self {
        Self::with_prices(Prices::default())
    }

    /// Registers every metric; the cost estimate uses `prices`.
    pub fn with_prices(prices: Prices) -> Self {
        let r = Registry::new();
        Self {
            cost: Cost::new(&r, prices),
            http_requests: counter_vec(
                &r,
                "strata_http_requests_total",
                "HTTP requests by route and status",
                &["route", "status"],
            ),
            produce_latency: histogram_vec(
                &r,
                "strata_produce_latency_seconds",
                "Produce latency by acks mode",
                &["acks"],
            ),
            produce_records: counter_vec(
                &r,
                "strata_produce_records_total",
                "Records produced by acks mode",
                &["acks"],
            ),
            fetch_latency: histogram(
                &r,
                "strata_fetch_latency_seconds",
                "Fetch latency, long-poll waits included",
            ),
            fetch_records: counter(&r, "strata_fetch_records_total", "Records fetched"),
            fetch_bytes: counter(&r, "strata_fetch_bytes_total", "Record bytes fetched"),
            auth_failures: counter(
                &r,
                "strata_auth_failures_total",
                "Requests refused for want of valid credentials (401)",
            ),
            access_denied: counter(
                &r,
                "strata_access_denied_total",
                "Authenticated requests the ACLs refused (403)",
            ),
            audit_changes: counter_vec(
                &r,
                "strata_audit_changes_total",
                "Changes of topics, configs, tokens, ACLs and membership, by action",
                &["action"],
            ),
            store_requests: counter_vec(
                &r,
                "strata_object_store_requests_total",
                "Object-store requests by operation",
                &["op"],
            ),
            store_errors: counter_vec(
                &r,
                "strata_object_store_errors_total",
                "Object-store errors by operation",
                &["op"],
            ),
            store_bytes: counter_vec(
                &r,
                "strata_object_store_bytes_total",
                "Object-store bytes by direction",
                &["direction"],
            ),
            store_latency: histogram_vec(
                &r,
                "strata_object_store_request_seconds",
                "Object-store request latency by operation",
                &["op"],
            ),
            ingest: Exported::new(&r, strata_ingest::COUNTERS, strata_ingest::GAUGES),
            compactor: Exported::new(&r, strata_compactor::COUNTERS, &[]),
            archiver: Exported::new(&r, strata_archiver::COUNTERS, &[]),
            read: ReadMetrics::new(&r),
            quorum: QuorumMetrics::new(&r),
            receiving: gauge(
                &r,
                "strata_produce_receiving_bytes",
                "Bytes of produce bodies being received and parsed",
            ),
            rss: gauge(
                &r,
                "strata_process_resident_memory_bytes",
                "Resident memory of this process",
            ),
            peak_rss: gauge(
                &r,
                "strata_process_peak_resident_memory_bytes",
                "Peak resident memory of this process",
            ),
            registry: r,
        }
    }

    /// Renders every metric, first bringing the roles' counters up to date.
    pub fn render(&self, now: &Sources<'_>) -> String {
        let Sources {
            ingest,
            read,
            compactor,
            archiver,
            quorum,
            usage,
            receiving,
        } = *now;
        self.cost.update(&self.store_requests, usage);
        self.receiving.set(receiving as i64);
        if let Some(s) = archiver {
            self.archiver.update(s);
        }
        if let Some(s) = compactor {
            self.compactor.update(s);
        }
        if let Some(s) = ingest {
            self.ingest.update(s);
        }
        self.read.update(read);
        if let Some(q) = quorum {
            self.quorum.update(q);
        }
        if let Some((rss, peak)) = memory() {
            self.rss.set(rss as i64);
            self.peak_rss.set(peak as i64);
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("prometheus text is utf-8")
    }
}

/// Returns (resident, peak resident) bytes of this process, from `/proc/self/status`.
pub fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Shared handle to the metrics.
pub type SharedMetrics = Arc<Metrics>;

#[cfg(test)]
mod tests;
