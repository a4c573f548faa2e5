use super::*;
use strata_core::meta::writers::{EXPIRE_MS, LIVE_MS, WriterStatus};

fn register(
    s: &mut MetaState,
    name: Option<u64>,
    adopt: &[u64],
    nonce: u64,
    now_ms: i64,
) -> CommandResult {
    s.apply(&Command::RegisterWriter {
        request: RegisterRequest {
            name: name.map(NodeId),
            addr: format!("127.0.0.1:{nonce}"),
            roles: vec!["ingest".into()],
            adopt: adopt.iter().copied().map(Incarnation).collect(),
            nonce,
        },
        now_ms,
    })
}

fn incarnation(r: CommandResult) -> Registration {
    match r {
        CommandResult::Registered(r) => r,
        other => panic!("not registered: {other:?}"),
    }
}

fn commit(s: &mut MetaState, writer: Incarnation, seq: u64, by: Incarnation) -> CommandResult {
    s.apply(&Command::CommitObject {
        commit: ObjectCommit {
            writer,
            seq: FlushSeq(seq),
            by: Some(by),
            requests: Vec::new(),
            keep_keys: Default::default(),
            key: strata_core::keys::segment_key(writer, FlushSeq(seq)),
            size: 1,
            sections: Vec::new(),
        },
        now_ms: 0,
    })
}

#[test]
fn incarnations_start_above_every_writer_that_committed_before_they_existed() {
    let mut s = MetaState::default();
    s.node_seqs.insert(Incarnation(11), FlushSeq(40));
    let a = incarnation(register(&mut s, None, &[], 1, 0));
    assert_eq!(a.incarnation, Incarnation(12));
    let b = incarnation(register(&mut s, None, &[11], 2, 0));
    assert_eq!(b.incarnation, Incarnation(13));
    assert_eq!(b.last_flush(Incarnation(11)), Some(FlushSeq(40)));
    // A pre-incarnation writer, adopted: its flushes go on under its old key space.
    assert!(matches!(
        commit(&mut s, Incarnation(11), 40, b.incarnation),
        CommandResult::Refused(MetaError::StaleFlush { .. })
    ));
    assert!(matches!(
        commit(&mut s, Incarnation(11), 41, b.incarnation),
        CommandResult::Committed(_)
    ));
}

#[test]
fn a_silent_node_id_can_be_taken_and_its_process_is_fenced() {
    let mut s = MetaState::default();
    let a = incarnation(register(&mut s, Some(7), &[], 1, 0));
    assert!(matches!(
        register(&mut s, Some(7), &[], 2, LIVE_MS),
        CommandResult::Refused(MetaError::NameInUse { name: 7, .. })
    ));
    let b = incarnation(register(&mut s, Some(7), &[], 3, LIVE_MS + 1));
    assert_eq!(
        s.writers[&a.incarnation].status,
        WriterStatus::Superseded { by: b.incarnation }
    );
    match commit(&mut s, a.incarnation, 1, a.incarnation) {
        CommandResult::Refused(MetaError::Fenced { reason, .. }) => {
            assert!(reason.contains("took its node id 7"), "{reason}")
        }
        other => panic!("the old process is fenced: {other:?}"),
    }
    assert!(matches!(
        commit(&mut s, b.incarnation, 1, b.incarnation),
        CommandResult::Committed(_)
    ));
}

#[test]
fn silent_incarnations_expire_and_are_forgotten_later() {
    let mut s = MetaState::default();
    let a = incarnation(register(&mut s, None, &[], 1, 0));
    let _ = incarnation(register(&mut s, None, &[], 2, EXPIRE_MS + 1));
    assert_eq!(s.writers[&a.incarnation].status, WriterStatus::Expired);
    assert!(matches!(
        commit(&mut s, a.incarnation, 1, a.incarnation),
        CommandResult::Refused(MetaError::Fenced { .. })
    ));
    let _ = incarnation(register(&mut s, None, &[], 3, 2 * EXPIRE_MS + 1));
    assert!(!s.writers.contains_key(&a.incarnation), "forgotten");
    assert!(matches!(
        commit(&mut s, a.incarnation, 1, a.incarnation),
        CommandResult::Refused(MetaError::Fenced { .. })
    ));
}

#[test]
fn a_refused_registration_allocates_nothing() {
    let mut s = MetaState::default();
    let _ = incarnation(register(&mut s, Some(3), &[], 1, 0));
    let before = s.clone();
    assert!(matches!(
        register(&mut s, Some(3), &[], 2, 1),
        CommandResult::Refused(_)
    ));
    assert_eq!(s, before);
}

#[test]
fn a_lease_held_by_a_silent_or_fenced_process_can_be_taken_before_it_lapses() {
    let mut s = MetaState::default();
    s.apply(&Command::CreateTopic {
        name: "t".into(),
        partitions: 1,
        config: Default::default(),
        now_ms: 0,
    });
    let a = incarnation(register(&mut s, None, &[], 1, 0)).incarnation;
    let b = incarnation(register(&mut s, None, &[], 2, 0)).incarnation;
    let acquire = |s: &mut MetaState, holder: Incarnation, now_ms: i64| {
        s.apply(&Command::AcquireLease {
            job: "compact".into(),
            topic: "t".into(),
            partition: PartitionId(0),
            holder,
            renew: None,
            ttl_ms: 60_000,
            now_ms,
        })
    };
    assert!(matches!(acquire(&mut s, a, 0), CommandResult::Lease(_)));
    assert!(
        matches!(acquire(&mut s, b, LIVE_MS), CommandResult::Refused(_)),
        "a live holder keeps its lease"
    );
    assert!(
        matches!(acquire(&mut s, b, LIVE_MS + 1), CommandResult::Lease(_)),
        "a silent holder's lease is taken"
    );
}
