//! `strata consume`: records of one or every partition, as JSON lines or raw bytes.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::mpsc;

use super::Target;
use super::client::Client;
use super::output::{self, Usage};

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One JSON object per line; key and value as JSON when they are JSON, else strings
    Json,
    /// One JSON object per line, key and value as key_base64/value_base64
    Base64,
    /// The value's bytes and a newline (with --key-separator: key, separator, value)
    Raw,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to consume
    topic: String,
    /// Partition to read (repeatable; default: every partition)
    #[arg(short, long = "partition")]
    partitions: Vec<u32>,
    /// Where to start: earliest, latest, an offset, or -N (the last N records of each partition)
    #[arg(short, long, default_value = "earliest", allow_hyphen_values = true)]
    offset: String,
    /// Start at the first record at or after a time: milliseconds since the epoch, an ISO-8601
    /// instant (2026-11-22T10:00:00Z) or an age (15m: fifteen minutes ago)
    #[arg(short = 't', long, alias = "timestamp", conflicts_with = "offset")]
    from_time: Option<String>,
    /// Stop after this many records
    #[arg(short = 'n', long, alias = "max-records")]
    num: Option<u64>,
    /// Keep waiting for new records (stop with Ctrl-C)
    #[arg(short, long)]
    follow: bool,
    /// json, base64 or raw
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// With --format raw, print each record as key, SEP, value (e.g. ":" or "\t")
    #[arg(short = 's', long, value_name = "SEP")]
    key_separator: Option<String>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Milliseconds since the epoch of `--from-time`.
fn parse_time(s: &str, now_ms: i64) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if let Some(ms) = strata_core::settings::parse_instant(s) {
        return Ok(ms);
    }
    let age = s.strip_prefix('-').unwrap_or(s);
    strata_core::settings::parse_duration(age)
        .map(|d| now_ms - d.as_millis() as i64)
        .map_err(|_| {
            format!(
                "--from-time {s:?}: give milliseconds since the epoch, an instant like \
                 2026-11-22T10:00:00Z, or an age like 15m"
            )
        })
}

type Batch = anyhow::Result<Vec<Value>>;

/// Reads one partition from `start` (up to `end`, or forever) and sends its records.
async fn pump(
    c: Client,
    topic: String,
    partition: u32,
    start: String,
    end: Option<i64>,
    format: &'static str,
    tx: mpsc::Sender<Batch>,
) {
    let mut at = start;
    loop {
        let wait = if end.is_none() { 10_000 } else { 0 };
        let path = format!(
            "/v1/topics/{topic}/partitions/{partition}/records?{at}&max_wait_ms={wait}&format={format}"
        );
        let v = match c.call(Method::GET, &path, None).await {
            Ok(v) => v,
            Err(e) => {
                let _ = tx
                    .send(Err(e.context(format!("reading partition {partition}"))))
                    .await;
                return;
            }
        };
        let mut records = match v["records"].as_array() {
            Some(r) => r.clone(),
            None => Vec::new(),
        };
        if let Some(end) = end {
            records.retain(|r| r["offset"].as_i64().is_some_and(|o| o < end));
        }
        let Some(next) = v["next_offset"].as_i64() else {
            let _ = tx
                .send(Err(anyhow::anyhow!(
                    "partition {partition}: the response has no next_offset"
                )))
                .await;
            return;
        };
        if !records.is_empty() && tx.send(Ok(records)).await.is_err() {
            return;
        }
        if end.is_some_and(|e| next >= e) {
            return;
        }
        at = format!("offset={next}");
    }
}

fn write_record(
    out: &mut impl Write,
    r: &Value,
    format: Format,
    separator: Option<&[u8]>,
) -> anyhow::Result<()> {
    if format != Format::Raw {
        writeln!(out, "{r}")?;
        return Ok(());
    }
    let decode = |field: &str| -> anyhow::Result<Vec<u8>> {
        match r[field].as_str() {
            Some(b) => B64
                .decode(b)
                .with_context(|| format!("{field} is not base64")),
            None => Ok(Vec::new()),
        }
    };
    if let Some(sep) = separator {
        out.write_all(&decode("key_base64")?)?;
        out.write_all(sep)?;
    }
    out.write_all(&decode("value_base64")?)?;
    out.write_all(b"\n")?;
    Ok(())
}

