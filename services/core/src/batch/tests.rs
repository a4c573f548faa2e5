use proptest::prelude::*;

use super::*;
use crate::frame::{FrameRead, decode_frame};

pub(crate) fn arb_record() -> impl Strategy<Value = Record> {
    let bytes = || prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from);
    let large = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..64),
        1 => prop::collection::vec(any::<u8>(), 0..70_000),
    ]
    .prop_map(Bytes::from);
    let header =
        ("[a-zA-Z0-9_ é-]{0,12}", bytes()).prop_map(|(name, value)| Header { name, value });
    (
        prop::option::of(bytes()),
        prop::option::of(large),
        prop::collection::vec(header, 0..4),
        any::<i64>(),
    )
        .prop_map(|(key, value, headers, timestamp)| Record {
            key,
            value,
            headers,
            timestamp,
        })
}

fn body(frame: &[u8]) -> &[u8] {
    match decode_frame(frame).expect("valid frame") {
        FrameRead::Frame { body, .. } => body,
        FrameRead::Incomplete => panic!("incomplete frame"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn batch_round_trips(records in prop::collection::vec(arb_record(), 0..20), level in 0i32..4) {
        let b = encode_batch(TopicId(7), PartitionId(3), UNASSIGNED, &records, None, level).expect("encodes");
        let decoded = decode_batch(body(&b.frame)).expect("decodes");
        prop_assert_eq!(decoded.header, b.header);
        prop_assert_eq!(decoded.header.record_count as usize, records.len());
        let got: Vec<Record> = decoded.records.iter().map(|(_, r)| r.clone()).collect();
        prop_assert_eq!(got, records.clone());
        let deltas: Vec<u64> = decoded.records.iter().map(|(d, _)| *d).collect();
        prop_assert_eq!(deltas, (0..records.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn flipped_byte_is_detected(records in prop::collection::vec(arb_record(), 1..6), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let b = encode_batch(TopicId(1), PartitionId(0), UNASSIGNED, &records, None, 1).expect("encodes");
        let mut frame = b.frame.to_vec();
        let i = pos.index(frame.len());
        frame[i] ^= 1 << bit;
        match decode_frame(&frame) {
            // A flipped length can make the frame look longer than the buffer.
            Ok(FrameRead::Incomplete) => {}
            Ok(FrameRead::Frame { .. }) => {
                prop_assert!(false, "flipped bit {} of byte {} was not detected", bit, i);
            }
            Err(_) => {}
        }
    }

    #[test]
    fn explicit_offset_deltas_round_trip(n in 1usize..10, gap in 1u64..5) {
        let records: Vec<Record> = (0..n).map(|i| Record { key: Some(Bytes::from(format!("k{i}"))), timestamp: i as i64, ..Record::default() }).collect();
        let deltas: Vec<u64> = (0..n as u64).map(|i| i * gap).collect();
        let b = encode_batch(TopicId(1), PartitionId(0), 100, &records, Some(&deltas), 3).expect("encodes");
        let decoded = decode_batch(body(&b.frame)).expect("decodes");
        prop_assert_eq!(decoded.header.base_offset, 100);
        let got: Vec<u64> = decoded.records.iter().map(|(d, _)| *d).collect();
        prop_assert_eq!(got, deltas);
    }
}

#[test]
fn empty_key_differs_from_no_key_and_tombstone_from_empty_value() {
    let records = vec![
        Record {
            key: Some(Bytes::new()),
            value: Some(Bytes::new()),
            ..Record::default()
        },
        Record {
            key: None,
            value: None,
            ..Record::default()
        },
    ];
    let b =
        encode_batch(TopicId(1), PartitionId(0), UNASSIGNED, &records, None, 3).expect("encodes");
    let decoded = decode_batch(body(&b.frame)).expect("decodes");
    assert_eq!(decoded.records[0].1.key, Some(Bytes::new()));
    assert_eq!(decoded.records[0].1.value, Some(Bytes::new()));
    assert_eq!(decoded.records[1].1.key, None);
    assert_eq!(decoded.records[1].1.value, None);
}

#[test]
fn corrupt_bodies_with_valid_crc_fail_cleanly() {
    let records = vec![Record {
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from_static(b"v")),
        ..Record::default()
    }];
    let b =
        encode_batch(TopicId(1), PartitionId(0), UNASSIGNED, &records, None, 0).expect("encodes");
    let good = body(&b.frame).to_vec();
    // Every truncation and every single-byte change of the body must error or decode, never panic.
    for cut in 0..good.len() {
        let _ = decode_batch(&good[..cut]);
    }
    for i in 0..good.len() {
        for v in [0u8, 0x7f, 0x80, 0xff] {
            let mut m = good.clone();
            m[i] = v;
            let _ = decode_batch(&m);
        }
    }
    assert!(decode_batch(&good[..10]).is_err());
}

#[test]
fn a_new_base_offset_gives_absolute_offsets_without_touching_the_records() {
    let records: Vec<Record> = (0..4)
        .map(|i| Record {
            timestamp: i,
            value: Some(Bytes::from(vec![i as u8; 100])),
            ..Record::default()
        })
        .collect();
    let b =
        encode_batch(TopicId(3), PartitionId(1), UNASSIGNED, &records, None, 1).expect("encodes");
    let moved = with_base_offset(body(&b.frame), 40).expect("patches");
    assert_eq!(moved.header.base_offset, 40);
    let decoded = decode_batch(body(&moved.frame)).expect("valid frame");
    assert_eq!(decoded.header.base_offset, 40);
    assert_eq!(decoded.header.topic_id, TopicId(3));
    let deltas: Vec<u64> = decoded.records.iter().map(|(d, _)| *d).collect();
    assert_eq!(deltas, vec![0, 1, 2, 3]);
    let got: Vec<Record> = decoded.records.into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, records);
}
