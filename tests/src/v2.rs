//! A client of the Confluent REST Proxy v2 API for tests, and shape comparison of JSON bodies.

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};

/// The v2 content type without embedded data.
pub const V2: &str = "application/vnd.kafka.v2+json";

/// A response: status, content type, raw body and the body as JSON (`Null` when empty).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The raw body.
    pub text: String,
    /// The body as JSON.
    pub json: Value,
}

impl Reply {
    /// The `error_code` of an error body.
    pub fn code(&self) -> Option<u64> {
        self.json["error_code"].as_u64()
    }
}

/// A v2 client of one node.
#[derive(Debug, Clone)]
pub struct V2Client {
    api: crate::Api,
}

impl V2Client {
    /// Targets `base` (`http://HOST:PORT`).
    pub fn new(base: &str) -> Self {
        Self {
            api: crate::Api::new(base),
        }
    }

    /// Speaks v2 over `api` (for example one with credentials).
    pub fn over(api: crate::Api) -> Self {
        Self { api }
    }

    /// Sends a request with exactly these headers and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let mut req = self.api.start(method, path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = r.text().await?;
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?
        };
        Ok(Reply {
            status,
            content_type,
            text,
            json,
        })
    }

    /// POSTs a v2 JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.call(
            Method::POST,
            path,
            &[("content-type", V2), ("accept", V2)],
            Some(&body.to_string()),
        )
        .await
    }

    /// GETs with `Accept: application/vnd.kafka.v2+json`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.call(Method::GET, path, &[("accept", V2)], None).await
    }

    /// Creates a consumer instance; fails unless it is created.
    pub async fn create_consumer(&self, group: &str, config: Value) -> anyhow::Result<Reply> {
        let r = self.post(&format!("/consumers/{group}"), &config).await?;
        anyhow::ensure!(r.status == 200, "create consumer in {group}: {r:?}");
        Ok(r)
    }

    /// Subscribes an instance to topics; fails unless it answers 204.
    pub async fn subscribe(
        &self,
        group: &str,
        instance: &str,
        topics: &[&str],
    ) -> anyhow::Result<()> {
        let r = self
            .post(
                &format!("/consumers/{group}/instances/{instance}/subscription"),
                &json!({ "topics": topics }),
            )
            .await?;
        anyhow::ensure!(r.status == 204, "subscribe {instance}: {r:?}");
        Ok(())
    }

    /// Fetches an instance's records with `accept` and a timeout (ms); fails unless 200.
    pub async fn records(
        &self,
        group: &str,
        instance: &str,
        accept: &str,
        timeout_ms: u64,
    ) -> anyhow::Result<Vec<Value>> {
        let r = self
            .call(
                Method::GET,
                &format!("/consumers/{group}/instances/{instance}/records?timeout={timeout_ms}"),
                &[("accept", accept)],
                None,
            )
            .await?;
        anyhow::ensure!(r.status == 200, "records of {instance}: {r:?}");
        r.json.as_array().cloned().context("records are a list")
    }
}

/// Parses JSON that may have trailing commas (several of Confluent's doc examples do).
pub fn lenient_json(text: &str) -> anyhow::Result<Value> {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut in_string = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 1;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if !matches!(next, Some('}') | Some(']')) {
                out.push(c);
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    serde_json::from_str(&out).with_context(|| format!("not JSON even leniently: {text}"))
}

/// Checks that `got` has the shape of `expected`: the same keys (plus `extra` keys, and any
/// keys under an object named in `maps`), the same JSON types, and every element of a list
/// shaped like the first element of the expected list.
pub fn same_shape(
    expected: &Value,
    got: &Value,
    extra: &[&str],
    maps: &[&str],
) -> Result<(), String> {
    shape(expected, got, extra, maps, "$")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shape(
    expected: &Value,
    got: &Value,
    extra: &[&str],
    maps: &[&str],
    at: &str,
) -> Result<(), String> {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => {
            let is_map = maps.iter().any(|m| at.ends_with(&format!(".{m}")));
            for (k, ev) in e {
                let gv = g
                    .get(k)
                    .ok_or_else(|| format!("{at}: missing field {k:?} in {got}"))?;
                shape(ev, gv, extra, maps, &format!("{at}.{k}"))?;
            }
            if !is_map
                && let Some(k) = g
                    .keys()
                    .find(|k| !e.contains_key(*k) && !extra.contains(&k.as_str()))
            {
                return Err(format!("{at}: unexpected field {k:?} in {got}"));
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(g)) => {
            if let Some(first) = e.first() {
                for (i, gv) in g.iter().enumerate() {
                    shape(first, gv, extra, maps, &format!("{at}[{i}]"))?;
                }
            }
            Ok(())
        }
        (e, g) if kind(e) == kind(g) => Ok(()),
        (e, g) => Err(format!("{at}: expected a {} like {e}, got {g}", kind(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_commas_are_tolerated_outside_strings() -> anyhow::Result<()> {
        let v = lenient_json(r#"{"a": [1, 2,], "b": ",}", "c": {"d": 1,},}"#)?;
        assert_eq!(v, json!({"a": [1, 2], "b": ",}", "c": {"d": 1}}));
        Ok(())
    }

    #[test]
    fn shapes_compare_keys_and_types() {
        let e = json!({"offsets": [{"partition": 2, "offset": 100}], "key_schema_id": null});
        let ok = json!({"offsets": [{"partition": 0, "offset": 5, "error_code": null}], "key_schema_id": null});
        assert!(same_shape(&e, &ok, &["error_code"], &[]).is_ok());
        assert!(same_shape(&e, &ok, &[], &[]).is_err());
        let wrong = json!({"offsets": [{"partition": "0", "offset": 5}], "key_schema_id": null});
        assert!(same_shape(&e, &wrong, &[], &[]).is_err());
    }
}
