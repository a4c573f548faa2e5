use super::*;
use strata_core::meta::SectionCommit;
use strata_core::meta::consumer::{
    Assignor, ConsumerOp, ConsumerView, EmbeddedFormat, InstanceConfig, OffsetReset, PositionMove,
    SeekTo, Subscription, TopicPartition,
};

const TIMEOUT: i64 = 10_000;

fn config(reset: OffsetReset, auto_commit: bool) -> InstanceConfig {
    InstanceConfig {
        format: EmbeddedFormat::Binary,
        auto_offset_reset: reset,
        auto_commit,
        fetch_min_bytes: None,
        request_timeout_ms: None,
        assignor: Assignor::Range,
        timeout_ms: TIMEOUT,
    }
}

/// Creates an instance with [`config`].
fn create(reset: OffsetReset, auto_commit: bool) -> ConsumerOp {
    ConsumerOp::Create {
        config: config(reset, auto_commit),
    }
}

fn topic(s: &mut MetaState, name: &str, partitions: u32, records_each: u64) {
    let t = super::create(s, name, partitions);
    if records_each == 0 {
        return;
    }
    let r = s.apply(&Command::CommitObject {
        commit: ObjectCommit {
            writer: Incarnation(9),
            by: None,
            requests: Vec::new(),
            keep_keys: Default::default(),
            seq: FlushSeq(t.id.0),
            key: format!("obj-{name}"),
            size: 100,
            sections: (0..partitions)
                .map(|p| SectionCommit {
                    topic_id: t.id,
                    partition: PartitionId(p),
                    start: 0,
                    len: 10,
                    record_count: records_each,
                    min_timestamp: 1,
                    max_timestamp: 1,
                })
                .collect(),
        },
        now_ms: 1,
    });
    assert!(matches!(r, CommandResult::Committed(_)), "{r:?}");
}

fn op(
    s: &mut MetaState,
    instance: &str,
    op: ConsumerOp,
    now_ms: i64,
) -> Result<ConsumerView, MetaError> {
    s.apply(&Command::Consumer {
        group: "g".to_string(),
        instance: instance.to_string(),
        op,
        now_ms,
    })
    .into_result()
    .map(|r| match r {
        CommandResult::Consumer(v) => v,
        other => panic!("unexpected {other:?}"),
    })
}

fn ok(s: &mut MetaState, instance: &str, o: ConsumerOp, now_ms: i64) -> ConsumerView {
    match op(s, instance, o, now_ms) {
        Ok(v) => v,
        Err(e) => panic!("{instance}: {e}"),
    }
}

fn subscribe(topics: &[&str]) -> ConsumerOp {
    ConsumerOp::Subscribe {
        subscription: Subscription::Topics(topics.iter().map(|t| t.to_string()).collect()),
    }
}

fn positions(v: &ConsumerView) -> Vec<(String, Option<i64>)> {
    v.partitions
        .iter()
        .map(|o| (o.tp.to_string(), o.position.map(|p| p.0)))
        .collect()
}

fn tp(t: &str, p: u32) -> TopicPartition {
    TopicPartition::new(t, p)
}

#[test]
fn names_are_unique_per_group_and_unknown_instances_are_refused() {
    let mut s = MetaState::default();
    ok(&mut s, "a", create(OffsetReset::Earliest, false), 1);
    assert!(matches!(
        op(&mut s, "a", create(OffsetReset::Earliest, false), 2),
        Err(MetaError::ConsumerExists { .. })
    ));
    assert!(matches!(
        op(&mut s, "b", ConsumerOp::Touch, 2),
        Err(MetaError::ConsumerNotFound { .. })
    ));
    ok(&mut s, "a", ConsumerOp::Delete, 3);
    assert!(matches!(
        op(&mut s, "a", ConsumerOp::Poll, 4),
        Err(MetaError::ConsumerNotFound { .. })
    ));
    assert!(s.consumers.is_empty(), "an empty group is dropped");
}

#[test]
fn a_joining_instance_takes_half_the_partitions_and_continues_from_auto_committed_positions() {
    let mut s = MetaState::default();
    topic(&mut s, "t", 4, 10);
    ok(&mut s, "a", create(OffsetReset::Earliest, true), 1);
    ok(&mut s, "a", subscribe(&["t"]), 1);
    let v = ok(&mut s, "a", ConsumerOp::Poll, 2);
    assert_eq!(
        positions(&v),
        [
            ("t-0", Some(0)),
            ("t-1", Some(0)),
            ("t-2", Some(0)),
            ("t-3", Some(0))
        ]
        .map(|(t, p)| (t.to_string(), p))
    );
    // `a` read 6 records of each partition.
    let moves = (0..4)
        .map(|p| PositionMove {
            tp: tp("t", p),
            from: Offset(0),
            to: Offset(6),
        })
        .collect();
    let v = ok(&mut s, "a", ConsumerOp::Advance { moves }, 3);
    assert_eq!(v.moved.len(), 4);

    ok(&mut s, "b", create(OffsetReset::Earliest, true), 4);
    ok(&mut s, "b", subscribe(&["t"]), 4);
    let a = ok(&mut s, "a", ConsumerOp::Poll, 5);
    let b = ok(&mut s, "b", ConsumerOp::Poll, 5);
    assert_eq!(
        positions(&a),
        [("t-0".to_string(), Some(6)), ("t-1".to_string(), Some(6))]
    );
    // The partitions taken from `a` were committed at its positions; `b` starts there.
    assert_eq!(
        positions(&b),
        [("t-2".to_string(), Some(6)), ("t-3".to_string(), Some(6))]
    );
}

