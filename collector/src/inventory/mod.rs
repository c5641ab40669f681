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
//!
//! # Memory
//!
//! The writer holds every asset, so what one asset costs bounds the collector (issue 9).
//! Invariants (tests in `inventory::tests` are named after them):
//! 1. Every per-asset map is a sorted vector ([`litemap::LiteMap`]) capped by the
//!    `MAX_*_PER_ASSET` constants: one small allocation each, none while empty, sized for one
//!    entry when the first comes (a vector's first growth would make room for four) and without
//!    spare room once loaded; a hostile device cannot grow its record without bound.
//! 2. Times are kept as microseconds since the epoch ([`Seen`] is two `i64`), the store's own
//!    precision: an inventory reloaded from the database equals the one in memory.
//! 3. A service record holds its port and TXT record as one sorted slice; the instance and type
//!    are in its key only. [`Asset::with_facts`] rebuilds the announcements for the classifier.
//! 4. Agents' interface names are interned: every sighting on `eth0` shares one allocation.
//! 5. The address index holds the claimant inline while one asset claims an address (the
//!    common case), a vector only when several do.
//! 6. The assets sit in chunks of a few thousand that never move nor grow, found through a
//!    MAC index: a hash map of assets would hold twice as many asset-sized slots as assets
//!    after it doubles.
//! 7. Measured (`tests/src/bin/writer_memory.rs`, release build, the synthetic devices of
//!    `hygie_tests::observations::device`: one address, one host name, a service for every
//!    third, merged as the writer merges them): 533 bytes of resident memory per asset at
//!    100,000 assets and 470 at 1,000,000 (before invariants 1 to 6: 1,624 and 1,671), so
//!    about 470 MB for a million. Memory grows linearly with the inventory, N times about
//!    470 bytes: some 4.7 GB at 10,000,000 assets. Going below that means keeping only what
//!    merging needs in memory (seen times, addresses, fingerprints of the facts) and reading
//!    host names, services and details from the database for the few assets a batch changes.

pub mod assess;
mod asset;
pub mod flags;
mod slab;
pub mod verdict;

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use hygie_proto::{DetailKey, MacAddr, Observation};
use jiff::Timestamp;
use litemap::LiteMap;

pub use asset::{Asset, DetailRecord, Seen, ServiceKey, ServiceRecord, Sighting};
pub use slab::first_room;
use slab::{Claimants, Slab, claim, shrink};

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
    assets: Slab,
    by_ip: HashMap<IpAddr, Claimants>,
    /// Interface names, shared by the sightings (Invariant 4).
    interfaces: HashSet<Arc<str>>,
}

/// The shared copy of `name` (Invariant 4).
fn intern(interfaces: &mut HashSet<Arc<str>>, name: &str) -> Arc<str> {
    if let Some(shared) = interfaces.get(name) {
        return Arc::clone(shared);
    }
    let shared: Arc<str> = Arc::from(name);
    interfaces.insert(Arc::clone(&shared));
    shared
}

impl PartialEq for Inventory {
    fn eq(&self, other: &Self) -> bool {
        // The index is derived from the assets; the order they came in is no part of them.
        self.len() == other.len()
            && self
                .assets()
                .all(|asset| other.get(&asset.mac) == Some(asset))
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
        let mut inventory = Inventory::new();
        for asset in assets {
            inventory.insert_stored(asset);
        }
        inventory.finish_loading();
        inventory
    }

    /// Adds a stored asset while loading, replacing one with the same MAC; its facts may be
    /// added through [`Inventory::get_mut`] until [`Inventory::finish_loading`].
    pub fn insert_stored(&mut self, asset: Asset) {
        self.assets.insert(asset);
    }

    /// Ends loading: interns the interface names, gives back the maps' spare room and indexes
    /// the addresses (Invariants 1, 4 and 5).
    pub fn finish_loading(&mut self) {
        self.by_ip.clear();
        for asset in self.assets.iter_mut() {
            for (_, sighting) in asset.sightings.iter_mut() {
                sighting.interface = intern(&mut self.interfaces, &sighting.interface);
            }
            shrink(&mut asset.addresses);
            shrink(&mut asset.hostnames);
            shrink(&mut asset.services);
            shrink(&mut asset.sightings);
            shrink(&mut asset.details);
            for ip in asset.addresses.keys() {
                claim(&mut self.by_ip, *ip, asset.mac);
            }
        }
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
        self.by_ip.get(ip).map_or(&[], Claimants::as_slice)
    }

    /// Number of assets.
    pub fn len(&self) -> usize {
        self.assets.len()
    }

    /// True when no asset is known.
    pub fn is_empty(&self) -> bool {
        self.assets.len() == 0
    }

    /// Every asset, in no particular order.
    pub fn assets(&self) -> impl Iterator<Item = &Asset> {
        self.assets.iter()
    }

    /// Merges one checked observation made by `agent`, recording in `dirty` every row that
    /// changed.
    pub fn merge(&mut self, agent: AgentId, observation: &Observation, dirty: &mut Dirty) {
        let at = observation.seen_at;
        let mac = observation.mac;
        let Some((asset, new)) = self.assets.get_or_insert(mac, || Asset::new(mac, at)) else {
            return;
        };
        if new {
            dirty.assets.insert(mac);
            dirty.new_assets.insert(mac);
            dirty.verdicts.insert(mac);
        } else if asset.seen.include(at) {
            dirty.assets.insert(mac);
        }

        for ip in &observation.ips {
            let known = asset.addresses.contains_key(ip);
            if include(&mut asset.addresses, ip, at, MAX_ADDRESSES_PER_ASSET) {
                dirty.addresses.insert((mac, *ip));
                if !known && asset.addresses.contains_key(ip) {
                    claim(&mut self.by_ip, *ip, mac);
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
                    let newer = match record.seen.against_last(at) {
                        Ordering::Greater => !record.matches(service),
                        Ordering::Equal => *service > record.latest(&key),
                        Ordering::Less => false,
                    };
                    if newer {
                        *record = ServiceRecord::new(service, record.seen);
                        dirty.facts_changed.insert(mac);
                    }
                    record.seen.include(at) | newer
                }
                None if room => {
                    first_room(&mut asset.services);
                    asset
                        .services
                        .insert(key.clone(), ServiceRecord::new(service, Seen::at(at)));
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
                    let newer = match record.seen.against_last(at) {
                        Ordering::Greater => record.latest != *detail,
                        Ordering::Equal => *detail > record.latest,
                        Ordering::Less => false,
                    };
                    if newer {
                        record.latest = detail.clone();
                        dirty.facts_changed.insert(mac);
                    }
                    record.seen.include(at) | newer
                }
                None if room => {
                    first_room(&mut asset.details);
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
                let newer = match sighting.seen.against_last(at) {
                    Ordering::Greater => *sighting.interface != *observation.interface,
                    Ordering::Equal => *observation.interface > *sighting.interface,
                    Ordering::Less => false,
                };
                if newer {
                    sighting.interface = intern(&mut self.interfaces, &observation.interface);
                }
                sighting.seen.include(at) | newer
            }
            None if room => {
                first_room(&mut asset.sightings);
                asset.sightings.insert(
                    agent,
                    Sighting {
                        interface: intern(&mut self.interfaces, &observation.interface),
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
            first_room(map);
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
