//! Shaping what goes up: a quiet subnet should cost almost nothing on the uplink.
//!
//! Discovery hears the same devices over and over (every ARP request, every mDNS
//! announcement). The [`Shaper`] lets an observation through when:
//! - the device is seen for the first time;
//! - it brings something new: an address, a host name, a service, or a service whose port or
//!   TXT changed, or a protocol detail (a DHCP fingerprint, SSDP headers, LLDP fields...) that
//!   differs from the last one sent under the same key;
//! - it goes back to an address or name it had before (A → B → A), so the collector's view
//!   of where the device is now stays right; such returns go up at most once a minute per
//!   device, so a host flapping between two addresses cannot flood the uplink;
//! - or the device's last observation sent is older than the refresh interval (liveness).
//!
//! Everything else is dropped and counted. Time comes from the observations themselves, so the
//! same shaping applies to live traffic and to capture files replayed at their own times.
//!
//! Memory stays bounded on a hostile segment: per-device sets are capped (past the cap the
//! set is forgotten, which only costs a resend), and once many devices are tracked, those not
//! heard for `max(2 × refresh, 1 h)` are forgotten; a forgotten device that comes back goes up
//! as new.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use hygie_proto::{Detail, DetailKey, MacAddr, MdnsService, Observation, limits};
use jiff::{SignedDuration, Timestamp};

/// Devices tracked before the shaper starts forgetting quiet ones.
const PRUNE_FLOOR: usize = 65_536;
/// Devices tracked at most: past it the least recently heard half is forgotten.
const MAX_DEVICES: usize = 1 << 20;
/// Addresses, names or services remembered per device before the set is forgotten.
const MAX_REMEMBERED: usize = 4 * limits::MAX_ADDRESSES;
/// Shortest gap between two "returned to a previous address or name" resends.
const RETURN_GAP: SignedDuration = SignedDuration::from_mins(1);

/// What the shaper knows of one device.
#[derive(Debug, Clone, Default)]
struct Known {
    /// Every address ever sent.
    ips: BTreeSet<IpAddr>,
    /// The IPv4 and IPv6 addresses of the last observation sent that carried each family.
    current_v4: BTreeSet<IpAddr>,
    current_v6: BTreeSet<IpAddr>,
    hostnames: BTreeSet<String>,
    current_hostname: Option<String>,
    /// (service type, instance) → (port, TXT) as last sent.
    services: BTreeMap<(String, String), MdnsService>,
    /// The protocol details last sent, by key.
    details: BTreeMap<DetailKey, Detail>,
    last_sent: Option<Timestamp>,
    last_heard: Option<Timestamp>,
}

impl Known {
    /// Forgets sets that grew past the cap (a device inventing addresses or names).
    fn cap(&mut self) {
        if self.ips.len() > MAX_REMEMBERED {
            self.ips.clear();
        }
        if self.hostnames.len() > MAX_REMEMBERED {
            self.hostnames.clear();
        }
        if self.services.len() > MAX_REMEMBERED {
            self.services.clear();
        }
        if self.details.len() > MAX_REMEMBERED {
            self.details.clear();
        }
    }
}

/// Why an observation went up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// First sighting of the device.
    New,
    /// It carried a new address, name or service.
    Changed,
    /// It went back to an address or name it had before.
    Returned,
    /// The refresh interval had passed.
    Refresh,
}

/// Counts, for logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShaperStats {
    /// Devices tracked.
    pub devices: usize,
    /// Observations let through.
    pub forwarded: u64,
    /// Observations dropped as already known.
    pub suppressed: u64,
    /// Devices forgotten after a long silence (or to stay under the device cap).
    pub forgotten: u64,
}

/// The first-seen / changed / refresh filter.
#[derive(Debug, Clone)]
pub struct Shaper {
    refresh: SignedDuration,
    devices: HashMap<MacAddr, Known>,
    /// Table size at which the next pruning pass runs (amortised: it doubles after a pass).
    prune_at: usize,
    stats: ShaperStats,
}

impl Shaper {
    /// A shaper that refreshes each device at most every `refresh`.
    pub fn new(refresh: SignedDuration) -> Self {
        Shaper {
            refresh,
            devices: HashMap::new(),
            prune_at: PRUNE_FLOOR,
            stats: ShaperStats::default(),
        }
    }

    /// Offers an observation; returns it with the reason when it should go up.
    pub fn offer(&mut self, observation: Observation) -> Option<(Observation, Reason)> {
        if !self.devices.contains_key(&observation.mac) && self.devices.len() >= self.prune_at {
            self.prune(observation.seen_at);
        }
        let known = self.devices.entry(observation.mac).or_default();
        known.cap();
        let reason = Self::reason(known, &observation, self.refresh);
        known.last_heard = known.last_heard.max(Some(observation.seen_at));
        match reason {
            Some(reason) => {
                Self::remember(known, &observation);
                self.stats.forwarded += 1;
                self.stats.devices = self.devices.len();
                Some((observation, reason))
            }
            None => {
                self.stats.suppressed += 1;
                None
            }
        }
    }

