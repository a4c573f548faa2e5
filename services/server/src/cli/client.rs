//! A small HTTP client for the command line.

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Talks to one node.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// Targets the node at `url`.
    pub fn new(url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: url.trim_end_matches('/').to_string(),
        }
    }

    /// Returns the underlying HTTP client and base URL.
    pub fn parts(&self) -> (&reqwest::Client, &str) {
        (&self.http, &self.base)
    }

    /// Sends a request and returns the JSON body of a success, or the API's message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        Self::read(resp).await
    }

    /// Reads a response: the JSON body of a success, or the API's error message.
    pub async fn read(resp: reqwest::Response) -> anyhow::Result<Value> {
        let status = resp.status();
        let text = resp.text().await.context("cannot read the response")?;
        if status.is_success() {
            if status == StatusCode::NO_CONTENT || text.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).context("the response is not JSON");
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(v) if v.get("message").is_some() => bail!(
                "{} ({} {})",
                v["message"].as_str().unwrap_or_default(),
                status.as_u16(),
                v["error_code"]
            ),
            _ => bail!("{status}: {text}"),
        }
    }
}
