//! What the bucket costs: request cost from this node's counted requests, storage cost and the
//! cluster-wide gauges from the quorum's usage (leader only).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{Counter, Gauge, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use strata_core::meta::ClusterUsage;
use strata_core::settings::{Invalid, Section};
use tokio::time::Instant;

use super::{gauge_vec, register};

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

impl Section for Prices {
    fn check(&self) -> Result<(), Invalid> {
        for (key, value) in [
            ("put-requests-per-1000", self.put_per_1000),
            ("get-requests-per-1000", self.get_per_1000),
            ("storage-gib-month", self.storage_gib_month),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(Invalid::new(key, "must be a price of zero or more"));
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

/// The cost estimate.
#[derive(Debug, Clone)]
pub(super) struct Cost {
    prices: Prices,
    started: Instant,
    /// (when, request cost so far) at recent renders, for the hourly rate.
    samples: Arc<Mutex<VecDeque<(Instant, f64)>>>,
    request_cost: Counter,
    per_hour: GaugeVec,
    stored_bytes: IntGaugeVec,
    stored_objects: IntGaugeVec,
    group_lag: IntGaugeVec,
}

impl Cost {
    pub(super) fn new(r: &Registry, prices: Prices) -> Self {
        let request_cost = register(
            r,
            Counter::new(
                "strata_object_store_request_cost_dollars_total",
                "Estimated cost of this node's object-store requests at the configured prices",
            ),
        );
        let per_hour = register(
            r,
            GaugeVec::new(
                Opts::new(
                    "strata_object_store_cost_dollars_per_hour",
                    "Estimated object-store cost per hour at the configured prices, by kind: \
                     requests (this node's, averaged over 5 minutes) and storage (the whole \
                     bucket; exported by the quorum leader only, so a sum over nodes counts it \
                     once)",
                ),
                &["kind"],
            ),
        );
        Self {
            prices,
            started: Instant::now(),
            samples: Arc::new(Mutex::new(VecDeque::new())),
            request_cost,
            per_hour,
            stored_bytes: gauge_vec(
                r,
                "strata_stored_bytes",
                "Bytes in the bucket by tier (flush, segment, archive), objects awaiting garbage \
                 collection included; exported by the quorum leader only",
                &["tier"],
            ),
            stored_objects: gauge_vec(
                r,
                "strata_stored_objects",
                "Objects in the bucket by tier; exported by the quorum leader only",
                &["tier"],
            ),
            group_lag: gauge_vec(
                r,
                "strata_consumer_group_lag_records",
                "Records between a group's committed offset and the partition's high watermark; \
                 exported by the quorum leader only",
                &["group", "topic", "partition"],
            ),
        }
    }

    /// Brings the estimate up to date from the requests counted so far and the cluster's
    /// usage (leader only), and sets or clears the cluster-wide gauges.
    pub(super) fn update(&self, requests: &IntCounterVec, usage: Option<&ClusterUsage>) {
        let mut total = 0.0;
        for (op, billed) in OPS {
            let n = requests.with_label_values(&[op]).get() as f64;
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
        let per_hour = self.hourly(total);
        self.per_hour.with_label_values(&["requests"]).set(per_hour);
        let storage: Gauge = self.per_hour.with_label_values(&["storage"]);
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
        self.update_usage(usage);
    }

    /// The request cost per hour over the last [`COST_WINDOW`], `total` being the cost so far.
    fn hourly(&self, total: f64) -> f64 {
        let now = Instant::now();
        let mut samples = self
            .samples
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
    }

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
}
