use super::*;
use strata_core::meta::SectionCommit;
use strata_core::meta::idempotency::{
    KeyRetention, KeyedBatch, KeyedRequest, Replayed, RequestKey,
};

fn topic(s: &mut MetaState, partitions: u32) -> TopicId {
    match s.apply(&Command::CreateTopic {
        name: "t".into(),
        partitions,
        config: BTreeMap::new(),
        now_ms: 0,
    }) {
        CommandResult::Topic(t) => t.id,
        other => panic!("{other:?}"),
    }
}

/// A flush of one section of `batches` (records each, 10 bytes per record) of partition 0,
/// where `keyed` names (batch index, request key) pairs.
fn commit(seq: u64, t: TopicId, batches: &[u64], keyed: &[(usize, u128, u64)]) -> ObjectCommit {
    let mut requests = Vec::new();
    let mut start = 0;
    let mut before = 0;
    let mut spans = Vec::new();
    for n in batches {
        spans.push((start, n * 10, *n, before));
        start += n * 10;
        before += n;
    }
    for (b, id, fp) in keyed {
        let (start, len, records, records_before) = spans[*b];
        requests.push(KeyedRequest {
            key: RequestKey {
                id: *id,
                fingerprint: *fp,
            },
            batches: vec![KeyedBatch {
                section: 0,
                start,
                len,
                records,
                records_before,
            }],
        });
    }
    ObjectCommit {
        writer: Incarnation(1),
        seq: FlushSeq(seq),
        by: None,
        requests,
        keep_keys: KeyRetention {
            window_ms: 600_000,
            max_keys: 3,
        },
        key: strata_core::keys::segment_key(Incarnation(1), FlushSeq(seq)),
        size: start,
        sections: vec![SectionCommit {
            topic_id: t,
            partition: PartitionId(0),
            start: 0,
            len: start,
            record_count: before,
            min_timestamp: 0,
            max_timestamp: 0,
        }],
    }
}

fn apply(s: &mut MetaState, c: ObjectCommit, now_ms: i64) -> CommitOutcome {
    match s.apply(&Command::CommitObject { commit: c, now_ms }) {
        CommandResult::Committed(o) => o,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_repeated_request_gets_no_offsets_and_is_answered_with_the_first_copys() {
    let mut s = MetaState::default();
    let t = topic(&mut s, 1);
    // Flush 1: [2 records unkeyed][3 records, key 7]
    let first = apply(&mut s, commit(1, t, &[2, 3], &[(1, 7, 70)]), 1);
    assert_eq!(first.base_offsets, vec![Some(Offset(0))]);
    assert!(first.replays.is_empty());
    // Flush 2 (another node's retry): [1 unkeyed][3, key 7 again][4, key 8][3, key 7 with other content]
    let second = apply(
        &mut s,
        commit(2, t, &[1, 3, 4, 3], &[(1, 7, 70), (2, 8, 80), (3, 7, 71)]),
        2,
    );
    assert_eq!(second.base_offsets, vec![Some(Offset(5))]);
    assert_eq!(
        second.replays,
        vec![
            (0, Replayed::Original(vec![(PartitionId(0), Offset(2))])),
            (2, Replayed::Conflict)
        ]
    );
    let p = s.partitions("t").expect("exists");
    assert_eq!(p[0].high_watermark, Offset(10), "1 + 4 new records after 5");
    let page = s
        .extents("t", PartitionId(0), Offset(0), 10)
        .expect("reads");
    let spans: Vec<(i64, i64, u64, u64)> = page
        .extents
        .iter()
        .map(|e| (e.base_offset.0, e.last_offset.0, e.start, e.len))
        .collect();
    assert_eq!(
        spans,
        vec![(0, 4, 0, 50), (5, 5, 0, 10), (6, 9, 40, 40)],
        "the repeats' bytes get no offsets"
    );
    assert_eq!(
        s.request_key(8).map(|k| k.bases.clone()),
        Some(vec![(PartitionId(0), Offset(6))])
    );
}

#[test]
fn a_request_repeated_within_one_flush_is_stored_once() {
    let mut s = MetaState::default();
    let t = topic(&mut s, 1);
    let o = apply(
        &mut s,
        commit(1, t, &[2, 2, 1], &[(0, 5, 50), (1, 5, 50)]),
        1,
    );
    assert_eq!(
        o.replays,
        vec![(1, Replayed::Original(vec![(PartitionId(0), Offset(0))]))]
    );
    assert_eq!(
        s.partitions("t").expect("exists")[0].high_watermark,
        Offset(3)
    );
    let again = apply(
        &mut s,
        commit(1, t, &[2, 2, 1], &[(0, 5, 50), (1, 5, 50)]),
        9,
    );
    assert_eq!(again, o, "a retried commit gets the same answer");
}

#[test]
fn keys_are_forgotten_after_the_window_and_beyond_the_cap() {
    let mut s = MetaState::default();
    let t = topic(&mut s, 1);
    for (seq, id) in (1..=4u64).zip(100u128..) {
        apply(&mut s, commit(seq, t, &[1], &[(0, id, 1)]), seq as i64);
    }
    assert_eq!(s.request_key_count(), 3, "the cap keeps the newest");
    assert!(s.request_key(100).is_none());
    // Past the window, a retry is a new request.
    let o = apply(&mut s, commit(5, t, &[1], &[(0, 101, 1)]), 700_000);
    assert!(o.replays.is_empty());
    assert_eq!(s.request_key_count(), 1);
}

#[test]
fn keyed_batches_outside_their_section_are_refused() {
    let mut s = MetaState::default();
    let t = topic(&mut s, 1);
    let mut c = commit(1, t, &[2], &[(0, 5, 50)]);
    c.requests[0].batches[0].records_before = 1;
    let before = s.clone();
    assert!(matches!(
        s.apply(&Command::CommitObject {
            commit: c,
            now_ms: 1
        }),
        CommandResult::Refused(MetaError::Invalid { .. })
    ));
    assert_eq!(s, before);
}

#[test]
fn the_state_with_keys_round_trips_through_json() {
    let mut s = MetaState::default();
    let t = topic(&mut s, 1);
    apply(
        &mut s,
        commit(1, t, &[1], &[(0, u128::MAX - 3, u64::MAX)]),
        1,
    );
    let json = serde_json::to_vec(&s).expect("serializes");
    let back: MetaState = serde_json::from_slice(&json).expect("deserializes");
    assert_eq!(back, s);
}

#[test]
#[ignore = "a measurement, not a test"]
fn measure_the_cost_per_key() {
    let mut s = MetaState::default();
    let t = topic(&mut s, 1);
    let n = 100_000u64;
    let base = serde_json::to_vec(&s).expect("json").len();
    for seq in 1..=n {
        let mut c = commit(
            seq,
            t,
            &[1],
            &[(
                0,
                u128::from(seq).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
                seq,
            )],
        );
        c.keep_keys = KeyRetention {
            window_ms: 0,
            max_keys: 0,
        };
        apply(&mut s, c, seq as i64);
    }
    let with = serde_json::to_vec(&s).expect("json").len();
    // Objects and extents grow too: measure them alone.
    let mut plain = MetaState::default();
    let t2 = topic(&mut plain, 1);
    for seq in 1..=n {
        apply(&mut plain, commit(seq, t2, &[1], &[]), seq as i64);
    }
    let without = serde_json::to_vec(&plain).expect("json").len();
    eprintln!(
        "snapshot bytes per key: {:.1} (state {base} -> {with}, without keys {without})",
        (with - without) as f64 / n as f64
    );
}
