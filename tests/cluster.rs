//! Clusters of real processes: three voters, ingest nodes, a real S3 server (issue 3).

use std::time::{Duration, Instant};

use serde_json::json;
use strata_tests::load::{Load, check_acknowledged};
use strata_tests::{Cluster, cluster, eventually};

/// Topic `t` (4 partitions) on both ingest nodes of `c`, each written by 3 writers at acks=all,
/// once each load has 300 records acknowledged.
async fn two_loads(c: &Cluster) -> anyhow::Result<(Load, Load)> {
    let (a, b) = (c.ingest_api(0), c.ingest_api(1));
    a.create_topic("t", 4, json!({})).await?;
    b.sees_topic("t").await?;
    let la = Load::start(&a, "t", 0, 3, "all");
    let lb = Load::start(&b, "t", 100, 3, "all");
    la.wait_acked(300, Duration::from_secs(60)).await?;
    lb.wait_acked(300, Duration::from_secs(60)).await?;
    Ok((la, lb))
}

/// Stops both loads; every record either acknowledged is read back exactly once, and both
/// ingest nodes return identical data.
async fn stop_and_check(c: &Cluster, la: Load, lb: Load) -> anyhow::Result<()> {
    let mut acked = la.stop().await;
    acked.extend(lb.stop().await);
    let from_a = check_acknowledged(&c.ingest_api(0), "t", 4, &acked).await?;
    let from_b = check_acknowledged(&c.ingest_api(1), "t", 4, &acked).await?;
    assert_eq!(from_a, from_b, "both ingest nodes return identical data");
    assert!(from_a.len() >= acked.len());
    Ok(())
}

/// `body` is the `503` of a node that cannot reach a committing quorum.
fn not_ready_for_the_quorum(body: &serde_json::Value) {
    assert_eq!(body["error_code"], json!(50302), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("quorum"), "{body}");
}

/// Waits for the first ingest node's `/readyz` to answer `200` again.
async fn ready_again(c: &Cluster) -> anyhow::Result<()> {
    eventually(
        Duration::from_secs(30),
        "readyz to turn 200 again",
        || async { (c.ingest[0].api().get("/readyz").await.ok()?.0 == 200).then_some(()) },
    )
    .await
}

#[tokio::test]
async fn the_leader_dies_under_load_and_every_acknowledged_record_survives_exactly_once()
-> anyhow::Result<()> {
    let mut c = Cluster::start(3, 2, "[ingest]\ncommit-timeout = \"5s\"\n").await?;
    let (la, lb) = two_loads(&c).await?;
    let leader = c.leader().await?;
    let before = la.acked() + lb.acked();
    c.voters[leader].kill9().await?;
    let killed = Instant::now();
    eventually(
        Duration::from_secs(60),
        "writes to resume after the election",
        || async { (la.acked() + lb.acked() >= before + 400).then_some(()) },
    )
    .await?;
    eprintln!(
        "writes resumed {:?} after the leader was killed",
        killed.elapsed()
    );
    let new_leader = c.leader().await?;
    assert_ne!(new_leader, leader);
    stop_and_check(&c, la, lb).await
}

