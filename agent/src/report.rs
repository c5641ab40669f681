//! What `scan` and `replay` print: one row per device, merged from its observations and
//! classified with the same classifier the collector uses, so a biomedical engineer with a
//! laptop gets, offline, the verdict the collector would give.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use hygie_classify::{Classification, Facts, Rules, classify};
use hygie_proto::text::{joined_cell, render_table, short_time, terminal_safe};
use hygie_proto::{Detail, DetailKey, MacAddr, MdnsService, Observation, Source};
use jiff::Timestamp;
use serde::Serialize;

/// Details and services kept per device: a hostile device inventing them cannot grow the table
/// without bound.
const MAX_PER_DEVICE: usize = 64;

/// Everything seen of one device, and what it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    /// Hardware address.
    pub mac: MacAddr,
    /// Addresses.
    pub ips: BTreeSet<IpAddr>,
    /// Host names.
    pub hostnames: BTreeSet<String>,
    /// DNS-SD services, each as last announced: instance, type, port and TXT records.
    pub services: Vec<MdnsService>,
    /// Protocol details (DHCP, SSDP, LLDP, CDP, NetBIOS, IPv6 ND), the latest of each kind.
    pub details: Vec<Detail>,
    /// How it was seen.
    pub sources: BTreeSet<Source>,
    /// First sighting.
    pub first_seen: Timestamp,
    /// Last sighting.
    pub last_seen: Timestamp,
    /// Vendor, category, kind, model, confidence and the evidence behind them.
    pub classification: Classification,
}

#[derive(Debug, Clone)]
struct Record {
    ips: BTreeSet<IpAddr>,
    hostnames: BTreeSet<String>,
    services: BTreeMap<(String, String), MdnsService>,
    details: BTreeMap<DetailKey, Detail>,
    sources: BTreeSet<Source>,
    first_seen: Timestamp,
    last_seen: Timestamp,
}

/// Devices by MAC.
#[derive(Debug, Default, Clone)]
pub struct DeviceTable {
    devices: BTreeMap<MacAddr, Record>,
}

impl DeviceTable {
    /// An empty table.
    pub fn new() -> Self {
        DeviceTable::default()
    }

