//! The agent SIGKILLed during active ARP sweeps of the simulated facility (network namespaces
//! this test creates, 198.18.0.0/24), and restarted each time: its restart resumes the same
//! outbox, every device ends up in the inventory, and the history holds each observation the
//! outbox formed and the collector committed exactly once. Needs root: skipped otherwise,
//! unless HYGIE_REQUIRE_NETNS=1, which makes a missing capability fail.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hygie_agent::outbox::Outbox;
use hygie_proto::MacAddr;
use hygie_tests::facility::{Facility, agent_config, standard_devices};
use hygie_tests::netns;
use hygie_tests::pki::TestPki;
use hygie_tests::process::Collector;
use hygie_tests::tally::{self, Tally};
use hygie_tests::wait_until;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::fleet::tail;

/// Probes per second: a /24 sweep lasts at least 253 / RATE seconds, so a kill earlier than
/// that after the warm-up always lands mid-sweep, however loaded the machine.
const RATE: u32 = 20;
const WARMUP_MS: u64 = 500;

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn an_agent_killed_mid_sweep_resumes_and_every_device_arrives_once() {
    const KILLS: usize = 5;
    let test = "an_agent_killed_mid_sweep_resumes_and_every_device_arrives_once";
    if !netns::is_root() {
        assert!(
            std::env::var_os("HYGIE_REQUIRE_NETNS").is_none(),
            "{test} needs root (network namespaces)"
        );
        eprintln!("SKIPPED {test}: needs root (network namespaces)");
        return;
    }
    let began = Instant::now();
    let devices = standard_devices();
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(&dir.path().join("pki")).unwrap();
    let mut facility = Facility::build("kill", &devices, &[]).unwrap();
    let collector =
        Collector::configure(&dir.path().join("collector"), &pki.paths, 7443, "").unwrap();
    let _collector_process = facility.start_collector(&collector).unwrap();
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let config = agent_config(
        &agent_dir,
        &pki,
        collector.port,
        &format!(
            r#"
            interfaces = ["eth0"]
            [discovery.arp]
            rate = {RATE}
            timeout = "500ms"
            warmup = "{WARMUP_MS}ms"
            sweep_interval = "10min"
            [discovery.mdns]
            query_interval = "1min"
            round_duration = "5s"
            "#
        ),
    )
    .unwrap();
    let log = agent_dir.join("agent.log");
    let outbox_path = agent_dir.join("outbox.sqlite");
    let seed = std::env::var("HYGIE_KILL_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{test}: kill schedule seed {seed} (HYGIE_KILL_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let sweep_floor_ms = 1000 * 253 / u64::from(RATE);

    // (outbox id, last sequence formed) after each run.
    let mut runs = Vec::new();
    for _ in 0..KILLS {
        let from = read(&log).len();
        let mut agent = facility.start_agent(&config, &log).unwrap();
        assert!(
            wait_until(Duration::from_secs(30), Duration::from_millis(20), || {
                read(&log)[from..].contains("listening for discovery protocols")
            }),
            "{}",
            tail(&read(&log))
        );
        // Into the sweep, well before it can end.
        let into = rng.random_range(WARMUP_MS + 1000..WARMUP_MS + sweep_floor_ms * 2 / 3);
        std::thread::sleep(Duration::from_millis(into));
        let this_run = read(&log)[from..].to_owned();
        assert!(
            !this_run.contains("ARP sweep finished"),
            "the kill was meant to land mid-sweep ({into} ms after listening):\n{this_run}"
        );
        assert!(agent.is_running(), "{this_run}");
        agent.kill().unwrap();
        let outbox = Outbox::open_read_only(&outbox_path).unwrap();
        runs.push((outbox.id(), outbox.last_sequence().unwrap()));
    }

    // The last run sweeps to the end; every device arrives.
    let from = read(&log).len();
    let mut agent = facility.start_agent(&config, &log).unwrap();
    let expected: BTreeSet<MacAddr> = devices.iter().map(|device| device.mac).collect();
    let mut found = BTreeSet::new();
    let complete = wait_until(Duration::from_secs(120), Duration::from_millis(250), || {
        let Ok(snapshot) = collector.snapshot() else {
            return false;
        };
        found = devices
            .iter()
            .filter(|device| {
                snapshot
                    .inventory
                    .get(&device.mac)
                    .is_some_and(|asset| asset.addresses.keys().any(IpAddr::is_ipv4))
            })
            .map(|device| device.mac)
            .collect();
        found == expected && read(&log)[from..].contains("ARP sweep finished")
    });
    assert!(
        complete,
        "{} of {} devices; missing {:?}\n{}\n--- collector ---\n{}",
        found.len(),
        expected.len(),
        expected.difference(&found).collect::<Vec<_>>(),
        tail(&read(&log)),
        tail(&collector.log())
    );
    agent.terminate(Duration::from_secs(15)).unwrap();
    let outbox = Outbox::open_read_only(&outbox_path).unwrap();
    let (id, last) = (outbox.id(), outbox.last_sequence().unwrap());
    let stats = outbox.stats().unwrap();
    let acked = outbox.highest_acked().unwrap();
    runs.push((id, last));
    drop(outbox);

    // Each restart resumed the same outbox: same id, sequences only growing, nothing set aside.
    let whole_log = read(&log);
    assert!(
        runs.iter().all(|(run_id, _)| *run_id == id),
        "a restart changed the outbox id: {runs:?}"
    );
    assert!(
        runs.windows(2).all(|pair| pair[0].1 <= pair[1].1),
        "sequences went back: {runs:?}"
    );
    assert_eq!(
        whole_log.matches("agent starting").count(),
        KILLS + 1,
        "{}",
        tail(&whole_log)
    );
    assert!(
        !whole_log.contains("set aside") && !whole_log.contains("taking a new outbox id"),
        "{}",
        tail(&whole_log)
    );

    // The collector's history against the outbox: every observation of each batch up to the
    // committed cursor, once (later batches, if any, were formed but never committed).
    let cursor = tally::cursors(&collector.database())
        .unwrap()
        .get(&("ward-3".to_owned(), id.0.to_vec()))
        .copied()
        .unwrap_or(0);
    let formed = tally::outbox_batches(&outbox_path, "ward-3", None).unwrap();
    let committed = tally::outbox_batches(&outbox_path, "ward-3", Some(cursor)).unwrap();
    let present = tally::history(&collector.database()).unwrap();
    let resends = whole_log
        .matches("resending unacknowledged batches")
        .count();
    let tally = Tally::compare(
        "agent SIGKILLed mid-sweep in the facility",
        &committed,
        &present,
    )
    .figure("seed", seed)
    .figure("kills mid-sweep", KILLS)
    .figure("batches formed (last sequence)", last)
    .figure("collector cursor", cursor)
    .figure("observations formed into batches", tally::rows(&formed))
    .figure("left unacknowledged at the end", stats.observations)
    .figure("restarts that resent batches", resends)
    .figure(
        "devices in the inventory",
        format!("{} of {}", found.len(), expected.len()),
    )
    .figure("took", format!("{:.1?}", began.elapsed()));
    tally.assert_exact(|| {
        format!(
            "{}\n--- collector ---\n{}",
            tail(&whole_log),
            tail(&collector.log())
        )
    });
    assert!(
        acked <= cursor,
        "batch {acked} acknowledged beyond the collector's cursor {cursor}"
    );
}
