//! A collector restored from a backup taken mid-ingest: the agents, still running, send again
//! what the restored collector lost (they keep acknowledged batches for `outbox.keep_acked`,
//! Invariant 11 of the outbox), and the history comes back to every produced observation, once.

use std::time::{Duration, Instant};

use hygie_collector::store::{InventoryReader, SqliteStore};
use hygie_tests::observations::devices;
use jiff::Timestamp;

use crate::fleet::{Fleet, tail};
use crate::site::Site;

fn start() -> Timestamp {
    "2026-11-25T08:00:00Z".parse().unwrap()
}

/// Runs `hygie-collector ARGS`, which must succeed; returns its output.
fn ok(site: &Site, args: &[&str]) -> String {
    let output = site
        .collector
        .command()
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hygie-collector {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn agents_resend_what_a_collector_restored_from_a_backup_lost() {
    const CHUNKS: u32 = 12;
    const PER_CHUNK: u32 = 250;
    let began = Instant::now();
    let mut site = Site::new("");
    site.collector.start().unwrap();
    let mut fleet = Fleet::start(&site, &["ward-1", "ward-2"], |_| {});
    let backup = site.path("backup.sqlite");
    let mut backed_up = None;
    for chunk in 0..CHUNKS {
        fleet.append(0, &devices(chunk * PER_CHUNK, PER_CHUNK, start()));
        // ward-2: half the same devices, at the same moments.
        fleet.append(
            1,
            &devices(chunk * PER_CHUNK + PER_CHUNK / 2, PER_CHUNK, start()),
        );
        std::thread::sleep(Duration::from_millis(150));
        // Mid-ingest: some batches committed, more on their way.
        if backed_up.is_none() && site.collector.history_len() >= 1000 {
            let said = ok(&site, &["backup", backup.to_str().unwrap()]);
            assert!(said.contains("integrity OK"), "{said}");
            backed_up = Some(
                SqliteStore::open_reader(&backup)
                    .unwrap()
                    .history_len()
                    .unwrap(),
            );
        }
    }
    let backed_up = backed_up.expect("the backup was taken during ingest");
    let delivered = fleet.wait_delivered(&site.collector, Duration::from_secs(60));
    assert!(
        delivered,
        "before the restore\n{}",
        fleet.logs(&site.collector)
    );
    let before = fleet.tally("before the restore", &site.collector);
    before.assert_exact(|| fleet.logs(&site.collector));

    // The collector's disk is lost; it comes back from the backup. The agents run throughout.
    site.collector.stop();
    let said = ok(&site, &["restore", backup.to_str().unwrap()]);
    assert!(said.contains("event chain OK"), "{said}");
    let restored = site.collector.history_len();
    assert_eq!(restored, backed_up);
    let lost = fleet.total() - restored;
    assert!(lost > 0, "the backup was taken before ingest ended");
    let log_at_restore: Vec<usize> = fleet
        .members
        .iter()
        .map(|member| member.agent.log().len())
        .collect();
    site.collector.start().unwrap();

    // The agents reconnect, learn the collector's lower cursors and resend from there.
    let caught_up =
        hygie_tests::wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
            site.collector.history_len() >= fleet.total()
                && fleet
                    .cursors(&site.collector)
                    .iter()
                    .all(|(_, ours, theirs)| *theirs == Some(*ours))
        });
    std::thread::sleep(Duration::from_millis(500));
    let cursors = fleet.cursors(&site.collector);
    let reconnected: Vec<String> = fleet
        .members
        .iter()
        .zip(&log_at_restore)
        .map(|(member, at)| {
            let since = &member.agent.log()[*at..];
            format!(
                "{}: {} reconnections, {} resends",
                member.name,
                since.matches("connected to the collector").count(),
                since.matches("resending unacknowledged batches").count()
            )
        })
        .collect();
    let tally = fleet
        .tally("restored from a backup taken mid-ingest", &site.collector)
        .figure("history in the backup", backed_up)
        .figure("lost by the restore", lost)
        .figure(
            "cursors (agent, outbox last, collector)",
            format!("{cursors:?}"),
        )
        .figure("agents since the restore", reconnected.join("; "))
        .figure("took", format!("{:.1?}", began.elapsed()));
    tally.assert_exact(|| {
        format!(
            "(the agents must call Outbox::reopen_after when the Welcome reports a lower \
             committed sequence than they had acknowledged)\n{}",
            fleet.logs(&site.collector)
        )
    });
    assert!(caught_up, "cursors {cursors:?}");
    let verified = ok(&site, &["verify", "--events"]);
    assert!(verified.contains("event chain: OK"), "{verified}");
    let snapshot = site.collector.snapshot().unwrap();
    let assets: std::collections::BTreeSet<_> =
        snapshot.inventory.assets().map(|asset| asset.mac).collect();
    assert_eq!(assets, fleet.macs(), "{}", tail(&site.collector.log()));
}
