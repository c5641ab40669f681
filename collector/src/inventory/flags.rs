//! Flags: what an asset's facts, the registry and the time say about it. Pure, time passed in.
//!
//! - `unmanaged`: seen on the network, not in the registry.
//! - `stale`: registered, but not seen for `stale_after` (or never seen, `stale_after` after it
//!   was registered).
//! - `new`: first seen within `new_window`.
//! - `ip_changed`: within `ip_change_window`, it took an IPv4 address it had not used before
//!   and stopped using its previous one (a host using both is multi-homed, not moved). IPv6
//!   does not count: link-local addresses come beside IPv4 ones, and privacy addresses rotate
//!   daily; both are still recorded as `address_new` events.
//! - `arp_conflict`: it and another MAC claimed one address over overlapping periods (periods
//!   `conflict_window` apart count as overlapping), and the overlap ended within
//!   `conflict_hold`; or, within `conflict_hold`, it claimed a configured gateway's address
//!   without being that gateway. Claims are kept as first/last times per address, so a device
//!   that gives an address up and takes it back after another used it in between is seen as
//!   overlapping with it.
//! - `randomized_mac`: its address is locally administered (a phone's private address, a VM).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use hygie_proto::MacAddr;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{Asset, Inventory};

/// One flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Seen, not registered.
    Unmanaged,
    /// Registered, not seen lately.
    Stale,
    /// Recently first seen.
    New,
    /// Recently changed address.
    IpChanged,
    /// Address claimed by two MACs, or a gateway impersonated.
    ArpConflict,
    /// Locally administered MAC.
    RandomizedMac,
}

impl Flag {
    /// Every flag, in bit order.
    pub const ALL: [Flag; 6] = [
        Flag::Unmanaged,
        Flag::Stale,
        Flag::New,
        Flag::IpChanged,
        Flag::ArpConflict,
        Flag::RandomizedMac,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Unmanaged => "unmanaged",
            Flag::Stale => "stale",
            Flag::New => "new",
            Flag::IpChanged => "ip_changed",
            Flag::ArpConflict => "arp_conflict",
            Flag::RandomizedMac => "randomized_mac",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not the name of a flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a flag (unmanaged, stale, new, ip_changed, arp_conflict, randomized_mac)")]
pub struct UnknownFlag(pub String);

impl FromStr for Flag {
    type Err = UnknownFlag;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Flag::ALL
            .into_iter()
            .find(|flag| flag.as_str() == text.trim())
            .ok_or_else(|| UnknownFlag(text.to_owned()))
    }
}

/// A set of flags, stored as a small integer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlagSet(u8);

impl FlagSet {
    /// No flag.
    pub const EMPTY: FlagSet = FlagSet(0);

    /// From the stored integer (unknown bits dropped).
    pub fn from_bits(bits: u8) -> Self {
        FlagSet(bits & 0b0011_1111)
    }

    /// The stored integer.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Adds a flag.
    pub fn insert(&mut self, flag: Flag) {
        self.0 |= flag.bit();
    }

    /// Whether the flag is set.
    pub fn contains(self, flag: Flag) -> bool {
        self.0 & flag.bit() != 0
    }

    /// The flags set, in order.
    pub fn iter(self) -> impl Iterator<Item = Flag> {
        Flag::ALL
            .into_iter()
            .filter(move |flag| self.contains(*flag))
    }

    /// Flags in `self` but not in `other`.
    pub fn minus(self, other: FlagSet) -> FlagSet {
        FlagSet(self.0 & !other.0)
    }

    /// True when no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl Serialize for FlagSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(Flag::as_str))
    }
}

/// A gateway whose address only it may claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// The gateway's address.
    pub ip: IpAddr,
    /// Its MAC, if known: any other MAC claiming `ip` is flagged. Without it, the two-claimant
    /// rule still applies.
    pub mac: Option<MacAddr>,
}

/// The windows and gateways the flags use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagRules {
    /// Registered and unseen this long: stale.
    pub stale_after: SignedDuration,
    /// First seen within this: new.
    pub new_window: SignedDuration,
    /// New address within this: ip_changed.
    pub ip_change_window: SignedDuration,
    /// Two claims of one address this close: a conflict.
    pub conflict_window: SignedDuration,
    /// A conflict stays flagged this long after its last claim.
    pub conflict_hold: SignedDuration,
    /// Known gateways.
    pub gateways: Vec<Gateway>,
}

