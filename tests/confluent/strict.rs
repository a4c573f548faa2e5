//! Malformed requests refused strictly, with JSON errors, over raw connections.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use strata_tests::v2::{V2, V2Client};
use strata_tests::{Node, NodeOptions};

/// Sends raw bytes on a fresh connection and returns what came back until the server closed
/// it (or 10 s passed).
async fn raw_exchange(url: &str, request: &[u8]) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    // The server may answer and close before it read everything (an over-long head).
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The status line and the JSON body of a raw response.
fn raw_reply(text: &str) -> (String, Option<Value>) {
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (status, serde_json::from_str(body).ok())
}

#[tokio::test]
async fn malformed_requests_are_refused_strictly_with_json_errors() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("ok", 1, json!({})).await?;
    // serde takes a JSON array for a struct; we never do.
    for body in [
        r#"{"records": [["k2", null, {"a": 1}]]}"#,
        r#"[[["k1", null, "v1"]]]"#,
        r#"{"records": [{"value": "v", "headers": [["h", "x"]]}]}"#,
    ] {
        let (status, v, _) = api
            .send(
                Method::POST,
                "/v1/topics/ok/records",
                Some("application/json"),
                Some(body.to_string()),
            )
            .await?;
        assert_eq!(status, 400, "{body}: {v}");
        assert!(v["error_code"].is_u64() && v["message"].is_string(), "{v}");
    }
    assert_eq!(api.high_watermarks("ok").await?, [0], "nothing was stored");
    let (status, v) = api.post("/v1/topics", &json!(["name", 2])).await?;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        api.get("/v1/topics/name").await?.0,
        404,
        "no topic was created"
    );
    let v2 = V2Client::new(&node.url());
    let r = v2
        .post("/topics/ok", &json!([[BASE64.encode("k"), null]]))
        .await?;
    assert_eq!(r.status, 400, "{r:?}");
    let r = v2.post("/consumers/g", &json!(["name", "binary"])).await?;
    assert_eq!(r.status, 400, "{r:?}");

    // A path segment that is not UTF-8.
    for (method, path) in [
        (Method::GET, "/v1/topics/%FF"),
        (Method::POST, "/consumers/%FF"),
        (Method::GET, "/topics/%FF/partitions/0"),
    ] {
        let r = v2
            .call(
                method,
                path,
                &[("content-type", V2), ("accept", V2)],
                Some("{}"),
            )
            .await?;
        assert_eq!(r.status, 400, "{path}: {r:?}");
        assert!(
            r.code().is_some() && r.json["message"].is_string(),
            "{path}: {r:?}"
        );
    }
    // A query parameter of the wrong type.
    let r = v2
        .call(
            Method::GET,
            "/v1/topics/ok/partitions/0/records?offset=x",
            &[],
            None,
        )
        .await?;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.code().is_some(), "{r:?}");

    // `.` and `..` as group or instance names: their base_uri would leave /consumers/.
    // (Sent raw: an HTTP client library resolves dot segments before sending.)
    for group in [".", "..", "%2E", "%2e%2E"] {
        let text = raw_exchange(
            &node.url(),
            format!(
                "POST /consumers/{group} HTTP/1.1\r\nhost: x\r\ncontent-type: {V2}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            )
            .as_bytes(),
        )
        .await?;
        let (line, body) = raw_reply(&text);
        assert!(line.starts_with("HTTP/1.1 422"), "{group}: {text}");
        assert!(
            body.is_some_and(|b| b["error_code"].is_u64()),
            "{group}: {text}"
        );
    }
    let r = v2.post("/consumers/fine", &json!({"name": ".."})).await?;
    assert_eq!(r.status, 422, "{r:?}");

    // Committing the largest offset has no next offset: refused as too large, not wrapped.
    let inst = v2.create_consumer("c", json!({"name": "i"})).await?.json["base_uri"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = inst
        .strip_prefix(&node.url())
        .unwrap_or_default()
        .to_string();
    let r = v2
        .post(
            &format!("{path}/offsets"),
            &json!({"offsets": [{"topic": "ok", "partition": 0, "offset": i64::MAX}]}),
        )
        .await?;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.text.contains("too large"), "{r:?}");
    assert!(!r.text.contains("-9223372036854775808"), "{r:?}");

    // Transport-level refusals carry the JSON body too.
    let url = node.url();
    let huge_header = format!(
        "GET /v1/topics HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(600 << 10)
    );
    let long_uri = format!(
        "GET /v1/topics/{} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let many_headers = format!(
        "GET /v1/topics HTTP/1.1\r\nhost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect::<String>()
    );
    for (what, request, status) in [
        ("a 600 KiB header", huge_header.as_bytes(), "431"),
        ("a 70 kB URI", long_uri.as_bytes(), "414"),
        ("200 headers", many_headers.as_bytes(), "431"),
        ("a bad request line", &b"HELLO\r\n\r\n"[..], "400"),
        (
            "a bad header line",
            &b"GET / HTTP/1.1\r\nno colon here\r\n\r\n"[..],
            "400",
        ),
    ] {
        let text = raw_exchange(&url, request).await?;
        let (line, body) = raw_reply(&text);
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status}")),
            "{what}: {text}"
        );
        let body = body.ok_or_else(|| anyhow::anyhow!("{what}: no JSON body in {text:?}"))?;
        assert!(
            body["error_code"].is_u64() && body["message"].is_string(),
            "{what}: {body}"
        );
    }
    // The node still serves.
    assert_eq!(api.get("/v1/topics/ok").await?.0, 200);
    Ok(())
}
