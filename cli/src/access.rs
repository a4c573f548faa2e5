//! `strata token` and `strata acl`: principals' credentials and permissions.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::Target;
use super::client::Client;
use super::output::{self, cell, table};

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token for a principal; it is printed once (the cluster keeps only its hash)
    Create {
        /// The principal the token authenticates
        principal: String,
        /// Seconds until it expires (default: never)
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// List valid tokens (without their secrets)
    List,
    /// Revoke a token: every node refuses it within a few seconds
    Revoke {
        /// The token's id (`tok-<n>`)
        id: String,
    },
}

/// ACL commands.
#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Allow (or, with --deny, deny) a principal operations on a topic, group or the cluster
    Add {
        /// The principal, or `*` for every authenticated one
        #[arg(long)]
        principal: String,
        /// `topic`, `group` or `cluster`
        #[arg(long)]
        resource: String,
        /// The resource's name (`*`: every one; `cluster` for the cluster)
        #[arg(long)]
        name: String,
        /// Match every name that starts with --name
        #[arg(long)]
        prefixed: bool,
        /// Operations, comma separated: read, write, create, delete, alter, describe, all
        #[arg(long, value_delimiter = ',', required = true)]
        operations: Vec<String>,
        /// Deny instead of allow (deny wins)
        #[arg(long)]
        deny: bool,
    },
    /// List ACLs
    List,
    /// Remove an ACL
    Remove {
        /// The ACL's id (`acl-<n>`)
        id: String,
    },
}

fn expiry(v: &Value) -> String {
    v.as_i64().map_or_else(
        || "never".to_string(),
        |ms| format!("{ms} (ms since epoch)"),
    )
}

pub(crate) async fn token(target: &Target, cmd: TokenCommand) -> anyhow::Result<()> {
    let c = Client::new(target)?;
    let v = match cmd {
        TokenCommand::Create {
            principal,
            expires_in,
        } => {
            let body = json!({"principal": principal, "expires_in_s": expires_in});
            let v = c.call(Method::POST, "/v1/tokens", Some(&body)).await?;
            if !target.json {
                eprintln!(
                    "token {} for principal {} (expires: {}); it is shown only now:",
                    cell(&v["id"]),
                    cell(&v["principal"]),
                    expiry(&v["expires_at"])
                );
                println!("{}", cell(&v["token"]));
                return Ok(());
            }
            v
        }
        TokenCommand::List => {
            let v = c.call(Method::GET, "/v1/tokens", None).await?;
            if !target.json {
                let rows: Vec<Vec<String>> = v["tokens"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        vec![
                            cell(&t["id"]),
                            cell(&t["principal"]),
                            expiry(&t["expires_at"]),
                        ]
                    })
                    .collect();
                table(&["ID", "PRINCIPAL", "EXPIRES"], &rows);
                return Ok(());
            }
            v
        }
        TokenCommand::Revoke { id } => {
            c.call(Method::DELETE, &format!("/v1/tokens/{id}"), None)
                .await?;
            if !target.json {
                eprintln!("revoked token {id}");
                return Ok(());
            }
            json!({"revoked": id})
        }
    };
    output::json(&v);
    Ok(())
}

pub(crate) async fn acl(target: &Target, cmd: AclCommand) -> anyhow::Result<()> {
    let c = Client::new(target)?;
    let v = match cmd {
        AclCommand::Add {
            principal,
            resource,
            name,
            prefixed,
            operations,
            deny,
        } => {
            let body = json!({
                "principal": principal,
                "resource": resource,
                "name": name,
                "pattern": if prefixed { "prefixed" } else { "literal" },
                "operations": operations,
                "permission": if deny { "deny" } else { "allow" },
            });
            let v = c.call(Method::POST, "/v1/acls", Some(&body)).await?;
            if !target.json {
                eprintln!("added ACL {}", cell(&v["id"]));
                return Ok(());
            }
            v
        }
        AclCommand::List => {
            let v = c.call(Method::GET, "/v1/acls", None).await?;
            if !target.json {
                let rows: Vec<Vec<String>> = v["acls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        let ops = a["operations"]
                            .as_array()
                            .map(|o| o.iter().map(cell).collect::<Vec<_>>().join(","))
                            .unwrap_or_default();
                        vec![
                            cell(&a["id"]),
                            cell(&a["permission"]),
                            cell(&a["principal"]),
                            ops,
                            cell(&a["resource"]),
                            cell(&a["pattern"]),
                            cell(&a["name"]),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "PERMISSION",
                        "PRINCIPAL",
                        "OPERATIONS",
                        "RESOURCE",
                        "PATTERN",
                        "NAME",
                    ],
                    &rows,
                );
                return Ok(());
            }
            v
        }
        AclCommand::Remove { id } => {
            c.call(Method::DELETE, &format!("/v1/acls/{id}"), None)
                .await?;
            if !target.json {
                eprintln!("removed ACL {id}");
                return Ok(());
            }
            json!({"removed": id})
        }
    };
    output::json(&v);
    Ok(())
}
