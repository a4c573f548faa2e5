//! The roles' own figures as metrics: each role's counter table as it exports it, the read
//! path's labelled counters and gauges, and the quorum's state.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};
use strata_cache::{BlockCache, ReadStats};
use strata_core::meta::{QuorumRole, QuorumStatus};
use strata_core::stats::{Stat, Table};

use super::{counter, counter_vec, gauge, gauge_vec, register};

/// A role's table, registered: counters that catch up with the role's, and gauges.
#[derive(Debug)]
pub(super) struct Exported<S: 'static> {
    counters: Vec<(IntCounter, Stat<S>)>,
    gauges: Vec<(IntGauge, Stat<S>)>,
}

impl<S> Clone for Exported<S> {
    fn clone(&self) -> Self {
        Self {
            counters: self.counters.clone(),
            gauges: self.gauges.clone(),
        }
    }
}

impl<S> Exported<S> {
    pub(super) fn new(r: &Registry, counters: Table<S>, gauges: Table<S>) -> Self {
        Self {
            counters: counters
                .iter()
                .map(|(name, help, get)| (counter(r, name, help), *get))
                .collect(),
            gauges: gauges
                .iter()
                .map(|(name, help, get)| (gauge(r, name, help), *get))
                .collect(),
        }
    }

    /// Brings every metric up to the role's figures.
    pub(super) fn update(&self, s: &S) {
        for (c, get) in &self.counters {
            catch_up(c, get(s).load(Ordering::Relaxed));
        }
        for (g, get) in &self.gauges {
            g.set(get(s).load(Ordering::Relaxed) as i64);
        }
    }
}

/// Moves a monotonic counter up to `value`.
fn catch_up(c: &IntCounter, value: u64) {
    let now = c.get();
    if value > now {
        c.inc_by(value - now);
    }
}

/// The read path: where fetched bytes came from, the block cache, the cold-read budget.
#[derive(Debug, Clone)]
pub(super) struct ReadMetrics {
    read_bytes: IntCounterVec,
    cache_lookups: IntCounterVec,
    cache_corrupt: IntCounter,
    cache_hit_ratio: Gauge,
    read_ahead: IntCounter,
    archive_records: IntCounter,
    cold_queued: IntGauge,
    cold_inflight: IntGauge,
    fetch_waiting: IntGauge,
}

impl ReadMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        Self {
            read_bytes: counter_vec(
                r,
                "strata_read_bytes_total",
                "Stored bytes served to fetches by source: hot_tier, cache_memory, cache_disk, bucket",
                &["source"],
            ),
            cache_lookups: counter_vec(
                r,
                "strata_cache_lookups_total",
                "Read-cache block lookups by result: memory_hit, disk_hit, miss",
                &["result"],
            ),
            cache_corrupt: counter(
                r,
                "strata_cache_corrupt_total",
                "Cached or hot-tier copies that failed their checks and were read again from the bucket",
            ),
            cache_hit_ratio: register(
                r,
                Gauge::new(
                    "strata_cache_hit_ratio",
                    "Read-cache block lookups served from memory or disk, over all lookups, since start",
                ),
            ),
            read_ahead: counter(
                r,
                "strata_cache_read_ahead_blocks_total",
                "Blocks fetched ahead of sequential readers",
            ),
            archive_records: counter(
                r,
                "strata_fetch_archive_records_total",
                "Records fetches read from the Parquet archive (offsets whose segments expired)",
            ),
            cold_queued: gauge(
                r,
                "strata_cold_reads_queued",
                "Cold reads waiting for the cold-read budget",
            ),
            cold_inflight: gauge(
                r,
                "strata_cold_reads_in_flight",
                "Cold reads (bucket GETs for fetches) in flight",
            ),
            fetch_waiting: gauge(
                r,
                "strata_fetch_waiting",
                "Fetches parked at the high watermark (long-polls)",
            ),
        }
    }

    pub(super) fn update(&self, read: &ReadStats) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
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
        self.fetch_waiting.set(load(&read.waiting) as i64);
    }
}

/// What this node knows of the quorum.
#[derive(Debug, Clone)]
pub(super) struct QuorumMetrics {
    leader: IntGauge,
    term: IntGauge,
    applied: IntGauge,
    commit: IntGauge,
    last_log: IntGauge,
    role: IntGaugeVec,
}

impl QuorumMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        Self {
            leader: gauge(
                r,
                "strata_quorum_has_leader",
                "1 if the quorum has a leader this node knows",
            ),
            term: gauge(r, "strata_quorum_term", "Current Raft term"),
            applied: gauge(
                r,
                "strata_quorum_applied_index",
                "Last applied Raft log index",
            ),
            role: gauge_vec(
                r,
                "strata_quorum_role",
                "1 for this node's part in the quorum: leader, follower, candidate, learner or none \
                 (not a voter)",
                &["role"],
            ),
            commit: gauge(
                r,
                "strata_quorum_commit_index",
                "Highest Raft log index known committed (on the leader: replicated to a majority; \
                 elsewhere: applied)",
            ),
            last_log: gauge(
                r,
                "strata_quorum_last_log_index",
                "Index of the last entry in this node's Raft log",
            ),
        }
    }

    pub(super) fn update(&self, q: &QuorumStatus) {
        self.leader.set(i64::from(q.leader.is_some()));
        self.term.set(q.term as i64);
        self.applied.set(q.applied_index as i64);
        self.commit.set(q.commit_index as i64);
        self.last_log.set(q.last_log_index as i64);
        for role in QuorumRole::ALL {
            self.role
                .with_label_values(&[role.as_str()])
                .set(i64::from(role == q.role));
        }
    }
}
