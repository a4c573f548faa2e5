use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use object_store::PutPayload;
use object_store::memory::InMemory;
use strata_core::batch::encode_batch;
use strata_core::clock::ManualClock;
use strata_core::ids::{FlushSeq, Incarnation, TopicId};
use strata_core::keys::segment_key;
use strata_core::meta::{ObjectCommit, SectionCommit};
use strata_core::object::ObjectBuilder;
use strata_core::record::Record;
use strata_core::testing::ship;
use strata_meta::memory::InMemoryMetaStore;

use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::*;

struct Fixture {
    meta: Arc<InMemoryMetaStore>,
    store: Arc<InMemory>,
    topic: TopicId,
    seq: u64,
}

fn record(i: i64) -> Record {
    Record {
        key: Some(Bytes::from(format!("k{i}"))),
        value: Some(Bytes::from(format!("value-{i}"))),
        headers: Vec::new(),
        timestamp: 1000 + i * 10,
    }
}

impl Fixture {
    async fn new(partitions: u32) -> Self {
        let meta = Arc::new(InMemoryMetaStore::new(Arc::new(ManualClock::new(0))));
        let topic = meta
            .create_topic("t", partitions, BTreeMap::new())
            .await
            .expect("creates")
            .id;
        Self {
            meta,
            store: Arc::new(InMemory::new()),
            topic,
            seq: 0,
        }
    }

    /// Ships one object with `records` for each listed partition and commits it.
    async fn ship(&mut self, parts: &[(u32, Vec<Record>)]) -> (String, Bytes) {
        self.seq += 1;
        ship(&*self.store, &*self.meta, self.seq, self.topic, parts).await
    }

    async fn reader(&self, local: Option<Arc<dyn LocalSource>>) -> ReadPath {
        let cache = BlockCache::in_memory(self.store.clone()).await;
        ReadPath::new(self.meta.clone(), cache, local)
    }
}

fn offsets(r: &FetchResult) -> Vec<i64> {
    r.records.iter().map(|r| r.offset.0).collect()
}

fn at(o: i64) -> FetchOptions {
    FetchOptions::from(StartAt::Offset(Offset(o)))
}

#[tokio::test]
async fn fetch_reads_across_objects_in_one_offset_space() {
    let mut f = Fixture::new(2).await;
    f.ship(&[(0, (0..3).map(record).collect()), (1, vec![record(9)])])
        .await;
    f.ship(&[(0, (3..5).map(record).collect())]).await;
    let r = f.reader(None).await;
    let all = r.fetch("t", PartitionId(0), at(0)).await.expect("fetches");
    assert_eq!(offsets(&all), vec![0, 1, 2, 3, 4]);
    assert_eq!(all.next_offset, Offset(5));
    assert_eq!(all.high_watermark, Offset(5));
    assert_eq!(all.records[3].record, record(3));
    let mid = r.fetch("t", PartitionId(0), at(2)).await.expect("fetches");
    assert_eq!(offsets(&mid), vec![2, 3, 4]);
    let p1 = r.fetch("t", PartitionId(1), at(0)).await.expect("fetches");
    assert_eq!(p1.records[0].record, record(9));
    let earliest = r
        .fetch("t", PartitionId(0), FetchOptions::from(StartAt::Earliest))
        .await
        .expect("fetches");
    assert_eq!(offsets(&earliest)[0], 0);
    let latest = r
        .fetch("t", PartitionId(0), FetchOptions::from(StartAt::Latest))
        .await
        .expect("fetches");
    assert!(latest.records.is_empty());
    assert_eq!(latest.next_offset, Offset(5));
    let by_time = r
        .fetch(
            "t",
            PartitionId(0),
            FetchOptions::from(StartAt::Timestamp(1025)),
        )
        .await
        .expect("fetches");
    assert_eq!(
        offsets(&by_time),
        vec![3, 4],
        "first record at or after 1025 is offset 3"
    );
}

#[tokio::test]
async fn limits_are_honoured_and_never_split_a_record() {
    let mut f = Fixture::new(1).await;
    f.ship(&[(0, (0..10).map(record).collect())]).await;
    let r = f.reader(None).await;
    let mut opts = at(0);
    opts.max_records = 3;
    assert_eq!(
        offsets(&r.fetch("t", PartitionId(0), opts).await.expect("ok")),
        vec![0, 1, 2]
    );
    let size = record(0).size() as u64;
    let mut opts = at(4);
    opts.max_bytes = size * 2 + 1;
    let two = r.fetch("t", PartitionId(0), opts).await.expect("ok");
    assert_eq!(offsets(&two), vec![4, 5]);
    assert_eq!(two.next_offset, Offset(6));
    let mut opts = at(7);
    opts.max_bytes = 1;
    assert_eq!(
        offsets(&r.fetch("t", PartitionId(0), opts).await.expect("ok")),
        vec![7],
        "a first record over max_bytes still comes back alone"
    );
}

#[tokio::test]
async fn offsets_outside_the_log_are_out_of_range() {
    let mut f = Fixture::new(1).await;
    f.ship(&[(0, (0..2).map(record).collect())]).await;
    let r = f.reader(None).await;
    let at_end = r
        .fetch("t", PartitionId(0), at(2))
        .await
        .expect("at hwm is fine");
    assert!(at_end.records.is_empty());
    match r.fetch("t", PartitionId(0), at(3)).await {
        Err(ReadError::OutOfRange { high_watermark, .. }) => assert_eq!(high_watermark, Offset(2)),
        other => panic!("expected out of range, got {other:?}"),
    }
    assert!(matches!(
        r.fetch("t", PartitionId(0), at(-1)).await,
        Err(ReadError::OutOfRange { .. })
    ));
    let api: ApiError = ReadError::OutOfRange {
        offset: Offset(3),
        log_start: Offset(0),
        high_watermark: Offset(2),
    }
    .into();
    assert_eq!(
        (api.status, api.extra["high_watermark"].as_i64()),
        (416, Some(2))
    );
    assert!(matches!(
        r.fetch("t", PartitionId(5), at(0)).await,
        Err(ReadError::Meta(MetaError::PartitionNotFound { .. }))
    ));
}