#[test]
fn without_auto_commit_a_taken_partition_restarts_at_the_committed_offset() {
    let mut s = MetaState::default();
    topic(&mut s, "t", 2, 10);
    ok(&mut s, "a", create(OffsetReset::Earliest, false), 1);
    ok(&mut s, "a", subscribe(&["t"]), 1);
    ok(&mut s, "a", ConsumerOp::Poll, 1);
    let moves = vec![
        PositionMove {
            tp: tp("t", 0),
            from: Offset(0),
            to: Offset(4),
        },
        PositionMove {
            tp: tp("t", 1),
            from: Offset(0),
            to: Offset(5),
        },
    ];
    ok(&mut s, "a", ConsumerOp::Advance { moves }, 2);
    // Commit only partition 1's offset, by hand.
    let c = ok(
        &mut s,
        "a",
        ConsumerOp::Commit {
            offsets: Some(vec![GroupOffset {
                topic: "t".into(),
                partition: PartitionId(1),
                offset: Offset(3),
            }]),
        },
        3,
    );
    assert_eq!(c.committed.len(), 1);
    ok(&mut s, "b", create(OffsetReset::Earliest, false), 4);
    ok(&mut s, "b", subscribe(&["t"]), 4);
    let b = ok(&mut s, "b", ConsumerOp::Poll, 5);
    assert_eq!(positions(&b), [("t-1".to_string(), Some(3))]);
    let a = ok(&mut s, "a", ConsumerOp::Poll, 5);
    assert_eq!(positions(&a), [("t-0".to_string(), Some(4))]);
}

#[test]
fn a_silent_instance_times_out_and_its_partitions_move_to_the_others() {
    let mut s = MetaState::default();
    topic(&mut s, "t", 3, 1);
    for name in ["a", "b"] {
        ok(&mut s, name, create(OffsetReset::Earliest, false), 1);
        ok(&mut s, name, subscribe(&["t"]), 1);
    }
    assert_eq!(ok(&mut s, "b", ConsumerOp::Poll, 2).partitions.len(), 1);
    // `b` keeps polling; `a` is silent past its timeout.
    assert_eq!(
        ok(&mut s, "b", ConsumerOp::Poll, 1 + TIMEOUT)
            .partitions
            .len(),
        1
    );
    let b = ok(&mut s, "b", ConsumerOp::Poll, 2 + TIMEOUT);
    assert_eq!(b.partitions.len(), 3);
    assert!(matches!(
        op(&mut s, "a", ConsumerOp::Touch, 3 + TIMEOUT),
        Err(MetaError::ConsumerNotFound { .. })
    ));
}

#[test]
fn subscription_and_manual_assignment_are_mutually_exclusive() {
    let mut s = MetaState::default();
    topic(&mut s, "t", 2, 0);
    ok(&mut s, "a", create(OffsetReset::Latest, false), 1);
    ok(&mut s, "a", subscribe(&["t"]), 1);
    let assign = |ps: Vec<TopicPartition>| ConsumerOp::Assign { partitions: ps };
    assert!(matches!(
        op(&mut s, "a", assign(vec![tp("t", 0)]), 2),
        Err(MetaError::ConsumerState { .. })
    ));
    ok(&mut s, "a", ConsumerOp::Unsubscribe, 3);
    assert!(matches!(
        op(&mut s, "a", assign(vec![tp("t", 7)]), 4),
        Err(MetaError::PartitionNotFound { .. })
    ));
    assert!(matches!(
        op(&mut s, "a", assign(vec![tp("nope", 0)]), 4),
        Err(MetaError::TopicNotFound { .. })
    ));
    let v = ok(&mut s, "a", assign(vec![tp("t", 1)]), 5);
    assert!(v.manual);
    assert_eq!(positions(&v), [("t-1".to_string(), None)]);
    assert!(matches!(
        op(&mut s, "a", subscribe(&["t"]), 6),
        Err(MetaError::ConsumerState { .. })
    ));
    // A manual assignment is outside the group: another subscriber gets both partitions.
    ok(&mut s, "b", create(OffsetReset::Latest, false), 7);
    ok(&mut s, "b", subscribe(&["t"]), 7);
    assert_eq!(ok(&mut s, "b", ConsumerOp::Poll, 8).partitions.len(), 2);
}

