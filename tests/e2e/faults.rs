//! The agent under faults, with the real binaries: a full disk under its outbox, a corrupt
//! outbox file, a file source that is not there yet, certificates the collector would refuse.
//! The full-disk test needs root (a tmpfs) and is skipped otherwise, unless
//! `HYGIE_REQUIRE_NETNS` is set.

use std::process::Command;
use std::time::{Duration, Instant};

use hygie_agent::outbox::Outbox;
use hygie_tests::bins::binary;
use hygie_tests::observations::{append_jsonl, devices};
use hygie_tests::pki::TestPki;
use hygie_tests::process::{Agent, AgentSpec};
use hygie_tests::tmpfs::Tmpfs;
use hygie_tests::wait_until;
use jiff::Timestamp;

use crate::site::Site;

fn start() -> Timestamp {
    "2026-11-25T08:00:00Z".parse().unwrap()
}

const HELD: u32 = 50_000;

#[test]
fn a_full_disk_still_delivers_everything_the_outbox_holds() {
    let Some(disk) = Tmpfs::mount("a_full_disk_still_delivers_everything", 16 * 1024 * 1024) else {
        return;
    };
    // More new devices than the collector's hourly quota of new assets per agent: lifted, so
    // that every observation the outbox held is applied.
    let mut site = Site::new("[limits]\nnew_assets_per_agent_per_hour = 1000000\n");
    let file = site.path("observations.jsonl");
    append_jsonl(&file, &devices(0, HELD, start())).unwrap();
    let outbox = disk.path().join("outbox.sqlite");
    let mut spec = AgentSpec::new(
        site.pki.agent("ward-3", "chu-test").unwrap(),
        site.collector.port,
        vec![(file, false)],
    );
    spec.outbox_path = Some(outbox.clone());
    // The collector is down while the agent stores everything.
    let agent = Agent::start(&site.path("ward-3"), &spec).unwrap();
    let held = || {
        Outbox::open_read_only(&outbox)
            .and_then(|outbox| outbox.stats())
            .map_or(0, |stats| stats.observations)
    };
    // Rows, read directly: the same with an older agent's layout, to compare.
    let stored = || {
        rusqlite::Connection::open_with_flags(&outbox, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|db| db.query_row("SELECT count(*) FROM pending", [], |row| row.get(0)))
            .map_or(0, |count: i64| count.unsigned_abs())
    };
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
            stored() == u64::from(HELD)
        }),
        "the outbox holds {} of {HELD}\n{}",
        stored(),
        agent.log()
    );
    // Then the disk fills to the last byte (logs, another program...).
    let filled = disk.fill().unwrap();
    assert_eq!(disk.free(), 0);
    let log_before = agent.log().len();

    site.collector.start().unwrap();
    let started = Instant::now();
    site.wait_for_history(u64::from(HELD), Duration::from_secs(90), &agent);
    let took = started.elapsed();
    let snapshot = site.collector.snapshot().unwrap();
    assert_eq!(
        (snapshot.history, snapshot.inventory.len()),
        (u64::from(HELD), HELD as usize),
        "every held observation exactly once"
    );
    eprintln!(
        "full disk ({filled} filler bytes, 0 free): {HELD} held observations delivered in {took:?}"
    );
    // Connection refused until the collector listened is fair; an outbox failure blamed on
    // the collector is not (that was the symptom: Acks failed on the full disk).
    let since = agent.log()[log_before..].to_owned();
    assert!(
        !since
            .lines()
            .filter(|line| line.contains("collector unreachable"))
            .filter_map(|line| line.split_once("reason"))
            .any(|(_, reason)| reason.contains("outbox") || reason.contains("No space")),
        "a full disk is not the collector's fault:\n{since}"
    );
    assert!(!since.contains("outbox database error"), "{since}");
    assert!(wait_until(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || held() == 0
    ));
}

#[test]
fn a_corrupt_outbox_is_set_aside_and_the_agent_goes_on() {
    let mut site = Site::new("");
    site.collector.start().unwrap();
    let dir = site.path("ward-3");
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = b"this was an outbox before the disk controller failed".repeat(100);
    std::fs::write(dir.join("outbox.sqlite"), &garbage).unwrap();
    let file = site.path("observations.jsonl");
    append_jsonl(&file, &devices(0, 20, start())).unwrap();
    let agent = site.agent("ward-3", vec![(file, false)]);
    site.wait_for_history(20, Duration::from_secs(30), &agent);
    let log = agent.log();
    assert!(
        log.contains("ERROR") && log.contains("it was set aside as"),
        "{log}"
    );
    let aside: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().contains("outbox.sqlite.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), garbage);
}

#[test]
fn a_missing_file_source_is_picked_up_when_it_appears() {
    let mut site = Site::new("");
    site.collector.start().unwrap();
    let later = site.path("later.jsonl");
    let present = site.path("present.jsonl");
    append_jsonl(&present, &devices(0, 50, start())).unwrap();
    let mut agent = site.agent("ward-3", vec![(later.clone(), false), (present, true)]);
    // The other source goes on.
    site.wait_for_history(50, Duration::from_secs(30), &agent);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        agent.log().matches("file source unavailable").count(),
        1,
        "warned once, not every 20 ms poll:\n{}",
        agent.log()
    );
    append_jsonl(&later, &devices(50, 50, start())).unwrap();
    site.wait_for_history(100, Duration::from_secs(30), &agent);
    assert!(agent.is_running());
    assert!(agent.log().contains("file source available again"));
}

#[test]
fn validate_refuses_certificates_the_collector_would_refuse() {
    let site = Site::new("");
    let dir = site.path("agent");
    std::fs::create_dir_all(&dir).unwrap();
    let validate = |certs| {
        let spec = AgentSpec::new(certs, site.collector.port, vec![]);
        let config = dir.join("agent.toml");
        std::fs::write(&config, spec.toml(&dir.join("outbox.sqlite"))).unwrap();
        Command::new(binary("hygie-agent").unwrap())
            .arg("validate")
            .arg(&config)
            .output()
            .unwrap()
    };
    let good = validate(site.pki.agent("ward-3", "chu-test").unwrap());
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(String::from_utf8_lossy(&good.stdout).contains("are signed by the CA"));

    let other = TestPki::create(&site.path("other-pki")).unwrap();
    let foreign = hygie_tests::pki::AgentCerts {
        ca: site.pki.paths.ca_cert.clone(),
        ..other.agent("intruder", "chu-test").unwrap()
    };
    let refused = validate(foreign.clone());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains(&format!(
            "the certificate {} is not signed by the CA {}",
            foreign.cert.display(),
            foreign.ca.display()
        )),
        "{stderr}"
    );

    let swapped = hygie_tests::pki::AgentCerts {
        cert: foreign.key.clone(),
        key: foreign.cert.clone(),
        ..foreign
    };
    let refused = validate(swapped);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("the two settings are swapped"));
}
