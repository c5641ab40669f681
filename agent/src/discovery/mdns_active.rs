//! DNS-SD queries (mdns-sd): enumerate service types, browse each, resolve instances.
//!
//! Queries run in rounds: every `mdns.query_interval` the querier browses for
//! `round_duration`, then stops every browse, so between rounds it sends nothing. Within a round
//! mdns-sd spaces its queries for a type 1 s, 2 s, 4 s… apart, so a 10 s round sends at most
//! four queries per type. Queries leave only on the configured interfaces: the daemon is told to
//! drop every other interface before the first browse. (mdns-sd joins the mDNS multicast group
//! on all interfaces when it starts, a membership report but no query; it never queries there.)
//!
//! A resolution carries addresses, not a MAC: the MAC comes from the neighbour table, which the
//! capture threads fill from ARP and from the Ethernet source of mDNS responses. Every address
//! of the resolution that the table knows recently must point at the same MAC; a resolution
//! whose addresses disagree (a moved address, a proxy) is not attributed to anyone.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hygie_proto::{MacAddr, MdnsService, Observation, Source, limits};
use jiff::Timestamp;
use mdns_sd::{IfKind, Receiver, ResolvedService, ServiceDaemon, ServiceEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use hygie_decode::mdns::SERVICE_TYPES;
use hygie_proto::text::{clean_hostname, clean_label, clean_value};

use super::neighbours::Neighbours;
use super::settings::DiscoverySettings;

/// Service types browsed at most per round.
const MAX_TYPES: usize = 64;
/// How long ago a neighbour entry may have been heard to vouch for a resolution's MAC: the
/// responder's own frames were just captured, so anything older may be a previous holder.
const MAC_FRESHNESS: Duration = Duration::from_secs(120);
/// How often the querier looks at its channels.
const TICK: Duration = Duration::from_millis(50);

/// Sends DNS-SD query rounds and turns resolutions into observations.
pub struct MdnsQuerier {
    daemon: ServiceDaemon,
    interfaces: Vec<String>,
    interval: Duration,
    round: Duration,
    neighbours: Neighbours,
    observations: mpsc::Sender<Observation>,
    policy: super::live::PolicyWatch,
    policy_wait: Duration,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for MdnsQuerier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdnsQuerier")
            .field("interfaces", &self.interfaces)
            .finish_non_exhaustive()
    }
}

impl MdnsQuerier {
    /// Starts the mdns-sd daemon restricted to the configured interfaces.
    pub fn new(
        settings: &DiscoverySettings,
        neighbours: Neighbours,
        observations: mpsc::Sender<Observation>,
        policy: super::live::PolicyWatch,
        shutdown: CancellationToken,
    ) -> Result<Self, String> {
        let daemon = ServiceDaemon::new().map_err(|error| error.to_string())?;
        daemon
            .disable_interface(IfKind::All)
            .map_err(|error| error.to_string())?;
        for name in &settings.interfaces {
            daemon
                .enable_interface(IfKind::Name(name.clone()))
                .map_err(|error| error.to_string())?;
        }
        Ok(MdnsQuerier {
            daemon,
            interfaces: settings.interfaces.clone(),
            interval: settings.mdns.interval,
            round: settings.mdns.round,
            neighbours,
            observations,
            policy,
            policy_wait: settings.policy_wait,
            shutdown,
        })
    }

    /// Whether the scan policy in force forbids every query; `None` while none is known.
    fn passive_only(&self) -> Option<bool> {
        self.policy
            .borrow()
            .as_ref()
            .map(|policy| policy.passive_only)
    }

    /// Runs query rounds until shutdown. Like the sweeps, the first round waits for a scan
    /// policy (up to `policy_wait`), and none runs while the policy forbids every probe.
    pub fn run(self) {
        let deadline = Instant::now() + self.policy_wait;
        while self.passive_only().is_none() && Instant::now() < deadline {
            if self.sleep(Duration::from_millis(200)) {
                return;
            }
        }
        loop {
            let started = Instant::now();
            if self.passive_only() == Some(true) {
                tracing::info!("the scan policy forbids every probe: mDNS query round skipped");
                if self.sleep(self.interval) {
                    break;
                }
                continue;
            }
            let (types, resolved) = self.round();
            tracing::info!(
                interfaces = ?self.interfaces,
                service_types = types,
                resolved,
                duration = ?started.elapsed(),
                "mDNS query round finished"
            );
            if self.sleep(self.interval.saturating_sub(started.elapsed())) {
                break;
            }
        }
        if let Ok(status) = self.daemon.shutdown() {
            let _ = status.recv_timeout(Duration::from_secs(2));
        }
    }

