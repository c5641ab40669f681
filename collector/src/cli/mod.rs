//! The command line, one module per responsibility: reading the inventory, the registry,
//! snapshots and verification, certificates, serving. `anyhow` lives here and in `main.rs`
//! only; the library's errors are typed.

mod alerts;
mod at;
mod backup;
mod ca;
mod glpi;
mod inventory;
mod open;
mod operator;
mod output;
mod policy;
mod registry;
mod serve;
mod snapshot;
mod snapshot_out;
#[cfg(test)]
mod test_support;
mod user;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use hygie_collector::classify::Rules;
use hygie_collector::config::CollectorConfig;
use jiff::Timestamp;

/// Where the packages install the configuration.
const INSTALLED_CONFIG: &str = "/etc/hygie/collector.toml";

/// Hygie collector: the network asset inventory of a care facility.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub(crate) struct Cli {
    /// Configuration file (TOML). Without one, /etc/hygie/collector.toml if it exists (the
    /// packages install it), else the embedded default: listen on 127.0.0.1:7443, data under
    /// ./hygie-data/.
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Whether this runs the server (which logs at info by default).
    pub(crate) fn is_serve(&self) -> bool {
        matches!(self.command, Command::Serve)
    }
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
    Ca(ca::CaCommand),
    /// List the assets: everything seen, and registered devices never seen.
    Assets(inventory::AssetsArgs),
    /// Everything known about one asset: identity, registry entry, classification evidence,
    /// addresses, services, recent observations and events.
    Asset(inventory::AssetArgs),
    /// Show how an asset's category was reached: vendor, rules and evidence.
    Classify(inventory::ClassifyArgs),
    /// List the agents that have reported.
    Agents(inventory::AgentsArgs),
    /// The approved registry: the facility's list of known devices.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Register a discovered asset (or update the fields given) in one step.
    Approve(registry::ApproveArgs),
    /// The clinical scan policy: what each site's agents must never probe, and operators'
    /// decisions to allow or deny probing a device.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// The event log: new assets, address changes, flags raised and cleared, registry changes,
    /// scan policy changes and decisions, certificates, console accounts.
    Events(inventory::EventsArgs),
    /// Write a signed snapshot of the whole inventory (JSON or CSV), or a report for people
    /// (HTML).
    Export(snapshot::ExportArgs),
    /// Check a JSON or CSV snapshot offline with the collector's public key, or the event
    /// chain of the inventory. Names the first bad row.
    Verify(snapshot::VerifyArgs),
    /// Copy the inventory database while the collector runs (without holding up ingest), then
    /// check the copy: SQLite's integrity check and the sealed event chain.
    Backup(backup::BackupArgs),
    /// The web console's accounts: add, change the password or role, remove, list.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Put a backup in place of the inventory database: refused while the collector serves;
    /// the backup is checked first and the replaced database is kept beside it.
    Restore(backup::RestoreArgs),
    /// Alerts to the SIEM: each sink's delivery status, or a test message through each.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// Pushes to GLPI through its native inventory protocol ([glpi] in the configuration).
    #[command(subcommand)]
    Glpi(glpi::GlpiCommand),
}

/// Runs one command.
pub(crate) fn run(cli: Cli) -> Result<()> {
    // Commands run on a packaged collector read its configuration without being told.
    let file = cli
        .config
        .clone()
        .or_else(|| Some(PathBuf::from(INSTALLED_CONFIG)).filter(|path| path.exists()));
    let config =
        || -> Result<CollectorConfig> { Ok(CollectorConfig::load_or_default(file.as_deref())?) };
    let now = Timestamp::now();
    match cli.command {
        Command::Serve => serve::serve(config()?),
        Command::Validate { file } => {
            let config = CollectorConfig::load(&file)?;
            let rules = Rules::load(config.rules.as_deref())?;
            println!("{} is valid:\n{config:#?}", file.display());
            println!("{} classification rules", rules.len());
            // Reads the alert sinks' secrets and CAs, as serve will.
            hygie_collector::alerts::prepare(&config.alerts)?;
            println!("{} alert sink(s)", config.alerts.sinks.len());
            Ok(())
        }
        Command::Ca(command) => ca::ca(command, &config()?, now),
        Command::Assets(args) => inventory::assets(args, &config()?, now),
        Command::Asset(args) => inventory::asset(args, &config()?, now),
        Command::Classify(args) => inventory::classify(args, &config()?),
        Command::Agents(args) => inventory::agents(args, &config()?),
        Command::Registry(command) => registry::registry(command, &config()?, now),
        Command::Approve(args) => registry::approve(args, &config()?, now),
        Command::Policy(command) => policy::policy(command, &config()?, now),
        Command::Events(args) => inventory::events(args, &config()?, now),
        Command::Export(args) => snapshot::export(args, &config()?, now),
        Command::Verify(args) => snapshot::verify(args, config),
        Command::Backup(args) => backup::backup(args, &config()?),
        Command::Restore(args) => backup::restore(args, &config()?, now),
        Command::Alerts(command) => alerts::alerts(command, &config()?),
        Command::Glpi(command) => glpi::glpi(command, &config()?),
        Command::User(command) => user::user(command, &config()?, now),
    }
}
