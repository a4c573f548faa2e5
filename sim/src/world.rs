//! One run: the nodes, the producers, the nemesis, and the end of the run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use strata_cache::{BlockCache, FetchOptions, ReadPath, StartAt};
use strata_core::clock::{Clock, RuntimeClock};
use strata_core::ids::{Offset, PartitionId};
use strata_core::meta::{GroupOffset, MetaError, MetaStore};
use strata_core::record::Record;
use strata_core::rng::XorShift;
use strata_ingest::hot::DiskOptions;
use strata_ingest::parse::ProduceRecord;
use strata_ingest::{Acks, IngestConfig, Ingestor};
use tokio::time::{Instant, sleep, timeout};

use crate::bucket::{Bucket, Weather};
use crate::check::{History, Placed, check};
use crate::disk::{Disk, tempdir};
use crate::quorum::{Link, Quorum};
use crate::trace::Trace;
use crate::{Outcome, SimConfig};

const TOPIC: &str = "t";
const GROUP: &str = "g";
/// Wall time at the start of every run (2026-01-01): the clock the quorum stamps with.
const EPOCH_MS: i64 = 1_767_225_600_000;

/// A node's clock: the runtime's, skewed by a fixed amount.
#[derive(Debug)]
struct Skewed {
    base: RuntimeClock,
    skew_ms: i64,
}

impl Clock for Skewed {
    fn now_ms(&self) -> i64 {
        self.base.now_ms() + self.skew_ms
    }
}

/// One ingest node: its disk, its link to the quorum, and its write path while it runs.
#[derive(Debug)]
struct Node {
    id: usize,
    dir: tempfile::TempDir,
    disk: Arc<Disk>,
    link: Arc<Link>,
    clock: Arc<dyn Clock>,
    ingest: tokio::sync::Mutex<Option<Arc<Ingestor>>>,
}

impl Node {
    fn config(&self) -> IngestConfig {
        let mut c = IngestConfig::new(self.dir.path().to_path_buf());
        c.flush_interval = Duration::from_millis(50);
        c.segment_bytes = 64 << 10;
        c.commit_timeout = Duration::from_secs(10);
        c.max_concurrent_uploads = 2;
        c.disk = DiskOptions {
            observer: Some(self.disk.clone()),
            inline: true,
        };
        c
    }

    /// The running write path, if the node is up.
    async fn current(&self) -> Option<Arc<Ingestor>> {
        self.ingest.lock().await.clone()
    }

