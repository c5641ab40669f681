//! Read-side output for people and scripts: tables for terminals (every string made
//! terminal-safe: device-supplied and registry text alike), and plain CSV listings (cells
//! defused against formula injection). Signed snapshots are [`crate::export`]'s.

use std::fmt::Write as _;

use hygie_proto::terminal_safe;
use jiff::Timestamp;

use crate::audit::Event;
use crate::export::csv_format;
use crate::query::AssetPage;
use crate::registry::RegistryEntry;
use crate::safe;
use crate::store::AgentRecord;
use crate::views::AssetView;

pub use hygie_proto::text::{render_table, short_time};
pub use policy::policy_tables;
pub use rows::{ListingWriter, RowFormat, defused_json};

mod policy;
mod rows;

use hygie_proto::text::joined_cell as cell;

/// Multi-line text made terminal-safe line by line (the line breaks are ours, the rest is not).
pub fn safe_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(&terminal_safe(line, 400));
        out.push('\n');
    }
    out
}

/// The `assets` table: one line per asset, unmanaged ones easy to spot.
pub fn assets_table(views: &[AssetView]) -> String {
    let cells: Vec<Vec<String>> = views
        .iter()
        .map(|view| {
            let registry = view.registry.as_ref();
            vec![
                view.mac.to_string(),
                cell(view.ips.iter().take(2).map(ToString::to_string), 40),
                cell(view.hostnames.iter().take(1), 32),
                cell(view.vendor.iter(), 28),
                format!("{}/{}", view.category, terminal_safe(&view.kind, 24)),
                cell(view.identity.model.iter(), 24),
                format!("{:.2}", view.confidence),
                cell(view.flags.iter().map(|flag| flag.as_str()), 40),
                registry.map_or_else(
                    || "-".to_owned(),
                    |fields| {
                        let label = if fields.asset_tag.is_empty() {
                            &fields.name
                        } else {
                            &fields.asset_tag
                        };
                        terminal_safe(if label.is_empty() { "yes" } else { label }, 20)
                    },
                ),
                view.last_seen
                    .map_or_else(|| "never".to_owned(), short_time),
            ]
        })
        .collect();
    let mut table = render_table(
        &[
            "MAC",
            "IP ADDRESSES",
            "HOSTNAME",
            "VENDOR",
            "CATEGORY/KIND",
            "MODEL",
            "CONF",
            "FLAGS",
            "REGISTRY",
            "LAST SEEN",
        ],
        &cells,
    );
    let unmanaged = views.iter().filter(|view| !view.managed).count();
    let unseen = views.iter().filter(|view| !view.seen).count();
    let _ = writeln!(
        table,
        "{} assets: {unmanaged} unmanaged, {unseen} registered but never seen",
        views.len()
    );
    table
}

fn seen_range(first: Option<Timestamp>, last: Option<Timestamp>) -> String {
    match (first, last) {
        (Some(first), Some(last)) => format!("{} → {}", short_time(first), short_time(last)),
        _ => "never seen".to_owned(),
    }
}

