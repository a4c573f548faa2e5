//! `/metrics`: Prometheus text built from request-level metrics and the roles' counters.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::{
    Counter, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use strata_archiver::ArchiverStats;
use strata_cache::{BlockCache, ReadStats};
use strata_compactor::CompactorStats;
use strata_core::meta::{ClusterUsage, QuorumRole, QuorumStatus};
use strata_ingest::IngestStats;

/// Reads one counter of the write path.
type StatFn = fn(&IngestStats) -> u64;
type CompactorStatFn = strata_compactor::Counter;
type ArchiverStatFn = strata_archiver::Counter;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
    0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Object-store prices the cost estimate uses, in dollars: the `[prices]` section of the
/// config file.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Prices {
    /// 1,000 PUT-class requests (PUT, multipart create/part/complete, COPY, LIST).
    #[serde(rename = "put-requests-per-1000")]
    pub put_per_1000: f64,
    /// 1,000 GET-class requests (GET, ranged GET, HEAD).
    #[serde(rename = "get-requests-per-1000")]
    pub get_per_1000: f64,
    /// One GiB stored for a month.
    pub storage_gib_month: f64,
}

impl Default for Prices {
    /// AWS S3 Standard list prices (us-east-1).
    fn default() -> Self {
        Self {
            put_per_1000: 0.005,
            get_per_1000: 0.0004,
            storage_gib_month: 0.023,
        }
    }
}

impl strata_core::settings::Section for Prices {
    fn check(&self) -> Result<(), strata_core::settings::Invalid> {
        for (key, value) in [
            ("put-requests-per-1000", self.put_per_1000),
            ("get-requests-per-1000", self.get_per_1000),
            ("storage-gib-month", self.storage_gib_month),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(strata_core::settings::Invalid::new(
                    key,
                    "must be a price of zero or more",
                ));
            }
        }
        Ok(())
    }
}

/// How object-store operations are billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Billed {
    Put,
    Get,
    Free,
}

/// Every operation the metered store counts, and its price class.
const OPS: &[(&str, Billed)] = &[
    ("put", Billed::Put),
    ("create_multipart", Billed::Put),
    ("put_part", Billed::Put),
    ("complete_multipart", Billed::Put),
    ("copy", Billed::Put),
    ("list", Billed::Put),
    ("get", Billed::Get),
    ("get_range", Billed::Get),
    ("head", Billed::Get),
    ("delete", Billed::Free),
];

/// Hours in a billing month (AWS bills storage per GiB-month of 730 hours).
const HOURS_PER_MONTH: f64 = 730.0;

/// The window the request-cost rate is averaged over.
const COST_WINDOW: Duration = Duration::from_secs(300);

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
    prices: Prices,
    started: Instant,
    /// (when, request cost so far) at recent renders, for the hourly rate.
    cost_samples: Arc<Mutex<VecDeque<(Instant, f64)>>>,
    request_cost: Counter,
    cost_per_hour: GaugeVec,
    stored_bytes: IntGaugeVec,
    stored_objects: IntGaugeVec,
    group_lag: IntGaugeVec,
    cache_hit_ratio: Gauge,
    quorum_role: IntGaugeVec,
    quorum_commit: IntGauge,
    quorum_last_log: IntGauge,
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
    /// Object-store requests by operation.
    pub store_requests: IntCounterVec,
    /// Object-store errors by operation.
    pub store_errors: IntCounterVec,
    /// Object-store bytes by direction (`up`, `down`).
    pub store_bytes: IntCounterVec,
    /// Object-store request latency by operation.
    pub store_latency: HistogramVec,
    ingest_counters: Vec<(IntCounter, StatFn)>,
    ingest_gauges: Vec<(IntGauge, StatFn)>,
    compactor_counters: Vec<(IntCounter, CompactorStatFn)>,
    archiver_counters: Vec<(IntCounter, ArchiverStatFn)>,
    archive_records: IntCounter,
    read_bytes: IntCounterVec,
    cache_lookups: IntCounterVec,
    cache_corrupt: IntCounter,
    read_ahead: IntCounter,
    cold_queued: IntGauge,
    cold_inflight: IntGauge,
    fetch_waiting: IntGauge,
    receiving: IntGauge,
    quorum_leader: IntGauge,
    quorum_term: IntGauge,
    quorum_applied: IntGauge,
    rss: IntGauge,
    peak_rss: IntGauge,
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    r.register(Box::new(c.clone())).expect("registered once");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("registered once");
    g
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("registered once");
    c
}

