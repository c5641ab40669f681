//! A valid-but-hostile agent against a real collector: the collector must stay within its
//! memory, keep serving an honest agent, give its memory back, survive, and say in its log what
//! it refused.
//!
//! The collector runs with the default configuration and 1024 descriptors (soft and hard), as a
//! default service would. An honest `hygie-agent` reports one new device a second while
//! `hostile-agent all` (tests/src/bin/hostile_agent), holding a second valid certificate,
//! attacks for a minute: amplified batches, stalled messages, 400 streams on one connection,
//! 1,100 idle TLS and 200 idle TCP connections, invented devices, regressing sequences.
//!
//! The attacker is at a site of its own (`chu-hostile`), so a per-site quota on new assets,
//! rightly exhausted by it, cannot be what refuses the honest agent's new devices.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hygie_proto::MacAddr;
use hygie_tests::bins::binary;
use hygie_tests::observations::{append_jsonl, device};
use hygie_tests::wait_until;
use jiff::Timestamp;
use serde_json::Value;

use crate::site::Site;

const MIB: u64 = 1024 * 1024;
/// How long the attack lasts.
const ATTACK: Duration = Duration::from_secs(60);
/// The collector's descriptor limit, as a default service has.
const NOFILE: u64 = 1024;
/// (a) Resident memory at any moment.
const PEAK_RSS_MAX: u64 = 512 * MIB;
/// (b) From an honest observation written to the agent's source to its asset in the database.
const LATENCY_MAX: Duration = Duration::from_secs(1);
/// (c) Resident memory after the attack, above its level before, ...
const RECOVERED_ABOVE_BEFORE: u64 = 128 * MIB;
/// ... reached within this long.
const RECOVERY_TIME: Duration = Duration::from_secs(30);
/// (d) How long the observation after the attack may take.
const AFTER_ATTACK_WAIT: Duration = Duration::from_secs(10);
/// The honest agent's devices during the attack are numbered from here.
const PROBE_FIRST: u32 = 1_000;

/// The collector's default quota of new assets per agent and hour.
const HOURLY_QUOTA: u32 = 20_000;

/// `hostile-agent` against the site's collector with the intruder's certificate.
fn hostile_agent(
    site: &Site,
    intruder: &hygie_tests::pki::AgentCerts,
    duration: Duration,
    args: &[&str],
    stderr: &Path,
) -> std::process::Child {
    Command::new(binary("hostile-agent").unwrap())
        .arg("--address")
        .arg(format!("127.0.0.1:{}", site.collector.port))
        .args(["--server-name", "localhost"])
        .arg("--ca")
        .arg(&intruder.ca)
        .arg("--cert")
        .arg(&intruder.cert)
        .arg("--key")
        .arg(&intruder.key)
        .arg("--duration")
        .arg(format!("{}s", duration.as_secs()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}

fn asset_count(database: &Path) -> u64 {
    rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|connection| {
            connection.query_row("SELECT count(*) FROM assets", [], |row| {
                row.get::<_, i64>(0)
            })
        })
        .map_or(0, |count| u64::try_from(count).unwrap_or(0))
}

/// When a sample was taken, and the resident bytes (`None`: the process was gone).
type Sample = (Instant, Option<u64>);

/// Resident memory of a process, sampled every 100 ms by a thread of its own.
struct RssSampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// VmRSS in bytes, or `None` once the process is gone.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (samples, stop) = (Arc::clone(&samples), Arc::clone(&stop));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let value = rss(pid);
                    samples.lock().unwrap().push((Instant::now(), value));
                    if value.is_none() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        RssSampler {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    fn latest(&self) -> Option<u64> {
        self.samples
            .lock()
            .unwrap()
            .last()
            .and_then(|(_, rss)| *rss)
    }

    /// The highest sample since `since`.
    fn peak(&self, since: Instant) -> u64 {
        self.samples
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at >= since)
            .filter_map(|(_, rss)| *rss)
            .max()
            .unwrap_or(0)
    }

    /// One sample every `step` since `since`, in MiB: the shape of the curve.
    fn timeline(&self, since: Instant, step: Duration) -> Vec<u64> {
        let mut next = since;
        let mut points = Vec::new();
        for (at, rss) in self.samples.lock().unwrap().iter() {
            if *at >= next {
                points.push(rss.unwrap_or(0) / MIB);
                next = *at + step;
            }
        }
        points
    }

    /// Whether a sample found the process gone.
    fn saw_exit(&self) -> bool {
        self.samples
            .lock()
            .unwrap()
            .iter()
            .any(|(_, rss)| rss.is_none())
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether `mac` is an asset in the database yet (read-only, beside the running writer).
fn has_asset(database: &Path, mac: MacAddr) -> bool {
    let Ok(connection) =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return false;
    };
    let _ = connection.busy_timeout(Duration::from_millis(100));
    connection
        .query_row(
            "SELECT 1 FROM assets WHERE mac = ?1",
            [mac.to_u64() as i64],
            |_| Ok(()),
        )
        .is_ok()
}

/// One honest observation written during the attack, and when (if ever) it arrived.
struct Probe {
    mac: MacAddr,
    written: Instant,
    latency: Option<Duration>,
}

/// Writes one new honest device a second while `running`, and measures when each arrives.
fn probe_while(site: &Site, file: &Path, mut running: impl FnMut() -> bool) -> Vec<Probe> {
    let database = site.collector.database();
    let mut probes: Vec<Probe> = Vec::new();
    let mut next = Instant::now();
    let mut n = PROBE_FIRST;
    let check = |probes: &mut Vec<Probe>| {
        for probe in probes.iter_mut().filter(|probe| probe.latency.is_none()) {
            if has_asset(&database, probe.mac) {
                probe.latency = Some(probe.written.elapsed());
            }
        }
    };
    while running() {
        if Instant::now() >= next {
            let observation = device(n, Timestamp::now());
            n += 1;
            append_jsonl(file, std::slice::from_ref(&observation)).unwrap();
            probes.push(Probe {
                mac: observation.mac,
                written: Instant::now(),
                latency: None,
            });
            next += Duration::from_secs(1);
        }
        check(&mut probes);
        std::thread::sleep(Duration::from_millis(20));
    }
    // The last ones get a few more seconds: a late arrival is measured, not lost.
    wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        check(&mut probes);
        probes.iter().all(|probe| probe.latency.is_some())
    });
    probes
}

