//! Scenarios of the REST Proxy v2 consumer instances: one command, many operations.

use super::*;
use strata_core::meta::consumer::{
    Assignor, ConsumerOp, ConsumerView, EmbeddedFormat, InstanceConfig, OffsetReset, PositionMove,
    Subscription, TopicPartition, operate,
};

async fn consumer(
    store: &dyn MetaStore,
    instance: &str,
    op: ConsumerOp,
    now_ms: i64,
) -> Result<ConsumerView, MetaError> {
    operate(store, "g", instance, op, now_ms).await
}

fn owned(v: &ConsumerView) -> Vec<(String, Option<i64>)> {
    v.partitions
        .iter()
        .map(|o| (o.tp.to_string(), o.position.map(|p| p.0)))
        .collect()
}

/// Instances of a group share its partitions: a joining one takes its share and starts at the
/// positions the group committed; names are unique; a deleted instance's partitions return.
pub async fn consumer_instances_share_a_groups_partitions(store: Arc<dyn MetaStore>) {
    let t = store
        .create_topic("t", 2, BTreeMap::new())
        .await
        .expect("creates");
    store
        .commit_object(object_commit(1, 1, &[(t.id, 0, 10), (t.id, 1, 10)]))
        .await
        .expect("commits");
    let create = || ConsumerOp::Create {
        config: InstanceConfig {
            format: EmbeddedFormat::Binary,
            auto_offset_reset: OffsetReset::Earliest,
            auto_commit: true,
            fetch_min_bytes: None,
            request_timeout_ms: None,
            assignor: Assignor::Range,
            timeout_ms: 60_000,
        },
    };
    let subscribe = || ConsumerOp::Subscribe {
        subscription: Subscription::Topics(vec!["t".into()]),
    };
    let s = store.as_ref();
    consumer(s, "a", create(), 1).await.expect("creates");
    assert!(
        matches!(
            consumer(s, "a", create(), 2).await,
            Err(MetaError::ConsumerExists { .. })
        ),
        "names are unique in a group"
    );
    assert!(matches!(
        consumer(s, "nobody", ConsumerOp::Poll, 2).await,
        Err(MetaError::ConsumerNotFound { .. })
    ));
    consumer(s, "a", subscribe(), 3).await.expect("subscribes");
    let a = consumer(s, "a", ConsumerOp::Poll, 4).await.expect("polls");
    assert_eq!(
        owned(&a),
        [("t-0".to_string(), Some(0)), ("t-1".to_string(), Some(0))]
    );
    let moves = (0..2)
        .map(|p| PositionMove {
            tp: TopicPartition::new("t", p),
            from: Offset(0),
            to: Offset(4),
        })
        .collect();
    consumer(s, "a", ConsumerOp::Advance { moves }, 5)
        .await
        .expect("advances");
    consumer(s, "b", create(), 6).await.expect("creates");
    consumer(s, "b", subscribe(), 6).await.expect("subscribes");
    let a = consumer(s, "a", ConsumerOp::Poll, 7).await.expect("polls");
    let b = consumer(s, "b", ConsumerOp::Poll, 7).await.expect("polls");
    assert_eq!(owned(&a), [("t-0".to_string(), Some(4))]);
    assert_eq!(
        owned(&b),
        [("t-1".to_string(), Some(4))],
        "the partition taken from a starts at a's auto-committed position"
    );
    let committed = store.group_offsets("g").await.expect("reads");
    assert!(
        committed
            .iter()
            .any(|o| o.partition == PartitionId(1) && o.offset == Offset(4)),
        "{committed:?}"
    );
    consumer(s, "a", ConsumerOp::Delete, 8)
        .await
        .expect("deletes");
    let b = consumer(s, "b", ConsumerOp::Poll, 9).await.expect("polls");
    assert_eq!(
        owned(&b),
        [("t-0".to_string(), Some(4)), ("t-1".to_string(), Some(4))]
    );
}