#[test]
fn advances_move_only_positions_still_where_the_fetch_started() {
    let mut s = MetaState::default();
    topic(&mut s, "t", 1, 10);
    ok(&mut s, "a", create(OffsetReset::Earliest, false), 1);
    ok(&mut s, "a", subscribe(&["t"]), 1);
    ok(&mut s, "a", ConsumerOp::Poll, 1);
    let advance = |from, to| ConsumerOp::Advance {
        moves: vec![PositionMove {
            tp: tp("t", 0),
            from: Offset(from),
            to: Offset(to),
        }],
    };
    assert_eq!(ok(&mut s, "a", advance(0, 4), 2).moved.len(), 1);
    // A concurrent fetch that also started at 0 must not move it again.
    let v = ok(&mut s, "a", advance(0, 3), 2);
    assert!(v.moved.is_empty());
    assert_eq!(positions(&v), [("t-0".to_string(), Some(4))]);
}

#[test]
fn seeks_resets_and_commits() {
    let mut s = MetaState::default();
    topic(&mut s, "t", 2, 10);
    ok(&mut s, "a", create(OffsetReset::Latest, false), 1);
    ok(&mut s, "a", subscribe(&["t"]), 1);
    let v = ok(&mut s, "a", ConsumerOp::Poll, 1);
    assert_eq!(
        positions(&v),
        [("t-0".to_string(), Some(10)), ("t-1".to_string(), Some(10))]
    );
    let seek = ok(
        &mut s,
        "a",
        ConsumerOp::Seek {
            positions: vec![
                (tp("t", 0), SeekTo::Beginning),
                (tp("t", 1), SeekTo::Offset(Offset(7))),
            ],
        },
        2,
    );
    assert_eq!(
        positions(&seek),
        [("t-0".to_string(), Some(0)), ("t-1".to_string(), Some(7))]
    );
    assert!(matches!(
        op(
            &mut s,
            "a",
            ConsumerOp::Seek {
                positions: vec![(tp("t", 5), SeekTo::End)]
            },
            3
        ),
        Err(MetaError::ConsumerState { .. })
    ));
    let c = ok(&mut s, "a", ConsumerOp::Commit { offsets: None }, 4);
    let committed: Vec<(u32, i64)> = c
        .committed
        .iter()
        .map(|o| (o.partition.0, o.offset.0))
        .collect();
    assert_eq!(committed, [(0, 0), (1, 7)]);
    // `none` leaves a partition without a committed offset unresolved.
    ok(&mut s, "n", create(OffsetReset::None, false), 5);
    ok(
        &mut s,
        "n",
        ConsumerOp::Assign {
            partitions: vec![tp("t", 0)],
        },
        5,
    );
    let n = ok(&mut s, "n", ConsumerOp::Poll, 5);
    assert_eq!(
        positions(&n),
        [("t-0".to_string(), Some(0))],
        "committed offset wins"
    );
    s.groups.clear();
    ok(
        &mut s,
        "n",
        ConsumerOp::Assign {
            partitions: vec![tp("t", 1)],
        },
        6,
    );
    let n = ok(&mut s, "n", ConsumerOp::Poll, 6);
    assert_eq!(positions(&n), [("t-1".to_string(), None)]);
}

#[test]
fn a_pattern_subscription_picks_up_topics_created_later() {
    let mut s = MetaState::default();
    topic(&mut s, "orders-eu", 1, 0);
    topic(&mut s, "audit", 1, 0);
    ok(&mut s, "a", create(OffsetReset::Earliest, false), 1);
    ok(
        &mut s,
        "a",
        ConsumerOp::Subscribe {
            subscription: Subscription::Pattern("orders-.*".into()),
        },
        1,
    );
    assert_eq!(ok(&mut s, "a", ConsumerOp::Poll, 2).partitions.len(), 1);
    topic(&mut s, "orders-us", 2, 0);
    let v = ok(&mut s, "a", ConsumerOp::Poll, 3);
    let names: Vec<String> = v.partitions.iter().map(|o| o.tp.to_string()).collect();
    assert_eq!(names, ["orders-eu-0", "orders-us-0", "orders-us-1"]);
    assert!(matches!(
        op(
            &mut s,
            "a",
            ConsumerOp::Subscribe {
                subscription: Subscription::Pattern("(".into())
            },
            4
        ),
        Err(MetaError::Invalid { .. })
    ));
    assert!(matches!(
        op(&mut s, "a", subscribe(&["audit"]), 4),
        Err(MetaError::ConsumerSubscribed { .. })
    ));
    // Deleting a topic drops its partitions at the next command.
    s.apply(&Command::DeleteTopic {
        name: "orders-us".into(),
        now_ms: 5,
    });
    assert_eq!(ok(&mut s, "a", ConsumerOp::Touch, 6).partitions.len(), 1);
}
