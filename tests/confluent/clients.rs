//! Real REST Proxy clients unchanged: the v1 Node.js client's exact requests and Confluent's Node.js client examples.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use strata_tests::v2::V2Client;
use strata_tests::{Node, NodeOptions};

/// The requests Confluent's Node.js client (npm `kafka-rest` 0.0.5, API v1) sends, with its
/// exact headers and bodies, as its examples `console_producer.js` and
/// `console_consumer.js --format binary` drive it.
#[tokio::test]
async fn the_v1_node_client_produces_joins_reads_commits_and_leaves_unchanged() -> anyhow::Result<()>
{
    const ACCEPT_V1: &str =
        "application/vnd.kafka.v1+json, application/vnd.kafka+json; q=0.9, application/json; q=0.8";
    const V1: &str = "application/vnd.kafka.v1+json";
    const UA: &str = "kafka-rest-node/undefined";
    let node = Node::start(NodeOptions::default()).await?;
    node.api().create_topic("lines", 2, json!({})).await?;
    let v2 = V2Client::new(&node.url());
    let v1_post = |path: String, body: Option<String>| {
        let v2 = v2.clone();
        async move {
            v2.call(
                Method::POST,
                &path,
                &[
                    ("user-agent", UA),
                    ("accept", ACCEPT_V1),
                    ("content-type", V1),
                ],
                body.as_deref(),
            )
            .await
        }
    };
    // console_producer.js --format binary: Topic.produce(line) per line, binary as base64,
    // `partition: null` in every record.
    let mut sent = Vec::new();
    for i in 0..6 {
        let line = format!("line {i}");
        let body =
            json!({"records": [{"value": BASE64.encode(&line), "key": null, "partition": null}]});
        let r = v1_post("/topics/lines".into(), Some(body.to_string())).await?;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.content_type.as_deref(), Some(V1), "{r:?}");
        assert!(r.json["offsets"][0]["offset"].is_u64(), "{r:?}");
        sent.push(line);
    }
    // --partition 1: Partition.produce, no partition field at all.
    let body = json!({"records": [{"value": BASE64.encode("line p1"), "key": BASE64.encode("k")}]});
    let r = v1_post("/topics/lines/partitions/1".into(), Some(body.to_string())).await?;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["offsets"][0]["partition"], json!(1), "{r:?}");
    sent.push("line p1".into());

    // console_consumer.js --format binary --from-beginning: join, then read the topic
    // through the v1 route with the binary v1 type until every line came back.
    let r = v1_post(
        "/consumers/console-consumer-4242".into(),
        Some(json!({"format": "binary", "auto.offset.reset": "smallest"}).to_string()),
    )
    .await?;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.content_type.as_deref(), Some(V1), "{r:?}");
    let base_uri = r.json["base_uri"].as_str().unwrap_or_default().to_string();
    let path = base_uri
        .strip_prefix(&node.url())
        .ok_or_else(|| anyhow::anyhow!("base_uri {base_uri} is not on {}", node.url()))?
        .to_string();
    assert!(
        path.starts_with("/consumers/console-consumer-4242/instances/"),
        "{path}"
    );
    let mut got: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.len() < sent.len() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "read {got:?}");
        let r = v2
            .call(
                Method::GET,
                &format!("{path}/topics/lines"),
                &[
                    ("user-agent", UA),
                    ("accept", "application/vnd.kafka.binary.v1+json"),
                ],
                None,
            )
            .await?;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/vnd.kafka.binary.v1+json")
        );
        for m in r.json.as_array().cloned().unwrap_or_default() {
            // BinarySchema.decodeMessage reads key, value, partition and offset.
            assert!(m["partition"].is_u64() && m["offset"].is_u64(), "{m}");
            let value = BASE64.decode(m["value"].as_str().unwrap_or_default())?;
            got.push(String::from_utf8(value)?);
        }
    }
    got.sort();
    sent.sort();
    assert_eq!(got, sent);
    // ConsumerInstance.commit: POST .../offsets with no body.
    let r = v1_post(format!("{path}/offsets"), None).await?;
    assert_eq!(r.status, 200, "{r:?}");
    let committed = node
        .api()
        .get("/v1/groups/console-consumer-4242/offsets")
        .await?;
    assert_eq!(committed.0, 200, "{committed:?}");
    let total: i64 = committed.1["offsets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o["offset"].as_i64())
        .sum();
    assert_eq!(total, 7, "every record is committed: {committed:?}");
    // shutdown: DELETE the instance.
    let r = v2
        .call(
            Method::DELETE,
            &path,
            &[("user-agent", UA), ("accept", ACCEPT_V1)],
            None,
        )
        .await?;
    assert_eq!(r.status, 204, "{r:?}");
    // A v1 read of a topic that does not exist is Confluent's 40401.
    let r = v1_post(
        "/consumers/other".into(),
        Some(json!({"format": "binary"}).to_string()),
    )
    .await?;
    let inst = r.json["instance_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = v2
        .call(
            Method::GET,
            &format!("/consumers/other/instances/{inst}/topics/nope"),
            &[("accept", "application/vnd.kafka.binary.v1+json")],
            None,
        )
        .await?;
    assert_eq!((r.status, r.code()), (404, Some(40401)), "{r:?}");
    Ok(())
}

/// Runs a Node.js program with `stdin`; its exit status and standard output.
async fn node_js(
    dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> anyhow::Result<(bool, String)> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("node")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin.as_bytes()).await?;
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("node {args:?} did not finish in 60 s"))??;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// Confluent's own Node.js client (npm `kafka-rest` 0.0.5, hard-wired to API v1) with its two
/// shipped examples, unchanged. `scripts/test` installs it where Node.js is on the machine and
/// says so in `STRATA_NODE_CLIENTS`; without it this test says it did not run.
#[tokio::test]
async fn confluents_nodejs_client_examples_run_unchanged() -> anyhow::Result<()> {
    let Ok(dir) = std::env::var("STRATA_NODE_CLIENTS") else {
        eprintln!(
            "STRATA_NODE_CLIENTS is not set (no Node.js): the npm kafka-rest client was not run"
        );
        return Ok(());
    };
    let examples = std::path::Path::new(&dir).join("node_modules/kafka-rest/examples");
    anyhow::ensure!(examples.is_dir(), "{} is missing", examples.display());
    let node = Node::start(NodeOptions::default()).await?;
    node.api().create_topic("from-node", 3, json!({})).await?;
    let url = node.url();
    let lines: Vec<String> = (0..20).map(|i| format!("line {i} from node")).collect();
    let (ok, out) = node_js(
        &examples,
        &[
            "console_producer.js",
            "--url",
            &url,
            "--topic",
            "from-node",
            "--format",
            "binary",
        ],
        &(lines.join("\n") + "\n"),
    )
    .await?;
    assert!(ok && out.contains("Finished sending 20 messages"), "{out}");
    let (ok, out) = node_js(
        &examples,
        &[
            "console_consumer.js",
            "--url",
            &url,
            "--topic",
            "from-node",
            "--format",
            "binary",
            "--from-beginning",
            "--message-limit",
            "20",
        ],
        "",
    )
    .await?;
    assert!(ok && out.contains("Shutdown cleanly"), "{out}");
    let got: BTreeSet<&str> = out.lines().filter(|l| l.starts_with("line ")).collect();
    let want: BTreeSet<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(got, want, "{out}");
    // The instance was deleted when the consumer shut down: its group's offsets stay.
    let (_, groups) = node.api().get("/v1/groups").await?;
    assert!(groups.to_string().contains("console-consumer-"), "{groups}");
    Ok(())
}
