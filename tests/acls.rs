//! Tokens and ACLs (issue 20): principals made by the API, each doing only what its ACLs
//! allow on every route, refusals that say nothing of what exists, and revocation and expiry
//! that reach every node; every node here serves HTTPS with certificates made for the test.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::cluster::Cluster;
use strata_tests::v2::{V2, V2Client};
use strata_tests::{Api, Node, NodeOptions, eventually};

const BOOTSTRAP: &str = "bootstrap-token-for-tests-0123456789abcdef";

/// The bootstrap token's file (one per test process).
fn bootstrap_file() -> std::path::PathBuf {
    strata_tests::file_once("bootstrap-token", &format!("{BOOTSTRAP}\n"))
}

/// `opts` with authentication on, serving HTTPS (a certificate of this process's test CA,
/// whose client certificates authenticate too).
fn with_auth(mut opts: NodeOptions) -> NodeOptions {
    let pki = strata_tests::pki::shared();
    if opts.tls_ca.is_none() {
        let (args, ca) = strata_tests::pki::https(pki).expect("openssl makes certificates");
        opts.args.extend(args);
        opts.tls_ca = Some(ca);
    }
    opts.args.extend([
        "--auth-bootstrap-token-file".to_string(),
        bootstrap_file().display().to_string(),
        "--tls-client-ca-file".to_string(),
        pki.ca().display().to_string(),
    ]);
    opts
}

fn admin(node: &Node) -> Api {
    node.authorized(&format!("Bearer {BOOTSTRAP}"))
}

/// Makes a token for `principal` through the API; returns (id, token).
async fn token_for(
    admin: &Api,
    principal: &str,
    expires_in_s: Option<u64>,
) -> anyhow::Result<(String, String)> {
    let (s, v) = admin
        .post(
            "/v1/tokens",
            &json!({"principal": principal, "expires_in_s": expires_in_s}),
        )
        .await?;
    anyhow::ensure!(s == 201, "token for {principal}: {s} {v}");
    assert_eq!(v["principal"], json!(principal));
    let token = v["token"].as_str().unwrap_or_default().to_string();
    assert!(token.starts_with("strata_"), "{v}");
    Ok((v["id"].as_str().unwrap_or_default().to_string(), token))
}

/// Adds an ACL; returns its id.
async fn acl(admin: &Api, spec: Value) -> anyhow::Result<String> {
    let (s, v) = admin.post("/v1/acls", &spec).await?;
    anyhow::ensure!(s == 201, "ACL {spec}: {s} {v}");
    Ok(v["id"].as_str().unwrap_or_default().to_string())
}

fn acl_of(
    principal: &str,
    resource: &str,
    name: &str,
    pattern: &str,
    ops: &[&str],
    permission: &str,
) -> Value {
    json!({"principal": principal, "resource": resource, "name": name, "pattern": pattern,
           "operations": ops, "permission": permission})
}

async fn send(
    api: &Api,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    api.request(
        method,
        path,
        &[("content-type", "application/json")],
        body.map(|b| b.to_string()),
    )
    .await
}

/// A `403` in the documented shape.
fn forbidden(what: &str, (status, body): &(u16, Value)) {
    assert_eq!(*status, 403, "{what}: {body}");
    assert_eq!(body["error_code"], json!(40301), "{what}: {body}");
    assert!(body["message"].is_string(), "{what}: {body}");
}

