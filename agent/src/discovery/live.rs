//! Live discovery on real interfaces: one capture thread per interface (always on), one sweep
//! thread per interface (unless passive), and the mDNS querier (unless passive). Each sends
//! the observations it makes into one channel; shaping happens downstream.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hygie_proto::{Observation, Source};
use ipnet::Ipv4Net;
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::arp::build_request;
use super::capture::{self, CaptureError, FrameReceiver, FrameSender, InterfaceInfo};
use super::decode::{Heard, decode};
use super::frame::LinkType;
use super::mdns_active::MdnsQuerier;
use super::neighbours::Neighbours;
use super::settings::DiscoverySettings;
use super::sweep::{PlanError, RateLimiter, Step, SweepPlan, SweepStats, Sweeper, plan};

/// How long a capture thread blocks before checking for shutdown.
const POLL: Duration = Duration::from_millis(200);

/// Why discovery could not start.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(
        "{cidr} is not on any discovery interface ({interfaces}); ARP only reaches the local link"
    )]
    CidrNotOnInterface { cidr: Ipv4Net, interfaces: String },
    #[error("interface {0} has no IPv4 address to sweep from")]
    NoIpv4(String),
    #[error("cannot start a discovery thread")]
    Thread(#[source] std::io::Error),
    #[error("cannot start the mDNS querier: {0}")]
    Mdns(String),
}

/// What a sweep reports as it goes, for progress displays and the `scan` command.
#[derive(Debug, Clone)]
pub enum SweepEvent {
    /// A sweep is under way.
    Progress {
        /// Interface swept.
        interface: String,
        /// Counts so far.
        stats: SweepStats,
        /// Addresses not yet settled.
        remaining: usize,
    },
    /// A sweep finished.
    Finished {
        /// Interface swept.
        interface: String,
        /// Final counts.
        stats: SweepStats,
        /// How long it took.
        duration: Duration,
    },
}

/// A callback for [`SweepEvent`]s.
pub type SweepListener = Arc<dyn Fn(SweepEvent) + Send + Sync>;

/// Running discovery; stops when its shutdown token is cancelled.
#[derive(Debug)]
pub struct Discovery {
    threads: Vec<thread::JoinHandle<()>>,
    /// The neighbour table all parts share.
    pub neighbours: Neighbours,
}

impl Discovery {
    /// Waits for every discovery thread to stop (after shutdown was requested).
    pub fn join(self) {
        for thread in self.threads {
            if thread.join().is_err() {
                tracing::error!("a discovery thread panicked");
            }
        }
    }
}

/// One interface, ready to run.
struct Link {
    info: InterfaceInfo,
    sender: Box<dyn FrameSender>,
    receiver: Box<dyn FrameReceiver>,
    plan: Option<SweepPlan>,
}

/// Which CIDRs each interface sweeps: its own subnets by default, else the configured blocks
/// that lie on it. A configured block on no interface is an error rather than silently ignored.
fn cidrs_for(
    settings: &DiscoverySettings,
    interfaces: &[InterfaceInfo],
) -> Result<Vec<Vec<Ipv4Net>>, DiscoveryError> {
    if settings.arp.cidrs.is_empty() {
        return interfaces
            .iter()
            .map(|info| {
                if info.ipv4.is_empty() {
                    return Err(DiscoveryError::NoIpv4(info.name.clone()));
                }
                Ok(info.ipv4.iter().map(Ipv4Net::trunc).collect())
            })
            .collect();
    }
    let mut assigned = vec![Vec::new(); interfaces.len()];
    for cidr in &settings.arp.cidrs {
        let home = interfaces.iter().position(|info| {
            info.ipv4
                .iter()
                .any(|net| net.contains(&cidr.network()) || cidr.contains(&net.network()))
        });
        match home {
            Some(index) => assigned[index].push(*cidr),
            None => {
                return Err(DiscoveryError::CidrNotOnInterface {
                    cidr: *cidr,
                    interfaces: settings.interfaces.join(", "),
                });
            }
        }
    }
    Ok(assigned)
}

/// Opens every interface (failing early, e.g. without CAP_NET_RAW) and starts discovery.
pub fn start(
    settings: &DiscoverySettings,
    observations: mpsc::Sender<Observation>,
    shutdown: CancellationToken,
    listener: Option<SweepListener>,
) -> Result<Discovery, DiscoveryError> {
    let infos = settings
        .interfaces
        .iter()
        .map(|name| capture::find_interface(name))
        .collect::<Result<Vec<_>, _>>()?;
    let cidrs = cidrs_for(settings, &infos)?;
    let mut links = Vec::new();
    for (info, cidrs) in infos.into_iter().zip(cidrs) {
        let (sender, receiver) = capture::open(&info.name, POLL)?;
        let own: Vec<Ipv4Addr> = info.ipv4.iter().map(Ipv4Net::addr).collect();
        let plan = if settings.active_arp() && !cidrs.is_empty() {
            let sweep_plan = plan(
                &cidrs,
                &settings.arp.exclude_cidrs,
                &own,
                settings.arp.allow_large,
            )?;
            Some(sweep_plan)
        } else {
            None
        };
        links.push(Link {
            info,
            sender,
            receiver,
            plan,
        });
    }
    run_links(settings, links, observations, shutdown, listener)
}

