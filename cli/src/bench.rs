//! `strata bench`: a load generator that produces JSON records over HTTP and reports
//! throughput, latency, object-store PUTs per GiB, stored/raw bytes and the node's peak RSS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};

use super::Target;
use super::client::Client;
use strata_core::settings::parse_duration;

mod readers;
use readers::*;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Topic to produce to (created if missing)
    #[arg(long, default_value = "bench")]
    topic: String,
    /// Partitions of the topic when it is created
    #[arg(long, default_value_t = 8)]
    partitions: u32,
    /// Size of each record's JSON value in bytes
    #[arg(long, default_value_t = 1024)]
    record_bytes: usize,
    /// Records per request
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Requests in flight
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long to measure
    #[arg(long, default_value = "20s")]
    duration: String,
    /// Load before measuring starts
    #[arg(long, default_value = "2s")]
    warmup: String,
    /// all, local or none
    #[arg(long, default_value = "all")]
    acks: String,
    /// Pace requests to this many MiB/s of record values (default: as fast as it goes)
    #[arg(long)]
    rate: Option<f64>,
    /// Tail consumers: long-poll every partition from the end and report end-to-end latency
    /// (produce sent -> record fetched)
    #[arg(long)]
    tail: bool,
    /// Consumers reading the topic from its start as fast as they can while the producers run
    /// (a backfill); report their throughput. With --concurrency 0, only read.
    #[arg(long, default_value_t = 0)]
    backfill: usize,
    /// Speak HTTP/1.1 only, one connection per request in flight, also over https:// (where
    /// HTTP/2 is negotiated otherwise, all requests on one connection)
    #[arg(long)]
    http1: bool,
}

/// What the timestamp of a bench record looks like before its request is sent.
const TS_PLACEHOLDER: &str = "\"timestamp\":0000000000000";

/// A tiny deterministic generator, so runs are repeatable.
type Rng = strata_core::rng::XorShift;

const EVENTS: &[&str] = &[
    "page_view",
    "click",
    "add_to_cart",
    "checkout",
    "search",
    "login",
];
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A JSON event of exactly `size` bytes: a few typed fields and a random payload string.
fn record(rng: &mut Rng, size: usize) -> (String, String) {
    let user = rng.next() % 100_000;
    let head = format!(
        r#"{{"user_id":{user},"event":"{}","amount":{}.{:02},"session":"{:016x}","payload":""#,
        EVENTS[(rng.next() % EVENTS.len() as u64) as usize],
        rng.next() % 1000,
        rng.next() % 100,
        rng.next()
    );
    let fill = size.saturating_sub(head.len() + 2);
    let mut v = head;
    for _ in 0..fill {
        v.push(ALNUM[(rng.next() % ALNUM.len() as u64) as usize] as char);
    }
    v.push_str("\"}");
    (format!("user-{user}"), v)
}

