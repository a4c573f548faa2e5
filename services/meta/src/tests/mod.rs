use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::conformance::object_commit;
use openraft::testing::{StoreBuilder, Suite};
use strata_core::clock::ManualClock;
use strata_core::ids::{FlushSeq, NodeId, Offset, PartitionId};
use strata_core::meta::{GroupOffset, MetaStore};
use tempfile::TempDir;

use crate::kv::Kv;
use crate::log_store::LogStore;
use crate::state_machine::StateMachine;
use crate::types::{StorageError, TypeConfig};
use crate::{MetaConfig, RaftMetaStore};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv = Kv::open(dir.path()).expect("opens");
        Ok((dir, LogStore::new(kv.clone()), StateMachine::open(kv)?))
    }
}

#[test]
fn log_and_state_machine_pass_openraft_storage_suite() {
    Suite::test_all(Builder).expect("openraft storage suite");
}

async fn open(dir: &Path, snapshot_logs: u64) -> RaftMetaStore {
    let mut config = MetaConfig::single(NodeId(1), dir.to_path_buf());
    config.snapshot_logs = snapshot_logs;
    RaftMetaStore::open(config, Arc::new(ManualClock::new(1000)))
        .await
        .expect("opens")
}

/// The conformance suite on a quorum of one, one test per scenario.
mod quorum_of_one {
    use super::*;

    crate::meta_conformance!(
        [#[tokio::test(flavor = "multi_thread", worker_threads = 2)]]
        async {
            let dir = tempfile::tempdir().expect("tempdir");
            (
                Arc::new(open(dir.path(), 10_000).await) as Arc<dyn MetaStore>,
                dir,
            )
        }
    );
}

async fn restart_keeps_every_topic_and_offset(snapshot_logs: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), snapshot_logs).await;
    let t = store
        .create_topic(
            "orders",
            2,
            BTreeMap::from([("retention.ms".to_string(), "5".to_string())]),
        )
        .await
        .expect("creates");
    for seq in 1..=20 {
        store
            .commit_object(object_commit(1, seq, &[(t.id, (seq % 2) as u32, seq)]))
            .await
            .expect("commits");
    }
    store
        .commit_group_offsets(
            "g",
            vec![GroupOffset {
                topic: "orders".into(),
                partition: PartitionId(1),
                offset: Offset(3),
            }],
        )
        .await
        .expect("commits");
    let partitions = store.partitions("orders").await.expect("reads");
    let extents = store
        .extents("orders", PartitionId(0), Offset(0), 100)
        .await
        .expect("reads");
    store.shutdown().await;
    drop(store);

    let store = open(dir.path(), snapshot_logs).await;
    assert_eq!(store.topic("orders").await.expect("kept"), t);
    assert_eq!(store.partitions("orders").await.expect("kept"), partitions);
    assert_eq!(
        store
            .extents("orders", PartitionId(0), Offset(0), 100)
            .await
            .expect("kept"),
        extents
    );
    assert_eq!(store.group_offsets("g").await.expect("kept").len(), 1);
    assert_eq!(
        store
            .ask(strata_core::meta::MetaQuery::LastFlushSeq {
                writer: strata_core::ids::Incarnation(1)
            })
            .await
            .expect("kept"),
        strata_core::meta::QueryResult::FlushSeq(Some(FlushSeq(20)))
    );
    // A commit retried after the restart is still recognised.
    let again = store
        .commit_object(object_commit(1, 20, &[(t.id, 0, 20)]))
        .await
        .expect("idempotent");
    assert_eq!(
        again.base_offsets,
        vec![Some(extents.extents.last().expect("some").base_offset)]
    );
    // And new commits continue the same offset space.
    let next = store
        .commit_object(object_commit(1, 21, &[(t.id, 0, 1)]))
        .await
        .expect("commits");
    assert_eq!(next.base_offsets, vec![Some(partitions[0].high_watermark)]);
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_replays_the_log() {
    restart_keeps_every_topic_and_offset(10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_loads_snapshot_and_replays_the_rest() {
    restart_keeps_every_topic_and_offset(5).await;
}

mod cluster;