fn names(v: &Value) -> Vec<String> {
    v["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_principal_does_only_what_its_acls_allow() -> anyhow::Result<()> {
    let node = Node::start(with_auth(NodeOptions::default())).await?;
    let root = admin(&node);
    for t in ["orders", "other", "logs.app", "logs.secret"] {
        root.create_topic(t, 1, json!({})).await?;
    }
    let (id, token) = token_for(&root, "alice", None).await?;
    let alice = node.authorized(&format!("Bearer {token}"));
    // Listed without secrets.
    let (s, listed) = root.get("/v1/tokens").await?;
    assert_eq!(s, 200, "{listed}");
    assert_eq!(listed["tokens"][0]["id"], json!(id));
    assert!(
        listed["tokens"][0].get("token").is_none() && listed["tokens"][0].get("hash").is_none()
    );
    assert!(!listed.to_string().contains(&token));

    // No ACLs: nothing but empty listings.
    let (s, v) = alice.get("/v1/topics").await?;
    assert_eq!((s, names(&v)), (200, Vec::<String>::new()), "{v}");
    forbidden(
        "produce without ACLs",
        &send(
            &alice,
            Method::POST,
            "/v1/topics/orders/records",
            Some(json!({"records": [{"value": 1}]})),
        )
        .await?,
    );

    acl(
        &root,
        acl_of("alice", "topic", "orders", "literal", &["write"], "allow"),
    )
    .await?;
    acl(
        &root,
        acl_of("alice", "topic", "logs.", "prefixed", &["read"], "allow"),
    )
    .await?;
    acl(
        &root,
        acl_of("alice", "topic", "logs.secret", "literal", &["all"], "deny"),
    )
    .await?;

    let produce = json!({"records": [{"value": 1}]});
    let (s, v) = send(
        &alice,
        Method::POST,
        "/v1/topics/orders/records",
        Some(produce.clone()),
    )
    .await?;
    assert_eq!((s, &v["offsets"][0]["offset"]), (200, &json!(0)), "{v}");
    forbidden(
        "produce elsewhere",
        &send(
            &alice,
            Method::POST,
            "/v1/topics/other/records",
            Some(produce.clone()),
        )
        .await?,
    );
    // A topic that does not exist is refused the same way: a refusal tells nothing.
    let ghost = send(
        &alice,
        Method::POST,
        "/v1/topics/ghost/records",
        Some(produce.clone()),
    )
    .await?;
    forbidden("produce to a missing topic", &ghost);
    forbidden(
        "fetch without read",
        &send(
            &alice,
            Method::GET,
            "/v1/topics/orders/partitions/0/records?offset=0",
            None,
        )
        .await?,
    );
    forbidden(
        "create",
        &send(
            &alice,
            Method::POST,
            "/v1/topics",
            Some(json!({"name": "mine"})),
        )
        .await?,
    );
    forbidden(
        "delete",
        &send(&alice, Method::DELETE, "/v1/topics/orders", None).await?,
    );
    forbidden(
        "alter",
        &send(
            &alice,
            Method::PATCH,
            "/v1/topics/orders/config",
            Some(json!({"retention.ms": "1000"})),
        )
        .await?,
    );
    // Prefixed read; deny beats allow.
    root.produce("logs.app", "all", &[json!({"value": "a"})])
        .await?;
    root.produce("logs.secret", "all", &[json!({"value": "s"})])
        .await?;
    let (s, v) = alice
        .get("/v1/topics/logs.app/partitions/0/records?offset=0")
        .await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["records"][0]["value"], json!("a"), "{v}");
    forbidden(
        "deny beats allow",
        &send(
            &alice,
            Method::GET,
            "/v1/topics/logs.secret/partitions/0/records?offset=0",
            None,
        )
        .await?,
    );
    // Listings show what the principal may describe (write and read imply describe).
    let (_, v) = alice.get("/v1/topics").await?;
    assert_eq!(names(&v), vec!["logs.app", "orders"], "{v}");
    let r = V2Client::over(alice.clone()).get("/topics").await?;
    assert_eq!(r.json, json!(["logs.app", "orders"]), "{r:?}");
    // No way up: tokens, ACLs, metrics and the cluster are the cluster's.
    for (m, p, b) in [
        (Method::GET, "/v1/tokens", None),
        (
            Method::POST,
            "/v1/tokens",
            Some(json!({"principal": "alice"})),
        ),
        (Method::GET, "/v1/acls", None),
        (
            Method::POST,
            "/v1/acls",
            Some(acl_of(
                "alice",
                "cluster",
                "cluster",
                "literal",
                &["all"],
                "allow",
            )),
        ),
        (Method::GET, "/metrics", None),
        (Method::GET, "/v1/cluster", None),
    ] {
        forbidden(p, &send(&alice, m, p, b).await?);
    }
    // Bad requests are refused in the documented shape.
    let (s, v) = root
        .post(
            "/v1/acls",
            &acl_of("alice", "topic", "t", "literal", &["wrte"], "allow"),
        )
        .await?;
    assert_eq!((s, &v["error_code"]), (400, &json!(40001)), "{v}");
    let (s, v) = root
        .post("/v1/tokens", &json!({"principal": "a:b"}))
        .await?;
    assert_eq!(s, 422, "{v}");
    let (s, v) = send(&root, Method::DELETE, "/v1/acls/acl-99", None).await?;
    assert_eq!((s, &v["error_code"]), (404, &json!(40406)), "{v}");

    let m = root.metrics().await?;
    assert!(
        m.get("strata_access_denied_total")
            .is_some_and(|n| *n >= 12.0),
        "{m:?}"
    );
    let log = node.log_text();
    assert!(
        log.contains("denied") && log.contains("acl.create") && log.contains("token.create"),
        "{log}"
    );
    assert!(
        !log.contains(&token) && !log.contains(BOOTSTRAP),
        "a credential in the log"
    );
    Ok(())
}

