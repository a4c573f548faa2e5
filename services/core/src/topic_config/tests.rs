use super::*;

fn changes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_match_kafka_and_round_trip_through_the_map() {
    let d = TopicConfig::default();
    let m = d.to_map();
    assert_eq!(m["cleanup.policy"], "delete");
    assert_eq!(m["retention.ms"], "604800000");
    assert_eq!(m["max.message.bytes"], "1048588");
    assert_eq!(d.with_changes(&m).expect("own values parse"), d);
}

#[test]
fn accepts_valid_changes() {
    let c = TopicConfig::default()
        .with_changes(&changes(&[
            ("cleanup.policy", "delete,compact"),
            ("retention.ms", "-1"),
            ("archive", "true"),
            ("compression", "0"),
            (
                "archive.json.fields",
                " user_id:int64, event:string,amount:double ",
            ),
        ]))
        .expect("valid");
    assert_eq!(c.archive_json_fields.len(), 3);
    assert_eq!(c.archive_json_fields[0].kind, JsonKind::Int64);
    assert_eq!(
        c.to_map()["archive.json.fields"],
        "user_id:int64,event:string,amount:double"
    );
    assert!(c.cleanup_policy.compact && c.cleanup_policy.delete);
    assert_eq!(c.to_map()["cleanup.policy"], "compact,delete");
    assert_eq!(c.retention_ms, -1);
    assert!(c.archive);
    assert_eq!(c.compression, 0);
}

#[test]
fn refuses_bad_keys_and_values() {
    for (k, v) in [
        ("cleanup.policy", "forever"),
        ("retention.ms", "-2"),
        ("retention.ms", "soon"),
        ("segment.bytes", "10"),
        ("max.message.bytes", "999999999"),
        ("archive", "yes"),
        ("compression", "20"),
        ("archive.json.fields", "user_id"),
        ("archive.json.fields", "user_id:decimal"),
        ("archive.json.fields", "offset:int64"),
        ("archive.json.fields", "a:int64,a:string"),
        ("archive.json.fields", "a b:int64"),
        ("archive.interval.ms", "0"),
        ("no.such.key", "1"),
    ] {
        let e = TopicConfig::default()
            .with_changes(&changes(&[(k, v)]))
            .expect_err("invalid");
        assert_eq!(e.key, k);
    }
}
