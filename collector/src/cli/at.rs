//! `--at DATE` on `assets`, `asset` and `export`: the inventory as it stood then, rebuilt by
//! [`hygie_collector::asof`]. Each command's handler branches here when `--at` is given.

use std::path::Path;

use anyhow::{Result, bail};
use hygie_collector::asof::view::{PastContext, past_facts, past_view};
use hygie_collector::asof::{self, Anchor, Moment, Reconstruction};
use hygie_collector::classify::{self, Rules};
use hygie_collector::config::CollectorConfig;
use hygie_collector::export::signing;
use hygie_collector::export::{SnapshotInput, csv_format, html, json};
use hygie_collector::query::{AssetPage, HistoryEntry};
use hygie_collector::report;
use hygie_collector::store::{InventoryReader, SqliteStore};
use hygie_collector::views::{self, AssetView, Filter};
use hygie_proto::MacAddr;
use jiff::Timestamp;

use super::open::{DatabaseArg, load_signer, open_reader};
use super::output::{Format, ListFormat, print, print_bytes, print_json};
use super::snapshot::ExportFormat;

/// One line saying what a reconstruction is.
pub(crate) fn describe_reconstruction(past: &Reconstruction) -> String {
    format!(
        "a reconstruction of the inventory as it stood at {}, standing on event #{} {}",
        past.as_of, past.anchor_id, past.anchor_hash
    )
}

/// Reads `--at` against the present.
fn moment(text: &str, now: Timestamp) -> Result<Moment> {
    Ok(asof::parse_at(text, now)?)
}

/// The views of every device at `moment` passing `filter`, in MAC order, and the anchor.
fn past_views(
    store: &SqliteStore,
    rules: &Rules,
    moment: &Moment,
    only: Option<MacAddr>,
    filter: &Filter,
) -> Result<(Vec<AssetView>, Anchor)> {
    let agents = store.agents()?;
    let context = PastContext {
        rules,
        agents: &agents,
        at: moment.at(),
    };
    let mut found = Vec::new();
    let anchor = store.past_inventory(moment, only, |past| {
        if let Some(view) = past_view(&past, &context).filter(|view| filter.accepts(view)) {
            found.push(view);
        }
        Ok(())
    })?;
    Ok((found, anchor))
}

/// `assets --at`.
pub(crate) fn assets(
    at: &str,
    filter: &Filter,
    format: ListFormat,
    config: &CollectorConfig,
    database: &DatabaseArg,
    now: Timestamp,
) -> Result<()> {
    let moment = moment(at, now)?;
    let store = open_reader(config, database)?;
    let rules = Rules::load(config.rules.as_deref())?;
    let (views, anchor) = past_views(&store, &rules, &moment, None, filter)?;
    eprintln!(
        "{}",
        describe_reconstruction(&Reconstruction::new(&moment, anchor))
    );
    match format {
        ListFormat::Table => print(&report::assets_table(&views)),
        ListFormat::Json => print_json(&views),
        ListFormat::Csv => print_bytes(&report::assets_csv(&views)),
    }
}

/// `asset MAC --at`.
pub(crate) fn asset(
    at: &str,
    mac: MacAddr,
    recent: usize,
    format: Format,
    config: &CollectorConfig,
    database: &DatabaseArg,
    now: Timestamp,
) -> Result<()> {
    let moment = moment(at, now)?;
    let store = open_reader(config, database)?;
    let rules = Rules::load(config.rules.as_deref())?;
    let agents = store.agents()?;
    let context = PastContext {
        rules: &rules,
        agents: &agents,
        at: moment.at(),
    };
    let mut page = None;
    let anchor = store.past_inventory(&moment, Some(mac), |past| {
        let facts = past_facts(&past);
        page = past_view(&past, &context).map(|view| (view, facts));
        Ok(())
    })?;
    let Some((view, (addresses, hostname_history))) = page else {
        bail!(
            "{mac} had not been seen by {} and was not in the registry then",
            moment.at()
        );
    };
    let names = views::agent_names(&agents);
    let history = store
        .past_history(mac, &moment, recent)?
        .into_iter()
        .map(|row| HistoryEntry::named(row, &names))
        .collect();
    let page = AssetPage {
        vendor_block: match classify::vendor::lookup(mac) {
            classify::VendorLookup::Registered(vendor) => Some(vendor.prefix),
            _ => None,
        },
        view,
        addresses,
        hostname_history,
        history,
        events: store.past_events(mac, anchor, recent)?,
    };
    eprintln!(
        "{}",
        describe_reconstruction(&Reconstruction::new(&moment, anchor))
    );
    match format {
        Format::Table => print(&report::asset_page(&page)),
        Format::Json => print_json(&page),
    }
}

/// `export --at`: a signed snapshot whose header says it is a reconstruction.
pub(crate) fn export(
    at: &str,
    format: ExportFormat,
    out: &Path,
    config: &CollectorConfig,
    database: &DatabaseArg,
    now: Timestamp,
) -> Result<()> {
    let moment = moment(at, now)?;
    let store = open_reader(config, database)?;
    let rules = Rules::load(config.rules.as_deref())?;
    let signer = load_signer(&config.signing_key)?;
    let (assets, anchor) = past_views(&store, &rules, &moment, None, &Filter::default())?;
    let input = SnapshotInput {
        counts: views::counts(&assets),
        assets,
        // The chain as it is now: it covers the anchor, and `verify --events --snapshot`
        // checks the log was not rewritten since.
        events_head: store.event_head()?,
        taken_at: now,
        hostname: hygie_proto::kernel_hostname().unwrap_or_default(),
        reconstruction: Some(Reconstruction::new(&moment, anchor)),
    };
    let bytes = match format {
        ExportFormat::Json => json::write(&input, &signer).into_bytes(),
        ExportFormat::Csv => csv_format::write(&input, &signer),
        ExportFormat::Html => html::report(&input, &signer).into_bytes(),
        ExportFormat::Netbox => bail!("--at is not available with --format netbox"),
    };
    super::snapshot::write_file(out, &bytes)?;
    println!(
        "{} assets ({} unmanaged) as they stood at {} written to {}",
        input.counts.assets,
        input.counts.assets - input.counts.managed,
        moment.at(),
        out.display()
    );
    if let Some(past) = &input.reconstruction {
        println!("{}", describe_reconstruction(past));
    }
    if !matches!(format, ExportFormat::Html) {
        println!(
            "verify offline with: hygie-collector verify {} --key {}",
            out.display(),
            signing::public_key_path(&config.signing_key).display()
        );
    }
    Ok(())
}