    /// Why `observation` should go up, given what was sent of the device so far.
    fn reason(known: &Known, observation: &Observation, refresh: SignedDuration) -> Option<Reason> {
        let Some(last_sent) = known.last_sent else {
            return Some(Reason::New);
        };
        let new_ip = observation.ips.iter().any(|ip| !known.ips.contains(ip));
        let new_hostname = observation
            .hostname
            .as_ref()
            .is_some_and(|hostname| !known.hostnames.contains(hostname));
        let changed_service = observation.services.iter().any(|service| {
            known
                .services
                .get(&(service.service_type.clone(), service.instance.clone()))
                != Some(service)
        });
        let changed_detail = observation
            .detail
            .as_ref()
            .is_some_and(|detail| known.details.get(&detail.key()) != Some(detail));
        if new_ip || new_hostname || changed_service || changed_detail {
            return Some(Reason::Changed);
        }
        let since_sent = observation.seen_at.duration_since(last_sent);
        let (v4, v6): (BTreeSet<IpAddr>, BTreeSet<IpAddr>) =
            observation.ips.iter().partition(|ip| ip.is_ipv4());
        let returned = (!v4.is_empty() && !v4.is_subset(&known.current_v4))
            || (!v6.is_empty() && !v6.is_subset(&known.current_v6))
            || (observation.hostname.is_some() && observation.hostname != known.current_hostname);
        if returned && since_sent >= RETURN_GAP.min(refresh) {
            return Some(Reason::Returned);
        }
        (since_sent >= refresh).then_some(Reason::Refresh)
    }

    /// Records what an observation going up tells the collector.
    fn remember(known: &mut Known, observation: &Observation) {
        known.ips.extend(observation.ips.iter().copied());
        let (v4, v6): (BTreeSet<IpAddr>, BTreeSet<IpAddr>) =
            observation.ips.iter().partition(|ip| ip.is_ipv4());
        if !v4.is_empty() {
            known.current_v4 = v4;
        }
        if !v6.is_empty() {
            known.current_v6 = v6;
        }
        if let Some(hostname) = &observation.hostname {
            known.hostnames.insert(hostname.clone());
            known.current_hostname = Some(hostname.clone());
        }
        for service in &observation.services {
            known.services.insert(
                (service.service_type.clone(), service.instance.clone()),
                service.clone(),
            );
        }
        if let Some(detail) = &observation.detail {
            known.details.insert(detail.key(), detail.clone());
        }
        known.last_sent = known.last_sent.max(Some(observation.seen_at));
    }

    /// Forgets devices silent for `max(2 × refresh, 1 h)` before `now`; if the table is still
    /// at its cap, forgets the least recently heard half.
    fn prune(&mut self, now: Timestamp) {
        let quiet = (self.refresh * 2).max(SignedDuration::from_hours(1));
        let before = self.devices.len();
        self.devices.retain(|_, known| {
            known
                .last_heard
                .is_some_and(|heard| now.duration_since(heard) < quiet)
        });
        if self.devices.len() >= MAX_DEVICES {
            let mut heard: Vec<Option<Timestamp>> = self
                .devices
                .values()
                .map(|known| known.last_heard)
                .collect();
            let middle = heard.len() / 2;
            let (_, median, _) = heard.select_nth_unstable(middle);
            let median = *median;
            self.devices.retain(|_, known| known.last_heard > median);
        }
        self.stats.forgotten += (before - self.devices.len()) as u64;
        self.stats.devices = self.devices.len();
        self.prune_at = (self.devices.len() * 2).clamp(PRUNE_FLOOR, MAX_DEVICES);
    }

    /// Counts so far.
    pub fn stats(&self) -> ShaperStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use hygie_proto::Source;

    use super::*;

    fn at(minute: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_mins(minute)
    }

    fn arp(ip: &str, minute: i64) -> Observation {
        let mut observation = Observation::new(
            "00:09:5c:11:22:01".parse().unwrap(),
            at(minute),
            Source::ArpPassive,
        );
        observation.ips = vec![ip.parse().unwrap()];
        observation
    }

    fn reasons(shaper: &mut Shaper, observations: Vec<Observation>) -> Vec<Option<Reason>> {
        observations
            .into_iter()
            .map(|observation| shaper.offer(observation).map(|(_, reason)| reason))
            .collect()
    }

