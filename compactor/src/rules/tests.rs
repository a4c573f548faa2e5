use proptest::prelude::*;
use strata_core::record::Record;

use super::*;

fn extent(base: i64, last: i64, len: u64, max_ts: i64) -> Extent {
    Extent {
        base_offset: Offset(base),
        last_offset: Offset(last),
        record_count: (last - base + 1) as u64,
        object: format!("o{base}"),
        start: 0,
        len,
        min_timestamp: 0,
        max_timestamp: max_ts,
    }
}

fn config(pairs: &[(&str, &str)]) -> TopicConfig {
    TopicConfig::default()
        .with_changes(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .expect("valid config")
}

#[test]
fn time_retention_drops_leading_extents_older_than_retention_ms() {
    let c = config(&[("retention.ms", "100")]);
    let e = [
        extent(0, 9, 10, 50),
        extent(10, 19, 10, 150),
        extent(20, 29, 10, 80),
    ];
    // Only a prefix goes: the third extent is old but follows a young one.
    assert_eq!(
        retention_start(&e, Offset(0), Offset(30), &c, None, 200),
        Offset(10)
    );
    assert_eq!(
        retention_start(&e, Offset(0), Offset(30), &c, None, 151),
        Offset(10)
    );
    assert_eq!(
        retention_start(&e, Offset(0), Offset(30), &c, None, 149),
        Offset(0)
    );
    // Everything old: the log is empty, starting at the high watermark.
    assert_eq!(
        retention_start(&e, Offset(0), Offset(30), &c, None, 1000),
        Offset(30)
    );
    // A compact-only topic never loses records to retention.
    let compact = config(&[("cleanup.policy", "compact"), ("retention.ms", "100")]);
    assert_eq!(
        retention_start(&e, Offset(0), Offset(30), &compact, None, 1000),
        Offset(0)
    );
}

#[test]
fn size_retention_keeps_at_least_retention_bytes() {
    let c = config(&[("retention.bytes", "25"), ("retention.ms", "-1")]);
    let e = [
        extent(0, 9, 10, 0),
        extent(10, 19, 10, 0),
        extent(20, 29, 10, 0),
    ];
    // 30 bytes: dropping the first leaves 20 < 25, so nothing goes.
    assert_eq!(
        retention_start(&e, Offset(0), Offset(30), &c, None, 0),
        Offset(0)
    );
    let c = config(&[("retention.bytes", "20"), ("retention.ms", "-1")]);
    assert_eq!(
        retention_start(&e, Offset(0), Offset(30), &c, None, 0),
        Offset(10)
    );
    let c = config(&[("retention.bytes", "0"), ("retention.ms", "-1")]);
    assert_eq!(
        retention_start(&e, Offset(0), Offset(30), &c, None, 0),
        Offset(30)
    );
}

#[test]
fn retention_waits_for_the_archive() {
    let c = config(&[("retention.ms", "1"), ("archive", "true")]);
    let e = [extent(0, 9, 10, 0), extent(10, 19, 10, 0)];
    assert_eq!(
        retention_start(&e, Offset(0), Offset(20), &c, None, 100),
        Offset(0)
    );
    assert_eq!(
        retention_start(&e, Offset(0), Offset(20), &c, Some(Offset(14)), 100),
        Offset(10)
    );
    assert_eq!(
        retention_start(&e, Offset(0), Offset(20), &c, Some(Offset(19)), 100),
        Offset(20)
    );
}

#[test]
fn the_head_is_the_newest_extent_and_everything_within_the_compaction_lag() {
    let c = config(&[
        ("cleanup.policy", "compact"),
        ("min.compaction.lag.ms", "100"),
    ]);
    let e = [
        extent(0, 9, 10, 50),
        extent(10, 19, 10, 150),
        extent(20, 29, 10, 80),
    ];
    assert_eq!(
        first_uncleanable(&e, &c, 1000),
        2,
        "the newest extent is never cleaned"
    );
    assert_eq!(first_uncleanable(&e, &c, 200), 1);
    assert_eq!(first_uncleanable(&e, &c, 140), 0);
    assert_eq!(first_uncleanable(&[], &c, 0), 0);
}

#[test]
fn merge_runs_group_small_extents_up_to_the_target() {
    let e: Vec<Extent> = (0..12).map(|i| extent(i * 10, i * 10 + 9, 10, 0)).collect();
    assert_eq!(merge_runs(&e, 50, 8, true), vec![0..5, 5..10, 10..12]);
    assert_eq!(
        merge_runs(&e, 50, 8, false),
        vec![0..5, 5..10],
        "a small tail waits"
    );
    assert_eq!(
        merge_runs(&e, 1000, 8, false),
        vec![0..12],
        "count threshold"
    );
    assert!(
        merge_runs(&e, 1000, 13, false).is_empty(),
        "too little, too few"
    );
}

#[test]
fn a_big_segment_waits_for_as_much_new_data_before_it_is_merged_again() {
    let mut e = vec![extent(0, 99, 80, 0)];
    e.extend((1..=4).map(|i| extent(i * 100, i * 100 + 9, 10, 0)));
    // 80 bytes of segment, 40 of new extents: only the new ones merge.
    assert_eq!(merge_runs(&e, 1000, 4, false), vec![1..5]);
    e.extend((5..=8).map(|i| extent(i * 100, i * 100 + 9, 10, 0)));
    assert_eq!(merge_runs(&e, 1000, 4, false), vec![0..9]);
    // Large extents are never merged.
    assert!(merge_runs(&[extent(0, 1, 600, 0), extent(2, 3, 600, 0)], 1000, 2, true).is_empty());
}

#[test]
fn chunks_never_exceed_the_target_unless_one_extent_does() {
    let e = [
        extent(0, 0, 30, 0),
        extent(1, 1, 30, 0),
        extent(2, 2, 50, 0),
        extent(3, 3, 5, 0),
    ];
    assert_eq!(chunks(&e, 60), vec![0..2, 2..4]);
    assert_eq!(chunks(&e, 10), vec![0..1, 1..2, 2..3, 3..4]);
    assert!(chunks(&[], 10).is_empty());
}

/// Compaction of a cleanable range, written the slow and obvious way.
fn naive(records: &[StoredRecord], horizon: i64) -> Vec<StoredRecord> {
    records
        .iter()
        .enumerate()
        .filter(|(i, r)| match &r.record.key {
            None => true,
            Some(k) => {
                let superseded = records[i + 1..]
                    .iter()
                    .any(|later| later.record.key.as_ref() == Some(k));
                let expired = r.record.value.is_none() && r.record.timestamp < horizon;
                !superseded && !expired
            }
        })
        .map(|(_, r)| r.clone())
        .collect()
}

fn arb_records() -> impl Strategy<Value = Vec<StoredRecord>> {
    prop::collection::vec(
        (
            prop::option::weighted(0.95, 0u8..6),
            prop::option::weighted(0.7, any::<u16>()),
            0i64..100,
        ),
        0..60,
    )
    .prop_map(|rs| {
        rs.into_iter()
            .enumerate()
            .map(|(i, (k, v, ts))| StoredRecord {
                offset: Offset(i as i64 * 2),
                record: Record {
                    key: k.map(|k| Bytes::from(vec![b'k', k])),
                    value: v.map(|v| Bytes::from(v.to_le_bytes().to_vec())),
                    headers: Vec::new(),
                    timestamp: ts,
                },
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn the_key_map_keeps_exactly_what_a_naive_fold_keeps(records in arb_records(), horizon in 0i64..120) {
        let mut map = KeyMap::default();
        for r in &records {
            map.observe(r);
        }
        let kept: Vec<StoredRecord> = records.iter().filter(|r| map.keeps(r, horizon)).cloned().collect();
        prop_assert_eq!(kept, naive(&records, horizon));
    }
}
