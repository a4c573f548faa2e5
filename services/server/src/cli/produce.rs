//! `strata produce`: records from a flag, standard input or a file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::Target;
use super::client::Client;
use super::output::{self, Usage};

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to produce to
    topic: String,
    /// Read records from this file, one per line (default: standard input)
    #[arg(short, long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Produce this one value and exit
    #[arg(long, conflicts_with_all = ["file", "ndjson", "key_separator"])]
    value: Option<String>,
    /// Split each line into key and value at the first SEP (e.g. ":" or "\t"); a line without
    /// it is a value with no key
    #[arg(short = 's', long, value_name = "SEP")]
    key_separator: Option<String>,
    /// Key of every record
    #[arg(short, long, conflicts_with = "key_separator")]
    key: Option<String>,
    /// Each line is a record object: {"key":..,"value":..,"headers":{..},"partition":..}
    #[arg(long, conflicts_with_all = ["key", "key_separator"])]
    ndjson: bool,
    /// Partition of every record (default: by key, else spread)
    #[arg(short, long)]
    partition: Option<u32>,
    /// Header NAME=VALUE of every record (repeatable)
    #[arg(short = 'H', long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// all (wait for the commit), local (wait for this node's fsync) or none
    #[arg(long, default_value = "all", value_parser = ["all", "local", "none"])]
    acks: String,
    /// Most records per request
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Most line bytes per request
    #[arg(long, default_value = "4MiB")]
    batch_bytes: String,
}

/// Turns `\t`, `\n`, `\r`, `\0` and `\\` in a separator into their characters.
pub(super) fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('t') => out.push(b'\t'),
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('0') => out.push(0),
            Some('\\') => out.push(b'\\'),
            Some(other) => {
                out.push(b'\\');
                let mut buf = [0; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
            None => out.push(b'\\'),
        }
    }
    out
}

