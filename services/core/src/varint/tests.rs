use super::*;

#[test]
fn varints_round_trip() {
    let values = [0i64, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 300, -300];
    let mut buf = Vec::new();
    for v in values {
        put_varint(&mut buf, v);
    }
    put_uvarint(&mut buf, u64::MAX);
    let mut r = Reader::new(&buf, "test");
    for v in values {
        assert_eq!(r.varint().expect("valid"), v);
    }
    assert_eq!(r.uvarint().expect("valid"), u64::MAX);
    assert!(r.is_empty());
    assert!(r.u8().is_err());
}
