//! The chaos suite's producers and checker (issue 17): producers that retry every failed
//! request with its `Idempotency-Key` on either ingest node until it is acknowledged, a log of
//! when acknowledgements happened (to measure unavailability), and the check that every
//! acknowledged record is stored exactly once where it was acknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::Api;

/// A record's id: (worker, request, index in the request).
pub type RecordId = (u64, u64, u64);

/// What a producer saw of one request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Worker and request number.
    pub id: (u64, u64),
    /// Partition and offset of each record, once acknowledged.
    pub placed: Option<Vec<(u32, i64)>>,
    /// Attempts sent.
    pub attempts: u32,
}

/// Producers writing through every ingest node, retrying with the same key.
#[derive(Debug)]
pub struct Producers {
    nodes: Arc<RwLock<Vec<String>>>,
    requests: Arc<Mutex<Vec<Request>>>,
    acks: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

/// Records per request.
pub const PER_REQUEST: u64 = 10;

/// How long a client waits for one attempt before it gives up and retries elsewhere.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(6);

impl Producers {
    /// Starts `workers` producers to `topic`; `nodes` holds the ingest nodes' base URLs (the
    /// nemesis updates it when a node restarts on a new port).
    pub fn start(nodes: Arc<RwLock<Vec<String>>>, topic: &str, workers: u64) -> Self {
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let acks: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        let http = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .expect("client builds");
        let tasks = (0..workers)
            .map(|w| {
                let (nodes, requests, acks, stop, failures, http, topic) = (
                    nodes.clone(),
                    requests.clone(),
                    acks.clone(),
                    stop.clone(),
                    failures.clone(),
                    http.clone(),
                    topic.to_string(),
                );
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        let records: Vec<Value> = (0..PER_REQUEST)
                            .map(|i| {
                                let mut r = json!({"value": {"w": w, "r": n, "i": i}});
                                // Some records keyed (spread by key), some not (the key's
                                // partition).
                                if i % 2 == 0 {
                                    r["key"] = json!(format!("k{}", (w * 31 + n + i) % 17));
                                }
                                r
                            })
                            .collect();
                        let body = json!({ "records": records }).to_string();
                        let key = format!("w{w}-r{n}");
                        let index = {
                            let mut all = requests.lock().expect("lock");
                            all.push(Request {
                                id: (w, n),
                                placed: None,
                                attempts: 0,
                            });
                            all.len() - 1
                        };
                        // Retry until acknowledged; once the run stops, for a bounded time.
                        let mut attempt = 0u64;
                        let mut stopped_at: Option<Instant> = None;
                        loop {
                            if stop.load(Ordering::SeqCst) {
                                let at = *stopped_at.get_or_insert_with(Instant::now);
                                if at.elapsed() > Duration::from_secs(60) {
                                    break;
                                }
                            }
                            let node = {
                                let urls = nodes.read().expect("lock");
                                urls[((w + attempt) % urls.len() as u64) as usize].clone()
                            };
                            attempt += 1;
                            requests.lock().expect("lock")[index].attempts += 1;
                            let sent = http
                                .post(format!("{node}/v1/topics/{topic}/records?acks=all"))
                                .header("content-type", "application/json")
                                .header("idempotency-key", &key)
                                .body(body.clone())
                                .send()
                                .await;
                            let placed = match sent {
                                Ok(r) if r.status().as_u16() == 200 => {
                                    r.json::<Value>().await.ok().and_then(|v| {
                                        v["offsets"]
                                            .as_array()?
                                            .iter()
                                            .map(|o| {
                                                Some((
                                                    o["partition"].as_u64()? as u32,
                                                    o["offset"].as_i64()?,
                                                ))
                                            })
                                            .collect::<Option<Vec<_>>>()
                                    })
                                }
                                _ => None,
                            };
                            match placed {
                                Some(p) => {
                                    acks.lock().expect("lock").push(Instant::now());
                                    requests.lock().expect("lock")[index].placed = Some(p);
                                    break;
                                }
                                None => {
                                    failures.fetch_add(1, Ordering::SeqCst);
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                            }
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        Self {
            nodes,
            requests,
            acks,
            stop,
            failures,
            tasks,
        }
    }

    /// Returns how many requests are acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.acks.lock().expect("lock").len()
    }

    /// Returns how many attempts failed so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::SeqCst)
    }

    /// Returns the longest time without an acknowledgement in `[from, to]` (from `from` to
    /// the first acknowledgement after it, between acknowledgements, and to `to`).
    pub fn longest_gap(&self, from: Instant, to: Instant) -> Duration {
        let mut times: Vec<Instant> = self
            .acks
            .lock()
            .expect("lock")
            .iter()
            .copied()
            .filter(|t| *t >= from && *t <= to)
            .collect();
        times.sort();
        let mut last = from;
        let mut gap = Duration::ZERO;
        for t in times {
            gap = gap.max(t - last);
            last = t;
        }
        gap.max(to.saturating_duration_since(last))
    }

    /// Returns the ingest nodes' URLs.
    pub fn nodes(&self) -> Vec<String> {
        self.nodes.read().expect("lock").clone()
    }

    /// Stops issuing requests, lets the ones in flight finish (retrying, bounded), and returns
    /// every request.
    pub async fn stop(self) -> Vec<Request> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            let _ = t.await;
        }
        self.requests.lock().expect("lock").clone()
    }
}

/// What the checker found.
#[derive(Debug, Default, Clone)]
pub struct Verdict {
    /// Requests acknowledged, and their records.
    pub acknowledged_requests: usize,
    /// Records acknowledged.
    pub acknowledged: usize,
    /// Records stored.
    pub stored: usize,
    /// Acknowledged records missing or not at their acknowledged offset.
    pub lost: usize,
    /// Records stored more than once.
    pub duplicated: usize,
    /// Records stored that no producer sent.
    pub unknown: usize,
    /// Requests whose records of one partition are not contiguous.
    pub split: usize,
    /// Unacknowledged requests (given up after the run) stored.
    pub unacknowledged_stored: usize,
    /// Attempts sent in all.
    pub attempts: u64,
    /// The first problems found, for the failure message.
    pub problems: Vec<String>,
}

impl Verdict {
    /// Returns whether every guarantee held.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.unknown == 0 && self.split == 0
    }
}

