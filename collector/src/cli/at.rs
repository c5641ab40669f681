//! `--at DATE` on `assets`, `asset` and `export`: the inventory as it stood then, rebuilt by
//! [`hygie_collector::asof`]. Each command's handler branches here when `--at` is given.

use std::path::Path;

use anyhow::{Result, bail};
use hygie_collector::asof::view::{PastContext, past_facts, past_view};
use hygie_collector::asof::{self, Anchor, Moment, Reconstruction};
use hygie_collector::classify::{self, Rules};
use hygie_collector::config::CollectorConfig;
use hygie_collector::export::SnapshotMeta;
use hygie_collector::export::signing;
use hygie_collector::query::{AssetPage, HistoryEntry};
use hygie_collector::report::{self, RowFormat};
use hygie_collector::store::{InventoryReader, SqliteStore};
use hygie_collector::views::{self, AssetView, Counts, Filter};
use hygie_proto::MacAddr;
use jiff::Timestamp;

use super::open::{DatabaseArg, load_signer, open_reader};
use super::output::{Format, ListFormat, print, print_json, stream_rows};
use super::snapshot::ExportFormat;
use super::snapshot_out::write_snapshot;

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

/// Hands `each` the view of every device at `moment` passing `filter`, in MAC order, until it
/// returns `false`; returns the anchor.
fn past_views(
    store: &SqliteStore,
    rules: &Rules,
    moment: &Moment,
    filter: &Filter,
    each: &mut dyn FnMut(AssetView) -> bool,
) -> Result<Anchor> {
    let agents = store.agents()?;
    let context = PastContext {
        rules,
        agents: &agents,
        at: moment.at(),
    };
    let mut open = true;
    let anchor = store.past_inventory(moment, None, |past| {
        if open && let Some(view) = past_view(&past, &context).filter(|view| filter.accepts(view)) {
            open = each(view);
        }
        Ok(())
    })?;
    Ok(anchor)
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
    let describe = |anchor| {
        eprintln!(
            "{}",
            describe_reconstruction(&Reconstruction::new(&moment, anchor))
        );
    };
    let rows =
        |each: &mut dyn FnMut(AssetView) -> bool| past_views(&store, &rules, &moment, filter, each);
    match format {
        ListFormat::Table => {
            let mut views = Vec::new();
            let anchor = rows(&mut |view| {
                views.push(view);
                true
            })?;
            describe(anchor);
            print(&report::assets_table(&views))
        }
        ListFormat::Json => stream_rows(RowFormat::Json, rows).map(describe),
        ListFormat::Csv => stream_rows(RowFormat::Csv, rows).map(describe),
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
    // Refused before a file is begun, with the earliest date possible.
    store.history_bounds()?.admit(&moment)?;
    let mut reconstruction = None;
    let counts = write_snapshot(out, format, &signer, |sink| {
        let mut meta = SnapshotMeta {
            // Counted from the rows as they are written.
            counts: Counts::zero(),
            // The chain as it is now: it covers the anchor, and `verify --events --snapshot`
            // checks the log was not rewritten since.
            events_head: store.event_head().map_err(std::io::Error::other)?,
            taken_at: now,
            hostname: hygie_proto::kernel_hostname().unwrap_or_default(),
            // Known once the rows are read; the header is signed after them.
            reconstruction: None,
        };
        sink.begin(&meta)?;
        let mut failed = None;
        let anchor = past_views(
            &store,
            &rules,
            &moment,
            &Filter::default(),
            &mut |view| match sink.row(view) {
                Ok(()) => true,
                Err(error) => {
                    failed = Some(error);
                    false
                }
            },
        )
        .map_err(|error| std::io::Error::other(format!("{error:#}")))?;
        if let Some(error) = failed {
            return Err(error);
        }
        meta.reconstruction = Some(Reconstruction::new(&moment, anchor));
        reconstruction.clone_from(&meta.reconstruction);
        Ok(meta)
    })?;
    println!(
        "{} assets ({} unmanaged) as they stood at {} written to {}",
        counts.assets,
        counts.assets - counts.managed,
        moment.at(),
        out.display()
    );
    if let Some(past) = &reconstruction {
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
