//! Live discovery on real interfaces: one capture thread per interface (always on), one sweep
//! thread per interface (unless passive), and the mDNS querier (unless passive). Each sends
//! the observations it makes into one channel; shaping happens downstream.
//!
//! The capture threads never wait for downstream: when the channel is full (the outbox is slow)
//! observations are dropped and counted, since a device still present will be seen again, while
//! a capture thread that stopped reading would lose the very ARP replies its sweep is waiting for.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use hygie_proto::{Observation, ProbeGuard, ScanPolicy};
use ipnet::Ipv4Net;
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use hygie_decode::arp::build_request;
use hygie_decode::{Heard, Hearing, LinkType, decode};

use super::capture::{self, CaptureError, FrameReceiver, FrameSender, InterfaceInfo};
use super::mdns_active::MdnsQuerier;
use super::neighbours::Neighbours;
use super::settings::DiscoverySettings;
use super::sweep::{RateLimiter, Skip, Step, SweepPlan, SweepStats, Sweeper, plan};
use crate::metrics::{CaptureCounters, DiscoveryMetrics};

/// The scan policy in force, as the uplink publishes it (`None`: none known yet).
pub type PolicyWatch = watch::Receiver<Option<Arc<ScanPolicy>>>;

/// Addresses some sweep is probing right now, across interfaces.
type Claims = Arc<Mutex<std::collections::HashSet<Ipv4Addr>>>;

/// The probe guard of the policy in force, rebuilt when the policy changes.
struct PolicyView {
    watch: PolicyWatch,
    guard: ProbeGuard,
    version: Option<u64>,
}

impl PolicyView {
    fn new(watch: PolicyWatch) -> Self {
        let mut view = PolicyView {
            watch,
            guard: ProbeGuard::default(),
            version: None,
        };
        view.watch.mark_changed();
        view
    }

    /// Whether any policy is known yet.
    fn known(&self) -> bool {
        self.watch.borrow().is_some()
    }

    /// Brings the guard up to date; tells the neighbour table which MACs it protects.
    fn refresh(&mut self, neighbours: &Neighbours) -> &ProbeGuard {
        if self.watch.has_changed().unwrap_or(false) {
            let policy = self.watch.borrow_and_update().clone();
            if let Some(policy) = policy {
                self.guard = policy.guard();
                neighbours.set_protected(policy.devices.iter().map(|device| device.mac).collect());
                if self.version != Some(policy.version) {
                    tracing::debug!(version = policy.version, "sweep applies a new scan policy");
                }
                self.version = Some(policy.version);
            }
        }
        &self.guard
    }
}

/// How long a capture thread blocks before checking for shutdown.
const POLL: Duration = Duration::from_millis(50);

/// Why discovery could not start.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(
        "{cidr} is not on any discovery interface ({interfaces}); ARP only reaches the local link"
    )]
    CidrNotOnInterface { cidr: Ipv4Net, interfaces: String },
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
    /// A sweep ended (or was skipped: the stats are then empty).
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

/// Looks an interface up again, before each sweep (its address may have changed).
pub type InterfaceLookup = Box<dyn Fn() -> Option<InterfaceInfo> + Send>;

/// Running discovery; stops when its shutdown token is cancelled.
#[derive(Debug)]
pub struct Discovery {
    threads: Vec<thread::JoinHandle<()>>,
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
    /// Blocks to sweep: `None` for the interface's own subnets (read again at each sweep).
    cidrs: Option<Vec<Ipv4Net>>,
    lookup: InterfaceLookup,
}

