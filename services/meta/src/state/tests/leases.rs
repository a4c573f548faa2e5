use super::*;
use strata_core::keys::segment_key;
use strata_core::meta::SectionCommit;
use strata_core::meta::jobs::{
    ARCHIVE_JOB, ArchiveFile, ArchivePlan, COMPACT_JOB, ExtentRef, NewObject, ObjectStatus,
};

/// Creates topic `name` with two partitions and `config`.
fn create(s: &mut MetaState, name: &str, config: &[(&str, &str)]) -> TopicInfo {
    create_with(s, name, 2, config)
}

/// Commits flush `seq` of node 1 with `n` records for each of `partitions`.
fn commit(s: &mut MetaState, t: &TopicInfo, seq: u64, partitions: &[u32], n: u64) {
    let r = s.apply(&Command::CommitObject {
        commit: ObjectCommit {
            writer: Incarnation(1),
            by: None,
            requests: Vec::new(),
            keep_keys: Default::default(),
            seq: FlushSeq(seq),
            key: segment_key(Incarnation(1), FlushSeq(seq)),
            size: 100,
            sections: partitions
                .iter()
                .enumerate()
                .map(|(i, p)| SectionCommit {
                    topic_id: t.id,
                    partition: PartitionId(*p),
                    start: i as u64 * 10,
                    len: 10,
                    record_count: n,
                    min_timestamp: seq as i64,
                    max_timestamp: seq as i64,
                })
                .collect(),
        },
        now_ms: 10,
    });
    assert!(matches!(r, CommandResult::Committed(_)), "{r:?}");
}

fn lease(
    s: &mut MetaState,
    topic: &str,
    holder: u64,
    now_ms: i64,
) -> Result<LeaseToken, MetaError> {
    match s.apply(&Command::AcquireLease {
        job: COMPACT_JOB.to_string(),
        topic: topic.to_string(),
        partition: PartitionId(0),
        holder: Incarnation(holder),
        renew: None,
        ttl_ms: 1000,
        now_ms,
    }) {
        CommandResult::Lease(t) => Ok(t),
        CommandResult::Refused(e) => Err(e),
        other => panic!("unexpected {other:?}"),
    }
}

fn extents(s: &MetaState, topic: &str) -> Vec<Extent> {
    s.extents(topic, PartitionId(0), Offset(0), 1000)
        .expect("partition")
        .extents
}

/// A rewrite of every current extent of partition 0 into one merged extent.
fn merge_all(s: &MetaState, t: &TopicInfo, token: LeaseToken, key: &str) -> Command {
    let old = extents(s, &t.name);
    let first = old.first().expect("extents").base_offset;
    let last = old.last().expect("extents").last_offset;
    Command::Rewrite {
        rewrite: Rewrite {
            topic: t.name.clone(),
            topic_id: t.id,
            partition: PartitionId(0),
            lease: token,
            replaced: old.iter().map(ExtentRef::from).collect(),
            extents: vec![Extent {
                base_offset: first,
                last_offset: last,
                record_count: last.plus(1).since(first),
                object: key.to_string(),
                start: 0,
                len: 25,
                min_timestamp: 0,
                max_timestamp: 9,
            }],
            objects: vec![NewObject {
                key: key.to_string(),
                size: 40,
            }],
            cleaned_through: None,
        },
        now_ms: 20,
    }
}

/// Topic `orders` with three flushes of two records on partition 0, compaction-leased by holder 7.
fn three_flushes_under_lease() -> (MetaState, TopicInfo, LeaseToken) {
    let mut s = MetaState::default();
    let t = create(&mut s, "orders", &[]);
    for seq in 1..=3 {
        commit(&mut s, &t, seq, &[0], 2);
    }
    let token = lease(&mut s, "orders", 7, 15).expect("free");
    (s, t, token)
}

