use super::*;
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Topic {
    name: String,
    #[serde(default)]
    partitions: Option<u32>,
    #[serde(default)]
    inner: Option<Object<Inner>>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Inner {
    a: u32,
}

#[test]
fn objects_parse_and_arrays_are_refused_at_every_level() {
    let t: Topic = from_slice(br#"{"name": "t", "partitions": 2, "inner": {"a": 1}}"#)
        .expect("an object parses");
    assert_eq!(t.name, "t");
    assert_eq!(t.inner.map(|i| i.0.a), Some(1));
    // serde alone takes the array.
    assert!(serde_json::from_slice::<Topic>(br#"["t", 2]"#).is_ok());
    let e = from_slice::<Topic>(br#"["t", 2]"#).expect_err("array refused");
    assert!(e.to_string().contains("expected a JSON object"), "{e}");
    let e = from_slice::<Topic>(br#"{"name": "t", "inner": [1]}"#).expect_err("nested");
    assert!(e.to_string().contains("expected a JSON object"), "{e}");
    let e = from_slice::<Topic>(br#"{"name": "t", "x": 1}"#).expect_err("unknown field");
    assert!(e.to_string().contains("unknown field `x`"), "{e}");
    assert!(from_slice::<Topic>(b"\"t\"").is_err());
    assert!(from_slice::<Topic>(b"null").is_err());
}

#[test]
fn compact_drops_whitespace_between_tokens_only() {
    assert_eq!(
        compact("{ \"a b\" : [1, 2.50 ,\n\t\"x \\\" y\"] }"),
        "{\"a b\":[1,2.50,\"x \\\" y\"]}"
    );
    assert_eq!(compact("\"k1\""), "\"k1\"");
    assert_eq!(compact(" 42 "), "42");
    assert_eq!(compact("\"\\\\\" "), "\"\\\\\"");
}
