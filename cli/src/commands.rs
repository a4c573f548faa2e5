//! `strata topic | group | cluster`: admin commands, human tables or `--json`.

use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::Target;
use super::client::Client;
use super::output::{self, ApiFailure, Usage, bytes, cell, table};

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic
    Create {
        /// Topic name
        name: String,
        /// Number of partitions
        #[arg(short, long, default_value_t = 1)]
        partitions: u32,
        /// Config entries, KEY=VALUE (repeatable), e.g. -c cleanup.policy=compact
        #[arg(short, long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Succeed (exit 0) when the topic exists already
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List topics
    List,
    /// Show a topic's partitions, where its bytes live, and its config
    Describe {
        /// Topic name
        name: String,
    },
    /// Change config values of a topic
    Alter {
        /// Topic name
        name: String,
        /// Config entries, KEY=VALUE (repeatable)
        #[arg(short, long = "config", value_name = "KEY=VALUE", required = true)]
        config: Vec<String>,
    },
    /// Delete a topic and its records
    Delete {
        /// Topic name
        name: String,
        /// Succeed (exit 0) when the topic does not exist
        #[arg(long)]
        if_exists: bool,
    },
}

fn config_map(entries: &[String]) -> anyhow::Result<Value> {
    let mut m = serde_json::Map::new();
    for e in entries {
        let (k, v) = e
            .split_once('=')
            .ok_or_else(|| Usage(format!("config entry {e:?} is not KEY=VALUE")))?;
        m.insert(k.trim().to_string(), Value::String(v.to_string()));
    }
    Ok(Value::Object(m))
}

fn status_of(e: &anyhow::Error) -> Option<u16> {
    e.chain()
        .find_map(|c| c.downcast_ref::<ApiFailure>())
        .map(|f| f.status)
}

/// Records between a partition's log start and high watermark.
fn records(p: &Value) -> i64 {
    p["high_watermark"].as_i64().unwrap_or(0) - p["log_start_offset"].as_i64().unwrap_or(0)
}

fn topic_summary(t: &Value) -> Vec<String> {
    let parts = t["partitions"].as_array().cloned().unwrap_or_default();
    let n: i64 = parts.iter().map(records).sum();
    let b: u64 = parts.iter().filter_map(|p| p["bytes"].as_u64()).sum();
    vec![
        cell(&t["name"]),
        parts.len().to_string(),
        n.to_string(),
        bytes(b),
        cell(&t["config"]["cleanup.policy"]),
        cell(&t["config"]["archive"]),
    ]
}

fn describe(t: &Value) {
    let head = topic_summary(t);
    println!("topic       {}", head[0]);
    println!("partitions  {}", head[1]);
    println!("records     {}", head[2]);
    println!("stored      {}", head[3]);
    println!();
    let rows: Vec<Vec<String>> = t["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                cell(&p["partition"]),
                cell(&p["log_start_offset"]),
                cell(&p["high_watermark"]),
                records(p).to_string(),
                bytes(p["tiers"]["ingest_objects"]["bytes"].as_u64().unwrap_or(0)),
                bytes(p["tiers"]["segments"]["bytes"].as_u64().unwrap_or(0)),
                cell(&p["archive"]["archived_through"]),
                bytes(p["archive"]["bytes"].as_u64().unwrap_or(0)),
            ]
        })
        .collect();
    table(
        &[
            "PARTITION",
            "LOG-START",
            "HIGH-WATERMARK",
            "RECORDS",
            "FLUSH-OBJECTS",
            "SEGMENTS",
            "ARCHIVED-THROUGH",
            "ARCHIVE",
        ],
        &rows,
    );
    println!();
    let rows: Vec<Vec<String>> = t["config"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| vec![k.clone(), config_cell(k, v)])
        .collect();
    table(&["CONFIG", "VALUE"], &rows);
}

/// A config value for people: the zstd level says what it is.
fn config_cell(key: &str, v: &serde_json::Value) -> String {
    let text = cell(v);
    match (key, text.as_str()) {
        ("compression", "0") => "0 (none)".to_string(),
        ("compression", level) => format!("{level} (zstd level)"),
        _ => text,
    }
}

