//! The approved registry: import, list, remove, and `approve` for one device. Changes go
//! through the console's operation and name the operator in their events (`by`).

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
use super::operator::operator;
use super::output::{ListFormat, print, print_bytes, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCommand {
    /// Import a CSV (columns mac, asset_tag, name, category, location, owner, criticality,
    /// site, do_not_probe; header names are matched case-insensitively; do_not_probe is
    /// yes/no, true/false or 1/0). Re-importing updates, never duplicates.
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
            let outcome = store.change_registry_by(
                RegistryChange::Upsert {
                    columns: parsed.columns,
                    entries: parsed
                        .entries
                        .into_iter()
                        .map(|line| (line.mac, line.fields))
                        .collect(),
                    source,
                },
                Some(&operator()),
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
            store.change_registry_by(RegistryChange::Remove { mac }, Some(&operator()), now)?;
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
    /// The site it belongs to (limits do-not-probe to that site's agents).
    #[arg(long)]
    site: Option<String>,
    /// Never probe it actively: yes or no (no clears it).
    #[arg(long, value_name = "YES|NO", value_parser = parse_yes_no)]
    do_not_probe: Option<bool>,
    #[command(flatten)]
    database: DatabaseArg,
}

fn parse_yes_no(text: &str) -> Result<bool, String> {
    hygie_collector::registry::parse_yes_no(text).map_err(|error| error.to_string())
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
        site: args.site.unwrap_or_default(),
        do_not_probe: false,
    }
    .check()
    .map_err(anyhow::Error::msg)?;
    let mut store = open_writer(config, &args.database)?;
    let seen = store.seen(mac)?;
    let outcome = store.change_registry_by(
        RegistryChange::Approve {
            mac,
            fields,
            do_not_probe: args.do_not_probe,
        },
        Some(&operator()),
        now,
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_support::config_in;

    fn now() -> Timestamp {
        "2026-11-25T10:00:00Z".parse().unwrap()
    }

    fn import(config: &CollectorConfig, file: &std::path::Path) -> Result<()> {
        registry(
            RegistryCommand::Import {
                file: file.to_owned(),
                skip_invalid: false,
                database: DatabaseArg::default(),
            },
            config,
            now(),
        )
    }

    fn entries(config: &CollectorConfig) -> Vec<(String, bool, String)> {
        open_reader(config, &DatabaseArg::default())
            .unwrap()
            .registry()
            .unwrap()
            .into_iter()
            .map(|entry| {
                (
                    entry.mac.to_string(),
                    entry.fields.do_not_probe,
                    entry.fields.site,
                )
            })
            .collect()
    }

    #[test]
    fn do_not_probe_is_imported_listed_and_approved() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        let file = dir.path().join("registry.csv");
        std::fs::write(
            &file,
            "mac,name,site,do_not_probe\n\
             00:09:5c:11:22:01,Pump ICU 9,chu-nord,yes\n\
             00:09:5c:11:22:02,Monitor,,no\n",
        )
        .unwrap();
        import(&config, &file).unwrap();
        assert_eq!(
            entries(&config),
            [
                ("00:09:5c:11:22:01".into(), true, "chu-nord".into()),
                ("00:09:5c:11:22:02".into(), false, String::new()),
            ]
        );
        let listed = open_reader(&config, &DatabaseArg::default())
            .unwrap()
            .registry()
            .unwrap();
        let table = report::registry_table(&listed);
        assert!(table.contains("DO NOT PROBE"), "{table}");
        assert!(table.contains("chu-nord  yes"), "{table}");
        let csv = String::from_utf8(report::registry_csv(&listed)).unwrap();
        assert!(
            csv.starts_with(
                "mac,asset_tag,name,category,location,owner,criticality,site,do_not_probe\n"
            ),
            "{csv}"
        );
        assert!(csv.contains(",chu-nord,yes\n"), "{csv}");

        // A bad value refuses the whole file and names the line.
        std::fs::write(&file, "mac,do_not_probe\n00:09:5c:11:22:02,perhaps\n").unwrap();
        let error = import(&config, &file).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("1 invalid line(s): nothing imported"),
            "{error}"
        );
        assert!(!entries(&config)[1].1);

        // approve sets and clears it; leaving it out keeps it.
        let approve_with = |do_not_probe: Option<bool>| {
            approve(
                ApproveArgs {
                    mac: "00:09:5c:11:22:02".parse().unwrap(),
                    asset_tag: None,
                    name: None,
                    category: None,
                    location: None,
                    owner: None,
                    criticality: None,
                    site: None,
                    do_not_probe,
                    database: DatabaseArg::default(),
                },
                &config,
                now(),
            )
            .unwrap();
            entries(&config)[1].1
        };
        assert!(approve_with(Some(true)));
        assert!(approve_with(None));
        assert!(!approve_with(Some(false)));
        assert_eq!(parse_yes_no("TRUE"), Ok(true));
        assert!(parse_yes_no("si").is_err());
    }

    #[test]
    fn registry_changes_name_the_operator_in_their_events() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        let file = dir.path().join("cmms.csv");
        std::fs::write(&file, "mac,name\n00:09:5c:11:22:01,Pump ICU 9\n").unwrap();
        import(&config, &file).unwrap();
        approve(
            ApproveArgs {
                mac: "00:09:5c:11:22:01".parse().unwrap(),
                asset_tag: Some("INV-9".into()),
                name: None,
                category: None,
                location: None,
                owner: None,
                criticality: None,
                site: None,
                do_not_probe: None,
                database: DatabaseArg::default(),
            },
            &config,
            now(),
        )
        .unwrap();
        registry(
            RegistryCommand::Remove {
                mac: "00:09:5c:11:22:01".parse().unwrap(),
                database: DatabaseArg::default(),
            },
            &config,
            now(),
        )
        .unwrap();
        let store = open_reader(&config, &DatabaseArg::default()).unwrap();
        let events = store
            .events(&hygie_collector::store::EventFilter::default())
            .unwrap();
        let found: Vec<(String, String, String)> = events
            .iter()
            .map(|event| {
                let details: serde_json::Value = serde_json::from_str(&event.details).unwrap();
                (
                    event.kind.clone(),
                    details["source"].as_str().unwrap().to_owned(),
                    details["by"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let by = crate::cli::operator::operator();
        assert_eq!(
            found,
            [
                (
                    "registry_added".into(),
                    "import:cmms.csv".into(),
                    by.clone()
                ),
                ("registry_updated".into(), "approve".into(), by.clone()),
                ("registry_removed".into(), "remove".into(), by),
            ]
        );
        crate::cli::snapshot::verify_events(&config, &DatabaseArg::default(), None, None).unwrap();
    }
}