#[tokio::test]
async fn a_voter_down_past_several_snapshots_catches_up_and_can_lead() -> anyhow::Result<()> {
    let mut c = Cluster::start(3, 1, "[meta]\nsnapshot-logs = 20\n").await?;
    let api = c.ingest_api(0);
    api.create_topic("t", 2, json!({})).await?;
    let leader = c.leader().await?;
    let down = (leader + 1) % 3;
    c.voters[down].kill9().await?;
    let start = c.applied_index(leader).await?;
    let load = Load::start(&api, "t", 0, 2, "all");
    eventually(
        Duration::from_secs(60),
        "several snapshot intervals of log",
        || async { (c.applied_index(leader).await.ok()? >= start + 100).then_some(()) },
    )
    .await?;
    let acked = load.stop().await;
    c.voters[down].restart().await?;
    let target = c.applied_index(leader).await?;
    eventually(
        Duration::from_secs(60),
        "the restarted voter to catch up",
        || async { (c.applied_index(down).await.ok()? >= target).then_some(()) },
    )
    .await?;
    // It can lead: make room (a live leader's followers refuse votes), then let it call elections.
    let mut stopped: Option<usize> = None;
    for _ in 0..10 {
        let l = c.leader().await?;
        if l == down {
            break;
        }
        c.voters[l].kill9().await?;
        if let Some(d) = stopped.replace(l) {
            c.voters[d].restart().await?;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let _ = c.voters[down]
                .api()
                .request(
                    reqwest::Method::POST,
                    "/internal/meta/elect",
                    &[("strata-cluster-secret", cluster::SECRET)],
                    None,
                )
                .await;
            let (_, s) = c.voters[down].api().get("/v1/cluster").await?;
            if s["quorum"]["leader"]
                .as_u64()
                .is_some_and(|x| x as usize - 1 != l)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(c.leader().await?, down, "the caught-up voter leads");
    api.produce("t", "all", &[json!({"value": {"w": 9, "n": 0}})])
        .await?;
    check_acknowledged(&api, "t", 2, &acked).await?;
    Ok(())
}

#[tokio::test]
async fn an_ingest_node_killed_under_load_loses_nothing_it_acknowledged() -> anyhow::Result<()> {
    let mut c = Cluster::start(3, 2, "").await?;
    let (a, b) = (c.ingest_api(0), c.ingest_api(1));
    b.create_topic("t", 4, json!({})).await?;
    a.sees_topic("t").await?;
    let all = Load::start(&a, "t", 0, 2, "all");
    let local = Load::start(&a, "t", 50, 2, "local");
    all.wait_acked(200, Duration::from_secs(60)).await?;
    local.wait_acked(200, Duration::from_secs(60)).await?;
    c.ingest[0].kill9().await?;
    let acked_all = all.stop().await;
    let acked_local = local.stop().await;
    // Everything acknowledged with acks=all is readable from the other node at once.
    check_acknowledged(&b, "t", 4, &acked_all).await?;
    // acks=local records come back when the node restarts on the same disk.
    c.ingest[0].restart().await?;
    let mut every = acked_all.clone();
    every.extend(acked_local.iter().cloned());
    eventually(
        Duration::from_secs(60),
        "the acks=local records to be shipped",
        || async { check_acknowledged(&b, "t", 4, &every).await.ok() },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn losing_two_of_three_voters_fails_writes_with_503_and_a_returning_voter_resumes_them()
-> anyhow::Result<()> {
    let mut c = Cluster::start(3, 1, "[ingest]\ncommit-timeout = \"3s\"\n").await?;
    let api = c.ingest_api(0);
    api.create_topic("t", 2, json!({})).await?;
    let load = Load::start(&api, "t", 0, 2, "all");
    load.wait_acked(100, Duration::from_secs(60)).await?;
    let mut acked = load.stop().await;
    c.voters[0].kill9().await?;
    c.voters[1].kill9().await?;
    let started = Instant::now();
    let (status, body) = api
        .post(
            "/v1/topics/t/records",
            &json!({"records": [{"value": {"w": 7, "n": 0}}]}),
        )
        .await?;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error_code"] == json!(50304) || body["error_code"] == json!(50302),
        "{body}"
    );
    let (status, body) = api
        .post("/v1/topics", &json!({"name": "u", "partitions": 1}))
        .await?;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error_code"], json!(50302), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "writes fail clearly, they do not hang"
    );
    // Readiness tells load balancers: this node cannot commit now, and why.
    for node in [&c.ingest[0], &c.voters[2]] {
        let body = eventually(Duration::from_secs(30), "readyz to turn 503", || async {
            let (s, b) = node.api().get("/readyz").await.ok()?;
            (s == 503).then_some(b)
        })
        .await?;
        not_ready_for_the_quorum(&body);
    }
    c.voters[0].restart().await?;
    let resumed = eventually(Duration::from_secs(60), "writes to resume", || async {
        api.produce("t", "all", &[json!({"value": {"w": 8, "n": 0}})])
            .await
            .ok()
    })
    .await?;
    acked.push(((8, 0), resumed[0].partition, resumed[0].offset));
    ready_again(&c).await?;
    // Nothing half-done: offsets dense, nothing twice, every acknowledged record in place; the
    // request refused during the outage may land at most once.
    check_acknowledged(&api, "t", 2, &acked).await?;
    assert_eq!(
        api.get("/v1/topics/u").await?.0,
        404,
        "the refused topic was not created"
    );
    Ok(())
}

#[tokio::test]
async fn a_dead_voter_is_replaced_from_the_command_line() -> anyhow::Result<()> {
    let mut c = Cluster::start(3, 1, "").await?;
    let api = c.ingest_api(0);
    api.create_topic("t", 2, json!({})).await?;
    let load = Load::start(&api, "t", 0, 2, "all");
    load.wait_acked(100, Duration::from_secs(60)).await?;
    // Voter 3 dies for good; voter 4 takes its place.
    c.voters[2].kill9().await?;
    let port = strata_tests::free_port();
    let addrs: Vec<String> = c.voters[..2]
        .iter()
        .map(|v| v.url().trim_start_matches("http://").to_string())
        .collect();
    let peers = format!("1={},2={},4=127.0.0.1:{port}", addrs[0], addrs[1]);
    c.start_extra_voter(4, port, &peers).await?;
    let (ok, _, err) = c.voters[0]
        .cli(
            &["cluster", "add-voter", &format!("4=127.0.0.1:{port}")],
            None,
        )
        .await?;
    assert!(ok, "add-voter: {err}");
    let (ok, _, err) = c.voters[1]
        .cli(&["cluster", "remove-voter", "3"], None)
        .await?;
    assert!(ok, "remove-voter: {err}");
    // Membership changes are audit lines.
    let logs: String = c.voters.iter().map(|v| v.log_text()).collect();
    assert!(
        logs.contains("strata::audit") && logs.contains("AddVoter") && logs.contains("RemoveVoter"),
        "no audit line of the membership changes"
    );
    // And counted by the voter that made them (the leader at the time).
    for action in ["membership.add-voter", "membership.remove-voter"] {
        let name = format!("strata_audit_changes_total{{action=\"{action}\"}}");
        let mut total = 0.0;
        for v in c.voters.iter().filter(|v| v.is_running()) {
            total += v.api().metrics().await?.get(&name).copied().unwrap_or(0.0);
        }
        assert_eq!(total, 1.0, "{name}");
    }
    c.voters[3].wait_ready(Duration::from_secs(60)).await?;
    let status = c.status().await?;
    assert_eq!(status["quorum"]["voters"], json!([1, 2, 4]), "{status}");
    // The new voter carries the quorum: with voter 1 gone too, 2 and 4 are a majority.
    let before = load.acked();
    let leader = c.leader().await?;
    let victim = if leader == 0 { 1 } else { 0 };
    c.voters[victim].kill9().await?;
    eventually(
        Duration::from_secs(60),
        "writes with voters 2 and 4",
        || async { (load.acked() >= before + 200).then_some(()) },
    )
    .await?;
    let acked = load.stop().await;
    check_acknowledged(&api, "t", 2, &acked).await?;
    Ok(())
}

#[tokio::test]
async fn a_v2_consumer_created_on_one_node_is_read_through_another_even_after_the_first_dies()
-> anyhow::Result<()> {
    use strata_tests::v2::V2Client;
    let mut c = Cluster::start(1, 2, "").await?;
    let (a, b) = (c.ingest_api(0), c.ingest_api(1));
    a.create_topic("t", 4, json!({})).await?;
    b.sees_topic("t").await?;
    let (va, vb) = (
        V2Client::new(&c.ingest[0].url()),
        V2Client::new(&c.ingest[1].url()),
    );
    let records: Vec<serde_json::Value> = (0..100)
        .map(|i| json!({"key": format!("k{}", i % 9), "value": {"n": i}}))
        .collect();
    let r = va
        .call(
            reqwest::Method::POST,
            "/topics/t",
            &[("content-type", "application/vnd.kafka.json.v2+json")],
            Some(&json!({ "records": records }).to_string()),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let created = va
        .create_consumer(
            "g",
            json!({"name": "c", "format": "json", "auto.offset.reset": "earliest", "auto.commit.enable": "false"}),
        )
        .await?;
    let a_addr = c.ingest[0].url();
    assert_eq!(
        created.json["base_uri"],
        json!(format!("{a_addr}/consumers/g/instances/c")),
        "base_uri is the address the client used"
    );
    // Subscribed through B, read through A and B in turns, then through B alone once A is
    // killed: every record exactly once.
    vb.subscribe("g", "c", &["t"]).await?;
    let json_type = "application/vnd.kafka.json.v2+json";
    let mut seen = std::collections::BTreeSet::new();
    let take = |got: Vec<serde_json::Value>, seen: &mut std::collections::BTreeSet<i64>| {
        for r in got {
            let n = r["value"]["n"].as_i64().unwrap_or(-1);
            assert!(seen.insert(n), "record {n} read twice");
        }
    };
    let url = "/consumers/g/instances/c/records?timeout=500&max_bytes=400";
    for client in [&va, &vb, &va] {
        let r = client
            .call(reqwest::Method::GET, url, &[("accept", json_type)], None)
            .await?;
        assert_eq!(r.status, 200, "{r:?}");
        take(r.json.as_array().cloned().unwrap_or_default(), &mut seen);
    }
    assert!(
        !seen.is_empty() && seen.len() < 100,
        "small fetches read part: {}",
        seen.len()
    );
    c.ingest[0].kill9().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 100 {
        anyhow::ensure!(Instant::now() < deadline, "read {} of 100", seen.len());
        take(vb.records("g", "c", json_type, 500).await?, &mut seen);
    }
    // Committing through B; the positions survived A.
    let r = vb
        .call(
            reqwest::Method::POST,
            "/consumers/g/instances/c/offsets",
            &[],
            None,
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let (s, offsets) = b.get("/v1/groups/g/offsets").await?;
    assert_eq!(s, 200);
    let committed: i64 = offsets["offsets"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["offset"].as_i64()).sum())
        .unwrap_or(0);
    assert_eq!(committed, 100, "{offsets}");
    Ok(())
}

/// The second case: pausing the quorum leader (SIGSTOP, as a long GC pause or a
/// stalled VM would) held every acks=all write for the whole pause, up to the client's 10 s
/// deadline per call. Now followers elect a new leader and ingest nodes leave the paused one.
#[tokio::test]
async fn writes_go_on_while_the_leader_is_paused_and_it_rejoins_as_a_follower() -> anyhow::Result<()>
{
    let c = Cluster::start(3, 2, "[ingest]\ncommit-timeout = \"20s\"\n").await?;
    let (la, lb) = two_loads(&c).await?;
    let leader = c.leader().await?;
    c.voters[leader].signal("STOP")?;
    let paused = Instant::now();
    let before = (la.acked(), lb.acked());
    // Well before a request deadline (10 s), both nodes write again.
    let resumed = eventually(
        Duration::from_secs(8),
        "writes to resume on both nodes while the leader is paused",
        || async { (la.acked() >= before.0 + 100 && lb.acked() >= before.1 + 100).then_some(()) },
    )
    .await;
    let took = paused.elapsed();
    c.voters[leader].signal("CONT")?;
    resumed?;
    eprintln!("writes went on {took:?} after the leader was paused");
    let new_leader = c.leader().await?;
    assert_ne!(
        new_leader, leader,
        "the paused voter rejoined as a follower"
    );
    stop_and_check(&c, la, lb).await
}

/// The fourth case: `add-voter` of an address nobody listens on made it a voter at
/// once on a one-voter cluster, and nothing committed any more, for good. Now the new voter
/// must catch up as a learner first; it does not, so it is left out and nothing changes.
#[tokio::test]
async fn adding_a_voter_that_cannot_catch_up_leaves_the_quorum_as_it_was() -> anyhow::Result<()> {
    let c = Cluster::start(1, 1, "").await?;
    let api = c.ingest_api(0);
    api.create_topic("t", 1, json!({})).await?;
    let started = Instant::now();
    let (code, out, err) = c.voters[0]
        .cli_bytes(
            &["cluster", "add-voter", "4=127.0.0.1:1", "--timeout", "3s"],
            None,
        )
        .await?;
    assert_eq!(code, Some(1), "refused: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it gives up in time"
    );
    assert!(out.is_empty());
    assert!(
        err.contains("did not catch up") && err.contains("the membership is unchanged"),
        "{err}"
    );
    assert!(err.contains("nothing answers at that address"), "{err}");
    assert!(
        !err.contains("{") && !err.contains("Error("),
        "a sentence, not Debug: {err}"
    );
    let status = c.status().await?;
    assert_eq!(status["quorum"]["voters"], json!([1]), "{status}");
    let placed = api.produce("t", "all", &[json!({"value": 1})]).await?;
    assert_eq!(placed[0].offset, Some(0), "the quorum still commits");
    assert_eq!(c.voters[0].api().get("/readyz").await?.0, 200);
    // Removing what is not a member is refused with a sentence, the quorum still intact.
    let (code, _, err) = c.voters[0]
        .cli_bytes(&["cluster", "remove-voter", "4"], None)
        .await?;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("neither a voter nor a learner"), "{err}");
    // A node nobody can reach is exit 4.
    let (code, _, err) = c.voters[0]
        .cli_bytes(
            &[
                "cluster",
                "remove-voter",
                "3",
                "--url",
                "http://127.0.0.1:1",
            ],
            None,
        )
        .await?;
    assert_eq!(code, Some(4), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_voter_is_removed_while_a_majority_is_alive_after_a_failed_add() -> anyhow::Result<()> {
    let mut c = Cluster::start(3, 1, "").await?;
    let api = c.ingest_api(0);
    api.create_topic("t", 1, json!({})).await?;
    let (code, _, err) = c.voters[0]
        .cli_bytes(
            &["cluster", "add-voter", "5=127.0.0.1:1", "--timeout", "2s"],
            None,
        )
        .await?;
    assert_eq!(code, Some(1), "{err}");
    c.voters[2].kill9().await?;
    let (code, out, err) = c.voters[0]
        .cli_bytes(&["cluster", "remove-voter", "3"], None)
        .await?;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        String::from_utf8_lossy(&out).contains("voter 3 removed"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let status = c.status().await?;
    assert_eq!(status["quorum"]["voters"], json!([1, 2]), "{status}");
    api.produce("t", "all", &[json!({"value": 1})]).await?;
    Ok(())
}

/// The fifth case: `/readyz` answered `200` on a node whose quorum could not commit
/// (it only checked that a leader was known). Here both followers are paused: the leader is
/// still known everywhere, and nothing commits.
#[tokio::test]
async fn readiness_is_503_while_a_known_leader_cannot_commit() -> anyhow::Result<()> {
    let c = Cluster::start(3, 1, "").await?;
    let api = c.ingest_api(0);
    api.create_topic("t", 1, json!({})).await?;
    assert_eq!(c.ingest[0].api().get("/readyz").await?.0, 200);
    let leader = c.leader().await?;
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for f in &followers {
        c.voters[*f].signal("STOP")?;
    }
    let body = eventually(Duration::from_secs(30), "readyz to turn 503", || async {
        let (s, b) = c.ingest[0].api().get("/readyz").await.ok()?;
        (s == 503).then_some(b)
    })
    .await;
    for f in &followers {
        c.voters[*f].signal("CONT")?;
    }
    not_ready_for_the_quorum(&body?);
    ready_again(&c).await?;
    api.produce("t", "all", &[json!({"value": 1})]).await?;
    Ok(())
}