pub(crate) async fn topic(target: &Target, cmd: TopicCommand) -> anyhow::Result<()> {
    let c = Client::new(target)?;
    match cmd {
        TopicCommand::Create {
            name,
            partitions,
            config,
            if_not_exists,
        } => {
            let body =
                json!({"name": name, "partitions": partitions, "config": config_map(&config)?});
            match c.call(Method::POST, "/v1/topics", Some(&body)).await {
                Ok(t) if target.json => output::json(&t),
                Ok(_) => eprintln!(
                    "created topic {name} with {}",
                    output::count(u64::from(partitions), "partition")
                ),
                Err(e) if if_not_exists && status_of(&e) == Some(409) => {
                    if target.json {
                        output::json(
                            &c.call(Method::GET, &format!("/v1/topics/{name}"), None)
                                .await?,
                        );
                    } else {
                        eprintln!("topic {name} exists already");
                    }
                }
                Err(e) => return Err(e),
            }
        }
        TopicCommand::List => {
            let v = c.call(Method::GET, "/v1/topics", None).await?;
            if target.json {
                output::json(&v);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = v["topics"]
                .as_array()
                .into_iter()
                .flatten()
                .map(topic_summary)
                .collect();
            table(
                &[
                    "NAME",
                    "PARTITIONS",
                    "RECORDS",
                    "STORED",
                    "CLEANUP.POLICY",
                    "ARCHIVE",
                ],
                &rows,
            );
        }
        TopicCommand::Describe { name } => {
            let t = c
                .call(Method::GET, &format!("/v1/topics/{name}"), None)
                .await?;
            if target.json {
                output::json(&t);
            } else {
                describe(&t);
            }
        }
        TopicCommand::Alter { name, config } => {
            let changes = config_map(&config)?;
            let t = c
                .call(
                    Method::PATCH,
                    &format!("/v1/topics/{name}/config"),
                    Some(&changes),
                )
                .await?;
            if target.json {
                output::json(&t);
            } else {
                for (k, _) in changes.as_object().into_iter().flatten() {
                    eprintln!("{name}: {k} = {}", cell(&t["config"][k]));
                }
            }
        }
        TopicCommand::Delete { name, if_exists } => {
            match c
                .call(Method::DELETE, &format!("/v1/topics/{name}"), None)
                .await
            {
                Ok(_) => eprintln!("deleted topic {name}"),
                Err(e) if if_exists && status_of(&e) == Some(404) => {
                    eprintln!("topic {name} does not exist");
                }
                Err(e) => return Err(e),
            }
            if target.json {
                output::json(&json!({"deleted": name}));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List the groups that have committed offsets, with their total lag
    List,
    /// Show a group's committed offsets and lag per partition
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

pub(crate) async fn group(target: &Target, cmd: GroupCommand) -> anyhow::Result<()> {
    let c = Client::new(target)?;
    match cmd {
        GroupCommand::List => {
            let v = c.call(Method::GET, "/v1/groups", None).await?;
            if target.json {
                output::json(&v);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = v["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| vec![cell(&g["group"]), cell(&g["partitions"]), cell(&g["lag"])])
                .collect();
            table(&["GROUP", "PARTITIONS", "LAG"], &rows);
        }
        GroupCommand::Offsets { group } => {
            let v = c
                .call(Method::GET, &format!("/v1/groups/{group}/offsets"), None)
                .await?;
            if target.json {
                output::json(&v);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = v["offsets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| {
                    vec![
                        cell(&o["topic"]),
                        cell(&o["partition"]),
                        cell(&o["offset"]),
                        cell(&o["lag"]),
                    ]
                })
                .collect();
            table(&["TOPIC", "PARTITION", "COMMITTED", "LAG"], &rows);
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
            if target.json {
                output::json(&body);
            } else {
                eprintln!("committed {topic}/{partition} at {offset} for group {group}");
            }
        }
    }
    Ok(())
}

fn cluster_status(v: &Value) {
    let q = &v["quorum"];
    println!(
        "quorum   leader {}, term {}, commit index {}, voters {}",
        cell(&q["leader"]),
        cell(&q["term"]),
        cell(&q["commit_index"]),
        q["voters"]
            .as_array()
            .map(|vs| vs.iter().map(cell).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    );
    println!(
        "answered by node {} ({}, quorum role {})",
        cell(&v["node"]["id"]),
        cell(&v["node"]["addr"]),
        cell(&q["role"])
    );
    println!();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let rows: Vec<Vec<String>> = v["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let seen = n["last_seen_ms"].as_i64().unwrap_or(0);
            let yes = |b: &Value| {
                if b.as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                }
            };
            vec![
                cell(&n["id"]),
                cell(&n["addr"]),
                n["roles"]
                    .as_array()
                    .map(|r| r.iter().map(cell).collect::<Vec<_>>().join(","))
                    .unwrap_or_default(),
                yes(&n["voter"]).to_string(),
                yes(&n["alive"]).to_string(),
                format!(
                    "{} ago",
                    output::age(Duration::from_millis((now - seen).max(0) as u64))
                ),
            ]
        })
        .collect();
    table(
        &["ID", "ADDRESS", "ROLES", "VOTER", "ALIVE", "LAST-SEEN"],
        &rows,
    );
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Show the nodes, their roles and liveness, and the quorum's leader and term
    Status,
    /// Add a voter (it catches up as a learner first, and is not added if it cannot), e.g. to
    /// replace a dead one
    AddVoter {
        /// The new voter, ID=HOST:PORT; start it first with the new --meta-peers
        voter: String,
        /// How long the new voter may take to catch up before it is left out again
        #[arg(long, default_value = "30s")]
        timeout: String,
    },
    /// Remove a voter from the quorum
    RemoveVoter {
        /// Its node id
        id: u64,
    },
    /// Ask the voter at --url to start an election now
    Elect,
    /// Exit 0 if the node at --url is ready (quorum and object store reachable), else 4; for
    /// container health checks
    Health {
        /// Only check that the process answers (/healthz), not its dependencies
        #[arg(long)]
        live: bool,
        /// Give up after this long
        #[arg(long, default_value = "5s")]
        timeout: String,
    },
}

/// Reports a membership change: the quorum's status as JSON, or a sentence and the voters.
fn membership_done(
    target: &Target,
    status: &strata_core::meta::QuorumStatus,
    what: &str,
) -> anyhow::Result<()> {
    if target.json {
        output::json(&serde_json::to_value(status)?);
    } else {
        let voters: Vec<String> = status.voters.iter().map(|v| v.to_string()).collect();
        println!(
            "{what}; voters: {}; leader: {}",
            voters.join(", "),
            status
                .leader
                .map_or_else(|| "none yet".to_string(), |l| l.to_string())
        );
    }
    Ok(())
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

pub(crate) async fn cluster(
    target: &Target,
    secret_file: Option<&std::path::Path>,
    cmd: ClusterCommand,
) -> anyhow::Result<()> {
    use strata_meta::wire::MembershipChange;
    use strata_meta::{ClusterSecret, Peering, QuorumClient};
    let c = Client::new(target)?;
    let secret = secret_file
        .map(ClusterSecret::from_file)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--cluster-secret-file: {e}"))?;
    let peering = Peering {
        tls: target.url.starts_with("https://"),
        ca_pem: target.ca_pem()?,
        secret: secret.clone(),
    };
    let quorum = |deadline: std::time::Duration| {
        QuorumClient::new(vec![host_port(&target.url)], deadline, &peering)
    };
    // The quorum's errors are sentences; one that says no voter answered is exit 4.
    let quorum_error = |e: strata_core::meta::MetaError| -> anyhow::Error {
        match e {
            strata_core::meta::MetaError::Unavailable { reason } => {
                anyhow::Error::new(output::Unreachable {
                    url: target.url.clone(),
                    reason,
                })
            }
            strata_core::meta::MetaError::Invalid { reason } => anyhow::anyhow!(reason),
            other => anyhow::anyhow!(other.to_string()),
        }
    };
    match cmd {
        ClusterCommand::Health { live, timeout } => {
            let wait = strata_core::settings::parse_duration(&timeout)
                .map_err(|e| Usage(format!("--timeout: {e}")))?;
            let path = if live { "/healthz" } else { "/readyz" };
            let v = tokio::time::timeout(wait, c.call(Method::GET, path, None))
                .await
                .map_err(|_| output::Unreachable {
                    url: target.url.clone(),
                    reason: format!("no answer within {timeout}"),
                })??;
            if target.json {
                output::json(&v);
            } else {
                println!("{}", cell(&v["status"]));
            }
        }
        ClusterCommand::Status => {
            let v = c.call(Method::GET, "/v1/cluster", None).await?;
            if target.json {
                output::json(&v);
            } else {
                cluster_status(&v);
            }
        }
        ClusterCommand::AddVoter { voter, timeout } => {
            let (id, addr) = voter
                .split_once('=')
                .ok_or_else(|| Usage(format!("voter {voter:?} is not ID=HOST:PORT")))?;
            let id: u64 = id
                .parse()
                .map_err(|_| Usage(format!("voter id {id:?} is not a number")))?;
            let wait = strata_core::settings::parse_duration(&timeout)
                .map_err(|e| Usage(format!("--timeout: {e}")))?;
            eprintln!(
                "adding voter {id} at {addr}: it catches up as a learner first (up to {timeout})"
            );
            let r = quorum(wait + std::time::Duration::from_secs(30))
                .change_membership(&MembershipChange::AddVoter {
                    id,
                    addr: addr.to_string(),
                    catch_up_ms: Some(wait.as_millis() as u64),
                })
                .await
                .map_err(quorum_error)?;
            membership_done(target, &r.status, &format!("voter {id} added"))?;
        }
        ClusterCommand::RemoveVoter { id } => {
            let r = quorum(std::time::Duration::from_secs(10))
                .change_membership(&MembershipChange::RemoveVoter { id })
                .await
                .map_err(quorum_error)?;
            membership_done(target, &r.status, &format!("voter {id} removed"))?;
        }
        ClusterCommand::Elect => {
            let (http, base) = c.parts();
            let r = http
                .post(format!("{base}/internal/meta/elect"))
                .headers(ClusterSecret::headers(secret.as_ref()))
                .send()
                .await
                .map_err(|e| c.unreachable(&e))?;
            Client::read(r)
                .await
                .with_context(|| format!("{base} refused to start an election"))?;
            eprintln!("election started on {base}");
        }
    }
    Ok(())
}
