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
    /// Most records per request [default: 100000]
    #[arg(long)]
    batch: Option<usize>,
    /// Most line bytes per request [default: 16MiB over the requests in flight, 1 to 16 MiB
    /// each]
    #[arg(long)]
    batch_bytes: Option<String>,
    /// Requests in flight at once (each partition's records stay in input order)
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    in_flight: u16,
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
    /// The key a line's record gets, if any.
    fn key_of<'a>(&'a self, line: &'a [u8]) -> Option<&'a [u8]> {
        match self.separator.as_deref().and_then(|sep| find(line, sep)) {
            Some(i) => Some(&line[..i]),
            None => self.key.as_deref().map(str::as_bytes),
        }
    }

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

pub(crate) async fn produce(target: &Target, a: ProduceArgs) -> anyhow::Result<()> {
    let c = Client::new(target)?;
    let path = format!("/v1/topics/{}/records?acks={}", a.topic, a.acks);
    let mut headers = serde_json::Map::new();
    for h in &a.headers {
        let (k, v) = h
            .split_once('=')
            .ok_or_else(|| Usage(format!("header {h:?} is not NAME=VALUE")))?;
        headers.insert(k.to_string(), Value::String(v.to_string()));
    }
    let batch_bytes = match &a.batch_bytes {
        Some(b) => Some(
            strata_core::settings::parse_size(b)
                .map_err(|e| Usage(format!("--batch-bytes: {e}")))?
                .max(1),
        ),
        None => None,
    };
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
    // Records are routed to partitions here, as the node would route them (an explicit
    // partition, else Kafka's murmur2 of the key, else one partition per request in turn), so
    // that each partition's records go through one lane in input order.
    let described = c
        .call(
            reqwest::Method::GET,
            &format!("/v1/topics/{}", a.topic),
            None,
        )
        .await?;
    let partitions = described["partitions"]
        .as_array()
        .map_or(1, |p| p.len().max(1)) as u32;
    let lanes = usize::from(a.in_flight).min(partitions as usize);
    // About 16 MiB in flight in all unless told otherwise: a topic with one partition sends
    // one 16 MiB request at a time, one with 16 or more sends 16 of 1 MiB.
    let limits = Limits {
        records: a.batch.unwrap_or(100_000).max(1),
        bytes: batch_bytes.unwrap_or(((16u64 << 20) / lanes as u64).clamp(1 << 20, 16 << 20)),
    };
    let pipeline = Pipeline::start(
        &c,
        &path,
        a.ndjson,
        std::sync::Arc::new(shaper),
        lanes,
        partitions,
    );
    let result = pipeline.run(input, limits, &mut tally, &bar).await;
    bar.finish_and_clear();
    result?;
    report(target, &a.topic, &tally, started)
}

/// How large one request may grow.
#[derive(Clone, Copy)]
struct Limits {
    records: usize,
    bytes: u64,
}

/// Lines on their way into one request.
#[derive(Default)]
struct Batch {
    /// Each line, with the partition given to a record that had none and no key.
    lines: Vec<(Vec<u8>, Option<u32>)>,
    /// Bytes of the lines.
    bytes: u64,
    /// Bytes of the input they came from (with their newlines).
    input_bytes: u64,
    /// The input line number (1-based) of the first line.
    first_line: u64,
}

/// What a lane's request ended with.
struct Done {
    first_line: u64,
    records: u64,
    bytes: u64,
    input_bytes: u64,
    outcome: anyhow::Result<Value>,
}

/// Requests in flight: `lanes` workers, each sending its batches one after another. A
/// record's partition picks its lane (partition modulo lanes), so each partition's records are
/// produced in input order (and with them each key's) while the lanes run side by side.
/// Records without a key or partition are given one partition per batch, in turn, as the node
/// would. At most one batch per lane is in flight and one waits for it, so the bytes held are
/// bounded by `3 * lanes * batch-bytes` (with the one being filled).
struct Pipeline {
    senders: Vec<tokio::sync::mpsc::Sender<Batch>>,
    done: tokio::sync::mpsc::UnboundedReceiver<Done>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    ndjson: bool,
    shaper: std::sync::Arc<Shaper>,
    partitions: u32,
}