/// Assigns configured CIDRs to the interfaces they lie on. A configured block on no interface
/// is an error rather than silently ignored.
fn assign_cidrs(
    settings: &DiscoverySettings,
    interfaces: &[InterfaceInfo],
) -> Result<Vec<Option<Vec<Ipv4Net>>>, DiscoveryError> {
    if settings.arp.cidrs.is_empty() {
        return Ok(vec![None; interfaces.len()]);
    }
    let mut assigned = vec![Some(Vec::new()); interfaces.len()];
    for cidr in &settings.arp.cidrs {
        let home = interfaces.iter().position(|info| {
            info.ipv4
                .iter()
                .any(|net| net.contains(&cidr.network()) || cidr.contains(&net.network()))
        });
        match home.and_then(|index| assigned[index].as_mut()) {
            Some(cidrs) => cidrs.push(*cidr),
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

/// Opens every interface (failing early, e.g. without CAP_NET_RAW) and starts discovery under
/// the scan policy `policy` watches, counting into `metrics`.
pub fn start(
    settings: &DiscoverySettings,
    observations: mpsc::Sender<Observation>,
    policy: PolicyWatch,
    shutdown: CancellationToken,
    listener: Option<SweepListener>,
    metrics: &DiscoveryMetrics,
) -> Result<Discovery, DiscoveryError> {
    let infos = settings
        .interfaces
        .iter()
        .map(|name| capture::find_interface(name))
        .collect::<Result<Vec<_>, _>>()?;
    let cidrs = if settings.active_arp() {
        assign_cidrs(settings, &infos)?
    } else {
        vec![None; infos.len()]
    };
    let mut links = Vec::new();
    for (info, cidrs) in infos.into_iter().zip(cidrs) {
        let (sender, receiver) = capture::open(&info.name, POLL)?;
        let name = info.name.clone();
        links.push(Link {
            info,
            sender,
            receiver,
            cidrs,
            lookup: Box::new(move || capture::find_interface(&name).ok()),
        });
    }
    run_links(
        settings,
        links,
        observations,
        policy,
        shutdown,
        listener,
        metrics,
    )
}

fn run_links(
    settings: &DiscoverySettings,
    links: Vec<Link>,
    observations: mpsc::Sender<Observation>,
    policy: PolicyWatch,
    shutdown: CancellationToken,
    listener: Option<SweepListener>,
    metrics: &DiscoveryMetrics,
) -> Result<Discovery, DiscoveryError> {
    let claims: Claims = Arc::default();
    let neighbours = Neighbours::new(settings.arp.exclude_macs.clone());
    // Everything that can fail comes before the first thread; threads run under a child token
    // so that a failure half-way stops those already started.
    let local = shutdown.child_token();
    let querier = settings
        .active_mdns()
        .then(|| {
            MdnsQuerier::new(
                settings,
                neighbours.clone(),
                observations.clone(),
                policy.clone(),
                local.clone(),
            )
        })
        .transpose()
        .map_err(DiscoveryError::Mdns)?;
    let limiter = Arc::new(Mutex::new(RateLimiter::new(settings.arp.rate)));
    let mut discovery = Discovery {
        threads: Vec::new(),
    };
    let mut spawn = |name: String, body: Box<dyn FnOnce() + Send>| -> Result<(), DiscoveryError> {
        match thread::Builder::new().name(name).spawn(body) {
            Ok(thread) => {
                discovery.threads.push(thread);
                Ok(())
            }
            Err(error) => {
                local.cancel();
                Err(DiscoveryError::Thread(error))
            }
        }
    };
    let mut result = Ok(());
    for link in links {
        if let Ok(table) = std::fs::read_to_string("/proc/net/arp") {
            let seeded = neighbours.seed_from_kernel(&table, &link.info.name, Instant::now());
            tracing::debug!(interface = %link.info.name, seeded, "neighbours seeded from the kernel");
        }
        let (replies, replies_receiver) = std_mpsc::sync_channel(4096);
        let capture = CaptureLoop {
            info: link.info.clone(),
            neighbours: neighbours.clone(),
            observations: observations.clone(),
            replies,
            shutdown: local.clone(),
            counters: metrics.capture(&link.info.name),
        };
        let receiver = link.receiver;
        result = result.and_then(|()| {
            spawn(
                format!("capture-{}", link.info.name),
                Box::new(move || capture.run(receiver)),
            )
        });
        if settings.active_arp() && result.is_ok() {
            let sweep = SweepLoop {
                info: link.info,
                cidrs: link.cidrs,
                lookup: link.lookup,
                settings: settings.clone(),
                neighbours: neighbours.clone(),
                limiter: Arc::clone(&limiter),
                policy: PolicyView::new(policy.clone()),
                claims: Arc::clone(&claims),
                replies: replies_receiver,
                shutdown: local.clone(),
                listener: listener.clone(),
                metrics: metrics.clone(),
            };
            let mut sender = link.sender;
            result = spawn(
                format!("sweep-{}", sweep.info.name),
                Box::new(move || sweep.run(sender.as_mut())),
            );
        }
    }
    if let Some(querier) = querier
        && result.is_ok()
    {
        result = spawn("mdns-queries".into(), Box::new(move || querier.run()));
    }
    if let Err(error) = result {
        discovery.join();
        return Err(error);
    }
    Ok(discovery)
}

/// Listens on one interface: every discovery frame heard (ARP, mDNS, DHCP, SSDP, LLDP, CDP,
/// NetBIOS, LLMNR, IPv6 ND) becomes an observation and feeds the neighbour table.
struct CaptureLoop {
    info: InterfaceInfo,
    neighbours: Neighbours,
    observations: mpsc::Sender<Observation>,
    /// Addresses heard from, for this interface's sweep.
    replies: std_mpsc::SyncSender<Ipv4Addr>,
    shutdown: CancellationToken,
    counters: CaptureCounters,
}

impl CaptureLoop {
    fn run(mut self, mut receiver: Box<dyn FrameReceiver>) {
        let own: Vec<IpAddr> = self
            .info
            .ipv4
            .iter()
            .map(|net| IpAddr::V4(net.addr()))
            .collect();
        let mut dropped = 0u64;
        let mut malformed: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut decoded: BTreeMap<&'static str, u64> = BTreeMap::new();
        tracing::info!(interface = %self.info.name, mac = %self.info.mac, "listening for discovery protocols");
        while !self.shutdown.is_cancelled() {
            let heard = match receiver.next_frame() {
                Ok(Some(bytes)) => match decode(LinkType::Ethernet, bytes) {
                    Ok(Some(heard)) => {
                        let protocol = heard.message.protocol();
                        *decoded.entry(protocol).or_default() += 1;
                        self.counters.decoded(protocol);
                        heard
                    }
                    Ok(None) => continue,
                    Err(error) => {
                        self.counters.malformed(error.protocol(), error.kind());
                        let count = malformed.entry(error.kind()).or_default();
                        *count += 1;
                        tracing::debug!(interface = %self.info.name, %error, count = *count, "frame not decoded");
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
            match self.handle(&heard, &own) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.counters.dropped();
                    dropped += 1;
                    if dropped.is_power_of_two() {
                        tracing::warn!(interface = %self.info.name, dropped, "observations dropped: the outbox is not keeping up");
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
        tracing::info!(interface = %self.info.name, ?decoded, ?malformed, dropped, "capture stopped");
    }

    /// Whether a sender address is one of this link's: IPv4 in the interface's networks (a
    /// proxy ARP or a misconfigured host elsewhere says nothing about this link), or IPv6.
    fn on_link(&self, ip: &IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.info.ipv4.iter().any(|net| net.contains(v4)),
            IpAddr::V6(_) => true,
        }
    }

    /// Records what a frame revealed. A refused observation is dropped here: only whether the
    /// channel was full or closed matters to the caller.
    fn handle(&self, heard: &Heard, own: &[IpAddr]) -> Result<(), mpsc::error::TrySendError<()>> {
        // Our own probes and queries, seen on the way out.
        if heard.sender.mac == self.info.mac {
            return Ok(());
        }
        if let Some((mac, ip)) = heard.neighbour()
            && self.on_link(&ip)
        {
            self.neighbours.learn(mac, ip, Instant::now());
            if let IpAddr::V4(v4) = ip {
                // A full queue only means the sweep is busy; it will probe that address.
                let _ = self.replies.try_send(v4);
            }
        }
        match heard.observation(Timestamp::now(), &self.info.name, Hearing::Live { own }) {
            Some(observation) => {
                self.observations
                    .try_send(observation)
                    .map_err(|error| match error {
                        mpsc::error::TrySendError::Full(_) => mpsc::error::TrySendError::Full(()),
                        mpsc::error::TrySendError::Closed(_) => {
                            mpsc::error::TrySendError::Closed(())
                        }
                    })
            }
            None => Ok(()),
        }
    }
}

/// Sweeps one interface's CIDRs every `arp.interval`, after a passive warm-up.
struct SweepLoop {
    info: InterfaceInfo,
    cidrs: Option<Vec<Ipv4Net>>,
    lookup: InterfaceLookup,
    settings: DiscoverySettings,
    neighbours: Neighbours,
    limiter: Arc<Mutex<RateLimiter>>,
    policy: PolicyView,
    claims: Claims,
    replies: std_mpsc::Receiver<Ipv4Addr>,
    shutdown: CancellationToken,
    listener: Option<SweepListener>,
    metrics: DiscoveryMetrics,
}

impl SweepLoop {
    fn run(mut self, sender: &mut dyn FrameSender) {
        if self.wait(self.settings.arp.warmup) || self.wait_for_policy() {
            return;
        }
        loop {
            let started = Instant::now();
            self.policy.refresh(&self.neighbours);
            let stats = if self.policy.guard.passive_only() {
                tracing::info!(interface = %self.info.name, "the scan policy forbids every probe: sweep skipped");
                SweepStats::default()
            } else {
                match self.fresh_plan() {
                    Some(plan) => self.claimed_sweep(&plan, sender),
                    None => SweepStats::default(),
                }
            };
            let duration = started.elapsed();
            if self.shutdown.is_cancelled() {
                tracing::info!(interface = %self.info.name, sent = stats.sent, "ARP sweep interrupted by shutdown");
                return;
            }
            tracing::info!(
                interface = %self.info.name,
                targets = stats.targets,
                sent = stats.sent,
                answered = stats.answered,
                already_known = stats.already_known,
                excluded_mac = stats.excluded_mac,
                protected = stats.protected,
                duration = ?duration,
                "ARP sweep finished"
            );
            if stats.targets > 0 {
                self.metrics
                    .swept(duration.as_secs_f64(), stats.sent, stats.answered);
            }
            if let Some(listener) = &self.listener {
                listener(SweepEvent::Finished {
                    interface: self.info.name.clone(),
                    stats,
                    duration,
                });
            }
            if self.wait(self.settings.arp.interval) {
                return;
            }
        }
    }

    /// Waits up to `policy_wait` for a first scan policy; true if shutdown was requested.
    fn wait_for_policy(&self) -> bool {
        if self.policy.known() {
            return false;
        }
        tracing::info!(interface = %self.info.name, wait = ?self.settings.policy_wait, "no scan policy yet: listening only until the collector sends one");
        let deadline = Instant::now() + self.settings.policy_wait;
        while Instant::now() < deadline {
            if self.policy.known() {
                return self.shutdown.is_cancelled();
            }
            if self.wait(Duration::from_millis(200).min(deadline - Instant::now())) {
                return true;
            }
        }
        tracing::warn!(interface = %self.info.name, "no scan policy received in time: sweeping with the local exclusions only");
        self.shutdown.is_cancelled()
    }

    /// Sweeps the addresses of `plan` no other sweep holds right now, holding them meanwhile.
    fn claimed_sweep(&mut self, plan: &SweepPlan, sender: &mut dyn FrameSender) -> SweepStats {
        let mine = {
            let mut claims = self
                .claims
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            let mine = plan.without(|address| claims.contains(&address));
            claims.extend(mine.targets().iter().copied());
            mine
        };
        let shared = plan.targets().len() - mine.targets().len();
        if shared > 0 {
            tracing::info!(interface = %self.info.name, shared, "addresses already being swept from another interface are left to that sweep");
        }
        let stats = self.sweep_once(&mine, sender);
        let mut claims = self
            .claims
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        for address in mine.targets() {
            claims.remove(address);
        }
        stats
    }

    /// The plan for this sweep, from the interface as it is now: its address may have changed
    /// (a new DHCP lease), and probes must never carry an address the agent no longer holds.
    fn fresh_plan(&mut self) -> Option<SweepPlan> {
        let Some(info) = (self.lookup)() else {
            tracing::warn!(interface = %self.info.name, "interface gone: sweep skipped");
            return None;
        };
        self.info = info;
        let cidrs: Vec<Ipv4Net> = match &self.cidrs {
            Some(cidrs) => cidrs.clone(),
            None => self.info.ipv4.iter().map(Ipv4Net::trunc).collect(),
        };
        if cidrs.is_empty() || self.info.ipv4.is_empty() {
            tracing::warn!(interface = %self.info.name, "no IPv4 address to sweep from: sweep skipped");
            return None;
        }
        let own: Vec<Ipv4Addr> = self.info.ipv4.iter().map(Ipv4Net::addr).collect();
        let arp = &self.settings.arp;
        match plan(&cidrs, &arp.exclude_cidrs, &own, arp.allow_large) {
            Ok(plan) => {
                if plan.excluded > 0 {
                    tracing::debug!(interface = %self.info.name, excluded = plan.excluded, "addresses excluded by CIDR");
                }
                Some(plan)
            }
            Err(error) => {
                tracing::warn!(interface = %self.info.name, %error, "sweep refused; listening only");
                None
            }
        }
    }

    /// Waits up to `duration` for a reply; false when the capture thread is gone (then it
    /// sleeps instead, rather than spin).
    fn receive(&self, duration: Duration) -> Option<Ipv4Addr> {
        match self.replies.recv_timeout(duration) {
            Ok(address) => Some(address),
            Err(std_mpsc::RecvTimeoutError::Timeout) => None,
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                thread::sleep(duration);
                None
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
            self.receive(POLL.min(deadline - Instant::now()));
        }
        self.shutdown.is_cancelled()
    }

    fn sweep_once(&mut self, plan: &SweepPlan, sender: &mut dyn FrameSender) -> SweepStats {
        let arp = &self.settings.arp;
        let mut sweeper = Sweeper::new(plan, arp.timeout, arp.retries);
        let now = Instant::now();
        // Passive first: whoever was heard since the last sweep needs no probe.
        for target in plan.targets() {
            if self
                .neighbours
                .heard_within(&IpAddr::V4(*target), arp.interval, now)
            {
                sweeper.heard_from(*target);
            }
        }
        let mut last_progress = Instant::now();
        loop {
            // Asked before every probe: a policy that arrives mid-sweep applies at once.
            let guard = self.policy.refresh(&self.neighbours).clone();
            let neighbours = &self.neighbours;
            let skip = |address: Ipv4Addr| {
                let ip = IpAddr::V4(address);
                if neighbours.is_excluded(&ip) {
                    Some(Skip::ExcludedMac)
                } else if neighbours.is_protected(&ip) || !guard.permits(ip, None) {
                    Some(Skip::Protected)
                } else {
                    None
                }
            };
            while let Ok(address) = self.replies.try_recv() {
                sweeper.heard_from(address);
            }
            if self.shutdown.is_cancelled() {
                return sweeper.stats();
            }
            // The probe leaves while the limiter is held, so its send time is its token's time
            // whatever other interfaces do.
            let step = {
                let mut limiter = self
                    .limiter
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                let step = sweeper.step(Instant::now(), &mut limiter, skip);
                if let Step::Probe(target) = step {
                    self.probe(plan, &guard, sender, target);
                }
                step
            };
            match step {
                Step::Probe(_) => {}
                Step::Wait(until) => {
                    let timeout = until.saturating_duration_since(Instant::now()).min(POLL);
                    if let Some(address) = self.receive(timeout) {
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

    fn probe(
        &self,
        plan: &SweepPlan,
        guard: &ProbeGuard,
        sender: &mut dyn FrameSender,
        target: Ipv4Addr,
    ) {
        // The last guard: nothing leaves for an address the plan does not permit, nor for one
        // the scan policy protects.
        if !plan.permits(target) {
            tracing::error!(%target, "refusing to probe an address outside the sweep plan");
            return;
        }
        let ip = IpAddr::V4(target);
        if !guard.permits(ip, None) || self.neighbours.is_protected(&ip) {
            tracing::error!(%target, "refusing to probe an address the scan policy protects");
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
    (info, sender, receiver): (InterfaceInfo, Box<dyn FrameSender>, Box<dyn FrameReceiver>),
    observations: mpsc::Sender<Observation>,
    policy: PolicyWatch,
    shutdown: CancellationToken,
    listener: Option<SweepListener>,
    metrics: &DiscoveryMetrics,
) -> Result<Discovery, DiscoveryError> {
    let cidrs = assign_cidrs(settings, std::slice::from_ref(&info))?.remove(0);
    let fixed = info.clone();
    let link = Link {
        info,
        sender,
        receiver,
        cidrs,
        lookup: Box::new(move || Some(fixed.clone())),
    };
    let mut settings = settings.clone();
    settings.mdns.queries = false;
    run_links(
        &settings,
        vec![link],
        observations,
        policy,
        shutdown,
        listener,
        metrics,
    )
}

#[cfg(test)]
mod tests;
