//! Discovery on a simulated care facility (network namespaces, real packets on AF_PACKET, real
//! mDNS), end to end into the collector's SQLite. Needs root: skipped otherwise, unless
//! HYGIE_REQUIRE_NETNS=1 (set by tests/run.sh as root), which makes a missing capability fail.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use hygie_collector::classify::{Rules, classify};
use hygie_decode::arp::{Operation, parse_arp};
use hygie_decode::frame::{ETHERTYPE_ARP, LinkType, Protocol, parse_frame};
use hygie_proto::MacAddr;
use hygie_tests::facility::{
    AGENT_MAC, DeviceSpec, Facility, Role, agent_config, standard_devices,
};
use hygie_tests::netns;
use hygie_tests::pki::TestPki;
use hygie_tests::process::Collector;
use hygie_tests::wait_until;

mod metrics;

/// Whether namespace tests can run here; panics when they must but cannot.
fn namespaces_available(test: &str) -> bool {
    if netns::is_root() {
        return true;
    }
    assert!(
        std::env::var_os("HYGIE_REQUIRE_NETNS").is_none(),
        "{test} needs root (network namespaces)"
    );
    eprintln!("SKIPPED {test}: needs root (network namespaces)");
    false
}

struct Site {
    facility: Facility,
    dir: tempfile::TempDir,
    pki: TestPki,
    collector: Collector,
    /// The collector process: dropping the handle stops it.
    collector_process: netns::NsChild,
}

fn site(label: &str, devices: &[DeviceSpec], chatty: &[MacAddr]) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(&dir.path().join("pki")).unwrap();
    let mut facility = Facility::build(label, devices, chatty).unwrap();
    // The collector listens on the agent namespace's loopback, metrics too.
    let collector = Collector::configure(
        &dir.path().join("collector"),
        &pki.paths,
        7443,
        &format!("[metrics]\nlisten = \"{}\"", metrics::COLLECTOR),
    )
    .unwrap();
    let collector_process = facility.start_collector(&collector).unwrap();
    Site {
        facility,
        dir,
        pki,
        collector,
        collector_process,
    }
}

