//! Request bodies against the receive budget: declared and unknown lengths.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use strata_tests::{Node, NodeOptions, eventually};

use super::opts_with_config;

#[tokio::test]
async fn bodies_being_received_are_bounded_and_the_excess_gets_503() -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let node = Node::start(opts_with_config(
        "[http]\nmax-buffered-request-bytes = \"10KiB\"\n",
    ))
    .await?;
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    // A slow client declares 8 KB and sends a little: it holds most of the 10 KiB budget.
    let mut slow = tokio::net::TcpStream::connect(node.url().trim_start_matches("http://")).await?;
    slow.write_all(b"POST /v1/topics/t/records HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 8000\r\n\r\n{\"records\": [").await?;
    eventually(
        Duration::from_secs(10),
        "the slow body to hold the budget",
        || {
            let api = api.clone();
            async move {
                let m = api.metrics().await.ok()?;
                (m.get("strata_produce_receiving_bytes")
                    .copied()
                    .unwrap_or(0.0)
                    >= 8000.0)
                    .then_some(())
            }
        },
    )
    .await?;
    let body = format!(r#"{{"records": [{{"value": "{}"}}]}}"#, "z".repeat(3000));
    let refused = eventually(
        Duration::from_secs(10),
        "a 503 while the slow body holds the budget",
        || {
            let (api, body) = (api.clone(), body.clone());
            async move {
                let r = api
                    .send(
                        Method::POST,
                        "/v1/topics/t/records",
                        Some("application/json"),
                        Some(body),
                    )
                    .await;
                let (s, v, h) = r.ok()?;
                (s == 503).then_some((v, h))
            }
        },
    )
    .await?;
    assert_eq!(refused.0["error_code"], json!(50301), "{}", refused.0);
    assert!(refused.1.contains_key("retry-after"));
    drop(slow);
    // Once the slow client is gone, the budget is back.
    eventually(Duration::from_secs(10), "the budget to come back", || {
        let (api, body) = (api.clone(), body.clone());
        async move {
            let (s, _, _) = api
                .send(
                    Method::POST,
                    "/v1/topics/t/records",
                    Some("application/json"),
                    Some(body),
                )
                .await
                .ok()?;
            (s == 200).then_some(())
        }
    })
    .await?;
    Ok(())
}

/// A produce body sent in chunks (no `Content-Length`, as Node.js's http module sends), held
/// open for a while: two chunks 300 ms apart.
fn chunked(records: String) -> reqwest::Body {
    let chunks: Vec<Vec<u8>> = vec![
        b"{\"records\": [".to_vec(),
        format!("{records}]}}").into_bytes(),
    ];
    let stream = futures::stream::unfold((0usize, chunks), |(i, chunks)| async move {
        if i >= chunks.len() {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let chunk = bytes::Bytes::from(chunks[i].clone());
        Some((Ok::<_, std::io::Error>(chunk), (i + 1, chunks)))
    });
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test]
async fn bodies_of_unknown_length_reserve_what_arrives_not_the_whole_limit() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("chunked", 1, json!({})).await?;
    // Twelve small chunked bodies at once: each used to reserve the whole 64 MiB request
    // limit of the 256 MiB budget, so the fifth and later were refused with 503.
    let http = reqwest::Client::new();
    let url = format!("{}/v1/topics/chunked/records", node.url());
    let sends = (0..12).map(|i| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .post(&url)
                .header("content-type", "application/json")
                .body(chunked(format!(r#"{{"value": "chunked {i}"}}"#)))
                .send()
                .await?;
            let status = r.status().as_u16();
            let text = r.text().await?;
            anyhow::Ok((status, text))
        }
    });
    for (status, text) in futures::future::try_join_all(sends).await? {
        assert_eq!(status, 200, "{text}");
    }
    assert_eq!(api.high_watermarks("chunked").await?, [12]);
    // A chunked body grows its reservation only while the budget has room: with 200 KiB, a
    // slow client that sent 99 KB of its body and paused (a reservation grows as a body
    // arrives, to 128 KiB here), and a chunked body growing past the 72 KiB left, the growth
    // is refused with 503 and nothing is stored.
    use tokio::io::AsyncWriteExt;
    let small = Node::start(opts_with_config(
        "[http]\nmax-buffered-request-bytes = \"200KiB\"\n",
    ))
    .await?;
    let sapi = small.api();
    sapi.create_topic("t", 1, json!({})).await?;
    let mut slow =
        tokio::net::TcpStream::connect(small.url().trim_start_matches("http://")).await?;
    slow.write_all(b"POST /v1/topics/t/records HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{\"records\": [").await?;
    slow.write_all(&[b' '; 99_000]).await?;
    eventually(
        Duration::from_secs(10),
        "the slow body to hold its budget",
        || {
            let sapi = sapi.clone();
            async move {
                let m = sapi.metrics().await.ok()?;
                (m.get("strata_produce_receiving_bytes")
                    .copied()
                    .unwrap_or(0.0)
                    >= 100_000.0)
                    .then_some(())
            }
        },
    )
    .await?;
    let r = http
        .post(format!("{}/v1/topics/t/records", small.url()))
        .header("content-type", "application/json")
        .body(chunked(format!(
            r#"{{"value": "{}"}}"#,
            "z".repeat(150_000)
        )))
        .send()
        .await?;
    let status = r.status().as_u16();
    let v: Value = serde_json::from_str(&r.text().await?)?;
    assert_eq!(
        (status, v["error_code"].clone()),
        (503, json!(50301)),
        "{v}"
    );
    drop(slow);
    assert_eq!(sapi.high_watermarks("t").await?, [0]);
    // Alone, a chunked body larger than the whole budget goes through once it holds all of it
    // (as a declared one does): no retry could ever find more room.
    eventually(
        Duration::from_secs(10),
        "a body larger than the budget to pass alone",
        || {
            let (http, url) = (http.clone(), format!("{}/v1/topics/t/records", small.url()));
            async move {
                let r = http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(chunked(format!(
                        r#"{{"value": "{}"}}"#,
                        "y".repeat(300_000)
                    )))
                    .send()
                    .await
                    .ok()?;
                (r.status().as_u16() == 200).then_some(())
            }
        },
    )
    .await?;
    assert_eq!(sapi.high_watermarks("t").await?, [1]);
    Ok(())
}
