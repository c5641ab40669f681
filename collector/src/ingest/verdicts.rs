//! What the writer keeps to store verdicts (see [`crate::inventory::verdict`]): which devices
//! need theirs rewritten, and the background recomputation when the rules or flag windows
//! changed. Pure: the writer commits what this hands out, and tells it what was committed.

use std::collections::{BTreeSet, HashMap};

use hygie_proto::MacAddr;

use crate::classify::Rules;
use crate::inventory::flags::FlagSet;
use crate::inventory::verdict::{self, RECOMPUTE_SLICE, Recomputing, Verdict, VerdictState};
use crate::inventory::{Dirty, Inventory};
use crate::registry::RegistryEntry;
use crate::store::RegistrySnapshot;

/// Verdict rows to commit, and the state to record with them.
#[derive(Debug, Default)]
pub(super) struct VerdictRows {
    /// New or changed verdicts.
    pub(super) verdicts: Vec<Verdict>,
    /// Devices no longer listed.
    pub(super) removed: Vec<MacAddr>,
    /// The state once these are committed, when it changes.
    pub(super) state: Option<VerdictState>,
}

impl VerdictRows {
    /// True when nothing is to be written.
    pub(super) fn is_empty(&self) -> bool {
        self.verdicts.is_empty() && self.removed.is_empty() && self.state.is_none()
    }
}

/// The writer's verdict keeping.
#[derive(Debug)]
pub(super) struct Verdicts {
    digest: String,
    state: VerdictState,
    /// Devices whose verdict must be rewritten at the next commit (registry changes).
    pending: BTreeSet<MacAddr>,
    /// Devices still to recompute, in descending MAC order (the next is last).
    remaining: Vec<MacAddr>,
}

impl Verdicts {
    /// Starts from the stored `state`: when it was computed with other rules or windows, every
    /// device after its progress is to be recomputed (Invariant 3 of the verdict module); when
    /// the registry changed since, every registered device is rewritten at the next commit.
    pub(super) fn new(
        state: VerdictState,
        rules: &Rules,
        flag_rules: &crate::inventory::flags::FlagRules,
        inventory: &Inventory,
        registry: &RegistrySnapshot,
    ) -> Self {
        let digest = verdict::digest(rules, flag_rules);
        let mut keeper = Verdicts {
            digest,
            state,
            pending: BTreeSet::new(),
            remaining: Vec::new(),
        };
        if keeper.state.registry_generation != registry.generation {
            keeper.pending.extend(registry.entries.keys().copied());
        }
        if !keeper.state.is_current(&keeper.digest) {
            let done_through = match &keeper.state.recomputing {
                Some(recomputing) if recomputing.digest == keeper.digest => {
                    recomputing.done_through
                }
                _ => None,
            };
            let mut all: Vec<MacAddr> = inventory
                .assets()
                .map(|asset| asset.mac)
                .chain(registry.entries.keys().copied())
                .filter(|mac| done_through.is_none_or(|done| *mac > done))
                .collect();
            all.sort_unstable_by(|a, b| b.cmp(a));
            all.dedup();
            keeper.remaining = all;
            keeper.state.recomputing = Some(Recomputing {
                digest: keeper.digest.clone(),
                done_through,
            });
        }
        keeper
    }

    /// Whether a recomputation is under way.
    pub(super) fn recomputing(&self) -> bool {
        self.state.recomputing.is_some()
    }

    /// Notes the devices whose registry entry changed between `before` and `after`.
    pub(super) fn registry_changed(
        &mut self,
        before: &HashMap<MacAddr, RegistryEntry>,
        after: &HashMap<MacAddr, RegistryEntry>,
    ) {
        for (mac, entry) in after {
            if before.get(mac) != Some(entry) {
                self.pending.insert(*mac);
            }
        }
        for mac in before.keys() {
            if !after.contains_key(mac) {
                self.pending.insert(*mac);
            }
        }
    }

    /// The verdicts of the devices `dirty` and `unseen` name and of pending ones, computed
    /// now (Invariant 2).
    pub(super) fn rows(
        &mut self,
        dirty: &Dirty,
        unseen: &[(MacAddr, FlagSet)],
        inventory: &Inventory,
        registry: &RegistrySnapshot,
        rules: &Rules,
    ) -> VerdictRows {
        let mut macs: BTreeSet<MacAddr> = std::mem::take(&mut self.pending);
        macs.extend(dirty.verdicts.iter().copied());
        macs.extend(unseen.iter().map(|(mac, _)| *mac));
        let mut rows = compute(macs, inventory, registry, rules);
        if self.state.registry_generation != registry.generation {
            self.state.registry_generation = registry.generation;
            rows.state = Some(self.state.clone());
        }
        rows
    }

    /// The next slice of a recomputation, with the state recording its progress; `None` when
    /// none is under way.
    pub(super) fn slice(
        &mut self,
        inventory: &Inventory,
        registry: &RegistrySnapshot,
        rules: &Rules,
    ) -> Option<VerdictRows> {
        let recomputing = self.state.recomputing.as_mut()?;
        let take = self.remaining.len().min(RECOMPUTE_SLICE);
        let slice: Vec<MacAddr> = self.remaining.split_off(self.remaining.len() - take);
        if let Some(last) = slice.first() {
            recomputing.done_through = Some(*last);
        }
        if self.remaining.is_empty() {
            self.state.digest = Some(self.digest.clone());
            self.state.recomputing = None;
            tracing::info!("verdicts recomputed with the current rules and flag windows");
        }
        let mut rows = compute(slice, inventory, registry, rules);
        self.state.registry_generation = registry.generation;
        rows.state = Some(self.state.clone());
        Some(rows)
    }
}

/// The verdict of each device in `macs`, or its removal when it is neither seen nor registered.
fn compute(
    macs: impl IntoIterator<Item = MacAddr>,
    inventory: &Inventory,
    registry: &RegistrySnapshot,
    rules: &Rules,
) -> VerdictRows {
    let mut rows = VerdictRows::default();
    for mac in macs {
        let entry = registry.entries.get(&mac);
        match (inventory.get(&mac), entry) {
            (Some(asset), entry) => rows.verdicts.push(verdict::of_asset(asset, entry, rules)),
            (None, Some(entry)) => {
                let flags = registry.unseen_flags.get(&mac).copied().unwrap_or_default();
                rows.verdicts.push(verdict::of_unseen(entry, flags, rules));
            }
            (None, None) => rows.removed.push(mac),
        }
    }
    rows
}
