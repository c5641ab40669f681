//! The agent's neighbour table: which MAC was last seen using which IP address, learned from
//! ARP and from mDNS frames (whose Ethernet source is the sender itself). It gives mDNS
//! resolutions their MAC and tells sweeps which addresses need no probe.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hygie_proto::MacAddr;

/// Entries kept at most; the oldest are forgotten past it.
const CAPACITY: usize = 131_072;

/// A shared IP → MAC table.
#[derive(Debug, Clone, Default)]
pub struct Neighbours {
    table: Arc<Mutex<HashMap<IpAddr, (MacAddr, Instant)>>>,
}

impl Neighbours {
    /// An empty table.
    pub fn new() -> Self {
        Neighbours::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (MacAddr, Instant)>> {
        // The table holds plain data: a panic elsewhere cannot leave it half-updated.
        self.table
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Records that `mac` used `ip` at `now`.
    pub fn learn(&self, mac: MacAddr, ip: IpAddr, now: Instant) {
        let mut table = self.lock();
        if table.len() >= CAPACITY
            && !table.contains_key(&ip)
            && let Some(oldest) = table
                .iter()
                .min_by_key(|(_, (_, heard))| *heard)
                .map(|(ip, _)| *ip)
        {
            table.remove(&oldest);
        }
        table.insert(ip, (mac, now));
    }

    /// The MAC last seen with `ip`.
    pub fn mac_of(&self, ip: &IpAddr) -> Option<MacAddr> {
        self.lock().get(ip).map(|(mac, _)| *mac)
    }

    /// Whether `ip` was heard from within `window` before `now`.
    pub fn heard_within(&self, ip: &IpAddr, window: Duration, now: Instant) -> bool {
        self.lock()
            .get(ip)
            .is_some_and(|(_, heard)| now.saturating_duration_since(*heard) <= window)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing was learned yet.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}
