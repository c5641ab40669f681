//! The outbox on real SQLite files: ordering, acknowledgement, restarts, retention, file modes.
//! The size bound, full disks and unusable files have their own modules.

use std::path::Path;
use std::time::Duration;

use hygie_proto::{MacAddr, Observation, Source};

use super::*;

pub(super) fn observations(count: u64, first: u64) -> Vec<Observation> {
    (first..first + count)
        .map(|n| {
            let mut observation = Observation::new(
                MacAddr::from_u64(0x0009_5c00_0000 + n),
                "2026-11-25T10:00:00Z".parse().unwrap(),
                Source::Manual,
            );
            observation.hostname = Some(format!("device-{n}"));
            observation
        })
        .collect()
}

fn open(path: &Path) -> Outbox {
    Outbox::open(path, 1024 * 1024).unwrap()
}

pub(super) fn macs(batch: &hygie_proto::pb::ObservationBatch) -> Vec<u64> {
    batch
        .observations
        .iter()
        .map(|o| MacAddr::from_slice(&o.mac).unwrap().to_u64() - 0x0009_5c00_0000)
        .collect()
}

#[test]
fn batches_are_formed_in_order_and_leave_the_queue_on_ack() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open(&dir.path().join("outbox.sqlite"));
    outbox.append(&observations(5, 0), &[]).unwrap();

    let first = outbox.form_batch(2, u64::MAX).unwrap().unwrap();
    let second = outbox.form_batch(2, u64::MAX).unwrap().unwrap();
    let third = outbox.form_batch(2, u64::MAX).unwrap().unwrap();
    assert_eq!((first.sequence, second.sequence, third.sequence), (1, 2, 3));
    assert_eq!(third.observations, 1);
    assert_eq!(
        outbox.form_batch(2, u64::MAX).unwrap(),
        None,
        "nothing left to batch"
    );

    assert_eq!(macs(&outbox.load(2).unwrap().unwrap()), [2, 3]);
    outbox.ack(1).unwrap();
    assert_eq!(outbox.load(1).unwrap(), None);
    assert_eq!(outbox.unacked().unwrap(), vec![second, third]);
    assert_eq!(outbox.stats().unwrap().observations, 3);
}

#[test]
fn a_restart_resends_the_same_batches_with_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = open(&path);
    let id = outbox.id();
    outbox.append(&observations(4, 0), &[]).unwrap();
    outbox.form_batch(3, u64::MAX).unwrap();
    let before = outbox.load(1).unwrap();
    drop(outbox);

    let mut outbox = open(&path);
    assert_eq!(outbox.id(), id);
    assert_eq!(
        outbox.load(1).unwrap(),
        before,
        "a formed batch never changes"
    );
    assert_eq!(outbox.unacked().unwrap().len(), 1);
    let next = outbox.form_batch(3, u64::MAX).unwrap().unwrap();
    assert_eq!((next.sequence, next.observations), (2, 1));
}

#[test]
fn sequences_continue_after_everything_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = open(&path);
    outbox.append(&observations(2, 0), &[]).unwrap();
    let first = outbox.form_batch(10, u64::MAX).unwrap().unwrap();
    outbox.ack(first.sequence).unwrap();
    drop(outbox);

    let mut outbox = open(&path);
    outbox.append(&observations(1, 10), &[]).unwrap();
    let next = outbox.form_batch(10, u64::MAX).unwrap().unwrap();
    assert_eq!(next.sequence, 2, "a sequence is never reused");
    assert_eq!(macs(&outbox.load(2).unwrap().unwrap()), [10]);
}

#[test]
fn a_new_file_is_a_new_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir.path().join("a.sqlite"));
    let b = open(&dir.path().join("b.sqlite"));
    assert_ne!(a.id(), b.id());
}

#[test]
fn source_positions_commit_with_their_observations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = open(&path);
    assert_eq!(outbox.source_position("file:/x").unwrap(), None);
    let position = SourcePosition {
        source: "file:/x".into(),
        inode: 42,
        offset: 120,
        line: 3,
    };
    outbox
        .append(&observations(1, 0), std::slice::from_ref(&position))
        .unwrap();
    drop(outbox);
    assert_eq!(
        open(&path).source_position("file:/x").unwrap(),
        Some(position)
    );
}

