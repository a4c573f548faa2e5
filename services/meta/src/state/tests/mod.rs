use super::*;
use strata_core::ids::NodeId;
use strata_core::meta::ObjectCommit;
use strata_core::meta::jobs::{LeaseToken, Rewrite};
use strata_core::meta::writers::{RegisterRequest, Registration};

fn create(state: &mut MetaState, name: &str, partitions: u32) -> TopicInfo {
    create_with(state, name, partitions, &[])
}

fn create_with(
    state: &mut MetaState,
    name: &str,
    partitions: u32,
    config: &[(&str, &str)],
) -> TopicInfo {
    match state.apply(&Command::CreateTopic {
        name: name.to_string(),
        partitions,
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        now_ms: 1,
    }) {
        CommandResult::Topic(t) => t,
        other => panic!("unexpected {other:?}"),
    }
}

/// Commits `sections` for writer `node`, flush `seq`, as the conformance suite builds them.
fn commit(node: u64, seq: u64, sections: &[(TopicId, u32, u64)]) -> Command {
    Command::CommitObject {
        commit: crate::conformance::object_commit(node, seq, sections),
        now_ms: 2,
    }
}

fn bases(r: CommandResult) -> Vec<Option<i64>> {
    match r {
        CommandResult::Committed(o) => o.base_offsets.iter().map(|b| b.map(|o| o.0)).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn commits_assign_dense_offsets_per_partition_in_commit_order() {
    let mut s = MetaState::default();
    let t = create(&mut s, "orders", 2);
    assert_eq!(
        bases(s.apply(&commit(1, 1, &[(t.id, 0, 3), (t.id, 1, 2)]))),
        vec![Some(0), Some(0)]
    );
    assert_eq!(
        bases(s.apply(&commit(2, 1, &[(t.id, 0, 4)]))),
        vec![Some(3)]
    );
    assert_eq!(
        bases(s.apply(&commit(1, 2, &[(t.id, 1, 1), (t.id, 0, 1)]))),
        vec![Some(2), Some(7)]
    );
    let p = s.partitions("orders").expect("exists");
    assert_eq!(p[0].high_watermark, Offset(8));
    assert_eq!(p[1].high_watermark, Offset(3));
    assert_eq!(p[0].extents, 3);
}

#[test]
fn a_retried_commit_gets_the_same_offsets_and_changes_nothing() {
    let mut s = MetaState::default();
    let t = create(&mut s, "orders", 1);
    let c = commit(1, 1, &[(t.id, 0, 3)]);
    let first = s.apply(&c);
    let snapshot = s.clone();
    assert_eq!(s.apply(&c), first);
    assert_eq!(s, snapshot);
}

#[test]
fn a_stale_flush_is_refused() {
    let mut s = MetaState::default();
    let t = create(&mut s, "orders", 1);
    s.apply(&commit(1, 5, &[(t.id, 0, 1)]));
    let before = s.clone();
    assert!(matches!(
        s.apply(&commit(1, 4, &[(t.id, 0, 1)])),
        CommandResult::Refused(MetaError::StaleFlush {
            seq: 4,
            last: 5,
            ..
        })
    ));
    assert_eq!(s, before);
}

#[test]
fn sections_of_a_deleted_or_recreated_topic_are_dropped() {
    let mut s = MetaState::default();
    let old = create(&mut s, "orders", 1);
    s.apply(&Command::DeleteTopic {
        name: "orders".into(),
        now_ms: 3,
    });
    let new = create(&mut s, "orders", 1);
    assert_ne!(old.id, new.id);
    assert_eq!(
        bases(s.apply(&commit(1, 1, &[(old.id, 0, 3), (new.id, 0, 2)]))),
        vec![None, Some(0)]
    );
    assert_eq!(
        s.partitions("orders").expect("exists")[0].high_watermark,
        Offset(2)
    );
}

#[test]
fn extent_lookup_finds_the_holder_or_the_next_extent() {
    let mut s = MetaState::default();
    let t = create(&mut s, "t", 1);
    s.apply(&commit(1, 1, &[(t.id, 0, 5)]));
    s.apply(&commit(1, 2, &[(t.id, 0, 5)]));
    let page = s
        .extents("t", PartitionId(0), Offset(7), 10)
        .expect("exists");
    assert_eq!(page.extents.len(), 1);
    assert_eq!(page.extents[0].base_offset, Offset(5));
    let page = s
        .extents("t", PartitionId(0), Offset(0), 1)
        .expect("exists");
    assert_eq!(page.extents[0].base_offset, Offset(0));
    assert_eq!(page.high_watermark, Offset(10));
    assert!(
        s.extents("t", PartitionId(0), Offset(10), 10)
            .expect("exists")
            .extents
            .is_empty()
    );
    let by_time = s
        .extents_from_timestamp("t", PartitionId(0), 16, 10)
        .expect("exists");
    assert_eq!(by_time.extents[0].base_offset, Offset(5));
}

#[test]
fn refused_commands_change_nothing() {
    let mut s = MetaState::default();
    create(&mut s, "t", 1);
    let before = s.clone();
    let refused = [
        Command::CreateTopic {
            name: "t".into(),
            partitions: 1,
            config: BTreeMap::new(),
            now_ms: 0,
        },
        Command::CreateTopic {
            name: "bad/name".into(),
            partitions: 1,
            config: BTreeMap::new(),
            now_ms: 0,
        },
        Command::CreateTopic {
            name: "z".into(),
            partitions: 0,
            config: BTreeMap::new(),
            now_ms: 0,
        },
        Command::CreateTopic {
            name: "z".into(),
            partitions: 1,
            config: [("retention.ms".to_string(), "x".to_string())].into(),
            now_ms: 0,
        },
        Command::DeleteTopic {
            name: "nope".into(),
            now_ms: 0,
        },
        Command::CommitGroupOffsets {
            group: "g".into(),
            offsets: vec![
                GroupOffset {
                    topic: "t".into(),
                    partition: PartitionId(0),
                    offset: Offset(1),
                },
                GroupOffset {
                    topic: "t".into(),
                    partition: PartitionId(9),
                    offset: Offset(1),
                },
            ],
        },
    ];
    for cmd in refused {
        assert!(
            matches!(s.apply(&cmd), CommandResult::Refused(_)),
            "{cmd:?}"
        );
        assert_eq!(s, before);
    }
}

#[test]
fn deleting_a_topic_removes_its_group_offsets() {
    let mut s = MetaState::default();
    create(&mut s, "t", 1);
    s.apply(&Command::CommitGroupOffsets {
        group: "g".into(),
        offsets: vec![GroupOffset {
            topic: "t".into(),
            partition: PartitionId(0),
            offset: Offset(0),
        }],
    });
    assert_eq!(s.group_offsets("g").expect("exists").len(), 1);
    s.apply(&Command::DeleteTopic {
        name: "t".into(),
        now_ms: 3,
    });
    assert!(matches!(
        s.group_offsets("g"),
        Err(MetaError::GroupNotFound { .. })
    ));
}

#[test]
fn state_survives_a_json_round_trip() {
    let mut s = MetaState::default();
    let t = create(&mut s, "t", 2);
    s.apply(&commit(1, 1, &[(t.id, 0, 5), (t.id, 1, 1)]));
    s.apply(&Command::CommitGroupOffsets {
        group: "g".into(),
        offsets: vec![GroupOffset {
            topic: "t".into(),
            partition: PartitionId(1),
            offset: Offset(1),
        }],
    });
    let json = serde_json::to_vec(&s).expect("serializes");
    let back: MetaState = serde_json::from_slice(&json).expect("deserializes");
    assert_eq!(back, s);
}

#[test]
fn usage_sums_objects_by_tier_and_reports_each_groups_lag() {
    let mut s = MetaState::default();
    let t = create(&mut s, "t", 2);
    s.apply(&commit(1, 1, &[(t.id, 0, 5), (t.id, 1, 3)]));
    s.apply(&commit(1, 2, &[(t.id, 0, 4)]));
    s.apply(&Command::CommitGroupOffsets {
        group: "g".into(),
        offsets: vec![
            GroupOffset {
                topic: "t".into(),
                partition: PartitionId(0),
                offset: Offset(2),
            },
            GroupOffset {
                topic: "t".into(),
                partition: PartitionId(1),
                offset: Offset(3),
            },
        ],
    });
    let u = s.usage();
    let flush = u
        .tiers
        .iter()
        .find(|t| t.tier == "flush")
        .expect("flush tier");
    assert_eq!((flush.objects, flush.bytes), (2, 2000));
    assert!(
        u.tiers
            .iter()
            .filter(|t| t.tier != "flush")
            .all(|t| t.objects == 0 && t.bytes == 0)
    );
    let lags: Vec<(u32, i64, i64, u64)> = u
        .lag
        .iter()
        .map(|l| (l.partition.0, l.committed.0, l.high_watermark.0, l.lag))
        .collect();
    assert_eq!(lags, vec![(0, 2, 9, 7), (1, 3, 3, 0)]);
    assert!(u.lag.iter().all(|l| l.group == "g" && l.topic == "t"));
}

mod commit;
mod consumers;
mod leases;
mod properties;
mod writers;
