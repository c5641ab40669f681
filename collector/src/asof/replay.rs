//! One device's events replayed: its registry entry (Invariant 5), its flags (Invariant 4)
//! and, for an asset whose observations were pruned, its first sighting (Invariant 6).

use std::net::IpAddr;
use std::str::FromStr;

use hygie_proto::MacAddr;
use jiff::Timestamp;
use litemap::LiteMap;
use serde::Deserialize;

use super::AsOfError;
use crate::audit::{Event, EventKind};
use crate::inventory::flags::{Flag, FlagSet};
use crate::inventory::{Asset, Seen};
use crate::registry::{RegistryEntry, RegistryFields};

/// `asset_new` details, as `inventory::assess` writes them.
#[derive(Deserialize)]
struct AssetNew {
    seen_at: Timestamp,
    #[serde(default)]
    ips: Vec<IpAddr>,
    #[serde(default)]
    hostnames: Vec<String>,
    #[serde(default)]
    flags: Vec<String>,
}

/// `address_new` details.
#[derive(Deserialize)]
struct AddressNew {
    ip: IpAddr,
}

/// `flag_raised` / `flag_cleared` details.
#[derive(Deserialize)]
struct FlagChange {
    flag: String,
}

/// `registry_*` details, as `store::sqlite::registry` writes them.
#[derive(Deserialize)]
struct RegistryChange {
    source: String,
    #[serde(default)]
    after: Option<RegistryFields>,
}

/// The state of one device after the events replayed so far.
#[derive(Debug)]
pub(super) struct Replay {
    mac: MacAddr,
    registry: Option<RegistryEntry>,
    /// The asset's flags, from its `asset_new` on.
    asset_flags: Option<FlagSet>,
    /// Never-seen flags of a registered device.
    unseen_flags: FlagSet,
    /// The asset as its events describe it (first sighting, new addresses).
    announced: Option<Asset>,
}

fn parse<'a, T: Deserialize<'a>>(event: &'a Event) -> Result<T, AsOfError> {
    serde_json::from_str(&event.details).map_err(|error| AsOfError::EventDetails {
        id: event.id,
        kind: event.kind.clone(),
        problem: error.to_string(),
    })
}

fn one(flag: Flag) -> FlagSet {
    let mut set = FlagSet::EMPTY;
    set.insert(flag);
    set
}

impl Replay {
    pub(super) fn new(mac: MacAddr) -> Self {
        Replay {
            mac,
            registry: None,
            asset_flags: None,
            unseen_flags: FlagSet::EMPTY,
            announced: None,
        }
    }

    /// Applies one event about this device. Kinds that say nothing of the inventory (scan
    /// policy, quotas) and kinds or flags a newer collector wrote are passed over.
    pub(super) fn apply(&mut self, event: &Event) -> Result<(), AsOfError> {
        let Some(kind) = event.known_kind() else {
            return Ok(());
        };
        match kind {
            EventKind::AssetNew => {
                let details: AssetNew = parse(event)?;
                let mut flags = FlagSet::EMPTY;
                for flag in details
                    .flags
                    .iter()
                    .filter_map(|name| Flag::from_str(name).ok())
                {
                    flags.insert(flag);
                }
                self.asset_flags = Some(flags);
                let seen = Seen::at(details.seen_at);
                self.announced = Some(Asset {
                    mac: self.mac,
                    seen,
                    addresses: details.ips.into_iter().map(|ip| (ip, seen)).collect(),
                    hostnames: details
                        .hostnames
                        .into_iter()
                        .map(|name| (name, seen))
                        .collect(),
                    services: LiteMap::new(),
                    sightings: LiteMap::new(),
                    details: LiteMap::new(),
                    flags,
                });
            }
            EventKind::AddressNew => {
                let details: AddressNew = parse(event)?;
                if let Some(asset) = &mut self.announced {
                    // Recorded when committed, just after the observation that carried it.
                    asset.seen.include(event.at);
                    match asset.addresses.get_mut(&details.ip) {
                        Some(seen) => {
                            seen.include(event.at);
                        }
                        None => {
                            asset.addresses.insert(details.ip, Seen::at(event.at));
                        }
                    }
                }
            }
            EventKind::FlagRaised | EventKind::FlagCleared => {
                let details: FlagChange = parse(event)?;
                let Ok(flag) = Flag::from_str(&details.flag) else {
                    return Ok(());
                };
                self.change_flag(flag, kind == EventKind::FlagRaised);
            }
            EventKind::RegistryAdded | EventKind::RegistryUpdated => {
                let details: RegistryChange = parse(event)?;
                let fields = details.after.unwrap_or_default();
                match &mut self.registry {
                    Some(entry) if kind == EventKind::RegistryUpdated => {
                        entry.fields = fields;
                        entry.updated_at = event.at;
                        entry.source = details.source;
                    }
                    _ => {
                        self.registry = Some(RegistryEntry {
                            mac: self.mac,
                            fields,
                            registered_at: event.at,
                            updated_at: event.at,
                            source: details.source,
                        });
                    }
                }
            }
            EventKind::RegistryRemoved => {
                self.registry = None;
                self.unseen_flags = FlagSet::EMPTY;
            }
            _ => {}
        }
        Ok(())
    }

    fn change_flag(&mut self, flag: Flag, raised: bool) {
        let flag_set = one(flag);
        match (&mut self.asset_flags, raised) {
            // Once seen, only the asset's flags are raised.
            (Some(flags), true) => flags.insert(flag),
            (None, true) => self.unseen_flags.insert(flag),
            // The never-seen flags end at the first sweep after the sighting (Invariant 4).
            (_, false) if self.unseen_flags.contains(flag) => {
                self.unseen_flags = self.unseen_flags.minus(flag_set);
            }
            (Some(flags), false) => *flags = flags.minus(flag_set),
            (None, false) => {}
        }
    }

    /// The flags of the asset if it was announced, else the never-seen flags.
    fn flags(&self) -> FlagSet {
        self.asset_flags.unwrap_or(self.unseen_flags)
    }

    /// Takes the state apart: registry entry, flags, the asset its events describe.
    pub(super) fn finish(self) -> (Option<RegistryEntry>, FlagSet, Option<Asset>) {
        let flags = self.flags();
        (self.registry, flags, self.announced)
    }
}
