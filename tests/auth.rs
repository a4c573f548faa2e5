//! Authentication (issue 20): a node started with a bootstrap token answers only requests that
//! carry valid credentials, in the documented JSON shape, with nothing secret in its log.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::{Api, Node, NodeOptions, strata_bin};

const TOKEN: &str = "bootstrap-token-for-tests-0123456789abcdef";

async fn node_with_auth() -> anyhow::Result<(Node, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n"))?;
    let mut opts = NodeOptions::default();
    opts.args.extend([
        "--auth-bootstrap-token-file".to_string(),
        file.display().to_string(),
    ]);
    Ok((Node::start(opts).await?, dir))
}

async fn call(
    api: &Api,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    api.request(method, path, &headers, body.map(|b| b.to_string()))
        .await
}

/// Basic credentials: `principal` with the bootstrap token.
fn basic(principal: &str) -> String {
    let pair = format!("{principal}:{TOKEN}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A produce answered `200` with its one record at `offset`.
fn placed_at(status: u16, body: &Value, offset: i64) {
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offsets"][0]["offset"], json!(offset), "{body}");
}

fn refused(what: &str, (status, body): &(u16, Value)) {
    assert_eq!(*status, 401, "{what}: {body}");
    assert_eq!(body["error_code"], json!(40101), "{what}: {body}");
    assert!(body["message"].is_string(), "{what}: {body}");
}

#[tokio::test]
async fn without_valid_credentials_every_route_but_health_answers_401() -> anyhow::Result<()> {
    let (node, _dir) = node_with_auth().await?;
    let api = node.api();
    let bearer = format!("Bearer {TOKEN}");
    let wrong = "Bearer wrong-token-wrong-token-wrong-token-000";
    let produce = json!({"records": [{"value": 1}]});
    // Anonymous and wrong-token requests are refused, whatever they ask for.
    for auth in [None, Some(wrong), Some("Token abc"), Some("Basic !!!")] {
        refused(
            "create",
            &call(
                &api,
                Method::POST,
                "/v1/topics",
                auth,
                Some(json!({"name": "t"})),
            )
            .await?,
        );
        refused(
            "list",
            &call(&api, Method::GET, "/v1/topics", auth, None).await?,
        );
        refused(
            "produce",
            &call(
                &api,
                Method::POST,
                "/v1/topics/t/records",
                auth,
                Some(produce.clone()),
            )
            .await?,
        );
        refused(
            "cluster",
            &call(&api, Method::GET, "/v1/cluster", auth, None).await?,
        );
        refused(
            "metrics",
            &call(&api, Method::GET, "/metrics", auth, None).await?,
        );
        refused(
            "v2 topics",
            &call(&api, Method::GET, "/topics", auth, None).await?,
        );
        refused(
            "unknown",
            &call(&api, Method::GET, "/v1/nothing", auth, None).await?,
        );
    }
    let r = reqwest::Client::new()
        .get(format!("{}/v1/topics", node.url()))
        .send()
        .await?;
    let challenge = r.headers().get("www-authenticate").cloned();
    assert!(
        challenge.is_some_and(|c| c.to_str().unwrap_or_default().contains("Bearer")),
        "a 401 names the schemes"
    );
    // Health stays open for load balancers.
    assert_eq!(api.get("/healthz").await?.0, 200);
    assert_eq!(api.get("/readyz").await?.0, 200);
    // The bootstrap token is a superuser's: Bearer, and Basic as REST Proxy clients send it.
    let (s, b) = call(
        &api,
        Method::POST,
        "/v1/topics",
        Some(&bearer),
        Some(json!({"name": "t", "partitions": 1})),
    )
    .await?;
    assert_eq!(s, 201, "{b}");
    let (s, b) = call(
        &api,
        Method::POST,
        "/v1/topics/t/records",
        Some(&bearer),
        Some(produce.clone()),
    )
    .await?;
    placed_at(s, &b, 0);
    let bootstrap = basic("bootstrap");
    let (s, b) = api
        .request(
            Method::POST,
            "/topics/t",
            &[
                ("content-type", "application/vnd.kafka.json.v2+json"),
                ("authorization", &bootstrap),
            ],
            Some(json!({"records": [{"value": {"v": 2}}]}).to_string()),
        )
        .await?;
    placed_at(s, &b, 1);
    let wrong_principal = basic("alice");
    refused(
        "another principal's name",
        &call(
            &api,
            Method::GET,
            "/v1/topics",
            Some(&wrong_principal),
            None,
        )
        .await?,
    );
    let r = reqwest::Client::new()
        .get(format!("{}/metrics", node.url()))
        .header("authorization", &bearer)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let metrics = r.text().await?;
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("strata_auth_failures_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(failures.is_some_and(|n| n >= 28.0), "{failures:?}");
    // Every refusal is an audit line; no credential is in the log.
    let log = node.log_text();
    assert!(
        log.contains("strata::audit") && log.contains("unauthenticated"),
        "{log}"
    );
    assert!(
        !log.contains(TOKEN) && !log.contains("wrong-token"),
        "a credential in the log"
    );
    Ok(())
}

#[tokio::test]
async fn the_cli_authenticates_with_its_token() -> anyhow::Result<()> {
    let (node, _dir) = node_with_auth().await?;
    let run = |token: Option<&str>, args: &[&str]| {
        let mut cmd = tokio::process::Command::new(strata_bin());
        cmd.args(args)
            .env("STRATA_URL", node.url())
            .env_remove("STRATA_TOKEN");
        if let Some(t) = token {
            cmd.env("STRATA_TOKEN", t);
        }
        cmd.output()
    };
    let out = run(Some(TOKEN), &["topic", "create", "t", "--partitions", "2"]).await?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(Some(TOKEN), &["topic", "list", "--json"]).await?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"t\""));
    let out = run(None, &["topic", "list"]).await?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("requires authentication"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_node_reachable_beyond_this_host_without_authentication_refuses_to_start()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let out = tokio::process::Command::new(strata_bin())
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("STRATA_AUTH_BOOTSTRAP_TOKEN_FILE")
        .env_remove("STRATA_ALLOW_ANONYMOUS")
        .output()
        .await?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("authentication is off") && err.contains("--allow-anonymous"),
        "{err}"
    );
    Ok(())
}
