use super::*;

#[test]
fn permissions_and_missing_buckets_are_permanent_the_rest_transient() {
    let boxed = || -> Box<dyn std::error::Error + Send + Sync> { "x".into() };
    let denied = object_store::Error::PermissionDenied {
        path: "p".into(),
        source: boxed(),
    };
    assert!(!classify_write(&denied).is_transient());
    let missing = object_store::Error::NotFound {
        path: "p".into(),
        source: boxed(),
    };
    assert!(!classify_write(&missing).is_transient());
    assert!(classify_read(&missing).is_transient());
    let slow = object_store::Error::Generic {
        store: "S3",
        source: boxed(),
    };
    assert!(classify_write(&slow).is_transient());
}
