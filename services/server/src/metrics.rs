//! `/metrics`: Prometheus text built from request-level metrics and the roles' counters.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};
use strata_archiver::ArchiverStats;
use strata_cache::{BlockCache, ReadStats};
use strata_compactor::CompactorStats;
use strata_core::meta::QuorumStatus;
use strata_ingest::IngestStats;

/// Reads one counter of the write path.
type StatFn = fn(&IngestStats) -> u64;
type CompactorStatFn = strata_compactor::Counter;
type ArchiverStatFn = strata_archiver::Counter;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
    0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric the node exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
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

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let r = Registry::new();
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
            registry: r,
        }
    }

    /// Renders every metric, first bringing the roles' counters up to date.
    pub fn render(
        &self,
        ingest: Option<&IngestStats>,
        read: &ReadStats,
        compactor: Option<&CompactorStats>,
        archiver: Option<&ArchiverStats>,
        quorum: Option<&QuorumStatus>,
        receiving: u64,
    ) -> String {
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