/// The page of one asset: identity, registry entry, classification and evidence, addresses,
/// names, services, recent observations and events.
pub fn asset_page(page: &AssetPage) -> String {
    let view = &page.view;
    let mut out = String::new();
    let _ = writeln!(out, "{}", view.mac);
    let vendor = match (&view.vendor, &page.vendor_block) {
        (Some(vendor), Some(block)) => format!("{vendor} (IEEE block {block})"),
        (Some(vendor), None) => vendor.clone(),
        (None, _) if view.mac.is_locally_administered() => {
            "none: locally administered (randomized or private) address".to_owned()
        }
        (None, _) => "none: not in the IEEE registry".to_owned(),
    };
    let _ = writeln!(out, "  vendor:      {}", terminal_safe(&vendor, 120));
    let _ = writeln!(
        out,
        "  category:    {} / {} (confidence {:.2})",
        view.category,
        terminal_safe(&view.kind, 40),
        view.confidence
    );
    for (label, value) in [
        ("manufacturer", &view.identity.manufacturer),
        ("model", &view.identity.model),
        ("firmware", &view.identity.firmware),
        ("serial", &view.identity.serial),
    ] {
        if let Some(value) = value {
            let _ = writeln!(
                out,
                "  {:<12} {}",
                format!("{label}:"),
                terminal_safe(value, 120)
            );
        }
    }
    let flags: Vec<&str> = view.flags.iter().map(|flag| flag.as_str()).collect();
    let _ = writeln!(
        out,
        "  flags:       {}",
        if flags.is_empty() {
            "none".to_owned()
        } else {
            flags.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "  seen:        {}",
        seen_range(view.first_seen, view.last_seen)
    );
    let _ = writeln!(
        out,
        "  seen by:     {}",
        if view.seen_by.is_empty() {
            "-".to_owned()
        } else {
            cell(&view.seen_by, 200)
        }
    );
    match &view.registry {
        None => {
            let _ = writeln!(
                out,
                "  registry:    not registered (hygie-collector approve {} ...)",
                view.mac
            );
        }
        Some(fields) => {
            let _ = writeln!(out, "  registry:");
            for (label, value) in [
                ("asset tag", fields.asset_tag.clone()),
                ("name", fields.name.clone()),
                (
                    "category",
                    fields.category.map(|c| c.to_string()).unwrap_or_default(),
                ),
                ("location", fields.location.clone()),
                ("owner", fields.owner.clone()),
                (
                    "criticality",
                    fields
                        .criticality
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                ),
            ] {
                if !value.is_empty() {
                    let _ = writeln!(out, "    {label:<12} {}", terminal_safe(&value, 200));
                }
            }
        }
    }
    let _ = writeln!(out, "\nEvidence (strongest first):");
    if view.evidence.is_empty() {
        let _ = writeln!(out, "  none: nothing identifies this device yet");
    }
    for item in &view.evidence {
        let role = match item.role {
            crate::classify::Role::Counted => "",
            crate::classify::Role::Overruled => " (overruled)",
            crate::classify::Role::Deferred => " (deferred: gives way to what the device says)",
        };
        let _ = writeln!(
            out,
            "  - {:<17} {} → {}/{} ({:.2}) [rule {}]{role}",
            item.signal.as_str(),
            terminal_safe(&item.matched, 100),
            item.category,
            terminal_safe(item.kind.as_deref().unwrap_or("-"), 40),
            item.confidence,
            terminal_safe(&item.rule, 60)
        );
    }
    let _ = writeln!(out, "\nAddresses:");
    if page.addresses.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for fact in &page.addresses {
        let _ = writeln!(
            out,
            "  {:<40} {}",
            fact.value,
            seen_range(Some(fact.first_seen), Some(fact.last_seen))
        );
    }
    if !page.hostname_history.is_empty() {
        let _ = writeln!(out, "\nHost names:");
        for fact in &page.hostname_history {
            let _ = writeln!(
                out,
                "  {:<40} {}",
                terminal_safe(&fact.value, 60),
                seen_range(Some(fact.first_seen), Some(fact.last_seen))
            );
        }
    }
    if !view.services.is_empty() {
        let _ = writeln!(out, "\nServices:");
        for service in &view.services {
            let port = service
                .port
                .map_or_else(|| "(TXT only)".to_owned(), |port| format!("port {port}"));
            let _ = writeln!(
                out,
                "  {} {port}  {}",
                terminal_safe(&service.service_type, 60),
                terminal_safe(&service.instance, 80)
            );
            for (key, value) in &service.txt {
                let _ = match value {
                    Some(value) => writeln!(
                        out,
                        "      {}={}",
                        terminal_safe(key, 40),
                        terminal_safe(value, 120)
                    ),
                    None => writeln!(out, "      {} (flag)", terminal_safe(key, 120)),
                };
            }
        }
    }
    if !view.details.is_empty() {
        let _ = writeln!(out, "\nProtocol details:");
        for detail in &view.details {
            let _ = writeln!(out, "  {}", terminal_safe(&detail.title(), 120));
            for (label, value) in detail.fields() {
                let _ = writeln!(out, "      {label}: {}", terminal_safe(&value, 160));
            }
        }
    }
    let _ = writeln!(out, "\nRecent observations (newest first):");
    if page.history.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for entry in &page.history {
        let _ = writeln!(
            out,
            "  {}  {:<12} {:<24} {:<10} {}{}",
            short_time(entry.seen_at),
            entry.source,
            terminal_safe(&entry.agent, 24),
            terminal_safe(&entry.interface, 10),
            cell(entry.ips.iter().map(ToString::to_string), 60),
            entry
                .hostname
                .as_deref()
                .map(|name| format!("  {}", terminal_safe(name, 60)))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "\nEvents:");
    if page.events.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for event in &page.events {
        let _ = writeln!(
            out,
            "  #{:<6} {}  {:<18} {}",
            event.id,
            short_time(event.at),
            event.kind,
            terminal_safe(&event.details, 160)
        );
    }
    out
}

/// The `events` table.
pub fn events_table(events: &[Event]) -> String {
    let cells: Vec<Vec<String>> = events
        .iter()
        .map(|event| {
            vec![
                event.id.to_string(),
                short_time(event.at),
                event.mac.map(|mac| mac.to_string()).unwrap_or_default(),
                terminal_safe(&event.kind, 24),
                terminal_safe(&event.details, 120),
            ]
        })
        .collect();
    let mut table = render_table(&["ID", "AT", "MAC", "KIND", "DETAILS"], &cells);
    let _ = writeln!(table, "{} events", events.len());
    table
}

/// The `registry list` table.
pub fn registry_table(entries: &[RegistryEntry]) -> String {
    let cells: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| {
            let fields = &entry.fields;
            vec![
                entry.mac.to_string(),
                terminal_safe(&fields.asset_tag, 20),
                terminal_safe(&fields.name, 32),
                fields.category.map(|c| c.to_string()).unwrap_or_default(),
                terminal_safe(&fields.location, 28),
                terminal_safe(&fields.owner, 24),
                fields
                    .criticality
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                terminal_safe(&fields.site, 24),
                if fields.do_not_probe { "yes" } else { "" }.to_owned(),
                short_time(entry.updated_at),
                terminal_safe(&entry.source, 32),
            ]
        })
        .collect();
    let mut table = render_table(
        &[
            "MAC",
            "ASSET TAG",
            "NAME",
            "CATEGORY",
            "LOCATION",
            "OWNER",
            "CRITICALITY",
            "SITE",
            "DO NOT PROBE",
            "UPDATED",
            "SOURCE",
        ],
        &cells,
    );
    let _ = writeln!(table, "{} registered devices", entries.len());
    table
}

/// Writes CSV records, every cell defused.
fn csv_listing(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing into memory fails only on invalid UTF-8, which Strings cannot hold.
    let _ = writer.write_record(headers);
    for row in rows {
        let _ = writer.write_record(row.iter().map(|cell| safe::csv_cell(cell)));
    }
    writer.into_inner().unwrap_or_default()
}

/// `assets --format csv`: the snapshot's columns, unsigned (for signed ones: `export`).
pub fn assets_csv(views: &[AssetView]) -> Vec<u8> {
    let columns = &csv_format::COLUMNS[..csv_format::COLUMNS.len() - 2];
    // `cells` defuses already; defusing twice changes nothing.
    csv_listing(columns, views.iter().map(csv_format::cells))
}

/// The column line of `assets --format csv`.
pub fn assets_csv_header() -> Vec<u8> {
    let columns = &csv_format::COLUMNS[..csv_format::COLUMNS.len() - 2];
    csv_listing(columns, std::iter::empty::<Vec<String>>())
}

/// One line of `assets --format csv` (after [`assets_csv_header`]).
pub fn assets_csv_row(view: &AssetView) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(csv_format::cells(view));
    writer.into_inner().unwrap_or_default()
}

