//! The agent's neighbour table: which MAC was last seen using which IP address, learned from
//! ARP and from mDNS frames (whose Ethernet source is the sender itself). It gives mDNS
//! resolutions their MAC, tells sweeps which addresses need no probe, and remembers, for good,
//! every address ever seen with an excluded MAC: a later frame from another host claiming that
//! address, or the table forgetting old entries, must never make a fragile device probe-able.
//! MACs protected by the collector's scan policy are tracked the same way, for as long as the
//! policy protects them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hygie_proto::{MacAddr, is_device_ip};

/// Entries kept at most; past it, old entries are forgotten in one pass.
const CAPACITY: usize = 131_072;
/// Entries older than this go first when the table is full.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<IpAddr, (MacAddr, Instant)>,
    excluded_macs: BTreeSet<MacAddr>,
    /// Addresses ever seen with an excluded MAC. Never forgotten.
    excluded_ips: HashSet<IpAddr>,
    /// MACs the scan policy protects.
    protected_macs: HashSet<MacAddr>,
    /// Addresses seen with a protected MAC, and which: kept while that MAC stays protected.
    protected_ips: HashMap<IpAddr, MacAddr>,
}

impl Table {
    /// Makes room in one pass (amortised over the many learns that filled the table): old
    /// entries first, then the oldest eighth.
    fn make_room(&mut self, now: Instant) {
        self.entries
            .retain(|_, (_, heard)| now.saturating_duration_since(*heard) < FORGET_AFTER);
        if self.entries.len() >= CAPACITY * 7 / 8 {
            let mut times: Vec<Instant> = self.entries.values().map(|(_, heard)| *heard).collect();
            times.sort_unstable();
            let cutoff = times[times.len() / 8];
            self.entries.retain(|_, (_, heard)| *heard > cutoff);
        }
    }
}

/// A shared IP → MAC table.
#[derive(Debug, Clone, Default)]
pub struct Neighbours {
    table: Arc<Mutex<Table>>,
}

