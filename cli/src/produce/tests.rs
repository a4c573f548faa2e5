use super::*;

fn shaper(sep: Option<&str>) -> Shaper {
    Shaper {
        separator: sep.map(unescape),
        key: None,
        partition: None,
        headers: serde_json::Map::new(),
    }
}

#[test]
fn lines_become_records_byte_for_byte() {
    let s = shaper(Some("\\t"));
    assert_eq!(
        s.record(b"user-7\t{\"a\":1}"),
        json!({"key": "user-7", "value": "{\"a\":1}"})
    );
    assert_eq!(s.record(b"no separator"), json!({"value": "no separator"}));
    assert_eq!(s.record(b""), json!({"value": ""}));
    assert_eq!(s.record(b"\tv"), json!({"key": "", "value": "v"}));
    assert_eq!(
        shaper(None).record(b"caf\xe9\r"),
        json!({"value_base64": B64.encode(b"caf\xe9\r")})
    );
    assert_eq!(unescape("a\\\\b\\x"), b"a\\b\\x".to_vec());
}

#[test]
fn a_partition_is_added_to_ndjson_records() {
    let with = |line: &str, p| String::from_utf8(with_partition(line.as_bytes(), p));
    assert_eq!(
        with(r#"{"value": {"b": 1.50, "a": 1e2}}"#, 3)
            .ok()
            .as_deref(),
        Some(r#"{"partition":3,"value":{"b": 1.50, "a": 1e2}}"#)
    );
    assert_eq!(with(" { } ", 0).ok().as_deref(), Some(r#"{"partition":0}"#));
    assert_eq!(
        with(r#"{"value":"v","partition":null}"#, 4).ok().as_deref(),
        Some(r#"{"partition":4,"value":"v"}"#)
    );
    assert_eq!(with("not json", 1).ok().as_deref(), Some("not json"));
    let parsed = strata_ingest::parse::parse_ndjson(&with_partition(br#"{"value":"v"}"#, 2))
        .expect("parses");
    assert_eq!(parsed[0].partition, Some(2));
}
