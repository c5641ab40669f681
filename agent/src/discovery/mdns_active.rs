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
//! capture threads fill from ARP and from the Ethernet source of mDNS responses.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hygie_proto::{MdnsService, Observation, Source, limits};
use jiff::Timestamp;
use mdns_sd::{IfKind, Receiver, ResolvedService, ServiceDaemon, ServiceEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::mdns_wire::SERVICE_TYPES;
use super::neighbours::Neighbours;
use super::settings::DiscoverySettings;
use super::text::{clean_hostname, clean_label, clean_value};

/// Service types browsed at most per round.
const MAX_TYPES: usize = 64;
/// How long a resolution waits for its MAC to appear in the neighbour table.
const MAC_WAIT: Duration = Duration::from_secs(30);
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
            shutdown,
        })
    }

    /// Runs query rounds until shutdown.
    pub fn run(self) {
        loop {
            let started = Instant::now();
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
                        waiting.push((*resolved, Instant::now() + MAC_WAIT));
                    }
                }
            }
            waiting.retain(|(resolved, give_up)| match self.observation(resolved) {
                Some(observation) => {
                    sent.insert(resolved.fullname.clone());
                    let _ = self.observations.blocking_send(observation);
                    false
                }
                None => Instant::now() < *give_up,
            });
            std::thread::sleep(TICK);
        }
        let _ = self.daemon.stop_browse(SERVICE_TYPES);
        for service_type in browses.keys() {
            let _ = self.daemon.stop_browse(service_type);
        }
        for (resolved, _) in waiting {
            tracing::debug!(instance = %resolved.fullname, "resolved, but no MAC is known for its addresses");
        }
        (browses.len(), sent.len())
    }

    /// The observation of a resolved instance, once a MAC is known for one of its addresses.
    fn observation(&self, resolved: &ResolvedService) -> Option<Observation> {
        let mut ips: Vec<IpAddr> = resolved
            .addresses
            .iter()
            .map(|address| address.to_ip_addr())
            .collect();
        // IPv4 first: that is what ARP has taught the neighbour table.
        ips.sort_by_key(|ip| ip.is_ipv6());
        let mac = ips.iter().find_map(|ip| self.neighbours.mac_of(ip))?;
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
                let value = property
                    .val()
                    .map(|value| {
                        clean_value(&String::from_utf8_lossy(value), limits::MAX_TXT_VALUE_LEN)
                    })
                    .unwrap_or_default();
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
                port: resolved.port,
                txt,
            })
            .into_iter()
            .collect();
        observation.normalise();
        observation.check().ok()?;
        Some(observation)
    }
}