#[test]
fn a_full_outbox_evicts_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(&dir.path().join("outbox.sqlite"), 4096).unwrap();
    let mut evicted = 0;
    for round in 0..40 {
        evicted += outbox
            .append(&observations(10, round * 10), &[])
            .unwrap()
            .evicted;
        if round % 5 == 0 {
            outbox.form_batch(10, u64::MAX).unwrap();
        }
    }
    let stats = outbox.stats().unwrap();
    assert!(evicted > 0);
    assert_eq!(stats.evicted_total, evicted);
    assert!(stats.bytes <= 4096, "{stats:?}");
    assert_eq!(
        stats.observations + evicted,
        400,
        "every observation is stored or counted"
    );
    // The newest observation survived.
    while let Some(batch) = outbox.form_batch(1000, u64::MAX).unwrap() {
        if batch.last_id > 0 {
            let loaded = outbox.load(batch.sequence).unwrap().unwrap();
            assert_eq!(macs(&loaded).last(), Some(&399));
        }
    }
}

#[test]
fn a_refused_batch_is_set_aside_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open(&dir.path().join("outbox.sqlite"));
    outbox.append(&observations(3, 0), &[]).unwrap();
    outbox.form_batch(2, u64::MAX).unwrap();
    outbox.form_batch(2, u64::MAX).unwrap();
    outbox.set_aside(1, "observations[0].mac: ...").unwrap();
    let stats = outbox.stats().unwrap();
    assert_eq!(
        (stats.set_aside, stats.batches, stats.observations),
        (1, 1, 1)
    );
    assert_eq!(outbox.unacked().unwrap()[0].sequence, 2);
}

#[test]
fn batches_are_capped_in_bytes_but_hold_at_least_one_observation() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open(&dir.path().join("outbox.sqlite"));
    outbox.append(&observations(10, 0), &[]).unwrap();
    let one_size = outbox.stats().unwrap().bytes / 10;
    let batch = outbox.form_batch(100, one_size * 3).unwrap().unwrap();
    assert_eq!(batch.observations, 3);
    let tiny = outbox.form_batch(100, 1).unwrap().unwrap();
    assert_eq!(
        tiny.observations, 1,
        "an observation larger than the cap still goes alone"
    );
}

#[test]
fn a_second_process_cannot_open_the_same_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let first = open(&path);
    assert!(matches!(
        Outbox::open(&path, 1024 * 1024),
        Err(OutboxError::Locked { .. })
    ));
    // Looking at it read-only is fine, and creates nothing.
    assert_eq!(Outbox::open_read_only(&path).unwrap().id(), first.id());
    assert!(matches!(
        Outbox::open_read_only(&dir.path().join("absent.sqlite")),
        Err(OutboxError::Missing(_))
    ));
    drop(first);
    assert!(Outbox::open(&path, 1024 * 1024).is_ok());
}

#[test]
fn a_renewed_id_keeps_what_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = open(&path);
    outbox.append(&observations(2, 0), &[]).unwrap();
    outbox.form_batch(1, u64::MAX).unwrap();
    let old = outbox.id();
    let new = outbox.renew_id().unwrap();
    assert_ne!(old, new);
    assert_eq!(outbox.last_sequence().unwrap(), 1);
    drop(outbox);
    let outbox = open(&path);
    assert_eq!(outbox.id(), new);
    assert_eq!(outbox.stats().unwrap().observations, 2);
}

#[test]
fn set_aside_batches_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(&dir.path().join("outbox.sqlite"), 64 * 1024 * 1024).unwrap();
    let total = MAX_SET_ASIDE + 5;
    outbox.append(&observations(total, 0), &[]).unwrap();
    for _ in 0..total {
        let batch = outbox.form_batch(1, u64::MAX).unwrap().unwrap();
        outbox.set_aside(batch.sequence, "refused").unwrap();
    }
    assert_eq!(outbox.stats().unwrap().set_aside, MAX_SET_ASIDE);
}

fn open_keeping(path: &Path, keep_acked: std::time::Duration) -> Outbox {
    Outbox::open_with(
        path,
        OutboxLimits {
            max_bytes: 1024 * 1024,
            keep_acked,
        },
    )
    .unwrap()
}

