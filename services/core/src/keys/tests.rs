use super::*;

#[test]
fn segment_keys_sort_numerically_and_parse_back() {
    let a = segment_key(Incarnation(1), FlushSeq(9));
    let b = segment_key(Incarnation(1), FlushSeq(10));
    assert!(a < b);
    assert_eq!(a, "segments/00000000000000000001/00000000000000000009.seg");
    assert_eq!(parse_segment_key(&b), Some((Incarnation(1), FlushSeq(10))));
    assert_eq!(parse_segment_key("segments/1/2.seg"), None);
    assert_eq!(parse_segment_key("topics/x/0/1-2.seg"), None);
}

#[test]
fn archive_keys_fall_in_the_hour_of_their_first_record() {
    assert_eq!(utc_hour(0), (1970, 1, 1, 0));
    assert_eq!(
        utc_hour(951_782_400_000 + 23 * 3_600_000),
        (2000, 2, 29, 23)
    );
    assert_eq!(utc_hour(1_795_305_600_000), (2026, 11, 22, 0));
    assert_eq!(utc_hour(-1), (1969, 12, 31, 23));
    assert_eq!(
        archive_key(
            "orders",
            PartitionId(3),
            Offset(0),
            Offset(41),
            1_795_305_600_000 + 3_599_999
        ),
        "archive/orders/date=2026-11-22/hour=00/3-00000000000000000000-00000000000000000041.parquet"
    );
}
