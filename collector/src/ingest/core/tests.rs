//! The core's guarantees, one test each, without threads or a database.

use std::collections::HashMap;

use hygie_proto::{MacAddr, Observation, ObservationBatch, OutboxId, Source};
use jiff::Timestamp;

use super::*;
use crate::ingest::quota::{AssetQuotas, QuotaLimits};

const OUTBOX: OutboxId = OutboxId([7; 16]);

fn now() -> Timestamp {
    "2026-11-25T10:00:00Z".parse().unwrap()
}

fn batch(sequence: u64, first_mac: u64, count: u64) -> ObservationBatch {
    ObservationBatch {
        sequence,
        observations: (first_mac..first_mac + count)
            .map(|mac| {
                let octets = (0x0200_0000_0000u64 | mac).to_be_bytes();
                let mac = MacAddr::new(octets[2..].try_into().unwrap());
                Observation::new(mac, now(), Source::ArpPassive)
            })
            .collect(),
    }
}

fn submit(core: &mut Core, batches: &mut [ObservationBatch], fenced: bool) -> Staged {
    let mut submissions: Vec<Submission<'_>> = batches
        .iter_mut()
        .map(|batch| Submission {
            agent: 1,
            outbox: OUTBOX,
            fenced,
            batch,
            received_at: now(),
        })
        .collect();
    core.stage(&mut submissions)
}

fn applied(accepted: u32) -> Decision {
    Decision::Applied {
        accepted,
        refused_new_assets: 0,
        clamped: 0,
    }
}

#[test]
fn a_committed_batch_sent_again_is_a_duplicate_and_changes_nothing() {
    let mut core = Core::default();
    let staged = submit(&mut core, &mut [batch(1, 0, 3)], false);
    assert_eq!(staged.decisions, vec![applied(3)]);
    core.committed(staged.advanced);
    let before = core.inventory.clone();
    let staged = submit(&mut core, &mut [batch(1, 10, 3)], false);
    assert_eq!(staged.decisions, vec![Decision::Duplicate]);
    assert!(staged.dirty.is_empty());
    assert_eq!(core.inventory, before);
}

#[test]
fn the_same_batch_twice_in_one_group_is_applied_once() {
    let mut core = Core::default();
    let staged = submit(&mut core, &mut [batch(1, 0, 3), batch(1, 0, 3)], false);
    assert_eq!(staged.decisions, vec![applied(3), Decision::Duplicate]);
}

#[test]
fn a_batch_that_fills_a_gap_is_applied_not_taken_for_a_duplicate() {
    let mut core = Core::default();
    let staged = submit(&mut core, &mut [batch(1, 0, 1), batch(4, 1, 1)], false);
    core.committed(staged.advanced);
    let staged = submit(&mut core, &mut [batch(2, 2, 1)], false);
    assert_eq!(staged.decisions, vec![applied(1)], "2 was never committed");
    core.committed(staged.advanced);
    assert_eq!(core.cursor(&(1, OUTBOX)).unwrap().to_string(), "3-3");
    assert_eq!(core.inventory.len(), 3);
}

#[test]
fn a_fenced_session_applies_nothing() {
    let mut core = Core::default();
    let staged = submit(&mut core, &mut [batch(1, 0, 3)], true);
    assert_eq!(staged.decisions, vec![Decision::Fenced]);
    assert!(core.inventory.is_empty());
    assert!(staged.advanced.is_empty());
}

#[test]
fn cursors_move_only_once_the_group_is_committed() {
    let mut core = Core::default();
    let staged = submit(&mut core, &mut [batch(1, 0, 3)], false);
    assert!(core.cursor(&(1, OUTBOX)).is_none(), "not before the commit");
    // The commit failed: the writer drops `staged` and reloads; the batch is new again.
    drop(staged);
    let mut reloaded = Core::default();
    let staged = submit(&mut reloaded, &mut [batch(1, 0, 3)], false);
    assert_eq!(staged.decisions, vec![applied(3)]);
}

#[test]
fn new_assets_beyond_the_quota_are_dropped_and_known_ones_kept() {
    let mut core = Core {
        quotas: AssetQuotas::new(
            QuotaLimits {
                new_assets_per_agent_per_hour: 4,
                assets_per_agent: 100,
                assets_per_site: 100,
            },
            &Inventory::new(),
            HashMap::from([(1, "chu".to_owned())]),
        ),
        ..Core::default()
    };
    let staged = submit(&mut core, &mut [batch(1, 0, 3)], false);
    core.committed(staged.advanced);
    // Three known assets and five new ones: one more fits the hourly quota.
    let mut batches = [batch(2, 0, 8)];
    let staged = submit(&mut core, &mut batches, false);
    assert_eq!(
        staged.decisions,
        vec![Decision::Applied {
            accepted: 4,
            refused_new_assets: 4,
            clamped: 0
        }]
    );
    assert_eq!(
        batches[0].observations.len(),
        4,
        "refused ones leave the batch (and the history)"
    );
    assert_eq!(core.inventory.len(), 4);
    assert_eq!(staged.refusals[&1].0, 4);
}

#[test]
fn implausible_times_are_stamped_on_arrival() {
    let mut core = Core::default();
    let mut future = batch(1, 0, 2);
    future.observations[0].seen_at = now() + jiff::SignedDuration::from_hours(3);
    future.observations[1].seen_at = Timestamp::UNIX_EPOCH;
    let mut batches = [future];
    let staged = submit(&mut core, &mut batches, false);
    assert_eq!(
        staged.decisions,
        vec![Decision::Applied {
            accepted: 2,
            refused_new_assets: 0,
            clamped: 2
        }]
    );
    assert!(batches[0].observations.iter().all(|o| o.seen_at == now()));
}