/// Forms `count` batches of `size` observations and returns what each would send.
fn form(outbox: &mut Outbox, count: u64, size: usize) -> Vec<hygie_proto::pb::ObservationBatch> {
    outbox
        .append(&observations(count * size as u64, 0), &[])
        .unwrap();
    (0..count)
        .map(|_| {
            let span = outbox.form_batch(size, u64::MAX).unwrap().unwrap();
            outbox.load(span.sequence).unwrap().unwrap()
        })
        .collect()
}

#[test]
fn invariant_3_acknowledged_batches_are_kept_for_keep_acked_then_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open_keeping(&dir.path().join("outbox.sqlite"), Duration::from_secs(3600));
    form(&mut outbox, 3, 2);
    outbox.ack(1).unwrap();
    outbox.ack(2).unwrap();
    let stats = outbox.stats().unwrap();
    assert_eq!(
        (
            stats.observations,
            stats.batches,
            stats.acked_batches,
            stats.acked_observations
        ),
        (2, 1, 2, 4),
        "kept, counted apart from what waits"
    );
    assert_eq!(
        outbox.load(1).unwrap(),
        None,
        "an acknowledged batch is not sent"
    );
    assert_eq!(outbox.unacked().unwrap()[0].sequence, 3);

    // An hour later the next acknowledgement takes the expired ones away, rows and all.
    outbox.clock_skew = Duration::from_secs(3601);
    outbox.ack(3).unwrap();
    let stats = outbox.stats().unwrap();
    assert_eq!((stats.acked_batches, stats.acked_observations), (1, 2));
    outbox.clock_skew = Duration::from_secs(7300);
    outbox.append(&observations(1, 100), &[]).unwrap();
    let stats = outbox.stats().unwrap();
    assert_eq!(
        (stats.acked_batches, stats.observations, stats.bytes > 0),
        (0, 1, true),
        "an append expires them too"
    );
}

#[test]
fn invariant_3_keep_acked_zero_deletes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open_keeping(&dir.path().join("outbox.sqlite"), Duration::ZERO);
    form(&mut outbox, 2, 3);
    outbox.ack(1).unwrap();
    let stats = outbox.stats().unwrap();
    assert_eq!((stats.acked_batches, stats.observations), (0, 3));
    assert_eq!(outbox.reopen_after(0).unwrap(), 0, "nothing kept to reopen");
}

#[test]
fn invariants_2_4_11_reopened_batches_are_resent_unchanged_and_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = open_keeping(&path, Duration::from_secs(3600));
    let sent = form(&mut outbox, 5, 2);
    for sequence in 1..=4 {
        outbox.ack(sequence).unwrap();
    }
    assert_eq!(outbox.highest_acked().unwrap(), 4);
    drop(outbox);

    // The collector comes back from a backup that had committed batch 2 only.
    let mut outbox = open_keeping(&path, Duration::from_secs(3600));
    assert_eq!(outbox.reopen_after(2).unwrap(), 2);
    assert_eq!(outbox.highest_acked().unwrap(), 2);
    // Invariant 4: 3 and 4 go again before 5, oldest first; Invariant 2: byte for byte.
    let again: Vec<u64> = outbox
        .unacked()
        .unwrap()
        .iter()
        .map(|span| span.sequence)
        .collect();
    assert_eq!(again, [3, 4, 5]);
    for batch in &sent[2..] {
        assert_eq!(outbox.load(batch.sequence).unwrap().as_ref(), Some(batch));
    }
    // New batches still take new sequences.
    outbox.append(&observations(1, 50), &[]).unwrap();
    assert_eq!(
        outbox.form_batch(10, u64::MAX).unwrap().unwrap().sequence,
        6
    );
    assert_eq!(
        outbox.reopen_after(2).unwrap(),
        0,
        "reopening twice changes nothing"
    );
}

#[test]
fn invariant_11_batches_no_longer_kept_are_not_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open_keeping(&dir.path().join("outbox.sqlite"), Duration::from_secs(60));
    form(&mut outbox, 3, 1);
    outbox.ack(1).unwrap();
    outbox.ack(2).unwrap();
    outbox.clock_skew = Duration::from_secs(61);
    outbox.ack(3).unwrap(); // expires 1 and 2
    assert_eq!(
        outbox.reopen_after(0).unwrap(),
        1,
        "only batch 3 is still kept"
    );
    assert_eq!(outbox.unacked().unwrap()[0].sequence, 3);
}