fn bodies(args: &BenchArgs) -> Vec<Bytes> {
    let mut rng = Rng::new(0x5eed_1234_abcd_ef01);
    (0..32)
        .map(|_| {
            let records: Vec<String> = (0..args.batch)
                .map(|_| {
                    let (k, v) = record(&mut rng, args.record_bytes);
                    if args.tail {
                        format!(r#"{{"key":"{k}",{TS_PLACEHOLDER},"value":{v}}}"#)
                    } else {
                        format!(r#"{{"key":"{k}","value":{v}}}"#)
                    }
                })
                .collect();
            Bytes::from(format!(r#"{{"records":[{}]}}"#, records.join(",")))
        })
        .collect()
}

async fn scrape(c: &Client) -> anyhow::Result<Vec<(String, f64)>> {
    let (http, base) = c.parts();
    let r = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .context("cannot read /metrics")?;
    if !r.status().is_success() {
        anyhow::bail!(
            "cannot read /metrics: the node answered {} (with authentication on, the token needs describe on the cluster)",
            r.status()
        );
    }
    Ok(strata_core::stats::parse_text(&r.text().await?))
}

fn metric(m: &[(String, f64)], name: &str) -> f64 {
    m.iter().find(|(n, _)| n == name).map_or(0.0, |(_, v)| *v)
}

/// Estimates a quantile (ms) of a Prometheus histogram from the change of its buckets:
/// the upper bound of the first bucket holding the quantile.
fn histogram_quantile(
    before: &[(String, f64)],
    after: &[(String, f64)],
    prefix: &str,
    q: f64,
) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter_map(|(name, v)| {
            let le = name.strip_prefix(prefix)?.strip_suffix("\"}")?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, v - metric(before, name)))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    buckets
        .iter()
        .find(|(_, count)| *count >= total * q)
        .map(|(bound, _)| bound * 1000.0)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

pub(crate) async fn run(target: &Target, args: BenchArgs) -> anyhow::Result<()> {
    let duration = parse_duration(&args.duration).map_err(anyhow::Error::msg)?;
    let warmup = parse_duration(&args.warmup).map_err(anyhow::Error::msg)?;
    if args.batch == 0 || (args.concurrency == 0 && args.backfill == 0) {
        bail!("batch must be at least 1, and concurrency too unless --backfill reads");
    }
    let c = Client::speaking(target, args.http1)?;
    let create = json!({"name": args.topic, "partitions": args.partitions});
    match c.call(Method::POST, "/v1/topics", Some(&create)).await {
        Ok(_) => {}
        Err(e) if e.to_string().contains("already exists") => {}
        Err(e) => return Err(e),
    }
    let bodies = Arc::new(bodies(&args));
    let url = format!(
        "{}/v1/topics/{}/records?acks={}",
        target.url.trim_end_matches('/'),
        args.topic,
        args.acks
    );
    let value_bytes_per_request = (args.batch * args.record_bytes) as u64;
    let interval_us = args
        .rate
        .map(|mib| (value_bytes_per_request as f64 / (mib * 1024.0 * 1024.0) * 1e6) as u64);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let next_slot = Arc::new(AtomicU64::new(0));
    let overloaded = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let before = Arc::new(tokio::sync::OnceCell::new());
    let tail = if args.tail {
        Some(spawn_readers(&c, &args, ReadFrom::Latest, measure_from, end).await?)
    } else {
        None
    };
    let backfill = if args.backfill > 0 {
        Some(spawn_readers(&c, &args, ReadFrom::Earliest, measure_from, end).await?)
    } else {
        None
    };
    if args.concurrency == 0 {
        tokio::time::sleep_until(measure_from.into()).await;
        before
            .get_or_init(|| async { scrape(&c).await.unwrap_or_default() })
            .await;
    }
    let sent_ok = Arc::new(AtomicU64::new(0));
    let ticker = if target.json {
        None
    } else {
        let bar = super::output::progress(Some((end - start).as_millis() as u64), false);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {elapsed}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .with_key("len", {
                    let total = (end - start).as_secs();
                    move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{total}s");
                    }
                })
                .progress_chars("=> "),
        );
        let (bar2, sent_ok) = (bar.clone(), sent_ok.clone());
        let value_bytes = value_bytes_per_request;
        let task = tokio::spawn(async move {
            let mut last = (Instant::now(), 0u64);
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = Instant::now();
                let n = sent_ok.load(Ordering::Relaxed);
                let rate = (n - last.1) as f64 * value_bytes as f64
                    / (1024.0 * 1024.0)
                    / now.duration_since(last.0).as_secs_f64();
                last = (now, n);
                bar2.set_position(now.duration_since(start).as_millis() as u64);
                let phase = if now < measure_from {
                    "warming up"
                } else {
                    "measuring"
                };
                bar2.set_message(format!("{phase}: {rate:.1} MiB/s"));
                if now >= end {
                    break;
                }
            }
        });
        Some((bar, task))
    };
    let mut workers = Vec::new();
    for w in 0..args.concurrency {
        let (http, url, bodies) = (c.parts().0.clone(), url.clone(), bodies.clone());
        let tail_on = args.tail;
        let (next_slot, overloaded, errors, before, c, sent_ok) = (
            next_slot.clone(),
            overloaded.clone(),
            errors.clone(),
            before.clone(),
            c.clone(),
            sent_ok.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut requests = 0u64;
            let mut i = w;
            loop {
                if let Some(every) = interval_us {
                    let slot = next_slot.fetch_add(every, Ordering::Relaxed);
                    tokio::time::sleep_until((start + Duration::from_micros(slot)).into()).await;
                }
                let now = Instant::now();
                if now >= end {
                    break;
                }
                if now >= measure_from {
                    before
                        .get_or_init(|| async { scrape(&c).await.unwrap_or_default() })
                        .await;
                }
                let mut body = bodies[i % bodies.len()].clone();
                i += 1;
                if tail_on {
                    body = stamp(&body);
                }
                let sent = Instant::now();
                let resp = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let took = sent.elapsed();
                match resp {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        sent_ok.fetch_add(1, Ordering::Relaxed);
                        if sent >= measure_from {
                            latencies.push(took.as_micros() as u64);
                            requests += 1;
                        }
                    }
                    Ok(r) if r.status().as_u16() == 503 => {
                        overloaded.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            (latencies, requests)
        }));
    }
    let mut latencies = Vec::new();
    let mut requests = 0u64;
    for w in workers {
        let (l, r) = w.await?;
        latencies.extend(l);
        requests += r;
    }
    if let Some((bar, task)) = ticker {
        task.abort();
        bar.finish_and_clear();
    }
    let elapsed = duration.as_secs_f64();
    let tail = match tail {
        Some(t) => Some(t.finish().await?),
        None => None,
    };
    let backfill = match backfill {
        Some(t) => Some(t.finish().await?),
        None => None,
    };
    let after = match scrape(&c).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "warning: {e:#}; the node's figures (object store, cost, RSS) are shown as zero"
            );
            Vec::new()
        }
    };
    let before = before.get().cloned().unwrap_or_default();
    latencies.sort_unstable();
    let records = requests * args.batch as u64;
    let value_mib = (requests * value_bytes_per_request) as f64 / (1024.0 * 1024.0);
    let delta = |name: &str| metric(&after, name) - metric(&before, name);
    let puts = delta("strata_object_store_requests_total{op=\"put\"}")
        + delta("strata_object_store_requests_total{op=\"put_part\"}");
    let raw = delta("strata_ingest_raw_bytes_total");
    let stored = delta("strata_object_uploaded_bytes_total");
    let gib = raw / (1024.0 * 1024.0 * 1024.0);
    let cold_gib =
        delta("strata_object_store_bytes_total{direction=\"down\"}") / (1024.0 * 1024.0 * 1024.0);
    let gets_per_gib_cold = if cold_gib > 0.0 {
        delta("strata_object_store_requests_total{op=\"get_range\"}") / cold_gib
    } else {
        0.0
    };
    let get_class = ["get", "get_range", "head"]
        .iter()
        .map(|op| {
            delta(&format!(
                "strata_object_store_requests_total{{op=\"{op}\"}}"
            ))
        })
        .sum::<f64>();
    let put_class = [
        "put",
        "create_multipart",
        "put_part",
        "complete_multipart",
        "copy",
        "list",
    ]
    .iter()
    .map(|op| {
        delta(&format!(
            "strata_object_store_requests_total{{op=\"{op}\"}}"
        ))
    })
    .sum::<f64>();
    let request_cost = delta("strata_object_store_request_cost_dollars_total");
    // The storage price the node is configured with, from its storage cost and stored bytes.
    let stored_gib = ["flush", "segment", "archive"]
        .iter()
        .map(|t| metric(&after, &format!("strata_stored_bytes{{tier=\"{t}\"}}")))
        .sum::<f64>()
        / (1024.0 * 1024.0 * 1024.0);
    let storage_price = if stored_gib > 0.0 {
        metric(
            &after,
            "strata_object_store_cost_dollars_per_hour{kind=\"storage\"}",
        ) * 730.0
            / stored_gib
    } else {
        0.0
    };
    let report = json!({
        "acks": args.acks,
        "concurrency": args.concurrency,
        "records_per_request": args.batch,
        "record_bytes": args.record_bytes,
        "partitions": args.partitions,
        "seconds": elapsed,
        "rate_limit_mib_s": args.rate,
        "mib_per_s": value_mib / elapsed,
        "records_per_s": records as f64 / elapsed,
        "latency_ms": {
            "p50": percentile(&latencies, 0.50),
            "p99": percentile(&latencies, 0.99),
            "p999": percentile(&latencies, 0.999),
            "max": latencies.last().map_or(0.0, |m| *m as f64 / 1000.0),
        },
        "object_store_puts": puts,
        "put_latency_ms_le": {
            "p50": histogram_quantile(&before, &after, "strata_object_store_request_seconds_bucket{op=\"put\",le=\"", 0.5),
            "p99": histogram_quantile(&before, &after, "strata_object_store_request_seconds_bucket{op=\"put\",le=\"", 0.99),
        },
                "puts_per_gib": if gib > 0.0 { puts / gib } else { 0.0 },
        "object_store_requests_per_s": {
            "put_class": put_class / elapsed,
            "get_class": get_class / elapsed,
        },
        "cost_dollars": {
            "requests_per_hour": request_cost / elapsed * 3600.0,
            "requests_per_gib_ingested": if gib > 0.0 { request_cost / gib } else { 0.0 },
            "storage_per_gib_ingested_month": if raw > 0.0 { stored / raw * storage_price } else { 0.0 },
        },
        "server_rss_mib": metric(&after, "strata_process_resident_memory_bytes") / (1024.0 * 1024.0),
        "stored_over_raw": if raw > 0.0 { stored / raw } else { 0.0 },
        "server_peak_rss_mib": metric(&after, "strata_process_peak_resident_memory_bytes") / (1024.0 * 1024.0),
        "requests_503": overloaded.load(Ordering::Relaxed),
        "errors": errors.load(Ordering::Relaxed),
        "tail": tail.as_ref().map(|t| json!({
            "records": t.records,
            "end_to_end_ms": {
                "p50": percentile(&t.latencies, 0.50),
                "p99": percentile(&t.latencies, 0.99),
                "max": t.latencies.last().map_or(0.0, |m| *m as f64 / 1000.0),
            },
        })),
        "backfill": backfill.as_ref().map(|b| json!({
            "consumers": args.backfill,
            "records": b.records,
            "seconds": b.seconds,
            "mib_per_s": b.bytes as f64 / (1024.0 * 1024.0) / b.seconds.max(0.001),
            "bucket_gets": delta("strata_object_store_requests_total{op=\"get_range\"}"),
            "bucket_mib": delta("strata_read_bytes_total{source=\"bucket\"}") / (1024.0 * 1024.0),
            "cache_memory_mib": delta("strata_read_bytes_total{source=\"cache_memory\"}") / (1024.0 * 1024.0),
            "cache_disk_mib": delta("strata_read_bytes_total{source=\"cache_disk\"}") / (1024.0 * 1024.0),
            "gets_per_gib_read_cold": gets_per_gib_cold,
        })),
    });
    if target.json {
        println!("{report}");
        return Ok(());
    }
    let l = &report["latency_ms"];
    println!(
        "strata bench: acks={} concurrency={} {}x{}B records/request {} partitions, {:.0}s{}",
        args.acks,
        args.concurrency,
        args.batch,
        args.record_bytes,
        args.partitions,
        elapsed,
        args.rate
            .map_or(String::new(), |r| format!(", paced at {r} MiB/s"))
    );
    println!(
        "  throughput     {:.1} MiB/s  {:.0} records/s",
        report["mib_per_s"].as_f64().unwrap_or(0.0),
        report["records_per_s"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  latency        p50 {:.1} ms  p99 {:.1} ms  p999 {:.1} ms  max {:.1} ms",
        l["p50"].as_f64().unwrap_or(0.0),
        l["p99"].as_f64().unwrap_or(0.0),
        l["p999"].as_f64().unwrap_or(0.0),
        l["max"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  object store   {} PUTs, {:.1} per GiB, stored/raw {:.3}",
        puts,
        report["puts_per_gib"].as_f64().unwrap_or(0.0),
        report["stored_over_raw"].as_f64().unwrap_or(0.0)
    );
    let cost = &report["cost_dollars"];
    println!(
        "  requests       {:.2} PUT-class/s  {:.2} GET-class/s",
        report["object_store_requests_per_s"]["put_class"]
            .as_f64()
            .unwrap_or(0.0),
        report["object_store_requests_per_s"]["get_class"]
            .as_f64()
            .unwrap_or(0.0)
    );
    println!(
        "  cost           requests ${:.4}/hour, ${:.5} per GiB ingested; storage ${:.4} per GiB ingested per month",
        cost["requests_per_hour"].as_f64().unwrap_or(0.0),
        cost["requests_per_gib_ingested"].as_f64().unwrap_or(0.0),
        cost["storage_per_gib_ingested_month"]
            .as_f64()
            .unwrap_or(0.0)
    );
    println!(
        "  PUT latency    p50 <= {} ms  p99 <= {} ms (histogram bounds)",
        report["put_latency_ms_le"]["p50"], report["put_latency_ms_le"]["p99"]
    );
    println!(
        "  server         RSS {:.0} MiB, peak {:.0} MiB",
        report["server_rss_mib"].as_f64().unwrap_or(0.0),
        report["server_peak_rss_mib"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  rejected       {} x 503, {} other errors",
        report["requests_503"], report["errors"]
    );
    if let Some(t) = report["tail"].as_object() {
        println!(
            "  end to end     p50 {} ms  p99 {} ms  max {} ms over {} records (sent -> fetched by a long-poll)",
            t["end_to_end_ms"]["p50"],
            t["end_to_end_ms"]["p99"],
            t["end_to_end_ms"]["max"],
            t["records"]
        );
    }
    if let Some(b) = report["backfill"].as_object() {
        println!(
            "  backfill       {} consumers {:.1} MiB/s ({} records); served: bucket {:.0} MiB, memory {:.0} MiB, disk {:.0} MiB; {} GETs, {:.1} per GiB fetched",
            b["consumers"],
            b["mib_per_s"].as_f64().unwrap_or(0.0),
            b["records"],
            b["bucket_mib"].as_f64().unwrap_or(0.0),
            b["cache_memory_mib"].as_f64().unwrap_or(0.0),
            b["cache_disk_mib"].as_f64().unwrap_or(0.0),
            b["bucket_gets"],
            b["gets_per_gib_read_cold"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(())
}

/// Replaces the timestamp placeholders of a body by now (ms).
fn stamp(body: &Bytes) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let text = std::str::from_utf8(body).expect("bench bodies are utf-8");
    Bytes::from(text.replace(TS_PLACEHOLDER, &format!("\"timestamp\":{now:013}")))
}

#[cfg(test)]
mod tests;
