//! In-process clusters of voters talking real HTTP on loopback.

use std::sync::Arc;
use std::time::Duration;

use crate::conformance::object_commit;
use strata_core::ids::{Offset, PartitionId};
use strata_core::meta::{MetaError, MetaStore};

use crate::testing::LocalCluster;

/// The conformance suite through a follower of three voters, one test per scenario.
mod through_a_follower {
    use super::*;

    crate::meta_conformance!(
        [#[tokio::test(flavor = "multi_thread", worker_threads = 2)]]
        async {
            let c = LocalCluster::start(3, 10_000).await;
            let follower = (c.leader().await + 1) % 3;
            (c.store(follower) as Arc<dyn MetaStore>, c)
        }
    );
}

/// The conformance suite through the remote store of a node that is not a voter.
mod remote {
    use super::*;

    crate::meta_conformance!(
        [#[tokio::test(flavor = "multi_thread", worker_threads = 2)]]
        async {
            let c = LocalCluster::start(3, 10_000).await;
            (Arc::new(c.remote()) as Arc<dyn MetaStore>, c)
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_retried_after_a_leader_change_gets_the_same_offsets() {
    let mut c = LocalCluster::start(3, 10_000).await;
    let remote = c.remote();
    let t = remote
        .create_topic("t", 1, Default::default())
        .await
        .expect("creates");
    let commit = object_commit(7, 1, &[(t.id, 0, 5)]);
    let first = remote.commit_object(commit.clone()).await.expect("commits");
    let old = c.leader().await;
    c.stop(old).await;
    let new = c.leader().await;
    assert_ne!(old, new);
    let again = remote
        .commit_object(commit)
        .await
        .expect("retried at the new leader");
    assert_eq!(
        again, first,
        "the same object gets the same offsets, never a second copy"
    );
    let next = remote
        .commit_object(object_commit(7, 2, &[(t.id, 0, 1)]))
        .await
        .expect("commits");
    assert_eq!(next.base_offsets, vec![Some(Offset(5))]);
    assert_eq!(
        c.store(new).partitions("t").await.expect("reads")[0].high_watermark,
        Offset(6)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_that_missed_snapshots_catches_up_and_can_lead() {
    let mut c = LocalCluster::start(3, 20).await;
    let leader = c.leader().await;
    let lagging = (leader + 1) % 3;
    c.stop(lagging).await;
    let store = c.store(leader);
    let t = store
        .create_topic("t", 1, Default::default())
        .await
        .expect("creates");
    for seq in 1..=120 {
        store
            .commit_object(object_commit(1, seq, &[(t.id, 0, 1)]))
            .await
            .expect("commits with two of three voters");
    }
    c.restart(lagging).await;
    let target = store.applied_index();
    let caught_up = c
        .store(lagging)
        .wait_applied(target, Duration::from_secs(30))
        .await;
    assert!(
        caught_up,
        "the restarted voter caught up from a snapshot and the log"
    );
    assert_eq!(
        c.store(lagging).partitions("t").await.expect("reads")[0].high_watermark,
        Offset(120)
    );
    // A live leader's followers refuse votes (openraft's leader lease), so make room: stop the
    // leader and let the caught-up voter call elections. If the other voter wins anyway, bring
    // the stopped one back and stop the winner instead.
    let mut down: Option<usize> = None;
    for _ in 0..10 {
        let l = c.leader().await;
        if l == lagging {
            break;
        }
        c.stop(l).await;
        if let Some(d) = down.replace(l) {
            c.restart(d).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while c.voters.iter().flatten().all(|v| {
            v.store
                .status()
                .leader
                .is_none_or(|x| x.0 as usize - 1 == l)
        }) && tokio::time::Instant::now() < deadline
        {
            let _ = c.store(lagging).elect().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(c.leader().await, lagging, "the caught-up voter never led");
    let more = c
        .store(lagging)
        .commit_object(object_commit(1, 121, &[(t.id, 0, 1)]))
        .await
        .expect("the new leader commits");
    assert_eq!(more.base_offsets, vec![Some(Offset(120))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_majority_writes_fail_as_unavailable_and_resume_when_one_returns() {
    let mut c = LocalCluster::start(3, 10_000).await;
    let remote = c.remote();
    remote
        .create_topic("t", 1, Default::default())
        .await
        .expect("creates");
    let leader = c.leader().await;
    let a = (leader + 1) % 3;
    let b = (leader + 2) % 3;
    c.stop(a).await;
    c.stop(b).await;
    let started = tokio::time::Instant::now();
    let err = remote
        .commit_group_offsets(
            "g",
            vec![strata_core::meta::GroupOffset {
                topic: "t".into(),
                partition: PartitionId(0),
                offset: Offset(1),
            }],
        )
        .await
        .expect_err("no majority");
    assert!(matches!(err, MetaError::Unavailable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failed in bounded time"
    );
    c.restart(a).await;
    c.leader().await;
    remote
        .commit_group_offsets(
            "g",
            vec![strata_core::meta::GroupOffset {
                topic: "t".into(),
                partition: PartitionId(0),
                offset: Offset(2),
            }],
        )
        .await
        .expect("writes resume");
    let offsets = remote.group_offsets("g").await.expect("reads");
    assert_eq!(
        offsets[0].offset,
        Offset(2),
        "the failed write left nothing behind: {offsets:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_voters_lose_two_including_the_leader_and_keep_committing() {
    let mut c = LocalCluster::start(5, 10_000).await;
    let remote = c.remote();
    let t = remote
        .create_topic("t", 1, Default::default())
        .await
        .expect("creates");
    remote
        .commit_object(object_commit(7, 1, &[(t.id, 0, 3)]))
        .await
        .expect("commits");
    let leader = c.leader().await;
    c.stop(leader).await;
    c.stop((leader + 1) % 5).await;
    let again = remote
        .commit_object(object_commit(7, 1, &[(t.id, 0, 3)]))
        .await
        .expect("a retry under the new leader");
    assert_eq!(
        again.base_offsets,
        vec![Some(Offset(0))],
        "not a second copy"
    );
    let next = remote
        .commit_object(object_commit(7, 2, &[(t.id, 0, 2)]))
        .await
        .expect("three of five commit");
    assert_eq!(next.base_offsets, vec![Some(Offset(3))]);
    c.restart(leader).await;
    let target = c.store(c.leader().await).applied_index();
    assert!(
        c.store(leader)
            .wait_applied(target, Duration::from_secs(30))
            .await,
        "the returning voter catches up"
    );
    assert_eq!(
        c.store(leader).partitions("t").await.expect("reads")[0].high_watermark,
        Offset(5)
    );
}

/// Found by the simulator (seed 385 of the first voter runs): a leader cut off from its
/// followers still refused commands its own state would refuse, though that state may be stale
/// (a new leader elected meanwhile may have applied more). An ingest node whose incarnation
/// the new leader had registered was told by the old one that it was fenced, and stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_without_its_lease_refuses_nothing_from_its_own_state() {
    use strata_core::ids::Incarnation;
    use strata_core::meta::Command;
    let mut c = LocalCluster::start(3, 10_000).await;
    let leader = c.leader().await;
    let store = c.store(leader);
    let unknown = Command::WriterHeartbeat {
        incarnation: Incarnation(999),
        addr: "127.0.0.1:1".into(),
        now_ms: 0,
    };
    assert!(
        matches!(store.precheck(&unknown), Err(MetaError::Fenced { .. })),
        "a leader with its lease refuses an unknown writer at once"
    );
    c.stop((leader + 1) % 3).await;
    c.stop((leader + 2) % 3).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = store.status();
        if s.quorum_ack_ms.is_some_and(|ack| ack > s.lease_ms) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never lapsed: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        store.precheck(&unknown).is_ok(),
        "a leader whose lease lapsed passes the command on instead of judging it"
    );
}

/// Found by the simulator (seeds 6894 and 8053): a membership change whose leader cannot
/// commit it (deposed meanwhile, or, here, without a majority) was never answered, so the
/// admin call waited forever. It now answers "unavailable" within the write timeout, and says
/// the change may still take effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_change_the_leader_cannot_commit_is_answered_in_time() {
    use crate::store::LocalWriteError;
    use crate::wire::MembershipChange;
    let mut c = LocalCluster::start(3, 10_000).await;
    let leader = c.leader().await;
    let store = c.store(leader);
    let gone = c.store((leader + 1) % 3).status().node.0;
    c.stop((leader + 1) % 3).await;
    c.stop((leader + 2) % 3).await;
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        store.change_membership(&MembershipChange::RemoveVoter { id: gone }),
    )
    .await
    .expect("the change is answered within the write timeout, not left waiting");
    match answer {
        Err(LocalWriteError::Failed(MetaError::Unavailable { reason })) => {
            assert!(reason.contains("quorum status"), "{reason}")
        }
        Err(LocalWriteError::NotLeader(_)) => {}
        other => panic!("a change without a majority is not made: {other:?}"),
    }
}
