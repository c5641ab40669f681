//! Full storage, with exact counts: an outbox at its size bound while the collector is down,
//! and a collector whose disk fills during ingest. The collector-disk test needs root (a
//! tmpfs) and is skipped otherwise, unless `HYGIE_REQUIRE_NETNS` is set.

use std::time::{Duration, Instant};

use hygie_tests::observations::devices;
use hygie_tests::tally::{self, Counts, Tally};
use hygie_tests::tmpfs::Tmpfs;
use hygie_tests::wait_until;
use jiff::Timestamp;

use crate::fleet::{Fleet, tail};
use crate::site::Site;

fn start() -> Timestamp {
    "2026-11-25T08:00:00Z".parse().unwrap()
}

#[test]
fn a_full_outbox_delivers_exactly_what_it_did_not_evict() {
    const OUTAGE: u32 = 40_000;
    const AFTER_CHUNKS: u32 = 5;
    const AFTER: u32 = 2_000;
    let produced = OUTAGE + AFTER_CHUNKS * AFTER;
    let began = Instant::now();
    // One agent, more new devices than the collector's hourly quota of new assets per agent:
    // lifted, so that what the outbox kept is all applied.
    let mut site = Site::new("[limits]\nnew_assets_per_agent_per_hour = 1000000\n");
    // The collector is down; the outbox's 1 MiB holds far fewer than OUTAGE observations.
    let mut fleet = Fleet::start(&site, &["ward-3"], |spec| {
        spec.outbox = "max_size = \"1 MiB\"\n".into();
    });
    fleet.append(0, &devices(0, OUTAGE, start()));
    let member = &fleet.members[0];
    let read_all = wait_until(Duration::from_secs(90), Duration::from_millis(100), || {
        member
            .stats()
            .is_some_and(|stats| stats.observations + stats.evicted_total == u64::from(OUTAGE))
    });
    let stats = member.stats().unwrap();
    assert!(
        read_all,
        "the agent read {} of {OUTAGE} (held {}, evicted {})\n{}",
        stats.observations + stats.evicted_total,
        stats.observations,
        stats.evicted_total,
        tail(&member.agent.log())
    );
    let evicted_in_outage = stats.evicted_total;
    assert!(
        evicted_in_outage > 0,
        "the bound must have evicted: {stats:?}"
    );
    // Read beside the agent, the files are between operations or in one (Invariant 8: M + X).
    let files = stats.files.total();
    assert!(files <= 2 * 1024 * 1024, "{files} bytes on disk: {stats:?}");
    // Oldest first (Invariant 3): the outbox holds exactly the newest observations.
    let first_held = u32::try_from(evicted_in_outage).unwrap();
    let mut newest = Counts::new();
    tally::add(
        &mut newest,
        "ward-3",
        &devices(first_held, OUTAGE - first_held, start()),
    );
    let held = tally::outbox_pending(&member.outbox, "ward-3").unwrap();
    Tally::compare("held by the full outbox", &newest, &held)
        .assert_exact(|| tail(&member.agent.log()).to_owned());

    // The collector comes back; more arrives while batches are in flight, so the bound evicts
    // again, now with batches sent and not yet acknowledged.
    site.collector.start().unwrap();
    let in_flight = wait_until(Duration::from_secs(30), Duration::from_millis(5), || {
        member.stats().is_some_and(|stats| stats.batches > 0)
    });
    for chunk in 0..AFTER_CHUNKS {
        fleet.append(0, &devices(OUTAGE + chunk * AFTER, AFTER, start()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let member = &fleet.members[0];
    let evicted = || member.stats().map_or(0, |stats| stats.evicted_total);
    let settled = wait_until(Duration::from_secs(120), Duration::from_millis(200), || {
        member.drained() && site.collector.history_len() + evicted() >= u64::from(produced)
    });
    std::thread::sleep(Duration::from_millis(500));
    let evicted = evicted();

    // produced = delivered + evicted: what is missing is exactly what was counted as evicted,
    // and nothing arrived twice or from nowhere.
    let present = tally::history(&site.collector.database()).unwrap();
    let delivered = tally::rows(&present);
    let tally = Tally::compare(
        "full outbox (1 MiB): collector down, then back while more arrives",
        &fleet.produced(),
        &present,
    )
    .figure("produced", produced)
    .figure("delivered", delivered)
    .figure("evicted (evicted_total)", evicted)
    .figure("  of which during the outage", evicted_in_outage)
    .figure(
        "produced - delivered - evicted",
        i64::from(produced) - i64::try_from(delivered + evicted).unwrap(),
    )
    .figure("batches in flight when more arrived", in_flight)
    .figure("took", format!("{:.1?}", began.elapsed()));
    eprintln!("{}", tally.table());
    let line = tally.total();
    assert!(
        line.duplicates == 0 && line.unexpected == 0 && line.missing == evicted,
        "missing must be exactly the evicted, with nothing twice:\n{}\n{}",
        tally.report(),
        fleet.logs(&site.collector)
    );
    assert!(settled, "not drained\n{}", fleet.logs(&site.collector));
    assert_eq!(u64::from(produced), delivered + evicted);
    let log = member.agent.log();
    assert!(
        log.contains("oldest observations evicted"),
        "evictions are logged:\n{}",
        tail(&log)
    );
}

/// Runs `hygie-collector ARGS` to completion; returns (success, stdout + stderr).
fn cli(site: &Site, args: &[&str]) -> (bool, String) {
    let output = site
        .collector
        .command()
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn a_full_collector_disk_fails_commits_and_loses_nothing_once_freed() {
    const CHUNKS: u32 = 30;
    const PER_CHUNK: u32 = 200;
    let Some(disk) = Tmpfs::mount("a_full_collector_disk_fails_commits", 24 * 1024 * 1024) else {
        return;
    };
    let began = Instant::now();
    let mut site = Site::with_data_in(disk.path(), "");
    site.collector.start().unwrap();
    let mut fleet = Fleet::start(&site, &["ward-1", "ward-2"], |_| {});
    let produce = |fleet: &mut Fleet, chunk: u32| {
        fleet.append(0, &devices(chunk * PER_CHUNK, PER_CHUNK, start()));
        // ward-2 sees half of the same devices, at the same moments.
        fleet.append(
            1,
            &devices(chunk * PER_CHUNK + PER_CHUNK / 2, PER_CHUNK, start()),
        );
    };

    // Ingest runs...
    for chunk in 0..CHUNKS / 3 {
        produce(&mut fleet, chunk);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(50), || {
            site.collector.history_len() > 0
        }),
        "{}",
        fleet.logs(&site.collector)
    );
    // ...and the disk fills to the last byte under it, while agents go on producing.
    let filled = disk.fill().unwrap();
    let at_fill = site.collector.history_len();
    let log_at_fill = site.collector.log().len();
    for chunk in CHUNKS / 3..CHUNKS {
        produce(&mut fleet, chunk);
        std::thread::sleep(Duration::from_millis(100));
    }
    let failed = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        site.collector.log()[log_at_fill..].contains("group commit failed")
    });
    // Give it time to do whatever it does on a full disk, then look.
    std::thread::sleep(Duration::from_secs(3));
    let during = site.collector.history_len();
    let running = site.collector.is_running();
    let waiting: u64 = fleet
        .members
        .iter()
        .filter_map(|member| member.stats())
        .map(|stats| stats.observations)
        .sum();
    let full_log = site.collector.log()[log_at_fill..].to_owned();
    let failures = full_log.matches("group commit failed").count();
    eprintln!(
        "disk full ({filled} filler bytes, {} free): history {at_fill} at the fill, {during} \
         while full; {failures} failed group commits; collector running: {running}; \
         {waiting} observations held by the agents",
        disk.free()
    );
    assert!(
        failed,
        "commits must fail on a full disk:\n{}",
        tail(&full_log)
    );
    assert!(
        waiting > 0,
        "the agents keep what was not committed\n{}",
        fleet.logs(&site.collector)
    );
    // Nothing on the database may be damaged by the failed commits, even while full.
    let (ok, said) = cli(&site, &["verify", "--events"]);
    assert!(ok, "verify --events while the disk is full: {said}");
    let restarted = if running {
        false
    } else {
        // It stopped: it must say why, and start again cleanly once there is room.
        eprintln!(
            "the collector stopped on the full disk:\n{}",
            tail(&full_log)
        );
        true
    };

    // Room again: everything arrives, once.
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    if restarted {
        site.collector.start().unwrap();
    }
    let delivered = fleet.wait_delivered(&site.collector, Duration::from_secs(120));
    let tally = fleet
        .tally(
            "collector disk full during ingest, then freed",
            &site.collector,
        )
        .figure("history when the disk filled", at_fill)
        .figure("history while full", during)
        .figure("failed group commits", failures)
        .figure("collector stopped and was restarted", restarted)
        .figure("took", format!("{:.1?}", began.elapsed()));
    tally.assert_exact(|| fleet.logs(&site.collector));
    assert!(delivered, "not drained\n{}", fleet.logs(&site.collector));
    assert!(
        site.collector.is_running(),
        "{}",
        tail(&site.collector.log())
    );
    for (name, ours, theirs) in fleet.cursors(&site.collector) {
        assert_eq!(theirs, Some(ours), "{name}'s cursor");
    }
    site.collector.stop();
    let (ok, said) = cli(&site, &["verify", "--events"]);
    assert!(ok, "verify --events: {said}");
    let connection = rusqlite::Connection::open_with_flags(
        site.collector.database(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}
