use super::*;

#[test]
fn schemas_are_valid_json_with_field_ids() {
    for s in [manifest_entry_schema(), manifest_file_schema()] {
        let v: Value = serde_json::from_str(&s).expect("json");
        assert_eq!(v["type"], "record");
        assert!(
            v["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .all(|f| f["field-id"].is_i64())
        );
    }
}
