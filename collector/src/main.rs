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

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use hygie_collector::audit;
use hygie_collector::ca::{CertificateAuthority, PkiPaths, Validity};
use hygie_collector::classify::{self, Category, Rules};
use hygie_collector::config::CollectorConfig;
use hygie_collector::export::signing::{self, Signer25519, Verifier25519};
use hygie_collector::export::{csv_format, html, json, verify};
use hygie_collector::identity::AgentIdentity;
use hygie_collector::inventory::flags::Flag;
use hygie_collector::query::{self, Query};
use hygie_collector::registry::csv_import::parse_csv;
use hygie_collector::registry::{Criticality, RegistryFields};
use hygie_collector::report;
use hygie_collector::server::{self, SERVER_DAYS};
use hygie_collector::store::{EventFilter, InventoryReader, RegistryChange, SqliteStore};
use hygie_collector::views::Filter;
use hygie_proto::MacAddr;
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
    /// List the assets: everything seen, and registered devices never seen.
    Assets {
        /// Only assets not in the approved registry.
        #[arg(long)]
        unmanaged: bool,
        /// Only assets with this flag (unmanaged, stale, new, ip_changed, arp_conflict,
        /// randomized_mac).
        #[arg(long, value_name = "FLAG")]
        flag: Option<Flag>,
        /// Only assets of this category (biomedical, building, iot, it, network, unknown).
        #[arg(long, value_name = "CATEGORY")]
        category: Option<Category>,
        /// Only assets seen by agents of this site.
        #[arg(long, value_name = "SITE")]
        site: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Everything known about one asset: identity, registry entry, classification evidence,
    /// addresses, services, recent observations and events.
    Asset {
        /// The asset's MAC address.
        mac: MacAddr,
        /// How many recent observations and events to show.
        #[arg(long, default_value_t = 20)]
        recent: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Show how an asset's category was reached: vendor, rules and evidence.
    Classify {
        /// The asset's MAC address.
        #[arg(long, value_name = "MAC")]
        explain: MacAddr,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List the agents that have reported.
    Agents {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// The approved registry: the facility's list of known devices.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Register a discovered asset (or update the fields given) in one step.
    Approve {
        /// The asset's MAC address.
        mac: MacAddr,
        /// Inventory number on the device's label.
        #[arg(long)]
        asset_tag: Option<String>,
        /// Name or description.
        #[arg(long)]
        name: Option<String>,
        /// Declared category (biomedical, building, iot, it, network, unknown).
        #[arg(long)]
        category: Option<Category>,
        /// Where it is (building, ward, room).
        #[arg(long)]
        location: Option<String>,
        /// Who is responsible for it.
        #[arg(long)]
        owner: Option<String>,
        /// How critical it is (low, medium, high, life_critical).
        #[arg(long)]
        criticality: Option<Criticality>,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// The event log: new assets, address changes, flags raised and cleared, registry changes.
    Events {
        /// Only events recorded since this time (2026-11-01T08:00:00Z), date (2026-11-01) or
        /// span back from now (24h, 7days).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only events about this asset.
        #[arg(long, value_name = "MAC")]
        mac: Option<MacAddr>,
        /// At most this many (the most recent).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Write a signed snapshot of the whole inventory (JSON or CSV), or a report for people
    /// (HTML).
    Export {
        /// Snapshot format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// File to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Check a JSON or CSV snapshot offline with the collector's public key, or the event
    /// chain of the inventory. Names the first bad row.
    Verify {
        /// The snapshot to check.
        #[arg(required_unless_present = "events")]
        file: Option<PathBuf>,
        /// The trusted public key (signing.pub; default: the configured key's).
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
        /// Check the inventory's event chain instead.
        #[arg(long, conflicts_with = "file")]
        events: bool,
        /// With --events: also check that this snapshot's chain head is in the chain.
        #[arg(long, value_name = "FILE", requires = "events")]
        snapshot: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Import a CSV (columns mac, asset_tag, name, category, location, owner, criticality;
    /// header names are matched case-insensitively). Re-importing updates, never duplicates.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Import the valid lines even if some are invalid (they are still reported).
        #[arg(long)]
        skip_invalid: bool,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List the registered devices.
    List {
        /// Output format (csv can be edited and imported again).
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Remove a device from the registry.
    Remove {
        /// The device's MAC address.
        mac: MacAddr,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Debug, clap::Args)]
struct DatabaseArg {
    /// Inventory database (default: the one in the configuration).
    #[arg(long, value_name = "FILE")]
    database: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ListFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormat {
    Json,
    Csv,
    Html,
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
            // Errors quote files and databases (a snapshot's fields, a CSV header): defuse.
            eprint!(
                "{}",
                report::safe_lines(&format!("hygie-collector: {error:#}"))
            );
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
    let now = Timestamp::now();
    match cli.command {
        Command::Serve => serve(config()?),
        Command::Validate { file } => {
            let config = CollectorConfig::load(&file)?;
            let rules = Rules::load(config.rules.as_deref())?;
            println!("{} is valid:\n{config:#?}", file.display());
            println!("{} classification rules", rules.len());
            Ok(())
        }
        Command::Ca(command) => ca(command, &config()?),
        Command::Assets {
            unmanaged,
            flag,
            category,
            site,
            format,
            database,
        } => {
            let query = open_query(&config()?, &database)?;
            let filter = Filter {
                flag: if unmanaged {
                    Some(Flag::Unmanaged)
                } else {
                    flag
                },
                category,
                site,
            };
            if unmanaged && flag.is_some_and(|flag| flag != Flag::Unmanaged) {
                bail!("--unmanaged is --flag unmanaged: give one flag");
            }
            let views = query.views(&filter, now)?;
            match format {
                ListFormat::Table => print(&report::assets_table(&views)),
                ListFormat::Json => print_json(&views),
                ListFormat::Csv => print_bytes(&report::assets_csv(&views)),
            }
        }
        Command::Asset {
            mac,
            recent,
            format,
            database,
        } => {
            let query = open_query(&config()?, &database)?;
            let Some(page) = query.asset_page(mac, now, recent)? else {
                bail!("{mac} has never been seen and is not in the registry");
            };
            match format {
                Format::Table => print(&report::asset_page(&page)),
                Format::Json => print_json(&page),
            }
        }
        Command::Classify {
            explain,
            format,
            database,
        } => {
            let query = open_query(&config()?, &database)?;
            let classification = query.classification(explain)?;
            match format {
                Format::Table => print(&report::safe_lines(&classify::explain(
                    explain,
                    &classification,
                ))),
                Format::Json => print_json(&classification),
            }
        }
        Command::Agents { format, database } => {
            let query = open_query(&config()?, &database)?;
            let agents = query.agents()?;
            match format {
                Format::Table => print(&report::agents_table(&agents)),
                Format::Json => print_json(&agents),
            }
        }
        Command::Registry(command) => registry(command, &config()?, now),
        Command::Approve {
            mac,
            asset_tag,
            name,
            category,
            location,
            owner,
            criticality,
            database,
        } => {
            if !mac.is_device() {
                bail!("{mac} is a multicast or all-zero address, not a device");
            }
            let fields = RegistryFields {
                asset_tag: asset_tag.unwrap_or_default(),
                name: name.unwrap_or_default(),
                category,
                location: location.unwrap_or_default(),
                owner: owner.unwrap_or_default(),
                criticality,
            }
            .check()
            .map_err(anyhow::Error::msg)?;
            let config = config()?;
            let mut store = open_writer(&config, &database)?;
            let seen = store.inventory()?.get(&mac).is_some();
            let outcome = store.change_registry(RegistryChange::Approve { mac, fields }, now)?;
            let what = match (outcome.added, outcome.updated) {
                (1, _) => "registered",
                (_, 1) => "updated",
                _ => "unchanged",
            };
            println!("{mac} {what}.");
            if !seen {
                eprintln!("note: {mac} has not been seen on the network (yet).");
            }
            Ok(())
        }
        Command::Events {
            since,
            mac,
            limit,
            format,
            database,
        } => {
            let query = open_query(&config()?, &database)?;
            let since = since
                .map(|text| query::parse_since(&text, now))
                .transpose()
                .map_err(|error| anyhow::anyhow!("--since: {error}"))?;
            let events = query.store().events(&EventFilter { since, mac, limit })?;
            match format {
                ListFormat::Table => print(&report::events_table(&events)),
                ListFormat::Json => print_json(&events),
                ListFormat::Csv => print_bytes(&report::events_csv(&events)),
            }
        }
        Command::Export {
            format,
            out,
            database,
        } => {
            let config = config()?;
            let query = open_query(&config, &database)?;
            let signer = load_signer(&config.signing_key)?;
            let input = query.snapshot(now, server::hostname().unwrap_or_default())?;
            let bytes = match format {
                ExportFormat::Json => json::write(&input, &signer).into_bytes(),
                ExportFormat::Csv => csv_format::write(&input, &signer),
                ExportFormat::Html => html::report(&input, &signer).into_bytes(),
            };
            write_file(&out, &bytes)?;
            println!(
                "{} assets ({} unmanaged) written to {}",
                input.counts.assets,
                input.counts.assets - input.counts.managed,
                out.display()
            );
            if !matches!(format, ExportFormat::Html) {
                println!(
                    "verify offline with: hygie-collector verify {} --key {}",
                    out.display(),
                    signing::public_key_path(&config.signing_key).display()
                );
            }
            Ok(())
        }
        Command::Verify {
            file,
            key,
            events,
            snapshot,
            database,
        } => {
            if events {
                let config = config()?;
                verify_events(&config, &database, snapshot.as_deref(), key.as_deref())
            } else {
                let file = file.context("give the snapshot file to verify")?;
                let key = match key {
                    Some(key) => key,
                    None => signing::public_key_path(&config()?.signing_key),
                };
                verify_snapshot(&file, &key)
            }
        }
    }
}

fn registry(command: RegistryCommand, config: &CollectorConfig, now: Timestamp) -> Result<()> {
    match command {
        RegistryCommand::Import {
            file,
            skip_invalid,
            database,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let parsed = parse_csv(&bytes).with_context(|| format!("{}", file.display()))?;
            for column in &parsed.unknown_columns {
                eprintln!(
                    "{}: unknown column {:?} ignored (known: {})",
                    file.display(),
                    column,
                    hygie_collector::registry::csv_import::COLUMNS.join(", ")
                );
            }
            for error in &parsed.errors {
                eprintln!("{}:{}: {}", file.display(), error.line, error.reason);
            }
            if !parsed.errors.is_empty() && !skip_invalid {
                bail!(
                    "{} invalid line(s): nothing imported. Fix them, or import the {} valid line(s) with --skip-invalid",
                    parsed.errors.len(),
                    parsed.entries.len()
                );
            }
            let valid = parsed.entries.len();
            let mut store = open_writer(config, &database)?;
            let source = format!(
                "import:{}",
                file.file_name().map_or_else(
                    || file.display().to_string(),
                    |name| { name.to_string_lossy().into_owned() }
                )
            );
            let outcome = store.change_registry(
                RegistryChange::Upsert {
                    columns: parsed.columns,
                    entries: parsed
                        .entries
                        .into_iter()
                        .map(|line| (line.mac, line.fields))
                        .collect(),
                    source,
                },
                now,
            )?;
            println!(
                "{valid} valid line(s): {} added, {} updated, {} unchanged{}",
                outcome.added,
                outcome.updated,
                outcome.unchanged,
                if parsed.errors.is_empty() {
                    String::new()
                } else {
                    format!("; {} invalid line(s) skipped", parsed.errors.len())
                }
            );
            Ok(())
        }
        RegistryCommand::List { format, database } => {
            let store = open_reader(config, &database)?;
            let entries = store.registry()?;
            match format {
                ListFormat::Table => print(&report::registry_table(&entries)),
                ListFormat::Json => print_json(&entries),
                ListFormat::Csv => print_bytes(&report::registry_csv(&entries)),
            }
        }
        RegistryCommand::Remove { mac, database } => {
            let mut store = open_writer(config, &database)?;
            store.change_registry(RegistryChange::Remove { mac }, now)?;
            println!("{mac} removed from the registry.");
            Ok(())
        }
    }
}

fn verify_snapshot(file: &Path, key: &Path) -> Result<()> {
    let trusted = Verifier25519::load(key).context(
        "the trusted public key (pass --key signing.pub; it sits beside the collector's signing key)",
    )?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    match verify::verify(&bytes, &trusted) {
        Ok(verified) => {
            let header = &verified.header;
            println!(
                "{}: OK. {} snapshot {} taken {} by {} (key {}): {} assets, event chain head #{}.",
                file.display(),
                verified.format,
                header.id,
                header.taken_at,
                hygie_proto::terminal_safe(&header.collector.hostname, 64),
                header.collector.key_id,
                header.rows,
                header.events_head.id
            );
            Ok(())
        }
        Err(tampered) => bail!("{}: NOT VERIFIED: {tampered}", file.display()),
    }
}

fn verify_events(
    config: &CollectorConfig,
    database: &DatabaseArg,
    snapshot: Option<&Path>,
    key: Option<&Path>,
) -> Result<()> {
    let store = open_reader(config, database)?;
    let head = match store.verify_events()? {
        Ok(head) => head,
        Err(broken) => bail!("event chain NOT VERIFIED: {broken}"),
    };
    let key = key.map_or_else(
        || signing::public_key_path(&config.signing_key),
        Path::to_owned,
    );
    let trusted = Verifier25519::load(&key)?;
    let seal = store.events_seal()?;
    if let Err(problem) = audit::check_seal(&head, seal.as_ref(), |message, signature| {
        trusted.verify(message, signature)
    }) {
        bail!("event chain NOT VERIFIED: {problem}");
    }
    println!(
        "event chain: OK. {} events, head #{} {}, sealed by key {}",
        head.events,
        head.id,
        head.hash,
        trusted.key_id()
    );
    let Some(snapshot) = snapshot else {
        return Ok(());
    };
    // The snapshot must itself be authentic before its chain head means anything.
    let bytes =
        std::fs::read(snapshot).with_context(|| format!("cannot read {}", snapshot.display()))?;
    let verified = verify::verify(&bytes, &trusted)
        .map_err(|tampered| anyhow::anyhow!("{}: NOT VERIFIED: {tampered}", snapshot.display()))?;
    let anchor = &verified.header.events_head;
    if anchor.id == 0 {
        println!("{}: taken before any event.", snapshot.display());
        return Ok(());
    }
    match store.event(anchor.id)? {
        Some(event) if event.hash.to_hex() == anchor.hash => {
            println!(
                "{}: its chain head #{} is in the chain: the log has not been rewritten since.",
                snapshot.display(),
                anchor.id
            );
            Ok(())
        }
        Some(_) => bail!(
            "{}: event #{} differs from the one the snapshot signed: the log was rewritten",
            snapshot.display(),
            anchor.id
        ),
        None => bail!(
            "{}: event #{} it signed is missing from the chain: the log was truncated",
            snapshot.display(),
            anchor.id
        ),
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

fn database_path<'a>(config: &'a CollectorConfig, database: &'a DatabaseArg) -> &'a Path {
    database.database.as_deref().unwrap_or(&config.database)
}

fn open_reader(config: &CollectorConfig, database: &DatabaseArg) -> Result<SqliteStore> {
    let path = database_path(config, database);
    if !path.exists() {
        bail!(
            "no inventory at {}: start the collector first (hygie-collector serve), or pass --config/--database",
            path.display()
        );
    }
    Ok(SqliteStore::open_reader(path)?)
}

/// The write side, for registry changes. A registry may be imported before the collector
/// first runs: the database is then created.
fn open_writer(config: &CollectorConfig, database: &DatabaseArg) -> Result<SqliteStore> {
    let path = database_path(config, database);
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // Registry changes append events: they are sealed with the collector's key, as the
    // collector's own are.
    signing::ensure_key(&config.signing_key)?;
    let signer = load_signer(&config.signing_key)?;
    Ok(SqliteStore::open_writer(path, config.durability)?.with_sealer(signer))
}

/// Reads with the classification rules of this configuration and the flag rules of the
/// collector that writes the database (so listings agree with its events), or of this
/// configuration if it never ran.
fn open_query(config: &CollectorConfig, database: &DatabaseArg) -> Result<Query<SqliteStore>> {
    let store = open_reader(config, database)?;
    let rules = Rules::load(config.rules.as_deref())?;
    let flag_rules = store
        .published_flag_rules()?
        .unwrap_or_else(|| config.writer.flag_rules.clone());
    Ok(Query::new(store, rules, flag_rules))
}

fn load_signer(path: &Path) -> Result<Signer25519> {
    if !path.exists() {
        bail!(
            "no signing key at {}: it is created by `hygie-collector ca init` or on the collector's first start",
            path.display()
        );
    }
    Ok(Signer25519::load(path)?)
}

/// Writes `bytes` to `path` through a temporary file, so a reader never sees half a snapshot.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
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
            // The signing key is never replaced: snapshots signed with it must stay verifiable.
            let created = signing::ensure_key(&config.signing_key)?;
            println!("CA:                 {}", pki.ca_cert.display());
            println!("CA key (secret):    {}", pki.ca_key.display());
            println!(
                "server certificate: {} for {}",
                pki.server_cert.display(),
                names(&dns, &ips)
            );
            println!(
                "snapshot signing:   {} ({}); give auditors {}",
                config.signing_key.display(),
                if created { "created" } else { "kept" },
                signing::public_key_path(&config.signing_key).display()
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
    print_bytes(text.as_bytes())
}

fn print_bytes(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    match stdout.write_all(bytes) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// JSON for a terminal: characters that could act on it (C1 controls, direction overrides)
/// are written as `\uXXXX` escapes. They only occur inside strings, so the JSON means the same.
fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let mut safe = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if hygie_proto::is_unsafe_char(c) && !matches!(c, '\n' | ' ') {
            use std::fmt::Write as _;
            let _ = write!(safe, "\\u{:04x}", u32::from(c));
        } else {
            safe.push(c);
        }
    }
    safe.push('\n');
    print(&safe)
}
