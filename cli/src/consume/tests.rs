use super::*;

#[test]
fn start_times_read_as_millis_instants_or_ages() {
    let now = 1_800_000_000_000;
    assert_eq!(parse_time("1732252800000", now), Ok(1_732_252_800_000));
    assert_eq!(
        parse_time("2024-11-22T05:20:00Z", now),
        Ok(1_732_252_800_000)
    );
    assert_eq!(parse_time("15m", now), Ok(now - 900_000));
    assert_eq!(parse_time("-1h", now), Ok(now - 3_600_000));
    assert!(parse_time("yesterday", now).is_err());
}

#[test]
fn raw_records_print_their_bytes() {
    let r =
        serde_json::json!({"key_base64": B64.encode(b"k"), "value_base64": B64.encode(b"v\xff")});
    let mut out = Vec::new();
    write_record(&mut out, &r, Format::Raw, Some(b"\t")).expect("writes");
    assert_eq!(out, b"k\tv\xff\n");
    let tomb = serde_json::json!({"key_base64": B64.encode(b"k"), "value_base64": null});
    let mut out = Vec::new();
    write_record(&mut out, &tomb, Format::Raw, None).expect("writes");
    assert_eq!(out, b"\n");
}
