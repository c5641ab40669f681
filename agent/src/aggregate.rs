//! Shaping what goes up: a quiet subnet should cost almost nothing on the uplink.
//!
//! Discovery hears the same devices over and over (every ARP request, every mDNS
//! announcement). The [`Shaper`] lets an observation through when:
//! - the device is seen for the first time;
//! - it brings something new: an address, a host name, a service, or a service whose port or
//!   TXT changed;
//! - or the device's last observation sent is older than the refresh interval (liveness).
//!
//! Everything else is dropped and counted. Time comes from the observations themselves, so the
//! same shaping applies to live traffic and to capture files replayed at their own times.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use hygie_proto::{MacAddr, MdnsService, Observation};
use jiff::{SignedDuration, Timestamp};

/// What the shaper knows of one device.
#[derive(Debug, Clone, Default)]
struct Known {
    ips: BTreeSet<IpAddr>,
    hostnames: BTreeSet<String>,
    /// (service type, instance) → (port, TXT) as last sent.
    services: BTreeMap<(String, String), MdnsService>,
    last_sent: Option<Timestamp>,
}

/// Why an observation went up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// First sighting of the device.
    New,
    /// It carried a new address, name or service.
    Changed,
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
}

/// The first-seen / changed / refresh filter.
#[derive(Debug, Clone)]
pub struct Shaper {
    refresh: SignedDuration,
    devices: HashMap<MacAddr, Known>,
    stats: ShaperStats,
}

impl Shaper {
    /// A shaper that refreshes each device at most every `refresh`.
    pub fn new(refresh: SignedDuration) -> Self {
        Shaper {
            refresh,
            devices: HashMap::new(),
            stats: ShaperStats::default(),
        }
    }

    /// Offers an observation; returns it with the reason when it should go up.
    pub fn offer(&mut self, observation: Observation) -> Option<(Observation, Reason)> {
        let known = self.devices.entry(observation.mac).or_default();
        let mut reason = None;
        if known.last_sent.is_none() {
            reason = Some(Reason::New);
        }
        for ip in &observation.ips {
            if known.ips.insert(*ip) {
                reason.get_or_insert(Reason::Changed);
            }
        }
        if let Some(hostname) = &observation.hostname
            && known.hostnames.insert(hostname.clone())
        {
            reason.get_or_insert(Reason::Changed);
        }
        for service in &observation.services {
            let key = (service.service_type.clone(), service.instance.clone());
            if known.services.get(&key) != Some(service) {
                known.services.insert(key, service.clone());
                reason.get_or_insert(Reason::Changed);
            }
        }
        let due = known
            .last_sent
            .is_some_and(|last| observation.seen_at.duration_since(last) >= self.refresh);
        if due {
            reason.get_or_insert(Reason::Refresh);
        }
        match reason {
            Some(reason) => {
                let last = known.last_sent.get_or_insert(observation.seen_at);
                *last = (*last).max(observation.seen_at);
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
            port: 80,
            txt: Default::default(),
        };
        let mut with_service = arp("198.18.0.11", 3);
        with_service.services = vec![service.clone()];
        let mut moved_port = with_service.clone();
        moved_port.seen_at = at(4);
        moved_port.services[0].port = 8080;
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
    fn late_observations_do_not_trigger_refreshes() {
        let mut shaper = Shaper::new(SignedDuration::from_mins(30));
        assert!(shaper.offer(arp("198.18.0.11", 60)).is_some());
        assert!(shaper.offer(arp("198.18.0.11", 0)).is_none());
    }
}