impl Site {
    fn start_agent(&mut self, name: &str, discovery: &str) -> (netns::NsChild, std::path::PathBuf) {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let config = agent_config(&dir, &self.pki, self.collector.port, discovery).unwrap();
        let log = dir.join("agent.log");
        let child = self.facility.start_agent(&config, &log).unwrap();
        (child, log)
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn every_device_and_announced_service_reaches_the_inventory() {
    if !namespaces_available("every_device_and_announced_service_reaches_the_inventory") {
        return;
    }
    let devices = standard_devices();
    let mut site = site("inv", &devices, &[]);
    let collector_before = metrics::collector_before(&site);
    let discovery = r#"
        interfaces = ["eth0"]
        [discovery.arp]
        rate = 200
        timeout = "500ms"
        sweep_interval = "10min"
        [discovery.mdns]
        query_interval = "1min"
        round_duration = "5s"
        "#;
    let (mut agent, log) =
        site.start_agent("agent", &format!("{discovery}{}", metrics::AGENT_SECTION));
    let agent_before = metrics::agent_before(&site);

    let announced: usize = devices.iter().map(|d| d.services.len()).sum();
    let complete = wait_until(Duration::from_secs(90), Duration::from_millis(250), || {
        assert!(agent.is_running(), "the agent exited:\n{}", read(&log));
        let Ok(snapshot) = site.collector.snapshot() else {
            return false;
        };
        let services: usize = snapshot.inventory.assets().map(|a| a.services.len()).sum();
        // IPv6 neighbour discovery makes devices known before ARP gives their IPv4 address.
        let addressed = devices.iter().all(|device| {
            snapshot
                .inventory
                .get(&device.mac)
                .is_some_and(|asset| asset.addresses.keys().any(IpAddr::is_ipv4))
        });
        addressed && services >= announced
    });
    let snapshot = site.collector.snapshot().unwrap();
    assert!(
        complete,
        "{} of {} devices, agent log:\n{}\ncollector log:\n{}",
        snapshot.inventory.len(),
        devices.len(),
        read(&log),
        site.collector.log()
    );

    let found: BTreeSet<MacAddr> = snapshot.inventory.assets().map(|asset| asset.mac).collect();
    let expected: BTreeSet<MacAddr> = devices.iter().map(|device| device.mac).collect();
    assert_eq!(found, expected, "exactly the facility's devices");
    for device in &devices {
        let asset = snapshot.inventory.get(&device.mac).unwrap();
        let ipv4: Vec<IpAddr> = asset
            .addresses
            .keys()
            .copied()
            .filter(IpAddr::is_ipv4)
            .collect();
        assert_eq!(ipv4, [IpAddr::V4(device.ip())], "{}", device.name);
        type Announced =
            BTreeMap<(String, String), (Option<u16>, BTreeMap<String, Option<String>>)>;
        let services: Announced = asset
            .services()
            .into_iter()
            .map(|service| {
                (
                    (service.service_type.clone(), service.instance.clone()),
                    (service.port, service.txt.clone()),
                )
            })
            .collect();
        let wanted: Announced = device
            .services
            .iter()
            .map(|service| {
                (
                    (
                        format!("{}.local", service.service_type),
                        format!("{}.{}.local", service.instance, service.service_type),
                    ),
                    (
                        Some(service.port),
                        service
                            .txt
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned())))
                            .collect(),
                    ),
                )
            })
            .collect();
        assert_eq!(services, wanted, "{}", device.name);
        if !device.services.is_empty() {
            assert!(
                asset
                    .hostnames
                    .keys()
                    .any(|name| name == &format!("{}.local", device.name)),
                "{}: {:?}",
                device.name,
                asset.hostnames
            );
        }
    }

    // IPv6 neighbour discovery: the router's advertisements (radvd, every few seconds) give its
    // link-local address. (Other devices do neighbour discovery only when their kernel has a
    // reason to, mostly at start, before the agent listens.)
    let router = devices.iter().find(|d| d.role == Role::Router).unwrap();
    let heard_router = wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        site.collector.snapshot().is_ok_and(|snapshot| {
            snapshot.inventory.get(&router.mac).is_some_and(|asset| {
                asset
                    .addresses
                    .keys()
                    .any(|ip| matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()))
            })
        })
    });
    assert!(
        heard_router,
        "no router advertisement heard from {}",
        router.name
    );

    // The devices known by what they say (DHCP, LLDP-MED, SSDP, NetBIOS, router
    // advertisements) get the category, kind and model the facility expects: classified by the
    // collector's own classifier from what it stored.
    let rules = Rules::defaults().unwrap();
    let verdicts = |snapshot: &hygie_tests::process::Snapshot| -> Vec<String> {
        devices
            .iter()
            .filter_map(|device| {
                let wanted = device.verdict?;
                let asset = snapshot.inventory.get(&device.mac)?;
                let got = asset.with_facts(|facts| classify(facts, &rules));
                let matches = got.category == wanted.category
                    && got.kind == wanted.kind
                    && wanted
                        .model
                        .is_none_or(|model| got.identity.model.as_deref() == Some(model));
                (!matches).then(|| {
                    format!(
                        "{}: got {}/{} model {:?}, want {}/{} model {:?}; evidence {:?}",
                        device.name,
                        got.category,
                        got.kind,
                        got.identity.model,
                        wanted.category,
                        wanted.kind,
                        wanted.model,
                        got.evidence
                    )
                })
            })
            .collect()
    };
    let mut wrong = Vec::new();
    let named = wait_until(Duration::from_secs(60), Duration::from_millis(500), || {
        let Ok(snapshot) = site.collector.snapshot() else {
            return false;
        };
        wrong = verdicts(&snapshot);
        wrong.is_empty()
    });
    assert!(named, "{}\nagent log:\n{}", wrong.join("\n"), read(&log));
    // The LLDP-MED inventory of the monitor behind a Lantronix module, as lldpd sends it.
    let monitor: MacAddr = "00:80:a3:11:22:20".parse().unwrap();
    let mut identity = None;
    let inventoried = wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        let Ok(snapshot) = site.collector.snapshot() else {
            return false;
        };
        let Some(asset) = snapshot.inventory.get(&monitor) else {
            return false;
        };
        let got = asset.with_facts(|facts| classify(facts, &rules)).identity;
        let complete = got.serial.is_some();
        identity = Some(got);
        complete
    });
    let identity = identity.unwrap_or_default();
    assert!(inventoried, "{identity:?}");
    assert_eq!(
        (
            identity.manufacturer.as_deref(),
            identity.model.as_deref(),
            identity.firmware.as_deref(),
            identity.serial.as_deref()
        ),
        (
            Some("Philips Medical Systems"),
            Some("IntelliVue MX450"),
            Some("M.00.03"),
            Some("DE71234567")
        ),
        "the LLDP-MED inventory"
    );
    metrics::after(&site, devices.len(), &collector_before, &agent_before);
}

