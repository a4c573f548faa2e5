//! One test suite that every [`MetaStore`] implementation must pass.
//!
//! [`meta_conformance!`](crate::meta_conformance) emits one test per scenario for a store:
//! `meta_conformance!(#[tokio::test] async { (Arc::new(MyStore::new()) as Arc<dyn MetaStore>, ()) });`
//! (the second element is kept alive while the scenario runs: a cluster, a directory).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use strata_core::ids::{FlushSeq, Incarnation, NodeId, Offset, PartitionId, TopicId};
use strata_core::meta::jobs::{self, COMPACT_JOB, LeaseName};
use strata_core::meta::writers::{self, RegisterRequest};
use strata_core::meta::{
    GroupOffset, MetaError, MetaQuery, MetaStore, ObjectCommit, QueryResult, SectionCommit,
    TopicInfo,
};

/// Emits one test per conformance scenario. Give the test attribute in brackets,
/// then an async block that makes a fresh, empty store and anything to keep alive with it:
///
/// ```ignore
/// strata_meta::meta_conformance!([#[tokio::test]] async {
///     (Arc::new(InMemoryMetaStore::new(clock)) as Arc<dyn MetaStore>, ())
/// });
/// ```
#[macro_export]
macro_rules! meta_conformance {
    (@each $attrs:tt $make:expr; $($name:ident),*) => {
        $( $crate::meta_conformance!(@one $attrs $make; $name); )*
    };
    (@one [$($attr:tt)*] $make:expr; $name:ident) => {
        $($attr)*
        async fn $name() {
            let (store, _keep) = $make.await;
            $crate::conformance::$name(store).await;
        }
    };
    ($attrs:tt $make:expr) => {
        $crate::meta_conformance!(@each $attrs $make;
            topic_lifecycle,
            invalid_requests_are_refused,
            commits_are_dense_ordered_and_idempotent,
            extents_are_found_by_offset_and_timestamp,
            changes_tick_after_a_commit,
            group_offsets_round_trip,
            nodes_register_and_the_first_cluster_name_wins,
            leases_exclude_other_holders_until_released_or_expired,
            trims_raise_the_log_start_under_the_lease,
            rewrites_swap_current_extents_under_the_lease,
            archive_files_are_planned_then_committed_in_order,
            consumer_instances_share_a_groups_partitions,
            tokens_and_acls_are_stored_versioned_and_removed);
    };
}

pub async fn nodes_register_and_the_first_cluster_name_wins(store: Arc<dyn MetaStore>) {
    assert_eq!(store.init_cluster("first").await.expect("names"), "first");
    assert_eq!(store.init_cluster("second").await.expect("keeps"), "first");
    let request = |name: Option<u64>, adopt: Vec<Incarnation>, nonce: u64| RegisterRequest {
        name: name.map(NodeId),
        addr: format!("127.0.0.1:{nonce}"),
        roles: vec!["ingest".to_string()],
        adopt,
        nonce,
    };
    let a = writers::register(store.as_ref(), request(Some(4), vec![], 1), 10)
        .await
        .expect("registers");
    let retried = writers::register(store.as_ref(), request(Some(4), vec![], 1), 11)
        .await
        .expect("a retried registration");
    assert_eq!(
        retried.incarnation, a.incarnation,
        "a retry gets the same incarnation"
    );
    let b = writers::register(store.as_ref(), request(None, vec![], 2), 12)
        .await
        .expect("registers without a name");
    assert_ne!(a.incarnation, b.incarnation);
    match writers::register(store.as_ref(), request(Some(4), vec![], 3), 13).await {
        Err(MetaError::NameInUse {
            name,
            incarnation,
            addr,
            ..
        }) => {
            assert_eq!((name, incarnation), (4, a.incarnation.0));
            assert_eq!(addr, "127.0.0.1:1");
        }
        other => panic!("a live node id is refused: {other:?}"),
    }
    writers::heartbeat(store.as_ref(), a.incarnation, "127.0.0.1:1", 20)
        .await
        .expect("beats");
    let nodes = store.nodes().await.expect("lists");
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].incarnation, a.incarnation);
    assert_eq!(nodes[0].last_seen_ms, 20);
    assert_eq!(nodes[0].display_id(), 4);
    assert_eq!(nodes[1].display_id(), b.incarnation.0);

    // A successor on a's data directory fences a and inherits its flushes.
    let t = store
        .create_topic("w", 1, BTreeMap::new())
        .await
        .expect("creates");
    let commit = |writer: Incarnation, seq: u64, by: Incarnation| ObjectCommit {
        by: Some(by),
        requests: Vec::new(),
        keep_keys: Default::default(),
        ..object_commit(writer.0, seq, &[(t.id, 0, 1)])
    };
    store
        .commit_object(commit(a.incarnation, 1, a.incarnation))
        .await
        .expect("a commits its own flush");
    let c = writers::register(store.as_ref(), request(Some(4), vec![a.incarnation], 4), 21)
        .await
        .expect("a successor adopts a");
    assert_eq!(c.last_flush(a.incarnation), Some(FlushSeq(1)));
    assert!(matches!(
        store
            .commit_object(commit(a.incarnation, 2, a.incarnation))
            .await,
        Err(MetaError::Fenced { .. })
    ));
    assert!(matches!(
        store
            .commit_object(commit(a.incarnation, 2, b.incarnation))
            .await,
        Err(MetaError::Fenced { .. })
    ));
    store
        .commit_object(commit(a.incarnation, 2, c.incarnation))
        .await
        .expect("the successor re-ships a's flush");
    assert!(matches!(
        writers::heartbeat(store.as_ref(), a.incarnation, "127.0.0.1:1", 22).await,
        Err(MetaError::Fenced { .. })
    ));
    writers::retire(store.as_ref(), c.incarnation, 23)
        .await
        .expect("retires");
    assert!(matches!(
        store
            .commit_object(commit(c.incarnation, 1, c.incarnation))
            .await,
        Err(MetaError::Fenced { .. })
    ));
    writers::register(store.as_ref(), request(Some(4), vec![], 5), 24)
        .await
        .expect("a retired node id is free at once");
}

fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Builds a commit of `sections` = `(topic_id, partition, records)` for writer `writer`, flush
/// `seq`, sent without an incarnation (as before incarnations existed: no fence applies).
pub fn object_commit(writer: u64, seq: u64, sections: &[(TopicId, u32, u64)]) -> ObjectCommit {
    ObjectCommit {
        writer: Incarnation(writer),
        seq: FlushSeq(seq),
        by: None,
        requests: Vec::new(),
        keep_keys: Default::default(),
        key: strata_core::keys::segment_key(Incarnation(writer), FlushSeq(seq)),
        size: 1000,
        sections: sections
            .iter()
            .enumerate()
            .map(|(i, (topic_id, partition, n))| SectionCommit {
                topic_id: *topic_id,
                partition: PartitionId(*partition),
                start: i as u64 * 100,
                len: 100,
                record_count: *n,
                min_timestamp: seq as i64 * 10,
                max_timestamp: seq as i64 * 10 + 5,
            })
            .collect(),
    }
}

pub async fn topic_lifecycle(store: Arc<dyn MetaStore>) {
    let t = store
        .create_topic("orders", 3, config(&[("cleanup.policy", "compact")]))
        .await
        .expect("creates");
    assert_eq!(t.partitions, 3);
    assert!(t.config.cleanup_policy.compact);
    assert_eq!(store.topic("orders").await.expect("exists"), t);
    store
        .create_topic("alpha", 1, BTreeMap::new())
        .await
        .expect("creates");
    let names: Vec<String> = store
        .list_topics()
        .await
        .expect("lists")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["alpha", "orders"]);
    let updated = store
        .update_topic_config("orders", config(&[("retention.ms", "1000")]))
        .await
        .expect("updates");
    assert_eq!(updated.config.retention_ms, 1000);
    assert!(updated.config.cleanup_policy.compact, "other values kept");
    let parts = store.partitions("orders").await.expect("exists");
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| p.high_watermark == Offset(0)));
    store.delete_topic("orders").await.expect("deletes");
    assert!(matches!(
        store.topic("orders").await,
        Err(MetaError::TopicNotFound { .. })
    ));
    let again = store
        .create_topic("orders", 1, BTreeMap::new())
        .await
        .expect("recreates");
    assert_ne!(again.id, t.id, "a recreated topic is a new incarnation");
}

pub async fn invalid_requests_are_refused(store: Arc<dyn MetaStore>) {
    store
        .create_topic("t", 1, BTreeMap::new())
        .await
        .expect("creates");
    assert!(matches!(
        store.create_topic("t", 1, BTreeMap::new()).await,
        Err(MetaError::TopicExists { .. })
    ));
    assert!(matches!(
        store.create_topic("no spaces", 1, BTreeMap::new()).await,
        Err(MetaError::InvalidTopicName { .. })
    ));
    assert!(matches!(
        store.create_topic("u", 0, BTreeMap::new()).await,
        Err(MetaError::Invalid { .. })
    ));
    assert!(matches!(
        store
            .create_topic("u", 1, config(&[("retention.ms", "never")]))
            .await,
        Err(MetaError::InvalidConfig(_))
    ));
    assert!(matches!(
        store.topic("u").await,
        Err(MetaError::TopicNotFound { .. })
    ));
    assert!(matches!(
        store
            .update_topic_config("t", config(&[("bogus", "1")]))
            .await,
        Err(MetaError::InvalidConfig(_))
    ));
    assert!(matches!(
        store.delete_topic("u").await,
        Err(MetaError::TopicNotFound { .. })
    ));
    assert!(matches!(
        store.extents("t", PartitionId(1), Offset(0), 1).await,
        Err(MetaError::PartitionNotFound { .. })
    ));
}