    /// Merges one observation: the latest service and detail of each key win.
    pub fn add(&mut self, observation: &Observation) {
        let record = self
            .devices
            .entry(observation.mac)
            .or_insert_with(|| Record {
                ips: BTreeSet::new(),
                hostnames: BTreeSet::new(),
                services: BTreeMap::new(),
                details: BTreeMap::new(),
                sources: BTreeSet::new(),
                first_seen: observation.seen_at,
                last_seen: observation.seen_at,
            });
        let latest = observation.seen_at >= record.last_seen;
        record.ips.extend(observation.ips.iter().copied());
        record
            .hostnames
            .extend(observation.hostname.iter().cloned());
        for service in &observation.services {
            let key = (service.service_type.clone(), service.instance.clone());
            if (latest || !record.services.contains_key(&key))
                && (record.services.len() < MAX_PER_DEVICE || record.services.contains_key(&key))
            {
                record.services.insert(key, service.clone());
            }
        }
        if let Some(detail) = &observation.detail {
            let key = detail.key();
            if (latest || !record.details.contains_key(&key))
                && (record.details.len() < MAX_PER_DEVICE || record.details.contains_key(&key))
            {
                record.details.insert(key, detail.clone());
            }
        }
        record.sources.insert(observation.source);
        record.first_seen = record.first_seen.min(observation.seen_at);
        record.last_seen = record.last_seen.max(observation.seen_at);
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// True when nothing was seen.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The devices by MAC, classified with `rules`.
    pub fn devices(&self, rules: &Rules) -> Vec<Device> {
        self.devices
            .iter()
            .map(|(mac, record)| {
                let facts = Facts {
                    mac: *mac,
                    hostnames: record.hostnames.iter().map(String::as_str).collect(),
                    services: record.services.values().collect(),
                    details: record.details.values().collect(),
                };
                Device {
                    mac: *mac,
                    ips: record.ips.clone(),
                    hostnames: record.hostnames.clone(),
                    services: record.services.values().cloned().collect(),
                    details: record.details.values().cloned().collect(),
                    sources: record.sources.clone(),
                    first_seen: record.first_seen,
                    last_seen: record.last_seen,
                    classification: classify(&facts, rules),
                }
            })
            .collect()
    }

    /// An aligned text table, safe for a terminal: what each device is, its strongest
    /// evidence, and how it was heard.
    pub fn to_table(&self, rules: &Rules) -> String {
        let devices = self.devices(rules);
        let rows: Vec<Vec<String>> = devices
            .iter()
            .map(|device| {
                let verdict = &device.classification;
                let counted = verdict
                    .evidence
                    .iter()
                    .find(|evidence| evidence.role == hygie_classify::Role::Counted);
                vec![
                    device.mac.to_string(),
                    joined_cell(device.ips.iter().take(2).map(ToString::to_string), 40),
                    joined_cell(device.hostnames.iter().take(1), 28),
                    joined_cell(verdict.vendor.iter().map(|vendor| &vendor.name), 24),
                    format!("{}/{}", verdict.category, terminal_safe(&verdict.kind, 24)),
                    joined_cell(verdict.identity.model.iter(), 24),
                    format!("{:.2}", verdict.confidence),
                    joined_cell(counted.map(|evidence| &evidence.matched), 44),
                    joined_cell(device.sources.iter().map(|source| source.as_str()), 30),
                    short_time(device.last_seen),
                ]
            })
            .collect();
        let mut out = render_table(
            &[
                "MAC",
                "IP ADDRESSES",
                "HOSTNAME",
                "VENDOR",
                "CATEGORY/KIND",
                "MODEL",
                "CONF",
                "STRONGEST EVIDENCE",
                "SEEN BY",
                "LAST SEEN",
            ],
            &rows,
        );
        out.push_str(&format!("{} devices\n", devices.len()));
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn rules() -> Rules {
        Rules::defaults().unwrap()
    }

    #[test]
    fn observations_of_a_device_merge_into_one_classified_row() {
        let mac: MacAddr = "00:21:b7:11:22:12".parse().unwrap();
        let mut first = Observation::new(mac, Timestamp::UNIX_EPOCH, Source::ArpActive);
        first.ips = vec!["198.18.0.51".parse().unwrap()];
        let mut second = first.clone();
        second.source = Source::Mdns;
        second.hostname = Some("lexmark-ward3.local".into());
        second.services = vec![MdnsService {
            instance: "Lexmark MX622 Ward 3._ipp._tcp.local".into(),
            service_type: "_ipp._tcp.local".into(),
            port: Some(631),
            txt: BTreeMap::from([("ty".into(), Some("Lexmark MX622ade".into()))]),
        }];
        let mut table = DeviceTable::new();
        table.add(&first);
        table.add(&second);
        assert_eq!(table.len(), 1);
        let devices = table.devices(&rules());
        let device = &devices[0];
        assert_eq!(device.sources.len(), 2);
        assert_eq!(
            device.services[0].port,
            Some(631),
            "JSON keeps every service field"
        );
        assert_eq!(device.classification.kind, "printer");
        assert_eq!(
            device.classification.identity.model.as_deref(),
            Some("Lexmark MX622ade")
        );
        let text = table.to_table(&rules());
        assert!(text.contains("it/printer"), "{text}");
        assert!(text.contains("Lexmark MX622ade"), "{text}");
        assert!(text.ends_with("1 devices\n"));
        let json = serde_json::to_value(device).unwrap();
        assert_eq!(json["services"][0]["txt"]["ty"], "Lexmark MX622ade");
        assert_eq!(json["classification"]["category"], "it");
    }

    #[test]
    fn hostile_strings_are_defused_in_the_table() {
        let mac: MacAddr = "02:00:00:00:00:66".parse().unwrap();
        let mut observation = Observation::new(mac, Timestamp::UNIX_EPOCH, Source::Mdns);
        observation.hostname = Some("evil\u{202e}gnp.exe".into());
        let mut table = DeviceTable::new();
        table.add(&observation);
        let text = table.to_table(&rules());
        assert!(!text.contains('\u{202e}'), "{text}");
    }
}
