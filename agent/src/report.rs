//! What `scan` and `replay` print: one row per device, merged from its observations.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use hygie_proto::{MacAddr, Observation, Source};
use jiff::Timestamp;
use serde::Serialize;

/// Everything seen of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Hardware address.
    pub mac: MacAddr,
    /// Addresses.
    pub ips: BTreeSet<IpAddr>,
    /// Host names.
    pub hostnames: BTreeSet<String>,
    /// Services, as `type port` (e.g. `_ipp._tcp.local 631`).
    pub services: BTreeSet<String>,
    /// How it was seen.
    pub sources: BTreeSet<Source>,
    /// First sighting.
    pub first_seen: Timestamp,
    /// Last sighting.
    pub last_seen: Timestamp,
}

/// Devices by MAC.
#[derive(Debug, Default, Clone)]
pub struct DeviceTable {
    devices: BTreeMap<MacAddr, Device>,
}

impl DeviceTable {
    /// An empty table.
    pub fn new() -> Self {
        DeviceTable::default()
    }

    /// Merges one observation.
    pub fn add(&mut self, observation: &Observation) {
        let device = self
            .devices
            .entry(observation.mac)
            .or_insert_with(|| Device {
                mac: observation.mac,
                ips: BTreeSet::new(),
                hostnames: BTreeSet::new(),
                services: BTreeSet::new(),
                sources: BTreeSet::new(),
                first_seen: observation.seen_at,
                last_seen: observation.seen_at,
            });
        device.ips.extend(observation.ips.iter().copied());
        device
            .hostnames
            .extend(observation.hostname.iter().cloned());
        device.services.extend(
            observation
                .services
                .iter()
                .map(|service| format!("{} {}", service.service_type, service.port)),
        );
        device.sources.insert(observation.source);
        device.first_seen = device.first_seen.min(observation.seen_at);
        device.last_seen = device.last_seen.max(observation.seen_at);
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// True when nothing was seen.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The devices, by MAC.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    /// An aligned text table, safe for a terminal.
    pub fn to_table(&self) -> String {
        let headers = [
            "MAC",
            "IP ADDRESSES",
            "HOSTNAMES",
            "SERVICES",
            "SEEN BY",
            "LAST SEEN",
        ];
        let join = |items: &mut dyn Iterator<Item = String>| {
            hygie_proto::terminal_safe(&items.collect::<Vec<_>>().join(", "), 60)
        };
        let rows: Vec<[String; 6]> = self
            .devices
            .values()
            .map(|device| {
                [
                    device.mac.to_string(),
                    join(&mut device.ips.iter().map(ToString::to_string)),
                    join(&mut device.hostnames.iter().cloned()),
                    join(&mut device.services.iter().cloned()),
                    join(&mut device.sources.iter().map(ToString::to_string)),
                    device.last_seen.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
                ]
            })
            .collect();
        let mut widths = headers.map(|header| header.chars().count());
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for cells in std::iter::once(headers.map(str::to_owned)).chain(rows) {
            let mut line = String::new();
            for (cell, width) in cells.iter().zip(widths) {
                let _ = write!(line, "{cell:<width$}  ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let _ = writeln!(out, "{} devices", self.devices.len());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_of_a_device_merge_into_one_row() {
        let mac: MacAddr = "00:09:5c:11:22:01".parse().unwrap();
        let mut first = Observation::new(mac, Timestamp::UNIX_EPOCH, Source::ArpActive);
        first.ips = vec!["198.18.0.11".parse().unwrap()];
        let mut second = first.clone();
        second.source = Source::Mdns;
        second.hostname = Some("mon\u{1b}[2J".into());
        let mut table = DeviceTable::new();
        table.add(&first);
        table.add(&second);
        assert_eq!(table.len(), 1);
        let text = table.to_table();
        assert!(text.contains("arp_active, mdns"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.ends_with("1 devices\n"));
    }
}