#[tokio::test]
async fn long_poll_wakes_when_records_are_committed() {
    let mut f = Fixture::new(1).await;
    let r = f.reader(None).await;
    let mut opts = at(0);
    opts.max_wait = Duration::from_secs(30);
    let waiting = tokio::spawn(async move { r.fetch("t", PartitionId(0), opts).await });
    tokio::task::yield_now().await;
    f.ship(&[(0, vec![record(0)])]).await;
    let got = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("woke before max_wait")
        .expect("joined")
        .expect("fetched");
    assert_eq!(offsets(&got), vec![0]);
}

#[tokio::test(start_paused = true)]
async fn long_poll_returns_empty_after_max_wait() {
    let f = Fixture::new(1).await;
    let mut opts = at(0);
    opts.max_wait = Duration::from_millis(500);
    let got = f
        .reader(None)
        .await
        .fetch("t", PartitionId(0), opts)
        .await
        .expect("ok");
    assert!(got.records.is_empty());
    assert_eq!(got.next_offset, Offset(0));
}

#[derive(Debug, Default)]
struct FakeLocal {
    objects: Mutex<HashMap<String, Bytes>>,
    reads: AtomicU64,
}

impl LocalSource for FakeLocal {
    fn read(&self, object: &str, start: u64, len: u64) -> Option<Bytes> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let o = self.objects.lock().expect("lock").get(object)?.clone();
        Some(o.slice(start as usize..(start + len) as usize))
    }
}

#[tokio::test]
async fn local_copies_are_preferred_and_bad_ones_are_never_served() {
    let mut f = Fixture::new(1).await;
    let (key, bytes) = f.ship(&[(0, (0..3).map(record).collect())]).await;
    let local = Arc::new(FakeLocal::default());
    local
        .objects
        .lock()
        .expect("lock")
        .insert(key.clone(), bytes.clone());
    let r = f.reader(Some(local.clone())).await;
    let got = r.fetch("t", PartitionId(0), at(0)).await.expect("ok");
    assert_eq!(offsets(&got), vec![0, 1, 2]);
    assert_eq!(
        r.stats().store_gets.load(Ordering::SeqCst),
        0,
        "served locally"
    );

    let mut bad = bytes.to_vec();
    bad[20] ^= 0xff;
    local
        .objects
        .lock()
        .expect("lock")
        .insert(key.clone(), Bytes::from(bad.clone()));
    let got = r.fetch("t", PartitionId(0), at(0)).await.expect("ok");
    assert_eq!(got.records[1].record, record(1), "re-read from the bucket");
    assert_eq!(r.stats().local_corrupt.load(Ordering::SeqCst), 1);

    f.store
        .put(&Path::from(key.as_str()), PutPayload::from(bad))
        .await
        .expect("puts");
    assert!(matches!(
        f.reader(None).await.fetch("t", PartitionId(0), at(0)).await,
        Err(ReadError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn a_fetch_from_inside_a_gap_starts_at_the_next_record() {
    // A compacted section (absolute offsets): offsets 0, 2 and 4 of 0..5 survive.
    let f = Fixture::new(1).await;
    let records: Vec<Record> = [0, 2, 4].into_iter().map(record).collect();
    let batch =
        encode_batch(f.topic, PartitionId(0), 0, &records, Some(&[0, 2, 4]), 1).expect("encodes");
    let mut b = ObjectBuilder::new(Incarnation(1), 1, 0, 0);
    b.push(&batch).expect("pushes");
    let (bytes, sections) = b.finish();
    let key = segment_key(Incarnation(1), FlushSeq(1));
    f.store
        .put(&Path::from(key.as_str()), PutPayload::from(bytes.clone()))
        .await
        .expect("puts");
    let s = &sections[0];
    f.meta
        .commit_object(ObjectCommit {
            writer: Incarnation(1),
            by: None,
            requests: Vec::new(),
            keep_keys: Default::default(),
            seq: FlushSeq(1),
            key,
            size: bytes.len() as u64,
            sections: vec![SectionCommit {
                topic_id: s.topic_id,
                partition: s.partition,
                start: s.start,
                len: s.len,
                record_count: 5,
                min_timestamp: s.min_timestamp,
                max_timestamp: s.max_timestamp,
            }],
        })
        .await
        .expect("commits");
    let r = f.reader(None).await;
    for (from, want) in [(0, vec![0, 2, 4]), (1, vec![2, 4]), (3, vec![4])] {
        let got = r
            .fetch("t", PartitionId(0), at(from))
            .await
            .expect("fetches");
        assert_eq!(offsets(&got), want, "from {from}");
        assert_eq!(got.next_offset, Offset(5));
        assert_eq!(got.records[0].record, record(want[0]));
    }
    let mut one = at(1);
    one.max_records = 1;
    let got = r.fetch("t", PartitionId(0), one).await.expect("fetches");
    assert_eq!(offsets(&got), vec![2]);
    assert_eq!(got.next_offset, Offset(3));
}
