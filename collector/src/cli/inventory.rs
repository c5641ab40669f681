//! The read commands: assets, one asset, a classification, the agents and the events.

use anyhow::{Result, bail};
use hygie_collector::classify::{self, Category};
use hygie_collector::config::CollectorConfig;
use hygie_collector::inventory::flags::Flag;
use hygie_collector::query;
use hygie_collector::report;
use hygie_collector::store::{EventFilter, InventoryReader};
use hygie_collector::views::Filter;
use hygie_proto::MacAddr;
use jiff::Timestamp;

use super::open::{DatabaseArg, open_query};
use super::output::{Format, ListFormat, print, print_bytes, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct AssetsArgs {
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
    /// The inventory as it stood at this time (2026-03-01T14:30:00Z) or date (2026-03-01:
    /// the end of that day, UTC), rebuilt from the event log and the observation history.
    #[arg(long, value_name = "DATE")]
    at: Option<String>,
    #[command(flatten)]
    database: DatabaseArg,
}

pub(crate) fn assets(args: AssetsArgs, config: &CollectorConfig, now: Timestamp) -> Result<()> {
    let AssetsArgs {
        unmanaged,
        flag,
        category,
        site,
        format,
        at,
        database,
    } = args;
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
    if let Some(at) = at {
        return super::at::assets(&at, &filter, format, config, &database, now);
    }
    let query = open_query(config, &database)?;
    let views = query.views(&filter, now)?;
    match format {
        ListFormat::Table => print(&report::assets_table(&views)),
        ListFormat::Json => print_json(&views),
        ListFormat::Csv => print_bytes(&report::assets_csv(&views)),
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct AssetArgs {
    /// The asset's MAC address.
    mac: MacAddr,
    /// How many recent observations and events to show.
    #[arg(long, default_value_t = 20)]
    recent: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// The inventory as it stood at this time (2026-03-01T14:30:00Z) or date (2026-03-01:
    /// the end of that day, UTC), rebuilt from the event log and the observation history.
    #[arg(long, value_name = "DATE")]
    at: Option<String>,
    #[command(flatten)]
    database: DatabaseArg,
}

pub(crate) fn asset(args: AssetArgs, config: &CollectorConfig, now: Timestamp) -> Result<()> {
    if let Some(at) = &args.at {
        return super::at::asset(
            at,
            args.mac,
            args.recent,
            args.format,
            config,
            &args.database,
            now,
        );
    }
    let query = open_query(config, &args.database)?;
    let Some(page) = query.asset_page(args.mac, now, args.recent)? else {
        bail!(
            "{} has never been seen and is not in the registry",
            args.mac
        );
    };
    match args.format {
        Format::Table => print(&report::asset_page(&page)),
        Format::Json => print_json(&page),
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ClassifyArgs {
    /// The asset's MAC address.
    #[arg(long, value_name = "MAC")]
    explain: MacAddr,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    database: DatabaseArg,
}

pub(crate) fn classify(args: ClassifyArgs, config: &CollectorConfig) -> Result<()> {
    let query = open_query(config, &args.database)?;
    let classification = query.classification(args.explain)?;
    match args.format {
        Format::Table => print(&report::safe_lines(&classify::explain(
            args.explain,
            &classification,
        ))),
        Format::Json => print_json(&classification),
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct AgentsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    database: DatabaseArg,
}

pub(crate) fn agents(args: AgentsArgs, config: &CollectorConfig) -> Result<()> {
    let query = open_query(config, &args.database)?;
    let agents = query.agents()?;
    match args.format {
        Format::Table => print(&report::agents_table(&agents)),
        Format::Json => print_json(&agents),
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct EventsArgs {
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
}

pub(crate) fn events(args: EventsArgs, config: &CollectorConfig, now: Timestamp) -> Result<()> {
    let query = open_query(config, &args.database)?;
    let since = args
        .since
        .map(|text| query::parse_since(&text, now))
        .transpose()
        .map_err(|error| anyhow::anyhow!("--since: {error}"))?;
    let events = query.store().events(&EventFilter {
        since,
        mac: args.mac,
        limit: args.limit,
    })?;
    match args.format {
        ListFormat::Table => print(&report::events_table(&events)),
        ListFormat::Json => print_json(&events),
        ListFormat::Csv => print_bytes(&report::events_csv(&events)),
    }
}
