//! The capture and sweep threads on a canned network: frames go into a fake link that answers
//! ARP requests for the addresses it knows, and the test inspects everything that was sent.

use std::collections::{HashMap, VecDeque};
use std::sync::Condvar;

use hygie_proto::MacAddr;

use hygie_proto::{ProtectedDevice, ProtectionReason, Source};

use crate::policy::PolicyBoard;

use super::*;
use hygie_decode::arp::{Operation, parse_arp};
use hygie_decode::frame::{ETHERTYPE_ARP, Protocol, parse_frame};

const AGENT_MAC: MacAddr = MacAddr::new([0x02, 0, 0, 0, 0, 0x02]);

/// A fake Ethernet segment: devices that answer ARP, and everything the agent sent.
#[derive(Default)]
struct Segment {
    devices: HashMap<Ipv4Addr, MacAddr>,
    inbound: VecDeque<Vec<u8>>,
    sent: Vec<(Instant, Vec<u8>)>,
}

#[derive(Clone, Default)]
struct Wire(Arc<(Mutex<Segment>, Condvar)>);

impl Wire {
    fn segment(&self) -> std::sync::MutexGuard<'_, Segment> {
        self.0.0.lock().unwrap()
    }

    fn inject(&self, frame: Vec<u8>) {
        self.segment().inbound.push_back(frame);
        self.0.1.notify_all();
    }
}

/// An ARP frame from a device (a reply to `to`, or a gratuitous announcement).
fn arp_frame(operation: u16, mac: MacAddr, ip: Ipv4Addr, to: Ipv4Addr) -> Vec<u8> {
    let mut frame = build_request(mac, ip, to).to_vec();
    frame[0..6].copy_from_slice(&AGENT_MAC.octets());
    frame[21] = operation as u8;
    frame
}

struct FakeSender(Wire);
struct FakeReceiver(Wire, Vec<u8>);

impl FrameSender for FakeSender {
    fn send_frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let parsed = parse_frame(LinkType::Ethernet, frame).unwrap();
        assert_eq!(
            parsed.protocol,
            Protocol::Ethertype(ETHERTYPE_ARP),
            "only ARP is ever sent"
        );
        let request = parse_arp(parsed.payload).unwrap();
        assert_eq!(request.operation, Operation::Request);
        let answer = {
            let mut segment = self.0.segment();
            segment.sent.push((Instant::now(), frame.to_vec()));
            segment.devices.get(&request.target_ip).copied()
        };
        if let Some(mac) = answer {
            self.0
                .inject(arp_frame(2, mac, request.target_ip, request.sender_ip));
        }
        Ok(())
    }
}

impl FrameReceiver for FakeReceiver {
    fn next_frame(&mut self) -> std::io::Result<Option<&[u8]>> {
        let (lock, ready) = &*self.0.0;
        let segment = lock.lock().unwrap();
        let (mut segment, _) = ready
            .wait_timeout_while(segment, Duration::from_millis(20), |s| s.inbound.is_empty())
            .unwrap();
        match segment.inbound.pop_front() {
            Some(frame) => {
                drop(segment);
                self.1 = frame;
                Ok(Some(&self.1))
            }
            None => Ok(None),
        }
    }
}

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, last)
}

fn device(last: u8) -> MacAddr {
    MacAddr::new([0x00, 0x09, 0x5c, 0x00, 0x00, last])
}

struct Outcome {
    observations: Vec<Observation>,
    probed: Vec<(Instant, Ipv4Addr)>,
}

/// Runs one sweep of 198.18.0.0/27 with `settings` on a segment holding `devices`, after the
/// `heard` frames were received passively, with an empty scan policy.
fn sweep(settings: DiscoverySettings, devices: &[u8], heard: Vec<Vec<u8>>) -> Outcome {
    sweep_under(
        settings,
        devices,
        heard,
        &PolicyBoard::in_memory(Some(ScanPolicy::default())),
    )
}