#[test]
fn invariants_5_11_a_renewed_id_forgets_the_batches_acknowledged_under_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open_keeping(&dir.path().join("outbox.sqlite"), Duration::from_secs(3600));
    form(&mut outbox, 3, 1);
    outbox.ack(1).unwrap();
    outbox.ack(2).unwrap();
    outbox.renew_id().unwrap();
    // A collector that never saw the new id must not be sent batches 1 and 2 again.
    assert_eq!(outbox.highest_acked().unwrap(), 0);
    assert_eq!(outbox.reopen_after(0).unwrap(), 0);
    let unacked: Vec<u64> = outbox
        .unacked()
        .unwrap()
        .iter()
        .map(|span| span.sequence)
        .collect();
    assert_eq!(
        unacked,
        [3],
        "the unacknowledged batch goes under the new id"
    );
}

#[test]
fn set_aside_batches_are_kept_in_place_and_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = open(&path);
    form(&mut outbox, 2, 2);
    outbox.set_aside(1, "observations[0].mac: ...").unwrap();
    drop(outbox);
    let mut outbox = open(&path);
    assert_eq!(outbox.load(1).unwrap(), None);
    assert_eq!(
        outbox.reopen_after(0).unwrap(),
        0,
        "a refused batch is not reopened"
    );
    let stats = outbox.stats().unwrap();
    assert_eq!(
        (stats.set_aside, stats.observations, stats.batches),
        (1, 2, 1)
    );
}

/// Restores the umask when dropped, even if the test fails.
struct Umask(nix::sys::stat::Mode);

impl Drop for Umask {
    fn drop(&mut self) {
        nix::sys::stat::umask(self.0);
    }
}

#[test]
fn invariant_6_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("var/hygie/outbox.sqlite");
    let _restore = Umask(nix::sys::stat::umask(nix::sys::stat::Mode::empty()));
    let mut outbox = open(&path);
    outbox.append(&observations(3, 0), &[]).unwrap();
    for suffix in ["", "-wal", "-shm", ".lock", ".reserve"] {
        let file = space::sibling(&path, suffix);
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(&dir.path().join("var")), 0o700);
    assert_eq!(mode(&dir.path().join("var/hygie")), 0o700);
    drop(outbox);

    // Files an older agent left readable are made private again.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _outbox = open(&path);
    assert_eq!(mode(&path), 0o600);
}

/// The layout of the first agent version: no batch states, refused batches copied out.
const VERSION_1: &str = r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE pending (id INTEGER PRIMARY KEY AUTOINCREMENT, payload BLOB NOT NULL);
    CREATE TABLE batches (sequence INTEGER PRIMARY KEY, first_id INTEGER NOT NULL,
        last_id INTEGER NOT NULL, observations INTEGER NOT NULL);
    CREATE TABLE source_positions (source TEXT PRIMARY KEY, inode INTEGER NOT NULL,
        position INTEGER NOT NULL, line INTEGER NOT NULL);
    CREATE TABLE set_aside (sequence INTEGER PRIMARY KEY, reason TEXT NOT NULL,
        set_aside_at TEXT NOT NULL, payloads BLOB NOT NULL);
    INSERT INTO meta VALUES ('outbox_id', x'000102030405060708090a0b0c0d0e0f');
    INSERT INTO pending (payload) VALUES (x'0a06000000000001'), (x'0a06000000000002');
    INSERT INTO batches VALUES (1, 1, 1, 1);
    INSERT INTO set_aside VALUES (7, 'refused', '2026-01-01T00:00:00Z', x'');
"#;

#[test]
fn an_outbox_of_the_first_layout_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(VERSION_1)
        .unwrap();
    let outbox = open(&path);
    assert_eq!(outbox.id().0, std::array::from_fn(|n| n as u8));
    assert_eq!(outbox.unacked().unwrap()[0].sequence, 1);
    let stats = outbox.stats().unwrap();
    assert_eq!(
        (stats.observations, stats.batches, stats.set_aside),
        (2, 1, 1)
    );
    assert_eq!(outbox.unbatched().unwrap(), 1);
}
