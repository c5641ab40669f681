//! Read-side views for people and scripts: `assets` and `agents` listings as a table or JSON.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use hygie_proto::MacAddr;
use jiff::Timestamp;
use serde::Serialize;

use crate::inventory::{AgentId, Inventory};
use crate::store::AgentRecord;

/// One asset as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetRow {
    /// Hardware address.
    pub mac: MacAddr,
    /// Addresses, most recently seen first.
    pub ips: Vec<IpAddr>,
    /// Host names, most recently seen first.
    pub hostnames: Vec<String>,
    /// First sighting by any agent.
    pub first_seen: Timestamp,
    /// Latest sighting by any agent.
    pub last_seen: Timestamp,
    /// Agents that saw it, as `site/name`.
    pub seen_by: Vec<String>,
    /// DNS-SD service types it announced.
    pub services: Vec<String>,
}

/// Builds the listing rows, sorted by MAC address.
pub fn asset_rows(inventory: &Inventory, agents: &[AgentRecord]) -> Vec<AssetRow> {
    let names: HashMap<AgentId, String> = agents
        .iter()
        .map(|agent| (agent.id, format!("{}/{}", agent.site, agent.name)))
        .collect();
    let mut rows: Vec<AssetRow> = inventory
        .assets()
        .map(|asset| {
            let mut ips: Vec<_> = asset.addresses.iter().collect();
            ips.sort_by(|a, b| b.1.last.cmp(&a.1.last).then(a.0.cmp(b.0)));
            let mut hostnames: Vec<_> = asset.hostnames.iter().collect();
            hostnames.sort_by(|a, b| b.1.last.cmp(&a.1.last).then(a.0.cmp(b.0)));
            let mut services: Vec<String> = asset
                .services
                .keys()
                .map(|key| key.service_type.clone())
                .collect();
            services.dedup();
            AssetRow {
                mac: asset.mac,
                ips: ips.into_iter().map(|(ip, _)| *ip).collect(),
                hostnames: hostnames
                    .into_iter()
                    .map(|(name, _)| name.clone())
                    .collect(),
                first_seen: asset.seen.first,
                last_seen: asset.seen.last,
                seen_by: asset
                    .sightings
                    .keys()
                    .map(|id| {
                        names
                            .get(id)
                            .cloned()
                            .unwrap_or_else(|| format!("agent#{id}"))
                    })
                    .collect(),
                services,
            }
        })
        .collect();
    rows.sort_by_key(|row| row.mac);
    rows
}

/// A compact UTC time for tables.
pub fn short_time(timestamp: Timestamp) -> String {
    timestamp.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Renders rows as an aligned text table.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (index, cell) in cells.enumerate() {
            let pad = widths[index].saturating_sub(cell.chars().count());
            let _ = write!(text, "{cell}{}  ", " ".repeat(pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// The `assets` table.
pub fn assets_table(rows: &[AssetRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let join = |items: Vec<String>| hygie_proto::terminal_safe(&items.join(", "), 60);
            vec![
                row.mac.to_string(),
                join(row.ips.iter().map(ToString::to_string).collect()),
                join(row.hostnames.clone()),
                short_time(row.first_seen),
                short_time(row.last_seen),
                join(row.seen_by.clone()),
            ]
        })
        .collect();
    let mut table = render_table(
        &[
            "MAC",
            "IP ADDRESSES",
            "HOSTNAMES",
            "FIRST SEEN",
            "LAST SEEN",
            "SEEN BY",
        ],
        &cells,
    );
    let _ = writeln!(table, "{} assets", rows.len());
    table
}

/// The `agents` table.
pub fn agents_table(agents: &[AgentRecord]) -> String {
    let cells: Vec<Vec<String>> = agents
        .iter()
        .map(|agent| {
            vec![
                hygie_proto::terminal_safe(&agent.site, 40),
                hygie_proto::terminal_safe(&agent.name, 40),
                hygie_proto::terminal_safe(&agent.hostname, 40),
                hygie_proto::terminal_safe(&agent.version, 20),
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