pub async fn commits_are_dense_ordered_and_idempotent(store: Arc<dyn MetaStore>) {
    let t = store
        .create_topic("t", 2, BTreeMap::new())
        .await
        .expect("creates");
    let c1 = object_commit(1, 1, &[(t.id, 0, 3), (t.id, 1, 2)]);
    let first = store.commit_object(c1.clone()).await.expect("commits");
    assert_eq!(first.base_offsets, vec![Some(Offset(0)), Some(Offset(0))]);
    let other = store
        .commit_object(object_commit(2, 7, &[(t.id, 0, 4)]))
        .await
        .expect("commits");
    assert_eq!(other.base_offsets, vec![Some(Offset(3))]);
    assert_eq!(
        store.commit_object(c1).await.expect("retry"),
        first,
        "a retried commit gets the same offsets"
    );
    assert!(matches!(
        store
            .commit_object(object_commit(2, 6, &[(t.id, 0, 1)]))
            .await,
        Err(MetaError::StaleFlush { .. })
    ));
    let p = store.partitions("t").await.expect("exists");
    assert_eq!(p[0].high_watermark, Offset(7));
    assert_eq!(p[1].high_watermark, Offset(2));
    let last = |w: u64| {
        let store = store.clone();
        async move {
            match store
                .ask(MetaQuery::LastFlushSeq {
                    writer: Incarnation(w),
                })
                .await
                .expect("reads")
            {
                QueryResult::FlushSeq(s) => s,
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(last(2).await, Some(FlushSeq(7)));
    assert_eq!(last(3).await, None);
}

/// Creates the one-partition topic `t` with `config` and commits `flushes` objects of 10
/// records to it (writer 1, flushes 1 to `flushes`).
async fn topic_of_flushes(
    store: &dyn MetaStore,
    config: BTreeMap<String, String>,
    flushes: u64,
) -> TopicInfo {
    let t = store.create_topic("t", 1, config).await.expect("creates");
    for seq in 1..=flushes {
        store
            .commit_object(object_commit(1, seq, &[(t.id, 0, 10)]))
            .await
            .expect("commits");
    }
    t
}

pub async fn extents_are_found_by_offset_and_timestamp(store: Arc<dyn MetaStore>) {
    topic_of_flushes(store.as_ref(), BTreeMap::new(), 3).await;
    let page = store
        .extents("t", PartitionId(0), Offset(15), 10)
        .await
        .expect("reads");
    assert_eq!(page.high_watermark, Offset(30));
    assert_eq!(page.log_start_offset, Offset(0));
    let bases: Vec<i64> = page.extents.iter().map(|e| e.base_offset.0).collect();
    assert_eq!(bases, vec![10, 20]);
    assert_eq!(page.extents[0].last_offset, Offset(19));
    assert_eq!(
        page.extents[0].object,
        strata_core::keys::segment_key(Incarnation(1), FlushSeq(2))
    );
    let by_time = store
        .extents_from_timestamp("t", PartitionId(0), 26, 1)
        .await
        .expect("reads");
    assert_eq!(by_time.extents[0].base_offset, Offset(20));
    let past = store
        .extents_from_timestamp("t", PartitionId(0), 1000, 1)
        .await
        .expect("reads");
    assert!(past.extents.is_empty());
}

pub async fn changes_tick_after_a_commit(store: Arc<dyn MetaStore>) {
    let t = store
        .create_topic("t", 1, BTreeMap::new())
        .await
        .expect("creates");
    let mut rx = store.changes();
    rx.borrow_and_update();
    store
        .commit_object(object_commit(1, 1, &[(t.id, 0, 1)]))
        .await
        .expect("commits");
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .expect("ticks")
        .expect("open");
}

pub async fn group_offsets_round_trip(store: Arc<dyn MetaStore>) {
    store
        .create_topic("t", 2, BTreeMap::new())
        .await
        .expect("creates");
    assert!(matches!(
        store.group_offsets("g").await,
        Err(MetaError::GroupNotFound { .. })
    ));
    let offsets = vec![
        GroupOffset {
            topic: "t".into(),
            partition: PartitionId(0),
            offset: Offset(4),
        },
        GroupOffset {
            topic: "t".into(),
            partition: PartitionId(1),
            offset: Offset(2),
        },
    ];
    store
        .commit_group_offsets("g", offsets.clone())
        .await
        .expect("commits");
    assert_eq!(store.group_offsets("g").await.expect("reads"), offsets);
    assert!(matches!(
        store
            .commit_group_offsets(
                "g",
                vec![GroupOffset {
                    topic: "t".into(),
                    partition: PartitionId(5),
                    offset: Offset(0)
                }]
            )
            .await,
        Err(MetaError::PartitionNotFound { .. })
    ));
    assert_eq!(
        store.group_offsets("g").await.expect("reads"),
        offsets,
        "a refused commit changes nothing"
    );
}

mod access;
mod consumers;
mod leases;
pub use access::*;
pub use consumers::*;
pub use leases::*;