#[test]
fn a_rewrite_swaps_current_extents_and_frees_objects_no_longer_referenced() {
    let mut s = MetaState::default();
    let t = create(&mut s, "orders", &[]);
    commit(&mut s, &t, 1, &[0], 3);
    commit(&mut s, &t, 2, &[0, 1], 2);
    commit(&mut s, &t, 3, &[0], 4);
    let token = lease(&mut s, "orders", 7, 15).expect("free");
    let cmd = merge_all(&s, &t, token, "topics/orders/0/a.seg");
    assert_eq!(s.apply(&cmd), CommandResult::Done);
    let after = extents(&s, "orders");
    assert_eq!(after.len(), 1);
    assert_eq!(
        (after[0].base_offset, after[0].last_offset),
        (Offset(0), Offset(8))
    );
    let p = &s.partitions("orders").expect("topic")[0];
    assert_eq!(
        (p.extents, p.segments, p.bytes, p.segment_bytes),
        (1, 1, 25, 25)
    );
    assert_eq!(p.high_watermark, Offset(9));
    // Flush 2 still holds partition 1; flushes 1 and 3 are garbage since the swap.
    let garbage: Vec<String> = s.garbage(20, 10).into_iter().map(|g| g.key).collect();
    assert_eq!(
        garbage,
        vec![
            segment_key(Incarnation(1), FlushSeq(1)),
            segment_key(Incarnation(1), FlushSeq(3))
        ]
    );
    assert!(s.garbage(19, 10).is_empty(), "grace counts from the swap");
    // The same rewrite again names extents that are gone: a conflict, nothing changes.
    let before = s.clone();
    assert!(matches!(
        s.apply(&cmd),
        CommandResult::Refused(MetaError::Conflict { .. })
    ));
    assert_eq!(s, before);
    // Forgetting keeps what is still referenced.
    s.apply(&Command::ForgetObjects {
        keys: vec![
            segment_key(Incarnation(1), FlushSeq(1)),
            segment_key(Incarnation(1), FlushSeq(2)),
        ],
    });
    assert_eq!(
        s.object_status(&segment_key(Incarnation(1), FlushSeq(1))),
        ObjectStatus::Superseded
    );
    assert_eq!(
        s.object_status(&segment_key(Incarnation(1), FlushSeq(2))),
        ObjectStatus::Committed
    );
}

#[test]
fn a_rewrite_must_cover_a_consecutive_run_and_stay_inside_it() {
    let (mut s, t, token) = three_flushes_under_lease();
    let Command::Rewrite {
        mut rewrite,
        now_ms,
    } = merge_all(&s, &t, token, "topics/x.seg")
    else {
        unreachable!()
    };
    let before = s.clone();
    let mut gap = rewrite.clone();
    gap.replaced.remove(1);
    let mut outside = rewrite.clone();
    outside.extents[0].last_offset = Offset(6);
    let mut too_many = rewrite.clone();
    too_many.extents[0].record_count = 7;
    for bad in [gap, outside, too_many] {
        assert!(matches!(
            s.apply(&Command::Rewrite {
                rewrite: bad,
                now_ms
            }),
            CommandResult::Refused(_)
        ));
        assert_eq!(s, before);
    }
    // Compaction may keep fewer records than the span, and none at all.
    rewrite.extents[0].record_count = 2;
    assert_eq!(
        s.apply(&Command::Rewrite {
            rewrite: rewrite.clone(),
            now_ms
        }),
        CommandResult::Done
    );
    assert_eq!(extents(&s, "orders")[0].record_count, 2);
}

#[test]
fn one_holder_at_a_time_and_a_stale_holder_cannot_swap() {
    let mut s = MetaState::default();
    let t = create(&mut s, "orders", &[]);
    commit(&mut s, &t, 1, &[0], 2);
    commit(&mut s, &t, 2, &[0], 2);
    let first = lease(&mut s, "orders", 7, 100).expect("free");
    assert!(matches!(
        lease(&mut s, "orders", 8, 500),
        Err(MetaError::LeaseLost { .. })
    ));
    // Renewal keeps the epoch.
    let renewed = s.apply(&Command::AcquireLease {
        job: COMPACT_JOB.into(),
        topic: "orders".into(),
        partition: PartitionId(0),
        holder: Incarnation(7),
        renew: Some(first.epoch),
        ttl_ms: 1000,
        now_ms: 900,
    });
    assert_eq!(renewed, CommandResult::Lease(first));
    // Past expiry another holder gets a newer epoch and the old one is fenced off.
    let second = lease(&mut s, "orders", 8, 2000).expect("expired");
    assert!(second.epoch > first.epoch);
    let Command::Rewrite { rewrite, .. } = merge_all(&s, &t, first, "topics/y.seg") else {
        unreachable!()
    };
    assert!(matches!(
        s.apply(&Command::Rewrite {
            rewrite,
            now_ms: 2001
        }),
        CommandResult::Refused(MetaError::LeaseLost { .. })
    ));
    // An expired lease cannot swap either.
    let Command::Rewrite { rewrite, .. } = merge_all(&s, &t, second, "topics/y.seg") else {
        unreachable!()
    };
    assert!(matches!(
        s.apply(&Command::Rewrite {
            rewrite: rewrite.clone(),
            now_ms: 3001
        }),
        CommandResult::Refused(MetaError::LeaseLost { .. })
    ));
    s.apply(&Command::ReleaseLease {
        job: COMPACT_JOB.into(),
        topic: "orders".into(),
        partition: PartitionId(0),
        token: second,
    });
    assert_eq!(s.lease(COMPACT_JOB, "orders", PartitionId(0)), None);
}

