//! The writer's decisions, without threads or a database: for each batch of a group, whether
//! it is applied, a duplicate or fenced; which of its observations may create assets; and what
//! the cursors become once the group is committed.
//!
//! The writer drives it in three steps around the one I/O it does:
//! 1. [`Core::stage`] decides and merges the group into the in-memory inventory;
//! 2. the writer persists the staged group in one transaction;
//! 3. [`Core::committed`] advances the cursors — or, if the commit failed, the writer reloads
//!    the whole core from the database, since the inventory is then ahead of it.
//!
//! Guarantees, each tested in `core/tests.rs`:
//! - a batch whose sequence was committed is acknowledged as a duplicate and changes nothing;
//! - a batch in a gap of its cursor (never committed) is applied; see [`crate::cursor`];
//! - a batch of a fenced session is refused and changes nothing;
//! - cursors advance only through [`Core::committed`], so a failed commit leaves every batch of
//!   its group unacknowledged and resendable;
//! - an observation that would create an asset beyond its agent's or site's quota is dropped
//!   from the batch before merging (so it enters neither the inventory nor the history) and
//!   counted in the Ack; observations of known assets are never refused.

use std::collections::HashMap;

use hygie_proto::{ObservationBatch, OutboxId};
use jiff::{SignedDuration, Timestamp};

use super::quota::{AssetQuotas, QuotaExceeded};
use crate::cursor::CommittedSequences;
use crate::inventory::{AgentId, Dirty, Inventory};

/// Observations dated further in the future than this (agent clock ahead) are clamped to the
/// time of arrival, so a wrong clock cannot push `last_seen` into the future.
pub const MAX_CLOCK_AHEAD: SignedDuration = SignedDuration::from_mins(5);

/// Observations dated before this (a clock reset to 1970, a corrupt capture) are clamped to the
/// time of arrival too: nothing on a hospital network was first seen before 1990.
pub const EARLIEST_PLAUSIBLE: Timestamp = Timestamp::constant(631_152_000, 0);

/// A cursor's key: one outbox of one agent.
pub(super) type CursorKey = (AgentId, OutboxId);

/// One batch of a group, as the core sees it.
#[derive(Debug)]
pub(super) struct Submission<'a> {
    /// The sending agent.
    pub(super) agent: AgentId,
    /// Its outbox.
    pub(super) outbox: OutboxId,
    /// Whether an earlier batch of the same session failed.
    pub(super) fenced: bool,
    /// The batch; observations refused by a quota are removed from it.
    pub(super) batch: &'a mut ObservationBatch,
    /// When it arrived.
    pub(super) received_at: Timestamp,
}

/// What became of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Merged: `accepted` observations applied, `refused_new_assets` dropped by a quota,
    /// `clamped` re-dated to their arrival.
    Applied {
        accepted: u32,
        refused_new_assets: u32,
        clamped: u32,
    },
    /// Committed before: nothing applied.
    Duplicate,
    /// Its session is fenced: nothing applied; the agent resends after reconnecting.
    Fenced,
}

/// A staged group, waiting for its commit.
#[derive(Debug, Default)]
pub(super) struct Staged {
    /// One decision per submission, in order.
    pub(super) decisions: Vec<Decision>,
    /// Rows the merge changed.
    pub(super) dirty: Dirty,
    /// Cursors as they will be once the group is committed.
    pub(super) advanced: HashMap<CursorKey, CommittedSequences>,
    /// Quota refusals in this group, per agent (for the log).
    pub(super) refusals: HashMap<AgentId, (u32, QuotaExceeded)>,
}

/// The in-memory state the writer decides with.
#[derive(Debug, Default)]
pub(super) struct Core {
    /// Every asset.
    pub(super) inventory: Inventory,
    /// Committed sequences per outbox.
    pub(super) cursors: HashMap<CursorKey, CommittedSequences>,
    /// New-asset quotas.
    pub(super) quotas: AssetQuotas,
}

impl Core {
    /// The committed sequences of an outbox.
    pub(super) fn cursor(&self, key: &CursorKey) -> Option<&CommittedSequences> {
        self.cursors.get(key)
    }

    /// Decides every submission and merges the applied ones into the inventory.
    pub(super) fn stage(&mut self, submissions: &mut [Submission<'_>]) -> Staged {
        let mut staged = Staged::default();
        for submission in submissions.iter_mut() {
            let decision = self.stage_one(submission, &mut staged);
            staged.decisions.push(decision);
        }
        staged
    }

    fn stage_one(&mut self, submission: &mut Submission<'_>, staged: &mut Staged) -> Decision {
        if submission.fenced {
            return Decision::Fenced;
        }
        let key = (submission.agent, submission.outbox);
        let sequence = submission.batch.sequence;
        let cursor = staged
            .advanced
            .entry(key)
            .or_insert_with(|| self.cursors.get(&key).cloned().unwrap_or_default());
        if cursor.contains(sequence) {
            return Decision::Duplicate;
        }
        cursor.insert(sequence);

        let clamped = clamp_times(submission.batch, submission.received_at);
        let before = submission.batch.observations.len();
        let (inventory, quotas) = (&self.inventory, &mut self.quotas);
        let mut refusal = None;
        submission.batch.observations.retain(|observation| {
            if inventory.get(&observation.mac).is_some() {
                return true;
            }
            match quotas.admit(submission.agent, submission.received_at) {
                Ok(()) => true,
                Err(exceeded) => {
                    refusal = Some(exceeded);
                    false
                }
            }
        });
        let refused = before - submission.batch.observations.len();
        if let Some(exceeded) = refusal {
            let entry = staged
                .refusals
                .entry(submission.agent)
                .or_insert((0, exceeded));
            entry.0 += u32::try_from(refused).unwrap_or(u32::MAX);
            entry.1 = exceeded;
        }
        for observation in &submission.batch.observations {
            self.inventory
                .merge(submission.agent, observation, &mut staged.dirty);
        }
        Decision::Applied {
            accepted: u32::try_from(submission.batch.observations.len()).unwrap_or(u32::MAX),
            refused_new_assets: u32::try_from(refused).unwrap_or(u32::MAX),
            clamped,
        }
    }

    /// The staged group is on disk: its cursors are now the truth.
    pub(super) fn committed(&mut self, advanced: HashMap<CursorKey, CommittedSequences>) {
        self.cursors.extend(advanced);
    }
}

/// Clamps implausible observation times to the arrival time; returns how many were clamped.
fn clamp_times(batch: &mut ObservationBatch, received_at: Timestamp) -> u32 {
    let latest = received_at
        .saturating_add(MAX_CLOCK_AHEAD)
        .unwrap_or(received_at);
    let mut clamped = 0;
    for observation in &mut batch.observations {
        if observation.seen_at > latest || observation.seen_at < EARLIEST_PLAUSIBLE {
            observation.seen_at = received_at;
            clamped += 1;
        }
    }
    clamped
}

#[cfg(test)]
mod tests;
