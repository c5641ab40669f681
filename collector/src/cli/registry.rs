//! The approved registry: import, list, remove, and `approve` for one device.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hygie_collector::classify::Category;
use hygie_collector::config::CollectorConfig;
use hygie_collector::registry::csv_import::parse_csv;
use hygie_collector::registry::{Criticality, RegistryFields};
use hygie_collector::report;
use hygie_collector::store::{InventoryReader, RegistryChange};
use hygie_proto::MacAddr;
use jiff::Timestamp;

use super::open::{DatabaseArg, open_reader, open_writer};
use super::output::{ListFormat, print, print_bytes, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCommand {
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

pub(crate) fn registry(
    command: RegistryCommand,
    config: &CollectorConfig,
    now: Timestamp,
) -> Result<()> {
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

#[derive(Debug, clap::Args)]
pub(crate) struct ApproveArgs {
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
}

pub(crate) fn approve(args: ApproveArgs, config: &CollectorConfig, now: Timestamp) -> Result<()> {
    let mac = args.mac;
    if !mac.is_device() {
        bail!("{mac} is a multicast or all-zero address, not a device");
    }
    let fields = RegistryFields {
        asset_tag: args.asset_tag.unwrap_or_default(),
        name: args.name.unwrap_or_default(),
        category: args.category,
        location: args.location.unwrap_or_default(),
        owner: args.owner.unwrap_or_default(),
        criticality: args.criticality,
    }
    .check()
    .map_err(anyhow::Error::msg)?;
    let mut store = open_writer(config, &args.database)?;
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
