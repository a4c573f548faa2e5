//! The bench's consumers: every partition of the bench topic, read end to end for latency.

#[allow(unused_imports)]
use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadFrom {
    Earliest,
    Latest,
}

/// Consumers of every partition of the bench topic, spread over `n` tasks.
pub(super) struct Readers {
    pub(super) tasks: Vec<tokio::task::JoinHandle<anyhow::Result<ReadTotals>>>,
}

#[derive(Debug, Default)]
pub(super) struct ReadTotals {
    pub(super) records: u64,
    pub(super) bytes: u64,
    /// End-to-end latencies (us) of records fetched in the measured window.
    pub(super) latencies: Vec<u64>,
    /// Seconds the readers read within the measured window.
    pub(super) seconds: f64,
}

impl Readers {
    pub(super) async fn finish(self) -> anyhow::Result<ReadTotals> {
        let mut t = ReadTotals::default();
        for task in self.tasks {
            let r = task.await??;
            t.records += r.records;
            t.bytes += r.bytes;
            t.latencies.extend(r.latencies);
            t.seconds = t.seconds.max(r.seconds);
        }
        t.latencies.sort_unstable();
        Ok(t)
    }
}

pub(super) async fn spawn_readers(
    c: &Client,
    args: &BenchArgs,
    from: ReadFrom,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<Readers> {
    let tasks = if from == ReadFrom::Latest {
        args.partitions as usize
    } else {
        args.backfill
    };
    // Without producers, a backfill ends when it has read everything.
    let stop_at_end = from == ReadFrom::Earliest && args.concurrency == 0;
    let mut out = Vec::new();
    for t in 0..tasks {
        let partitions: Vec<u32> = (0..args.partitions)
            .filter(|p| *p as usize % tasks == t)
            .collect();
        let (http, base) = c.parts();
        let (http, base, topic) = (http.clone(), base.to_string(), args.topic.clone());
        out.push(tokio::spawn(async move {
            let mut totals = ReadTotals::default();
            let mut next = Vec::new();
            for p in &partitions {
                let v: Value = http
                    .get(format!("{base}/v1/topics/{topic}/partitions/{p}/records?offset=latest&max_records=1"))
                    .send()
                    .await?
                    .json()
                    .await?;
                let field = if from == ReadFrom::Latest { "high_watermark" } else { "log_start_offset" };
                next.push(v[field].as_i64().unwrap_or(0));
            }
            let wait = if from == ReadFrom::Latest { 500 } else { 0 };
            let mut caught_up = vec![false; partitions.len()];
            'run: loop {
                for (i, p) in partitions.iter().enumerate() {
                    if Instant::now() >= end || (stop_at_end && caught_up.iter().all(|c| *c)) {
                        break 'run;
                    }
                    let resp = http
                        .get(format!(
                            "{base}/v1/topics/{topic}/partitions/{p}/records?offset={}&max_records=5000&max_bytes=8388608&max_wait_ms={wait}",
                            next[i]
                        ))
                        .send()
                        .await?;
                    let body = resp.bytes().await?;
                    let fetched = Instant::now();
                    let now_ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    let v: Value = serde_json::from_slice(&body)?;
                    let Some(records) = v["records"].as_array() else {
                        anyhow::bail!("fetch of partition {p} failed: {v}");
                    };
                    if fetched >= measure_from {
                        totals.records += records.len() as u64;
                        totals.bytes += body.len() as u64;
                        if from == ReadFrom::Latest {
                            for r in records {
                                let ts = r["timestamp"].as_i64().unwrap_or(now_ms);
                                totals.latencies.push((now_ms - ts).max(0) as u64 * 1000);
                            }
                        }
                    }
                    next[i] = v["next_offset"].as_i64().unwrap_or(next[i]);
                    caught_up[i] = next[i] >= v["high_watermark"].as_i64().unwrap_or(i64::MAX);
                }
            }
            totals.seconds = Instant::now().min(end).saturating_duration_since(measure_from).as_secs_f64();
            Ok(totals)
        }));
    }
    Ok(Readers { tasks: out })
}
