//! Write-path tests against in-memory stores (the real-process tests live in `tests/`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use object_store::ObjectStore;
use strata_cache::{FetchOptions, ReadPath, StartAt};
use strata_core::clock::ManualClock;
use strata_core::ids::{Offset, PartitionId};
use strata_core::meta::{MetaError, MetaStore};
use strata_core::storage::{FaultyStore, Op, faulty_store};
use strata_meta::memory::InMemoryMetaStore;

use crate::parse::parse_json;
use crate::{Acks, IngestConfig, IngestError, Ingestor};

struct Node {
    ingest: Arc<Ingestor>,
    meta: Arc<InMemoryMetaStore>,
    store: Arc<FaultyStore>,
    dir: tempfile::TempDir,
}

fn config(dir: &std::path::Path) -> IngestConfig {
    let mut c = IngestConfig::new(dir.to_path_buf());
    c.flush_interval = Duration::from_millis(20);
    c.commit_timeout = Duration::from_secs(20);
    c
}

async fn node() -> Node {
    let meta = Arc::new(InMemoryMetaStore::new(Arc::new(ManualClock::new(5000))));
    meta.create_topic("t", 3, BTreeMap::new())
        .await
        .expect("creates");
    meta.create_topic(
        "compacted",
        1,
        BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]),
    )
    .await
    .expect("creates");
    let store = faulty_store();
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = Ingestor::open(
        config(dir.path()),
        meta.clone(),
        store.clone(),
        Arc::new(ManualClock::new(5000)),
    )
    .await
    .expect("starts");
    Node {
        ingest,
        meta,
        store,
        dir,
    }
}

impl Node {
    async fn restart(&mut self) {
        self.ingest.shutdown(Duration::from_secs(10)).await;
        self.ingest = Ingestor::open(
            config(self.dir.path()),
            self.meta.clone(),
            self.store.clone(),
            Arc::new(ManualClock::new(5000)),
        )
        .await
        .expect("restarts");
    }

    async fn read_all(&self, partition: u32) -> Vec<(i64, Option<Bytes>, Option<Bytes>)> {
        let cache = strata_cache::BlockCache::in_memory(self.store.clone()).await;
        let read = ReadPath::new(self.meta.clone(), cache, None);
        let mut opts = FetchOptions::from(StartAt::Offset(Offset(0)));
        opts.max_records = 100_000;
        read.fetch("t", PartitionId(partition), opts)
            .await
            .expect("fetches")
            .records
            .into_iter()
            .map(|r| (r.offset.0, r.record.key, r.record.value))
            .collect()
    }
}

