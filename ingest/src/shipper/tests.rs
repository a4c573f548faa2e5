use super::*;

#[test]
fn backoff_grows_to_a_cap_with_jitter() {
    for attempt in 1..20 {
        let d = backoff(attempt, 7).as_millis() as u64;
        let base = (100u64 << attempt.min(6)).min(5_000);
        assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d}ms");
    }
    assert_ne!(
        backoff(3, 1),
        backoff(3, 2),
        "different flushes spread apart"
    );
}

/// Uploads against stores that refuse or ignore conditional puts.
mod put {
    use object_store::memory::InMemory;
    use strata_core::clock::ManualClock;
    use strata_meta::memory::InMemoryMetaStore;

    use super::*;

    fn ctx(store: Arc<dyn ObjectStore>) -> ShipContext {
        ShipContext {
            by: Incarnation(1),
            fence: Arc::default(),
            no_conditional_put: Arc::default(),
            store,
            meta: Arc::new(InMemoryMetaStore::new(Arc::new(ManualClock::new(0)))),
            clock: Arc::new(ManualClock::new(0)),
            multipart_threshold: 1 << 30,
            stats: Arc::default(),
            cancel: CancellationToken::new(),
            on_uploaded: None,
            keep_keys: KeyRetention::default(),
        }
    }

    #[tokio::test]
    async fn a_flush_object_is_created_never_overwritten() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let c = ctx(store.clone());
        let path = Path::from("segments/x/1.seg");
        let first = {
            let mut b = strata_core::object::ObjectBuilder::new(Incarnation(1), 1, 0, 0);
            let batch = strata_core::batch::encode_batch(
                strata_core::ids::TopicId(1),
                strata_core::ids::PartitionId(0),
                strata_core::batch::UNASSIGNED,
                &[strata_core::record::Record::default()],
                None,
                1,
            )
            .expect("encodes");
            b.push(&batch).expect("pushes");
            b.finish()
        };
        assert_eq!(put_object(&c, &path, &first.0).await.expect("puts"), None);
        assert_eq!(
            put_object(&c, &path, &first.0).await.expect("puts again"),
            None,
            "the same flush again (a retry or a re-ship) is already there"
        );
        // A rebuild that lost batches does not replace what the bucket holds.
        let (empty, _) = strata_core::object::ObjectBuilder::new(Incarnation(1), 1, 0, 0).finish();
        let theirs = put_object(&c, &path, &empty).await.expect("answers");
        assert_eq!(theirs, Some((first.1.clone(), first.0.len() as u64)));
        let stored = store
            .get(&path)
            .await
            .expect("gets")
            .bytes()
            .await
            .expect("reads");
        assert_eq!(stored, first.0, "the object was never overwritten");
    }
}
