//! The background verdict recomputation (Invariant 3 of [`crate::inventory::verdict`]): one
//! slice between groups.

use hygie_proto::error_chain;

use super::Writer;
use crate::ingest::verdicts::VerdictRows;
use crate::inventory::Dirty;
use crate::store::{Commit, InventoryWriter};

impl<S: InventoryWriter> Writer<S> {
    /// Commits the next slice of a verdict recomputation, if one is under way (Invariant 3 of
    /// [`crate::inventory::verdict`]); on failure, reloads (which resumes from what was
    /// recorded).
    pub(super) fn recompute_slice(&mut self) {
        if self.needs_reload {
            return;
        }
        let Some(rows) = self
            .verdicts
            .slice(&self.core.inventory, &self.registry, &self.rules)
        else {
            return;
        };
        self.commit_verdicts(&rows);
    }

    pub(super) fn commit_verdicts(&mut self, rows: &VerdictRows) {
        let result = self.store.commit(&Commit {
            inventory: &self.core.inventory,
            dirty: &Dirty::default(),
            history: &[],
            cursors: &[],
            events: &[],
            unseen_flags: &[],
            policy_devices: &[],
            policy_sites: &[],
            verdicts: &rows.verdicts,
            verdicts_removed: &rows.removed,
            verdict_state: rows.state.as_ref(),
            now: (self.clock)(),
        });
        if let Err(error) = result {
            tracing::error!(error = %error_chain(&error), "cannot record recomputed verdicts");
            self.needs_reload = true;
            self.reload();
        }
    }
}
