//! The quorum's internal API is for members only (issue 20): the cases the issue measured, on
//! real processes.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::cluster::SECRET;
use strata_tests::{Api, Cluster, Node, NodeOptions, strata_bin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DELETE_T: &str = r#"{"command":{"DeleteTopic":{"name":"t"}}}"#;

/// A vote from a node nobody knows, a thousand terms ahead.
fn forged_vote(term: u64) -> String {
    json!({
        "vote": {"leader_id": {"term": term, "node_id": 77}, "committed": false},
        "last_log_id": null
    })
    .to_string()
}

/// An append from a fake leader, two thousand terms ahead, with a previous entry below the
/// commit index.
fn forged_append(term: u64) -> String {
    json!({
        "vote": {"leader_id": {"term": term, "node_id": 77}, "committed": true},
        "prev_log_id": {"leader_id": {"term": 1, "node_id": 1}, "index": 1},
        "entries": [],
        "leader_commit": {"leader_id": {"term": term, "node_id": 77}, "index": 1}
    })
    .to_string()
}

async fn post(
    api: &Api,
    path: &str,
    secret: Option<&str>,
    body: String,
) -> anyhow::Result<(u16, Value)> {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(s) = secret {
        headers.push(("strata-cluster-secret", s));
    }
    api.request(Method::POST, path, &headers, Some(body)).await
}

fn refused(status: u16, body: &Value) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error_code"], json!(40101), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(!message.contains(SECRET), "{body}");
}

/// Sends only the header section of a request that declares `length` body bytes, and returns
/// the status line the node answers with, which it must send without waiting for the body.
async fn answer_to_headers_only(addr: &str, path: &str, length: u64) -> anyhow::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// The issue's case on the default single node: an anonymous `DeleteTopic` on
/// `/internal/meta/apply` answered `200` and the topic was gone. A quorum of one serves no
/// internal API at all.
#[tokio::test]
async fn a_single_node_serves_no_internal_api() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    let (s, b) = post(&api, "/internal/meta/apply", None, DELETE_T.into()).await?;
    refused(s, &b);
    assert!(
        b["message"]
            .as_str()
            .unwrap_or_default()
            .contains("--cluster-secret-file"),
        "{b}"
    );
    // Not even a secret opens it: the node has none to compare with.
    let (s, b) = post(&api, "/internal/meta/apply", Some(SECRET), DELETE_T.into()).await?;
    refused(s, &b);
    let (s, b) = post(&api, "/internal/raft/vote", None, forged_vote(1000)).await?;
    refused(s, &b);
    assert_eq!(
        api.get("/v1/topics/t").await?.0,
        200,
        "the topic is still there"
    );
    api.produce("t", "all", &[json!({"value": 1})]).await?;
    Ok(())
}

/// The issue's cases on a three-voter cluster: a forged apply, vote and append from a client
/// without the cluster secret (or with a wrong one) are refused before their bodies are read,
/// and the cluster keeps serving with the same leader and term.
#[tokio::test]
async fn the_internal_api_refuses_whoever_lacks_the_cluster_secret() -> anyhow::Result<()> {
    let c = Cluster::start(3, 1, "").await?;
    let api = c.ingest_api(0);
    api.create_topic("t", 2, json!({})).await?;
    api.produce("t", "all", &[json!({"value": 1})]).await?;
    let leader = c.leader().await?;
    let before = c.status().await?;
    let term = before["quorum"]["term"].as_u64().unwrap_or_default();
    let wrong = "wrong-secret-wrong-secret-wrong-secret";
    for v in &c.voters {
        let voter = v.api();
        for secret in [None, Some(wrong)] {
            let forged = [
                ("/internal/meta/apply", DELETE_T.to_string()),
                ("/internal/raft/vote", forged_vote(term + 1000)),
                ("/internal/raft/append", forged_append(term + 2000)),
            ];
            for (path, body) in forged {
                let (s, b) = post(&voter, path, secret, body).await?;
                refused(s, &b);
            }
            let (s, b) = voter.get("/internal/meta/status").await?;
            refused(s, &b);
        }
        // A 200 MiB body is refused on its headers: the node answers before it is sent.
        let addr = v.url().trim_start_matches("http://").to_string();
        let line = answer_to_headers_only(&addr, "/internal/meta/apply", 200 << 20).await?;
        assert!(line.contains(" 401 "), "{line}");
    }
    assert_eq!(
        api.get("/v1/topics/t").await?.0,
        200,
        "the topic is still there"
    );
    let after = c.status().await?;
    assert_eq!(c.leader().await?, leader, "{after}");
    assert_eq!(
        after["quorum"]["term"],
        json!(term),
        "no forged vote moved the term"
    );
    let placed = api.produce("t", "all", &[json!({"value": 2})]).await?;
    assert!(placed[0].offset.is_some(), "the quorum still commits");
    for v in &c.voters {
        assert_eq!(v.api().get("/readyz").await?.0, 200);
    }
    Ok(())
}

