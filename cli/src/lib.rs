//! strata-cli: the client side of the `strata` binary. Every command talks to a node over its
//! HTTP API (`--url`, or `STRATA_URL`); tables for people, `--json` for scripts; exit codes
//! by kind of failure ([`output::exit`]). `strata serve` lives in `strata-server`, which links
//! this crate into the one binary.

mod access;
mod bench;
mod client;
mod commands;
mod consume;
pub mod output;
mod produce;

use clap::Subcommand;

/// Where client commands send their requests.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Base URL of any strata node
    #[arg(
        long,
        env = "STRATA_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// Print JSON for scripts instead of tables and messages for people
    #[arg(long, global = true)]
    pub json: bool,
    /// The token to authenticate with, when the node has authentication on
    #[arg(long, env = "STRATA_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// PEM certificates of the authorities to trust for an https:// --url, instead of the
    /// system's
    #[arg(long, env = "STRATA_CA_FILE", global = true)]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Target {
    /// The certificates of `--ca-file`, read and checked, if given.
    pub fn ca_pem(&self) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(path) = &self.ca_file else {
            return Ok(None);
        };
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("--ca-file {}: {e}", path.display()))?;
        strata_meta::Peering::check_ca(&pem)
            .map_err(|e| anyhow::anyhow!("--ca-file {}: {e}", path.display()))?;
        Ok(Some(pem))
    }
}

/// The client commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, describe and delete topics
    Topic {
        #[command(subcommand)]
        command: commands::TopicCommand,
        #[command(flatten)]
        target: Target,
    },
    /// Produce records: one value, or each line of standard input or a file
    Produce {
        #[command(flatten)]
        args: produce::ProduceArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Consume records of a topic as JSON lines or raw bytes, optionally following new ones
    Consume {
        #[command(flatten)]
        args: consume::ConsumeArgs,
        #[command(flatten)]
        target: Target,
    },
    /// List groups, read and commit their offsets
    Group {
        #[command(subcommand)]
        command: commands::GroupCommand,
        #[command(flatten)]
        target: Target,
    },
    /// Show the cluster and change the quorum's voters
    Cluster {
        #[command(subcommand)]
        command: commands::ClusterCommand,
        #[command(flatten)]
        target: Target,
        /// The cluster secret's file, for the commands that speak the quorum's internal API
        /// (add-voter, remove-voter, elect)
        #[arg(long, env = "STRATA_CLUSTER_SECRET_FILE", global = true)]
        cluster_secret_file: Option<std::path::PathBuf>,
    },
    /// Make, list and revoke API tokens (authentication on)
    Token {
        #[command(subcommand)]
        command: access::TokenCommand,
        #[command(flatten)]
        target: Target,
    },
    /// Add, list and remove ACLs: who may do what to which topics, groups and the cluster
    Acl {
        #[command(subcommand)]
        command: access::AclCommand,
        #[command(flatten)]
        target: Target,
    },
    /// Load-test a node: produce 1 KiB JSON records and report throughput and latency
    Bench {
        #[command(flatten)]
        args: bench::BenchArgs,
        #[command(flatten)]
        target: Target,
    },
}

/// Runs one client command.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Topic { command, target } => commands::topic(&target, command).await,
        Command::Produce { args, target } => produce::produce(&target, args).await,
        Command::Consume { args, target } => consume::consume(&target, args).await,
        Command::Group { command, target } => commands::group(&target, command).await,
        Command::Token { command, target } => access::token(&target, command).await,
        Command::Acl { command, target } => access::acl(&target, command).await,
        Command::Cluster {
            command,
            target,
            cluster_secret_file,
        } => commands::cluster(&target, cluster_secret_file.as_deref(), command).await,
        Command::Bench { args, target } => bench::run(&target, args).await,
    }
}