/// [`sweep`] under the scan policy `board` publishes.
fn sweep_under(
    settings: DiscoverySettings,
    devices: &[u8],
    heard: Vec<Vec<u8>>,
    board: &PolicyBoard,
) -> Outcome {
    let wire = Wire::default();
    for &last in devices {
        wire.segment().devices.insert(ip(last), device(last));
    }
    for frame in heard {
        wire.inject(frame);
    }
    let info = InterfaceInfo {
        name: "eth0".into(),
        mac: AGENT_MAC,
        ipv4: vec!["198.18.0.2/27".parse().unwrap()],
    };
    let (observations, mut receiver) = mpsc::channel(1024);
    let shutdown = CancellationToken::new();
    let (finished, finished_receiver) = std_mpsc::channel();
    let listener: SweepListener = Arc::new(move |event| {
        if let SweepEvent::Finished { stats, .. } = event {
            let _ = finished.send(stats);
        }
    });
    // Let the passive frames be heard before the sweep starts.
    let discovery = run_canned(
        &settings,
        (
            info,
            Box::new(FakeSender(wire.clone())),
            Box::new(FakeReceiver(wire.clone(), Vec::new())),
        ),
        observations,
        board.subscribe(),
        shutdown.clone(),
        Some(listener),
        &crate::metrics::DiscoveryMetrics::default(),
    )
    .unwrap();
    if settings.active_arp() {
        finished_receiver
            .recv_timeout(Duration::from_secs(30))
            .unwrap();
    } else {
        thread::sleep(Duration::from_millis(300));
    }
    shutdown.cancel();
    discovery.join();
    let mut received = Vec::new();
    while let Ok(observation) = receiver.try_recv() {
        received.push(observation);
    }
    let probed = wire
        .segment()
        .sent
        .iter()
        .map(|(at, frame)| {
            let parsed = parse_frame(LinkType::Ethernet, frame).unwrap();
            (*at, parse_arp(parsed.payload).unwrap().target_ip)
        })
        .collect();
    Outcome {
        observations: received,
        probed,
    }
}

fn settings() -> DiscoverySettings {
    let mut settings = DiscoverySettings::for_interfaces(vec!["eth0".into()]);
    settings.arp.rate = 200;
    settings.arp.timeout = Duration::from_millis(100);
    // Long enough for the canned passive frames to be heard before the first sweep.
    settings.arp.warmup = Duration::from_millis(100);
    settings
}

#[test]
fn a_sweep_finds_every_device_and_probes_only_the_plan() {
    let outcome = sweep(settings(), &[5, 9, 20], Vec::new());
    let mut found: Vec<_> = outcome
        .observations
        .iter()
        .map(|o| (o.mac, o.ips.clone(), o.source))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [5, 9, 20]
            .map(|last| (device(last), vec![IpAddr::V4(ip(last))], Source::ArpActive))
            .to_vec()
    );
    let net: Ipv4Net = "198.18.0.0/27".parse().unwrap();
    for (_, target) in &outcome.probed {
        assert!(net.contains(target) && *target != ip(2) && *target != ip(31) && *target != ip(0));
    }
    // 29 targets (.1-.30 but ours): 26 silent ones probed twice (one retry), 3 answer at once.
    assert_eq!(outcome.probed.len(), 26 * 2 + 3);
    assert_rate_cap(&outcome.probed, Duration::from_millis(5));
}

/// The rate cap, seen from the wire: probes leave at least `spacing` apart by the limiter's
/// clock, but the fake link stamps them when its thread gets to run, so one stamp may lag by a
/// scheduling delay. Over a run of probes the lag cannot accumulate: n probes span at least
/// (n - 1) × spacing, less one delay (taken generously: 50 ms on a loaded machine).
fn assert_rate_cap(probed: &[(Instant, Ipv4Addr)], spacing: Duration) {
    let slack = Duration::from_millis(50);
    for (i, (first, _)) in probed.iter().enumerate() {
        for (steps, (later, _)) in probed[i + 1..].iter().enumerate() {
            let floor = spacing * u32::try_from(steps + 1).unwrap();
            assert!(
                *later - *first + slack >= floor,
                "{} probes within {:?}: faster than one per {spacing:?}",
                steps + 2,
                *later - *first
            );
        }
    }
}

#[test]
fn exclusions_are_never_probed_and_known_devices_are_not_probed_again() {
    let mut settings = settings();
    settings.arp.exclude_cidrs = vec!["198.18.0.16/28".parse().unwrap()];
    settings.arp.exclude_macs = [device(9)].into();
    // Device 9 announced itself (gratuitous ARP), so its address is known and excluded by MAC;
    // device 5 spoke too, so it needs no probe.
    let heard = vec![
        arp_frame(1, device(9), ip(9), ip(9)),
        arp_frame(1, device(5), ip(5), ip(1)),
    ];
    let outcome = sweep(settings, &[5, 9, 20], heard);
    let probed: Vec<Ipv4Addr> = outcome.probed.iter().map(|(_, target)| *target).collect();
    assert!(!probed.contains(&ip(9)), "excluded MAC probed");
    assert!(
        !probed.contains(&ip(5)),
        "a device heard passively was probed"
    );
    assert!(
        probed.iter().all(|target| target.octets()[3] < 16),
        "excluded CIDR probed"
    );
    // Heard passively, they are still in the inventory.
    let macs: std::collections::BTreeSet<_> = outcome.observations.iter().map(|o| o.mac).collect();
    assert!(macs.contains(&device(9)) && macs.contains(&device(5)));
}

