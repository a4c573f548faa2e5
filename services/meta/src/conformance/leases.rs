//! Scenarios of the jobs' commands: leases, trims, rewrites and the archive.

use super::*;
use strata_core::meta::Extent;
use strata_core::meta::jobs::{
    ARCHIVE_JOB, ArchiveFile, ArchivePlan, ExtentRef, NewObject, ObjectStatus, Rewrite,
};

/// [`topic_of_flushes`], with `job`'s lease on its partition taken by incarnation 5.
async fn leased_topic(
    store: &dyn MetaStore,
    config: BTreeMap<String, String>,
    flushes: u64,
    job: &'static str,
) -> (TopicInfo, LeaseName<'static>, jobs::LeaseToken) {
    let t = topic_of_flushes(store, config, flushes).await;
    let name = LeaseName {
        job,
        topic: "t",
        partition: PartitionId(0),
    };
    let lease = jobs::acquire_lease(store, &name, Incarnation(5), None, 60_000, 1_000)
        .await
        .expect("free");
    (t, name, lease)
}

/// A partition job's lease: one holder at a time, renewable by its holder, free again once
/// released or expired.
pub async fn leases_exclude_other_holders_until_released_or_expired(store: Arc<dyn MetaStore>) {
    store
        .create_topic("t", 1, BTreeMap::new())
        .await
        .expect("creates");
    let name = LeaseName {
        job: COMPACT_JOB,
        topic: "t",
        partition: PartitionId(0),
    };
    let (a, b) = (Incarnation(1), Incarnation(2));
    let held = jobs::acquire_lease(store.as_ref(), &name, a, None, 1_000, 10_000)
        .await
        .expect("free");
    assert!(matches!(
        jobs::acquire_lease(store.as_ref(), &name, b, None, 1_000, 10_500).await,
        Err(MetaError::LeaseLost { .. })
    ));
    let renewed = jobs::acquire_lease(store.as_ref(), &name, a, Some(held), 1_000, 10_900)
        .await
        .expect("the holder renews");
    assert!(
        matches!(
            jobs::acquire_lease(store.as_ref(), &name, b, None, 1_000, 11_500).await,
            Err(MetaError::LeaseLost { .. })
        ),
        "a renewal extends the lease"
    );
    jobs::release_lease(store.as_ref(), &name, renewed)
        .await
        .expect("releases");
    let taken = jobs::acquire_lease(store.as_ref(), &name, b, None, 1_000, 11_600)
        .await
        .expect("free once released");
    assert_eq!(taken.holder, b);
    let late = jobs::acquire_lease(store.as_ref(), &name, a, None, 1_000, 12_601)
        .await
        .expect("free once expired");
    assert_eq!(late.holder, a);
    assert!(late.epoch > taken.epoch, "grants are numbered");
}

/// Retention: the log start rises only under the compactor's lease, and never falls.
pub async fn trims_raise_the_log_start_under_the_lease(store: Arc<dyn MetaStore>) {
    let (t, _, lease) = leased_topic(store.as_ref(), BTreeMap::new(), 3, COMPACT_JOB).await;
    let stale = jobs::LeaseToken {
        holder: Incarnation(6),
        epoch: lease.epoch + 1,
    };
    assert!(
        jobs::trim_log(
            store.as_ref(),
            "t",
            t.id,
            PartitionId(0),
            stale,
            Offset(10),
            1_001
        )
        .await
        .is_err(),
        "a trim without the lease is refused"
    );
    jobs::trim_log(
        store.as_ref(),
        "t",
        t.id,
        PartitionId(0),
        lease,
        Offset(10),
        1_002,
    )
    .await
    .expect("trims");
    let p = &store.partitions("t").await.expect("exists")[0];
    assert_eq!(p.log_start_offset, Offset(10));
    assert_eq!(p.high_watermark, Offset(30));
    let page = store
        .extents("t", PartitionId(0), Offset(0), 10)
        .await
        .expect("reads");
    assert!(
        page.extents.iter().all(|e| e.last_offset >= Offset(10)),
        "extents below the log start are gone: {page:?}"
    );
    jobs::trim_log(
        store.as_ref(),
        "t",
        t.id,
        PartitionId(0),
        lease,
        Offset(5),
        1_003,
    )
    .await
    .ok();
    assert_eq!(
        store.partitions("t").await.expect("exists")[0].log_start_offset,
        Offset(10),
        "the log start never falls"
    );
}