#[test]
fn trimming_drops_whole_extents_and_waits_for_the_archive() {
    let (mut s, t, token) = three_flushes_under_lease();
    let trim = |log_start: i64| Command::TrimLog {
        topic: "orders".into(),
        topic_id: t.id,
        partition: PartitionId(0),
        lease: token,
        log_start: Offset(log_start),
        now_ms: 30,
    };
    assert!(matches!(s.apply(&trim(7)), CommandResult::Refused(_)));
    assert_eq!(s.apply(&trim(4)), CommandResult::Done);
    let p = &s.partitions("orders").expect("topic")[0];
    assert_eq!((p.log_start_offset, p.extents, p.bytes), (Offset(4), 1, 10));
    assert_eq!(s.garbage(30, 10).len(), 2);
    assert!(
        matches!(s.apply(&trim(3)), CommandResult::Refused(_)),
        "never lowers"
    );

    let a = create(&mut s, "archived", &[("archive", "true")]);
    commit(&mut s, &a, 4, &[0], 2);
    let token = lease(&mut s, "archived", 7, 15).expect("free");
    let refused = s.apply(&Command::TrimLog {
        topic: "archived".into(),
        topic_id: a.id,
        partition: PartitionId(0),
        lease: token,
        log_start: Offset(2),
        now_ms: 30,
    });
    assert!(
        matches!(refused, CommandResult::Refused(MetaError::Invalid { .. })),
        "{refused:?}"
    );
}

#[test]
fn a_condemned_orphan_can_never_be_committed_until_superseded() {
    let mut s = MetaState::default();
    let t = create(&mut s, "orders", &[]);
    commit(&mut s, &t, 1, &[0], 1);
    let orphan = segment_key(Incarnation(1), FlushSeq(2));
    assert_eq!(s.object_status(&orphan), ObjectStatus::Unknown);
    let r = s.apply(&Command::CondemnObjects {
        keys: vec![orphan.clone(), segment_key(Incarnation(1), FlushSeq(1))],
        now_ms: 50,
    });
    assert_eq!(
        r,
        CommandResult::Keys(vec![orphan.clone()]),
        "committed keys are never condemned"
    );
    assert_eq!(s.object_status(&orphan), ObjectStatus::Condemned);
    let late = Command::CommitObject {
        commit: ObjectCommit {
            writer: Incarnation(1),
            by: None,
            requests: Vec::new(),
            keep_keys: Default::default(),
            seq: FlushSeq(2),
            key: orphan.clone(),
            size: 1,
            sections: vec![],
        },
        now_ms: 60,
    };
    assert!(matches!(
        s.apply(&late),
        CommandResult::Refused(MetaError::Condemned { .. })
    ));
    // A later flush of the node makes the key unreachable anyway; the set forgets it.
    commit(&mut s, &t, 3, &[0], 1);
    assert_eq!(s.object_status(&orphan), ObjectStatus::Superseded);
    assert!(s.condemned.is_empty());
}

#[test]
fn deleting_a_topic_turns_its_objects_into_garbage_and_drops_its_leases() {
    let mut s = MetaState::default();
    let t = create(&mut s, "orders", &[]);
    commit(&mut s, &t, 1, &[0, 1], 1);
    lease(&mut s, "orders", 7, 15).expect("free");
    s.apply(&Command::DeleteTopic {
        name: "orders".into(),
        now_ms: 70,
    });
    assert_eq!(s.garbage(70, 10).len(), 1);
    assert!(s.leases.is_empty());
}