/// Reads `topic` from every node and checks: every node returns the same records; offsets
/// are dense from 0; every acknowledged record is stored exactly once at its acknowledged
/// offset; no record is stored twice or unsent; the records of one request in a partition are
/// contiguous.
pub async fn check(
    nodes: &[String],
    topic: &str,
    partitions: u32,
    requests: &[Request],
) -> anyhow::Result<Verdict> {
    let mut v = Verdict::default();
    let problem = |v: &mut Verdict, p: String| {
        if v.problems.len() < 20 {
            v.problems.push(p);
        }
    };
    let mut views = Vec::new();
    for node in nodes {
        let api = Api::new(node);
        let mut stored: BTreeMap<(u32, i64), RecordId> = BTreeMap::new();
        for p in 0..partitions {
            for (i, r) in api.fetch_all(topic, p, "json").await?.iter().enumerate() {
                let offset = r["offset"].as_i64().unwrap_or(-1);
                if offset != i as i64 {
                    anyhow::bail!("{node}: partition {p} is not dense at {i}: {r}");
                }
                let id = (
                    r["value"]["w"].as_u64().unwrap_or(u64::MAX),
                    r["value"]["r"].as_u64().unwrap_or(u64::MAX),
                    r["value"]["i"].as_u64().unwrap_or(u64::MAX),
                );
                stored.insert((p, offset), id);
            }
        }
        views.push(stored);
    }
    let Some(stored) = views.first().cloned() else {
        anyhow::bail!("no node to read from");
    };
    for (i, other) in views.iter().enumerate().skip(1) {
        anyhow::ensure!(
            *other == stored,
            "{} returns other records than {}",
            nodes[i],
            nodes[0]
        );
    }
    v.stored = stored.len();
    let sent: BTreeMap<(u64, u64), &Request> = requests.iter().map(|r| (r.id, r)).collect();
    let mut seen: BTreeMap<RecordId, Vec<(u32, i64)>> = BTreeMap::new();
    for (place, id) in &stored {
        seen.entry(*id).or_default().push(*place);
    }
    for (id, places) in &seen {
        if !sent.contains_key(&(id.0, id.1)) || id.2 >= PER_REQUEST {
            v.unknown += 1;
            problem(
                &mut v,
                format!("{id:?} stored at {places:?} was never sent"),
            );
        }
        if places.len() > 1 {
            v.duplicated += places.len() - 1;
            problem(
                &mut v,
                format!("{id:?} stored {} times: {places:?}", places.len()),
            );
        }
    }
    for r in requests {
        v.attempts += u64::from(r.attempts);
        let ids: Vec<RecordId> = (0..PER_REQUEST).map(|i| (r.id.0, r.id.1, i)).collect();
        match &r.placed {
            Some(placed) => {
                v.acknowledged_requests += 1;
                v.acknowledged += placed.len();
                for (i, place) in placed.iter().enumerate() {
                    if stored.get(place) != Some(&ids[i]) {
                        v.lost += 1;
                        problem(
                            &mut v,
                            format!(
                                "{:?} acknowledged at {place:?} but {:?} is there",
                                ids[i],
                                stored.get(place)
                            ),
                        );
                    }
                }
            }
            None => {
                if ids.iter().any(|id| seen.contains_key(id)) {
                    v.unacknowledged_stored += 1;
                }
            }
        }
        // The request's records in each partition sit at consecutive offsets.
        let mut by_partition: BTreeMap<u32, BTreeSet<i64>> = BTreeMap::new();
        for id in &ids {
            for (p, o) in seen.get(id).into_iter().flatten() {
                by_partition.entry(*p).or_default().insert(*o);
            }
        }
        for (p, offsets) in by_partition {
            let (first, last) = (
                *offsets.first().expect("not empty"),
                *offsets.last().expect("not empty"),
            );
            if last - first + 1 != offsets.len() as i64 {
                v.split += 1;
                problem(
                    &mut v,
                    format!("request {:?} is split in partition {p}: {offsets:?}", r.id),
                );
            }
        }
    }
    Ok(v)
}