/// A member with the secret still speaks the internal API (the cluster above runs on it); a
/// process that would join a cluster without one refuses to start, naming the setting.
#[tokio::test]
async fn a_cluster_member_without_a_secret_refuses_to_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for roles in [&["--roles", "ingest"][..], &["--node-id", "1"][..]] {
        let out = tokio::process::Command::new(strata_bin())
            .args(["serve", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(["--meta-peers", "1=127.0.0.1:1,2=127.0.0.1:2"])
            .args(roles)
            .env_remove("STRATA_CLUSTER_SECRET_FILE")
            .output()
            .await?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("cluster-secret-file"), "{err}");
    }
    // A secret too short to be one is refused without being repeated.
    let short = dir.path().join("short");
    std::fs::write(&short, "hunter2\n")?;
    let out = tokio::process::Command::new(strata_bin())
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--cluster-secret-file"])
        .arg(&short)
        .output()
        .await?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("at least 32") && !err.contains("hunter2"),
        "{err}"
    );
    Ok(())
}

/// The issue's forged append, sent by a member (with the secret): a fake leader far ahead, whose
/// previous entry conflicts with one already committed. openraft's core can fail on such a
/// message; the voter then must not linger half-alive (`/readyz` `200`, no writes for good): it
/// either refuses the message and stays ready, or stops with an error so that its supervisor
/// restarts it, and restarted it catches up. The cluster keeps committing throughout.
#[tokio::test]
async fn a_forged_append_from_a_member_never_leaves_a_voter_half_alive() -> anyhow::Result<()> {
    let mut c = Cluster::start(3, 1, "").await?;
    let api = c.ingest_api(0);
    api.create_topic("t", 1, json!({})).await?;
    let leader = c.leader().await?;
    let victim = (leader + 1) % 3;
    let term = c.status().await?["quorum"]["term"].as_u64().unwrap_or(1);
    let forged = json!({
        "vote": {"leader_id": {"term": term + 2000, "node_id": 77}, "committed": true},
        "prev_log_id": {"leader_id": {"term": term + 1000, "node_id": 77}, "index": 2},
        "entries": [],
        "leader_commit": {"leader_id": {"term": term + 2000, "node_id": 77}, "index": 2}
    });
    let voter = c.voters[victim].api();
    let (s, b) = post(
        &voter,
        "/internal/raft/append",
        Some(SECRET),
        forged.to_string(),
    )
    .await?;
    eprintln!("forged append answered {s}: {b}");
    if b.to_string().contains("Fatal") {
        // openraft's core failed on it: the process stops at once, with an error.
        let exit = c.voters[victim].wait_exit(Duration::from_secs(30)).await?;
        assert!(!exit.success(), "{exit:?}");
        let log = c.voters[victim].log_text();
        assert!(log.contains("Raft core failed"), "{log}");
        let placed = api.produce("t", "all", &[json!({"value": 1})]).await?;
        assert!(
            placed[0].offset.is_some(),
            "the other two voters still commit"
        );
        // Restarted by its supervisor, it recovers from its storage and follows the leader.
        c.voters[victim].restart().await?;
    }
    strata_tests::eventually(Duration::from_secs(30), "the voter to serve", || async {
        let ready = voter.get("/readyz").await.ok()?.0 == 200;
        let status = voter.get("/v1/cluster").await.ok()?.1;
        let follows = status["quorum"]["leader"].as_u64() == Some(leader as u64 + 1);
        (ready && follows).then_some(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}; its log:\n{}", c.voters[victim].tail_log()))?;
    let placed = api.produce("t", "all", &[json!({"value": 2})]).await?;
    assert!(placed[0].offset.is_some(), "the quorum still commits");
    Ok(())
}
