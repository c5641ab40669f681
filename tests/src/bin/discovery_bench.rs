//! Discovery benchmark, each figure beside a reference tool measured in the same run:
//!
//! 1. ARP sweep: `hygie-agent scan --arp-only` against `arp-scan`, at the same packet rate,
//!    timeout and number of attempts, from the same namespace of a simulated LAN: first the
//!    24-device facility on a /24, then a /20 holding 1,000 live hosts (macvlan interfaces in one
//!    namespace) and 3,093 silent addresses. Prints hosts found (recall), wall time of each and
//!    their ratio, and the sweep's floor (every probe at the rate, then one timeout).
//! 2. Capture decoding: `hygie-agent replay --all` (one observation per decoded frame, every
//!    passive decoder on) against `tcpdump` and `tshark` (each printing a line per frame of the
//!    same protocols: ARP, mDNS, DHCP, DHCPv6, SSDP, LLDP, CDP, NetBIOS, LLMNR, ICMPv6) on the
//!    same pcap of about a million frames, built from public captures of the test corpus.
//!
//! Needs root (namespaces), arp-scan and tshark: run `sudo tests/bench.sh discovery`. Only one
//! large sweep runs at a time: neighbour-table limits are shared with the host.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hygie_proto::MacAddr;
use hygie_tests::bins::binary;
use hygie_tests::facility::{AGENT_MAC, standard_devices};
use hygie_tests::netns::{self, Lan};

const RATE: u32 = 1000;
const TIMEOUT_MS: u32 = 500;
const ATTEMPTS: u32 = 2;

fn main() -> Result<()> {
    if !netns::is_root() {
        bail!(
            "the discovery benchmark builds namespaces and needs root: sudo tests/bench.sh discovery"
        );
    }
    for tool in ["arp-scan", "tshark"] {
        if which(tool).is_none() {
            bail!("{tool} is not installed: tests/setup.sh bench installs it");
        }
    }
    println!(
        "ARP sweep at {RATE} packets/s, {TIMEOUT_MS} ms timeout, {ATTEMPTS} attempts per silent host, both tools"
    );
    println!(
        "{:<34} {:>6} {:>14} {:>14} {:>10} {:>10} {:>7}",
        "", "live", "hygie found", "arp-scan found", "hygie s", "arp-scan s", "ratio"
    );
    if std::env::var_os("HYGIE_BENCH_ONLY_DECODE").is_none() {
        sweep_facility()?;
        sweep_large_block()?;
        println!();
    }
    replay_rate()?;
    Ok(())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(tool))
        .find(|path| path.is_file())
}

/// Runs a command inside a namespace, timing it.
fn timed(
    lan: &Lan,
    namespace: &str,
    program: &Path,
    args: &[String],
) -> Result<(Output, Duration)> {
    let mut command = lan.command(namespace, program)?;
    command.args(args).stdin(Stdio::null());
    let started = Instant::now();
    let output = command.output()?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok((output, elapsed))
}

/// Hosts found by `hygie-agent scan --format json`.
fn hygie_found(output: &Output) -> Result<BTreeSet<String>> {
    let devices: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).context("hygie-agent scan output")?;
    Ok(devices
        .iter()
        .filter_map(|device| device["mac"].as_str().map(str::to_owned))
        .collect())
}

/// Hosts found by `arp-scan --quiet --plain`: "IP<TAB>MAC" lines.
fn arp_scan_found(output: &Output) -> BTreeSet<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split('\t').nth(1).map(str::to_owned))
        .collect()
}

fn compare(
    lan: &Lan,
    label: &str,
    scanner: &str,
    cidr: &str,
    live: &BTreeSet<String>,
) -> Result<()> {
    let agent = binary("hygie-agent")?;
    let arp_scan = which("arp-scan").context("arp-scan")?;
    let hygie_args: Vec<String> = [
        "scan",
        "--interface",
        "eth0",
        "--cidr",
        cidr,
        "--arp-only",
        "--format",
        "json",
        "--rate",
        &RATE.to_string(),
        "--timeout",
        &TIMEOUT_MS.to_string(),
        "--retries",
        &(ATTEMPTS - 1).to_string(),
        // arp-scan does not listen before probing: compare the sweeps alone.
        "--warmup",
        "0",
    ]
    .map(str::to_owned)
    .to_vec();
    let arp_scan_args: Vec<String> = [
        "--interface=eth0".to_owned(),
        "--quiet".to_owned(),
        "--plain".to_owned(),
        format!("--interval={}u", 1_000_000 / RATE),
        format!("--timeout={TIMEOUT_MS}"),
        "--backoff=1".to_owned(),
        format!("--retry={ATTEMPTS}"),
        cidr.to_owned(),
    ]
    .to_vec();
    let (ours, ours_time) = timed(lan, scanner, &agent, &hygie_args)?;
    flush_neighbours(lan)?;
    let (theirs, theirs_time) = timed(lan, scanner, &arp_scan, &arp_scan_args)?;
    flush_neighbours(lan)?;
    let ours = hygie_found(&ours)?;
    let theirs = arp_scan_found(&theirs);
    let recall = |found: &BTreeSet<String>| found.intersection(live).count();
    println!(
        "{:<34} {:>6} {:>14} {:>14} {:>10.2} {:>10.2} {:>7.2}",
        label,
        live.len(),
        format!(
            "{} ({:.0}%)",
            recall(&ours),
            100.0 * recall(&ours) as f64 / live.len() as f64
        ),
        format!(
            "{} ({:.0}%)",
            recall(&theirs),
            100.0 * recall(&theirs) as f64 / live.len() as f64
        ),
        ours_time.as_secs_f64(),
        theirs_time.as_secs_f64(),
        ours_time.as_secs_f64() / theirs_time.as_secs_f64()
    );
    Ok(())
}

