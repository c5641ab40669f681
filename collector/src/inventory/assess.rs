//! Turning changes into flags and events. Pure: the writer calls these with the clock's time,
//! the scenario tests with scripted times.
//!
//! - [`after_merge`]: once a batch is merged, the touched assets (and the other claimants of any
//!   address they took) get their flags recomputed; new assets, new addresses and flag changes
//!   become events.
//! - [`sweep`]: on a timer and after registry changes, every asset and every registered device
//!   never seen is recomputed, so time-driven flags (`new` ending, `stale` starting) and
//!   registry changes (`unmanaged` ending) show up even when nothing is observed.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use hygie_proto::MacAddr;
use jiff::Timestamp;
use serde::Serialize;

use super::flags::{FlagRules, FlagSet, asset_flags, unseen_flags};
use super::{Dirty, Inventory};
use crate::audit::{EventKind, NewEvent};
use crate::registry::RegistryEntry;

/// What the flags need of the registry: when each device was registered.
pub type Registered = HashMap<MacAddr, RegistryEntry>;

#[derive(Serialize)]
struct AssetNew<'a> {
    seen_at: Timestamp,
    ips: Vec<IpAddr>,
    hostnames: Vec<&'a str>,
    flags: FlagSet,
}

#[derive(Serialize)]
struct AddressNew {
    ip: IpAddr,
    previous: Vec<IpAddr>,
}

#[derive(Serialize)]
struct FlagChange {
    flag: &'static str,
}

fn flag_events(
    mac: MacAddr,
    before: FlagSet,
    after: FlagSet,
    now: Timestamp,
    events: &mut Vec<NewEvent>,
) {
    for flag in after.minus(before).iter() {
        events.push(NewEvent::new(
            now,
            Some(mac),
            EventKind::FlagRaised,
            &FlagChange {
                flag: flag.as_str(),
            },
        ));
    }
    for flag in before.minus(after).iter() {
        events.push(NewEvent::new(
            now,
            Some(mac),
            EventKind::FlagCleared,
            &FlagChange {
                flag: flag.as_str(),
            },
        ));
    }
}

/// Recomputes the flags of the assets a merge touched and returns the events of the merge.
/// Assets whose flags change are added to `dirty` so the store writes them.
pub fn after_merge(
    inventory: &mut Inventory,
    dirty: &mut Dirty,
    registered: &Registered,
    rules: &FlagRules,
    now: Timestamp,
) -> Vec<NewEvent> {
    let mut recheck: BTreeSet<MacAddr> = dirty.assets.clone();
    // A newly claimed address may put its other claimants in conflict.
    let taken = dirty
        .new_addresses
        .iter()
        .map(|(_, ip)| *ip)
        .chain(dirty.new_assets.iter().flat_map(|mac| {
            inventory
                .get(mac)
                .map(|asset| asset.addresses.keys().copied().collect::<Vec<_>>())
                .unwrap_or_default()
        }))
        .collect::<BTreeSet<IpAddr>>();
    for ip in &taken {
        recheck.extend(inventory.claimants(ip).iter().copied());
    }

    let mut events = Vec::new();
    for (mac, ip) in &dirty.new_addresses {
        let previous = inventory
            .get(mac)
            .map(|asset| {
                asset
                    .addresses
                    .keys()
                    .copied()
                    .filter(|other| other != ip)
                    .collect()
            })
            .unwrap_or_default();
        events.push(NewEvent::new(
            now,
            Some(*mac),
            EventKind::AddressNew,
            &AddressNew { ip: *ip, previous },
        ));
    }
    let assessed: Vec<(MacAddr, FlagSet)> = recheck
        .iter()
        .filter_map(|mac| {
            let asset = inventory.get(mac)?;
            let registered_at = registered.get(mac).map(|entry| entry.registered_at);
            Some((
                *mac,
                asset_flags(asset, registered_at, inventory, rules, now),
            ))
        })
        .collect();
    // Facts first (new assets, new addresses), then what they mean (flag changes).
    let mut flag_changes = Vec::new();
    for (mac, flags) in assessed {
        let Some(asset) = inventory.get_mut(&mac) else {
            continue;
        };
        if dirty.new_assets.contains(&mac) {
            events.push(NewEvent::new(
                now,
                Some(mac),
                EventKind::AssetNew,
                &AssetNew {
                    seen_at: asset.seen.first(),
                    ips: asset.addresses.keys().copied().collect(),
                    hostnames: asset.hostnames.keys().map(String::as_str).collect(),
                    flags,
                },
            ));
        } else if flags != asset.flags {
            flag_events(mac, asset.flags, flags, now, &mut flag_changes);
            dirty.assets.insert(mac);
            dirty.verdicts.insert(mac);
        }
        asset.flags = flags;
    }
    events.extend(flag_changes);
    events
}

/// Recomputes every flag at `now`. Returns the events, and the new flags of registered devices
/// never seen whose flags changed; `unseen` holds their current flags and is updated.
pub fn sweep(
    inventory: &mut Inventory,
    dirty: &mut Dirty,
    registered: &Registered,
    unseen: &mut HashMap<MacAddr, FlagSet>,
    rules: &FlagRules,
    now: Timestamp,
) -> (Vec<NewEvent>, Vec<(MacAddr, FlagSet)>) {
    let mut changed: Vec<(MacAddr, FlagSet)> = inventory
        .assets()
        .filter_map(|asset| {
            let registered_at = registered.get(&asset.mac).map(|entry| entry.registered_at);
            let flags = asset_flags(asset, registered_at, inventory, rules, now);
            (flags != asset.flags).then_some((asset.mac, flags))
        })
        .collect();
    // Events in MAC order: the chain must not depend on hash-map iteration order.
    changed.sort_unstable_by_key(|(mac, _)| *mac);
    let mut events = Vec::new();
    for (mac, flags) in changed {
        let Some(asset) = inventory.get_mut(&mac) else {
            continue;
        };
        if flags != asset.flags {
            flag_events(mac, asset.flags, flags, now, &mut events);
            asset.flags = flags;
            dirty.assets.insert(mac);
            dirty.verdicts.insert(mac);
        }
    }
    let mut changed_unseen = Vec::new();
    let mut entries: Vec<&RegistryEntry> = registered.values().collect();
    entries.sort_by_key(|entry| entry.mac);
    for entry in entries {
        // A registered device that has been seen carries its flags on its asset.
        let flags = if inventory.get(&entry.mac).is_some() {
            FlagSet::EMPTY
        } else {
            unseen_flags(entry.mac, entry.registered_at, rules, now)
        };
        let before = unseen.get(&entry.mac).copied().unwrap_or_default();
        if flags != before {
            // Also when the device was just seen: its never-seen flags end (its asset carries
            // its flags from now on, announced by asset_new).
            flag_events(entry.mac, before, flags, now, &mut events);
            unseen.insert(entry.mac, flags);
            changed_unseen.push((entry.mac, flags));
        }
    }
    (events, changed_unseen)
}
