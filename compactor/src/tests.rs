//! Compactor scenarios over the in-memory quorum and object store: Kafka's retention matrix,
//! merges, garbage collection and leases.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use proptest::prelude::*;
use strata_core::api::{ApiError, codes};
use strata_core::clock::ManualClock;
use strata_core::ids::FlushSeq;
use strata_core::keys::segment_key;
use strata_core::meta::ObjectCommit;
use strata_core::meta::jobs::LeaseName;
use strata_core::object::decode_section;
use strata_core::record::{Record, StoredRecord};
use strata_core::storage::{FaultyStore, Op, faulty_store};
use strata_core::testing::ship;
use strata_meta::memory::InMemoryMetaStore;

use super::*;

const T0: i64 = 1_000_000_000;

struct Fixture {
    meta: Arc<InMemoryMetaStore>,
    store: Arc<FaultyStore>,
    clock: ManualClock,
    topic: TopicInfo,
    seq: u64,
}

fn rec(key: Option<&str>, value: Option<&str>, ts: i64) -> Record {
    Record {
        key: key.map(|k| Bytes::from(k.to_string())),
        value: value.map(|v| Bytes::from(v.to_string())),
        headers: Vec::new(),
        timestamp: ts,
    }
}

impl Fixture {
    async fn new(partitions: u32, config: &[(&str, &str)]) -> Self {
        let clock = ManualClock::new(T0);
        let meta = Arc::new(InMemoryMetaStore::new(Arc::new(clock.clone())));
        let config: BTreeMap<String, String> = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let topic = meta
            .create_topic("t", partitions, config)
            .await
            .expect("creates");
        Self {
            meta,
            store: faulty_store(),
            clock,
            topic,
            seq: 0,
        }
    }

    fn compactor(&self, node: u64) -> Compactor {
        let mut config = CompactorConfig::new(Incarnation(node));
        config.gc_grace = Duration::from_secs(10);
        config.orphan_grace = Duration::from_secs(60);
        Compactor::new(
            self.meta.clone(),
            self.store.clone(),
            Arc::new(self.clock.clone()),
            config,
        )
    }

    /// Ships one object holding `records` for each listed partition and commits it.
    async fn ship(&mut self, parts: &[(u32, Vec<Record>)]) -> String {
        self.seq += 1;
        ship(&*self.store, &*self.meta, self.seq, self.topic.id, parts)
            .await
            .0
    }

    /// Ships one object holding keyed records of partition 0 (a `None` value is a tombstone),
    /// all stamped `ts`.
    async fn write(&mut self, ts: i64, records: &[(&str, Option<&str>)]) -> String {
        let records = records.iter().map(|(k, v)| rec(Some(k), *v, ts)).collect();
        self.ship(&[(0, records)]).await
    }

    /// Reads a partition from its log start, as a consumer would.
    async fn read(&self, partition: u32) -> Vec<StoredRecord> {
        let page = self
            .meta
            .extents("t", PartitionId(partition), Offset(0), 100_000)
            .await
            .expect("extents");
        let mut out = Vec::new();
        for e in &page.extents {
            let bytes = self
                .store
                .get_range(&Path::from(e.object.as_str()), e.start..e.start + e.len)
                .await
                .expect("every extent's object exists");
            let records = decode_section(&bytes, e.base_offset).expect("decodes");
            assert_eq!(records.len() as u64, e.record_count);
            out.extend(
                records
                    .into_iter()
                    .filter(|r| r.offset >= page.log_start_offset),
            );
        }
        out
    }

    async fn partition(&self, partition: u32) -> strata_core::meta::PartitionInfo {
        self.meta.partitions("t").await.expect("topic")[partition as usize]
    }

    async fn bucket(&self) -> BTreeSet<String> {
        self.store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .expect("lists")
    }

    /// Every object some extent of the topic refers to.
    async fn referenced(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for p in 0..self.topic.partitions {
            let page = self
                .meta
                .extents("t", PartitionId(p), Offset(0), 100_000)
                .await
                .expect("extents");
            out.extend(page.extents.into_iter().map(|e| e.object));
        }
        out
    }
}

