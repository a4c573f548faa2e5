//! HTTPS on `--listen` (issue 20), with certificates `openssl` makes for each test: the API
//! over TLS, client certificates that authenticate as the principal they name (mTLS),
//! certificates rotated in place without a restart, the CLI with `--ca-file`, and a cluster
//! whose members call each other over HTTPS.

use std::time::Duration;

use serde_json::{Value, json};
use strata_tests::cluster::Cluster;
use strata_tests::pki::{Issued, Pki};
use strata_tests::{Api, Node, NodeOptions, eventually};

const BOOTSTRAP: &str = "bootstrap-token-for-tls-tests-0123456789";

/// A node serving HTTPS with `server`, authentication on, and client certificates of `pki`'s
/// CA authenticating.
async fn https_node(pki: &Pki, server: &Issued) -> anyhow::Result<Node> {
    let token = strata_tests::file_once("bootstrap-token", &format!("{BOOTSTRAP}\n"));
    let mut opts = NodeOptions::default();
    for (flag, path) in [
        ("--tls-cert-file", &server.cert),
        ("--tls-key-file", &server.key),
        ("--tls-client-ca-file", &pki.ca()),
        ("--auth-bootstrap-token-file", &token),
    ] {
        opts.args
            .extend([flag.to_string(), path.display().to_string()]);
    }
    opts.tls_ca = Some(pki.ca());
    Node::start(opts).await
}

/// A client that trusts `pki`'s CA and presents `identity`, if any.
fn client(pki: &Pki, identity: Option<&Issued>) -> anyhow::Result<reqwest::Client> {
    let ca = reqwest::Certificate::from_pem_bundle(&std::fs::read(pki.ca())?)?;
    let mut b = reqwest::Client::builder()
        .tls_certs_only(ca)
        .tls_info(true)
        .timeout(Duration::from_secs(30));
    if let Some(id) = identity {
        b = b.identity(reqwest::Identity::from_pem(&id.identity_pem()?)?);
    }
    Ok(b.build()?)
}

async fn produce(api: &Api, topic: &str) -> anyhow::Result<(u16, Value)> {
    api.post(
        &format!("/v1/topics/{topic}/records"),
        &json!({"records": [{"value": {"n": 1}}]}),
    )
    .await
}

