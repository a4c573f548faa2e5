use object_store::ObjectStoreExt;

use super::*;

#[tokio::test]
async fn a_local_directory_keeps_what_it_was_given_and_bad_urls_name_the_forms_that_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().join("bucket").display());
    let store = open(&url).expect("opens");
    store
        .put(&Path::from("a/b"), "hello".into())
        .await
        .expect("puts");
    let file = dir.path().join("bucket/a/b");
    assert_eq!(std::fs::read(file).expect("on disk"), b"hello");
    let mut up = store
        .put_multipart(&Path::from("a/c"))
        .await
        .expect("starts");
    up.put_part("parts".into()).await.expect("part");
    up.complete().await.expect("completes");
    let got = store.get(&Path::from("a/c")).await.expect("gets");
    assert_eq!(got.bytes().await.expect("reads").as_ref(), b"parts");
    for url in ["ftp://x", "file://relative/path", "s3://"] {
        let e = open(url).expect_err("refused");
        assert!(e.contains(url), "{e}");
    }
}
