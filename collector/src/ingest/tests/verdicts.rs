//! The writer's verdict keeping (Invariants 2 and 3 of [`crate::inventory::verdict`]): the
//! background recomputation when the rules or flag windows change, and registry changes.

use std::collections::BTreeSet;
use std::time::Duration;

use super::*;
use crate::inventory::Dirty;
use crate::inventory::flags::FlagRules;
use crate::inventory::verdict::{self, RECOMPUTE_SLICE, VerdictState};
use crate::registry::{RegistryEntry, RegistryFields};

fn mac(n: u64) -> MacAddr {
    MacAddr::from_u64(0x0009_5c00_0000 + n)
}

/// An inventory of `count` assets, as a previous run left it.
fn inventory_of(count: u64) -> Inventory {
    let mut inventory = Inventory::new();
    let mut dirty = Dirty::default();
    for observation in batch(1, 0, count).observations {
        inventory.merge(1, &observation, &mut dirty);
    }
    inventory
}

/// The state of verdicts all computed with the writer's current rules and windows.
fn current_state() -> VerdictState {
    VerdictState {
        digest: Some(verdict::digest(
            &crate::classify::Rules::defaults().unwrap(),
            &FlagRules::default(),
        )),
        recomputing: None,
        registry_generation: 0,
    }
}