pub(crate) async fn consume(target: &Target, a: ConsumeArgs) -> anyhow::Result<()> {
    if a.key_separator.is_some() && a.format != Format::Raw {
        return Err(Usage("--key-separator goes with --format raw".into()).into());
    }
    let c = Client::new(target)?;
    let topic = c
        .call(Method::GET, &format!("/v1/topics/{}", a.topic), None)
        .await?;
    let parts = topic["partitions"].as_array().cloned().unwrap_or_default();
    let chosen: Vec<u32> = if a.partitions.is_empty() {
        (0..parts.len() as u32).collect()
    } else {
        a.partitions.clone()
    };
    let time = a
        .from_time
        .as_deref()
        .map(|t| parse_time(t, now_ms()))
        .transpose()
        .map_err(Usage)?;
    let format = match a.format {
        Format::Json => "json",
        Format::Base64 | Format::Raw => "base64",
    };
    let (tx, mut rx) = mpsc::channel::<Batch>(4 * chosen.len().max(1));
    let mut total: u64 = 0;
    for p in &chosen {
        let Some(info) = parts.get(*p as usize) else {
            return Err(output::ApiFailure {
                status: 404,
                code: 40402,
                message: format!(
                    "topic {:?} has no partition {p} (it has {})",
                    a.topic,
                    parts.len()
                ),
            }
            .into());
        };
        let log_start = info["log_start_offset"].as_i64().unwrap_or(0);
        let hwm = info["high_watermark"].as_i64().unwrap_or(0);
        let start = match (time, a.offset.as_str()) {
            (Some(ms), _) => format!("timestamp={ms}"),
            (None, "earliest" | "start" | "oldest") => "offset=earliest".into(),
            (None, "latest" | "end" | "newest") => format!("offset={hwm}"),
            (None, o) => match o.parse::<i64>() {
                Ok(n) if n < 0 => format!("offset={}", (hwm + n).max(log_start)),
                Ok(n) => format!("offset={n}"),
                Err(_) => {
                    return Err(Usage(format!(
                        "--offset {o:?}: give earliest, latest, an offset or -N"
                    ))
                    .into());
                }
            },
        };
        if !a.follow {
            let first = start
                .strip_prefix("offset=")
                .and_then(|o| o.parse::<i64>().ok())
                .unwrap_or(log_start);
            total += (hwm - first).max(0) as u64;
            if hwm <= first {
                continue;
            }
        }
        tokio::spawn(pump(
            c.clone(),
            a.topic.clone(),
            *p,
            start,
            (!a.follow).then_some(hwm),
            format,
            tx.clone(),
        ));
    }
    drop(tx);
    let bar = if a.follow {
        indicatif::ProgressBar::hidden()
    } else {
        output::progress(Some(a.num.map_or(total, |n| n.min(total))), false)
    };
    let separator = a.key_separator.as_deref().map(super::produce::unescape);
    let mut printed = 0u64;
    let stdout = std::io::stdout();
    'read: loop {
        let batch = tokio::select! {
            b = rx.recv() => b,
            _ = tokio::signal::ctrl_c() => break 'read,
        };
        let Some(batch) = batch else { break };
        let records = batch?;
        let mut out = stdout.lock();
        for r in &records {
            if a.num.is_some_and(|n| printed >= n) {
                break 'read;
            }
            write_record(&mut out, r, a.format, separator.as_deref())?;
            printed += 1;
        }
        out.flush()?;
        bar.set_position(printed);
        if a.num.is_some_and(|n| printed >= n) {
            break;
        }
    }
    bar.finish_and_clear();
    if !target.json && !a.follow && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("consumed {printed} records from {}", a.topic);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