#[test]
fn an_excluded_device_heard_long_ago_is_still_never_probed() {
    let mut settings = settings();
    settings.arp.exclude_macs = [device(9)].into();
    // Sweeps repeat faster than the warm-up: by the first sweep, device 9 was heard longer ago
    // than the sweep interval, so "recently heard" no longer spares it. Its exclusion must.
    settings.arp.interval = Duration::from_millis(10);
    settings.arp.warmup = Duration::from_millis(200);
    let heard = vec![arp_frame(1, device(9), ip(9), ip(9))];
    let outcome = sweep(settings, &[5, 9], heard);
    let probed: Vec<Ipv4Addr> = outcome.probed.iter().map(|(_, target)| *target).collect();
    assert!(!probed.contains(&ip(9)), "excluded MAC probed");
    assert!(
        probed.contains(&ip(5)),
        "the rest of the plan is still swept"
    );
}

#[test]
fn passive_only_sends_nothing_but_still_hears() {
    let mut settings = settings();
    settings.passive_only = true;
    let outcome = sweep(settings, &[5], vec![arp_frame(1, device(7), ip(7), ip(1))]);
    assert!(outcome.probed.is_empty());
    assert_eq!(outcome.observations.len(), 1);
    assert_eq!(outcome.observations[0].source, Source::ArpPassive);
}

fn protecting(devices: Vec<ProtectedDevice>, passive_only: bool) -> ScanPolicy {
    ScanPolicy {
        version: 3,
        devices,
        networks: Vec::new(),
        passive_only,
    }
}

#[test]
fn devices_the_policy_protects_get_no_probe_by_address_or_by_mac() {
    // Device 9 is protected by MAC (its address learnt from its own announcement), device 20 by
    // the address the collector last saw it use.
    let policy = protecting(
        vec![
            ProtectedDevice {
                mac: device(9),
                addresses: Vec::new(),
                reason: ProtectionReason::Biomedical,
            },
            ProtectedDevice {
                mac: device(20),
                addresses: vec![IpAddr::V4(ip(20))],
                reason: ProtectionReason::Registry,
            },
        ],
        false,
    );
    let heard = vec![arp_frame(1, device(9), ip(9), ip(9))];
    let outcome = sweep_under(
        settings(),
        &[5, 9, 20],
        heard,
        &PolicyBoard::in_memory(Some(policy)),
    );
    let probed: Vec<Ipv4Addr> = outcome.probed.iter().map(|(_, target)| *target).collect();
    assert!(
        !probed.contains(&ip(9)),
        "a device protected by MAC was probed"
    );
    assert!(
        !probed.contains(&ip(20)),
        "a device protected by address was probed"
    );
    assert!(probed.contains(&ip(5)), "the rest is still swept");
    for address in &probed {
        let probes = probed.iter().filter(|other| *other == address).count();
        assert!(
            probes <= 2,
            "{address} got {probes} probes: one and one retry at most"
        );
    }
    // Protected devices are still heard.
    assert!(outcome.observations.iter().any(|o| o.mac == device(9)));
}

#[test]
fn a_passive_only_policy_stops_every_probe() {
    let board = PolicyBoard::in_memory(Some(protecting(Vec::new(), true)));
    let outcome = sweep_under(
        settings(),
        &[5],
        vec![arp_frame(1, device(7), ip(7), ip(1))],
        &board,
    );
    assert!(outcome.probed.is_empty());
    assert_eq!(outcome.observations.len(), 1, "still listening");
}

#[test]
fn the_first_sweep_waits_for_a_policy_and_applies_it() {
    let mut settings = settings();
    settings.policy_wait = Duration::from_secs(20);
    let board = PolicyBoard::in_memory(None);
    let publisher = board.clone();
    let policy = protecting(
        vec![ProtectedDevice {
            mac: device(5),
            addresses: vec![IpAddr::V4(ip(5))],
            reason: ProtectionReason::Biomedical,
        }],
        false,
    );
    let arrives = thread::spawn(move || {
        thread::sleep(Duration::from_millis(400));
        publisher.apply(policy).unwrap();
    });
    let outcome = sweep_under(settings, &[5, 9], Vec::new(), &board);
    arrives.join().unwrap();
    let probed: Vec<Ipv4Addr> = outcome.probed.iter().map(|(_, target)| *target).collect();
    assert!(!probed.contains(&ip(5)), "probed before the policy arrived");
    assert!(probed.contains(&ip(9)));
}