fn run_links(
    settings: &DiscoverySettings,
    links: Vec<Link>,
    observations: mpsc::Sender<Observation>,
    shutdown: CancellationToken,
    listener: Option<SweepListener>,
) -> Result<Discovery, DiscoveryError> {
    let neighbours = Neighbours::new();
    let limiter = Arc::new(Mutex::new(RateLimiter::new(settings.arp.rate)));
    let mut threads = Vec::new();
    for link in links {
        let (replies, replies_receiver) = std_mpsc::sync_channel(4096);
        let capture = CaptureLoop {
            info: link.info.clone(),
            neighbours: neighbours.clone(),
            observations: observations.clone(),
            replies,
            shutdown: shutdown.clone(),
        };
        let receiver = link.receiver;
        threads.push(spawn(format!("capture-{}", link.info.name), move || {
            capture.run(receiver)
        })?);
        if let Some(plan) = link.plan {
            let sweep = SweepLoop {
                info: link.info,
                plan,
                settings: settings.clone(),
                neighbours: neighbours.clone(),
                limiter: Arc::clone(&limiter),
                replies: replies_receiver,
                shutdown: shutdown.clone(),
                listener: listener.clone(),
            };
            let mut sender = link.sender;
            threads.push(spawn(format!("sweep-{}", sweep.info.name), move || {
                sweep.run(sender.as_mut());
            })?);
        }
    }
    if settings.active_mdns() {
        let querier = MdnsQuerier::new(settings, neighbours.clone(), observations, shutdown)
            .map_err(DiscoveryError::Mdns)?;
        threads.push(spawn("mdns-queries".into(), move || querier.run())?);
    }
    Ok(Discovery {
        threads,
        neighbours,
    })
}

fn spawn(
    name: String,
    body: impl FnOnce() + Send + 'static,
) -> Result<thread::JoinHandle<()>, DiscoveryError> {
    thread::Builder::new()
        .name(name)
        .spawn(body)
        .map_err(DiscoveryError::Thread)
}

/// Listens on one interface: every ARP and mDNS frame heard becomes an observation and feeds
/// the neighbour table.
struct CaptureLoop {
    info: InterfaceInfo,
    neighbours: Neighbours,
    observations: mpsc::Sender<Observation>,
    /// Addresses heard from, for this interface's sweep.
    replies: std_mpsc::SyncSender<Ipv4Addr>,
    shutdown: CancellationToken,
}

impl CaptureLoop {
    fn run(self, mut receiver: Box<dyn FrameReceiver>) {
        let own: Vec<IpAddr> = self
            .info
            .ipv4
            .iter()
            .map(|net| IpAddr::V4(net.addr()))
            .collect();
        let mut malformed = 0u64;
        tracing::info!(interface = %self.info.name, mac = %self.info.mac, "listening for ARP and mDNS");
        while !self.shutdown.is_cancelled() {
            let heard = match receiver.next_frame() {
                Ok(Some(bytes)) => match decode(LinkType::Ethernet, bytes) {
                    Ok(Some(heard)) => heard,
                    Ok(None) => continue,
                    Err(error) => {
                        malformed += 1;
                        tracing::debug!(interface = %self.info.name, %error, malformed, "frame not decoded");
                        continue;
                    }
                },
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(interface = %self.info.name, %error, "capture error; retrying in 1s");
                    thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            if self.handle(&heard, &own).is_err() {
                break;
            }
        }
        tracing::info!(interface = %self.info.name, "capture stopped");
    }

    /// Records what a frame revealed; `Err` when nobody listens any more.
    fn handle(&self, heard: &Heard, own: &[IpAddr]) -> Result<(), ()> {
        let frame_source = match heard {
            Heard::Arp { frame_source, .. } | Heard::Mdns { frame_source, .. } => *frame_source,
        };
        // Our own probes and queries, seen on the way out.
        if frame_source == self.info.mac {
            return Ok(());
        }
        if let Some((mac, ip)) = heard.neighbour() {
            self.neighbours.learn(mac, ip, Instant::now());
            if let IpAddr::V4(v4) = ip {
                // A full queue only means the sweep is busy; it will probe that address.
                let _ = self.replies.try_send(v4);
            }
        }
        let now = Timestamp::now();
        if let Some(observation) = heard.observation(now, &self.info.name, Source::ArpPassive, own)
        {
            self.observations
                .blocking_send(observation)
                .map_err(|_| ())?;
        }
        Ok(())
    }
}

/// Sweeps one interface's CIDRs every `arp.interval`.
struct SweepLoop {
    info: InterfaceInfo,
    plan: SweepPlan,
    settings: DiscoverySettings,
    neighbours: Neighbours,
    limiter: Arc<Mutex<RateLimiter>>,
    replies: std_mpsc::Receiver<Ipv4Addr>,
    shutdown: CancellationToken,
    listener: Option<SweepListener>,
}

impl SweepLoop {
    fn run(self, sender: &mut dyn FrameSender) {
        loop {
            let started = Instant::now();
            let stats = self.sweep_once(sender);
            let duration = started.elapsed();
            tracing::info!(
                interface = %self.info.name,
                targets = stats.targets,
                sent = stats.sent,
                answered = stats.answered,
                already_known = stats.already_known,
                excluded_mac = stats.excluded_mac,
                excluded_cidr = self.plan.excluded,
                duration = ?duration,
                "ARP sweep finished"
            );
            if let Some(listener) = &self.listener {
                listener(SweepEvent::Finished {
                    interface: self.info.name.clone(),
                    stats,
                    duration,
                });
            }
            if self.shutdown.is_cancelled() || self.wait(self.settings.arp.interval) {
                return;
            }
        }
    }

