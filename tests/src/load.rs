//! Load for fault tests: producers that record every acknowledgement, and the check that every
//! acknowledged record is stored exactly once where it was acknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::{Api, eventually};

/// A record's id: (worker, sequence number).
pub type RecordId = (u64, u64);

/// An acknowledged record: its id, partition and offset (`None` without `acks=all`).
pub type Ack = (RecordId, u32, Option<i64>);

/// Producers sending requests of 20 records until stopped; failed requests are not retried.
#[derive(Debug)]
pub struct Load {
    acked: Arc<Mutex<Vec<Ack>>>,
    failures: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts workers `first..first + workers` producing to `topic` with `acks`.
    pub fn start(api: &Api, topic: &str, first: u64, workers: u64, acks: &str) -> Self {
        let acked: Arc<Mutex<Vec<Ack>>> = Arc::default();
        let failures = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (first..first + workers)
            .map(|w| {
                let (api, topic, acks) = (api.clone(), topic.to_string(), acks.to_string());
                let (acked, failures, stop) = (acked.clone(), failures.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        let records: Vec<Value> = (0..20)
                            .map(|i| json!({"key": format!("w{w}-k{}", (n + i) % 5), "value": {"w": w, "n": n + i}}))
                            .collect();
                        match api.produce(&topic, &acks, &records).await {
                            Ok(placed) => {
                                let mut a = acked.lock().expect("lock");
                                for (i, p) in placed.iter().enumerate() {
                                    a.push(((w, n + i as u64), p.partition, p.offset));
                                }
                            }
                            Err(_) => {
                                failures.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                        n += 20;
                    }
                })
            })
            .collect();
        Self {
            acked,
            failures,
            stop,
            tasks,
        }
    }

    /// Returns how many records were acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.lock().expect("lock").len()
    }

    /// Returns how many requests failed so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` records are acknowledged.
    pub async fn wait_acked(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        eventually(timeout, &format!("{n} acknowledged records"), || async {
            (self.acked() >= n).then_some(())
        })
        .await
    }

    /// Waits until at least `n` requests failed.
    pub async fn wait_failures(&self, n: u64, timeout: Duration) -> anyhow::Result<()> {
        eventually(timeout, &format!("{n} failed requests"), || async {
            (self.failures() >= n).then_some(())
        })
        .await
    }

    /// Stops the producers and returns every acknowledgement.
    pub async fn stop(self) -> Vec<Ack> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            let _ = t.await;
        }
        self.acked.lock().expect("lock").clone()
    }
}

/// Reads every partition of `topic` and checks: offsets are dense from 0, no record id is
/// stored twice, and every acknowledged record is stored (at its offset, when it has one).
/// Returns what is stored, by (partition, offset).
pub async fn check_acknowledged(
    api: &Api,
    topic: &str,
    partitions: u32,
    acked: &[Ack],
) -> anyhow::Result<BTreeMap<(u32, i64), RecordId>> {
    let mut stored = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for p in 0..partitions {
        for (i, r) in api.fetch_all(topic, p, "json").await?.iter().enumerate() {
            anyhow::ensure!(
                r["offset"] == json!(i as i64),
                "partition {p} is not dense at {i}: {r}"
            );
            let id = (
                r["value"]["w"].as_u64().unwrap_or(u64::MAX),
                r["value"]["n"].as_u64().unwrap_or(u64::MAX),
            );
            anyhow::ensure!(ids.insert(id), "record {id:?} is stored twice");
            stored.insert((p, i as i64), id);
        }
    }
    for (id, p, o) in acked {
        match o {
            Some(o) => anyhow::ensure!(
                stored.get(&(*p, *o)) == Some(id),
                "acknowledged record {id:?} is not at {p}/{o}"
            ),
            None => anyhow::ensure!(ids.contains(id), "acknowledged record {id:?} is missing"),
        }
    }
    Ok(stored)
}

/// Sends `requests` requests of `per_request` records (ids `(worker, n)`) to `topic` with
/// `acks=all`, one after another, and returns every acknowledgement. A failed request is not
/// retried.
pub async fn produce_requests(
    api: &Api,
    topic: &str,
    worker: u64,
    requests: u64,
    per_request: u64,
) -> Vec<Ack> {
    let mut acked = Vec::new();
    for r in 0..requests {
        let first = r * per_request;
        let records: Vec<Value> = (first..first + per_request)
            .map(
                |n| json!({"key": format!("w{worker}-k{}", n % 7), "value": {"w": worker, "n": n}}),
            )
            .collect();
        if let Ok(placed) = api.produce(topic, "all", &records).await {
            for (i, p) in placed.iter().enumerate() {
                acked.push(((worker, first + i as u64), p.partition, p.offset));
            }
        }
    }
    acked
}