/// Puts bytes into a record as `field` (text) or `field_base64` (anything else).
fn put_bytes(record: &mut serde_json::Map<String, Value>, field: &str, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => {
            record.insert(field.to_string(), Value::String(s.to_string()));
        }
        Err(_) => {
            record.insert(format!("{field}_base64"), Value::String(B64.encode(b)));
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

struct Shaper {
    separator: Option<Vec<u8>>,
    key: Option<String>,
    partition: Option<u32>,
    headers: serde_json::Map<String, Value>,
}

impl Shaper {
    /// One line (its newline removed) as a record object.
    fn record(&self, line: &[u8]) -> Value {
        let mut r = serde_json::Map::new();
        let (key, value) = match self
            .separator
            .as_deref()
            .and_then(|sep| find(line, sep).map(|i| (i, sep.len())))
        {
            Some((i, n)) => (Some(&line[..i]), &line[i + n..]),
            None => (None, line),
        };
        if let Some(k) = key {
            put_bytes(&mut r, "key", k);
        } else if let Some(k) = &self.key {
            r.insert("key".into(), Value::String(k.clone()));
        }
        put_bytes(&mut r, "value", value);
        if let Some(p) = self.partition {
            r.insert("partition".into(), json!(p));
        }
        if !self.headers.is_empty() {
            r.insert("headers".into(), Value::Object(self.headers.clone()));
        }
        Value::Object(r)
    }
}

/// What was produced, per partition.
#[derive(Default)]
struct Tally {
    records: u64,
    bytes: u64,
    /// partition -> (records, first offset, last offset)
    partitions: BTreeMap<u64, (u64, Option<i64>, Option<i64>)>,
}

impl Tally {
    fn add(&mut self, response: &Value) {
        for o in response["offsets"].as_array().into_iter().flatten() {
            let Some(p) = o["partition"].as_u64() else {
                continue;
            };
            let e = self.partitions.entry(p).or_insert((0, None, None));
            e.0 += 1;
            if let Some(off) = o["offset"].as_i64() {
                e.1 = Some(e.1.map_or(off, |f| f.min(off)));
                e.2 = Some(e.2.map_or(off, |l| l.max(off)));
            }
        }
    }
}

pub async fn produce(target: &Target, a: ProduceArgs) -> anyhow::Result<()> {
    let c = Client::new(&target.url);
    let path = format!("/v1/topics/{}/records?acks={}", a.topic, a.acks);
    let mut headers = serde_json::Map::new();
    for h in &a.headers {
        let (k, v) = h
            .split_once('=')
            .ok_or_else(|| Usage(format!("header {h:?} is not NAME=VALUE")))?;
        headers.insert(k.to_string(), Value::String(v.to_string()));
    }
    let batch_bytes = crate::units::parse_size(&a.batch_bytes)
        .map_err(|e| Usage(format!("--batch-bytes: {e}")))?
        .max(1);
    let shaper = Shaper {
        separator: a.key_separator.as_deref().map(unescape),
        key: a.key.clone(),
        partition: a.partition,
        headers,
    };
    let started = Instant::now();
    let mut tally = Tally::default();
    if let Some(v) = &a.value {
        let resp = c
            .call(
                reqwest::Method::POST,
                &path,
                Some(&json!({"records": [shaper.record(v.as_bytes())]})),
            )
            .await?;
        tally.records = 1;
        tally.bytes = v.len() as u64;
        tally.add(&resp);
        return report(target, &a.topic, &tally, started);
    }
    let (input, len): (Box<dyn AsyncRead + Unpin + Send>, Option<u64>) = match &a.file {
        Some(f) => {
            let file = tokio::fs::File::open(f)
                .await
                .map_err(|e| Usage(format!("cannot open {}: {e}", f.display())))?;
            let len = file.metadata().await.ok().map(|m| m.len());
            (Box::new(file), len)
        }
        None => (Box::new(tokio::io::stdin()), None),
    };
    let bar = output::progress(len, true);
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let (http, base) = c.parts();
    let mut line = Vec::new();
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut pending_bytes = 0u64;
    let mut read_bytes = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .await
            .context("cannot read the input")?;
        let done = n == 0;
        if !done {
            read_bytes += n as u64;
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if !(a.ndjson && line.iter().all(u8::is_ascii_whitespace)) {
                pending_bytes += line.len() as u64;
                batch.push(std::mem::take(&mut line));
            }
        }
        let full = batch.len() >= a.batch.max(1) || pending_bytes >= batch_bytes;
        if (full || done) && !batch.is_empty() {
            let req = if a.ndjson {
                let mut body = Vec::with_capacity(pending_bytes as usize + batch.len());
                for l in &batch {
                    body.extend_from_slice(l);
                    body.push(b'\n');
                }
                http.post(format!("{base}{path}"))
                    .header("content-type", "application/x-ndjson")
                    .body(body)
            } else {
                let records: Vec<Value> = batch.iter().map(|l| shaper.record(l)).collect();
                http.post(format!("{base}{path}"))
                    .json(&json!({ "records": records }))
            };
            let resp = req.send().await.map_err(|e| c.unreachable(&e))?;
            let first = tally.records;
            let out = Client::read(resp).await.with_context(|| {
                format!(
                    "records {} to {} (input lines) were refused; the {first} before them were produced",
                    first + 1,
                    first + batch.len() as u64
                )
            })?;
            tally.add(&out);
            tally.records += batch.len() as u64;
            tally.bytes += pending_bytes;
            batch.clear();
            pending_bytes = 0;
            bar.set_position(read_bytes);
            bar.set_message(format!("{} records", tally.records));
        }
        if done {
            break;
        }
    }
    bar.finish_and_clear();
    report(target, &a.topic, &tally, started)
}

fn report(target: &Target, topic: &str, t: &Tally, started: Instant) -> anyhow::Result<()> {
    let secs = started.elapsed().as_secs_f64();
    if target.json {
        let partitions: Vec<Value> = t
            .partitions
            .iter()
            .map(|(p, (n, first, last))| {
                json!({"partition": p, "records": n, "first_offset": first, "last_offset": last})
            })
            .collect();
        output::json(&json!({
            "topic": topic,
            "records": t.records,
            "bytes": t.bytes,
            "seconds": secs,
            "partitions": partitions,
        }));
    } else {
        eprintln!(
            "produced {} records ({}) to {topic} in {secs:.2}s ({:.0} records/s)",
            t.records,
            output::bytes(t.bytes),
            t.records as f64 / secs.max(1e-9)
        );
        for (p, (n, first, last)) in &t.partitions {
            if let (Some(f), Some(l)) = (first, last) {
                eprintln!("  partition {p}: {n} records at offsets {f}..={l}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaper(sep: Option<&str>) -> Shaper {
        Shaper {
            separator: sep.map(unescape),
            key: None,
            partition: None,
            headers: serde_json::Map::new(),
        }
    }

    #[test]
    fn lines_become_records_byte_for_byte() {
        let s = shaper(Some("\\t"));
        assert_eq!(
            s.record(b"user-7\t{\"a\":1}"),
            json!({"key": "user-7", "value": "{\"a\":1}"})
        );
        assert_eq!(s.record(b"no separator"), json!({"value": "no separator"}));
        assert_eq!(s.record(b""), json!({"value": ""}));
        assert_eq!(s.record(b"\tv"), json!({"key": "", "value": "v"}));
        assert_eq!(
            shaper(None).record(b"caf\xe9\r"),
            json!({"value_base64": B64.encode(b"caf\xe9\r")})
        );
        assert_eq!(unescape("a\\\\b\\x"), b"a\\b\\x".to_vec());
    }
}