#[tokio::test]
async fn every_route_is_closed_to_a_principal_without_acls() -> anyhow::Result<()> {
    let node = Node::start(with_auth(NodeOptions::default())).await?;
    let root = admin(&node);
    root.create_topic("t", 1, json!({})).await?;
    let (_, token) = token_for(&root, "nobody", None).await?;
    let nobody = node.authorized(&format!("Bearer {token}"));
    let produce = json!({"records": [{"value": 1}]});
    let commit = json!({"offsets": [{"topic": "t", "partition": 0, "offset": 0}]});
    let routes = |topic: &'static str| -> Vec<(Method, String, Option<Value>)> {
        vec![
            (Method::GET, format!("/v1/topics/{topic}"), None),
            (Method::DELETE, format!("/v1/topics/{topic}"), None),
            (
                Method::PATCH,
                format!("/v1/topics/{topic}/config"),
                Some(json!({"retention.ms": "1"})),
            ),
            (
                Method::POST,
                format!("/v1/topics/{topic}/records"),
                Some(produce.clone()),
            ),
            (Method::POST, format!("/v1/topics/{topic}/compact"), None),
            (Method::POST, format!("/v1/topics/{topic}/archive"), None),
            (
                Method::GET,
                format!("/v1/topics/{topic}/partitions/0/records?offset=0"),
                None,
            ),
            (
                Method::GET,
                format!("/v1/topics/{topic}/partitions/0/extents"),
                None,
            ),
            (
                Method::POST,
                "/v1/topics".to_string(),
                Some(json!({"name": topic})),
            ),
            (
                Method::POST,
                "/v1/groups/g/offsets".to_string(),
                Some(commit.clone()),
            ),
            (Method::GET, "/v1/groups/g/offsets".to_string(), None),
            (Method::GET, format!("/topics/{topic}"), None),
            (
                Method::POST,
                format!("/topics/{topic}"),
                Some(produce.clone()),
            ),
            (Method::GET, format!("/topics/{topic}/partitions"), None),
            (Method::GET, format!("/topics/{topic}/partitions/0"), None),
            (
                Method::POST,
                format!("/topics/{topic}/partitions/0"),
                Some(produce.clone()),
            ),
            (
                Method::GET,
                format!("/topics/{topic}/partitions/0/offsets"),
                None,
            ),
            (Method::GET, "/brokers".to_string(), None),
            (Method::POST, "/consumers/g".to_string(), Some(json!({}))),
            (Method::DELETE, "/consumers/g/instances/i".to_string(), None),
            (
                Method::POST,
                "/consumers/g/instances/i/subscription".to_string(),
                Some(json!({"topics": [topic]})),
            ),
            (
                Method::GET,
                "/consumers/g/instances/i/subscription".to_string(),
                None,
            ),
            (
                Method::DELETE,
                "/consumers/g/instances/i/subscription".to_string(),
                None,
            ),
            (
                Method::POST,
                "/consumers/g/instances/i/assignments".to_string(),
                Some(json!({"partitions": []})),
            ),
            (
                Method::GET,
                "/consumers/g/instances/i/assignments".to_string(),
                None,
            ),
            (
                Method::POST,
                "/consumers/g/instances/i/positions".to_string(),
                Some(json!({"offsets": []})),
            ),
            (
                Method::POST,
                "/consumers/g/instances/i/positions/beginning".to_string(),
                Some(json!({"partitions": []})),
            ),
            (
                Method::POST,
                "/consumers/g/instances/i/positions/end".to_string(),
                Some(json!({"partitions": []})),
            ),
            (
                Method::GET,
                "/consumers/g/instances/i/records".to_string(),
                None,
            ),
            (
                Method::GET,
                format!("/consumers/g/instances/i/topics/{topic}"),
                None,
            ),
            (
                Method::POST,
                "/consumers/g/instances/i/offsets".to_string(),
                None,
            ),
            (
                Method::GET,
                "/consumers/g/instances/i/offsets".to_string(),
                None,
            ),
            (Method::GET, "/v1/tokens".to_string(), None),
            (
                Method::POST,
                "/v1/tokens".to_string(),
                Some(json!({"principal": "x"})),
            ),
            (Method::DELETE, "/v1/tokens/tok-1".to_string(), None),
            (Method::GET, "/v1/acls".to_string(), None),
            (
                Method::POST,
                "/v1/acls".to_string(),
                Some(acl_of("x", "topic", "t", "literal", &["read"], "allow")),
            ),
            (Method::DELETE, "/v1/acls/acl-1".to_string(), None),
            (Method::GET, "/metrics".to_string(), None),
            (Method::GET, "/v1/cluster".to_string(), None),
        ]
    };
    // The same answer whether the topic exists or not.
    for (existing, missing) in routes("t").into_iter().zip(routes("ghost")) {
        let a = send(&nobody, existing.0.clone(), &existing.1, existing.2).await?;
        forbidden(&format!("{} {}", existing.0, existing.1), &a);
        let (status, mut body) = send(&nobody, missing.0.clone(), &missing.1, missing.2).await?;
        body["message"] = json!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .replace("ghost", "t")
        );
        assert_eq!(
            a,
            (status, body),
            "{} {} and {}",
            existing.0,
            existing.1,
            missing.1
        );
    }
    // Listings are open and show nothing.
    for (path, empty) in [
        ("/v1/topics", json!({"topics": []})),
        ("/v1/groups", json!({"groups": []})),
        ("/topics", json!([])),
    ] {
        let (s, v) = nobody.get(path).await?;
        assert_eq!((s, v), (200, empty), "{path}");
    }
    // Its own credentials still count: a wrong token is a 401, not a 403.
    let wrong = node.authorized("Bearer strata_not-a-token");
    assert_eq!(wrong.get("/v1/topics").await?.0, 401);
    Ok(())
}