#[test]
fn references_are_recounted_for_states_that_had_none() {
    let mut s = MetaState::default();
    let t = create(&mut s, "orders", &[]);
    commit(&mut s, &t, 1, &[0, 1], 1);
    let mut old = s.clone();
    for o in old.objects.values_mut() {
        o.refs = 0;
        o.unreferenced_since = None;
    }
    old.refs_counted = false;
    old.count_refs();
    old.refs_counted = s.refs_counted;
    s.count_refs();
    assert_eq!(old.objects, s.objects);
    assert!(s.garbage(i64::MAX, 10).is_empty());
}

fn archive_lease(s: &mut MetaState, topic: &str, holder: u64, now_ms: i64) -> LeaseToken {
    match s.apply(&Command::AcquireLease {
        job: ARCHIVE_JOB.to_string(),
        topic: topic.to_string(),
        partition: PartitionId(0),
        holder: Incarnation(holder),
        renew: None,
        ttl_ms: 1000,
        now_ms,
    }) {
        CommandResult::Lease(t) => t,
        other => panic!("unexpected {other:?}"),
    }
}

fn archive_file(key: &str, first: i64, last: i64) -> ArchiveFile {
    ArchiveFile {
        key: key.to_string(),
        first_offset: Offset(first),
        last_offset: Offset(last),
        rows: (last - first + 1) as u64,
        bytes: 1000,
        raw_bytes: 2000,
        min_timestamp: 1,
        max_timestamp: 2,
        projection_misfits: 0,
    }
}

#[test]
fn archive_files_are_planned_then_committed_in_order_and_let_retention_pass() {
    let mut s = MetaState::default();
    let t = create(&mut s, "orders", &[("archive", "true")]);
    for seq in 1..=3 {
        commit(&mut s, &t, seq, &[0], 2);
    }
    let token = archive_lease(&mut s, "orders", 7, 15);
    let plan = |key: &str, first: i64, last: i64| Command::PlanArchive {
        topic: "orders".into(),
        topic_id: t.id,
        partition: PartitionId(0),
        lease: token,
        plan: ArchivePlan {
            key: key.to_string(),
            first_offset: Offset(first),
            last_offset: Offset(last),
        },
        now_ms: 20,
    };
    let commit_file = |f: ArchiveFile| Command::CommitArchive {
        topic: "orders".into(),
        topic_id: t.id,
        partition: PartitionId(0),
        lease: token,
        file: f,
        now_ms: 20,
    };
    for (bad, why) in [
        (plan("a", 1, 3), "must start at the next offset"),
        (plan("a", 0, 6), "must end below the high watermark"),
        (plan("a", 0, -1), "must not be empty"),
    ] {
        assert!(matches!(s.apply(&bad), CommandResult::Refused(_)), "{why}");
    }
    assert!(
        matches!(
            s.apply(&commit_file(archive_file("a", 0, 3))),
            CommandResult::Refused(MetaError::Conflict { .. })
        ),
        "a commit needs its plan"
    );
    assert_eq!(s.apply(&plan("a", 0, 3)), CommandResult::Done);
    assert_eq!(
        s.archive_files("orders", PartitionId(0), Offset(0), 10)
            .expect("partition")
            .pending
            .map(|p| p.key),
        Some("a".to_string())
    );
    // A restarted archiver may plan again (same or another file) before committing.
    assert_eq!(s.apply(&plan("b", 0, 3)), CommandResult::Done);
    assert!(matches!(
        s.apply(&commit_file(archive_file("a", 0, 3))),
        CommandResult::Refused(MetaError::Conflict { .. })
    ));
    assert_eq!(
        s.apply(&commit_file(archive_file("b", 0, 3))),
        CommandResult::Done
    );
    assert_eq!(
        s.apply(&commit_file(archive_file("b", 0, 3))),
        CommandResult::Done,
        "committing twice is harmless"
    );
    assert!(matches!(
        s.apply(&plan("c", 0, 5)),
        CommandResult::Refused(_)
    ));
    assert_eq!(s.apply(&plan("c", 4, 5)), CommandResult::Done);
    assert_eq!(
        s.apply(&commit_file(archive_file("c", 4, 5))),
        CommandResult::Done
    );

    let page = s
        .archive_files("orders", PartitionId(0), Offset(5), 10)
        .expect("partition");
    assert_eq!(page.files.len(), 1, "from the file holding offset 5");
    assert_eq!(page.files[0].key, "c");
    assert_eq!(
        (page.archived_through, page.pending),
        (Some(Offset(5)), None)
    );
    let p = &s.partitions("orders").expect("topic")[0];
    assert_eq!(
        (
            p.archived_through,
            p.archive_start_offset,
            p.archive_files,
            p.archive_bytes
        ),
        (Some(Offset(5)), Some(Offset(0)), 2, 2000)
    );

    // Retention may now pass every offset; the archive keeps them readable.
    let compact = lease(&mut s, "orders", 7, 15).expect("free");
    let trimmed = s.apply(&Command::TrimLog {
        topic: "orders".into(),
        topic_id: t.id,
        partition: PartitionId(0),
        lease: compact,
        log_start: Offset(6),
        now_ms: 30,
    });
    assert_eq!(trimmed, CommandResult::Done);
    let page = s
        .extents("orders", PartitionId(0), Offset(0), 10)
        .expect("p");
    assert_eq!(page.earliest_offset(), Offset(0));
    assert!(page.extents.is_empty());

    // The archive's files are objects of the topic: deleting it makes them garbage.
    assert!(s.garbage(100, 10).iter().all(|g| g.key != "b"));
    s.apply(&Command::DeleteTopic {
        name: "orders".into(),
        now_ms: 40,
    });
    let garbage: Vec<String> = s.garbage(100, 10).into_iter().map(|g| g.key).collect();
    assert!(garbage.contains(&"b".to_string()) && garbage.contains(&"c".to_string()));
}

