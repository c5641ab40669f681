//! The writer's maintenance: the periodic tick (registry changes, time-driven flags), history
//! pruning, and reloading the model from the database after a failed commit.

use std::collections::HashMap;
use std::time::Instant;

use hygie_proto::error_chain;

use super::Writer;
use super::policy::{Restored, publish_all, restore_policies};
use crate::ingest::WriterSettings;
use crate::ingest::core::Core;
use crate::ingest::quota::AssetQuotas;
use crate::ingest::verdicts::Verdicts;
use crate::inventory::{AgentId, Dirty, assess};
use crate::policy::{Inputs, PolicyChanges};
use crate::store::{Commit, InventoryWriter, StoreError};

impl<S: InventoryWriter> Writer<S> {
    /// Reloads the registry and the operators' decisions when they changed, recomputing the
    /// policies they concern, and recomputes every flag when the registry changed or the sweep
    /// interval passed.
    pub(super) fn tick(&mut self) {
        if self.needs_reload && !self.reload() {
            return;
        }
        let registry_changed = self.reload_registry();
        let overrides_changed = self.reload_overrides();
        let due = self
            .last_flag_sweep
            .is_none_or(|last| last.elapsed() >= self.settings.flag_sweep_interval);
        let now = (self.clock)();
        let mut dirty = Dirty::default();
        let (mut events, unseen) = if registry_changed || due {
            self.last_flag_sweep = Some(Instant::now());
            assess::sweep(
                &mut self.core.inventory,
                &mut dirty,
                &self.registry.entries,
                &mut self.registry.unseen_flags,
                &self.settings.flag_rules,
                now,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let policy = if registry_changed || overrides_changed {
            self.policies.refresh(
                &Inputs {
                    inventory: &self.core.inventory,
                    agent_sites: &self.agent_sites,
                    registry: &self.registry.entries,
                    overrides: &self.overrides.entries,
                },
                now,
            )
        } else {
            PolicyChanges::default()
        };
        let verdicts = self.verdicts.rows(
            &dirty,
            &unseen,
            &self.core.inventory,
            &self.registry,
            &self.rules,
        );
        if events.is_empty()
            && unseen.is_empty()
            && dirty.is_empty()
            && policy.is_empty()
            && verdicts.is_empty()
        {
            return;
        }
        events.extend(policy.events);
        let result = self.store.commit(&Commit {
            inventory: &self.core.inventory,
            dirty: &dirty,
            history: &[],
            cursors: &[],
            events: &events,
            unseen_flags: &unseen,
            policy_devices: &policy.devices,
            policy_sites: &policy.sites,
            verdicts: &verdicts.verdicts,
            verdicts_removed: &verdicts.removed,
            verdict_state: verdicts.state.as_ref(),
            now,
        });
        match result {
            Ok(()) => {
                tracing::debug!(events = events.len(), "flags and policies recomputed");
                self.publish(&policy.sites);
            }
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "cannot record flag and policy changes");
                self.needs_reload = true;
                self.reload();
            }
        }
    }

    /// Reloads the registry if its generation changed; returns whether it did.
    pub(super) fn reload_registry(&mut self) -> bool {
        match self.store.registry_generation() {
            Ok(generation) if generation != self.registry.generation => {
                match self.store.load_registry() {
                    Ok(registry) => {
                        tracing::info!(entries = registry.entries.len(), "registry reloaded");
                        self.verdicts
                            .registry_changed(&self.registry.entries, &registry.entries);
                        self.registry = registry;
                        true
                    }
                    Err(error) => {
                        tracing::warn!(error = %error_chain(&error), "cannot reload the registry");
                        false
                    }
                }
            }
            Ok(_) => false,
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "cannot read the registry generation");
                false
            }
        }
    }

    /// Whether the command line changed the registry since it was loaded (one cheap query).
    pub(super) fn registry_generation_changed(&self) -> bool {
        self.store
            .registry_generation()
            .is_ok_and(|generation| generation != self.registry.generation)
    }

    /// Deletes one bounded slice of expired history when due; while a backlog remains, the
    /// next slice follows the next commit rather than a whole interval later.
    pub(super) fn prune_if_due(&mut self) {
        if !self.prune_backlog && self.last_prune.elapsed() < self.settings.prune_interval {
            return;
        }
        self.last_prune = Instant::now();
        match self
            .store
            .prune_history(self.settings.retention, (self.clock)())
        {
            Ok(deleted) => {
                self.prune_backlog = deleted >= crate::store::PRUNE_SLICE;
                if deleted > 0 {
                    tracing::info!(deleted, "observation history pruned");
                }
            }
            Err(error) => {
                self.prune_backlog = false;
                tracing::warn!(error = %error_chain(&error), "cannot prune the history");
            }
        }
    }

    /// Reloads the in-memory model from the database; returns whether it succeeded.
    pub(super) fn reload(&mut self) -> bool {
        let loaded = load_core(&self.store, &self.settings, &self.agent_sites).and_then(|core| {
            Ok((
                core,
                self.store.load_registry()?,
                self.store.load_overrides()?,
            ))
        });
        let (core, registry, overrides) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "cannot reload the inventory");
                return false;
            }
        };
        // The policies too may be ahead of the database: start again from what it holds.
        let policies = restore_policies(
            &mut self.store,
            &self.settings,
            &Inputs {
                inventory: &core.inventory,
                agent_sites: &self.agent_sites,
                registry: &registry.entries,
                overrides: &overrides.entries,
            },
            &self.rules,
            (self.clock)(),
        );
        match policies {
            Ok(Restored::Unrecorded(_)) => false,
            Ok(Restored::Committed(policies)) => {
                let state = match self.store.verdict_state() {
                    Ok(state) => state,
                    Err(error) => {
                        tracing::error!(error = %error_chain(&error), "cannot read the verdicts' state");
                        return false;
                    }
                };
                publish_all(&policies, &self.channels);
                self.verdicts = Verdicts::new(
                    state,
                    &self.rules,
                    &self.settings.flag_rules,
                    &core.inventory,
                    &registry,
                );
                self.core = core;
                self.registry = registry;
                self.overrides = overrides;
                self.policies = policies;
                self.needs_reload = false;
                true
            }
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "cannot restore the scan policies");
                false
            }
        }
    }
}

/// The core as the database holds it.
pub(super) fn load_core<S: InventoryWriter>(
    store: &S,
    settings: &WriterSettings,
    agent_sites: &HashMap<AgentId, String>,
) -> Result<Core, StoreError> {
    let inventory = store.load_inventory()?;
    let cursors = store.load_cursors()?;
    let quotas = AssetQuotas::new(settings.quotas, &inventory, agent_sites.clone());
    Ok(Core {
        inventory,
        cursors,
        quotas,
    })
}