/// Waits until `done` holds of the shelf.
fn wait_for(store: &MemoryStore, done: impl Fn(&Shelf) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !done(&store.0.lock().unwrap()) {
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn entry(mac: MacAddr, name: &str) -> RegistryEntry {
    let at: Timestamp = "2026-11-20T10:00:00Z".parse().unwrap();
    RegistryEntry {
        mac,
        fields: RegistryFields {
            name: name.into(),
            ..RegistryFields::default()
        },
        registered_at: at,
        updated_at: at,
        source: "approve".into(),
    }
}

#[tokio::test]
async fn a_changed_digest_recomputes_every_verdict_in_slices_while_batches_flow() {
    let count = u64::try_from(2 * RECOMPUTE_SLICE + 10).unwrap();
    let store = MemoryStore::default();
    {
        let mut shelf = store.0.lock().unwrap();
        shelf.inventory = inventory_of(count);
        // Computed with other rules: every verdict is out of date.
        shelf.verdict_state = VerdictState {
            digest: Some("other rules".into()),
            ..VerdictState::default()
        };
    }
    let (ingest, writer) = start(&store);
    // Batches are taken between slices.
    let outcome = commit(&ingest, OUTBOX, batch(1, count, 2)).await.unwrap();
    assert_eq!(outcome.accepted, 2);
    wait_for(&store, |shelf| shelf.verdict_state == current_state());
    drop(ingest);
    writer.join();

    let shelf = store.0.lock().unwrap();
    let slices: Vec<&VerdictCommit> = shelf
        .verdict_commits
        .iter()
        .filter(|commit| {
            commit
                .state
                .as_ref()
                .is_some_and(|state| state.recomputing.is_some() || state.digest.is_some())
        })
        .filter(|commit| commit.written.len() > 2)
        .collect();
    assert_eq!(slices.len(), 3, "three slices of at most {RECOMPUTE_SLICE}");
    let mut recomputed = Vec::new();
    for slice in &slices {
        assert!(slice.written.len() <= RECOMPUTE_SLICE);
        // Slices go up in MAC order; the rows of one slice may come in any order.
        let mut macs: Vec<MacAddr> = slice.written.iter().map(|verdict| verdict.mac).collect();
        macs.sort_unstable();
        // Each slice records how far the recomputation got, so a restart resumes there.
        let state = slice.state.as_ref().unwrap();
        if let Some(recomputing) = &state.recomputing {
            assert_eq!(recomputing.done_through, macs.last().copied());
        }
        recomputed.extend(macs);
    }
    let expected: Vec<MacAddr> = (0..count).map(mac).collect();
    assert_eq!(
        recomputed, expected,
        "every stored asset once, in MAC order"
    );
    assert!(
        slices[..2]
            .iter()
            .all(|slice| { slice.state.as_ref().unwrap().recomputing.is_some() })
    );
    assert_eq!(slices[2].state.as_ref(), Some(&current_state()));
}

#[tokio::test]
async fn a_restart_resumes_the_recomputation_where_it_was_recorded() {
    let store = MemoryStore::default();
    let digest = current_state().digest.unwrap();
    {
        let mut shelf = store.0.lock().unwrap();
        shelf.inventory = inventory_of(20);
        shelf.verdict_state = VerdictState {
            digest: Some("other rules".into()),
            recomputing: Some(verdict::Recomputing {
                digest,
                done_through: Some(mac(14)),
            }),
            registry_generation: 0,
        };
    }
    let (ingest, writer) = start(&store);
    wait_for(&store, |shelf| shelf.verdict_state == current_state());
    drop(ingest);
    writer.join();
    let shelf = store.0.lock().unwrap();
    let recomputed: Vec<MacAddr> = shelf
        .verdict_commits
        .iter()
        .flat_map(|commit| commit.written.iter().map(|verdict| verdict.mac))
        .collect();
    let recomputed: BTreeSet<MacAddr> = recomputed.into_iter().collect();
    assert_eq!(recomputed, (15..20).map(mac).collect::<BTreeSet<_>>());
}

#[tokio::test]
async fn a_registry_change_rewrites_the_verdicts_of_the_devices_it_concerns() {
    let store = MemoryStore::default();
    store.0.lock().unwrap().verdict_state = current_state();
    let (ingest, writer) = start(&store);
    commit(&ingest, OUTBOX, batch(1, 0, 3)).await.unwrap();

    // The command line registers a seen device and one never seen.
    let unseen = mac(100);
    {
        let mut shelf = store.0.lock().unwrap();
        shelf
            .registry
            .entries
            .insert(mac(1), entry(mac(1), "pump 1"));
        shelf
            .registry
            .entries
            .insert(unseen, entry(unseen, "spare pump"));
        shelf.registry.generation = 1;
        shelf.verdict_commits.clear();
    }
    // The next group takes the registry in before it merges (a batch of an unrelated device).
    commit(&ingest, OUTBOX, batch(2, 50, 1)).await.unwrap();
    {
        let shelf = store.0.lock().unwrap();
        let written: BTreeSet<MacAddr> = shelf
            .verdict_commits
            .iter()
            .flat_map(|commit| commit.written.iter().map(|verdict| verdict.mac))
            .collect();
        assert_eq!(written, BTreeSet::from([mac(1), mac(50), unseen]));
        let verdicts: Vec<&verdict::Verdict> = shelf
            .verdict_commits
            .iter()
            .flat_map(|commit| &commit.written)
            .collect();
        let of = |wanted| {
            verdicts
                .iter()
                .find(|verdict| verdict.mac == wanted)
                .unwrap()
        };
        assert!(of(mac(1)).seen && of(mac(1)).search.contains("pump 1"));
        assert!(!of(unseen).seen && of(unseen).search.contains("spare pump"));
        assert_eq!(shelf.verdict_state.registry_generation, 1);
    }

    // Unregistering the device never seen removes its listing.
    {
        let mut shelf = store.0.lock().unwrap();
        shelf.registry.entries.remove(&unseen);
        shelf.registry.generation = 2;
        shelf.verdict_commits.clear();
    }
    commit(&ingest, OUTBOX, batch(3, 50, 1)).await.unwrap();
    {
        let shelf = store.0.lock().unwrap();
        let removed: Vec<MacAddr> = shelf
            .verdict_commits
            .iter()
            .flat_map(|commit| commit.removed.iter().copied())
            .collect();
        assert_eq!(removed, vec![unseen]);
        assert_eq!(shelf.verdict_state.registry_generation, 2);
    }
    drop(ingest);
    writer.join();
}