/// ARP requests the agent sent, with their capture times.
fn agent_probes(capture: &Path) -> Vec<(Duration, Ipv4Addr)> {
    let file = std::fs::File::open(capture).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut probes = Vec::new();
    while let Some(Ok(packet)) = reader.next_packet() {
        let Ok(frame) = parse_frame(LinkType::Ethernet, &packet.data) else {
            continue;
        };
        if frame.source != AGENT_MAC || frame.protocol != Protocol::Ethertype(ETHERTYPE_ARP) {
            continue;
        }
        let arp = parse_arp(frame.payload).unwrap();
        if arp.operation == Operation::Request {
            probes.push((packet.timestamp, arp.target_ip));
        }
    }
    probes
}

/// Frames from the agent's host that are not the kernel's own group-membership and neighbour
/// housekeeping (IGMP; ICMPv6 such as MLD reports and router solicitations): whatever is left
/// was sent by a program, such as the agent.
fn agent_program_frames(capture: &Path) -> Vec<String> {
    let file = std::fs::File::open(capture).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut found = Vec::new();
    while let Some(Ok(packet)) = reader.next_packet() {
        let Ok(frame) = parse_frame(LinkType::Ethernet, &packet.data) else {
            continue;
        };
        if frame.source != AGENT_MAC {
            continue;
        }
        let housekeeping = match frame.ethertype() {
            Some(0x0800) => frame.payload.get(9) == Some(&2),
            Some(0x86dd) => matches!(frame.payload.get(6), Some(0 | 58)),
            _ => false,
        };
        if !housekeeping {
            found.push(format!("{:?}: {:02x?}", frame.protocol, frame.payload));
        }
    }
    found
}

