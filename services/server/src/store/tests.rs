use super::*;

#[tokio::test]
async fn a_prefix_is_claimed_once_and_refused_to_another_cluster() {
    let metrics = Arc::new(Metrics::new());
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().join("bucket").display());
    let store = open(&url, metrics.clone()).expect("opens");
    claim(store.as_ref(), "a").await.expect("claims");
    claim(store.as_ref(), "a")
        .await
        .expect("same cluster again");
    let err = claim(store.as_ref(), "b")
        .await
        .expect_err("another cluster");
    assert!(
        matches!(&err, ClaimError::Foreign(m) if m.contains("belongs to cluster a")),
        "{err}"
    );
    ping(store.as_ref()).await.expect("answers");
    let text = metrics.render(&crate::metrics::Sources {
        ingest: None,
        read: &strata_cache::ReadStats::default(),
        compactor: None,
        archiver: None,
        quorum: None,
        usage: None,
        receiving: 0,
    });
    assert!(
        text.contains("strata_object_store_requests_total{op=\"put\"} 1"),
        "{text}"
    );
}
