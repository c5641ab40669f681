//! Discovery benchmark, each figure beside a reference tool measured in the same run:
//!
//! 1. ARP sweep: `hygie-agent scan --arp-only` against `arp-scan`, at the same packet rate,
//!    timeout and number of attempts, from the same namespace of a simulated LAN: first the
//!    24-device facility on a /24, then a /22 holding 1,000 live hosts (macvlan interfaces in one
//!    namespace). Prints hosts found (recall) and wall time of each, and their ratio.
//! 2. Capture decoding: `hygie-agent replay --all` (one observation per decoded frame) against
//!    `tcpdump` and `tshark` (each printing a line per ARP or mDNS frame) on the same pcap of
//!    about a million frames, built from public captures of the test corpus.
//!
//! Needs root (namespaces), arp-scan and tshark: run `sudo tests/bench.sh discovery`. Only one
//! large sweep runs at a time: neighbour-table limits are shared with the host.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hygie_tests::bins::binary;
use hygie_tests::facility::{AGENT_MAC, standard_devices};
use hygie_tests::netns::{self, Lan};

const RATE: u32 = 100;
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
    sweep_facility()?;
    sweep_large_block()?;
    println!();
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
        lan.add_host(
            device.name,
            device.mac.octets(),
            &format!("{}/24", device.ip()),
        )?;
        live.insert(device.mac.to_string());
    }
    compare(
        &lan,
        "facility /24, 24 devices",
        &scanner.namespace,
        "198.18.0.0/24",
        &live,
    )
}

fn sweep_large_block() -> Result<()> {
    let mut lan = Lan::new("bench22")?;
    let scanner = lan.add_host("scanner", AGENT_MAC, "198.18.0.2/22")?;
    // 1,000 hosts from 198.18.0.10 on, MACs under a locally administered prefix.
    let hosts: Vec<([u8; 6], String)> = (0..1000u32)
        .map(|n| {
            let address = 10 + n;
            let [_, _, high, low] = address.to_be_bytes();
            (
                [0x02, 0xbe, 0x0c, 0x00, high, low],
                format!("198.18.{high}.{low}/22"),
            )
        })
        .collect();
    let group = lan.add_macvlan_hosts("block", &hosts)?;
    let live: BTreeSet<String> = group.hosts.iter().map(|host| host.mac_string()).collect();
    compare(
        &lan,
        "/22, 1,000 live hosts (macvlan)",
        &scanner.namespace,
        "198.18.0.0/22",
        &live,
    )
}

/// Writes a pcap of about `target` frames by repeating frames of public captures (ARP, mDNS and
/// everything else they hold), with increasing timestamps.
fn build_capture(path: &Path, target: usize) -> Result<usize> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/pcap");
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for file in [
        "ndpi/iphone.pcap",
        "zeek/dns_mdns.pcap",
        "zeek/arp-who-has.pcap",
        "tcpdump/dhcp-rfc4388.pcap",
        "zeek/igmp_home-multicast-short.pcap",
    ] {
        let path = corpus.join(file);
        let mut reader = pcap_file::pcap::PcapReader::new(
            std::fs::File::open(&path).with_context(|| path.display().to_string())?,
        )?;
        while let Some(packet) = reader.next_packet() {
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

fn replay_rate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let capture = dir.path().join("bench.pcap");
    let frames = build_capture(&capture, 1_000_000)?;
    let agent = binary("hygie-agent")?;
    let time = |command: &mut Command| -> Result<Duration> {
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
    let ours_all = time(
        Command::new(&agent)
            .args(["replay", "--all", "--format", "jsonl"])
            .arg(&capture),
    )?;
    let ours_shaped = time(
        Command::new(&agent)
            .args(["replay", "--format", "jsonl"])
            .arg(&capture),
    )?;
    let tshark = time(Command::new("tshark").arg("-r").arg(&capture).args([
        "-Y",
        "arp || mdns",
        "-T",
        "fields",
        "-e",
        "eth.src",
        "-e",
        "arp.src.proto_ipv4",
        "-e",
        "dns.resp.name",
    ]))?;
    let tcpdump = time(
        Command::new("tcpdump")
            .args(["-nn", "-e", "-r"])
            .arg(&capture)
            .args(["arp or udp port 5353"]),
    )?;
    let rate = |elapsed: Duration| frames as f64 / elapsed.as_secs_f64();
    println!("Capture decoding, {frames} frames (public captures repeated), ARP + mDNS");
    println!("{:<52} {:>10} {:>14}", "", "seconds", "frames/s");
    for (name, elapsed) in [
        ("hygie-agent replay --all --format jsonl", ours_all),
        ("hygie-agent replay --format jsonl (shaped)", ours_shaped),
        ("tcpdump -nn -e \"arp or udp port 5353\"", tcpdump),
        ("tshark -Y \"arp || mdns\" -T fields", tshark),
    ] {
        println!(
            "{name:<52} {:>10.2} {:>14.0}",
            elapsed.as_secs_f64(),
            rate(elapsed)
        );
    }
    println!(
        "ratio, unshaped hygie frames/s over: tcpdump {:.1}, tshark {:.1}",
        rate(ours_all) / rate(tcpdump),
        rate(ours_all) / rate(tshark)
    );
    Ok(())
}