    /// Sleeps up to `duration`; true if shutdown was requested.
    fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            if self.shutdown.is_cancelled() {
                return true;
            }
            std::thread::sleep(TICK.min(deadline - Instant::now()));
        }
        self.shutdown.is_cancelled()
    }

    /// One round: returns (service types browsed, instances turned into observations).
    fn round(&self) -> (usize, usize) {
        let meta = match self.daemon.browse(SERVICE_TYPES) {
            Ok(meta) => meta,
            Err(error) => {
                tracing::warn!(%error, "cannot browse DNS-SD service types");
                return (0, 0);
            }
        };
        let mut browses: BTreeMap<String, Receiver<ServiceEvent>> = BTreeMap::new();
        let mut waiting: Vec<(ResolvedService, Instant)> = Vec::new();
        let mut sent = HashSet::new();
        let mut dropped = 0_u64;
        let deadline = Instant::now() + self.round;
        while Instant::now() < deadline && !self.shutdown.is_cancelled() {
            while let Ok(event) = meta.try_recv() {
                if let ServiceEvent::ServiceFound(_, service_type) = event
                    && browses.len() < MAX_TYPES
                    && !browses.contains_key(&service_type)
                    && let Ok(receiver) = self.daemon.browse(&service_type)
                {
                    browses.insert(service_type, receiver);
                }
            }
            for receiver in browses.values() {
                while let Ok(event) = receiver.try_recv() {
                    if let ServiceEvent::ServiceResolved(resolved) = event {
                        // Waiting past the round would only attribute stale answers.
                        waiting.push((*resolved, deadline));
                    }
                }
            }
            let now = Instant::now();
            waiting.retain(
                |(resolved, give_up)| match self.observation(resolved, now) {
                    Some(observation) => {
                        // Never block the querier on a slow pipeline: the next round resends.
                        match self.observations.try_send(observation) {
                            Ok(()) => {
                                sent.insert(resolved.fullname.clone());
                            }
                            Err(_) => dropped += 1,
                        }
                        false
                    }
                    None => now < *give_up,
                },
            );
            std::thread::sleep(TICK);
        }
        let _ = self.daemon.stop_browse(SERVICE_TYPES);
        for service_type in browses.keys() {
            let _ = self.daemon.stop_browse(service_type);
        }
        for (resolved, _) in waiting {
            tracing::debug!(
                instance = %resolved.fullname,
                "resolved, but no single recent MAC is known for its addresses"
            );
        }
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "observation pipeline full: mDNS resolutions dropped this round"
            );
        }
        (browses.len(), sent.len())
    }

    /// The observation of a resolved instance, once its addresses point at one recent MAC.
    fn observation(&self, resolved: &ResolvedService, now: Instant) -> Option<Observation> {
        let mut ips: Vec<IpAddr> = resolved
            .addresses
            .iter()
            .map(|address| address.to_ip_addr())
            .collect();
        // IPv4 first: that is what ARP has taught the neighbour table.
        ips.sort_by_key(|ip| ip.is_ipv6());
        let mac = agreed_mac(
            ips.iter()
                .map(|ip| self.neighbours.recent_mac_of(ip, MAC_FRESHNESS, now)),
        )?;
        let mut observation = Observation::new(mac, Timestamp::now(), Source::Mdns);
        observation.ips = ips;
        observation.ips.truncate(limits::MAX_ADDRESSES);
        observation.interface = self.interfaces.first().cloned().unwrap_or_default();
        observation.hostname = clean_hostname(&resolved.host);
        let txt = resolved
            .txt_properties
            .iter()
            .take(limits::MAX_TXT_ENTRIES)
            .filter_map(|property| {
                let key = clean_label(property.key(), limits::MAX_TXT_KEY_LEN)?;
                // A property without `=` is a flag: no value at all.
                let value = property.val().map(|value| {
                    clean_value(&String::from_utf8_lossy(value), limits::MAX_TXT_VALUE_LEN)
                });
                Some((key, value))
            })
            .collect();
        observation.services = clean_label(&resolved.ty_domain, limits::MAX_SERVICE_NAME_LEN)
            .map(|service_type| MdnsService {
                instance: clean_value(
                    resolved.fullname.trim_end_matches('.'),
                    limits::MAX_SERVICE_NAME_LEN,
                ),
                service_type: service_type.trim_end_matches('.').to_owned(),
                port: Some(resolved.port),
                txt,
            })
            .into_iter()
            .collect();
        observation.normalise();
        observation.check().ok()?;
        Some(observation)
    }
}

/// The one MAC that every known address points at; `None` if none is known or they disagree.
fn agreed_mac(known: impl IntoIterator<Item = Option<MacAddr>>) -> Option<MacAddr> {
    let mut agreed = None;
    for mac in known.into_iter().flatten() {
        match agreed {
            None => agreed = Some(mac),
            Some(previous) if previous != mac => return None,
            Some(_) => {}
        }
    }
    agreed
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUMP: MacAddr = MacAddr::new([0x00, 0x30, 0xe6, 0, 0, 1]);
    const OTHER: MacAddr = MacAddr::new([0x02, 0, 0, 0, 0, 2]);

    #[test]
    fn addresses_must_agree_on_one_mac() {
        assert_eq!(agreed_mac([Some(PUMP), None, Some(PUMP)]), Some(PUMP));
        assert_eq!(agreed_mac([None, Some(PUMP)]), Some(PUMP));
        assert_eq!(agreed_mac([Some(PUMP), Some(OTHER)]), None);
        assert_eq!(agreed_mac([None, None]), None);
    }
}
