//! `hygie-agent`: the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hygie_agent::config::AgentConfig;
use hygie_agent::outbox::Outbox;
use tokio_util::sync::CancellationToken;

/// Hygie agent: discovers the devices on a facility subnet and reports them to the collector.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent: collect observations and stream them to the collector.
    Run {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Check a configuration file, including that the certificate files are readable.
    Validate {
        /// The file to check.
        file: PathBuf,
    },
    /// Show what the outbox holds: waiting observations, unacknowledged batches, evictions.
    Outbox {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Run { .. } => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hygie-agent: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { config } => {
            let config = AgentConfig::load(&config)?;
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(cancel_on_signal(shutdown.clone()));
                hygie_agent::run::run(config, shutdown).await
            })?;
            Ok(())
        }
        Command::Validate { file } => {
            let config = AgentConfig::load(&file)?;
            for path in [
                &config.collector.ca,
                &config.collector.cert,
                &config.collector.key,
            ] {
                std::fs::metadata(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
            }
            println!("{} is valid:\n{config:#?}", file.display());
            Ok(())
        }
        Command::Outbox { config } => {
            let config = AgentConfig::load(&config)?;
            let outbox = Outbox::open_read_only(&config.outbox.path)?;
            let mut stats = outbox.stats()?;
            stats.max_bytes = config.outbox.max_bytes;
            println!("outbox {} ({})", outbox.id(), config.outbox.path.display());
            println!("{}", serde_json::to_string_pretty(&stats)?);
            Ok(())
        }
    }
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
                shutdown.cancel();
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