/// Where a line's record goes.
enum Route {
    /// To this partition, by its key or its own partition.
    Partition(u32),
    /// Wherever records without a key go.
    Spread,
}

/// An NDJSON record line with `"partition": p` set (a `"partition": null` replaced); the
/// other fields keep their JSON text exactly. A line that is not a JSON object stays as it is:
/// the node refuses it with its reason.
fn with_partition(line: &[u8], p: u32) -> Vec<u8> {
    use serde_json::value::RawValue;
    let Ok(mut fields) =
        serde_json::from_slice::<std::collections::BTreeMap<String, Box<RawValue>>>(line)
    else {
        return line.to_vec();
    };
    if let Ok(v) = RawValue::from_string(p.to_string()) {
        fields.insert("partition".to_string(), v);
    }
    serde_json::to_vec(&fields).unwrap_or_else(|_| line.to_vec())
}

/// Sends one batch; what came back.
async fn send(
    c: &Client,
    url: &str,
    ndjson: bool,
    shaper: &Shaper,
    batch: &Batch,
) -> anyhow::Result<Value> {
    let (http, _) = c.parts();
    let req = if ndjson {
        let mut body = Vec::with_capacity(batch.bytes as usize + 20 * batch.lines.len());
        for (l, p) in &batch.lines {
            match p {
                Some(p) => body.extend_from_slice(&with_partition(l, *p)),
                None => body.extend_from_slice(l),
            }
            body.push(b'\n');
        }
        http.post(url)
            .header("content-type", "application/x-ndjson")
            .body(body)
    } else {
        let records: Vec<Value> = batch
            .lines
            .iter()
            .map(|(l, p)| {
                let mut r = shaper.record(l);
                if let (Some(p), Some(m)) = (p, r.as_object_mut()) {
                    m.insert("partition".into(), json!(p));
                }
                r
            })
            .collect();
        http.post(url).json(&json!({ "records": records }))
    };
    let resp = req.send().await.map_err(|e| c.unreachable(&e))?;
    Client::read(resp).await
}

impl Pipeline {
    fn start(
        c: &Client,
        path: &str,
        ndjson: bool,
        shaper: std::sync::Arc<Shaper>,
        lanes: usize,
        partitions: u32,
    ) -> Self {
        let (done_tx, done) = tokio::sync::mpsc::unbounded_channel();
        let mut senders = Vec::with_capacity(lanes);
        let mut workers = Vec::with_capacity(lanes);
        for _ in 0..lanes {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(1);
            senders.push(tx);
            let c = c.clone();
            let url = format!("{}{path}", c.parts().1);
            let shaper = shaper.clone();
            let done_tx = done_tx.clone();
            workers.push(tokio::spawn(async move {
                while let Some(batch) = rx.recv().await {
                    let outcome = send(&c, &url, ndjson, &shaper, &batch).await;
                    let failed = outcome.is_err();
                    let _ = done_tx.send(Done {
                        first_line: batch.first_line,
                        records: batch.lines.len() as u64,
                        bytes: batch.bytes,
                        input_bytes: batch.input_bytes,
                        outcome,
                    });
                    if failed {
                        break;
                    }
                }
            }));
        }
        Self {
            senders,
            done,
            workers,
            ndjson,
            shaper,
            partitions,
        }
    }

    /// Where a line's record goes, as the node would route it.
    fn route(&self, line: &[u8]) -> Route {
        use strata_ingest::partitioner::partition_for_key;
        if self.ndjson {
            // A line that does not parse goes anywhere: the node refuses it with its reason.
            return match strata_ingest::parse::parse_ndjson(line) {
                Ok(mut r) if r.len() == 1 => {
                    let r = r.remove(0);
                    match (r.partition, r.record.key) {
                        (Some(p), _) => Route::Partition(p),
                        (None, Some(k)) => Route::Partition(partition_for_key(&k, self.partitions)),
                        (None, None) => Route::Spread,
                    }
                }
                // The node refuses the line with its reason; keep it as it was.
                _ => Route::Partition(0),
            };
        }
        if let Some(p) = self.shaper.partition {
            return Route::Partition(p);
        }
        match self.shaper.key_of(line) {
            Some(k) => Route::Partition(partition_for_key(k, self.partitions)),
            None => Route::Spread,
        }
    }