#[tokio::test]
async fn the_api_is_served_over_https_only() -> anyhow::Result<()> {
    let pki = Pki::new("ca")?;
    let node = https_node(&pki, &pki.server("server")?).await?;
    assert!(node.url().starts_with("https://127.0.0.1:"));
    let root = Api::over(&node.url(), client(&pki, None)?)
        .with_authorization(&format!("Bearer {BOOTSTRAP}"));
    root.create_topic("t", 1, json!({})).await?;
    let acked = root
        .produce("t", "all", &[json!({"value": "over tls"})])
        .await?;
    assert_eq!(acked[0].offset, Some(0));
    let records = root.fetch_all("t", 0, "json").await?;
    assert_eq!(records[0]["value"], json!("over tls"), "{records:?}");

    // Anonymous over HTTPS: 401 in the documented shape.
    let anonymous = Api::over(&node.url(), client(&pki, None)?);
    let (s, v) = produce(&anonymous, "t").await?;
    assert_eq!((s, v["error_code"].clone()), (401, json!(40101)), "{v}");

    // A client that does not trust the CA does not get through the handshake.
    let untrusting = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let e = untrusting
        .get(format!("{}/healthz", node.url()))
        .send()
        .await
        .expect_err("the node's certificate is not in the system's roots");
    assert!(e.is_connect(), "{e:?}");

    // Plain HTTP to the HTTPS port gets no answer from the API.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let r = plain
        .get(node.url().replacen("https://", "http://", 1) + "/v1/topics")
        .send()
        .await;
    assert!(
        r.as_ref().map(|r| !r.status().is_success()).unwrap_or(true),
        "{r:?}"
    );

    // The CLI speaks HTTPS with --ca-file (the harness sets STRATA_CA_FILE) and fails
    // without it.
    let (ok, out, err) = node
        .cli(&["topic", "list", "--token", BOOTSTRAP, "--json"], None)
        .await?;
    assert!(ok, "{err}");
    assert!(out.contains("\"t\""), "{out}");
    let out = tokio::process::Command::new(strata_tests::strata_bin())
        .args(["topic", "list", "--url", &node.url(), "--token", BOOTSTRAP])
        .env_remove("STRATA_CA_FILE")
        .output()
        .await?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(4),
        "unreachable without the CA: {err}"
    );
    assert!(!err.contains(BOOTSTRAP), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_client_certificate_authenticates_as_the_principal_it_names() -> anyhow::Result<()> {
    let pki = Pki::new("ca")?;
    let node = https_node(&pki, &pki.server("server")?).await?;
    let root = Api::over(&node.url(), client(&pki, None)?)
        .with_authorization(&format!("Bearer {BOOTSTRAP}"));
    for t in ["alices", "other"] {
        root.create_topic(t, 1, json!({})).await?;
    }
    let (s, v) = root
        .post(
            "/v1/acls",
            &json!({"principal": "alice", "resource": "topic", "name": "alices",
                    "pattern": "literal", "operations": ["write", "describe"], "permission": "allow"}),
        )
        .await?;
    assert_eq!(s, 201, "{v}");

    let alice = Api::over(&node.url(), client(&pki, Some(&pki.client("alice")?))?);
    let (s, v) = produce(&alice, "alices").await?;
    assert_eq!(s, 200, "alice's certificate, alice's ACL: {v}");
    let (s, v) = produce(&alice, "other").await?;
    assert_eq!((s, v["error_code"].clone()), (403, json!(40301)), "{v}");
    let (s, v) = alice.get("/v1/topics").await?;
    assert_eq!(s, 200, "{v}");
    let listed: Vec<&str> = v["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(listed, vec!["alices"], "{v}");

    // A certificate of another principal, with no ACLs: authenticated, and refused.
    let bob = Api::over(&node.url(), client(&pki, Some(&pki.client("bob")?))?);
    let (s, v) = produce(&bob, "alices").await?;
    assert_eq!((s, v["error_code"].clone()), (403, json!(40301)), "{v}");

    // The Authorization header wins over the certificate: bob's cert, bootstrap's token.
    let (s, v) = produce(
        &Api::over(&node.url(), client(&pki, Some(&pki.client("bob")?))?)
            .with_authorization(&format!("Bearer {BOOTSTRAP}")),
        "other",
    )
    .await?;
    assert_eq!(s, 200, "{v}");

    // A certificate that names the bootstrap principal is no superuser.
    let fake_root = Api::over(&node.url(), client(&pki, Some(&pki.client("bootstrap")?))?);
    let (s, v) = produce(&fake_root, "other").await?;
    assert_eq!(s, 401, "{v}");

    // A certificate another CA signed does not get through the handshake.
    let rogue = Pki::new("rogue")?;
    let mallory = client(&pki, Some(&rogue.client("alice")?))?;
    let r = mallory
        .post(format!("{}/v1/topics/alices/records", node.url()))
        .json(&json!({"records": [{"value": 1}]}))
        .send()
        .await;
    assert!(r.is_err(), "a rogue CA's certificate was accepted: {r:?}");
    let hw = root.high_watermarks("alices").await?;
    assert_eq!(hw, vec![1], "only alice's one record landed");
    Ok(())
}

/// The DER of the certificate a new connection to `node` is served.
async fn served(pki: &Pki, node: &Node) -> anyhow::Result<Vec<u8>> {
    let r = client(pki, None)?
        .get(format!("{}/healthz", node.url()))
        .send()
        .await?;
    let info = r
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .map(<[u8]>::to_vec);
    info.ok_or_else(|| anyhow::anyhow!("no TLS info"))
}

#[tokio::test]
async fn certificates_rotated_in_place_are_served_without_a_restart() -> anyhow::Result<()> {
    let pki = Pki::new("ca")?;
    let first = pki.server("first")?;
    // The node serves copies, which the test rewrites as an operator's rotation would.
    let dir = tempfile::tempdir()?;
    let live = Issued {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::copy(&first.cert, &live.cert)?;
    std::fs::copy(&first.key, &live.key)?;
    let node = https_node(&pki, &live).await?;
    assert_eq!(served(&pki, &node).await?, first.der()?);

    // A half-done rotation (a new certificate, the old key) keeps the old pair serving.
    let second = pki.server("second")?;
    std::fs::copy(&second.cert, &live.cert)?;
    eventually(
        Duration::from_secs(15),
        "the node to say the files do not load",
        || async { node.tail_log().contains("do not load").then_some(()) },
    )
    .await?;
    assert_eq!(served(&pki, &node).await?, first.der()?);

    // With its key in place too, new connections get the new certificate.
    std::fs::copy(&second.key, &live.key)?;
    let expected = second.der()?;
    eventually(
        Duration::from_secs(15),
        "the new certificate to be served",
        || async { (served(&pki, &node).await.ok()? == expected).then_some(()) },
    )
    .await?;
    assert!(node.tail_log().contains("serving the new TLS certificate"));
    Ok(())
}

#[tokio::test]
async fn a_cluster_whose_members_call_each_other_over_https() -> anyhow::Result<()> {
    let pki = Pki::new("ca")?;
    let cluster = Cluster::start_over_https(3, 1, "", &pki).await?;
    let api = cluster.ingest[0].api();
    api.create_topic("t", 2, json!({})).await?;
    let records: Vec<Value> = (0..20)
        .map(|i| json!({"key": format!("k{i}"), "value": i}))
        .collect();
    let acked = api.produce("t", "all", &records).await?;
    assert_eq!(acked.len(), 20);
    let hw = api.high_watermarks("t").await?;
    assert_eq!(hw.iter().sum::<i64>(), 20, "{hw:?}");
    // Every voter follows the leader over HTTPS: the same applied state everywhere.
    let leader = cluster.leader().await?;
    let want = cluster.applied_index(leader).await?;
    for i in 0..3 {
        eventually(Duration::from_secs(15), "a voter to catch up", || async {
            (cluster.applied_index(i).await.ok()? >= want).then_some(())
        })
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_client_that_stalls_the_handshake_delays_only_itself() -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let pki = Pki::new("ca")?;
    let server = pki.server("server")?;
    let mut opts = NodeOptions::default();
    for (flag, path) in [
        ("--tls-cert-file", &server.cert),
        ("--tls-key-file", &server.key),
    ] {
        opts.args
            .extend([flag.to_string(), path.display().to_string()]);
    }
    opts.args
        .extend(["--set".to_string(), "http.header-timeout=1s".to_string()]);
    opts.tls_ca = Some(pki.ca());
    let node = Node::start(opts).await?;
    let addr = node.url().trim_start_matches("https://").to_string();
    // 32 connections that never start the handshake, and one that sends half a ClientHello.
    let mut stalled = Vec::new();
    for _ in 0..32 {
        stalled.push(tokio::net::TcpStream::connect(&addr).await?);
    }
    let mut half = tokio::net::TcpStream::connect(&addr).await?;
    tokio::io::AsyncWriteExt::write_all(&mut half, &[0x16, 0x03, 0x01, 0x02, 0x00]).await?;
    stalled.push(half);
    // Meanwhile a normal client is served.
    let api = node.api();
    api.create_topic("t", 1, json!({})).await?;
    assert_eq!(produce(&api, "t").await?.0, 200);
    // And every stalled connection is closed by the node, not left open.
    let started = tokio::time::Instant::now();
    for mut s in stalled {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
            .await
            .map_err(|_| anyhow::anyhow!("a stalled handshake was still open after 20 s"))?;
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
    println!("stalled handshakes closed after {:?}", started.elapsed());
    Ok(())
}
