//! The outbox on real SQLite files: ordering, acknowledgement, restarts, the size bound.

use std::path::Path;

use hygie_proto::{MacAddr, Observation, Source};

use super::*;

fn observations(count: u64, first: u64) -> Vec<Observation> {
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

fn macs(batch: &hygie_proto::pb::ObservationBatch) -> Vec<u64> {
    batch
        .observations
        .iter()
        .map(|o| MacAddr::from_slice(&o.mac).unwrap().to_u64() - 0x0009_5c00_0000)
        .collect()
}

#[test]
fn batches_are_formed_in_order_and_deleted_only_on_ack() {
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
