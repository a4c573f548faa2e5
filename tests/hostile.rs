//! Limits against hostile clients (issue 20): slow headers, slow bodies and connection floods
//! delay only the clients that send them, on a real node over real sockets.

use std::time::Duration;

use serde_json::json;
use strata_tests::{Node, NodeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn node(settings: &[&str]) -> anyhow::Result<Node> {
    let mut opts = NodeOptions::default();
    for s in settings {
        opts.args.extend(["--set".to_string(), s.to_string()]);
    }
    Node::start(opts).await
}

fn addr(node: &Node) -> String {
    node.url().trim_start_matches("http://").to_string()
}

/// A node with `settings` and topic `t` (one partition); its API and its `host:port`.
async fn node_with_topic(settings: &[&str]) -> anyhow::Result<(Node, strata_tests::Api, String)> {
    let node = node(settings).await?;
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    let target = addr(&node);
    Ok((node, api, target))
}

/// Reads until the node closes the connection (or `within` passes); returns what it sent.
async fn until_closed(s: &mut TcpStream, within: Duration) -> anyhow::Result<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("the connection was still open after {within:?}"))?;
    Ok(String::from_utf8_lossy(&got).into_owned())
}

/// The case: 64 connections sending their headers one byte at a time stayed open for
/// 40 s and more. Now each is closed once the header deadline passes, and a normal client is
/// served meanwhile.
#[tokio::test]
async fn connections_that_trickle_their_headers_are_closed_and_others_are_served()
-> anyhow::Result<()> {
    let (_node, api, target) = node_with_topic(&["http.header-timeout=1s"]).await?;
    let mut tricklers = Vec::new();
    for _ in 0..64 {
        let target = target.clone();
        tricklers.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&target).await?;
            let head = format!("POST /v1/topics/t/records HTTP/1.1\r\nhost: {target}\r\n");
            let started = tokio::time::Instant::now();
            for b in head.bytes() {
                if s.write_all(&[b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                if started.elapsed() > Duration::from_secs(20) {
                    anyhow::bail!("still sending after 20 s");
                }
            }
            until_closed(&mut s, Duration::from_secs(10)).await?;
            Ok::<_, anyhow::Error>(started.elapsed())
        }));
    }
    // Meanwhile the node serves everyone else at once.
    for i in 0..20 {
        let placed = api.produce("t", "all", &[json!({"value": i})]).await?;
        assert_eq!(placed[0].offset, Some(i), "{placed:?}");
    }
    for t in tricklers {
        let open_for = t.await??;
        assert!(
            open_for < Duration::from_secs(10),
            "a trickling connection stayed open {open_for:?}"
        );
    }
    Ok(())
}

/// The case: 6 clients trickling 64 MiB bodies at 200 B/s held the receive budget, and
/// every normal produce meanwhile got `503` (0 of 80). Now bodies count against the budget as
/// they arrive, so normal produces go through, and the trickled ones are refused with `408`
/// once they fall behind the minimum rate.
#[tokio::test]
async fn bodies_that_trickle_hold_nothing_and_are_refused_with_408() -> anyhow::Result<()> {
    let (_node, api, target) =
        node_with_topic(&["http.body-timeout=2s", "http.min-body-rate=1KiB"]).await?;
    let mut tricklers = Vec::new();
    for _ in 0..6 {
        let target = target.clone();
        tricklers.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&target).await?;
            let head = format!(
                "POST /v1/topics/t/records HTTP/1.1\r\nhost: {target}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                64u64 << 20
            );
            s.write_all(head.as_bytes()).await?;
            s.write_all(b"{\"records\": [").await?;
            let (mut read, mut write) = s.into_split();
            let trickle = tokio::spawn(async move {
                for _ in 0..150 {
                    if write.write_all(b"{\"value\": 1},").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(60)).await;
                }
            });
            let mut buf = vec![0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(15), read.read(&mut buf)).await??;
            trickle.abort();
            Ok::<_, anyhow::Error>(String::from_utf8_lossy(&buf[..n]).into_owned())
        }));
    }
    // The budget is not held by what has not arrived: 80 of 80 normal produces succeed.
    for i in 0..80 {
        let placed = api.produce("t", "all", &[json!({"value": i})]).await?;
        assert_eq!(placed[0].offset, Some(i), "{placed:?}");
    }
    for t in tricklers {
        let answer = t.await??;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"error_code\":40801"), "{answer}");
        assert!(answer.contains("too slowly"), "{answer}");
    }
    assert_eq!(
        api.high_watermarks("t").await?,
        vec![80],
        "nothing of the trickled bodies was stored"
    );
    Ok(())
}