impl Neighbours {
    /// An empty table that tracks the addresses of `excluded_macs`.
    pub fn new(excluded_macs: BTreeSet<MacAddr>) -> Self {
        Neighbours {
            table: Arc::new(Mutex::new(Table {
                excluded_macs,
                ..Table::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table holds plain data: a panic elsewhere cannot leave it half-updated.
        self.table
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Records that `mac` used `ip` at `now`. Unusable addresses are ignored.
    pub fn learn(&self, mac: MacAddr, ip: IpAddr, now: Instant) {
        if !is_device_ip(ip) {
            return;
        }
        let mut table = self.lock();
        if table.excluded_macs.contains(&mac) {
            table.excluded_ips.insert(ip);
        }
        if table.protected_macs.contains(&mac) {
            table.protected_ips.insert(ip, mac);
        }
        if table.entries.len() >= CAPACITY && !table.entries.contains_key(&ip) {
            table.make_room(now);
        }
        table.entries.insert(ip, (mac, now));
    }

    /// The MAC last seen with `ip`, if it was seen within `window` before `now`.
    pub fn recent_mac_of(&self, ip: &IpAddr, window: Duration, now: Instant) -> Option<MacAddr> {
        self.lock()
            .entries
            .get(ip)
            .filter(|(_, heard)| now.saturating_duration_since(*heard) <= window)
            .map(|(mac, _)| *mac)
    }

    /// Whether `ip` was heard from within `window` before `now`.
    pub fn heard_within(&self, ip: &IpAddr, window: Duration, now: Instant) -> bool {
        self.recent_mac_of(ip, window, now).is_some()
    }

    /// Whether `ip` has ever been seen with an excluded MAC, or is now.
    pub fn is_excluded(&self, ip: &IpAddr) -> bool {
        let table = self.lock();
        table.excluded_ips.contains(ip)
            || table
                .entries
                .get(ip)
                .is_some_and(|(mac, _)| table.excluded_macs.contains(mac))
    }

    /// Replaces the MACs the scan policy protects. Addresses already known for them become
    /// protected too; those of MACs no longer protected are released.
    pub fn set_protected(&self, macs: HashSet<MacAddr>) {
        let mut table = self.lock();
        let Table {
            entries,
            protected_ips,
            ..
        } = &mut *table;
        protected_ips.retain(|_, mac| macs.contains(mac));
        for (ip, (mac, _)) in entries.iter() {
            if macs.contains(mac) {
                protected_ips.insert(*ip, *mac);
            }
        }
        table.protected_macs = macs;
    }

    /// Whether `ip` has been seen with a MAC the scan policy protects.
    pub fn is_protected(&self, ip: &IpAddr) -> bool {
        let table = self.lock();
        table.protected_ips.contains_key(ip)
            || table
                .entries
                .get(ip)
                .is_some_and(|(mac, _)| table.protected_macs.contains(mac))
    }

    /// Seeds the table from the kernel's ARP cache (`/proc/net/arp` text) for `interface`, so
    /// the first sweep already knows the MACs the host has talked to. Seeded entries count as
    /// old: they identify devices (for exclusions) but do not spare anyone a probe.
    pub fn seed_from_kernel(&self, arp_table: &str, interface: &str, now: Instant) -> usize {
        let long_ago = now.checked_sub(FORGET_AFTER / 2).unwrap_or(now);
        let mut seeded = 0;
        for line in arp_table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // IP address, HW type, Flags, HW address, Mask, Device; flag 0x2 means complete.
            let [ip, _, flags, mac, _, device] = fields.as_slice() else {
                continue;
            };
            let complete = u32::from_str_radix(flags.trim_start_matches("0x"), 16)
                .is_ok_and(|flags| flags & 0x2 != 0);
            let (Ok(ip), Ok(mac)) = (ip.parse::<Ipv4Addr>(), mac.parse::<MacAddr>()) else {
                continue;
            };
            if *device == interface && complete && mac.is_device() {
                self.learn(mac, IpAddr::V4(ip), long_ago);
                seeded += 1;
            }
        }
        seeded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VENTILATOR: MacAddr = MacAddr::new([0x00, 0x30, 0xe6, 0x11, 0x22, 0x04]);
    const SPOOFER: MacAddr = MacAddr::new([0x02, 0, 0, 0, 0, 0x66]);

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, last))
    }

    #[test]
    fn an_excluded_devices_address_stays_excluded() {
        let table = Neighbours::new([VENTILATOR].into());
        let now = Instant::now();
        table.learn(VENTILATOR, ip(14), now);
        assert!(table.is_excluded(&ip(14)));
        // Another host claims the address: the exclusion holds.
        table.learn(SPOOFER, ip(14), now);
        assert_eq!(
            table.recent_mac_of(&ip(14), Duration::from_secs(1), now),
            Some(SPOOFER)
        );
        assert!(table.is_excluded(&ip(14)));
        assert!(!table.is_excluded(&ip(15)));
    }

    #[test]
    fn a_protected_devices_addresses_stay_protected_while_the_policy_lasts() {
        let table = Neighbours::new(BTreeSet::new());
        let now = Instant::now();
        let pump = MacAddr::new([0x00, 0x09, 0x5c, 1, 2, 3]);
        table.learn(pump, ip(20), now);
        table.set_protected(HashSet::from([pump]));
        assert!(table.is_protected(&ip(20)), "known before the policy came");
        table.learn(pump, ip(21), now);
        // Another host takes the old address: it stays protected, the pump may still answer.
        table.learn(MacAddr::new([0x02, 0, 0, 0, 0, 9]), ip(20), now);
        assert!(table.is_protected(&ip(20)) && table.is_protected(&ip(21)));
        table.set_protected(HashSet::new());
        assert!(!table.is_protected(&ip(20)) && !table.is_protected(&ip(21)));
    }

    #[test]
    fn unusable_addresses_are_not_learned() {
        let table = Neighbours::new(BTreeSet::new());
        let now = Instant::now();
        table.learn(VENTILATOR, IpAddr::V4(Ipv4Addr::UNSPECIFIED), now);
        table.learn(VENTILATOR, "224.0.0.251".parse().unwrap(), now);
        assert_eq!(table.lock().entries.len(), 0);
    }

    #[test]
    fn the_kernel_cache_seeds_old_entries() {
        let table = Neighbours::new([VENTILATOR].into());
        let arp = "IP address       HW type     Flags       HW address            Mask     Device\n\
                   198.18.0.14      0x1         0x2         00:30:e6:11:22:04     *        eth0\n\
                   198.18.0.15      0x1         0x0         00:00:00:00:00:00     *        eth0\n\
                   10.0.0.1         0x1         0x2         00:11:22:33:44:55     *        mgmt0\n";
        let now = Instant::now();
        assert_eq!(table.seed_from_kernel(arp, "eth0", now), 1);
        assert!(table.is_excluded(&ip(14)));
        assert!(!table.heard_within(&ip(14), Duration::from_secs(60), now));
    }

    #[test]
    fn a_full_table_forgets_old_entries_first() {
        let table = Neighbours::new(BTreeSet::new());
        let start = Instant::now();
        let mut table_guard = table.lock();
        for n in 0..CAPACITY as u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            table_guard.entries.insert(ip, (VENTILATOR, start));
        }
        drop(table_guard);
        let later = start + Duration::from_secs(7200);
        table.learn(SPOOFER, ip(1), later);
        assert_eq!(table.lock().entries.len(), 1);
    }
}