#[tokio::test]
async fn basic_credentials_carry_a_rest_proxy_v2_consumer_flow() -> anyhow::Result<()> {
    let node = Node::start(with_auth(NodeOptions::default())).await?;
    let root = admin(&node);
    root.create_topic("t", 1, json!({})).await?;
    root.create_topic("other", 1, json!({})).await?;
    let (_, token) = token_for(&root, "alice", None).await?;
    acl(
        &root,
        acl_of(
            "alice",
            "topic",
            "t",
            "literal",
            &["read", "write"],
            "allow",
        ),
    )
    .await?;
    acl(
        &root,
        acl_of("alice", "group", "g", "literal", &["read"], "allow"),
    )
    .await?;
    let basic = |principal: &str| {
        use base64::Engine;
        let pair = format!("{principal}:{token}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let v2 = V2Client::over(node.authorized(&basic("alice")));
    let r = v2
        .call(
            Method::POST,
            "/topics/t",
            &[
                ("content-type", "application/vnd.kafka.json.v2+json"),
                ("accept", V2),
            ],
            Some(&json!({"records": [{"value": {"n": 1}}]}).to_string()),
        )
        .await?;
    assert_eq!(
        (r.status, &r.json["offsets"][0]["offset"]),
        (200, &json!(0)),
        "{r:?}"
    );
    v2.create_consumer(
        "g",
        json!({"name": "c1", "format": "json", "auto.offset.reset": "earliest"}),
    )
    .await?;
    v2.subscribe("g", "c1", &["t"]).await?;
    let got = eventually(
        Duration::from_secs(30),
        "alice's consumer to read the record",
        || async {
            let records = v2
                .records("g", "c1", "application/vnd.kafka.json.v2+json", 500)
                .await
                .ok()?;
            (!records.is_empty()).then_some(records)
        },
    )
    .await?;
    assert_eq!(got[0]["value"], json!({"n": 1}), "{got:?}");
    let r = v2
        .post("/consumers/g/instances/c1/offsets", &json!({}))
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    // Another topic, another group: refused.
    let r = v2
        .post(
            "/consumers/g/instances/c1/subscription",
            &json!({"topics": ["other"]}),
        )
        .await?;
    assert_eq!((r.status, r.code()), (403, Some(40301)), "{r:?}");
    let r = v2.post("/consumers/g2", &json!({"name": "c1"})).await?;
    assert_eq!((r.status, r.code()), (403, Some(40301)), "{r:?}");
    // Basic names the token's principal, or is refused.
    let mallory = V2Client::over(node.authorized(&basic("mallory")));
    assert_eq!(mallory.get("/topics").await?.status, 401);
    Ok(())
}

#[tokio::test]
async fn revocation_and_expiry_reach_every_ingest_node_within_seconds() -> anyhow::Result<()> {
    let cluster = Cluster::start_over_https(1, 0, "", strata_tests::pki::shared()).await?;
    let a = Node::start(with_auth(cluster.node_options("ingest", None))).await?;
    let b = Node::start(with_auth(cluster.node_options("ingest", None))).await?;
    let root = admin(&a);
    root.create_topic("t", 1, json!({})).await?;
    let (carol_id, carol) = token_for(&root, "carol", None).await?;
    let (_, bob) = token_for(&root, "bob", Some(3)).await?;
    acl(
        &root,
        acl_of("*", "topic", "*", "literal", &["write"], "allow"),
    )
    .await?;
    let produce = json!({"records": [{"value": 1}]});
    for token in [&carol, &bob] {
        // The token and the ACL, made on node a a moment ago, work at once on node b: what
        // b's copy does not hold refreshes it before a refusal.
        let on_b = b.authorized(&format!("Bearer {token}"));
        let (s, v) = send(
            &on_b,
            Method::POST,
            "/v1/topics/t/records",
            Some(produce.clone()),
        )
        .await?;
        assert_eq!(s, 200, "{v}");
    }
    let (s, _) = send(
        &root,
        Method::DELETE,
        &format!("/v1/tokens/{carol_id}"),
        None,
    )
    .await?;
    assert_eq!(s, 204);
    let started = tokio::time::Instant::now();
    for token in [&carol, &bob] {
        let on_b = b.authorized(&format!("Bearer {token}"));
        eventually(
            Duration::from_secs(15),
            "node b to refuse the token",
            || async {
                let (s, _) = send(
                    &on_b,
                    Method::POST,
                    "/v1/topics/t/records",
                    Some(produce.clone()),
                )
                .await
                .ok()?;
                (s == 401).then_some(())
            },
        )
        .await?;
    }
    println!(
        "revoked and expired tokens refused on the other node after {:?}",
        started.elapsed()
    );
    // And both are gone from the listing.
    let (_, v) = root.get("/v1/tokens").await?;
    assert_eq!(v["tokens"], json!([]), "{v}");
    drop(cluster);
    Ok(())
}

#[tokio::test]
async fn the_cli_makes_tokens_and_acls() -> anyhow::Result<()> {
    let node = Node::start(with_auth(NodeOptions::default())).await?;
    node.cli(&["topic", "create", "t", "--token", BOOTSTRAP], None)
        .await?;
    let (ok, out, err) = node
        .cli(
            &[
                "token",
                "create",
                "dave",
                "--expires-in",
                "600",
                "--token",
                BOOTSTRAP,
            ],
            None,
        )
        .await?;
    assert!(ok, "{err}");
    let token = out.trim().to_string();
    assert!(
        token.starts_with("strata_") && err.contains("shown only now"),
        "{out} {err}"
    );
    let (ok, _, err) = node
        .cli(
            &[
                "acl",
                "add",
                "--principal",
                "dave",
                "--resource",
                "topic",
                "--name",
                "t",
                "--operations",
                "write,read",
                "--token",
                BOOTSTRAP,
            ],
            None,
        )
        .await?;
    assert!(ok, "{err}");
    let (ok, out, err) = node
        .cli(&["acl", "list", "--json", "--token", BOOTSTRAP], None)
        .await?;
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out)?;
    assert_eq!(v["acls"][0]["operations"], json!(["write", "read"]), "{v}");
    let (ok, out, err) = node
        .cli(
            &["produce", "t", "--value", "hello", "--token", &token],
            None,
        )
        .await?;
    assert!(ok, "{out} {err}");
    let (ok, _, err) = node
        .cli(&["topic", "delete", "t", "--token", &token], None)
        .await?;
    assert!(!ok && err.contains("may not delete"), "{err}");
    let (ok, out, _) = node
        .cli(&["token", "list", "--token", BOOTSTRAP], None)
        .await?;
    assert!(ok && out.contains("dave") && !out.contains(&token), "{out}");
    let (ok, _, err) = node
        .cli(&["token", "revoke", "tok-1", "--token", BOOTSTRAP], None)
        .await?;
    assert!(ok, "{err}");
    let (ok, _, err) = node
        .cli(&["acl", "remove", "acl-1", "--token", BOOTSTRAP], None)
        .await?;
    assert!(ok, "{err}");
    Ok(())
}

/// A P-256 key, and the JWKS that publishes it.
fn jwt_key(kid: &str) -> (aws_lc_rs::signature::EcdsaKeyPair, Value) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("a key");
    let point = pair.public_key().as_ref().to_vec();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
        "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..])});
    (pair, jwk)
}