    /// Reads `input` to its end (or the first refusal), producing every line.
    async fn run(
        mut self,
        input: Box<dyn AsyncRead + Unpin + Send>,
        limits: Limits,
        tally: &mut Tally,
        bar: &indicatif::ProgressBar,
    ) -> anyhow::Result<()> {
        let mut reader = BufReader::with_capacity(1 << 20, input);
        let lanes = self.senders.len();
        let mut building: Vec<Batch> = (0..lanes).map(|_| Batch::default()).collect();
        // The partition records without a key or partition go to now.
        let mut spread = 0u32;
        let mut line_no = 0u64;
        let mut acked_input = 0u64;
        let mut failure: Option<Done> = None;
        let mut line = Vec::new();
        'read: loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .await
                .context("cannot read the input")?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let input_bytes = n as u64;
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if self.ndjson && line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (partition, given) = match self.route(&line) {
                Route::Partition(p) => (p, None),
                Route::Spread => (spread, Some(spread)),
            };
            let lane = partition as usize % lanes;
            let b = &mut building[lane];
            if b.lines.is_empty() {
                b.first_line = line_no;
            }
            b.bytes += line.len() as u64;
            b.input_bytes += input_bytes;
            b.lines.push((std::mem::take(&mut line), given));
            if b.lines.len() >= limits.records || b.bytes >= limits.bytes {
                let batch = std::mem::take(b);
                if lane == spread as usize % lanes {
                    spread = (spread + 1) % self.partitions;
                }
                // Waits while this lane has a batch in flight and one queued.
                if self.senders[lane].send(batch).await.is_err() {
                    // The lane stopped: it reported a refusal.
                }
            }
            while let Ok(d) = self.done.try_recv() {
                if !Self::take(d, tally, &mut acked_input, &mut failure) {
                    break 'read;
                }
            }
            bar.set_position(acked_input);
            bar.set_message(output::count(tally.records, "record"));
        }
        if failure.is_none() {
            for (lane, b) in building.into_iter().enumerate() {
                if !b.lines.is_empty() {
                    let _ = self.senders[lane].send(b).await;
                }
            }
        }
        self.senders.clear();
        for w in std::mem::take(&mut self.workers) {
            let _ = w.await;
        }
        while let Ok(d) = self.done.try_recv() {
            Self::take(d, tally, &mut acked_input, &mut failure);
            bar.set_position(acked_input);
        }
        match failure {
            None => Ok(()),
            Some(d) => Err(d
                .outcome
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("refused"))
                .context(format!(
                    "the request of {} starting at input line {} was refused; {} were produced (each partition's in input order up to the refused request), and reading stopped",
                    output::count(d.records, "record"),
                    d.first_line,
                    output::count(tally.records, "record")
                ))),
        }
    }

    /// Counts a finished request; `false` once a request was refused.
    fn take(d: Done, tally: &mut Tally, acked_input: &mut u64, failure: &mut Option<Done>) -> bool {
        match &d.outcome {
            Ok(out) => {
                tally.add(out);
                tally.records += d.records;
                tally.bytes += d.bytes;
                *acked_input += d.input_bytes;
                failure.is_none()
            }
            Err(_) => {
                // The first refusal (by input line) is the one reported.
                if failure.as_ref().is_none_or(|f| d.first_line < f.first_line) {
                    *failure = Some(d);
                }
                false
            }
        }
    }
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
            "produced {} ({}) to {topic} in {secs:.2}s ({:.0} records/s, {}/s)",
            output::count(t.records, "record"),
            output::bytes(t.bytes),
            t.records as f64 / secs.max(1e-9),
            output::bytes((t.bytes as f64 / secs.max(1e-9)) as u64)
        );
        for (p, (n, first, last)) in &t.partitions {
            if let (Some(f), Some(l)) = (first, last) {
                eprintln!(
                    "  partition {p}: {} at offsets {f}..={l}",
                    output::count(*n, "record")
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