fn flush_neighbours(lan: &Lan) -> Result<()> {
    for namespace in lan.namespaces() {
        lan.run(namespace, "ip", &["neigh", "flush", "all"])?;
    }
    Ok(())
}

fn sweep_facility() -> Result<()> {
    let mut lan = Lan::new("bench24")?;
    let scanner = lan.add_host("scanner", AGENT_MAC, "198.18.0.2/24")?;
    let mut live = BTreeSet::new();
    for device in standard_devices() {
        lan.add_host(device.name, device.mac, &format!("{}/24", device.ip()))?;
        live.insert(device.mac.to_string());
    }
    let label = format!("facility /24, {} devices", live.len());
    compare(&lan, &label, &scanner.namespace, "198.18.0.0/24", &live)
}

fn sweep_large_block() -> Result<()> {
    let mut lan = Lan::new("bench20")?;
    let scanner = lan.add_host("scanner", AGENT_MAC, "198.18.0.2/20")?;
    // 1,000 hosts from 198.18.0.10 on, MACs under a locally administered prefix, in a /20 of
    // 4,093 addresses to probe: most addresses are silent, as in a real block.
    let hosts: Vec<(MacAddr, String)> = (0..1000u32)
        .map(|n| {
            let address = 10 + n;
            let [_, _, high, low] = address.to_be_bytes();
            (
                MacAddr::new([0x02, 0xbe, 0x0c, 0x00, high, low]),
                format!("198.18.{high}.{low}/20"),
            )
        })
        .collect();
    let group = lan.add_macvlan_hosts("block", &hosts)?;
    let live: BTreeSet<String> = group.hosts.iter().map(|host| host.mac_string()).collect();
    compare(
        &lan,
        "/20, 1,000 live hosts (macvlan)",
        &scanner.namespace,
        "198.18.0.0/20",
        &live,
    )?;
    // The floor: every probe at the rate (one per live host, every attempt for the silent
    // ones), then one timeout for the last.
    let targets = 4094 - 1;
    let probes = live.len() + (targets - live.len()) * ATTEMPTS as usize;
    let floor = probes as f64 / f64::from(RATE) + f64::from(TIMEOUT_MS) / 1000.0;
    println!(
        "{:<34} {probes} probes at {RATE}/s + one {TIMEOUT_MS} ms timeout = {floor:.2} s floor",
        "  floor of the /20 sweep"
    );
    Ok(())
}

/// Writes a pcap of about `target` frames by repeating frames of public captures holding every
/// protocol decoded (and everything else they carry), with increasing timestamps.
fn build_capture(path: &Path, target: usize) -> Result<usize> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/pcap");
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for file in [
        "ndpi/iphone.pcap",
        "ndpi/android.pcap",
        "ndpi/gnutella.pcap",
        "zeek/dns_mdns.pcap",
        "zeek/arp-who-has.pcap",
        "zeek/dhcp_dhcp.pcap",
        "zeek/raw_packets.pcap",
        "tcpdump/dhcp-rfc4388.pcap",
        "tcpdump/LLDP_and_CDP.pcap",
        "tcpdump/3560_CDP.pcap",
        "tcpdump/eapon1.pcap",
        "iot-sentinel/WeMoSwitch/Setup-A-3-STA.pcap",
        "iot-sentinel/HueBridge/Setup-A-3-STA.pcap",
        "zeek/igmp_home-multicast-short.pcap",
    ] {
        let path = corpus.join(file);
        let mut reader = pcap_file::pcap::PcapReader::new(
            std::fs::File::open(&path).with_context(|| path.display().to_string())?,
        )?;
        while let Some(packet) = reader.next_raw_packet() {
            frames.push(packet?.data.into_owned());
        }
    }
    let header = pcap_file::pcap::PcapHeader {
        datalink: pcap_file::DataLink::ETHERNET,
        ..Default::default()
    };
    let mut writer = pcap_file::pcap::PcapWriter::with_header(
        std::io::BufWriter::new(std::fs::File::create(path)?),
        header,
    )?;
    let mut written = 0;
    'outer: for round in 0.. {
        for (index, frame) in frames.iter().enumerate() {
            if written >= target {
                break 'outer;
            }
            let at = Duration::from_secs(1_790_000_000)
                + Duration::from_micros((round * frames.len() + index) as u64 * 100);
            writer.write_packet(&pcap_file::pcap::PcapPacket::new(
                at,
                frame.len() as u32,
                frame,
            ))?;
            written += 1;
        }
    }
    Ok(written)
}

