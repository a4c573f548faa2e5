use super::*;

#[test]
fn iso_instants_parse_to_epoch_millis() {
    assert_eq!(
        strata_core::settings::parse_instant("1970-01-01T00:00:00Z"),
        Some(0)
    );
    assert_eq!(
        strata_core::settings::parse_instant("2019-10-25T14:07:30.123Z"),
        Some(1_572_012_450_123)
    );
    assert_eq!(
        strata_core::settings::parse_instant("2019-10-25T16:07:30.123+02:00"),
        Some(1_572_012_450_123)
    );
    assert_eq!(
        strata_core::settings::parse_instant("2024-02-29T00:00:00Z"),
        Some(1_709_164_800_000)
    );
    assert_eq!(strata_core::settings::parse_instant("yesterday"), None);
}

fn text(format: EmbeddedFormat, bytes: Option<&[u8]>) -> String {
    serde_json::to_string(&embed(format, bytes)).unwrap_or_default()
}

#[test]
fn json_embedding_keeps_json_text_and_wraps_other_bytes_as_strings() {
    assert_eq!(
        text(EmbeddedFormat::Json, Some(br#"{"z":1,"a":"bar"}"#)),
        r#"{"z":1,"a":"bar"}"#,
        "key order and numbers are kept"
    );
    assert_eq!(
        text(EmbeddedFormat::Json, Some(b"plain text")),
        r#""plain text""#
    );
    assert_eq!(
        text(EmbeddedFormat::Binary, Some(b"kafka")),
        r#""a2Fma2E=""#
    );
    assert_eq!(text(EmbeddedFormat::Binary, None), "null");
}