    /// Sleeps up to `duration`, draining replies; true if shutdown was requested.
    fn wait(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            if self.shutdown.is_cancelled() {
                return true;
            }
            let _ = self
                .replies
                .recv_timeout(POLL.min(deadline - Instant::now()));
        }
        self.shutdown.is_cancelled()
    }

    fn sweep_once(&self, sender: &mut dyn FrameSender) -> SweepStats {
        let arp = &self.settings.arp;
        let mut sweeper = Sweeper::new(&self.plan, arp.timeout, arp.retries);
        let now = Instant::now();
        // Passive first: whoever was heard since the last sweep needs no probe.
        for target in self.plan.targets() {
            if self
                .neighbours
                .heard_within(&IpAddr::V4(*target), arp.interval, now)
            {
                sweeper.heard_from(*target);
            }
        }
        let excluded_mac = |address: Ipv4Addr| {
            self.neighbours
                .mac_of(&IpAddr::V4(address))
                .is_some_and(|mac| arp.exclude_macs.contains(&mac))
        };
        let mut last_progress = Instant::now();
        loop {
            while let Ok(address) = self.replies.try_recv() {
                sweeper.heard_from(address);
            }
            if self.shutdown.is_cancelled() {
                return sweeper.stats();
            }
            let step = {
                let mut limiter = self
                    .limiter
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                sweeper.step(Instant::now(), &mut limiter, excluded_mac)
            };
            match step {
                Step::Probe(target) => self.probe(sender, target),
                Step::Wait(until) => {
                    let timeout = until.saturating_duration_since(Instant::now()).min(POLL);
                    if let Ok(address) = self.replies.recv_timeout(timeout) {
                        sweeper.heard_from(address);
                    }
                }
                Step::Done => return sweeper.stats(),
            }
            if let Some(listener) = &self.listener
                && last_progress.elapsed() >= Duration::from_millis(500)
            {
                last_progress = Instant::now();
                listener(SweepEvent::Progress {
                    interface: self.info.name.clone(),
                    stats: sweeper.stats(),
                    remaining: sweeper.remaining(),
                });
            }
        }
    }

    fn probe(&self, sender: &mut dyn FrameSender, target: Ipv4Addr) {
        // The last guard: nothing leaves for an address the plan does not permit.
        if !self.plan.permits(target) {
            tracing::error!(%target, "refusing to probe an address outside the sweep plan");
            return;
        }
        let source_ip = self
            .info
            .ipv4
            .iter()
            .find(|net| net.contains(&target))
            .or_else(|| self.info.ipv4.first())
            .map(Ipv4Net::addr);
        let Some(source_ip) = source_ip else {
            return;
        };
        let frame = build_request(self.info.mac, source_ip, target);
        if let Err(error) = sender.send_frame(&frame) {
            tracing::warn!(interface = %self.info.name, %target, %error, "ARP probe not sent");
        }
    }
}

/// Runs a one-interface discovery over canned links; used by tests of the sweep and capture
/// logic without a real network.
#[cfg(test)]
pub(crate) fn run_canned(
    settings: &DiscoverySettings,
    info: InterfaceInfo,
    sender: Box<dyn FrameSender>,
    receiver: Box<dyn FrameReceiver>,
    observations: mpsc::Sender<Observation>,
    shutdown: CancellationToken,
    listener: Option<SweepListener>,
) -> Result<Discovery, DiscoveryError> {
    let cidrs = cidrs_for(settings, std::slice::from_ref(&info))?.remove(0);
    let own: Vec<Ipv4Addr> = info.ipv4.iter().map(Ipv4Net::addr).collect();
    let sweep_plan = plan(
        &cidrs,
        &settings.arp.exclude_cidrs,
        &own,
        settings.arp.allow_large,
    )?;
    let link = Link {
        info,
        sender,
        receiver,
        plan: settings.active_arp().then_some(sweep_plan),
    };
    let mut settings = settings.clone();
    settings.mdns.queries = false;
    run_links(&settings, vec![link], observations, shutdown, listener)
}

#[cfg(test)]
mod tests;
