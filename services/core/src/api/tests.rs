use super::*;

#[test]
fn errors_serialize_with_code_message_and_extra_fields() {
    let e = ApiError::new(416, codes::OFFSET_OUT_OF_RANGE, "offset 9 is past the end")
        .with("high_watermark", 5);
    let v = serde_json::to_value(&e).expect("serializes");
    assert_eq!(
        v,
        serde_json::json!({"error_code": 41601, "message": "offset 9 is past the end", "high_watermark": 5})
    );
    let not_found: ApiError = MetaError::TopicNotFound { topic: "x".into() }.into();
    assert_eq!((not_found.status, not_found.error_code), (404, 40401));
    let down: ApiError = MetaError::Unavailable {
        reason: "no leader".into(),
    }
    .into();
    assert_eq!(down.status, 503);
    assert_eq!(down.retry_after_secs, Some(1));
}
