//! A small HTTP client for the command line.

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::output::{ApiFailure, Unreachable};

/// Talks to one node.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// Targets the node of `target`, with its token if it has one.
    pub(crate) fn new(target: &crate::Target) -> anyhow::Result<Self> {
        Self::speaking(target, false)
    }

    /// Targets the node of `target`; with `http1`, over HTTP/1.1 only (no HTTP/2 over TLS).
    pub(crate) fn speaking(target: &crate::Target, http1: bool) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &target.token {
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                .map_err(|_| anyhow::anyhow!("--token: not a valid token (printable ASCII)"))?;
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let mut http = reqwest::Client::builder().default_headers(headers);
        if http1 {
            http = http.http1_only();
        }
        if let Some(pem) = target.ca_pem()? {
            http = http.tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem)?);
        }
        Ok(Self {
            http: http.build()?,
            base: target.url.trim_end_matches('/').to_string(),
        })
    }

    /// Returns the underlying HTTP client and base URL.
    pub(crate) fn parts(&self) -> (&reqwest::Client, &str) {
        (&self.http, &self.base)
    }

    /// Sends a request and returns the JSON body of a success, or the API's message.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        Self::read(resp).await
    }

    /// The error for a request that never got an answer.
    pub(crate) fn unreachable(&self, e: &reqwest::Error) -> Unreachable {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = format!("{reason}: {s}");
            source = s.source();
        }
        Unreachable {
            url: self.base.clone(),
            reason,
        }
    }

    /// Reads a response: the JSON body of a success, or the API's error.
    pub(crate) async fn read(resp: reqwest::Response) -> anyhow::Result<Value> {
        let status = resp.status();
        let text = resp.text().await.context("cannot read the response")?;
        if status.is_success() {
            if status == StatusCode::NO_CONTENT || text.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).context("the response is not JSON");
        }
        let v = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
        Err(ApiFailure {
            status: status.as_u16(),
            code: v["error_code"].as_i64().unwrap_or(0),
            message: v["message"]
                .as_str()
                .map_or_else(|| format!("{status}: {text}"), str::to_string),
        }
        .into())
    }
}
