use proptest::prelude::*;

use super::*;
use crate::batch::encode_batch;
use crate::batch::tests::arb_record;
use crate::record::Record;

fn batch(topic: u64, partition: u32, records: &[Record]) -> EncodedBatch {
    encode_batch(
        TopicId(topic),
        PartitionId(partition),
        UNASSIGNED,
        records,
        None,
        1,
    )
    .expect("encodes")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn object_round_trips_by_section(
        parts in prop::collection::vec(prop::collection::vec(prop::collection::vec(arb_record(), 1..4), 1..3), 1..5)
    ) {
        let mut b = ObjectBuilder::new(Incarnation(9), 42, 1000, 0);
        for (p, batches) in parts.iter().enumerate() {
            for records in batches {
                b.push(&batch(1, p as u32, records)).expect("contiguous");
            }
        }
        let (bytes, sections) = b.finish();
        let footer = read_footer(&bytes).expect("footer");
        prop_assert_eq!(&footer.sections, &sections);
        prop_assert_eq!(footer.node, Incarnation(9));
        prop_assert_eq!(footer.seq, 42);
        for (p, batches) in parts.iter().enumerate() {
            let s = sections[p];
            let range = s.start as usize..(s.start + s.len) as usize;
            let got = decode_section(&bytes[range], Offset(100)).expect("decodes");
            let want: Vec<Record> = batches.iter().flatten().cloned().collect();
            prop_assert_eq!(got.len() as u64, s.record_count);
            let offsets: Vec<i64> = got.iter().map(|r| r.offset.0).collect();
            prop_assert_eq!(offsets, (100..100 + want.len() as i64).collect::<Vec<_>>());
            let records: Vec<Record> = got.into_iter().map(|r| r.record).collect();
            prop_assert_eq!(records, want);
        }
    }

    #[test]
    fn any_flipped_byte_in_an_object_is_detected(records in prop::collection::vec(arb_record(), 1..4), pos in any::<prop::sample::Index>()) {
        let mut b = ObjectBuilder::new(Incarnation(1), 1, 0, 0);
        b.push(&batch(1, 0, &records)).expect("contiguous");
        b.push(&batch(1, 1, &records)).expect("contiguous");
        let (bytes, sections) = b.finish();
        let mut bad = bytes.to_vec();
        let i = pos.index(bad.len());
        bad[i] ^= 0x10;
        let footer_ok = read_footer(&bad).map(|f| f.sections == sections).unwrap_or(false);
        let sections_ok = sections.iter().all(|s| {
            let range = s.start as usize..(s.start + s.len) as usize;
            decode_section(&bad[range], Offset(0)).is_ok()
        });
        prop_assert!(!(footer_ok && sections_ok), "flipped byte {} went unnoticed", i);
    }
}

#[test]
fn decoding_from_an_offset_skips_whole_batches_and_stops_at_the_limit() {
    let records: Vec<Record> = (0..5)
        .map(|i| Record {
            timestamp: i,
            ..Record::default()
        })
        .collect();
    // Assigned offsets with gaps (compactor output): batches at 10.., 20.., 30...
    let mut assigned = Vec::new();
    for base in [10i64, 20, 30] {
        let b = encode_batch(
            TopicId(1),
            PartitionId(0),
            base,
            &records,
            Some(&[0, 1, 2, 4, 6]),
            1,
        )
        .expect("encodes");
        assigned.extend_from_slice(&b.frame);
    }
    let all = decode_section(&assigned, Offset(10)).expect("decodes");
    for from in [0i64, 10, 13, 16, 17, 21, 36, 37] {
        for limit in [0usize, 1, 3, 100] {
            let got =
                decode_section_from(&assigned, Offset(10), Offset(from), limit).expect("decodes");
            let want: Vec<_> = all
                .iter()
                .filter(|r| r.offset.0 >= from)
                .take(limit)
                .cloned()
                .collect();
            assert_eq!(got, want, "from {from} limit {limit}");
        }
    }
    // Unassigned offsets (ingest output), numbered from the extent's base.
    let mut plain = Vec::new();
    for _ in 0..3 {
        plain.extend_from_slice(&batch(1, 0, &records).frame);
    }
    let all = decode_section(&plain, Offset(100)).expect("decodes");
    for from in [0i64, 100, 104, 105, 107, 114, 115] {
        let got = decode_section_from(&plain, Offset(100), Offset(from), 4).expect("decodes");
        let want: Vec<_> = all
            .iter()
            .filter(|r| r.offset.0 >= from)
            .take(4)
            .cloned()
            .collect();
        assert_eq!(got, want, "from {from}");
    }
}

#[test]
fn a_partition_cannot_come_back() {
    let r = [Record::default()];
    let mut b = ObjectBuilder::new(Incarnation(1), 1, 0, 0);
    b.push(&batch(1, 0, &r)).expect("first");
    b.push(&batch(1, 1, &r)).expect("second");
    assert!(b.push(&batch(1, 0, &r)).is_err());
}

#[test]
fn short_or_foreign_bytes_are_not_objects() {
    assert!(read_footer(b"tiny").is_err());
    assert!(read_footer(&[0u8; 64]).is_err());
}