impl Default for FlagRules {
    fn default() -> Self {
        FlagRules {
            stale_after: SignedDuration::from_hours(24 * 30),
            new_window: SignedDuration::from_hours(24 * 7),
            ip_change_window: SignedDuration::from_hours(24),
            conflict_window: SignedDuration::from_mins(10),
            conflict_hold: SignedDuration::from_hours(24),
            gateways: Vec::new(),
        }
    }
}

fn within(at: Timestamp, window: SignedDuration, now: Timestamp) -> bool {
    now.duration_since(at) <= window
}

/// The flags of a seen asset. `registered_at` is set when the registry holds it.
pub fn asset_flags(
    asset: &Asset,
    registered_at: Option<Timestamp>,
    inventory: &Inventory,
    rules: &FlagRules,
    now: Timestamp,
) -> FlagSet {
    let mut flags = FlagSet::EMPTY;
    match registered_at {
        None => flags.insert(Flag::Unmanaged),
        Some(_) => {
            if !within(asset.seen.last(), rules.stale_after, now) {
                flags.insert(Flag::Stale);
            }
        }
    }
    if within(asset.seen.first(), rules.new_window, now) {
        flags.insert(Flag::New);
    }
    // A new IPv4 address taken recently, and an earlier one given up when it came. IPv6 is
    // left out: privacy addresses rotate daily on every phone and laptop.
    let changed = asset.addresses.iter().any(|(ip, seen)| {
        ip.is_ipv4()
            && within(seen.first(), rules.ip_change_window, now)
            && asset.addresses.iter().any(|(earlier, earlier_seen)| {
                earlier.is_ipv4()
                    && earlier_seen.first() < seen.first()
                    && earlier_seen.last() <= seen.first()
            })
    });
    if changed {
        flags.insert(Flag::IpChanged);
    }
    if in_conflict(asset, inventory, rules, now) {
        flags.insert(Flag::ArpConflict);
    }
    if asset.mac.is_locally_administered() {
        flags.insert(Flag::RandomizedMac);
    }
    flags
}

fn in_conflict(asset: &Asset, inventory: &Inventory, rules: &FlagRules, now: Timestamp) -> bool {
    let widened = |at: Timestamp| {
        at.checked_add(rules.conflict_window)
            .unwrap_or(Timestamp::MAX)
    };
    asset.addresses.iter().any(|(ip, seen)| {
        let impersonates_gateway =
            rules.gateways.iter().any(|gateway| {
                gateway.ip == *ip && gateway.mac.is_some_and(|mac| mac != asset.mac)
            }) && within(seen.last(), rules.conflict_hold, now);
        impersonates_gateway
            || inventory.claimants(ip).iter().any(|other| {
                *other != asset.mac
                    && inventory
                        .get(other)
                        .and_then(|other| other.addresses.get(ip))
                        .is_some_and(|theirs| {
                            // The two claim periods overlap (or come within conflict_window of
                            // each other), and the overlap ended (the earlier of the two last
                            // claims) within conflict_hold. A victim that keeps being seen
                            // after the attacker left stays flagged for the whole hold.
                            let overlap = seen.first() <= widened(theirs.last())
                                && theirs.first() <= widened(seen.last());
                            overlap
                                && within(seen.last().min(theirs.last()), rules.conflict_hold, now)
                        })
            })
    })
}

/// The flags of a registered device never seen: stale once `stale_after` has passed since it
/// was registered, and randomized_mac for a locally administered address.
pub fn unseen_flags(
    mac: MacAddr,
    registered_at: Timestamp,
    rules: &FlagRules,
    now: Timestamp,
) -> FlagSet {
    let mut flags = FlagSet::EMPTY;
    if !within(registered_at, rules.stale_after, now) {
        flags.insert(Flag::Stale);
    }
    if mac.is_locally_administered() {
        flags.insert(Flag::RandomizedMac);
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_by_name_and_refuse_others_with_a_typed_error() {
        for flag in Flag::ALL {
            assert_eq!(flag.as_str().parse::<Flag>(), Ok(flag));
        }
        assert_eq!(" stale ".parse::<Flag>(), Ok(Flag::Stale));
        let error = "stal".parse::<Flag>().unwrap_err();
        assert_eq!(error, UnknownFlag("stal".into()));
        assert_eq!(
            error.to_string(),
            "\"stal\" is not a flag (unmanaged, stale, new, ip_changed, arp_conflict, randomized_mac)"
        );
    }
}
