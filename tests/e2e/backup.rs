//! One writer per data directory, and backup and restore under live ingest.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use hygie_collector::store::{InventoryReader, SqliteStore};
use hygie_tests::observations::{append_jsonl, devices};
use hygie_tests::wait_until;
use jiff::Timestamp;

use crate::site::Site;

fn start() -> Timestamp {
    "2026-11-25T08:00:00Z".parse().unwrap()
}

/// Runs `hygie-collector --config … ARGS` to completion.
fn cli(site: &Site, args: &[&str]) -> Output {
    site.collector
        .command()
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

/// Runs a command that must succeed; returns its standard output.
fn ok(site: &Site, args: &[&str]) -> String {
    let output = cli(site, args);
    assert!(
        output.status.success(),
        "hygie-collector {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Every history row as (id, mac, seen_at, received_at, agent), in id order.
fn rows(database: &Path) -> Vec<(i64, i64, i64, i64, i64)> {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut statement = connection
        .prepare("SELECT id, mac, seen_at, received_at, agent_id FROM observations ORDER BY id")
        .unwrap();
    statement
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every event as (id, hash), in id order.
fn event_hashes(database: &Path) -> Vec<(i64, String)> {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut statement = connection
        .prepare("SELECT id, hash FROM events ORDER BY id")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The highest committed sequence of every outbox.
fn cursors(database: &Path) -> Vec<(i64, Vec<u8>, i64)> {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut statement = connection
        .prepare("SELECT agent_id, outbox_id, sequence FROM outbox_cursors ORDER BY 1, 2")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_second_serve_on_the_same_data_directory_refuses_and_cli_writes_still_work() {
    let mut site = Site::new("");
    site.collector.start().unwrap();
    let first = site.collector.pid().unwrap();

    let mut second = site
        .collector
        .command()
        .unwrap()
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        matches!(second.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = second.kill();
    }
    let output = second.wait_with_output().unwrap();
    assert!(exited, "the second serve kept running");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("already using the data directory"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("PID {first}")), "{stderr}");
    assert!(
        stderr.contains("serve"),
        "the holder's command line: {stderr}"
    );
    assert!(site.collector.is_running());

    // Commands that write the database go on working beside the server.
    ok(
        &site,
        &["approve", "00:09:5c:11:22:01", "--name", "monitor"],
    );
    let out = site.path("ward-9");
    ok(
        &site,
        &[
            "ca",
            "issue-agent",
            "--name",
            "ward-9",
            "--site",
            "chu-test",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&site, &["ca", "list", "--format", "json"])).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "ward-9");
    assert_eq!(listed[0]["status"], "valid");
    ok(
        &site,
        &["ca", "revoke", "--name", "ward-9", "--reason", "test"],
    );
    ok(&site, &["verify", "--events"]);
    assert!(site.collector.is_running());
}

#[test]
fn a_backup_taken_during_ingest_restores_exactly_what_was_committed_when_it_was_taken() {
    const CHUNKS: u32 = 12;
    const PER_CHUNK: u32 = 250;
    let total = u64::from(CHUNKS * PER_CHUNK);
    let mut site = Site::new("");
    site.collector.start().unwrap();
    let file = site.path("observations.jsonl");
    std::fs::write(&file, "").unwrap();
    let mut agent = site.agent("ward-3", vec![(file.clone(), true)]);
    let producer = std::thread::spawn(move || {
        for chunk in 0..CHUNKS {
            append_jsonl(&file, &devices(chunk * PER_CHUNK, PER_CHUNK, start())).unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
    });

    // Mid-ingest: some batches committed, more on their way.
    site.wait_for_history(500, Duration::from_secs(60), &agent);
    let backup = site.path("backup.sqlite");
    let before = site.collector.history_len();
    let said = ok(&site, &["backup", backup.to_str().unwrap()]);
    let after = site.collector.history_len();
    assert!(said.contains("integrity OK"), "{said}");
    let backed_up = SqliteStore::open_reader(&backup)
        .unwrap()
        .history_len()
        .unwrap();
    assert!(
        before <= backed_up && backed_up <= after,
        "the backup holds {backed_up} observations, taken between {before} and {after}"
    );
    assert!(
        backed_up < total,
        "the backup was taken before ingest ended"
    );
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&backup).unwrap().permissions())
            & 0o777,
        0o600
    );

    // Ingest went on: everything arrives.
    producer.join().unwrap();
    site.wait_for_history(total, Duration::from_secs(60), &agent);

    // Restore is refused while the collector serves.
    let refused = cli(&site, &["restore", backup.to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("already using the data directory"),
        "{stderr}"
    );

    agent.stop();
    site.collector.stop();
    let database = site.collector.database();
    let live_rows = rows(&database);
    let live_events = event_hashes(&database);
    let live_cursors = cursors(&database);
    assert_eq!(live_rows.len() as u64, total);

    let said = ok(&site, &["restore", backup.to_str().unwrap()]);
    assert!(said.contains("event chain OK"), "{said}");
    site.collector.start().unwrap();
    let verified = ok(&site, &["verify", "--events"]);
    assert!(verified.contains("event chain: OK"), "{verified}");

    // Exactly the observations committed when the backup was taken: a prefix of the live
    // history (ids grow with commits, and a commit is all or nothing), identical row for row,
    // none twice.
    let restored = rows(&database);
    assert_eq!(restored.len() as u64, backed_up);
    assert_eq!(restored[..], live_rows[..restored.len()]);
    let mut pairs: Vec<(i64, i64)> = restored.iter().map(|row| (row.1, row.2)).collect();
    pairs.sort_unstable();
    pairs.dedup();
    assert_eq!(pairs.len(), restored.len(), "no observation twice");
    // The inventory agrees with that history, and the event chain is a prefix of the live one.
    let snapshot = site.collector.snapshot().unwrap();
    assert_eq!(snapshot.inventory.len(), restored.len());
    let events = event_hashes(&database);
    assert!(!events.is_empty());
    assert_eq!(events[..], live_events[..events.len()]);
    // The outbox cursors are those of that moment, not later ones.
    let restored_cursors = cursors(&database);
    assert_eq!(restored_cursors.len(), live_cursors.len());
    for (restored, live) in restored_cursors.iter().zip(&live_cursors) {
        assert_eq!((restored.0, &restored.1), (live.0, &live.1));
        assert!(restored.2 < live.2, "{restored:?} vs {live:?}");
    }
    // Once agents resend what a restored collector lost (being built in the agent), the
    // history must come back to `total` rows here, each (mac, seen_at) once.
}