/// `events --format csv`.
pub fn events_csv(events: &[Event]) -> Vec<u8> {
    csv_listing(
        &["id", "at", "mac", "kind", "details", "prev_hash", "hash"],
        events.iter().map(|event| {
            vec![
                event.id.to_string(),
                event.at.to_string(),
                event.mac.map(|mac| mac.to_string()).unwrap_or_default(),
                event.kind.clone(),
                event.details.clone(),
                event.prev_hash.to_hex(),
                event.hash.to_hex(),
            ]
        }),
    )
}

/// `registry list --format csv`: the import columns, so a listing can be edited and imported
/// again.
pub fn registry_csv(entries: &[RegistryEntry]) -> Vec<u8> {
    csv_listing(
        &crate::registry::csv_import::COLUMNS,
        entries.iter().map(|entry| {
            let fields = &entry.fields;
            vec![
                entry.mac.to_string(),
                fields.asset_tag.clone(),
                fields.name.clone(),
                fields.category.map(|c| c.to_string()).unwrap_or_default(),
                fields.location.clone(),
                fields.owner.clone(),
                fields
                    .criticality
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                fields.site.clone(),
                if fields.do_not_probe { "yes" } else { "no" }.to_owned(),
            ]
        }),
    )
}

/// The `agents` table.
pub fn agents_table(agents: &[AgentRecord]) -> String {
    let cells: Vec<Vec<String>> = agents
        .iter()
        .map(|agent| {
            vec![
                terminal_safe(&agent.site, 40),
                terminal_safe(&agent.name, 40),
                terminal_safe(&agent.hostname, 40),
                terminal_safe(&agent.version, 20),
                short_time(agent.first_connected),
                short_time(agent.last_connected),
            ]
        })
        .collect();
    render_table(
        &[
            "SITE",
            "NAME",
            "HOST",
            "VERSION",
            "FIRST CONNECTED",
            "LAST CONNECTED",
        ],
        &cells,
    )
}

/// The certificate issuance log, with each certificate's status at `now`.
pub fn certificates_table(records: &[crate::ca::CertificateRecord], now: Timestamp) -> String {
    let cells: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            let facts = &record.facts;
            vec![
                facts.serial.clone(),
                facts.kind.as_str().to_owned(),
                terminal_safe(facts.site.as_deref().unwrap_or("-"), 40),
                terminal_safe(&facts.name, 40),
                short_time(record.issued_at),
                short_time(facts.not_after),
                record.status(now).as_str().to_owned(),
                match (record.revoked_at, &record.revoke_reason) {
                    (Some(at), reason) => format!(
                        "{} {}",
                        short_time(at),
                        terminal_safe(reason.as_deref().unwrap_or(""), 60)
                    ),
                    (None, _) => String::new(),
                },
            ]
        })
        .collect();
    render_table(
        &[
            "SERIAL",
            "KIND",
            "SITE",
            "NAME",
            "ISSUED",
            "NOT AFTER",
            "STATUS",
            "REVOKED",
        ],
        &cells,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_align() {
        let table = render_table(
            &["A", "LONGER"],
            &[
                vec!["wide cell".into(), "x".into()],
                vec!["y".into(), "z".into()],
            ],
        );
        assert_eq!(table, "A          LONGER\nwide cell  x\ny          z\n");
    }
}
