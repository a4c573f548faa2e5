use super::*;

#[test]
fn longs_are_zigzag_varints() {
    // Values from the Avro specification's table.
    for (v, want) in [
        (0i64, vec![0x00u8]),
        (-1, vec![0x01]),
        (1, vec![0x02]),
        (-2, vec![0x03]),
        (2, vec![0x04]),
        (-64, vec![0x7f]),
        (64, vec![0x80, 0x01]),
    ] {
        let mut e = Encoder::default();
        e.long(v);
        assert_eq!(e.into_bytes(), want, "{v}");
    }
    let mut e = Encoder::default();
    e.long(i64::MIN);
    assert_eq!(e.into_bytes().len(), 10);
}

#[test]
fn a_container_has_magic_metadata_sync_and_one_block() {
    let mut r = Encoder::default();
    r.string("ab");
    let records = r.into_bytes();
    let sync = [7u8; 16];
    let file = container(r#""string""#, &[("k", "v".into())], 1, &records, sync);
    assert_eq!(&file[..4], b"Obj\x01");
    // Metadata map: 3 entries, then the keys and values as strings and bytes.
    assert_eq!(file[4], 0x06);
    let tail = &file[file.len() - 16 - records.len() - 2..];
    assert_eq!(tail[0], 0x02, "one record");
    assert_eq!(tail[1], records.len() as u8 * 2, "block size");
    assert_eq!(&tail[2..2 + records.len()], &records[..]);
    assert_eq!(&file[file.len() - 16..], &sync);
}