    #[test]
    fn a_quiet_device_goes_up_once_per_refresh_interval() {
        let mut shaper = Shaper::new(SignedDuration::from_mins(30));
        // An ARP request every minute for two hours.
        let sent: Vec<_> = reasons(
            &mut shaper,
            (0..120).map(|m| arp("198.18.0.11", m)).collect(),
        )
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(
            sent,
            [
                Reason::New,
                Reason::Refresh,
                Reason::Refresh,
                Reason::Refresh
            ]
        );
        assert_eq!(shaper.stats().suppressed, 116);
    }

    #[test]
    fn changes_go_up_at_once() {
        let mut shaper = Shaper::new(SignedDuration::from_mins(30));
        let mut named = arp("198.18.0.11", 2);
        named.hostname = Some("mon-icu-01.local".into());
        let service = MdnsService {
            instance: "MON-ICU-01._http._tcp.local".into(),
            service_type: "_http._tcp.local".into(),
            port: Some(80),
            txt: Default::default(),
        };
        let mut with_service = arp("198.18.0.11", 3);
        with_service.services = vec![service.clone()];
        let mut moved_port = with_service.clone();
        moved_port.seen_at = at(4);
        moved_port.services[0].port = Some(8080);
        assert_eq!(
            reasons(
                &mut shaper,
                vec![
                    arp("198.18.0.11", 0),
                    arp("198.18.0.11", 1),
                    named.clone(),
                    with_service.clone(),
                    moved_port,
                    arp("198.18.0.12", 5),
                    arp("198.18.0.12", 6),
                ]
            ),
            [
                Some(Reason::New),
                None,
                Some(Reason::Changed),
                Some(Reason::Changed),
                Some(Reason::Changed),
                Some(Reason::Changed),
                None
            ]
        );
    }

    #[test]
    fn going_back_to_a_previous_address_goes_up_but_flapping_is_paced() {
        let mut shaper = Shaper::new(SignedDuration::from_mins(30));
        assert_eq!(
            reasons(
                &mut shaper,
                vec![
                    arp("198.18.0.11", 0),
                    arp("198.18.0.12", 2),
                    // Back to .11: the collector must learn the device is there again.
                    arp("198.18.0.11", 4),
                    arp("198.18.0.11", 5),
                ]
            ),
            [
                Some(Reason::New),
                Some(Reason::Changed),
                Some(Reason::Returned),
                None
            ]
        );
        // A host flapping every second between the two goes up at most once a minute.
        let flaps: Vec<Observation> = (0..600)
            .map(|second| {
                let mut observation = arp(
                    if second % 2 == 0 {
                        "198.18.0.12"
                    } else {
                        "198.18.0.11"
                    },
                    10,
                );
                observation.seen_at += SignedDuration::from_secs(second);
                observation
            })
            .collect();
        let sent = reasons(&mut shaper, flaps).into_iter().flatten().count();
        assert!((9..=11).contains(&sent), "{sent} resends in 10 minutes");
    }

    #[test]
    fn quiet_devices_are_forgotten_once_many_are_tracked() {
        let mut shaper = Shaper::new(SignedDuration::from_mins(30));
        for n in 0..PRUNE_FLOOR as u64 {
            let mut observation = arp("198.18.0.11", 0);
            let octets = n.to_be_bytes();
            observation.mac = MacAddr::new([0x02, 0, octets[4], octets[5], octets[6], octets[7]]);
            shaper.offer(observation);
        }
        assert_eq!(shaper.stats().devices, PRUNE_FLOOR);
        // Two hours later a new device appears: the silent ones are forgotten.
        let mut newcomer = arp("198.18.0.99", 120);
        newcomer.mac = "00:09:5c:00:00:99".parse().unwrap();
        assert!(shaper.offer(newcomer).is_some());
        assert_eq!(shaper.stats().devices, 1);
        assert_eq!(shaper.stats().forgotten, PRUNE_FLOOR as u64);
        // A forgotten device that comes back goes up as new.
        assert_eq!(
            shaper
                .offer(arp("198.18.0.11", 121))
                .map(|(_, reason)| reason),
            Some(Reason::New)
        );
    }

    #[test]
    fn a_device_inventing_addresses_does_not_grow_memory_without_bound() {
        let mut shaper = Shaper::new(SignedDuration::from_mins(30));
        for n in 0..10_000_u32 {
            let mut observation = arp("198.18.0.11", 0);
            observation.ips = vec![IpAddr::V4(std::net::Ipv4Addr::from(0xc612_0000 + n))];
            shaper.offer(observation);
        }
        let known = shaper.devices.values().next().unwrap();
        assert!(known.ips.len() <= MAX_REMEMBERED + 1);
    }

    #[test]
    fn late_observations_do_not_trigger_refreshes() {
        let mut shaper = Shaper::new(SignedDuration::from_mins(30));
        assert!(shaper.offer(arp("198.18.0.11", 60)).is_some());
        assert!(shaper.offer(arp("198.18.0.11", 0)).is_none());
    }
}
