use super::*;

#[test]
fn json_values_keep_their_text_and_strings_their_bytes() {
    let body = br#"{"records": [
        {"key": "user-7", "value": {"any": "json"}, "headers": {"source": "web", "b": "2"}, "partition": 0, "timestamp": 1732252800000},
        {"key_base64": "AAE=", "value_base64": "aGVsbG8="},
        {"key": "user-7", "value": null},
        {"value": 42}
    ]}"#;
    let r = parse_json(body).expect("parses");
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].record.key.as_deref(), Some(&b"user-7"[..]));
    assert_eq!(
        r[0].record.value.as_deref(),
        Some(&br#"{"any": "json"}"#[..])
    );
    assert_eq!(r[0].record.headers[0].name, "source");
    assert_eq!(r[0].record.headers[1].name, "b", "header order is kept");
    assert_eq!(r[0].partition, Some(0));
    assert_eq!(r[0].timestamp, Some(1_732_252_800_000));
    assert_eq!(r[1].record.key.as_deref(), Some(&[0u8, 1][..]));
    assert_eq!(r[1].record.value.as_deref(), Some(&b"hello"[..]));
    assert_eq!(r[2].record.value, None, "null is a tombstone");
    assert_eq!(r[3].record.key, None);
    assert_eq!(r[3].record.value.as_deref(), Some(&b"42"[..]));
}

#[test]
fn headers_as_a_list_allow_binary_values_and_duplicates() {
    let body = br#"{"records": [{"value": "v", "headers": [{"key": "h", "value_base64": "/w=="}, {"key": "h", "value": "x"}]}]}"#;
    let r = parse_json(body).expect("parses");
    assert_eq!(r[0].record.headers.len(), 2);
    assert_eq!(r[0].record.headers[0].value.as_ref(), &[0xffu8]);
}

#[test]
fn ndjson_takes_one_record_per_line() {
    let body = b"{\"key\": \"a\", \"value\": 1}\r\n\n{\"value\": \"b\"}\n";
    let r = parse_ndjson(body).expect("parses");
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].record.value.as_deref(), Some(&b"b"[..]));
    let err = parse_ndjson(b"{\"value\": 1}\nnot json\n").expect_err("bad line");
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn malformed_records_are_refused_with_their_index() {
    for (body, needle) in [
        (
            &br#"{"records": [{"value": 1}, {"key": "a", "key_base64": "AA=="}]}"#[..],
            "record 1",
        ),
        (
            br#"{"records": [{"value_base64": "!!"}]}"#,
            "not valid base64",
        ),
        (br#"{"records": [{"valeu": 1}]}"#, "unknown field"),
        (br#"{"records": [{"partition": -1}]}"#, "invalid value"),
        (br#"{"records": [{"timestamp": -5}]}"#, "negative"),
        (br#"{"recs": []}"#, "unknown field"),
        (b"[1,2", "invalid produce body"),
    ] {
        let err = parse_json(body).expect_err("refused");
        assert!(
            err.to_string().contains(needle),
            "{err} should mention {needle}"
        );
    }
}
