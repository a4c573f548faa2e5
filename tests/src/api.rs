//! A typed client of the HTTP API for tests.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// A record as a test produced it, with where it landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produced {
    /// Partition.
    pub partition: u32,
    /// Offset (`None` without `acks=all`).
    pub offset: Option<i64>,
}

/// An API client.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    /// Sent as `Authorization` with every request.
    authorization: Option<String>,
}

impl Api {
    /// Waits until this node sees `topic` (nodes read the quorum's applied state).
    pub async fn sees_topic(&self, topic: &str) -> anyhow::Result<()> {
        crate::eventually(
            std::time::Duration::from_secs(30),
            "the topic to be visible",
            || async {
                (self.get(&format!("/v1/topics/{topic}")).await.ok()?.0 == 200).then_some(())
            },
        )
        .await
    }

    /// Targets `base` (`http://HOST:PORT`).
    pub fn new(base: &str) -> Self {
        Self::over(
            base,
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .expect("client builds"),
        )
    }

    /// Targets `base`, sending `Authorization: {authorization}` with every request.
    pub fn authorized(base: &str, authorization: &str) -> Self {
        Self::new(base).with_authorization(authorization)
    }

    /// The same client, sending `Authorization: {authorization}` with every request.
    pub fn with_authorization(mut self, authorization: &str) -> Self {
        self.authorization = Some(authorization.to_string());
        self
    }

    /// Targets `base` with a client made elsewhere (one that trusts a test CA, say).
    pub fn over(base: &str, http: reqwest::Client) -> Self {
        Self {
            http,
            base: base.to_string(),
            authorization: None,
        }
    }

    /// Starts a request to `path` on this node.
    pub(crate) fn start(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.authorization {
            Some(a) => r.header(reqwest::header::AUTHORIZATION, a),
            None => r,
        }
    }

    /// Sends a request; returns status and JSON body (Null when empty).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<String>,
    ) -> anyhow::Result<(u16, Value, reqwest::header::HeaderMap)> {
        let mut req = self.start(method, path);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await?;
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?
        };
        Ok((status, v, headers))
    }

    /// Sends a request with extra headers; returns status and JSON body (Null when empty).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> anyhow::Result<(u16, Value)> {
        // A request's own Authorization replaces the client's.
        let mut req = if headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            self.http.request(method, format!("{}{path}", self.base))
        } else {
            self.start(method, path)
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?
        };
        Ok((status, v))
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let (s, v, _) = self.send(reqwest::Method::GET, path, None, None).await?;
        Ok((s, v))
    }

    /// POSTs JSON to `path`.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let (s, v, _) = self
            .send(
                reqwest::Method::POST,
                path,
                Some("application/json"),
                Some(body.to_string()),
            )
            .await?;
        Ok((s, v))
    }

    /// Creates a topic, failing unless it is created.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        config: Value,
    ) -> anyhow::Result<Value> {
        let (s, v) = self
            .post(
                "/v1/topics",
                &json!({"name": name, "partitions": partitions, "config": config}),
            )
            .await?;
        if s != 201 {
            bail!("create topic {name}: {s} {v}");
        }
        Ok(v)
    }

    /// Produces `records` (record objects) and returns where each landed.
    pub async fn produce(
        &self,
        topic: &str,
        acks: &str,
        records: &[Value],
    ) -> anyhow::Result<Vec<Produced>> {
        let (s, v) = self
            .post(
                &format!("/v1/topics/{topic}/records?acks={acks}"),
                &json!({ "records": records }),
            )
            .await?;
        if s != 200 {
            bail!("produce to {topic}: {s} {v}");
        }
        Ok(v["offsets"]
            .as_array()
            .context("offsets")?
            .iter()
            .map(|o| Produced {
                partition: o["partition"].as_u64().unwrap_or(u64::MAX) as u32,
                offset: o["offset"].as_i64(),
            })
            .collect())
    }

    /// Returns the high watermark of each partition.
    pub async fn high_watermarks(&self, topic: &str) -> anyhow::Result<Vec<i64>> {
        let (s, v) = self.get(&format!("/v1/topics/{topic}")).await?;
        if s != 200 {
            bail!("describe {topic}: {s} {v}");
        }
        Ok(v["partitions"]
            .as_array()
            .context("partitions")?
            .iter()
            .map(|p| p["high_watermark"].as_i64().unwrap_or(-1))
            .collect())
    }

    /// Reads every record of a partition from `from` to the high watermark.
    pub async fn fetch_all(
        &self,
        topic: &str,
        partition: u32,
        format: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut next = 0i64;
        loop {
            let (s, v) = self
                .get(&format!(
                    "/v1/topics/{topic}/partitions/{partition}/records?offset={next}&max_records=5000&format={format}"
                ))
                .await?;
            if s != 200 {
                bail!("fetch {topic}/{partition} at {next}: {s} {v}");
            }
            let records = v["records"].as_array().context("records")?;
            out.extend(records.iter().cloned());
            next = v["next_offset"].as_i64().context("next_offset")?;
            if next >= v["high_watermark"].as_i64().context("high_watermark")? {
                return Ok(out);
            }
            if records.is_empty() {
                bail!("no progress at offset {next}");
            }
        }
    }

    /// Reads `/metrics` into name -> value.
    pub async fn metrics(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        let text = self
            .start(reqwest::Method::GET, "/metrics")
            .send()
            .await?
            .text()
            .await?;
        Ok(strata_core::stats::parse_text(&text))
    }
}
