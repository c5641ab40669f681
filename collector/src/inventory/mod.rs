//! The pure core: the inventory model and how observations merge into it.
//!
//! Nothing here touches the network, the clock or the database. The ingest writer keeps one
//! [`Inventory`] in memory as the authoritative copy of what the database holds, merges each
//! committed batch into it, and writes back only the rows the merge marked [`Dirty`]. Merging is
//! order-insensitive for times: `first_seen` only moves back and `last_seen` only forward, so a
//! late-arriving batch (an agent draining its outbox after an outage) cannot rewind anything.
//! The latest value of a service, a detail or a sighting's interface is the one seen last, and
//! of values seen at the same instant the greatest, so merging is idempotent and
//! order-insensitive for every fact kept, as long as an asset stays within its caps
//! ([`MAX_ADDRESSES_PER_ASSET`]...): beyond them the first facts to arrive are the ones kept.
//!
//! [`flags`] derives each asset's flags from its facts, the registry and the time.

pub mod assess;
pub mod flags;
pub mod verdict;

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use hygie_classify::Facts;
use hygie_proto::{Detail, DetailKey, MacAddr, MdnsService, Observation};
use jiff::Timestamp;
use litemap::LiteMap;

/// Database id of a registered agent.
pub type AgentId = i64;

/// Facts kept per asset. A device claiming more (a misbehaving or hostile one) keeps its first
/// ones; the rest still appear in the observation history. Bounds the inventory's memory.
pub const MAX_ADDRESSES_PER_ASSET: usize = 64;
/// See [`MAX_ADDRESSES_PER_ASSET`].
pub const MAX_HOSTNAMES_PER_ASSET: usize = 16;
/// See [`MAX_ADDRESSES_PER_ASSET`].
pub const MAX_SERVICES_PER_ASSET: usize = 128;
/// See [`MAX_ADDRESSES_PER_ASSET`].
pub const MAX_SIGHTINGS_PER_ASSET: usize = 64;
/// See [`MAX_ADDRESSES_PER_ASSET`]: DHCP fingerprints, SSDP notification types, LLDP ports...
pub const MAX_DETAILS_PER_ASSET: usize = 32;

/// The first and last time a fact was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Earliest observation.
    pub first: Timestamp,
    /// Latest observation.
    pub last: Timestamp,
}

impl Seen {
    /// A fact seen once, at `at`.
    pub fn at(at: Timestamp) -> Self {
        Seen {
            first: at,
            last: at,
        }
    }

    /// Widens the interval to include `at`; returns whether anything changed.
    pub fn include(&mut self, at: Timestamp) -> bool {
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
}

/// Identifies a DNS-SD service of an asset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// e.g. `_ipp._tcp.local.`
    pub service_type: String,
    /// e.g. `Ward 3 Printer._ipp._tcp.local.`
    pub instance: String,
}

/// The latest announcement of a service, and when it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The service as last announced (port and TXT may change over time).
    pub latest: MdnsService,
    /// When the latest announcement was made; older announcements never overwrite it.
    pub seen: Seen,
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
    /// Interface of the most recent sighting.
    pub interface: String,
    /// When.
    pub seen: Seen,
}

/// Everything the inventory knows about one device.
///
/// The per-asset maps are sorted vectors ([`LiteMap`]): a device has a handful of addresses,
/// names, services and agents, and a vector keeps each of them to one small allocation where a
/// B-tree node would take hundreds of bytes, which matters across tens of thousands of assets.
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
    fn new(mac: MacAddr, at: Timestamp) -> Self {
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

    /// What the classifier reads of this asset.
    pub fn facts(&self) -> Facts<'_> {
        Facts {
            mac: self.mac,
            hostnames: self.hostnames.keys().map(String::as_str).collect(),
            services: self
                .services
                .values()
                .map(|record| &record.latest)
                .collect(),
            details: self.details.values().map(|record| &record.latest).collect(),
        }
    }
}