/// An ES256 JWT of `claims`, signed by `pair`.
fn sign_jwt(pair: &aws_lc_rs::signature::EcdsaKeyPair, kid: &str, claims: &Value) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
    let signed = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = pair
        .sign(&aws_lc_rs::rand::SystemRandom::new(), signed.as_bytes())
        .expect("signs");
    format!("{signed}.{}", B64.encode(sig.as_ref()))
}

#[tokio::test]
async fn jwts_signed_by_the_jwks_authenticate_their_subject() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (key, jwk) = jwt_key("k1");
    let (stranger, _) = jwt_key("k1");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [jwk]}).to_string())?;
    let mut opts = with_auth(NodeOptions::default());
    opts.args.extend([
        "--auth-jwks-file".to_string(),
        jwks.display().to_string(),
        "--auth-jwt-issuer".to_string(),
        "https://idp.test".to_string(),
        "--auth-jwt-audience".to_string(),
        "strata".to_string(),
    ]);
    let node = Node::start(opts).await?;
    let root = admin(&node);
    root.create_topic("t", 1, json!({})).await?;
    root.create_topic("u", 1, json!({})).await?;
    acl(
        &root,
        acl_of("erin", "topic", "t", "literal", &["write"], "allow"),
    )
    .await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let claims = |exp: i64, aud: &str| json!({"iss": "https://idp.test", "aud": aud, "sub": "erin", "exp": exp, "iat": now});
    let produce = json!({"records": [{"value": 1}]});
    let as_jwt = |jwt: &str| node.authorized(&format!("Bearer {jwt}"));
    let valid = sign_jwt(&key, "k1", &claims(now + 600, "strata"));
    let (s, v) = send(
        &as_jwt(&valid),
        Method::POST,
        "/v1/topics/t/records",
        Some(produce.clone()),
    )
    .await?;
    assert_eq!(s, 200, "{v}");
    forbidden(
        "the subject's ACLs apply",
        &send(
            &as_jwt(&valid),
            Method::POST,
            "/v1/topics/u/records",
            Some(produce.clone()),
        )
        .await?,
    );
    for (what, jwt, reason) in [
        (
            "expired",
            sign_jwt(&key, "k1", &claims(now - 120, "strata")),
            "expired",
        ),
        (
            "wrong audience",
            sign_jwt(&key, "k1", &claims(now + 600, "other")),
            "audience",
        ),
        (
            "wrong key",
            sign_jwt(&stranger, "k1", &claims(now + 600, "strata")),
            "signature",
        ),
    ] {
        let (s, v) = send(
            &as_jwt(&jwt),
            Method::POST,
            "/v1/topics/t/records",
            Some(produce.clone()),
        )
        .await?;
        assert_eq!((s, &v["error_code"]), (401, &json!(40101)), "{what}: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| m.contains(reason)),
            "{what}: {v}"
        );
    }
    let log = node.log_text();
    assert!(
        !log.contains(&valid) && !log.contains(&valid[valid.len() - 20..]),
        "a JWT in the log"
    );
    Ok(())
}
