//! The command line: `strata serve` here, the client commands from `strata-cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use strata_cli::output;

use crate::config::{Config, LogFormat, Overrides};

/// Strata: event streams whose durable home is object storage.
#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    after_help = "Exit codes: 0 done; 1 the request failed or was refused; 2 invalid command \
                  line or config; 3 no such topic, partition or group; 4 the node is unreachable \
                  or unavailable (try again); 5 it exists already or is busy (a conflict)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node (with no flags: a single node on ./strata-data, listening on 127.0.0.1:8080)
    Serve {
        /// TOML config file (see strata.example.toml)
        #[arg(long, env = "STRATA_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        overrides: Box<Overrides>,
    },
    #[command(flatten)]
    Client(Box<strata_cli::Command>),
    /// Print a shell completion script, e.g. strata completions bash > /etc/bash_completion.d/strata
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(output::exit::FAILED);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { config, overrides } => serve(config, *overrides).await,
            Command::Client(command) => strata_cli::run(*command).await,
            Command::Completions { shell } => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut cmd, "strata", &mut std::io::stdout());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::from(output::exit::OK),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(output::exit_code(&e))
        }
    }
}

fn init_tracing(format: LogFormat) {
    // The libraries under us report their own workings at info (foyer, the cache, its start-up
    // and recovery): nothing an operator acts on, so they say only warnings unless `RUST_LOG`
    // names them.
    let wanted = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string());
    let mut directives = wanted.clone();
    for quiet in ["openraft", "sled", "foyer"] {
        if !wanted.contains(quiet) {
            directives.push_str(&format!(",{quiet}=warn"));
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,openraft=warn,sled=warn,foyer=warn")
    });
    // Colour only for a person at a terminal, never into a file or a log collector.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(file: Option<PathBuf>, overrides: Overrides) -> anyhow::Result<()> {
    let config =
        Config::load(file.as_deref(), &overrides).map_err(|e| output::Usage(e.to_string()))?;
    init_tracing(config.log_format);
    for note in &config.notes {
        tracing::warn!("{note}");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        on_signal.cancel();
    });
    crate::node::run(config, listener, shutdown).await
}
