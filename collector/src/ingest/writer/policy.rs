//! The writer's scan-policy handling: restoring the policies at start, committing a new site's,
//! publishing committed ones, and reloading the operators' probing decisions.

use hygie_proto::error_chain;
use jiff::Timestamp;

use super::Writer;
use crate::classify::Rules;
use crate::ingest::WriterSettings;
use crate::inventory::Dirty;
use crate::policy::{Inputs, PolicyChanges, PolicyChannels, PolicyState, SiteRecord};
use crate::store::{Commit, InventoryWriter, StoreError};

impl<S: InventoryWriter> Writer<S> {
    /// Commits policy changes on their own (a new site); on failure, reloads.
    pub(super) fn commit_policy(&mut self, changes: PolicyChanges, now: Timestamp) {
        if changes.is_empty() {
            return;
        }
        let result = self.store.commit(&Commit {
            inventory: &self.core.inventory,
            dirty: &Dirty::default(),
            history: &[],
            cursors: &[],
            events: &changes.events,
            unseen_flags: &[],
            policy_devices: &changes.devices,
            policy_sites: &changes.sites,
            verdicts: &[],
            verdicts_removed: &[],
            verdict_state: None,
            now,
        });
        match result {
            Ok(()) => self.publish(&changes.sites),
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "cannot record a new site's scan policy");
                self.needs_reload = true;
                self.reload();
            }
        }
    }

    /// Sends the committed policies of these sites to their agents' streams.
    pub(super) fn publish(&self, sites: &[SiteRecord]) {
        for record in sites {
            if let Some(policy) = self.policies.site(&record.site) {
                self.channels.publish(&record.site, policy.scan_policy());
                tracing::info!(
                    site = %record.site,
                    version = record.version,
                    devices = policy.devices.len(),
                    networks = policy.networks.len(),
                    passive_only = record.passive_only,
                    "scan policy published"
                );
            }
        }
    }

    /// Reloads the operators' decisions if their generation changed; returns whether it did.
    pub(super) fn reload_overrides(&mut self) -> bool {
        match self.store.override_generation() {
            Ok(generation) if generation != self.overrides.generation => {
                match self.store.load_overrides() {
                    Ok(overrides) => {
                        tracing::info!(
                            decisions = overrides.entries.len(),
                            "operators' probing decisions reloaded"
                        );
                        self.overrides = overrides;
                        true
                    }
                    Err(error) => {
                        tracing::warn!(error = %error_chain(&error), "cannot reload the operators' decisions");
                        false
                    }
                }
            }
            Ok(_) => false,
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "cannot read the override generation");
                false
            }
        }
    }
}

/// The policies as the database holds them, brought up to date with `inputs` (a rules or
/// configuration change while the collector was down moves devices in or out); what that
/// changed is committed before anything is published.
pub(super) fn restore_policies<S: InventoryWriter>(
    store: &mut S,
    settings: &WriterSettings,
    inputs: &Inputs<'_>,
    rules: &Rules,
    now: Timestamp,
) -> Result<Restored, StoreError> {
    let stored = store
        .load_policies()?
        .into_iter()
        .map(|published| (published.site, published.policy))
        .collect();
    let (policies, changes) =
        PolicyState::restore(settings.policy.clone(), stored, inputs, rules, now);
    if !changes.is_empty() {
        let committed = store.commit(&Commit {
            inventory: inputs.inventory,
            dirty: &Dirty::default(),
            history: &[],
            cursors: &[],
            events: &changes.events,
            unseen_flags: &[],
            policy_devices: &changes.devices,
            policy_sites: &changes.sites,
            verdicts: &[],
            verdicts_removed: &[],
            verdict_state: None,
            now,
        });
        if let Err(error) = committed {
            tracing::error!(error = %error_chain(&error), "cannot record the restored scan policies; retrying");
            return Ok(Restored::Unrecorded(policies));
        }
    }
    tracing::info!(
        sites = changes.sites.len(),
        events = changes.events.len(),
        "scan policies restored"
    );
    Ok(Restored::Committed(policies))
}

/// Policies brought up to date at start or reload, and whether what changed is recorded:
/// only recorded policies may be published (Invariant 4 of [`crate::policy`]).
pub(super) enum Restored {
    Committed(PolicyState),
    Unrecorded(PolicyState),
}

impl Restored {
    pub(super) fn into_state(self) -> PolicyState {
        match self {
            Restored::Committed(state) | Restored::Unrecorded(state) => state,
        }
    }
}

/// Publishes every site's policy (the channels are new, or may lag behind a reload).
pub(super) fn publish_all(policies: &PolicyState, channels: &PolicyChannels) {
    for (site, policy) in policies.sites() {
        channels.publish(site, policy.scan_policy());
    }
}