/// The collector's log without terminal colours.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// WARN lines of the log, counted by message (timestamp and fields left out).
fn warnings(log: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in log.lines().filter(|line| line.contains(" WARN ")) {
        // `<time>  WARN <target>: <message> <key>=<value> ...`
        let message = line
            .split_once(": ")
            .map_or(line, |(_, rest)| rest)
            .split(" ")
            .take_while(|word| !word.contains('='))
            .collect::<Vec<_>>()
            .join(" ");
        *counts.entry(message).or_default() += 1;
    }
    counts
}

/// (e): a WARN line that names a refused (or rejected) connection.
fn names_a_refused_connection(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("connection") && (message.contains("refus") || message.contains("reject"))
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted
        .get((sorted.len().saturating_sub(1)) * p / 100)
        .copied()
        .unwrap_or_default()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

fn summaries(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|value| value["type"] == "summary")
        .collect()
}

fn print_outcomes(summaries: &[Value]) {
    println!("attacker's view (what the collector did to each attack):");
    for summary in summaries {
        println!(
            "  {:<9} {}",
            summary["attack"].as_str().unwrap_or("?"),
            summary["counters"]
        );
        for outcome in summary["outcomes"].as_array().into_iter().flatten() {
            println!(
                "  {:>9} {:>6} × {:<16} {:>6}..{:<6} ms  {}",
                "",
                outcome["count"],
                outcome["kind"].as_str().unwrap_or("?"),
                outcome["min_ms"],
                outcome["max_ms"],
                outcome["detail"].as_str().unwrap_or(""),
            );
        }
    }
}