/// The rows a merge changed, so the store writes each of them once per commit however many
/// observations touched it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dirty {
    /// Assets whose first/last seen changed (or that are new).
    pub assets: BTreeSet<MacAddr>,
    /// (asset, address) rows.
    pub addresses: BTreeSet<(MacAddr, IpAddr)>,
    /// (asset, host name) rows.
    pub hostnames: BTreeSet<(MacAddr, String)>,
    /// (asset, service) rows.
    pub services: BTreeSet<(MacAddr, ServiceKey)>,
    /// (asset, agent) rows.
    pub sightings: BTreeSet<(MacAddr, AgentId)>,
    /// (asset, detail key) rows.
    pub details: BTreeSet<(MacAddr, DetailKey)>,
    /// Assets seen for the first time.
    pub new_assets: BTreeSet<MacAddr>,
    /// Addresses new to an asset that was already known.
    pub new_addresses: Vec<(MacAddr, IpAddr)>,
    /// Assets whose host names, services or protocol details changed (not merely seen again):
    /// what the classifier reads, so only these need classifying again.
    pub facts_changed: BTreeSet<MacAddr>,
    /// Assets whose stored verdict must be rewritten (Invariant 2 of [`verdict`]): new ones,
    /// new facts (addresses, host names, services, details), changed flags.
    pub verdicts: BTreeSet<MacAddr>,
}

impl Dirty {
    /// True when nothing needs writing.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
            && self.addresses.is_empty()
            && self.hostnames.is_empty()
            && self.services.is_empty()
            && self.sightings.is_empty()
            && self.details.is_empty()
            && self.verdicts.is_empty()
    }
}

/// All assets, keyed by MAC address, with an index of which MACs claimed each address.
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    assets: HashMap<MacAddr, Asset>,
    by_ip: HashMap<IpAddr, Vec<MacAddr>>,
}

impl PartialEq for Inventory {
    fn eq(&self, other: &Self) -> bool {
        // The index is derived from the assets.
        self.assets == other.assets
    }
}

impl Eq for Inventory {}

impl Inventory {
    /// An empty inventory.
    pub fn new() -> Self {
        Inventory::default()
    }

    /// Builds an inventory from stored assets (used when the collector starts).
    pub fn from_assets(assets: impl IntoIterator<Item = Asset>) -> Self {
        let assets: HashMap<MacAddr, Asset> =
            assets.into_iter().map(|asset| (asset.mac, asset)).collect();
        let mut by_ip: HashMap<IpAddr, Vec<MacAddr>> = HashMap::new();
        for asset in assets.values() {
            for ip in asset.addresses.keys() {
                by_ip.entry(*ip).or_default().push(asset.mac);
            }
        }
        Inventory { assets, by_ip }
    }

    /// The asset with this MAC address, if known.
    pub fn get(&self, mac: &MacAddr) -> Option<&Asset> {
        self.assets.get(mac)
    }

    /// The asset with this MAC address, to update its flags.
    pub fn get_mut(&mut self, mac: &MacAddr) -> Option<&mut Asset> {
        self.assets.get_mut(mac)
    }

    /// Every MAC that has claimed `ip`.
    pub fn claimants(&self, ip: &IpAddr) -> &[MacAddr] {
        self.by_ip.get(ip).map_or(&[], Vec::as_slice)
    }

    /// Number of assets.
    pub fn len(&self) -> usize {
        self.assets.len()
    }

    /// True when no asset is known.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }

    /// Every asset, in no particular order.
    pub fn assets(&self) -> impl Iterator<Item = &Asset> {
        self.assets.values()
    }