fn histogram(r: &Registry, name: &str, help: &str) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
        .expect("valid metric");
    r.register(Box::new(h.clone())).expect("registered once");
    h
}

fn histogram_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )
    .expect("valid metric");
    r.register(Box::new(h.clone())).expect("registered once");
    h
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("registered once");
    g
}

impl Metrics {
    /// Registers every metric, with S3 Standard prices.
    pub fn new() -> Self {
        Self::with_prices(Prices::default())
    }

    /// Registers every metric; the cost estimate uses `prices`.
    pub fn with_prices(prices: Prices) -> Self {
        let r = Registry::new();
        let request_cost = Counter::new(
            "strata_object_store_request_cost_dollars_total",
            "Estimated cost of this node's object-store requests at the configured prices",
        )
        .expect("valid metric");
        r.register(Box::new(request_cost.clone()))
            .expect("registered once");
        let cost_per_hour = GaugeVec::new(
            Opts::new(
                "strata_object_store_cost_dollars_per_hour",
                "Estimated object-store cost per hour at the configured prices, by kind: requests \
                 (this node's, averaged over 5 minutes) and storage (the whole bucket; exported by \
                 the quorum leader only, so a sum over nodes counts it once)",
            ),
            &["kind"],
        )
        .expect("valid metric");
        r.register(Box::new(cost_per_hour.clone()))
            .expect("registered once");
        let cache_hit_ratio = Gauge::new(
            "strata_cache_hit_ratio",
            "Read-cache block lookups served from memory or disk, over all lookups, since start",
        )
        .expect("valid metric");
        r.register(Box::new(cache_hit_ratio.clone()))
            .expect("registered once");
        let ingest_counters: Vec<(IntCounter, StatFn)> = vec![
            (
                counter(&r, "strata_ingest_records_total", "Records accepted"),
                |s| s.records.load(Ordering::Relaxed),
            ),
            (
                counter(
                    &r,
                    "strata_ingest_raw_bytes_total",
                    "Record bytes accepted, before compression",
                ),
                |s| s.raw_bytes.load(Ordering::Relaxed),
            ),
            (
                counter(
                    &r,
                    "strata_hot_tier_written_bytes_total",
                    "Batch bytes written to the hot tier",
                ),
                |s| s.hot_bytes_written.load(Ordering::Relaxed),
            ),
            (
                counter(
                    &r,
                    "strata_hot_tier_fsyncs_total",
                    "Hot-tier group-commit fsyncs",
                ),
                |s| s.fsyncs.load(Ordering::Relaxed),
            ),
            (counter(&r, "strata_flushes_total", "Flushes sealed"), |s| {
                s.flushes.load(Ordering::Relaxed)
            }),
            (
                counter(
                    &r,
                    "strata_objects_uploaded_total",
                    "Objects shipped to the object store",
                ),
                |s| s.objects_uploaded.load(Ordering::Relaxed),
            ),
            (
                counter(
                    &r,
                    "strata_object_uploaded_bytes_total",
                    "Bytes of objects shipped",
                ),
                |s| s.object_bytes.load(Ordering::Relaxed),
            ),
            (
                counter(
                    &r,
                    "strata_upload_retries_total",
                    "Uploads that failed and were retried",
                ),
                |s| s.upload_retries.load(Ordering::Relaxed),
            ),
            (
                counter(
                    &r,
                    "strata_upload_timeouts_total",
                    "Upload attempts given up because the object store did not answer in time",
                ),
                |s| s.upload_timeouts.load(Ordering::Relaxed),
            ),
            (
                counter(
                    &r,
                    "strata_upload_hedges_won_total",
                    "Uploads a second, hedged attempt finished first",
                ),
                |s| s.upload_hedges_won.load(Ordering::Relaxed),
            ),
            (
                counter(
                    &r,
                    "strata_commit_retries_total",
                    "Quorum commits that failed and were retried",
                ),
                |s| s.commit_retries.load(Ordering::Relaxed),
            ),
            (
                counter(
                    &r,
                    "strata_commits_total",
                    "Flushes committed to the quorum",
                ),
                |s| s.commits.load(Ordering::Relaxed),
            ),
        ];
        let ingest_gauges: Vec<(IntGauge, StatFn)> = vec![(
            gauge(
                &r,
                "strata_hot_tier_bytes",
                "Bytes in hot-tier segment files",
            ),
            |s| s.hot_tier_bytes.load(Ordering::Relaxed),
        )];
        Self {
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
            read_bytes: counter_vec(
                &r,
                "strata_read_bytes_total",
                "Stored bytes served to fetches by source: hot_tier, cache_memory, cache_disk, bucket",
                &["source"],
            ),
            cache_lookups: counter_vec(
                &r,
                "strata_cache_lookups_total",
                "Read-cache block lookups by result: memory_hit, disk_hit, miss",
                &["result"],
            ),
            cache_corrupt: counter(
                &r,
                "strata_cache_corrupt_total",
                "Cached or hot-tier copies that failed their checks and were read again from the bucket",
            ),
            read_ahead: counter(
                &r,
                "strata_cache_read_ahead_blocks_total",
                "Blocks fetched ahead of sequential readers",
            ),
            cold_queued: gauge(
                &r,
                "strata_cold_reads_queued",
                "Cold reads waiting for the cold-read budget",
            ),
            cold_inflight: gauge(
                &r,
                "strata_cold_reads_in_flight",
                "Cold reads (bucket GETs for fetches) in flight",
            ),
            receiving: gauge(
                &r,
                "strata_produce_receiving_bytes",
                "Bytes of produce bodies being received and parsed",
            ),
            fetch_waiting: gauge(
                &r,
                "strata_fetch_waiting",
                "Fetches parked at the high watermark (long-polls)",
            ),
            quorum_leader: gauge(
                &r,
                "strata_quorum_has_leader",
                "1 if the quorum has a leader this node knows",
            ),
            quorum_term: gauge(&r, "strata_quorum_term", "Current Raft term"),
            quorum_applied: gauge(
                &r,
                "strata_quorum_applied_index",
                "Last applied Raft log index",
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
            compactor_counters: compactor_counters(&r),
            archiver_counters: strata_archiver::COUNTERS
                .iter()
                .map(|(name, help, get)| (counter(&r, name, help), *get))
                .collect(),
            archive_records: counter(
                &r,
                "strata_fetch_archive_records_total",
                "Records fetches read from the Parquet archive (offsets whose segments expired)",
            ),
            ingest_counters,
            ingest_gauges,
            prices,
            started: Instant::now(),
            cost_samples: Arc::new(Mutex::new(VecDeque::new())),
            request_cost,
            cost_per_hour,
            stored_bytes: gauge_vec(
                &r,
                "strata_stored_bytes",
                "Bytes in the bucket by tier (flush, segment, archive), objects awaiting garbage \
                 collection included; exported by the quorum leader only",
                &["tier"],
            ),
            stored_objects: gauge_vec(
                &r,
                "strata_stored_objects",
                "Objects in the bucket by tier; exported by the quorum leader only",
                &["tier"],
            ),
            group_lag: gauge_vec(
                &r,
                "strata_consumer_group_lag_records",
                "Records between a group's committed offset and the partition's high watermark; \
                 exported by the quorum leader only",
                &["group", "topic", "partition"],
            ),
            cache_hit_ratio,
            quorum_role: gauge_vec(
                &r,
                "strata_quorum_role",
                "1 for this node's part in the quorum: leader, follower, candidate, learner or none \
                 (not a voter)",
                &["role"],
            ),
            quorum_commit: gauge(
                &r,
                "strata_quorum_commit_index",
                "Highest Raft log index known committed (on the leader: replicated to a majority; \
                 elsewhere: applied)",
            ),
            quorum_last_log: gauge(
                &r,
                "strata_quorum_last_log_index",
                "Index of the last entry in this node's Raft log",
            ),
            registry: r,
        }
    }

    /// Brings the cost estimate up to date: request cost so far, and per hour.
    fn update_cost(&self, usage: Option<&ClusterUsage>) {
        let mut total = 0.0;
        for (op, billed) in OPS {
            let n = self.store_requests.with_label_values(&[op]).get() as f64;
            total += n / 1000.0
                * match billed {
                    Billed::Put => self.prices.put_per_1000,
                    Billed::Get => self.prices.get_per_1000,
                    Billed::Free => 0.0,
                };
        }
        let so_far = self.request_cost.get();
        if total > so_far {
            self.request_cost.inc_by(total - so_far);
        }
        let now = Instant::now();
        let per_hour = {
            let mut samples = self
                .cost_samples
                .lock()
                .expect("no panics while holding the lock");
            while samples
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > COST_WINDOW)
            {
                samples.pop_front();
            }
            let (since, then) = samples.front().copied().unwrap_or((self.started, 0.0));
            samples.push_back((now, total));
            let secs = now.duration_since(since).as_secs_f64();
            if secs > 0.0 {
                (total - then) / secs * 3600.0
            } else {
                0.0
            }
        };
        self.cost_per_hour
            .with_label_values(&["requests"])
            .set(per_hour);
        let storage = self.cost_per_hour.with_label_values(&["storage"]);
        match usage {
            Some(u) => {
                let bytes: u64 = u.tiers.iter().map(|t| t.bytes).sum();
                storage.set(
                    bytes as f64 / (1u64 << 30) as f64 * self.prices.storage_gib_month
                        / HOURS_PER_MONTH,
                );
            }
            None => storage.set(0.0),
        }
    }

