use super::*;

#[test]
fn paths_walk_sections_both_ways() {
    let t = single("ingest.flush-bytes", toml::Value::Integer(1));
    assert_eq!(
        leaves(&t),
        vec![("ingest.flush-bytes".to_string(), toml::Value::Integer(1))]
    );
    assert_eq!(env_name("ingest.flush-bytes"), "STRATA_INGEST_FLUSH_BYTES");
    assert_eq!(env_name("data-dir"), "STRATA_DATA_DIR");
}