#[test]
fn probes_respect_exclusions_the_rate_cap_and_passive_only() {
    if !namespaces_available("probes_respect_exclusions_the_rate_cap_and_passive_only") {
        return;
    }
    let devices = standard_devices();
    // A chatty device (periodic gratuitous ARP) whose MAC is excluded: heard, never probed.
    let excluded_device = devices
        .iter()
        .find(|d| d.name == "connex-vsm")
        .unwrap()
        .clone();
    let mut site = site("safe", &devices, &[excluded_device.mac]);
    let capture = site.dir.path().join("active.pcap");
    let mut tcpdump = site.facility.capture_agent_port(&capture).unwrap();
    let rate = 50;
    let (mut agent, log) = site.start_agent(
        "active",
        &format!(
            r#"
            interfaces = ["eth0"]
            [discovery.arp]
            rate = {rate}
            timeout = "500ms"
            sweep_interval = "10min"
            exclude_cidrs = ["198.18.0.16/30"]
            exclude_macs = ["{}"]
            "#,
            excluded_device.mac
        ),
    );
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
            assert!(agent.is_running(), "the agent exited:\n{}", read(&log));
            read(&log).contains("ARP sweep finished")
        }),
        "{}",
        read(&log)
    );
    agent.terminate(Duration::from_secs(10)).unwrap();
    tcpdump.terminate(Duration::from_secs(5)).unwrap();

    let probes = agent_probes(&capture);
    assert!(
        probes.len() > 200,
        "a /24 sweep sends probes: {}",
        probes.len()
    );
    let excluded_net: ipnet::Ipv4Net = "198.18.0.16/30".parse().unwrap();
    for (_, target) in &probes {
        assert!(
            !excluded_net.contains(target),
            "probed excluded address {target}"
        );
        assert_ne!(
            *target,
            excluded_device.ip(),
            "probed the excluded MAC's address"
        );
        assert!(
            "198.18.0.0/24"
                .parse::<ipnet::Ipv4Net>()
                .unwrap()
                .contains(target),
            "probe outside the subnet: {target}"
        );
    }
    for (index, (start, _)) in probes.iter().enumerate() {
        let in_window = probes[index..]
            .iter()
            .take_while(|(at, _)| *at < *start + Duration::from_secs(1))
            .count();
        assert!(in_window <= rate, "{in_window} probes within one second");
    }
    // The excluded device was still heard, passively.
    assert!(wait_until(
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            site.collector
                .snapshot()
                .is_ok_and(|snapshot| snapshot.inventory.get(&excluded_device.mac).is_some())
        }
    ));

    // passive_only: not a single frame from the agent, yet it still hears the chatty device.
    let capture = site.dir.path().join("passive.pcap");
    let mut tcpdump = site.facility.capture_agent_port(&capture).unwrap();
    let last_heard = |site: &Site| {
        site.collector.snapshot().ok().and_then(|snapshot| {
            snapshot
                .inventory
                .get(&excluded_device.mac)
                .map(|asset| asset.seen.last())
        })
    };
    let heard_before = last_heard(&site).unwrap();
    let (mut agent, log) =
        site.start_agent("passive", "interfaces = [\"eth0\"]\npassive_only = true\n");
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
            read(&log).contains("listening for discovery protocols")
        }),
        "{}",
        read(&log)
    );
    // The passive agent is new to the device, so its first gratuitous ARP goes straight up.
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
            assert!(agent.is_running(), "the agent exited:\n{}", read(&log));
            last_heard(&site).is_some_and(|last| last > heard_before)
        }),
        "the passive agent never reported the chatty device:\n{}",
        read(&log)
    );
    agent.terminate(Duration::from_secs(10)).unwrap();
    tcpdump.terminate(Duration::from_secs(5)).unwrap();
    assert_eq!(
        agent_probes(&capture).len(),
        0,
        "passive_only sent ARP requests"
    );
    assert_eq!(
        agent_program_frames(&capture),
        Vec::<String>::new(),
        "passive_only sent frames"
    );
}

