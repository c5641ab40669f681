//! `hygie-collector`: the command line.

/// mimalloc rather than glibc's allocator: observations are decoded on the runtime's threads
/// and freed on the writer thread, and glibc's per-thread arenas then keep trimming and
/// regrowing the writer's heap. Measured with `tests/bench.sh ingest`: 11.6% of the writer's
/// time was the kernel zeroing re-faulted pages; with mimalloc ingest runs about 20% faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use hygie_collector::ca::{CertificateAuthority, PkiPaths, Validity};
use hygie_collector::config::CollectorConfig;
use hygie_collector::identity::AgentIdentity;
use hygie_collector::report;
use hygie_collector::server::{self, SERVER_DAYS};
use hygie_collector::store::{InventoryReader, SqliteStore};
use jiff::Timestamp;

/// Hygie collector: the network asset inventory of a care facility.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML). Without one, the embedded default is used: listen on
    /// 127.0.0.1:7443, data under ./hygie-data/.
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC server that agents report to.
    Serve,
    /// Check a configuration file and print the settings it resolves to.
    Validate {
        /// The file to check.
        file: PathBuf,
    },
    /// Certificate tooling: the CA, agent and server certificates.
    #[command(subcommand)]
    Ca(CaCommand),
    /// List the assets in the inventory.
    Assets {
        #[command(flatten)]
        read: ReadArgs,
    },
    /// List the agents that have reported.
    Agents {
        #[command(flatten)]
        read: ReadArgs,
    },
}

#[derive(Debug, clap::Args)]
struct ReadArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Inventory database to read (default: the one in the configuration).
    #[arg(long, value_name = "FILE")]
    database: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Create the CA and the collector's server certificate.
    Init {
        /// DNS names agents use to reach the collector (default: localhost and this host).
        #[arg(long = "dns", value_name = "NAME")]
        dns: Vec<String>,
        /// IP addresses agents use to reach the collector (default: loopback).
        #[arg(long = "ip", value_name = "ADDRESS")]
        ips: Vec<IpAddr>,
        /// Replace an existing CA. Every agent certificate it issued stops working.
        #[arg(long)]
        force: bool,
    },
    /// Issue a client certificate for one agent.
    IssueAgent {
        /// Agent name, unique within its site (letters, digits, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// Site (facility) the agent belongs to.
        #[arg(long)]
        site: String,
        /// Directory to write agent.pem, agent.key and ca.pem into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
    /// Issue (or replace) the collector's server certificate.
    IssueServer {
        /// DNS names of the collector.
        #[arg(long = "dns", value_name = "NAME")]
        dns: Vec<String>,
        /// IP addresses of the collector.
        #[arg(long = "ip", value_name = "ADDRESS")]
        ips: Vec<IpAddr>,
        /// Directory to write server.pem and server.key into (default: the configured paths).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Validity in days.
        #[arg(long, default_value_t = SERVER_DAYS)]
        days: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve);
    init_logging(if serving { "info" } else { "warn" });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hygie-collector: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> Result<()> {
    let config = || CollectorConfig::load_or_default(cli.config.as_deref());
    match cli.command {
        Command::Serve => serve(config()?),
        Command::Validate { file } => {
            let config = CollectorConfig::load(&file)?;
            println!("{} is valid:\n{config:#?}", file.display());
            Ok(())
        }
        Command::Ca(command) => ca(command, &config()?),
        Command::Assets { read } => {
            let store = open_reader(&config()?, read.database.as_deref())?;
            let rows = report::asset_rows(&store.inventory()?, &store.agents()?);
            match read.format {
                Format::Table => print(&report::assets_table(&rows)),
                Format::Json => print_json(&rows),
            }
        }
        Command::Agents { read } => {
            let store = open_reader(&config()?, read.database.as_deref())?;
            let agents = store.agents()?;
            match read.format {
                Format::Table => print(&report::agents_table(&agents)),
                Format::Json => print_json(&agents),
            }
        }
    }
}

fn serve(config: CollectorConfig) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(server::serve(config, shutdown_signal()))?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stop with Ctrl-C");
                let _ = interrupt.await;
                return;
            }
        };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

fn open_reader(config: &CollectorConfig, database: Option<&Path>) -> Result<SqliteStore> {
    let path = database.unwrap_or(&config.database);
    if !path.exists() {
        anyhow::bail!(
            "no inventory at {}: start the collector first (hygie-collector serve), or pass --config/--database",
            path.display()
        );
    }
    Ok(SqliteStore::open_reader(path)?)
}

fn ca(command: CaCommand, config: &CollectorConfig) -> Result<()> {
    let now = Timestamp::now();
    let pki = &config.pki;
    match command {
        CaCommand::Init { dns, ips, force } => {
            let (default_dns, default_ips) = server::default_server_names();
            let (dns, ips) = if dns.is_empty() && ips.is_empty() {
                (default_dns, default_ips)
            } else {
                (dns, ips)
            };
            server::init_pki(pki, &dns, &ips, force, now)?;
            println!("CA:                 {}", pki.ca_cert.display());
            println!("CA key (secret):    {}", pki.ca_key.display());
            println!(
                "server certificate: {} for {}",
                pki.server_cert.display(),
                names(&dns, &ips)
            );
            println!("Next: hygie-collector ca issue-agent --name NAME --site SITE --out DIR");
            Ok(())
        }
        CaCommand::IssueAgent {
            name,
            site,
            out,
            days,
        } => {
            let identity = AgentIdentity::new(&name, &site)?;
            let ca = load_ca(pki)?;
            let issued = ca.issue_agent(&identity, Validity::days_from(now, days))?;
            let cert = out.join("agent.pem");
            let key = out.join("agent.key");
            issued.save(&cert, &key)?;
            std::fs::write(out.join("ca.pem"), ca.cert_pem())
                .with_context(|| format!("cannot write {}", out.join("ca.pem").display()))?;
            println!("Issued {identity} for {days} days into {}.", out.display());
            println!("Copy that directory to the agent host and set in its agent.toml:\n");
            println!("[collector]");
            println!("ca = \"{}\"", out.join("ca.pem").display());
            println!("cert = \"{}\"", cert.display());
            println!("key = \"{}\"", key.display());
            Ok(())
        }
        CaCommand::IssueServer {
            dns,
            ips,
            out,
            days,
        } => {
            let ca = load_ca(pki)?;
            let issued = ca.issue_server(&dns, &ips, Validity::days_from(now, days))?;
            let (cert, key) = match &out {
                Some(dir) => (dir.join("server.pem"), dir.join("server.key")),
                None => (pki.server_cert.clone(), pki.server_key.clone()),
            };
            issued.save(&cert, &key)?;
            println!(
                "Server certificate for {} written to {}; restart the collector to use it.",
                names(&dns, &ips),
                cert.display()
            );
            Ok(())
        }
    }
}

fn load_ca(pki: &PkiPaths) -> Result<CertificateAuthority> {
    if !pki.ca_key.exists() {
        anyhow::bail!(
            "no CA at {}: run `hygie-collector ca init` first",
            pki.ca_key.display()
        );
    }
    Ok(CertificateAuthority::load(&pki.ca_cert, &pki.ca_key)?)
}

fn names(dns: &[String], ips: &[IpAddr]) -> String {
    dns.iter()
        .cloned()
        .chain(ips.iter().map(ToString::to_string))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    match stdout.write_all(text.as_bytes()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    print(&text)
}
