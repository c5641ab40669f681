//! The read commands: assets, one asset, a classification, the agents and the events.

use anyhow::{Result, bail};
use hygie_collector::classify::{self, Category};
use hygie_collector::config::CollectorConfig;
use hygie_collector::inventory::flags::Flag;
use hygie_collector::query;
use hygie_collector::report::{self, RowFormat};
use hygie_collector::store::listing::{Cursor, Filter, Listing, Order, VerdictStatus};
use hygie_collector::store::{EventFilter, InventoryReader};
use hygie_proto::MacAddr;
use jiff::Timestamp;

use super::open::{DatabaseArg, open_query};
use super::output::{Format, ListFormat, print, print_bytes, print_json, stream_rows};

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
    /// Only assets of this kind (printer, patient_monitor, ...).
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// Only assets seen by agents of this site.
    #[arg(long, value_name = "SITE")]
    site: Option<String>,
    /// Only assets whose IEEE vendor contains this text (case ignored).
    #[arg(long, value_name = "TEXT")]
    vendor: Option<String>,
    /// Only assets whose MAC, addresses, host names, vendor, manufacturer, model or registry
    /// asset tag, name, location or owner contain this text (case ignored).
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    /// Order: mac, last-seen (most recently seen first), first-seen (newest devices first),
    /// vendor, category or kind. Devices never seen, or of unknown vendor, come last.
    #[arg(long, value_name = "ORDER", default_value_t = Order::Mac)]
    sort: Order,
    /// At most this many assets (a page); the next page's cursor is printed after it.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Start after this cursor (printed by the previous page).
    #[arg(long, value_name = "CURSOR")]
    after: Option<Cursor>,
    /// Print only how many assets pass the filters.
    #[arg(long)]
    count: bool,
    /// Output format (json and csv stream: memory stays flat whatever the inventory's size).
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
        kind,
        site,
        vendor,
        search,
        sort,
        limit,
        after,
        count,
        format,
        at,
        database,
    } = args;
    if unmanaged && flag.is_some_and(|flag| flag != Flag::Unmanaged) {
        bail!("--unmanaged is --flag unmanaged: give one flag");
    }
    let filter = Filter {
        flag: if unmanaged {
            Some(Flag::Unmanaged)
        } else {
            flag
        },
        category,
        kind,
        site,
        vendor,
        search,
    };
    if let Some(at) = at {
        if limit.is_some() || after.is_some() || count || sort != Order::Mac {
            bail!(
                "--sort, --limit, --after and --count page the present inventory; --at lists the whole reconstruction, in MAC order"
            );
        }
        return super::at::assets(&at, &filter, format, config, &database, now);
    }
    let query = open_query(config, &database)?;
    if let VerdictStatus::Previous(staleness) = query.verdict_status()? {
        eprintln!("note: {staleness}");
    }
    if count {
        let count = query.count(&filter)?;
        return match format {
            ListFormat::Json => print_json(&serde_json::json!({ "count": count })),
            ListFormat::Table | ListFormat::Csv => print(&format!("{count}\n")),
        };
    }
    let listing = Listing {
        filter,
        order: sort,
        after,
        limit,
    };
    listing.check()?;
    let page = match format {
        ListFormat::Table => {
            let mut views = Vec::new();
            let page = query.list(&listing, &mut |view| {
                views.push(view);
                true
            })?;
            print(&report::assets_table(&views))?;
            page
        }
        ListFormat::Json => stream_rows(RowFormat::Json, |each| Ok(query.list(&listing, each)?))?,
        ListFormat::Csv => stream_rows(RowFormat::Csv, |each| Ok(query.list(&listing, each)?))?,
    };
    if let Some(next) = page.next {
        let sort = if sort == Order::Mac {
            String::new()
        } else {
            format!("--sort {sort} ")
        };
        eprintln!("next page: {sort}--after {next}");
    }
    Ok(())
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
    if let VerdictStatus::Previous(staleness) = query.verdict_status()? {
        eprintln!("note: {staleness}");
    }
    let Some(page) = query.asset_page(args.mac, args.recent)? else {
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