    /// Merges one checked observation made by `agent`, recording in `dirty` every row that
    /// changed.
    pub fn merge(&mut self, agent: AgentId, observation: &Observation, dirty: &mut Dirty) {
        let at = observation.seen_at;
        let mac = observation.mac;
        let asset = match self.assets.entry(mac) {
            std::collections::hash_map::Entry::Occupied(entry) => {
                let asset = entry.into_mut();
                if asset.seen.include(at) {
                    dirty.assets.insert(mac);
                }
                asset
            }
            std::collections::hash_map::Entry::Vacant(entry) => {
                dirty.assets.insert(mac);
                dirty.new_assets.insert(mac);
                dirty.verdicts.insert(mac);
                entry.insert(Asset::new(mac, at))
            }
        };

        for ip in &observation.ips {
            let known = asset.addresses.contains_key(ip);
            if include(&mut asset.addresses, ip, at, MAX_ADDRESSES_PER_ASSET) {
                dirty.addresses.insert((mac, *ip));
                if !known && asset.addresses.contains_key(ip) {
                    self.by_ip.entry(*ip).or_default().push(mac);
                    dirty.verdicts.insert(mac);
                    if !dirty.new_assets.contains(&mac) {
                        dirty.new_addresses.push((mac, *ip));
                    }
                }
            }
        }
        if let Some(hostname) = &observation.hostname {
            let known = asset.hostnames.contains_key(hostname.as_str());
            if include(
                &mut asset.hostnames,
                hostname.as_str(),
                at,
                MAX_HOSTNAMES_PER_ASSET,
            ) {
                if !known {
                    dirty.facts_changed.insert(mac);
                }
                dirty.hostnames.insert((mac, hostname.clone()));
            }
        }
        for service in &observation.services {
            let key = ServiceKey {
                service_type: service.service_type.clone(),
                instance: service.instance.clone(),
            };
            let room = asset.services.len() < MAX_SERVICES_PER_ASSET;
            let changed = match asset.services.get_mut(&key) {
                Some(record) => {
                    // The most recent announcement describes the service; older ones only
                    // widen the interval.
                    let newer = supersedes(at, service, record.seen.last, &record.latest);
                    if newer {
                        record.latest = service.clone();
                        dirty.facts_changed.insert(mac);
                    }
                    record.seen.include(at) | newer
                }
                None if room => {
                    asset.services.insert(
                        key.clone(),
                        ServiceRecord {
                            latest: service.clone(),
                            seen: Seen::at(at),
                        },
                    );
                    dirty.facts_changed.insert(mac);
                    true
                }
                None => false,
            };
            if changed {
                dirty.services.insert((mac, key));
            }
        }

        if let Some(detail) = &observation.detail {
            let key = detail.key();
            let room = asset.details.len() < MAX_DETAILS_PER_ASSET;
            let changed = match asset.details.get_mut(&key) {
                Some(record) => {
                    let newer = supersedes(at, detail, record.seen.last, &record.latest);
                    if newer {
                        record.latest = detail.clone();
                        dirty.facts_changed.insert(mac);
                    }
                    record.seen.include(at) | newer
                }
                None if room => {
                    asset.details.insert(
                        key.clone(),
                        DetailRecord {
                            latest: detail.clone(),
                            seen: Seen::at(at),
                        },
                    );
                    dirty.facts_changed.insert(mac);
                    true
                }
                None => false,
            };
            if changed {
                dirty.details.insert((mac, key));
            }
        }

        if dirty.facts_changed.contains(&mac) {
            dirty.verdicts.insert(mac);
        }
        let room = asset.sightings.len() < MAX_SIGHTINGS_PER_ASSET;
        let changed = match asset.sightings.get_mut(&agent) {
            Some(sighting) => {
                let newer = supersedes(
                    at,
                    &observation.interface,
                    sighting.seen.last,
                    &sighting.interface,
                );
                if newer {
                    sighting.interface.clone_from(&observation.interface);
                }
                sighting.seen.include(at) | newer
            }
            None if room => {
                asset.sightings.insert(
                    agent,
                    Sighting {
                        interface: observation.interface.clone(),
                        seen: Seen::at(at),
                    },
                );
                true
            }
            None => false,
        };
        if changed {
            dirty.sightings.insert((mac, agent));
        }
    }
}

/// Whether `value`, seen at `at`, replaces `latest`, last seen at `last`: a later value does,
/// and of two seen at the same instant the greater one does (two agents hearing a device in the
/// same second, or a batch replayed): the latest value then never depends on the order in
/// which batches arrive.
fn supersedes<T: Ord>(at: Timestamp, value: &T, last: Timestamp, latest: &T) -> bool {
    at > last || (at == last && value > latest)
}

/// Records a sighting of `key` at `at` in an interval map holding at most `cap` keys; returns
/// whether the map changed. Takes the key borrowed so the common case (already known)
/// allocates nothing.
fn include<K, Q>(map: &mut LiteMap<K, Seen>, key: &Q, at: Timestamp, cap: usize) -> bool
where
    K: Ord + Borrow<Q>,
    Q: Ord + ToOwned<Owned = K> + ?Sized,
{
    let room = map.len() < cap;
    match map.get_mut(key) {
        Some(seen) => seen.include(at),
        None if room => {
            map.insert(key.to_owned(), Seen::at(at));
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod tests;