fn body(records: &[(&str, &str)]) -> Vec<crate::parse::ProduceRecord> {
    let list: Vec<String> = records
        .iter()
        .map(|(k, v)| format!(r#"{{"key": "{k}", "value": "{v}"}}"#))
        .collect();
    parse_json(format!(r#"{{"records": [{}]}}"#, list.join(",")).as_bytes()).expect("parses")
}

/// Takes the bucket down and produces record `k`=`v1` with `acks=local`; returns its partition.
async fn one_local_record_while_the_bucket_is_down(n: &Node) -> u32 {
    n.store.hooks().set_down(true);
    let got = n
        .ingest
        .produce("t", body(&[("k", "v1")]), Acks::Local, None)
        .await
        .expect("produces");
    got[0].partition.0
}

#[tokio::test]
async fn acks_all_returns_dense_offsets_in_request_order_and_ships_one_object_per_flush() {
    let n = node().await;
    let got = n
        .ingest
        .produce(
            "t",
            body(&[("a", "1"), ("b", "2"), ("a", "3"), ("c", "4")]),
            Acks::All,
            None,
        )
        .await
        .expect("produces");
    let pa = got[0].partition;
    assert_eq!(got[2].partition, pa, "same key, same partition");
    assert!(
        got[2].offset > got[0].offset,
        "request order is kept within a partition"
    );
    let last_in_pa = got
        .iter()
        .filter(|o| o.partition == pa)
        .filter_map(|o| o.offset)
        .max();
    let second = n
        .ingest
        .produce("t", body(&[("a", "5")]), Acks::All, None)
        .await
        .expect("produces");
    assert_eq!(
        second[0].offset,
        last_in_pa.map(|o| o.plus(1)),
        "later request, later offset"
    );
    let partition = n.read_all(pa.0).await;
    let a_values: Vec<_> = partition
        .iter()
        .filter(|(_, k, _)| k.as_deref() == Some(&b"a"[..]))
        .map(|(_, _, v)| v.clone().expect("value"))
        .collect();
    assert_eq!(
        a_values,
        vec![Bytes::from("1"), Bytes::from("3"), Bytes::from("5")]
    );
    let offsets: Vec<i64> = partition.iter().map(|r| r.0).collect();
    assert_eq!(
        offsets,
        (0..partition.len() as i64).collect::<Vec<_>>(),
        "dense"
    );
    let objects = n.store.list(None).count().await;
    assert_eq!(objects as u64, n.store.hooks().count(|op| op == Op::Put));
    assert!(
        objects <= 2,
        "one object per flush, whatever the partition count: {objects}"
    );
}

#[tokio::test]
async fn invalid_requests_change_nothing() {
    let n = node().await;
    let cases: Vec<(&str, Vec<crate::parse::ProduceRecord>, u16)> = vec![
        ("nope", body(&[("a", "1")]), 404),
        ("t", Vec::new(), 400),
        (
            "t",
            parse_json(br#"{"records": [{"value": 1}, {"value": 2, "partition": 3}]}"#)
                .expect("parses"),
            404,
        ),
        (
            "compacted",
            parse_json(br#"{"records": [{"key": "k", "value": 1}, {"value": 2}]}"#)
                .expect("parses"),
            422,
        ),
        (
            "t",
            parse_json(
                format!(
                    r#"{{"records": [{{"value": "{}"}}]}}"#,
                    "x".repeat(1_100_000)
                )
                .as_bytes(),
            )
            .expect("parses"),
            413,
        ),
    ];
    for (topic, records, status) in cases {
        let err = n
            .ingest
            .produce(topic, records, Acks::All, None)
            .await
            .expect_err("refused");
        let api: strata_core::api::ApiError = err.into();
        assert_eq!(api.status, status, "{}", api.message);
    }
    assert!(n.ingest.flush(Duration::from_secs(5)).await);
    for p in 0..3 {
        assert!(n.read_all(p).await.is_empty());
    }
    assert_eq!(
        n.store.hooks().count(|op| op == Op::Put),
        0,
        "nothing was shipped"
    );
}

#[tokio::test]
async fn produce_each_refuses_records_alone_and_stores_the_rest() {
    let n = node().await;
    let records = parse_json(
        br#"{"records": [{"key": "k", "value": 1}, {"value": 2}, {"key": "k", "value": 3, "partition": 4}, {"key": "j", "value": 4}]}"#,
    )
    .expect("parses");
    let results = n
        .ingest
        .produce_each("compacted", None, records, Acks::All, None)
        .await
        .expect("answers per record");
    let offsets: Vec<Option<i64>> = results
        .iter()
        .map(|r| r.as_ref().ok().and_then(|o| o.offset.map(|o| o.0)))
        .collect();
    assert_eq!(offsets, [Some(0), None, None, Some(1)]);
    assert!(matches!(results[1], Err(IngestError::KeyRequired { .. })));
    assert!(matches!(
        results[2],
        Err(IngestError::Meta(MetaError::PartitionNotFound { .. }))
    ));
    let p = &n.meta.partitions("compacted").await.expect("exists")[0];
    assert_eq!(
        p.high_watermark,
        Offset(2),
        "the two good records are stored"
    );
    let e = n
        .ingest
        .produce_each("t", Some(3), body(&[("a", "1")]), Acks::All, None)
        .await
        .expect_err("the route's partition does not exist");
    assert!(matches!(
        e,
        IngestError::Meta(MetaError::PartitionNotFound { .. })
    ));
}

#[tokio::test]
async fn acks_local_records_survive_a_restart_before_their_flush() {
    let mut n = node().await;
    // The bucket is down: nothing can ship, but acks=local only needs the hot tier.
    n.store.hooks().set_down(true);
    let got = n
        .ingest
        .produce("t", body(&[("k", "v1"), ("k", "v2")]), Acks::Local, None)
        .await
        .expect("produces");
    assert!(got.iter().all(|o| o.offset.is_none()));
    let p = got[0].partition.0;
    // Stop without shipping (the bucket is still down), then bring the bucket back.
    n.ingest.shutdown(Duration::from_millis(300)).await;
    n.store.hooks().set_down(false);
    n.restart().await;
    assert!(n.ingest.flush(Duration::from_secs(10)).await);
    let records = n.read_all(p).await;
    let values: Vec<_> = records
        .iter()
        .map(|(_, _, v)| v.clone().expect("value"))
        .collect();
    assert_eq!(values, vec![Bytes::from("v1"), Bytes::from("v2")]);
    assert_eq!(records[0].0, 0);
}

// Found by the simulator (seed 67): a flush called while an earlier flush was sealed but not
// yet committed answered "committed" at once, because nothing was staged.
#[tokio::test]
async fn flush_waits_for_flushes_sealed_before_it_not_only_for_what_is_staged() {
    let n = node().await;
    let p = one_local_record_while_the_bucket_is_down(&n).await;
    // The first flush seals the record; it cannot ship while the bucket is down.
    assert!(!n.ingest.flush(Duration::from_millis(200)).await);
    // Nothing is staged now, and the sealed flush is still not committed.
    assert!(!n.ingest.flush(Duration::from_millis(200)).await);
    n.store.hooks().set_down(false);
    assert!(n.ingest.flush(Duration::from_secs(10)).await);
    assert_eq!(n.read_all(p).await.len(), 1);
}

#[tokio::test]
async fn a_flush_reshipped_after_restart_is_not_committed_twice() {
    let mut n = node().await;
    let first = n
        .ingest
        .produce("t", body(&[("k", "v1")]), Acks::All, None)
        .await
        .expect("produces");
    let p = first[0].partition.0;
    n.restart().await;
    n.restart().await;
    n.ingest
        .produce("t", body(&[("k", "v2")]), Acks::All, None)
        .await
        .expect("produces");
    let records = n.read_all(p).await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 1]);
}

#[tokio::test]
async fn an_object_store_outage_delays_acks_all_but_loses_nothing() {
    let n = node().await;
    n.store.hooks().set_down(true);
    let ingest = n.ingest.clone();
    let pending = tokio::spawn(async move {
        ingest
            .produce("t", body(&[("k", "during")]), Acks::All, None)
            .await
    });
    // Wait until the shipper has failed at least twice, then end the outage.
    while n.store.hooks().count(|op| op == Op::Put) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !pending.is_finished(),
        "not acknowledged while the bucket is down"
    );
    n.store.hooks().set_down(false);
    let got = pending
        .await
        .expect("joined")
        .expect("committed after the outage");
    assert_eq!(got[0].offset, Some(Offset(0)));
    assert!(n.ingest.stats().upload_retries.load(Ordering::SeqCst) >= 2);
    assert_eq!(n.read_all(got[0].partition.0).await.len(), 1);
}

#[tokio::test]
async fn a_full_staging_quota_is_refused_with_503_and_frees_up_after_commit() {
    let meta = Arc::new(InMemoryMetaStore::new(Arc::new(ManualClock::new(0))));
    meta.create_topic("t", 1, BTreeMap::new())
        .await
        .expect("creates");
    let store = faulty_store();
    store.hooks().set_down(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path());
    c.max_inflight_bytes = 4096;
    let ingest = Ingestor::open(c, meta, store.clone(), Arc::new(ManualClock::new(0)))
        .await
        .expect("starts");
    let big = |s: &str| {
        parse_json(format!(r#"{{"records": [{{"value_base64": "{s}"}}]}}"#).as_bytes())
            .expect("parses")
    };
    // Incompressible bytes, so the staged size is what we sent.
    let noise = |n: usize| -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    };
    use base64::Engine;
    let payload = base64::engine::general_purpose::STANDARD.encode(noise(3000));
    ingest
        .produce("t", big(&payload), Acks::None, None)
        .await
        .expect("fits");
    let err = ingest
        .produce("t", big(&payload), Acks::None, None)
        .await
        .expect_err("quota full");
    assert!(matches!(err, IngestError::Overloaded { .. }));
    let api: strata_core::api::ApiError = err.into();
    assert_eq!((api.status, api.retry_after_secs), (503, Some(1)));
    let too_big = base64::engine::general_purpose::STANDARD.encode(noise(6000));
    assert!(matches!(
        ingest.produce("t", big(&too_big), Acks::None, None).await,
        Err(IngestError::RequestTooLarge { .. })
    ));
    store.hooks().set_down(false);
    assert!(ingest.flush(Duration::from_secs(10)).await);
    ingest
        .produce("t", big(&payload), Acks::None, None)
        .await
        .expect("fits again after the commit");
}

#[tokio::test]
async fn a_restart_adopts_the_previous_incarnation_fences_it_and_ships_under_its_keys() {
    let mut n = node().await;
    let first = n.ingest.incarnation();
    let p = one_local_record_while_the_bucket_is_down(&n).await;
    n.ingest.shutdown(Duration::from_millis(300)).await;
    n.store.hooks().set_down(false);
    n.restart().await;
    let second = n.ingest.incarnation();
    assert_ne!(first, second, "every start is a new incarnation");
    assert!(n.ingest.flush(Duration::from_secs(10)).await);
    let records = n.read_all(p).await;
    assert_eq!(records.len(), 1);
    let keys: Vec<String> = n
        .store
        .list(None)
        .map(|m| m.expect("lists").location.to_string())
        .collect()
        .await;
    let old = format!("segments/{:020}/", first.0);
    assert!(
        keys.iter().any(|k| k.starts_with(&old)),
        "the sealed flush ships under the key its writer gave it: {keys:?}"
    );
    let nodes = n.meta.nodes().await.expect("lists");
    let old_record = nodes
        .iter()
        .find(|w| w.incarnation == first)
        .expect("known");
    assert_eq!(
        old_record.status,
        strata_core::meta::WriterStatus::Superseded { by: second }
    );
}

#[tokio::test]
async fn a_fenced_process_stops_writing_and_commits_nothing() {
    let n = node().await;
    n.ingest
        .produce("t", body(&[("k", "before")]), Acks::All, None)
        .await
        .expect("produces");
    // Another process takes over this one's identity (as a successor on its data directory).
    let takeover = strata_core::meta::writers::RegisterRequest {
        name: None,
        addr: "elsewhere:1".into(),
        roles: vec!["ingest".into()],
        adopt: vec![n.ingest.incarnation()],
        nonce: 99,
    };
    strata_core::meta::writers::register(n.meta.as_ref(), takeover, 6000)
        .await
        .expect("registers");
    let e = n
        .ingest
        .produce("t", body(&[("k", "zombie")]), Acks::All, None)
        .await
        .expect_err("a fenced process commits nothing");
    assert!(matches!(e, IngestError::Fenced(_)), "{e}");
    let e = n
        .ingest
        .produce("t", body(&[("k", "later")]), Acks::All, None)
        .await
        .expect_err("and takes nothing more");
    assert!(matches!(e, IngestError::Fenced(_)), "{e}");
    let mut values = Vec::new();
    for p in 0..3 {
        values.extend(n.read_all(p).await.into_iter().map(|(_, _, v)| v));
    }
    assert_eq!(values, vec![Some(Bytes::from("before"))]);
}

fn key(id: u128, fingerprint: u64) -> Option<strata_core::meta::idempotency::RequestKey> {
    Some(strata_core::meta::idempotency::RequestKey { id, fingerprint })
}

async fn all_values(n: &Node) -> Vec<Option<Bytes>> {
    let mut values = Vec::new();
    for p in 0..3 {
        values.extend(n.read_all(p).await.into_iter().map(|(_, _, v)| v));
    }
    values.sort();
    values
}

fn keyless(values: &[&str]) -> Vec<crate::parse::ProduceRecord> {
    let list: Vec<String> = values
        .iter()
        .map(|v| format!(r#"{{"value": "{v}"}}"#))
        .collect();
    parse_json(format!(r#"{{"records": [{}]}}"#, list.join(",")).as_bytes()).expect("parses")
}

#[tokio::test]
async fn a_request_sent_again_with_its_key_is_stored_once_and_answered_with_its_offsets() {
    let n = node().await;
    let first = n
        .ingest
        .produce("t", keyless(&["a", "b"]), Acks::All, key(7, 70))
        .await
        .expect("produces");
    n.ingest
        .produce("t", body(&[("x", "between")]), Acks::All, None)
        .await
        .expect("produces");
    let again = n
        .ingest
        .produce("t", keyless(&["a", "b"]), Acks::All, key(7, 70))
        .await
        .expect("a retry is answered");
    assert_eq!(
        again, first,
        "the same partition and offsets as the first copy"
    );
    let e = n
        .ingest
        .produce("t", keyless(&["other"]), Acks::All, key(7, 71))
        .await
        .expect_err("the key with another body");
    assert!(matches!(e, IngestError::IdempotencyConflict), "{e}");
    let local = n
        .ingest
        .produce("t", keyless(&["a", "b"]), Acks::Local, key(7, 70))
        .await
        .expect("acks=local retries are accepted too");
    assert!(local.iter().all(|o| o.offset.is_none()));
    assert!(n.ingest.flush(Duration::from_secs(10)).await);
    assert_eq!(
        all_values(&n).await,
        vec![
            Some(Bytes::from("a")),
            Some(Bytes::from("b")),
            Some(Bytes::from("between"))
        ],
        "stored once"
    );
}

#[tokio::test]
async fn copies_of_a_request_in_one_flush_are_stored_once() {
    let n = node().await;
    let (a, b, c) = tokio::join!(
        n.ingest
            .produce("t", keyless(&["one", "two"]), Acks::All, key(9, 90)),
        n.ingest
            .produce("t", keyless(&["one", "two"]), Acks::All, key(9, 90)),
        n.ingest
            .produce("t", body(&[("k", "other")]), Acks::All, None),
    );
    let (a, b) = (a.expect("first"), b.expect("second"));
    c.expect("other");
    assert_eq!(a, b);
    assert_eq!(
        all_values(&n).await,
        vec![
            Some(Bytes::from("one")),
            Some(Bytes::from("other")),
            Some(Bytes::from("two"))
        ]
    );
    // Offsets stay dense around the skipped copy.
    for p in 0..3 {
        let offsets: Vec<i64> = n.read_all(p).await.iter().map(|r| r.0).collect();
        assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_retry_of_a_request_staged_before_a_crash_is_stored_once() {
    let mut n = node().await;
    n.store.hooks().set_down(true);
    n.ingest
        .produce("t", keyless(&["staged"]), Acks::Local, key(3, 30))
        .await
        .expect("produces");
    n.ingest.shutdown(Duration::from_millis(300)).await;
    n.store.hooks().set_down(false);
    n.restart().await;
    // The client never heard back; it retries. The re-shipped copy and the retry meet at the
    // quorum, which keeps one.
    let retry = n
        .ingest
        .produce("t", keyless(&["staged"]), Acks::All, key(3, 30))
        .await
        .expect("answered");
    assert!(n.ingest.flush(Duration::from_secs(10)).await);
    assert_eq!(all_values(&n).await, vec![Some(Bytes::from("staged"))]);
    let p = retry[0].partition.0;
    let stored = n.read_all(p).await;
    assert_eq!(stored[0].0, retry[0].offset.expect("offset").0);
}