    /// Starts the node if it is down; returns whether it runs.
    async fn start(&self, world: &World) -> bool {
        let mut slot = self.ingest.lock().await;
        if slot.is_some() {
            return true;
        }
        let opened = Ingestor::open(
            self.config(),
            self.link.clone() as Arc<dyn MetaStore>,
            world.bucket.faulty.clone(),
            self.clock.clone(),
        )
        .await;
        match opened {
            Ok(i) => {
                world.event(format!("node {} started as {}", self.id, i.incarnation().0));
                *slot = Some(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Crashes the node: its tasks stop at once and its disk keeps only what was fsynced.
    async fn crash(&self, world: &World) {
        let Some(i) = self.ingest.lock().await.take() else {
            return;
        };
        i.kill();
        let lost = self.disk.power_loss(self.dir.path()).unwrap_or(u64::MAX);
        world.event(format!(
            "node {} crashed, {lost} unsynced bytes lost",
            self.id
        ));
    }
}

impl Node {
    /// Plays the node's supervisor: a fenced process stops (the page cache keeps what it
    /// wrote) and is started again, and its successor ships what it staged.
    async fn supervise(&self, world: &World) {
        let fenced = {
            let slot = self.ingest.lock().await;
            slot.as_ref().and_then(|i| i.fenced())
        };
        let Some(reason) = fenced else { return };
        if let Some(i) = self.ingest.lock().await.take() {
            i.kill();
        }
        world.event(format!("node {} was fenced and stopped", self.id));
        world
            .history
            .lock()
            .expect("lock")
            .fenced
            .push(format!("node {} ({reason})", self.id));
        while !self.start(world).await {
            sleep(Duration::from_millis(300)).await;
        }
    }
}

/// Everything a run shares.
#[derive(Debug)]
struct World {
    config: SimConfig,
    start: Instant,
    trace: Trace,
    quorum: Arc<Quorum>,
    /// A link without faults, for the run's setup and its read-back.
    admin: Arc<Link>,
    /// The clock of the quorum's clients without a skew of their own.
    admin_clock: Arc<dyn Clock>,
    bucket: Bucket,
    nodes: Vec<Node>,
    history: Mutex<History>,
}

impl World {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn running(&self) -> bool {
        self.now() < self.config.run_ms
    }

    fn event(&self, what: String) {
        let voters = std::mem::take(&mut *self.quorum.log.lock().expect("lock"));
        for (at, v) in voters {
            self.trace.event(at, v);
        }
        self.trace.event(self.now(), what);
    }

    /// Heals every link and the bucket.
    fn heal(&self) {
        self.bucket.faults().set(Weather::default());
        for n in &self.nodes {
            n.link.set(false, 0, 0);
        }
        self.quorum.heal();
    }
}

/// An independent stream for part `part` of seed `seed` (splitmix64 of both), so that no two
/// parts of a run draw the same numbers.
fn stream(seed: u64, part: u64) -> XorShift {
    let mut z = seed
        .wrapping_add(part.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    XorShift::new((z ^ (z >> 31)) | 1)
}

pub(crate) async fn run(seed: u64, config: SimConfig) -> Outcome {
    let mut rng = stream(seed, 0);
    let clock: Arc<dyn Clock> = Arc::new(RuntimeClock::new(EPOCH_MS));
    let quorum = Quorum::new(
        clock.clone(),
        config.voters + 1,
        config.voters,
        stream(seed, 3).next(),
    );
    quorum.start_all().await;
    let admin = Arc::new(Link::new(
        quorum.clone(),
        clock.clone(),
        stream(seed, 4).next(),
    ));
    // A write whose leader loses its lease before the answer is retried, and may have been
    // applied: the retry then finds the topic.
    match admin
        .create_topic(TOPIC, config.partitions, BTreeMap::new())
        .await
    {
        Ok(_) | Err(MetaError::TopicExists { .. }) => {}
        Err(e) => panic!("the topic is not created: {e}"),
    }
    let nodes = (0..config.nodes)
        .map(|id| {
            let skewed: Arc<dyn Clock> = Arc::new(Skewed {
                base: RuntimeClock::new(EPOCH_MS),
                skew_ms: rng.below(4_001) as i64 - 2_000,
            });
            Node {
                id,
                dir: tempdir().expect("a temporary directory"),
                disk: Arc::new(Disk::default()),
                link: Arc::new(Link::new(
                    quorum.clone(),
                    skewed.clone(),
                    stream(seed, 100 + id as u64).next(),
                )),
                clock: skewed,
                ingest: tokio::sync::Mutex::new(None),
            }
        })
        .collect();
    let world = Arc::new(World {
        trace: Trace::new(config.keep_trace),
        start: quorum.start,
        bucket: Bucket::new(stream(seed, 1).next()),
        quorum,
        admin,
        admin_clock: clock.clone(),
        nodes,
        history: Mutex::new(History::default()),
        config,
    });
    for n in &world.nodes {
        assert!(n.start(&world).await, "a node starts on a healthy quorum");
    }
    let mut tasks = Vec::new();
    for p in 0..world.config.producers {
        tasks.push(tokio::spawn(produce(
            world.clone(),
            p,
            stream(seed, 200 + p as u64),
        )));
    }
    tasks.push(tokio::spawn(consume(world.clone(), stream(seed, 5))));
    let nemesis = tokio::spawn(nemesis(world.clone(), stream(seed, 2)));
    let supervisor = {
        let world = world.clone();
        tokio::spawn(async move {
            loop {
                sleep(Duration::from_millis(100)).await;
                for n in &world.nodes {
                    n.supervise(&world).await;
                }
            }
        })
    };
    for t in tasks {
        t.await.expect("a producer ends");
    }
    let (faults, restarts) = nemesis.await.expect("the nemesis ends");
    world.heal();
    world.event("healed".to_string());
    let mut failures = Vec::new();
    // Simulated time: a run that cannot settle says so instead of hanging.
    if timeout(Duration::from_secs(600), settle(&world, restarts))
        .await
        .is_err()
    {
        failures.push("the nodes did not ship everything within 10 simulated minutes".into());
    }
    match read_back(&world).await {
        Ok((read, high)) => {
            for (p, (r, h)) in read.iter().zip(&high).enumerate() {
                world.event(format!(
                    "partition {p}: {} records, high watermark {h}",
                    r.len()
                ));
            }
            let history = world.history.lock().expect("lock");
            failures.extend(check(&history, &read, &high));
        }
        Err(e) => failures.push(format!("reading back: {e}")),
    }
    if let Err(e) = world.quorum.converged().await {
        failures.push(e);
    }
    for f in &failures {
        world.event(format!("FAILED {f}"));
    }
    for n in &world.nodes {
        if let Some(i) = n.current().await {
            i.shutdown(Duration::from_secs(5)).await;
        }
    }
    supervisor.abort();
    world.quorum.shutdown().await;
    let (trace, events) = world.trace.hash();
    let history = world.history.lock().expect("lock");
    Outcome {
        seed,
        trace,
        events,
        lines: world.trace.lines(),
        failures,
        acknowledged: (
            history.all.values().map(|r| r.len() as u64).sum(),
            history.local.len() as u64,
        ),
        faults,
    }
}

/// One producer: requests of 1 to 4 keyed records to a random node, one at a time.
async fn produce(world: Arc<World>, p: usize, mut rng: XorShift) {
    let mut request = 0u64;
    while world.running() {
        let n = rng.below(world.nodes.len() as u64) as usize;
        let Some(ingest) = world.nodes[n].current().await else {
            sleep(Duration::from_millis(20)).await;
            continue;
        };
        request += 1;
        let values: Vec<Bytes> = (0..1 + rng.below(4))
            .map(|i| Bytes::from(format!("p{p}-r{request}-{i}")))
            .collect();
        let acks = if rng.below(8) == 0 {
            Acks::Local
        } else {
            Acks::All
        };
        let records = values
            .iter()
            .map(|v| ProduceRecord {
                record: Record {
                    key: Some(Bytes::from(format!("k{}", rng.below(32)))),
                    value: Some(v.clone()),
                    headers: Vec::new(),
                    timestamp: 0,
                },
                partition: None,
                timestamp: None,
            })
            .collect();
        world
            .history
            .lock()
            .expect("lock")
            .sent
            .extend(values.iter().cloned());
        let answer = timeout(
            Duration::from_secs(15),
            ingest.produce(TOPIC, records, acks, None),
        )
        .await;
        let what = match (answer, acks) {
            (Ok(Ok(offsets)), Acks::All) => {
                let placed: Vec<Placed> = values
                    .iter()
                    .zip(&offsets)
                    .map(|(v, o)| Placed {
                        value: v.clone(),
                        partition: o.partition.0,
                        offset: o.offset.map_or(-1, |o| o.0),
                    })
                    .collect();
                let at: Vec<String> = placed
                    .iter()
                    .map(|r| format!("{}@{}", r.partition, r.offset))
                    .collect();
                let mut h = world.history.lock().expect("lock");
                h.all.entry(p).or_default().push(placed);
                format!("all {}", at.join(","))
            }
            (Ok(Ok(_)), _) => {
                world
                    .history
                    .lock()
                    .expect("lock")
                    .local
                    .extend(values.iter().cloned());
                "local".to_string()
            }
            (Ok(Err(e)), _) => format!("refused ({})", kind(&e)),
            (Err(_), _) => "no answer".to_string(),
        };
        world.event(format!(
            "producer {p} request {request} to node {n}: {what}"
        ));
        sleep(Duration::from_millis(rng.below(30))).await;
    }
}

/// One consumer of group `g`: reads every partition on from its positions and commits them,
/// or reads the group's committed offsets, every 50 to 300 ms. Its link to the quorum has no
/// faults of its own; the voters' faults reach it.
async fn consume(world: Arc<World>, mut rng: XorShift) {
    let link = Arc::new(Link::new(
        world.quorum.clone(),
        world.admin_clock.clone(),
        rng.next(),
    ));
    let meta: Arc<dyn MetaStore> = link;
    let cache = BlockCache::in_memory(world.bucket.raw.clone()).await;
    let read = ReadPath::new(meta.clone(), cache, None);
    let partitions = world.config.partitions as usize;
    let mut positions = vec![0i64; partitions];
    while world.running() {
        sleep(Duration::from_millis(50 + rng.below(250))).await;
        if rng.below(3) == 0 {
            let began = world.now();
            let Ok(Ok(offsets)) = timeout(Duration::from_secs(15), meta.group_offsets(GROUP)).await
            else {
                continue;
            };
            let mut got = vec![None; partitions];
            for o in offsets {
                if let Some(slot) = got.get_mut(o.partition.0 as usize) {
                    *slot = Some(o.offset.0);
                }
            }
            world.event(format!("consumer read the group's offsets {got:?}"));
            world
                .history
                .lock()
                .expect("lock")
                .group_reads
                .push((began, got));
            continue;
        }
        for (p, pos) in positions.iter_mut().enumerate() {
            let mut opts = FetchOptions::from(StartAt::Offset(Offset(*pos)));
            opts.max_records = 50;
            if let Ok(page) = read.fetch(TOPIC, PartitionId(p as u32), opts).await {
                *pos = page.next_offset.0;
            }
        }
        let offsets = positions
            .iter()
            .enumerate()
            .map(|(p, o)| GroupOffset {
                topic: TOPIC.to_string(),
                partition: PartitionId(p as u32),
                offset: Offset(*o),
            })
            .collect();
        let answer = timeout(
            Duration::from_secs(15),
            meta.commit_group_offsets(GROUP, offsets),
        )
        .await;
        let what = if let Ok(Ok(())) = answer {
            let mut h = world.history.lock().expect("lock");
            h.group_commits.push((world.now(), positions.clone()));
            "committed"
        } else {
            "not committed"
        };
        world.event(format!("consumer {what} {positions:?}"));
    }
}

/// A refusal's kind, without the details that name files.
fn kind(e: &strata_ingest::IngestError) -> String {
    let s = format!("{e:?}");
    s.split(['(', ' ', '{']).next().unwrap_or("").to_string()
}

/// The nemesis: a fault every 0.2 to 1.7 s, each healed after 0.1 to 3 s. Returns the faults
/// injected and the restarts it left pending.
async fn nemesis(world: Arc<World>, mut rng: XorShift) -> (u64, Vec<tokio::task::JoinHandle<()>>) {
    let mut faults = 0;
    let mut pending = Vec::new();
    loop {
        sleep(Duration::from_millis(200 + rng.below(1_500))).await;
        if !world.running() {
            return (faults, pending);
        }
        faults += 1;
        let n = rng.below(world.nodes.len() as u64) as usize;
        let lasts = Duration::from_millis(100 + rng.below(2_900));
        let w = world.clone();
        // Node crashes three times as often as each other fault: they are what the hot tier's
        // recovery, fencing and shipping must survive.
        let kind = match rng.below(14) {
            0..=2 => 0,
            k => k - 2,
        };
        match kind {
            0 => {
                world.nodes[n].crash(&world).await;
                pending.push(tokio::spawn(async move {
                    sleep(lasts).await;
                    while !w.nodes[n].start(&w).await {
                        sleep(Duration::from_millis(300)).await;
                    }
                }));
            }
            1 => {
                world.event(format!("node {n} cut off from the quorum for {lasts:?}"));
                world.nodes[n].link.set(true, 0, 0);
                tokio::spawn(async move {
                    sleep(lasts).await;
                    w.nodes[n].link.set(false, 0, 0);
                });
            }
            2 => {
                world.event(format!("node {n} loses quorum answers for {lasts:?}"));
                world.nodes[n].link.set(false, 300, 50);
                tokio::spawn(async move {
                    sleep(lasts).await;
                    w.nodes[n].link.set(false, 0, 0);
                });
            }
            6 => {
                let v = world.quorum.pick();
                world.event(format!("voter {v} crashes with power loss for {lasts:?}"));
                world.quorum.stop(v, true).await;
                pending.push(tokio::spawn(async move {
                    sleep(lasts).await;
                    w.quorum.restart(v).await;
                }));
            }
            7 => {
                let v = world.quorum.pick();
                world.event(format!("voter {v} paused for {lasts:?}"));
                world.quorum.pause(v, true);
                tokio::spawn(async move {
                    sleep(lasts).await;
                    w.quorum.pause(v, false);
                });
            }
            8 => {
                let v = world.quorum.pick();
                world.event(format!("voter {v} isolated for {lasts:?}"));
                world.quorum.isolate(v, true);
                tokio::spawn(async move {
                    sleep(lasts).await;
                    w.quorum.isolate(v, false);
                });
            }
            9 => {
                let slots = world.quorum.slots() as u64;
                let from = world.quorum.pick();
                let to = 1 + (from + rng.below(slots - 1)) % slots;
                world.event(format!(
                    "voter {from} cannot reach voter {to} for {lasts:?}"
                ));
                world.quorum.cut_one_way(from, to, true);
                tokio::spawn(async move {
                    sleep(lasts).await;
                    w.quorum.cut_one_way(from, to, false);
                });
            }
            10 => {
                let what = world.quorum.replace().await;
                world.event(format!("membership: {what}"));
            }
            11 => {
                world.event(format!("every voter loses power for {lasts:?}"));
                let stopped = world.quorum.outage().await;
                pending.push(tokio::spawn(async move {
                    sleep(lasts).await;
                    for v in stopped {
                        w.quorum.restart(v).await;
                    }
                }));
            }
            kind => {
                let weather = match kind {
                    3 => Weather {
                        fail: 0.5,
                        ..Weather::default()
                    },
                    4 => Weather {
                        lose: 0.3,
                        ..Weather::default()
                    },
                    _ => Weather {
                        slow_ms: 800,
                        ..Weather::default()
                    },
                };
                world.event(format!("bucket {weather:?} for {lasts:?}"));
                world.bucket.faults().set(weather);
                tokio::spawn(async move {
                    sleep(lasts).await;
                    w.bucket.faults().set(Weather::default());
                });
            }
        }
    }
}

/// Brings every node up and ships everything each holds.
async fn settle(world: &World, restarts: Vec<tokio::task::JoinHandle<()>>) {
    for r in restarts {
        let _ = r.await;
    }
    world.quorum.recover().await;
    world.event("the quorum has a leader and every member runs".to_string());
    for n in &world.nodes {
        while !n.start(world).await {
            sleep(Duration::from_millis(300)).await;
        }
    }
    for n in &world.nodes {
        if let Some(i) = n.current().await {
            while !i.flush(Duration::from_secs(30)).await {
                world.event(format!("node {} still flushing", n.id));
            }
        }
    }
    world.event("settled".to_string());
}

type ReadBack = (Vec<Vec<(i64, Bytes)>>, Vec<i64>);

/// Every record of every partition, through the read path over the bucket without faults.
async fn read_back(world: &World) -> Result<ReadBack, String> {
    let cache = BlockCache::in_memory(world.bucket.raw.clone()).await;
    let meta: Arc<dyn MetaStore> = world.admin.clone();
    let read = ReadPath::new(meta.clone(), cache, None);
    let mut all = Vec::new();
    let mut high = Vec::new();
    for p in 0..world.config.partitions {
        let mut records = Vec::new();
        let mut next = Offset(0);
        let hw = loop {
            let mut opts = FetchOptions::from(StartAt::Offset(next));
            opts.max_records = 10_000;
            let page = read
                .fetch(TOPIC, PartitionId(p), opts)
                .await
                .map_err(|e| e.to_string())?;
            for r in page.records {
                records.push((r.offset.0, r.record.value.unwrap_or_default()));
            }
            next = page.next_offset;
            if next >= page.high_watermark {
                break page.high_watermark.0;
            }
        };
        all.push(records);
        high.push(hw);
    }
    Ok((all, high))
}
