use super::*;

/// Vectors from Kafka's `UtilsTest.testMurmur2`.
#[test]
fn murmur2_matches_kafka() {
    let cases: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        (b"abc", 479_470_107),
    ];
    for (data, want) in cases {
        assert_eq!(murmur2(data), want, "{:?}", String::from_utf8_lossy(data));
    }
}

#[test]
fn key_partition_is_kafkas_to_positive_modulo() {
    // toPositive(-973932308) = 1173551340; 1173551340 % 12 = 0.
    assert_eq!(partition_for_key(b"21", 12), 1_173_551_340 % 12);
    assert_eq!(partition_for_key(b"abc", 7), 479_470_107 % 7);
    for n in 1..20 {
        assert!(partition_for_key(b"foobar", n) < n);
    }
}

#[test]
fn sticky_partitioner_rotates_per_topic() {
    let s = StickyPartitioner::default();
    assert_eq!(
        (
            s.next("a", 3),
            s.next("a", 3),
            s.next("a", 3),
            s.next("a", 3)
        ),
        (0, 1, 2, 0)
    );
    assert_eq!(s.next("b", 3), 0);
}
