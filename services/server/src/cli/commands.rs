//! `strata topic | produce | consume | group`.

use std::io::Write;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::Target;
use super::client::Client;

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic
    Create {
        /// Topic name
        name: String,
        /// Number of partitions
        #[arg(long, default_value_t = 1)]
        partitions: u32,
        /// Config entries, KEY=VALUE (repeatable), e.g. --config cleanup.policy=compact
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
    },
    /// List topics
    List,
    /// Show a topic's partitions and config
    Describe {
        /// Topic name
        name: String,
    },
    /// Change config values of a topic
    Alter {
        /// Topic name
        name: String,
        /// Config entries, KEY=VALUE (repeatable)
        #[arg(long = "config", value_name = "KEY=VALUE", required = true)]
        config: Vec<String>,
    },
    /// Delete a topic
    Delete {
        /// Topic name
        name: String,
    },
}

fn config_map(entries: &[String]) -> anyhow::Result<Value> {
    let mut m = serde_json::Map::new();
    for e in entries {
        let (k, v) = e
            .split_once('=')
            .with_context(|| format!("config entry {e:?} is not KEY=VALUE"))?;
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(Value::Object(m))
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub async fn topic(target: &Target, cmd: TopicCommand) -> anyhow::Result<()> {
    let c = Client::new(&target.url);
    match cmd {
        TopicCommand::Create {
            name,
            partitions,
            config,
        } => {
            let body =
                json!({"name": name, "partitions": partitions, "config": config_map(&config)?});
            print(&c.call(Method::POST, "/v1/topics", Some(&body)).await?);
        }
        TopicCommand::List => {
            let v = c.call(Method::GET, "/v1/topics", None).await?;
            for t in v["topics"].as_array().into_iter().flatten() {
                let parts = t["partitions"].as_array().map_or(0, Vec::len);
                let records: i64 = t["partitions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        p["high_watermark"].as_i64().unwrap_or(0)
                            - p["log_start_offset"].as_i64().unwrap_or(0)
                    })
                    .sum();
                println!(
                    "{}\tpartitions={parts}\trecords={records}",
                    t["name"].as_str().unwrap_or_default()
                );
            }
        }
        TopicCommand::Describe { name } => {
            print(
                &c.call(Method::GET, &format!("/v1/topics/{name}"), None)
                    .await?,
            );
        }
        TopicCommand::Alter { name, config } => {
            print(
                &c.call(
                    Method::PATCH,
                    &format!("/v1/topics/{name}/config"),
                    Some(&config_map(&config)?),
                )
                .await?,
            );
        }
        TopicCommand::Delete { name } => {
            c.call(Method::DELETE, &format!("/v1/topics/{name}"), None)
                .await?;
            eprintln!("deleted topic {name}");
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to produce to
    topic: String,
    /// all (wait for the commit), local (wait for this node's fsync) or none
    #[arg(long, default_value = "all")]
    acks: String,
    /// Key of every record
    #[arg(long)]
    key: Option<String>,
    /// Partition of every record (default: by key, else round-robin)
    #[arg(long)]
    partition: Option<u32>,
    /// Header NAME=VALUE of every record (repeatable)
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// Produce this one value; without it, each line of standard input is a value
    #[arg(long)]
    value: Option<String>,
    /// Standard input holds NDJSON record objects ({"key":..,"value":..}) instead of values
    #[arg(long)]
    ndjson: bool,
    /// Records per request when reading standard input
    #[arg(long, default_value_t = 500)]
    batch: usize,
}

pub async fn produce(target: &Target, a: ProduceArgs) -> anyhow::Result<()> {
    let c = Client::new(&target.url);
    let path = format!("/v1/topics/{}/records?acks={}", a.topic, a.acks);
    let mut headers = serde_json::Map::new();
    for h in &a.headers {
        let (k, v) = h
            .split_once('=')
            .with_context(|| format!("header {h:?} is not NAME=VALUE"))?;
        headers.insert(k.to_string(), Value::String(v.to_string()));
    }
    let record = |value: Value| -> Value {
        let mut r = json!({"value": value});
        if let Some(k) = &a.key {
            r["key"] = json!(k);
        }
        if let Some(p) = a.partition {
            r["partition"] = json!(p);
        }
        if !headers.is_empty() {
            r["headers"] = Value::Object(headers.clone());
        }
        r
    };
    if let Some(v) = &a.value {
        let out = c
            .call(
                Method::POST,
                &path,
                Some(&json!({"records": [record(json!(v))]})),
            )
            .await?;
        print(&out);
        return Ok(());
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let (http, base) = c.parts();
    let mut total = 0usize;
    let mut batch: Vec<String> = Vec::with_capacity(a.batch);
    let mut done = false;
    while !done {
        match lines
            .next_line()
            .await
            .context("cannot read standard input")?
        {
            Some(line) if line.trim().is_empty() => continue,
            Some(line) => batch.push(line),
            None => done = true,
        }
        if batch.len() >= a.batch.max(1) || (done && !batch.is_empty()) {
            let resp = if a.ndjson {
                http.post(format!("{base}{path}"))
                    .header("content-type", "application/x-ndjson")
                    .body(batch.join("\n"))
                    .send()
                    .await
            } else {
                let records: Vec<Value> = batch.iter().map(|l| record(json!(l))).collect();
                http.post(format!("{base}{path}"))
                    .json(&json!({"records": records}))
                    .send()
                    .await
            };
            Client::read(resp.with_context(|| format!("cannot reach {base}"))?).await?;
            total += batch.len();
            batch.clear();
            eprint!("\rproduced {total} records");
        }
    }
    eprintln!("\rproduced {total} records");
    Ok(())
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to consume
    topic: String,
    /// Partition to read
    #[arg(long, default_value_t = 0)]
    partition: u32,
    /// Start: an offset, earliest or latest
    #[arg(long, default_value = "earliest")]
    offset: String,
    /// Start at the first record at or after this time (ms since the epoch) instead
    #[arg(long, conflicts_with = "offset")]
    timestamp: Option<i64>,
    /// Stop after this many records
    #[arg(long)]
    max_records: Option<u64>,
    /// Keep waiting for new records
    #[arg(long)]
    follow: bool,
    /// json or base64
    #[arg(long, default_value = "json")]
    format: String,
}

pub async fn consume(target: &Target, a: ConsumeArgs) -> anyhow::Result<()> {
    let c = Client::new(&target.url);
    let mut start = match a.timestamp {
        Some(ts) => format!("timestamp={ts}"),
        None => format!("offset={}", a.offset),
    };
    let mut printed = 0u64;
    let stdout = std::io::stdout();
    loop {
        let wait = if a.follow { 10_000 } else { 0 };
        let path = format!(
            "/v1/topics/{}/partitions/{}/records?{start}&max_wait_ms={wait}&format={}",
            a.topic, a.partition, a.format
        );
        let v = c.call(Method::GET, &path, None).await?;
        let records = v["records"].as_array().cloned().unwrap_or_default();
        let mut out = stdout.lock();
        for r in &records {
            if a.max_records.is_some_and(|m| printed >= m) {
                return Ok(());
            }
            writeln!(out, "{r}")?;
            printed += 1;
        }
        drop(out);
        let Some(next) = v["next_offset"].as_i64() else {
            bail!("the response has no next_offset");
        };
        start = format!("offset={next}");
        let caught_up = next >= v["high_watermark"].as_i64().unwrap_or(next);
        if (caught_up && !a.follow) || a.max_records.is_some_and(|m| printed >= m) {
            return Ok(());
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Show a group's committed offsets and lag
    Offsets {
        /// Group name
        group: String,
    },
    /// Commit an offset for a group
    Commit {
        /// Group name
        group: String,
        /// Topic
        #[arg(long)]
        topic: String,
        /// Partition
        #[arg(long)]
        partition: u32,
        /// Next offset the group will read
        #[arg(long)]
        offset: i64,
    },
}

pub async fn group(target: &Target, cmd: GroupCommand) -> anyhow::Result<()> {
    let c = Client::new(&target.url);
    match cmd {
        GroupCommand::Offsets { group } => {
            print(
                &c.call(Method::GET, &format!("/v1/groups/{group}/offsets"), None)
                    .await?,
            );
        }
        GroupCommand::Commit {
            group,
            topic,
            partition,
            offset,
        } => {
            let body =
                json!({"offsets": [{"topic": topic, "partition": partition, "offset": offset}]});
            c.call(
                Method::POST,
                &format!("/v1/groups/{group}/offsets"),
                Some(&body),
            )
            .await?;
            eprintln!("committed {topic}/{partition} at {offset} for group {group}");
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Show the nodes, their roles and liveness, and the quorum's leader and term
    Status,
    /// Add a voter (it catches up as a learner first), e.g. to replace a dead one
    AddVoter {
        /// The new voter, ID=HOST:PORT; start it first with the new --meta-peers
        voter: String,
    },
    /// Remove a voter from the quorum
    RemoveVoter {
        /// Its node id
        id: u64,
    },
    /// Ask the voter at --url to start an election now
    Elect,
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

pub async fn cluster(target: &Target, cmd: ClusterCommand) -> anyhow::Result<()> {
    use strata_meta::QuorumClient;
    use strata_meta::wire::MembershipChange;
    let c = Client::new(&target.url);
    let quorum = || {
        QuorumClient::new(
            vec![host_port(&target.url)],
            std::time::Duration::from_secs(120),
        )
    };
    match cmd {
        ClusterCommand::Status => print(&c.call(Method::GET, "/v1/cluster", None).await?),
        ClusterCommand::AddVoter { voter } => {
            let (id, addr) = voter
                .split_once('=')
                .with_context(|| format!("voter {voter:?} is not ID=HOST:PORT"))?;
            let id: u64 = id
                .parse()
                .with_context(|| format!("voter id {id:?} is not a number"))?;
            eprintln!("adding voter {id} at {addr}: it catches up first, this can take a while");
            let r = quorum()
                .change_membership(&MembershipChange::AddVoter {
                    id,
                    addr: addr.to_string(),
                })
                .await?;
            print(&serde_json::to_value(r.status)?);
        }
        ClusterCommand::RemoveVoter { id } => {
            let r = quorum()
                .change_membership(&MembershipChange::RemoveVoter { id })
                .await?;
            print(&serde_json::to_value(r.status)?);
        }
        ClusterCommand::Elect => {
            let (http, base) = c.parts();
            let r = http
                .post(format!("{base}/internal/meta/elect"))
                .send()
                .await
                .with_context(|| format!("cannot reach {base}"))?;
            if !r.status().is_success() {
                bail!(
                    "{base} refused: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                );
            }
            eprintln!("election started on {base}");
        }
    }
    Ok(())
}
