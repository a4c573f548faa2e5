//! Archiver scenarios over the in-memory quorum and object store: files, plans and restarts,
//! triggers, the manifest, and the archive as a read tier.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strata_cache::{BlockCache, FetchOptions, ReadError, StartAt};
use strata_core::clock::ManualClock;
use strata_core::meta::jobs::{COMPACT_JOB, LeaseName};
use strata_core::record::{Header, Record, StoredRecord};
use strata_core::testing::ship;
use strata_meta::memory::InMemoryMetaStore;

use super::*;

/// 2026-11-22T10:00:00Z.
const T0: i64 = 1_795_341_600_000;
const MINUTE: i64 = 60_000;

struct Fixture {
    meta: Arc<InMemoryMetaStore>,
    store: Arc<InMemory>,
    cache: Arc<BlockCache>,
    clock: ManualClock,
    topic: TopicInfo,
    seq: u64,
}

fn rec(i: i64, ts: i64) -> Record {
    Record {
        key: (i % 7 != 0).then(|| Bytes::from(format!("user-{}", i % 5))),
        value: (i % 11 != 0).then(|| Bytes::from(format!(r#"{{"n": {i}, "event": "e{i}"}}"#))),
        headers: if i % 3 == 0 {
            vec![
                Header {
                    name: "trace".into(),
                    value: Bytes::from(format!("t{i}")),
                },
                Header {
                    name: "bin".into(),
                    value: Bytes::from_static(b"\x00\x01\xff"),
                },
            ]
        } else {
            Vec::new()
        },
        timestamp: ts,
    }
}

impl Fixture {
    async fn new(partitions: u32, config: &[(&str, &str)]) -> Self {
        let clock = ManualClock::new(T0);
        let meta = Arc::new(InMemoryMetaStore::new(Arc::new(clock.clone())));
        let mut config: BTreeMap<String, String> = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        config.insert("archive".into(), "true".into());
        let topic = meta
            .create_topic("t", partitions, config)
            .await
            .expect("creates");
        let store = Arc::new(InMemory::new());
        let cache = BlockCache::in_memory(store.clone()).await;
        Self {
            meta,
            store,
            cache,
            clock,
            topic,
            seq: 0,
        }
    }

    fn read_path(&self) -> ReadPath {
        ReadPath::new(self.meta.clone(), self.cache.clone(), None)
    }

    fn archiver(&self, node: u64) -> Archiver {
        let mut config = ArchiverConfig::new(Incarnation(node));
        config.bytes_per_sec = 0;
        Archiver::new(
            self.meta.clone(),
            self.store.clone(),
            self.read_path(),
            Arc::new(self.clock.clone()),
            config,
        )
    }

    /// Ships `n` records per listed partition, numbered from `first`, stamped `ts`.
    async fn ship(&mut self, partitions: &[u32], first: i64, n: i64, ts: i64) {
        self.seq += 1;
        let parts: Vec<(u32, Vec<Record>)> = partitions
            .iter()
            .map(|p| (*p, (first..first + n).map(|i| rec(i, ts)).collect()))
            .collect();
        ship(&*self.store, &*self.meta, self.seq, self.topic.id, &parts).await;
    }

    /// Every record of a partition through the read path, from its earliest offset.
    async fn fetch_all(&self, read: &ReadPath, partition: u32) -> Vec<StoredRecord> {
        let mut out = Vec::new();
        let mut start = StartAt::Earliest;
        loop {
            let page = read
                .fetch(
                    "t",
                    PartitionId(partition),
                    FetchOptions {
                        start,
                        max_records: 37,
                        max_bytes: 1 << 20,
                        max_wait: Duration::ZERO,
                    },
                )
                .await
                .expect("fetches");
            out.extend(page.records);
            if page.next_offset >= page.high_watermark {
                return out;
            }
            start = StartAt::Offset(page.next_offset);
        }
    }

    /// Keys under `archive/`, without the Iceberg metadata.
    async fn archive_keys(&self) -> BTreeSet<String> {
        self.keys_under("archive")
            .await
            .into_iter()
            .filter(|k| !k.contains("/_iceberg/"))
            .collect()
    }

    async fn keys_under(&self, prefix: &str) -> BTreeSet<String> {
        self.store
            .list(Some(&Path::from(prefix)))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .expect("lists")
    }

    /// The rows of one archive file, read back with the plain (sync) Parquet reader.
    async fn file_records(&self, key: &str) -> Vec<StoredRecord> {
        let bytes = self
            .store
            .get(&Path::from(key))
            .await
            .expect("file exists")
            .bytes()
            .await
            .expect("reads");
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .expect("a parquet file")
            .build()
            .expect("reader");
        let mut out = Vec::new();
        for batch in reader {
            out.extend(schema::records(&batch.expect("batch")).expect("shape"));
        }
        out
    }

    async fn expire_segments(&self, partition: u32) {
        let p = self.meta.partitions("t").await.expect("topic")[partition as usize];
        let name = LeaseName {
            job: COMPACT_JOB,
            topic: "t",
            partition: PartitionId(partition),
        };
        let now = self.clock.now_ms();
        let token =
            jobs::acquire_lease(self.meta.as_ref(), &name, Incarnation(9), None, 60_000, now)
                .await
                .expect("lease");
        jobs::trim_log(
            self.meta.as_ref(),
            "t",
            self.topic.id,
            PartitionId(partition),
            token,
            p.high_watermark,
            now,
        )
        .await
        .expect("retention may pass archived offsets");
    }
}

#[tokio::test]
async fn archived_offsets_read_back_exactly_after_the_segments_expire() {
    let mut f = Fixture::new(2, &[]).await;
    for i in 0..5 {
        f.ship(&[0, 1], i * 40, 40, T0 + i * MINUTE).await;
    }
    let read = f.read_path();
    let before = [f.fetch_all(&read, 0).await, f.fetch_all(&read, 1).await];
    assert_eq!(before[0].len(), 200);

    let archiver = f.archiver(1);
    let reports = archiver.archive_topic("t").await.expect("archives");
    assert_eq!(
        reports
            .iter()
            .map(|r| (r.archived_through, r.files_written))
            .collect::<Vec<_>>(),
        vec![(Some(199), 1), (Some(199), 1)]
    );
    let keys = f.archive_keys().await;
    let files: Vec<&String> = keys.iter().filter(|k| k.ends_with(".parquet")).collect();
    assert_eq!(
        files,
        vec![
            "archive/t/date=2026-11-22/hour=10/0-00000000000000000000-00000000000000000199.parquet",
            "archive/t/date=2026-11-22/hour=10/1-00000000000000000000-00000000000000000199.parquet",
        ]
    );
    assert_eq!(f.file_records(files[0]).await, before[0]);
    assert_eq!(f.file_records(files[1]).await, before[1]);
    assert_eq!(
        archiver.archive_topic("t").await.expect("again")[0].files_written,
        0,
        "nothing new, nothing written"
    );

    f.expire_segments(0).await;
    f.expire_segments(1).await;
    let p = f.meta.partitions("t").await.expect("topic")[0];
    assert_eq!((p.log_start_offset, p.extents), (Offset(200), 0));
    let tiered = f.read_path().with_archive(Arc::new(ArchiveReader::new(
        f.meta.clone(),
        f.cache.clone(),
    )));
    assert_eq!(f.fetch_all(&tiered, 0).await, before[0]);
    assert_eq!(f.fetch_all(&tiered, 1).await, before[1]);
    // From the middle of the archive, and through to segments written after the expiry.
    f.ship(&[0], 200, 10, T0 + 10 * MINUTE).await;
    let page = tiered
        .fetch(
            "t",
            PartitionId(0),
            FetchOptions::from(StartAt::Offset(Offset(150))),
        )
        .await
        .expect("fetches");
    assert_eq!(page.records, before[0][150..]);
    assert_eq!(
        (page.next_offset, page.log_start_offset),
        (Offset(200), Offset(0))
    );
    assert_eq!(f.fetch_all(&tiered, 0).await.len(), 210);
    // A timestamp finds the first offset stamped at or after it, in the archive first.
    for (ts, want) in [
        (T0 - MINUTE, 0),
        (T0 + 2 * MINUTE - 5, 80),
        (T0 + 4 * MINUTE, 160),
        (T0 + 4 * MINUTE + 1, 200),
        (T0 + 11 * MINUTE, 210),
    ] {
        let page = tiered
            .fetch(
                "t",
                PartitionId(0),
                FetchOptions::from(StartAt::Timestamp(ts)),
            )
            .await
            .expect("fetches");
        let first = page.records.first().map_or(page.next_offset, |r| r.offset);
        assert_eq!(first, Offset(want), "timestamp {ts}");
    }
    // Without the archive tier the expired offsets are out of range.
    assert!(matches!(
        f.read_path()
            .fetch(
                "t",
                PartitionId(0),
                FetchOptions::from(StartAt::Offset(Offset(0)))
            )
            .await,
        Err(ReadError::OutOfRange { .. })
    ));
}

#[tokio::test]
async fn files_wait_for_size_hour_or_interval_in_the_background() {
    let mut f = Fixture::new(1, &[("archive.interval.ms", "600000")]).await;
    let archiver = f.archiver(1);
    let cancel = CancellationToken::new();
    f.ship(&[0], 0, 10, T0).await;
    archiver.run_once(&cancel).await.expect("runs");
    assert_eq!(
        f.archive_keys().await,
        BTreeSet::from(["archive/t/_manifest.json".to_string()]),
        "not due: young and small (the manifest lists no file yet)"
    );

    // Record time enters the next hour: the first hour's file is due.
    f.ship(&[0], 10, 10, T0 + 61 * MINUTE).await;
    archiver.run_once(&cancel).await.expect("runs");
    let p = f.meta.partitions("t").await.expect("topic")[0];
    assert_eq!(p.archived_through, Some(Offset(9)));
    f.clock.advance(10 * MINUTE);
    archiver.run_once(&cancel).await.expect("runs");
    assert!(
        f.meta.partitions("t").await.expect("topic")[0].archived_through == Some(Offset(9)),
        "the second hour's records are only 9 minutes old by the clock"
    );
    f.clock.advance(62 * MINUTE);
    archiver.run_once(&cancel).await.expect("runs");
    let keys = f.archive_keys().await;
    assert!(keys.contains(
        "archive/t/date=2026-11-22/hour=11/0-00000000000000000010-00000000000000000019.parquet"
    ));
    let manifest: Manifest = serde_json::from_slice(
        &f.store
            .get(&Path::from("archive/t/_manifest.json"))
            .await
            .expect("manifest written")
            .bytes()
            .await
            .expect("reads"),
    )
    .expect("parses");
    assert_eq!(manifest.files.len(), 2);
    assert_eq!(manifest.partitions[0].archived_through, Some(19));
    assert_eq!(
        manifest
            .files
            .iter()
            .map(|m| (m.first_offset, m.last_offset, m.rows))
            .collect::<Vec<_>>(),
        vec![(0, 9, 10), (10, 19, 10)]
    );
}

#[tokio::test]
async fn files_are_cut_at_the_topic_file_size() {
    let mut f = Fixture::new(1, &[("archive.file.bytes", "1024")]).await;
    for i in 0..6 {
        f.ship(&[0], i * 30, 30, T0).await;
    }
    let archiver = f.archiver(1);
    archiver.archive_topic("t").await.expect("archives");
    let files = archiver.manifest(&f.topic).await.expect("manifest").files;
    assert!(files.len() >= 3, "{files:?}");
    let mut next = 0;
    for m in &files {
        assert_eq!(
            m.first_offset, next,
            "consecutive spans, no gap, no overlap"
        );
        next = m.last_offset + 1;
    }
    assert_eq!(next, 180);
    assert_eq!(files.iter().map(|m| m.rows).sum::<u64>(), 180);
}

#[tokio::test]
async fn a_restarted_archiver_writes_its_planned_key_again_and_no_second_copy() {
    let mut f = Fixture::new(1, &[]).await;
    f.ship(&[0], 0, 50, T0).await;
    let before = f.fetch_all(&f.read_path(), 0).await;
    let crashed = f.archiver(1);
    let topic = f.topic.clone();
    let name = LeaseName {
        job: ARCHIVE_JOB,
        topic: "t",
        partition: PartitionId(0),
    };
    // The crashed archiver planned a file and uploaded half of something to its key.
    let plan = crashed
        .plan(&topic, PartitionId(0), Offset(0), Offset(50), true)
        .await
        .expect("plans")
        .expect("due");
    let token = jobs::acquire_lease(f.meta.as_ref(), &name, Incarnation(1), None, 60_000, T0)
        .await
        .expect("lease");
    jobs::plan_archive(f.meta.as_ref(), &name, topic.id, token, plan.clone(), T0)
        .await
        .expect("planned");
    f.store
        .put(
            &Path::from(plan.key.as_str()),
            PutPayload::from_static(b"PAR1 torn"),
        )
        .await
        .expect("puts");
    // More records arrive; the restarted archiver (same node, new lease) finishes the plan.
    f.ship(&[0], 50, 50, T0).await;
    let restarted = f.archiver(1);
    restarted.archive_topic("t").await.expect("archives");
    let files = restarted.manifest(&topic).await.expect("manifest").files;
    assert_eq!(
        files
            .iter()
            .map(|m| (m.key.clone(), m.first_offset, m.last_offset))
            .collect::<Vec<_>>(),
        vec![
            (plan.key.clone(), 0, 49),
            (
                "archive/t/date=2026-11-22/hour=10/0-00000000000000000050-00000000000000000099.parquet"
                    .to_string(),
                50,
                99
            )
        ]
    );
    assert_eq!(
        f.file_records(&plan.key).await,
        before,
        "the torn upload was replaced"
    );
    assert_eq!(
        f.archive_keys().await.len(),
        3,
        "two files and the manifest, nothing else"
    );
}

#[tokio::test]
async fn another_nodes_live_lease_makes_a_forced_run_busy() {
    let mut f = Fixture::new(1, &[]).await;
    f.ship(&[0], 0, 5, T0).await;
    let name = LeaseName {
        job: ARCHIVE_JOB,
        topic: "t",
        partition: PartitionId(0),
    };
    jobs::acquire_lease(f.meta.as_ref(), &name, Incarnation(2), None, 60_000, T0)
        .await
        .expect("lease");
    let e = f.archiver(1).archive_topic("t").await.expect_err("busy");
    assert!(matches!(e, ArchiveError::Busy { .. }), "{e}");
    f.clock.advance(61_000);
    f.archiver(1)
        .archive_topic("t")
        .await
        .expect("the lease lapsed");
}

#[tokio::test]
async fn a_publish_skipped_for_another_holder_is_done_by_the_next_pass() {
    let mut f = Fixture::new(1, &[("archive.interval.ms", "60000")]).await;
    f.ship(&[0], 0, 5, T0).await;
    f.clock.advance(2 * MINUTE);
    let name = LeaseName {
        job: manifest::PUBLISH_JOB,
        topic: "t",
        partition: PartitionId(0),
    };
    jobs::acquire_lease(
        f.meta.as_ref(),
        &name,
        Incarnation(2),
        None,
        60_000,
        f.clock.now_ms(),
    )
    .await
    .expect("lease");
    let archiver = f.archiver(1);
    let cancel = CancellationToken::new();
    archiver.run_once(&cancel).await.expect("runs");
    assert_eq!(
        f.meta.partitions("t").await.expect("topic")[0].archived_through,
        Some(Offset(4))
    );
    assert!(
        !f.archive_keys().await.contains("archive/t/_manifest.json"),
        "node 2 holds the publish lease"
    );
    f.clock.advance(61_000);
    archiver.run_once(&cancel).await.expect("runs");
    let manifest: Manifest = serde_json::from_slice(
        &f.store
            .get(&Path::from("archive/t/_manifest.json"))
            .await
            .expect("published")
            .bytes()
            .await
            .expect("reads"),
    )
    .expect("parses");
    assert_eq!(manifest.files.len(), 1);
    assert_eq!(manifest.files[0].last_offset, 4);
}

#[tokio::test]
async fn topics_without_archive_are_refused() {
    let f = Fixture::new(1, &[]).await;
    f.meta
        .create_topic("plain", 1, BTreeMap::new())
        .await
        .expect("creates");
    let e = f
        .archiver(1)
        .archive_topic("plain")
        .await
        .expect_err("refused");
    assert!(matches!(e, ArchiveError::NotArchived { .. }), "{e}");
}

#[tokio::test]
async fn iceberg_snapshots_append_files_and_old_metadata_is_deleted() {
    let mut f = Fixture::new(2, &[]).await;
    let archiver = f.archiver(1);
    let rounds = iceberg::KEEP_SNAPSHOTS as i64 + 3;
    for round in 0..rounds {
        f.ship(&[0, 1], round * 5, 5, T0 + round).await;
        archiver.archive_topic("t").await.expect("archives");
    }
    let prefix = iceberg::metadata_prefix("t");
    let text = |key: String| {
        let store = f.store.clone();
        async move {
            let bytes = store
                .get(&Path::from(key))
                .await
                .expect("exists")
                .bytes()
                .await
                .expect("reads");
            String::from_utf8(bytes.to_vec()).expect("utf-8")
        }
    };
    let version: u64 = text(format!("{prefix}version-hint.text"))
        .await
        .parse()
        .expect("a number");
    assert_eq!(
        version, rounds as u64,
        "one snapshot per publish with new files"
    );
    let metadata: serde_json::Value =
        serde_json::from_str(&text(format!("{prefix}v{version}.metadata.json")).await)
            .expect("json");
    assert_eq!(metadata["format-version"], 2);
    assert_eq!(metadata["current-snapshot-id"], rounds);
    assert_eq!(metadata["last-sequence-number"], rounds);
    let snapshots = metadata["snapshots"].as_array().expect("snapshots");
    assert_eq!(snapshots.len(), iceberg::KEEP_SNAPSHOTS);
    let current = snapshots.last().expect("current");
    assert_eq!(current["summary"]["added-data-files"], "2");
    assert_eq!(
        current["summary"]["total-data-files"],
        (2 * rounds).to_string()
    );
    assert_eq!(
        current["summary"]["total-records"],
        (10 * rounds).to_string()
    );
    // One partial manifest per partition, holding every file with the snapshots that added
    // them.
    let manifests: serde_json::Value = serde_json::from_str(
        metadata["properties"]["strata.manifests"]
            .as_str()
            .expect("property"),
    )
    .expect("json");
    let manifests = manifests.as_array().expect("list");
    assert_eq!(manifests.len(), 2);
    for m in manifests {
        assert_eq!(m["files"], rounds);
        assert_eq!(m["runs"].as_array().expect("runs").len(), rounds as usize);
    }
    // Expired snapshots' manifest lists, replaced manifests and metadata files are gone.
    let keys = f.keys_under(&prefix).await;
    let count = |p: &str, s: &str| {
        keys.iter()
            .filter(|k| k[prefix.len()..].starts_with(p) && k.ends_with(s))
            .count()
    };
    assert_eq!(count("snap-", ".avro"), iceberg::KEEP_SNAPSHOTS);
    assert_eq!(count("v", ".metadata.json"), iceberg::KEEP_SNAPSHOTS + 1);
    assert_eq!(
        count(&format!("{}-p", f.topic.id.0), ".avro"),
        2 * iceberg::KEEP_SNAPSHOTS,
        "each kept snapshot's two partition manifests: {keys:?}"
    );
    // Nothing new: no new snapshot.
    archiver.archive_topic("t").await.expect("archives");
    assert_eq!(
        text(format!("{prefix}version-hint.text")).await,
        rounds.to_string()
    );
}

#[tokio::test]
async fn a_background_turn_writes_a_few_files_per_partition_and_says_more_waits() {
    let mut f = Fixture::new(2, &[("archive.interval.ms", "1")]).await;
    // Six hours of records on both partitions: six files due on each.
    for h in 0..6 {
        f.ship(&[0, 1], h * 10, 10, T0 + h * 61 * MINUTE).await;
    }
    f.clock.advance(7 * 61 * MINUTE);
    let archiver = f.archiver(1);
    let cancel = CancellationToken::new();
    let files = |f: &Fixture| {
        let meta = f.meta.clone();
        async move {
            meta.partitions("t")
                .await
                .expect("topic")
                .iter()
                .map(|p| p.archive_files)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        archiver.archive_round(&cancel).await.expect("runs"),
        Tick::More
    );
    assert_eq!(
        files(&f).await,
        [FILES_PER_TURN, FILES_PER_TURN],
        "each partition has its turn before either finishes"
    );
    assert_eq!(
        archiver.archive_round(&cancel).await.expect("runs"),
        Tick::Idle
    );
    assert_eq!(files(&f).await, [6, 6]);
}