#[test]
fn only_archived_topics_and_the_lease_holder_archive() {
    let mut s = MetaState::default();
    let t = create(&mut s, "plain", &[]);
    commit(&mut s, &t, 1, &[0], 2);
    let token = archive_lease(&mut s, "plain", 7, 15);
    let plan = |lease: LeaseToken, topic: &str, id: TopicId| Command::PlanArchive {
        topic: topic.into(),
        topic_id: id,
        partition: PartitionId(0),
        lease,
        plan: ArchivePlan {
            key: "k".into(),
            first_offset: Offset(0),
            last_offset: Offset(1),
        },
        now_ms: 20,
    };
    assert!(matches!(
        s.apply(&plan(token, "plain", t.id)),
        CommandResult::Refused(MetaError::Invalid { .. })
    ));
    let a = create(&mut s, "archived", &[("archive", "true")]);
    commit(&mut s, &a, 2, &[0], 2);
    let compact = lease(&mut s, "archived", 7, 15).expect("free");
    assert!(
        matches!(
            s.apply(&plan(compact, "archived", a.id)),
            CommandResult::Refused(MetaError::LeaseLost { .. })
        ),
        "the compactor's lease is not the archiver's"
    );
    let token = archive_lease(&mut s, "archived", 7, 15);
    assert_eq!(s.apply(&plan(token, "archived", a.id)), CommandResult::Done);
}

#[test]
fn projected_columns_of_an_archived_topic_can_only_be_appended() {
    let mut s = MetaState::default();
    let t = create(
        &mut s,
        "orders",
        &[("archive", "true"), ("archive.json.fields", "user:int64")],
    );
    let alter = |fields: &str| Command::UpdateTopicConfig {
        name: "orders".into(),
        changes: [("archive.json.fields".to_string(), fields.to_string())].into(),
    };
    // Before any archive file, the columns may change freely.
    assert!(s.check(&alter("user:string")).is_ok());
    commit(&mut s, &t, 1, &[0], 2);
    let token = archive_lease(&mut s, "orders", 7, 15);
    let plan = ArchivePlan {
        key: "a".into(),
        first_offset: Offset(0),
        last_offset: Offset(1),
    };
    assert_eq!(
        s.apply(&Command::PlanArchive {
            topic: "orders".into(),
            topic_id: t.id,
            partition: PartitionId(0),
            lease: token,
            plan,
            now_ms: 20,
        }),
        CommandResult::Done
    );
    for refused in [
        "user:string",
        "",
        "amount:double,user:int64",
        "amount:double",
    ] {
        let before = s.clone();
        match s.apply(&alter(refused)) {
            CommandResult::Refused(MetaError::InvalidConfig(e)) => {
                assert!(e.reason.contains("add new fields"), "{e}");
            }
            other => panic!("{refused:?}: unexpected {other:?}"),
        }
        assert_eq!(s, before, "a refused change changes nothing");
    }
    assert!(!matches!(
        s.apply(&alter("user:int64,amount:double")),
        CommandResult::Refused(_)
    ));
    let info = s.topic("orders").expect("exists");
    assert_eq!(info.config.archive_json_fields.len(), 2);
}
