//! One asset as the writer keeps it in memory: compact records (Invariants 1 to 4 of the
//! [`super`] module docs).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use hygie_classify::Facts;
use hygie_proto::{Detail, DetailKey, MacAddr, MdnsService};
use jiff::Timestamp;
use litemap::LiteMap;

use super::{AgentId, flags};

/// The first and last time a fact was observed, to the microsecond (the store's precision):
/// two integers, half the size of two timestamps (Invariant 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    first: i64,
    last: i64,
}

impl Seen {
    /// A fact seen once, at `at`.
    pub fn at(at: Timestamp) -> Self {
        let micros = at.as_microsecond();
        Seen {
            first: micros,
            last: micros,
        }
    }

    /// A fact seen from `first` to `last`.
    pub fn new(first: Timestamp, last: Timestamp) -> Self {
        Seen {
            first: first.as_microsecond(),
            last: last.as_microsecond(),
        }
    }

    /// Earliest observation.
    pub fn first(&self) -> Timestamp {
        from_micros(self.first)
    }

    /// Latest observation.
    pub fn last(&self) -> Timestamp {
        from_micros(self.last)
    }

    /// Widens the interval to include `at`; returns whether anything changed.
    pub fn include(&mut self, at: Timestamp) -> bool {
        let at = at.as_microsecond();
        if at < self.first {
            self.first = at;
            true
        } else if at > self.last {
            self.last = at;
            true
        } else {
            false
        }
    }

    /// How `at` compares with the latest observation, to the microsecond kept. A later value
    /// replaces the recorded one, and of two seen at the same instant the greater one does
    /// (two agents hearing a device in the same second, or a batch replayed): the latest value
    /// then never depends on the order in which batches arrive.
    pub(super) fn against_last(&self, at: Timestamp) -> std::cmp::Ordering {
        at.as_microsecond().cmp(&self.last)
    }
}

/// A timestamp the inventory recorded: always in range, since it came from one.
fn from_micros(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Identifies a DNS-SD service of an asset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// e.g. `_ipp._tcp.local.`
    pub service_type: String,
    /// e.g. `Ward 3 Printer._ipp._tcp.local.`
    pub instance: String,
}

/// One TXT key and its value (`None`: a flag), exactly sized.
type TxtEntry = (Box<str>, Option<Box<str>>);

/// The latest announcement of a service, and when it was seen: the port and TXT record alone
/// (the key holds the names), the TXT as one sorted slice rather than a B-tree (Invariant 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    port: Option<u16>,
    txt: Box<[TxtEntry]>,
    /// When the latest announcement was made; older announcements never overwrite it.
    pub seen: Seen,
}

impl ServiceRecord {
    /// The record of `service` as announced, seen `seen`.
    pub fn new(service: &MdnsService, seen: Seen) -> Self {
        ServiceRecord {
            port: service.port,
            txt: service
                .txt
                .iter()
                .map(|(key, value)| (key.as_str().into(), value.as_deref().map(Box::from)))
                .collect(),
            seen,
        }
    }

    /// Whether `service` announces what this record holds (same port and TXT).
    pub fn matches(&self, service: &MdnsService) -> bool {
        self.port == service.port
            && self.txt.len() == service.txt.len()
            && self
                .txt
                .iter()
                .zip(&service.txt)
                .all(|((key, value), (their_key, their_value))| {
                    **key == **their_key && value.as_deref() == their_value.as_deref()
                })
    }

    /// The announced port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The TXT record, as announced.
    pub fn txt(&self) -> BTreeMap<String, Option<String>> {
        self.txt
            .iter()
            .map(|(key, value)| (key.to_string(), value.as_deref().map(str::to_owned)))
            .collect()
    }

    /// The service as last announced under `key`.
    pub fn latest(&self, key: &ServiceKey) -> MdnsService {
        MdnsService {
            instance: key.instance.clone(),
            service_type: key.service_type.clone(),
            port: self.port,
            txt: self.txt(),
        }
    }
}

/// The latest protocol detail under one key (a DHCP fingerprint, an SSDP notification type, an
/// LLDP port), and when it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailRecord {
    /// The detail as last heard; older ones never overwrite it.
    pub latest: Detail,
    /// When.
    pub seen: Seen,
}

/// Which agent saw an asset, on which interface, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// Interface of the most recent sighting, shared by every asset seen on it (Invariant 4).
    pub interface: Arc<str>,
    /// When.
    pub seen: Seen,
}

/// Everything the inventory knows about one device.
///
/// The per-asset maps are sorted vectors ([`LiteMap`]): a device has a handful of addresses,
/// names, services and agents, and a vector keeps each of them to one small allocation where a
/// B-tree node would take hundreds of bytes (Invariant 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// Identity of the asset.
    pub mac: MacAddr,
    /// When the device was first and last seen by any agent.
    pub seen: Seen,
    /// IP addresses the device has used.
    pub addresses: LiteMap<IpAddr, Seen>,
    /// Host names the device has claimed.
    pub hostnames: LiteMap<String, Seen>,
    /// DNS-SD services the device has announced.
    pub services: LiteMap<ServiceKey, ServiceRecord>,
    /// Agents that have seen the device.
    pub sightings: LiteMap<AgentId, Sighting>,
    /// Protocol details the device has sent, the latest per key.
    pub details: LiteMap<DetailKey, DetailRecord>,
    /// Flags as last computed by the writer (the audit trail's view; queries recompute them).
    pub flags: flags::FlagSet,
}

impl Asset {
    pub(super) fn new(mac: MacAddr, at: Timestamp) -> Self {
        Asset {
            mac,
            seen: Seen::at(at),
            addresses: LiteMap::new(),
            hostnames: LiteMap::new(),
            services: LiteMap::new(),
            sightings: LiteMap::new(),
            details: LiteMap::new(),
            flags: flags::FlagSet::EMPTY,
        }
    }

    /// The services as last announced.
    pub fn services(&self) -> Vec<MdnsService> {
        self.services
            .iter()
            .map(|(key, record)| record.latest(key))
            .collect()
    }

    /// Hands what the classifier reads of this asset to `read`. The services are rebuilt from
    /// their compact records for the call (Invariant 3), so the facts are lent, not returned.
    pub fn with_facts<R>(&self, read: impl FnOnce(&Facts<'_>) -> R) -> R {
        let services = self.services();
        let facts = Facts {
            mac: self.mac,
            hostnames: self.hostnames.keys().map(String::as_str).collect(),
            services: services.iter().collect(),
            details: self.details.values().map(|record| &record.latest).collect(),
        };
        read(&facts)
    }
}