#[test]
fn a_hostile_agent_with_a_valid_certificate_cannot_exhaust_the_collector() {
    let mut site = Site::new("");
    site.collector.limit_descriptors(NOFILE);
    site.collector.start().unwrap();
    let pid = site.collector.pid().unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let nofile_line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap_or("?")
        .to_owned();

    // The honest agent, connected and committing before the attack starts.
    let file = site.path("honest.jsonl");
    let start = Timestamp::now();
    append_jsonl(
        &file,
        &(0..20).map(|n| device(n, start)).collect::<Vec<_>>(),
    )
    .unwrap();
    let honest = site.agent("ward-3", vec![(file.clone(), true)]);
    site.wait_for_history(20, Duration::from_secs(30), &honest);

    let mut sampler = RssSampler::start(pid);
    std::thread::sleep(Duration::from_secs(2));
    let before = sampler.latest().unwrap_or(0);

    // The attacker: a second valid certificate, every attack at once.
    let intruder = site.pki.agent("intruder", "chu-hostile").unwrap();
    let attacker_log = site.path("hostile-agent.stderr");
    let attack_started = Instant::now();
    let mut attacker = hostile_agent(
        &site,
        &intruder,
        ATTACK,
        &[
            "--amplify-streams",
            "4",
            "--stall-streams",
            "40",
            "--streams",
            "400",
            "--idle-tls",
            "1100",
            "--idle-tcp",
            "200",
            "all",
        ],
        &attacker_log,
    );
    let stdout = attacker.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });

    // (b) while it lasts, with a bound in case the attacker hangs.
    let give_up = attack_started + ATTACK + Duration::from_secs(30);
    let probes = probe_while(&site, &file, || {
        matches!(attacker.try_wait(), Ok(None)) && Instant::now() < give_up
    });
    if matches!(attacker.try_wait(), Ok(None)) {
        let _ = attacker.kill();
    }
    let attacker_status = attacker.wait().unwrap();
    let attack_ended = Instant::now();
    let lines = reader.join().unwrap();

    // (c) memory given back.
    let bound = before + RECOVERED_ABOVE_BEFORE;
    let recovered = wait_until(RECOVERY_TIME, Duration::from_millis(100), || {
        sampler.latest().is_some_and(|rss| rss <= bound)
    });
    let recovery = attack_ended.elapsed();
    let after = sampler.latest();

    // (d) still serving.
    let last = device(PROBE_FIRST + 10_000, Timestamp::now());
    append_jsonl(&file, std::slice::from_ref(&last)).unwrap();
    let last_written = Instant::now();
    let served_after = wait_until(AFTER_ATTACK_WAIT, Duration::from_millis(20), || {
        has_asset(&site.collector.database(), last.mac)
    });
    let last_latency = last_written.elapsed();
    let running = site.collector.is_running();
    sampler.stop();
    let peak = sampler.peak(attack_started);
    let timeline = sampler.timeline(attack_started, Duration::from_secs(5));

    // (e) the log says what was refused.
    let log = plain(&site.collector.log());
    let warned = warnings(&log);

    // The figures, all of them, before any verdict.
    let mut latencies: Vec<Duration> = probes.iter().filter_map(|probe| probe.latency).collect();
    latencies.sort();
    let missing = probes
        .iter()
        .filter(|probe| probe.latency.is_none())
        .count();
    let summaries = summaries(&lines);
    println!("\n=== hostile agent vs collector: {ATTACK:?} attack ===");
    println!("collector pid {pid}, {nofile_line}");
    println!("attacker exit: {attacker_status}");
    println!("RSS before the attack          {}", mib(before));
    println!(
        "RSS peak (a)                   {}   limit {}",
        mib(peak),
        mib(PEAK_RSS_MAX)
    );
    println!("RSS every 5 s from the attack on (MiB) {timeline:?}");
    println!(
        "RSS after the attack (c)       {}   limit {} within {RECOVERY_TIME:?}; {} after {:.1} s",
        after.map_or("gone".into(), mib),
        mib(bound),
        if recovered { "reached" } else { "not reached" },
        recovery.as_secs_f64()
    );
    println!(
        "honest latency (b)             n={} p50={:?} p99={:?} max={:?} not arrived={missing}  limit {LATENCY_MAX:?}",
        probes.len(),
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies.last().copied().unwrap_or_default(),
    );
    println!(
        "honest latencies (ms)          {:?}",
        probes
            .iter()
            .map(|probe| probe
                .latency
                .map_or(-1, |latency| latency.as_millis() as i64))
            .collect::<Vec<_>>()
    );
    println!(
        "after the attack (d)           observation {} in {:?}; collector running: {running}",
        if served_after { "arrived" } else { "missing" },
        last_latency
    );
    println!("collector WARN lines (e), by message:");
    for (message, count) in &warned {
        println!("  {count:>6} × {message}");
    }
    print_outcomes(&summaries);

    let mut failures = Vec::new();
    if summaries.len() != 7 || !attacker_status.success() {
        failures.push(format!(
            "the attack did not run as planned: {} summaries, exit {attacker_status}; stderr:\n{}",
            summaries.len(),
            std::fs::read_to_string(&attacker_log).unwrap_or_default()
        ));
    }
    if peak > PEAK_RSS_MAX {
        failures.push(format!(
            "(a) peak RSS {} > {}",
            mib(peak),
            mib(PEAK_RSS_MAX)
        ));
    }
    let slow = probes
        .iter()
        .filter(|probe| probe.latency.is_none_or(|latency| latency > LATENCY_MAX))
        .count();
    if probes.is_empty() || slow > 0 {
        failures.push(format!(
            "(b) {slow} of {} honest observations took over {LATENCY_MAX:?} ({missing} never arrived); max {:?}",
            probes.len(),
            latencies.last().copied().unwrap_or_default()
        ));
    }
    if !recovered {
        failures.push(format!(
            "(c) RSS {} {RECOVERY_TIME:?} after the attack, above {} (before + {})",
            after.map_or("gone".into(), mib),
            mib(bound),
            mib(RECOVERED_ABOVE_BEFORE)
        ));
    }
    if !served_after || !running || sampler.saw_exit() {
        failures.push(format!(
            "(d) after the attack: observation arrived {served_after}, collector running {running}"
        ));
    }
    if !warned
        .keys()
        .any(|message| names_a_refused_connection(message))
    {
        failures.push(
            "(e) no WARN line names a refused connection (matched: \"connection\" and \"refus\" or \"reject\")"
                .into(),
        );
    }
    // All at once, the attacker's own connections crowd out its regress and invent attacks (one
    // certificate holds few connections): run each alone to see the defence it meets.
    let solo = |attack: &str, duration: Duration| {
        let log = site.path(&format!("hostile-{attack}.stderr"));
        let mut child = hostile_agent(&site, &intruder, duration, &[attack], &log);
        let stdout = child.stdout.take().unwrap();
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect();
        let _ = child.wait();
        self::summaries(&lines)
    };
    let regress_alone = solo("regress", Duration::from_secs(5));
    let invent_alone = solo("invent", Duration::from_secs(10));
    print_outcomes(&regress_alone);
    print_outcomes(&invent_alone);

    // (f) The contract: a batch at or below one already sent on the stream ends it with
    // FAILED_PRECONDITION, and is never acknowledged.
    let regress = regress_alone
        .iter()
        .find(|summary| summary["attack"] == "regress");
    let refused_rounds: u64 = regress
        .and_then(|summary| summary["outcomes"].as_array())
        .into_iter()
        .flatten()
        .filter(|outcome| {
            outcome["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains("FailedPrecondition"))
        })
        .filter_map(|outcome| outcome["count"].as_u64())
        .sum();
    let regressed_acks = regress
        .and_then(|summary| summary["counters"]["regressed_acks"].as_u64())
        .unwrap_or(0);
    if refused_rounds == 0 || regressed_acks > 0 {
        failures.push(format!(
            "(f) regressing sequences: {refused_rounds} streams ended with FAILED_PRECONDITION, {regressed_acks} offending batches acknowledged"
        ));
    }
    // (g) Invented devices: new assets beyond the agent's hourly quota are refused (and said so
    // in the Ack), known ones never.
    let invent = invent_alone
        .iter()
        .find(|summary| summary["attack"] == "invent");
    let counter = |name: &str| {
        invent
            .and_then(|summary| summary["counters"][name].as_u64())
            .unwrap_or(0)
    };
    let (sent, refused) = (counter("macs_sent"), counter("refused_new_assets"));
    let assets = asset_count(&site.collector.database());
    println!(
        "invented devices (g)           {sent} sent, {refused} refused, {assets} assets in all"
    );
    if refused == 0 || assets > u64::from(HOURLY_QUOTA) + 2_000 {
        failures.push(format!(
            "(g) invented devices: {sent} sent, {refused} refused by the quota, {assets} assets in the inventory"
        ));
    }
    assert!(
        failures.is_empty(),
        "the collector did not hold:\n{}\n--- collector log (last 40 lines but connections) ---\n{}",
        failures.join("\n"),
        log.lines()
            .filter(|line| !line.contains("agent connected"))
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
