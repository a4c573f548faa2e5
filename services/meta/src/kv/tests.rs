use super::*;

#[tokio::test]
async fn log_and_values_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let kv = Kv::open(dir.path()).expect("opens");
        kv.append((1..=5).map(|i| (i, vec![i as u8])))
            .expect("appends");
        kv.put(&[("vote", b"v1")]).expect("puts");
        kv.purge_upto(2).expect("purges");
        kv.truncate_from(5).expect("truncates");
        kv.sync().await.expect("syncs");
    }
    let kv = Kv::open(dir.path()).expect("reopens");
    let idx: Vec<u64> = kv
        .range(0, 100)
        .expect("reads")
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(idx, vec![3, 4]);
    assert_eq!(kv.last().expect("reads").map(|(i, _)| i), Some(4));
    assert_eq!(kv.get("vote").expect("reads"), Some(b"v1".to_vec()));
    assert_eq!(kv.get("none").expect("reads"), None);
}