/// Beyond `max-connections`, ordinary requests get `503` at once (no timeout), while
/// `/readyz`, `/healthz` and `/metrics` are still answered on the reserved connections; once
/// the flood goes, produce works again.
#[tokio::test]
async fn a_connection_flood_leaves_health_and_metrics_answering() -> anyhow::Result<()> {
    let node = node(&[
        "http.max-connections=16",
        "http.reserved-connections=8",
        "http.header-timeout=60s",
    ])
    .await?;
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    let target = addr(&node);
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(&target).await?);
    }
    // A fresh client (its own connection) is refused with the documented JSON error.
    let fresh = strata_tests::Api::new(&node.url());
    let started = tokio::time::Instant::now();
    let (s, b, _) = strata_tests::eventually(
        Duration::from_secs(10),
        "the node to count the idle connections",
        || async {
            let r = fresh
                .send(
                    reqwest::Method::POST,
                    "/v1/topics/t/records",
                    Some("application/json"),
                    Some(json!({"records": [{"value": 1}]}).to_string()),
                )
                .await
                .ok()?;
            (r.0 == 503).then_some(r)
        },
    )
    .await?;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(b["error_code"], json!(50301), "{b}");
    assert!(
        s == 503
            && b["message"]
                .as_str()
                .unwrap_or_default()
                .contains("connections")
    );
    // One more connection, for what operators watch the node with.
    let watcher = reqwest::Client::new();
    for path in ["/readyz", "/healthz", "/metrics"] {
        let r = watcher.get(format!("{}{path}", node.url())).send().await?;
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    drop(idle);
    let placed =
        strata_tests::eventually(Duration::from_secs(10), "produce to work again", || async {
            strata_tests::Api::new(&node.url())
                .produce("t", "all", &[json!({"value": 2})])
                .await
                .ok()
        })
        .await?;
    assert_eq!(
        placed[0].offset,
        Some(0),
        "the refused produce stored nothing"
    );
    Ok(())
}

/// The case: the REST Proxy `base_uri` trusted any client's `X-Forwarded-Host` and
/// `X-Forwarded-Proto`, so a client could make the node hand out links to a host of its
/// choosing. Now they count only from `http.trusted-proxies`.
#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() -> anyhow::Result<()> {
    let base_uri = |node: &Node, group: &'static str| {
        let api = node.api();
        async move {
            let (s, b) = api
                .request(
                    reqwest::Method::POST,
                    &format!("/consumers/{group}"),
                    &[
                        ("content-type", "application/vnd.kafka.v2+json"),
                        ("x-forwarded-host", "evil.example"),
                        ("x-forwarded-proto", "https"),
                    ],
                    Some(json!({"name": "c", "format": "json"}).to_string()),
                )
                .await?;
            anyhow::ensure!(s == 200, "{b}");
            Ok::<_, anyhow::Error>(b["base_uri"].as_str().unwrap_or_default().to_string())
        }
    };
    let open = node(&[]).await?;
    let uri = base_uri(&open, "g").await?;
    assert!(
        uri.starts_with(&format!("{}/consumers/g/", open.url())),
        "an untrusted client's forwarded host is ignored: {uri}"
    );
    let behind = Node::start(NodeOptions {
        config: Some("[http]\ntrusted-proxies = [\"127.0.0.0/8\"]\n".to_string()),
        ..NodeOptions::default()
    })
    .await?;
    let uri = base_uri(&behind, "g").await?;
    assert_eq!(uri, "https://evil.example/consumers/g/instances/c");
    Ok(())
}