/// A rewrite replaces a run of current extents in one step, under the compactor's lease: the
/// offsets stay, the old objects become garbage, and a rewrite of extents no longer current,
/// or without the lease, changes nothing.
pub async fn rewrites_swap_current_extents_under_the_lease(store: Arc<dyn MetaStore>) {
    let (t, _, lease) = leased_topic(store.as_ref(), BTreeMap::new(), 3, COMPACT_JOB).await;
    let old = store
        .extents("t", PartitionId(0), Offset(0), 100)
        .await
        .expect("reads")
        .extents;
    assert_eq!(old.len(), 3);
    let merged = "topics/t/0/merged.seg";
    let rewrite = |lease| Rewrite {
        topic: "t".into(),
        topic_id: t.id,
        partition: PartitionId(0),
        lease,
        replaced: old.iter().map(ExtentRef::from).collect(),
        extents: vec![Extent {
            base_offset: Offset(0),
            last_offset: Offset(29),
            record_count: 30,
            object: merged.into(),
            start: 0,
            len: 90,
            min_timestamp: 0,
            max_timestamp: 9,
        }],
        objects: vec![NewObject {
            key: merged.into(),
            size: 100,
        }],
        cleaned_through: Some(Offset(30)),
    };
    let stale = jobs::LeaseToken {
        holder: Incarnation(6),
        epoch: lease.epoch + 1,
    };
    assert!(
        jobs::rewrite(store.as_ref(), rewrite(stale), 1_001)
            .await
            .is_err(),
        "a rewrite without the lease is refused"
    );
    assert_eq!(
        store.partitions("t").await.expect("exists")[0].extents,
        3,
        "a refused rewrite changes nothing"
    );
    jobs::rewrite(store.as_ref(), rewrite(lease), 1_002)
        .await
        .expect("rewrites");
    let page = store
        .extents("t", PartitionId(0), Offset(0), 100)
        .await
        .expect("reads");
    assert_eq!(page.extents.len(), 1);
    assert_eq!(page.extents[0].object, merged);
    let p = &store.partitions("t").await.expect("exists")[0];
    assert_eq!(
        (p.high_watermark, p.segments, p.cleaned_through),
        (Offset(30), 1, Offset(30))
    );
    assert!(
        jobs::rewrite(store.as_ref(), rewrite(lease), 1_003)
            .await
            .is_err(),
        "extents no longer current are not rewritten twice"
    );
    let garbage: Vec<String> = jobs::garbage(store.as_ref(), i64::MAX, 10)
        .await
        .expect("reads")
        .into_iter()
        .map(|g| g.key)
        .collect();
    let freed: Vec<String> = old.iter().map(|e| e.object.clone()).collect();
    assert_eq!(garbage, freed, "the replaced objects are garbage");
    let statuses = jobs::object_statuses(store.as_ref(), vec![merged.to_string()])
        .await
        .expect("reads");
    assert_eq!(statuses, vec![ObjectStatus::Committed]);
}

/// Archive files are planned, then committed, each starting where the last ended, under the
/// archiver's lease; the partition says how far its archive reaches.
pub async fn archive_files_are_planned_then_committed_in_order(store: Arc<dyn MetaStore>) {
    let archived = config(&[("archive", "true")]);
    let (t, name, lease) = leased_topic(store.as_ref(), archived, 2, ARCHIVE_JOB).await;
    let page = jobs::archive_files(store.as_ref(), "t", PartitionId(0), Offset(0), 10)
        .await
        .expect("reads");
    assert!(page.files.is_empty() && page.pending.is_none());
    assert_eq!(page.next_offset(), Offset(0));
    let plan = |first: i64, last: i64| ArchivePlan {
        key: format!("archive/t/0/{first}.parquet"),
        first_offset: Offset(first),
        last_offset: Offset(last),
    };
    let file = |p: &ArchivePlan| ArchiveFile {
        key: p.key.clone(),
        first_offset: p.first_offset,
        last_offset: p.last_offset,
        rows: p.last_offset.plus(1).since(p.first_offset),
        bytes: 500,
        raw_bytes: 900,
        min_timestamp: 0,
        max_timestamp: 9,
        projection_misfits: 0,
    };
    assert!(
        jobs::plan_archive(store.as_ref(), &name, t.id, lease, plan(5, 9), 1_001)
            .await
            .is_err(),
        "a file must start where the archive ends"
    );
    assert!(
        jobs::plan_archive(store.as_ref(), &name, t.id, lease, plan(0, 20), 1_001)
            .await
            .is_err(),
        "a file must end below the high watermark"
    );
    let first = plan(0, 11);
    jobs::plan_archive(store.as_ref(), &name, t.id, lease, first.clone(), 1_002)
        .await
        .expect("plans");
    let page = jobs::archive_files(store.as_ref(), "t", PartitionId(0), Offset(0), 10)
        .await
        .expect("reads");
    assert_eq!(page.pending, Some(first.clone()));
    let other = plan(0, 5);
    assert!(
        jobs::commit_archive(store.as_ref(), &name, t.id, lease, file(&other), 1_003)
            .await
            .is_err(),
        "only the planned file commits"
    );
    jobs::commit_archive(store.as_ref(), &name, t.id, lease, file(&first), 1_003)
        .await
        .expect("commits");
    jobs::commit_archive(store.as_ref(), &name, t.id, lease, file(&first), 1_004)
        .await
        .expect("a retried commit is idempotent");
    let page = jobs::archive_files(store.as_ref(), "t", PartitionId(0), Offset(0), 10)
        .await
        .expect("reads");
    assert_eq!(page.files, vec![file(&first)]);
    assert_eq!(
        (
            page.pending.clone(),
            page.archived_through,
            page.next_offset()
        ),
        (None, Some(Offset(11)), Offset(12))
    );
    let p = &store.partitions("t").await.expect("exists")[0];
    assert_eq!(
        (p.archived_through, p.archive_start_offset, p.archive_files),
        (Some(Offset(11)), Some(Offset(0)), 1)
    );
    jobs::plan_archive(store.as_ref(), &name, t.id, lease, plan(12, 19), 1_005)
        .await
        .expect("the next file starts where the last ended");
}