    /// Sets the cluster-wide gauges from the quorum's usage (leader only), or clears them.
    fn update_usage(&self, usage: Option<&ClusterUsage>) {
        self.stored_bytes.reset();
        self.stored_objects.reset();
        self.group_lag.reset();
        let Some(u) = usage else { return };
        for t in &u.tiers {
            self.stored_bytes
                .with_label_values(&[t.tier.as_str()])
                .set(t.bytes as i64);
            self.stored_objects
                .with_label_values(&[t.tier.as_str()])
                .set(t.objects as i64);
        }
        for l in &u.lag {
            self.group_lag
                .with_label_values(&[
                    l.group.as_str(),
                    l.topic.as_str(),
                    &l.partition.0.to_string(),
                ])
                .set(l.lag as i64);
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
        self.update_cost(usage);
        self.update_usage(usage);
        self.receiving.set(receiving as i64);
        if let Some(s) = archiver {
            for (c, get) in &self.archiver_counters {
                catch_up(c, get(s).load(Ordering::Relaxed));
            }
        }
        if let Some(s) = compactor {
            for (c, get) in &self.compactor_counters {
                catch_up(c, get(s).load(Ordering::Relaxed));
            }
        }
        if let Some(s) = ingest {
            for (c, get) in &self.ingest_counters {
                catch_up(c, get(s));
            }
            for (g, get) in &self.ingest_gauges {
                g.set(get(s) as i64);
            }
        }
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        for (source, counter) in [
            ("hot_tier", &read.local_bytes),
            ("cache_memory", &read.served_memory),
            ("cache_disk", &read.served_disk),
            ("bucket", &read.served_bucket),
        ] {
            catch_up(&self.read_bytes.with_label_values(&[source]), load(counter));
        }
        for (result, counter) in [
            ("memory_hit", &read.cache_memory_hits),
            ("disk_hit", &read.cache_disk_hits),
            ("miss", &read.cache_misses),
        ] {
            catch_up(
                &self.cache_lookups.with_label_values(&[result]),
                load(counter),
            );
        }
        catch_up(
            &self.cache_corrupt,
            load(&read.local_corrupt) + BlockCache::corrupt_blocks(),
        );
        let hits = load(&read.cache_memory_hits) + load(&read.cache_disk_hits);
        let lookups = hits + load(&read.cache_misses);
        if lookups > 0 {
            self.cache_hit_ratio.set(hits as f64 / lookups as f64);
        }
        catch_up(&self.read_ahead, load(&read.read_ahead_blocks));
        catch_up(&self.archive_records, load(&read.archive_records));
        self.cold_queued.set(load(&read.cold_queued) as i64);
        self.cold_inflight.set(load(&read.cold_inflight) as i64);
        self.fetch_waiting
            .set(read.waiting.load(Ordering::Relaxed) as i64);
        if let Some(q) = quorum {
            self.quorum_leader.set(i64::from(q.leader.is_some()));
            self.quorum_term.set(q.term as i64);
            self.quorum_applied.set(q.applied_index as i64);
            self.quorum_commit.set(q.commit_index as i64);
            self.quorum_last_log.set(q.last_log_index as i64);
            for role in QuorumRole::ALL {
                self.quorum_role
                    .with_label_values(&[role.as_str()])
                    .set(i64::from(role == q.role));
            }
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

fn compactor_counters(r: &Registry) -> Vec<(IntCounter, CompactorStatFn)> {
    strata_compactor::COUNTERS
        .iter()
        .map(|(name, help, get)| (counter(r, name, help), *get))
        .collect()
}

/// Moves a monotonic counter up to `value`.
fn catch_up(c: &IntCounter, value: u64) {
    let now = c.get();
    if value > now {
        c.inc_by(value - now);
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
mod tests {
    use super::*;
    use strata_core::ids::{NodeId, Offset, PartitionId};
    use strata_core::meta::{GroupLag, TierUsage};

    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{series} missing from\n{text}"))
    }

    #[test]
    fn cost_follows_requests_and_stored_bytes_at_the_configured_prices() {
        let m = Metrics::with_prices(Prices {
            put_per_1000: 5.0,
            get_per_1000: 0.4,
            storage_gib_month: 730.0,
        });
        for _ in 0..200 {
            m.store_requests.with_label_values(&["put"]).inc();
        }
        for _ in 0..1000 {
            m.store_requests.with_label_values(&["get_range"]).inc();
        }
        for _ in 0..50 {
            m.store_requests.with_label_values(&["delete"]).inc();
        }
        let usage = ClusterUsage {
            tiers: vec![
                TierUsage {
                    tier: "flush".into(),
                    objects: 2,
                    bytes: 1 << 30,
                },
                TierUsage {
                    tier: "archive".into(),
                    objects: 1,
                    bytes: 1 << 30,
                },
            ],
            lag: vec![GroupLag {
                group: "g".into(),
                topic: "t".into(),
                partition: PartitionId(3),
                committed: Offset(10),
                high_watermark: Offset(25),
                lag: 15,
            }],
        };
        let leader = QuorumStatus {
            node: NodeId(1),
            leader: Some(NodeId(1)),
            term: 4,
            applied_index: 9,
            voters: vec![NodeId(1)],
            role: QuorumRole::Leader,
            commit_index: 10,
            last_log_index: 11,
            ..Default::default()
        };
        let read = ReadStats::default();
        let text = m.render(&Sources {
            ingest: None,
            read: &read,
            compactor: None,
            archiver: None,
            quorum: Some(&leader),
            usage: Some(&usage),
            receiving: 0,
        });
        // 200 PUTs at $5/1000 + 1000 GETs at $0.4/1000; DELETEs free.
        let cost = value(&text, "strata_object_store_request_cost_dollars_total");
        assert!((cost - 1.4).abs() < 1e-9, "{cost}");
        // 2 GiB at $730 per GiB-month = $2 per hour.
        let storage = value(
            &text,
            "strata_object_store_cost_dollars_per_hour{kind=\"storage\"}",
        );
        assert!((storage - 2.0).abs() < 1e-9, "{storage}");
        assert!(
            value(
                &text,
                "strata_object_store_cost_dollars_per_hour{kind=\"requests\"}"
            ) > 0.0
        );
        assert_eq!(
            value(&text, "strata_stored_bytes{tier=\"archive\"}"),
            (1u64 << 30) as f64
        );
        assert_eq!(
            value(
                &text,
                "strata_consumer_group_lag_records{group=\"g\",partition=\"3\",topic=\"t\"}"
            ),
            15.0
        );
        assert_eq!(value(&text, "strata_quorum_role{role=\"leader\"}"), 1.0);
        assert_eq!(value(&text, "strata_quorum_role{role=\"follower\"}"), 0.0);
        assert_eq!(value(&text, "strata_quorum_commit_index"), 10.0);

        // A follower exports no cluster-wide figures: sums over nodes count them once.
        let follower = QuorumStatus {
            role: QuorumRole::Follower,
            ..leader
        };
        let text = m.render(&Sources {
            ingest: None,
            read: &read,
            compactor: None,
            archiver: None,
            quorum: Some(&follower),
            usage: None,
            receiving: 0,
        });
        assert!(!text.contains("strata_stored_bytes{"), "{text}");
        assert!(
            !text.contains("strata_consumer_group_lag_records{"),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                "strata_object_store_cost_dollars_per_hour{kind=\"storage\"}"
            ),
            0.0
        );
        assert_eq!(value(&text, "strata_quorum_role{role=\"follower\"}"), 1.0);
    }

    #[test]
    fn the_grafana_dashboard_uses_only_exported_metrics() {
        let m = Metrics::new();
        m.http_requests.with_label_values(&["produce", "503"]).inc();
        m.produce_latency.with_label_values(&["all"]).observe(0.01);
        m.store_requests.with_label_values(&["put"]).inc();
        m.store_errors.with_label_values(&["put"]).inc();
        let usage = ClusterUsage {
            tiers: vec![TierUsage {
                tier: "flush".into(),
                objects: 1,
                bytes: 1,
            }],
            lag: vec![GroupLag {
                group: "g".into(),
                topic: "t".into(),
                partition: PartitionId(0),
                committed: Offset(0),
                high_watermark: Offset(1),
                lag: 1,
            }],
        };
        let quorum = QuorumStatus {
            node: NodeId(1),
            leader: Some(NodeId(1)),
            term: 1,
            applied_index: 1,
            voters: vec![NodeId(1)],
            role: QuorumRole::Leader,
            commit_index: 1,
            last_log_index: 1,
            ..Default::default()
        };
        let ingest = IngestStats::default();
        let compactor = CompactorStats::default();
        let archiver = ArchiverStats::default();
        let text = m.render(&Sources {
            ingest: Some(&ingest),
            read: &ReadStats::default(),
            compactor: Some(&compactor),
            archiver: Some(&archiver),
            quorum: Some(&quorum),
            usage: Some(&usage),
            receiving: 0,
        });
        let exported: std::collections::BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
            .collect();
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ops/grafana/strata.json");
        let dashboard = std::fs::read_to_string(path).expect("the dashboard is in the repo");
        let json: serde_json::Value = serde_json::from_str(&dashboard).expect("valid JSON");
        let mut used = 0;
        for panel in json["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().expect("expr");
                for (i, _) in expr.match_indices("strata_") {
                    let name: String = expr[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    let family = ["_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s))
                        .unwrap_or(&name);
                    assert!(
                        exported.contains(family),
                        "panel {:?} uses {name}, which the node does not export",
                        panel["title"]
                    );
                    used += 1;
                }
            }
        }
        assert!(used > 20, "the dashboard has queries ({used})");
    }
}