/// The protocols Hygie decodes, as a tcpdump filter: ARP, LLDP, CDP (802.3 + SNAP, Cisco
/// OUI), the UDP ports of mDNS, DHCP, DHCPv6, SSDP, NetBIOS and LLMNR, and ICMPv6.
const TCPDUMP_FILTER: &str = "arp or ether proto 0x88cc or (ether[12:2] <= 1500 and ether[20:2] == 0x2000) \
     or udp port 5353 or udp port 67 or udp port 68 or udp port 546 or udp port 547 \
     or udp port 1900 or udp port 137 or udp port 5355 or icmp6";
/// The same protocols as a tshark display filter.
const TSHARK_FILTER: &str =
    "arp || lldp || cdp || mdns || dhcp || dhcpv6 || ssdp || nbns || llmnr || icmpv6";

/// Runs of each fast decoder, for a median.
const RUNS: usize = 7;

fn replay_rate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // HYGIE_BENCH_CAPTURE=FILE keeps the built capture, to profile or replay it by hand.
    let capture = std::env::var_os("HYGIE_BENCH_CAPTURE")
        .map_or_else(|| dir.path().join("bench.pcap"), std::path::PathBuf::from);
    let frames = build_capture(&capture, 1_000_000)?;
    let agent = binary("hygie-agent")?;
    let run = |command: &mut Command| -> Result<Duration> {
        let started = Instant::now();
        let status = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("{command:?} failed");
        }
        Ok(started.elapsed())
    };
    // Unshaped: one JSON line per decoded frame, like the references print one line per
    // matching frame. Shaped is what the live agent would send, shown for scale.
    let mut ours_all_command = Command::new(&agent);
    ours_all_command
        .args(["replay", "--all", "--format", "jsonl"])
        .arg(&capture);
    let mut ours_shaped_command = Command::new(&agent);
    ours_shaped_command
        .args(["replay", "--format", "jsonl"])
        .arg(&capture);
    let mut tshark_command = Command::new("tshark");
    tshark_command.arg("-r").arg(&capture).args([
        "-Y",
        TSHARK_FILTER,
        "-T",
        "fields",
        "-e",
        "eth.src",
        "-e",
        "frame.protocols",
    ]);
    let mut tcpdump_command = Command::new("tcpdump");
    tcpdump_command
        .args(["-nn", "-e", "-r"])
        .arg(&capture)
        .arg(TCPDUMP_FILTER);
    // The fast tools run in alternation, several times each: the median of each is compared,
    // so a neighbour's burst on a shared machine lands on both. tshark, 50 times slower, once.
    let (mut ours_all, mut ours_shaped, mut tcpdump) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ours_all.push(run(&mut ours_all_command)?);
        tcpdump.push(run(&mut tcpdump_command)?);
        ours_shaped.push(run(&mut ours_shaped_command)?);
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (ours_all, ours_shaped, tcpdump) = (
        median(&mut ours_all),
        median(&mut ours_shaped),
        median(&mut tcpdump),
    );
    let tshark = run(&mut tshark_command)?;
    let rate = |elapsed: Duration| frames as f64 / elapsed.as_secs_f64();
    println!(
        "Capture decoding, {frames} frames (public captures repeated), every passive protocol"
    );
    println!(
        "{:<52} {:>10} {:>14}",
        format!("(median of {RUNS} alternating runs; tshark once)"),
        "seconds",
        "frames/s"
    );
    for (name, elapsed) in [
        ("hygie-agent replay --all --format jsonl", ours_all),
        ("hygie-agent replay --format jsonl (shaped)", ours_shaped),
        ("tcpdump -nn -e <the same protocols>", tcpdump),
        ("tshark -Y <the same protocols> -T fields", tshark),
    ] {
        println!(
            "{name:<52} {:>10.2} {:>14.0}",
            elapsed.as_secs_f64(),
            rate(elapsed)
        );
    }
    println!(
        "ratio, unshaped hygie frames/s over: tcpdump {:.2} (target at least 1.5), tshark {:.1}",
        rate(ours_all) / rate(tcpdump),
        rate(ours_all) / rate(tshark)
    );
    Ok(())
}