#[test]
fn without_cap_net_raw_the_agent_says_how_to_grant_it() {
    if !namespaces_available("without_cap_net_raw_the_agent_says_how_to_grant_it") {
        return;
    }
    let mut facility = Facility::build("caps", &[], &[]).unwrap();
    let agent = hygie_tests::bins::binary("hygie-agent").unwrap();
    let namespace = facility.agent.namespace.clone();
    // Root without CAP_NET_RAW: drop it from the bounding set before exec.
    let mut command = facility.lan.command(&namespace, "setpriv").unwrap();
    command
        .args(["--bounding-set=-net_raw", "--"])
        .arg(agent)
        .args([
            "scan",
            "--interface",
            "eth0",
            "--passive-only",
            "--duration",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = facility.lan.spawn(command).unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.take_stderr().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert_eq!(stderr.lines().count(), 1, "one clear message: {stderr}");
    assert!(
        stderr.contains("needs the CAP_NET_RAW capability"),
        "{stderr}"
    );
    assert!(stderr.contains("setcap cap_net_raw+ep"), "{stderr}");
}

/// Frames the agent addressed to `mac`, and ARP requests it sent for `ip`.
fn frames_for(capture: &Path, mac: MacAddr, ip: Ipv4Addr) -> usize {
    let file = std::fs::File::open(capture).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut found = 0;
    while let Some(Ok(packet)) = reader.next_packet() {
        let Ok(frame) = parse_frame(LinkType::Ethernet, &packet.data) else {
            continue;
        };
        if frame.source != AGENT_MAC {
            continue;
        }
        let asks_for_it = frame.protocol == Protocol::Ethertype(ETHERTYPE_ARP)
            && parse_arp(frame.payload).is_ok_and(|arp| arp.target_ip == ip);
        if frame.destination == Some(mac) || asks_for_it {
            found += 1;
        }
    }
    found
}

#[test]
fn biomedical_devices_get_no_frame_from_the_agent_once_classified() {
    if !namespaces_available("biomedical_devices_get_no_frame_from_the_agent_once_classified") {
        return;
    }
    let devices = standard_devices();
    let mut site = site("clin", &devices, &[]);
    let discovery = r#"
        interfaces = ["eth0"]
        policy_wait = "30s"
        [discovery.arp]
        rate = 200
        warmup = "2s"
        timeout = "500ms"
        sweep_interval = "10min"
        [discovery.mdns]
        queries = false
        "#;
    // First run: discover everything, let the collector classify it and send its policy.
    let (mut agent, log) = site.start_agent("agent", discovery);
    let rules = Rules::defaults().unwrap();
    let biomedical = |snapshot: &hygie_tests::process::Snapshot| -> Vec<(MacAddr, Ipv4Addr)> {
        devices
            .iter()
            .filter(|device| {
                snapshot.inventory.get(&device.mac).is_some_and(|asset| {
                    asset.with_facts(|facts| classify(facts, &rules)).category
                        == hygie_collector::classify::Category::Biomedical
                })
            })
            .map(|device| (device.mac, device.ip()))
            .collect()
    };
    let policy_file = site.dir.path().join("agent/outbox.sqlite.scan-policy.json");
    let mut protected = Vec::new();
    let settled = wait_until(Duration::from_secs(120), Duration::from_millis(500), || {
        assert!(agent.is_running(), "the agent exited:\n{}", read(&log));
        let Ok(snapshot) = site.collector.snapshot() else {
            return false;
        };
        protected = biomedical(&snapshot);
        let policy = read(&policy_file);
        // With its address: a fresh agent protects an address it has not yet heard the device
        // use only if the policy lists it.
        !protected.is_empty()
            && protected.iter().all(|(mac, ip)| {
                policy.contains(&format!("\"{mac}\"")) && policy.contains(&format!("\"{ip}\""))
            })
    });
    assert!(
        settled,
        "the agent's saved policy does not list every biomedical device {protected:?}:\n{}\nagent log:\n{}\ncollector log:\n{}",
        read(&policy_file),
        read(&log),
        site.collector.log()
    );
    agent.terminate(Duration::from_secs(10)).unwrap();

    // Second run, with the collector gone: the policy kept on disk must hold by itself.
    site.collector_process
        .terminate(Duration::from_secs(10))
        .unwrap();
    let capture = site.dir.path().join("protected.pcap");
    let mut tcpdump = site.facility.capture_agent_port(&capture).unwrap();
    let (mut agent, log) = site.start_agent("agent", discovery);
    assert!(
        wait_until(Duration::from_secs(90), Duration::from_millis(200), || {
            assert!(agent.is_running(), "the agent exited:\n{}", read(&log));
            read(&log).matches("ARP sweep finished").count() >= 1
        }),
        "{}",
        read(&log)
    );
    agent.terminate(Duration::from_secs(10)).unwrap();
    tcpdump.terminate(Duration::from_secs(5)).unwrap();

    let probes = agent_probes(&capture);
    assert!(
        probes.len() > 200,
        "the rest of the /24 was swept: {}",
        probes.len()
    );
    for (mac, ip) in &protected {
        assert_eq!(
            frames_for(&capture, *mac, *ip),
            0,
            "the agent sent frames to or asked for biomedical device {mac} ({ip})"
        );
    }
    let log = read(&log);
    assert!(log.contains("scan policy loaded from disk"), "{log}");
    println!(
        "protected biomedical devices: {}; probes sent to the rest: {}",
        protected.len(),
        probes.len()
    );
}
