//! Writer identity and fencing (issue 17): every process start gets an incarnation no other
//! process had, node ids are names that two live processes never share, and a fenced process
//! changes nothing that was acknowledged.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use serde_json::{Value, json};
use strata_tests::load::{check_acknowledged, produce_requests};
use strata_tests::{Cluster, Node, eventually};

/// The writer folders (`segments/<incarnation>/`) of the cluster's bucket.
async fn segment_writers(store: &dyn ObjectStore) -> anyhow::Result<BTreeSet<String>> {
    let mut writers = BTreeSet::new();
    let mut list = store.list(Some(&Path::from("c/segments")));
    while let Some(meta) = list.next().await {
        let key = meta?.location.to_string();
        let writer = key.split('/').nth(2).unwrap_or_default().to_string();
        writers.insert(writer);
    }
    Ok(writers)
}

/// The first case: two ingest nodes started without `--node-id` took id 1, gave 40
/// acknowledged records offsets already given to others, and wrote the same object keys.
#[tokio::test]
async fn two_ingest_nodes_without_node_ids_share_no_offset_and_no_object_key() -> anyhow::Result<()>
{
    let c = Cluster::start(1, 0, "").await?;
    let a = Node::start(c.node_options("ingest", None)).await?;
    let b = Node::start(c.node_options("ingest", None)).await?;
    let (api_a, api_b) = (a.api(), b.api());
    api_a.create_topic("t", 3, json!({})).await?;
    api_b.sees_topic("t").await?;
    let (from_a, from_b) = tokio::join!(
        produce_requests(&api_a, "t", 1, 20, 50),
        produce_requests(&api_b, "t", 2, 20, 50)
    );
    assert_eq!(from_a.len(), 1000, "every request to a was acknowledged");
    assert_eq!(from_b.len(), 1000, "every request to b was acknowledged");
    let mut acked = from_a;
    acked.extend(from_b);
    let mut places = BTreeSet::new();
    for (id, p, o) in &acked {
        assert!(
            places.insert((*p, o.expect("acks=all has offsets"))),
            "{id:?} got an offset already acknowledged to another record"
        );
    }
    let seen_a = check_acknowledged(&api_a, "t", 3, &acked).await?;
    let seen_b = check_acknowledged(&api_b, "t", 3, &acked).await?;
    assert_eq!(seen_a, seen_b, "both nodes return the same records");
    assert_eq!(seen_a.len(), 2000);
    let store = c.s3.store("cluster")?;
    assert_eq!(
        segment_writers(store.as_ref()).await?.len(),
        2,
        "each process ships under its own incarnation"
    );
    let cluster = c.status().await?;
    let incarnations: BTreeSet<u64> = cluster["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["roles"] == json!(["ingest"]))
        .filter_map(|n| n["incarnation"].as_u64())
        .collect();
    assert_eq!(incarnations.len(), 2, "{cluster}");
    Ok(())
}

/// A replacement started while the old process still runs (the classic zombie writer) lost or
/// changed all 393 acknowledged records: now it is refused at start.
#[tokio::test]
async fn a_second_live_process_with_the_same_node_id_is_refused_with_exit_2() -> anyhow::Result<()>
{
    let c = Cluster::start(1, 0, "").await?;
    let a = Node::start(c.node_options("ingest", Some(11))).await?;
    let mut opts = c.node_options("ingest", Some(11));
    opts.wait_ready = false;
    let mut b = Node::start(opts).await?;
    let status = b.wait_exit(Duration::from_secs(60)).await?;
    assert_eq!(status.code(), Some(2), "{}", b.log_text());
    let log = b.log_text();
    let a_addr = a.url().trim_start_matches("http://").to_string();
    assert!(
        log.contains("node id 11 is in use by a live process at") && log.contains(&a_addr),
        "the refusal names the id and where the other one runs: {log}"
    );
    assert!(!log.contains("Error {"), "no Debug output: {log}");
    // The first process is untouched.
    a.api().create_topic("t", 1, json!({})).await?;
    let acked = produce_requests(&a.api(), "t", 1, 3, 10).await;
    assert_eq!(acked.len(), 30);
    Ok(())
}

#[tokio::test]
async fn a_second_process_on_the_same_data_directory_is_refused_with_exit_2() -> anyhow::Result<()>
{
    let c = Cluster::start(1, 0, "").await?;
    let a = Node::start(c.node_options("ingest", None)).await?;
    let mut opts = c.node_options("ingest", None);
    opts.wait_ready = false;
    opts.data_dir = Some(a.data_dir().to_path_buf());
    let mut b = Node::start(opts).await;
    // The second process may fail before it listens; either way it exits 2.
    if let Ok(b) = b.as_mut() {
        let status = b.wait_exit(Duration::from_secs(60)).await?;
        assert_eq!(status.code(), Some(2), "{}", b.log_text());
        assert!(b.log_text().contains("is in use by another strata process"));
    } else {
        let e = b.expect_err("failed").to_string();
        assert!(e.contains("is in use by another strata process"), "{e}");
    }
    a.api().create_topic("t", 1, json!({})).await?;
    Ok(())
}

/// A process paused long enough for its node id to be taken comes back fenced: its staged
/// request is never committed, it stops, and every acknowledged record is where it was.
#[tokio::test]
async fn a_paused_process_whose_node_id_was_taken_is_fenced_and_changes_nothing()
-> anyhow::Result<()> {
    let c = Cluster::start(1, 0, "").await?;
    let mut a = Node::start(c.node_options("ingest", Some(11))).await?;
    let api_a = a.api();
    api_a.create_topic("t", 2, json!({})).await?;
    let mut acked = produce_requests(&api_a, "t", 1, 5, 20).await;
    assert_eq!(acked.len(), 100);
    a.signal("STOP")?;
    // A request the paused process takes in: never acknowledged, never stored.
    let zombie = {
        let api = api_a.clone();
        tokio::spawn(async move {
            let records = vec![json!({"key": "zombie", "value": {"w": 9, "n": 0}})];
            api.produce("t", "all", &records).await
        })
    };
    let voter = c.voters[0].api();
    eventually(
        Duration::from_secs(60),
        "the paused process to be shown not alive",
        || async {
            let (_, s) = voter.get("/v1/cluster").await.ok()?;
            let nodes = s["nodes"].as_array()?.clone();
            nodes
                .iter()
                .any(|n| n["name"] == json!(11) && n["alive"] == json!(false))
                .then_some(())
        },
    )
    .await?;
    let b = Node::start(c.node_options("ingest", Some(11))).await?;
    let api_b = b.api();
    api_b.sees_topic("t").await?;
    acked.extend(produce_requests(&api_b, "t", 2, 5, 20).await);
    assert_eq!(acked.len(), 200);
    a.signal("CONT")?;
    let status = a.wait_exit(Duration::from_secs(60)).await?;
    assert!(!status.success(), "a fenced process stops with an error");
    assert!(
        a.log_text().contains("fenced"),
        "it says it was fenced: {}",
        a.tail_log()
    );
    let answer = zombie.await?;
    assert!(
        answer.is_err(),
        "the zombie's request was not acknowledged: {answer:?}"
    );
    acked.extend(produce_requests(&api_b, "t", 3, 2, 20).await);
    let stored = check_acknowledged(&api_b, "t", 2, &acked).await?;
    assert_eq!(
        stored.len(),
        240,
        "nothing but the acknowledged records is stored"
    );
    assert!(
        !stored.values().any(|id| id.0 == 9),
        "the zombie's record never landed"
    );
    Ok(())
}

/// A clean stop frees the node id at once, so a replacement on a new (wiped) data directory
/// starts without waiting; a nameless node on a new directory starts as it always did.
#[tokio::test]
async fn a_node_id_is_free_as_soon_as_its_process_stops_cleanly() -> anyhow::Result<()> {
    let c = Cluster::start(1, 0, "").await?;
    let mut a = Node::start(c.node_options("ingest", Some(11))).await?;
    a.api().create_topic("t", 1, json!({})).await?;
    let mut acked = produce_requests(&a.api(), "t", 1, 2, 10).await;
    assert!(a.terminate().await?.success());
    let b = Node::start(c.node_options("ingest", Some(11))).await?;
    acked.extend(produce_requests(&b.api(), "t", 2, 2, 10).await);
    let stored = check_acknowledged(&b.api(), "t", 1, &acked).await?;
    assert_eq!(stored.len(), 40);
    let (_, s) = b.api().get("/v1/cluster").await?;
    let named: Vec<&Value> = s["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["name"] == json!(11))
        .collect();
    assert_eq!(named.len(), 2, "{s}");
    assert!(
        named.iter().any(|n| n["status"]["state"] == "retired"),
        "the first process retired: {s}"
    );
    Ok(())
}