fn offsets(records: &[StoredRecord]) -> Vec<i64> {
    records.iter().map(|r| r.offset.0).collect()
}

fn values(records: &[StoredRecord]) -> Vec<Option<String>> {
    records
        .iter()
        .map(|r| {
            r.record
                .value
                .as_ref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
        .collect()
}

#[tokio::test]
async fn merging_keeps_every_offset_and_record_and_garbage_goes_after_the_grace_period() {
    let mut f = Fixture::new(2, &[("retention.ms", "-1")]).await;
    for i in 0..20 {
        let v = format!("v{i}");
        f.ship(&[
            (0, vec![rec(None, Some(&v), T0), rec(None, Some(&v), T0)]),
            (1, vec![rec(None, Some(&v), T0)]),
        ])
        .await;
    }
    let before = [f.read(0).await, f.read(1).await];
    let c = f.compactor(7);
    let reports = c.compact_topic("t").await.expect("compacts");
    assert_eq!(reports.len(), 2);
    assert_eq!(
        (reports[0].extents_before, reports[0].extents_after),
        (20, 1)
    );
    assert_eq!(
        (reports[1].extents_before, reports[1].extents_after),
        (20, 1)
    );
    assert_eq!(reports[0].records_removed, 0);
    assert_eq!(f.read(0).await, before[0], "same offsets, same records");
    assert_eq!(f.read(1).await, before[1]);
    let p = f.partition(0).await;
    assert_eq!(
        (p.extents, p.segments, p.high_watermark),
        (1, 1, Offset(40))
    );

    // The shared objects are garbage now, kept through the grace period for readers.
    assert_eq!(f.bucket().await.len(), 22);
    assert_eq!(
        c.collect_garbage(false)
            .await
            .expect("collects")
            .objects_deleted,
        0
    );
    f.clock.advance(10_001);
    let gc = c.collect_garbage(false).await.expect("collects");
    assert_eq!(gc.objects_deleted, 20);
    assert_eq!(f.bucket().await, f.referenced().await);
    assert_eq!(f.read(0).await, before[0]);
}

#[tokio::test]
async fn merges_through_the_block_cache_get_each_shared_object_once() {
    let mut gets = Vec::new();
    let mut records = Vec::new();
    for cached in [false, true] {
        let mut f = Fixture::new(4, &[("retention.ms", "-1")]).await;
        for i in 0..20 {
            let v = format!("v{i}");
            let parts: Vec<(u32, Vec<Record>)> =
                (0..4).map(|p| (p, vec![rec(None, Some(&v), T0)])).collect();
            f.ship(&parts).await;
        }
        let mut before = Vec::new();
        for p in 0..4 {
            before.push(f.read(p).await);
        }
        let mut c = f.compactor(7);
        if cached {
            c = c.with_cache(strata_cache::BlockCache::in_memory(f.store.clone()).await);
        }
        let from = f.store.hooks().count(Op::reads);
        let reports = c.compact_topic("t").await.expect("compacts");
        assert!(reports.iter().all(|r| r.extents_after == 1), "{reports:?}");
        gets.push(f.store.hooks().count(Op::reads) - from);
        let mut after = Vec::new();
        for p in 0..4 {
            after.push(f.read(p).await);
        }
        assert_eq!(after, before, "same offsets, same records");
        records.push(after);
    }
    assert_eq!(records[0], records[1]);
    // 20 flush objects, each holding a piece of 4 partitions: one ranged GET per extent
    // directly, one GET per object through the cache.
    assert_eq!(gets, vec![80, 20]);
}

#[tokio::test]
async fn merged_and_compacted_segments_merge_again_with_their_gaps() {
    let mut f = Fixture::new(1, &[("cleanup.policy", "compact")]).await;
    for round in 0..3 {
        let v = format!("r{round}");
        f.ship(&[(
            0,
            vec![rec(Some("a"), Some(&v), T0), rec(Some("b"), Some(&v), T0)],
        )])
        .await;
    }
    f.write(T0, &[("c", Some("head"))]).await;
    f.clock.advance(1);
    let c = f.compactor(7);
    c.compact_topic("t").await.expect("compacts");
    assert_eq!(offsets(&f.read(0).await), vec![4, 5, 6]);
    // The topic stops compacting; the compacted segment (with its gap) merges with new extents
    // by copying batches.
    f.meta
        .update_topic_config(
            "t",
            BTreeMap::from([("cleanup.policy".to_string(), "delete".to_string())]),
        )
        .await
        .expect("updates");
    for i in 0..3 {
        f.ship(&[(0, vec![rec(Some("d"), Some(&format!("{i}")), T0)])])
            .await;
    }
    let before = f.read(0).await;
    let r = c.compact_topic("t").await.expect("merges");
    assert_eq!((r[0].extents_before, r[0].extents_after), (5, 1));
    assert_eq!(f.read(0).await, before);
    assert_eq!(offsets(&before), vec![4, 5, 6, 7, 8, 9]);
}

#[tokio::test]
async fn delete_policy_drops_whole_old_extents_and_keeps_the_rest() {
    let mut f = Fixture::new(1, &[("cleanup.policy", "delete"), ("retention.ms", "1000")]).await;
    for i in 0..5 {
        f.write(T0 + i, &[("k", Some("old"))]).await;
    }
    for i in 0..3 {
        f.write(T0 + 5000 + i, &[("k", Some("new"))]).await;
    }
    f.clock.advance(5500);
    let r = f.compactor(7).compact_topic("t").await.expect("compacts");
    assert_eq!(r[0].log_start_offset, 5);
    let left = f.read(0).await;
    assert_eq!(offsets(&left), vec![5, 6, 7]);
    assert_eq!(values(&left), vec![Some("new".to_string()); 3]);
}

#[tokio::test]
async fn compact_policy_keeps_the_latest_value_per_key_and_never_touches_the_head() {
    let mut f = Fixture::new(1, &[("cleanup.policy", "compact")]).await;
    f.write(T0, &[("a", Some("a1")), ("b", Some("b1"))]).await;
    f.write(T0, &[("a", Some("a2")), ("c", Some("c1"))]).await;
    f.write(T0, &[("b", Some("b2")), ("a", Some("a3"))]).await;
    // The head: the newest extent, never compacted, even with its duplicate key.
    f.write(T0, &[("c", Some("c2")), ("c", Some("c3"))]).await;
    f.clock.advance(1);
    let r = f.compactor(7).compact_topic("t").await.expect("compacts");
    // Cleanable a1 b1 a2 c1 b2 a3 -> c1 b2 a3: a1, b1 and a2 go.
    assert_eq!(r[0].records_removed, 3);
    let log = f.read(0).await;
    assert_eq!(offsets(&log), vec![3, 4, 5, 6, 7]);
    assert_eq!(
        values(&log),
        ["c1", "b2", "a3", "c2", "c3"]
            .map(|v| Some(v.to_string()))
            .to_vec()
    );
    assert_eq!(
        r[0].log_start_offset, 0,
        "compaction never moves the log start"
    );
    // A second pass has nothing left to do in the cleaned range.
    let again = f.compactor(7).compact_topic("t").await.expect("compacts");
    assert_eq!(again[0].records_removed, 0);
    assert_eq!(f.read(0).await, log);
}

#[tokio::test]
async fn min_compaction_lag_keeps_young_records_uncompacted() {
    let mut f = Fixture::new(
        1,
        &[
            ("cleanup.policy", "compact"),
            ("min.compaction.lag.ms", "60000"),
        ],
    )
    .await;
    f.write(T0, &[("a", Some("a1"))]).await;
    f.write(T0 + 50_000, &[("a", Some("a2"))]).await;
    f.write(T0 + 50_000, &[("a", Some("a3"))]).await;
    f.write(T0 + 50_000, &[("x", Some("x"))]).await;
    f.clock.advance(70_000);
    // Only a1 is older than the lag: alone in the cleanable range, it stays.
    let r = f.compactor(7).compact_topic("t").await.expect("compacts");
    assert_eq!(r[0].records_removed, 0);
    assert_eq!(offsets(&f.read(0).await), vec![0, 1, 2, 3]);
    f.clock.advance(50_000);
    let r = f.compactor(7).compact_topic("t").await.expect("compacts");
    assert_eq!(r[0].records_removed, 2);
    assert_eq!(offsets(&f.read(0).await), vec![2, 3]);
}

#[tokio::test]
async fn a_tombstone_is_kept_for_delete_retention_ms_then_removed() {
    let mut f = Fixture::new(
        1,
        &[
            ("cleanup.policy", "compact"),
            ("delete.retention.ms", "100000"),
        ],
    )
    .await;
    f.write(T0, &[("a", Some("a1")), ("b", Some("b1"))]).await;
    f.write(T0 + 10, &[("a", None)]).await;
    f.write(T0 + 20, &[("z", Some("head"))]).await;
    f.clock.advance(1000);
    let c = f.compactor(7);
    c.compact_topic("t").await.expect("compacts");
    let log = f.read(0).await;
    assert_eq!(offsets(&log), vec![1, 2, 3], "a1 goes, its tombstone stays");
    assert_eq!(log[1].record.value, None);
    f.clock.advance(100_000);
    // Nothing new is dirty, but an operator's pass still removes the expired tombstone.
    f.write(T0 + 101_000, &[("y", Some("later"))]).await;
    c.compact_topic("t").await.expect("compacts");
    assert_eq!(offsets(&f.read(0).await), vec![1, 3, 4]);
}

#[tokio::test]
async fn compact_delete_applies_both_policies() {
    let mut f = Fixture::new(
        1,
        &[
            ("cleanup.policy", "compact,delete"),
            ("retention.ms", "10000"),
        ],
    )
    .await;
    f.write(T0, &[("a", Some("a1"))]).await;
    f.write(T0 + 20_000, &[("a", Some("a2")), ("b", Some("b1"))])
        .await;
    f.write(T0 + 20_000, &[("a", Some("a3"))]).await;
    f.write(T0 + 20_000, &[("c", Some("c1"))]).await;
    f.clock.advance(25_000);
    let r = f.compactor(7).compact_topic("t").await.expect("compacts");
    // Retention drops a1's extent (too old); compaction drops a2 (superseded by a3).
    assert_eq!(r[0].log_start_offset, 1);
    assert_eq!(r[0].records_removed, 1);
    assert_eq!(
        values(&f.read(0).await),
        ["b1", "a3", "c1"].map(|v| Some(v.to_string())).to_vec()
    );
}

#[tokio::test]
async fn orphans_are_condemned_then_deleted_and_can_never_be_committed() {
    let mut f = Fixture::new(1, &[]).await;
    let kept = f.ship(&[(0, vec![rec(None, Some("x"), T0)])]).await;
    // Node 2 uploaded flush 1 and died before committing it.
    let orphan = segment_key(Incarnation(2), FlushSeq(1));
    f.store
        .put(
            &Path::from(orphan.as_str()),
            PutPayload::from(vec![1u8; 10]),
        )
        .await
        .expect("puts");
    let c = f.compactor(7);
    assert_eq!(
        c.collect_garbage(true).await.expect("gc").orphans_deleted,
        0
    );
    // The in-memory store stamps real time; move our clock far past the orphan grace.
    let now_real = strata_core::clock::SystemClock.now_ms();
    f.clock.advance(now_real - T0 + 3_600_000);
    let gc = c.collect_garbage(true).await.expect("gc");
    assert_eq!(gc.orphans_deleted, 1);
    assert_eq!(f.bucket().await, BTreeSet::from([kept]));
    let late = f
        .meta
        .commit_object(ObjectCommit {
            writer: Incarnation(2),
            by: None,
            requests: Vec::new(),
            keep_keys: Default::default(),
            seq: FlushSeq(1),
            key: orphan,
            size: 10,
            sections: vec![],
        })
        .await;
    assert!(matches!(late, Err(MetaError::Condemned { .. })), "{late:?}");
}

/// Starts a forced pass of `c` over partition 0 and returns once it is uploading its segment
/// (held at the gate).
async fn start_held_pass(
    f: &Fixture,
    c: Arc<Compactor>,
) -> tokio::task::JoinHandle<Result<PartitionReport, CompactError>> {
    // Segments the compactor writes are under topics/.
    f.store.hooks().hold(false, "topics/");
    let topic = f.topic.clone();
    let entered = f.store.hooks().entered();
    let task = tokio::spawn(async move { c.compact_partition(&topic, PartitionId(0), true).await });
    entered.await;
    task
}

#[tokio::test]
async fn two_compactors_never_work_one_partition_at_once() {
    let mut f = Fixture::new(1, &[("retention.ms", "-1")]).await;
    for i in 0..40 {
        f.ship(&[(0, vec![rec(None, Some(&format!("{i}")), T0)])])
            .await;
    }
    let before = f.read(0).await;
    let a = Arc::new(f.compactor(1));
    let b = f.compactor(2);
    let held = start_held_pass(&f, a.clone()).await;
    // While node 1 works the partition, node 2 is turned away, in the background and on demand.
    let e = b
        .compact_partition(&f.topic, PartitionId(0), true)
        .await
        .expect_err("busy");
    assert!(matches!(e, CompactError::Busy { .. }), "{e}");
    assert!(matches!(
        b.compact_topic("t").await,
        Err(CompactError::Busy { .. })
    ));
    f.store.hooks().open();
    let r = held.await.expect("runs").expect("node 1 finishes");
    assert_eq!(r.extents_after, 1);
    b.compact_partition(&f.topic, PartitionId(0), true)
        .await
        .expect("free again");
    assert_eq!(a.stats().conflicts.load(Ordering::Relaxed), 0);
    assert_eq!(b.stats().conflicts.load(Ordering::Relaxed), 0);
    assert_eq!(f.read(0).await, before);
}

#[tokio::test]
async fn a_compactor_that_lost_its_lease_cannot_swap() {
    let mut f = Fixture::new(1, &[("retention.ms", "-1")]).await;
    for i in 0..10 {
        f.ship(&[(0, vec![rec(None, Some(&format!("{i}")), T0)])])
            .await;
    }
    let before = f.read(0).await;
    let a = Arc::new(f.compactor(1));
    let held = start_held_pass(&f, a.clone()).await;
    // Node 1 stalls past its lease; node 2 takes over and merges.
    f.clock.advance(61_000);
    f.store.hooks().open();
    f.store.hooks().hold(false, "topics/");
    let b = f.compactor(2);
    let merged = b.compact_partition(&f.topic, PartitionId(0), true);
    f.store.hooks().open();
    let r = merged.await.expect("node 2 works");
    assert_eq!(r.extents_after, 1);
    let e = held.await.expect("runs").expect_err("fenced");
    assert!(
        matches!(e, CompactError::Meta(MetaError::LeaseLost { .. })),
        "{e}"
    );
    assert_eq!(a.stats().conflicts.load(Ordering::Relaxed), 1);
    assert_eq!(f.read(0).await, before);
    // Node 1's upload is an orphan: no extent refers to it.
    let orphans: Vec<String> = f
        .bucket()
        .await
        .difference(&f.referenced().await)
        .filter(|k| k.starts_with("topics/"))
        .cloned()
        .collect();
    assert_eq!(orphans.len(), 1);
}

#[tokio::test]
async fn an_operator_pass_is_refused_while_another_holder_works_and_reads_as_409() {
    let f = Fixture::new(1, &[]).await;
    let name = LeaseName {
        job: COMPACT_JOB,
        topic: "t",
        partition: PartitionId(0),
    };
    jobs::acquire_lease(f.meta.as_ref(), &name, Incarnation(9), None, 60_000, T0)
        .await
        .expect("free");
    let e = f.compactor(7).compact_topic("t").await.expect_err("busy");
    assert!(matches!(e, CompactError::Busy { .. }), "{e}");
    // As HTTP clients read it: 409, and so are conflicts; a store failure is 503.
    let e = ApiError::from(e);
    assert_eq!((e.status, e.error_code), (409, codes::JOB_RUNNING));
    assert!(
        e.message.contains("compaction of topic \"t\""),
        "{}",
        e.message
    );
    let e = ApiError::from(CompactError::Meta(MetaError::Conflict {
        topic: "t".into(),
        partition: 0,
    }));
    assert_eq!((e.status, e.error_code), (409, codes::JOB_RUNNING));
    let e = ApiError::from(CompactError::Store(object_store::Error::Generic {
        store: "test",
        source: "down".into(),
    }));
    assert_eq!((e.status, e.error_code), (503, codes::STORE_UNAVAILABLE));
}

#[tokio::test]
async fn deleting_a_topic_frees_its_objects() {
    let mut f = Fixture::new(1, &[]).await;
    f.ship(&[(0, vec![rec(None, Some("x"), T0)])]).await;
    f.meta.delete_topic("t").await.expect("deletes");
    f.clock.advance(10_001);
    let gc = f.compactor(7).collect_garbage(false).await.expect("gc");
    assert_eq!(gc.objects_deleted, 1);
    assert!(f.bucket().await.is_empty());
}

/// Compaction of a whole log, written the slow and obvious way: below `head` (the offset of the
/// newest extent), a record stays if no later record below `head` has its key and it is not
/// an expired tombstone; from `head` on, everything stays.
fn naive(log: &[StoredRecord], head: i64, horizon: i64) -> Vec<StoredRecord> {
    log.iter()
        .enumerate()
        .filter(|(i, r)| {
            if r.offset.0 >= head {
                return true;
            }
            let Some(k) = &r.record.key else { return true };
            let superseded = log[i + 1..]
                .iter()
                .any(|l| l.offset.0 < head && l.record.key.as_ref() == Some(k));
            let expired = r.record.value.is_none() && r.record.timestamp < horizon;
            !superseded && !expired
        })
        .map(|(_, r)| r.clone())
        .collect()
}

fn arb_flushes() -> impl Strategy<Value = Vec<Vec<(u8, bool, i64)>>> {
    prop::collection::vec(
        prop::collection::vec((0u8..5, prop::bool::weighted(0.2), 0i64..200_000), 1..6),
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_compacted_log_equals_the_naive_fold(flushes in arb_flushes()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let mut f = Fixture::new(1, &[("cleanup.policy", "compact"), ("delete.retention.ms", "100000")]).await;
            for flush in &flushes {
                let records: Vec<Record> = flush
                    .iter()
                    .map(|(k, tomb, ts)| {
                        let v = format!("{k}@{ts}");
                        rec(Some(&format!("k{k}")), (!tomb).then_some(v.as_str()), T0 + ts)
                    })
                    .collect();
                f.ship(&[(0, records)]).await;
            }
            let before = f.read(0).await;
            let head = f.meta.extents("t", PartitionId(0), Offset(0), 1000).await.expect("extents")
                .extents.last().expect("one extent at least").base_offset.0;
            f.clock.advance(250_000);
            f.compactor(7).compact_topic("t").await.expect("compacts");
            let after = f.read(0).await;
            prop_assert_eq!(after, naive(&before, head, T0 + 250_000 - 100_000));
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn an_operator_pass_waits_for_this_nodes_background_pass_instead_of_being_refused() {
    let mut f = Fixture::new(1, &[("retention.ms", "-1")]).await;
    for i in 0..10 {
        f.ship(&[(0, vec![rec(None, Some(&format!("{i}")), T0)])])
            .await;
    }
    let before = f.read(0).await;
    let mut config = CompactorConfig::new(Incarnation(7));
    config.interval = Duration::from_millis(10);
    config.merge_min_extents = 2;
    let c = Arc::new(Compactor::new(
        f.meta.clone(),
        f.store.clone(),
        Arc::new(f.clock.clone()),
        config,
    ));
    // The background pass stops while it uploads its merged segment.
    f.store.hooks().hold(false, "topics/");
    let entered = f.store.hooks().entered();
    let cancel = CancellationToken::new();
    let driver = tokio::spawn(run(c.clone(), cancel.clone()));
    entered.await;
    let asked = tokio::spawn({
        let c = c.clone();
        async move { c.compact_topic("t").await }
    });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(
        !asked.is_finished(),
        "the request waits its turn in the node's loop rather than being refused"
    );
    f.store.hooks().open();
    let reports = asked
        .await
        .expect("runs")
        .expect("served once the background pass is done");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].extents_after, 1);
    assert_eq!(f.read(0).await, before);
    cancel.cancel();
    driver.await.expect("stops when cancelled");
    c.compact_topic("t")
        .await
        .expect("without a loop the request runs in place");
}
