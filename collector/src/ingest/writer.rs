//! The writer thread: takes work from the queue, stages it in the [`Core`], persists it, and
//! answers. All of the writer's I/O is here; its decisions are in `core`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hygie_proto::error_chain;
use jiff::Timestamp;

use super::core::{Core, Decision, Staged, Submission};
use super::queue::Taken;
use super::quota::AssetQuotas;
use super::verdicts::{VerdictRows, Verdicts};
use super::{
    BatchOutcome, BatchRequest, Clock, Command, IngestError, Queue, Registration, WriterSettings,
};
use crate::audit::{EventKind, NewEvent};
use crate::classify::Rules;
use crate::inventory::{AgentId, Dirty, assess};
use crate::policy::{
    Inputs, OverrideSnapshot, PolicyChanges, PolicyChannels, PolicyState, SiteRecord,
};
use crate::store::{
    Commit, HistoryEntry, InventoryWriter, OutboxCursor, RegistrySnapshot, StoreError,
};

/// How often one agent's quota refusals are logged at most.
const QUOTA_LOG_EVERY: Duration = Duration::from_secs(600);
/// How often one agent's quota refusals are recorded as an event at most.
const QUOTA_EVENT_EVERY: Duration = Duration::from_secs(3600);

/// The time a quota event was last recorded for an agent, and what was held back since.
#[derive(Debug, Clone, Copy)]
struct QuotaNotice {
    logged: Instant,
    recorded: Option<Instant>,
    held: u64,
}

pub(super) struct Writer<S> {
    store: S,
    settings: WriterSettings,
    clock: Clock,
    core: Core,
    /// The registry, reloaded when its generation changes.
    registry: RegistrySnapshot,
    /// Operators' decisions about probing, reloaded when their generation changes.
    overrides: OverrideSnapshot,
    /// Each site's scan policy; see [`crate::policy`].
    policies: PolicyState,
    /// The classification rules the policies' categories come from.
    rules: Rules,
    /// Where the policies are published to the agents' streams.
    channels: Arc<PolicyChannels>,
    /// Each known agent's site, for the quotas.
    agent_sites: HashMap<AgentId, String>,
    last_flag_sweep: Option<Instant>,
    /// When registry changes and time-driven flags were last looked at. Checked after every
    /// group commit too, so a steady backlog does not postpone them.
    last_tick: Instant,
    /// Set when a failed commit could not be followed by a reload: refuse work until a reload
    /// succeeds, rather than persist from a model that disagrees with the database.
    needs_reload: bool,
    last_prune: Instant,
    prune_backlog: bool,
    /// When each agent's quota refusals were last logged and recorded, and how many since.
    quota_log: HashMap<AgentId, QuotaNotice>,
    /// Which verdicts to store, and the recomputation under way.
    verdicts: Verdicts,
}

impl<S: InventoryWriter> Writer<S> {
    pub(super) fn new(
        mut store: S,
        settings: WriterSettings,
        rules: Rules,
        channels: Arc<PolicyChannels>,
        clock: Clock,
    ) -> Result<Self, StoreError> {
        let agent_sites = store.agent_sites()?;
        let core = load_core(&store, &settings, &agent_sites)?;
        let registry = store.load_registry()?;
        let overrides = store.load_overrides()?;
        tracing::info!(
            assets = core.inventory.len(),
            registered = registry.entries.len(),
            decisions = overrides.entries.len(),
            "inventory loaded"
        );
        let policies = restore_policies(
            &mut store,
            &settings,
            &Inputs {
                inventory: &core.inventory,
                agent_sites: &agent_sites,
                registry: &registry.entries,
                overrides: &overrides.entries,
            },
            &rules,
            clock(),
        )?;
        // Not recorded (a full disk at start): nothing is published, and the first tick
        // reloads and tries again; the agents keep the policy they saved meanwhile.
        let needs_reload = match &policies {
            Restored::Committed(policies) => {
                publish_all(policies, &channels);
                false
            }
            Restored::Unrecorded(_) => true,
        };
        let policies = policies.into_state();
        let verdicts = Verdicts::new(
            store.verdict_state()?,
            &rules,
            &settings.flag_rules,
            &core.inventory,
            &registry,
        );
        Ok(Writer {
            store,
            settings,
            clock,
            core,
            registry,
            overrides,
            policies,
            rules,
            channels,
            agent_sites,
            // Sweep soon after start: time has passed while the collector was down.
            last_flag_sweep: None,
            last_tick: Instant::now(),
            needs_reload,
            // Prune soon after start, not immediately: start-up should be quick.
            last_prune: Instant::now(),
            prune_backlog: false,
            quota_log: HashMap::new(),
            verdicts,
        })
    }

    pub(super) fn run(&mut self, queue: &Queue) {
        loop {
            // While verdicts are recomputed, take work without waiting, a slice between groups.
            let wait = if self.verdicts.recomputing() {
                Duration::ZERO
            } else {
                self.settings.tick.saturating_sub(self.last_tick.elapsed())
            };
            match queue.take(self.settings.max_group_observations, wait) {
                Taken::Closed => break,
                Taken::Idle => {}
                Taken::Work { control, batches } => {
                    for command in control {
                        self.command(command);
                    }
                    if !batches.is_empty() {
                        self.commit_group(batches);
                    }
                }
            }
            if self.last_tick.elapsed() >= self.settings.tick {
                self.last_tick = Instant::now();
                self.tick();
            }
            self.prune_if_due();
            self.recompute_slice();
        }
        tracing::info!("inventory writer stopped");
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Register {
                identity,
                hello,
                reply,
            } => {
                let now = (self.clock)();
                let outbox = hello.outbox_id;
                let result = match self.store.register_agent(&identity, &hello, now) {
                    Ok(agent) => {
                        self.agent_sites.insert(agent, identity.site().to_owned());
                        self.core.quotas.set_site(agent, identity.site());
                        // A new site's policy must be out before its first stream subscribes.
                        let changes = self.policies.add_site(
                            identity.site(),
                            &Inputs {
                                inventory: &self.core.inventory,
                                agent_sites: &self.agent_sites,
                                registry: &self.registry.entries,
                                overrides: &self.overrides.entries,
                            },
                            now,
                        );
                        self.commit_policy(changes, now);
                        Ok(Registration {
                            agent,
                            last_committed: self
                                .core
                                .cursor(&(agent, outbox))
                                .map_or(0, crate::cursor::CommittedSequences::high),
                        })
                    }
                    Err(error) => {
                        tracing::error!(agent = %identity, error = %error_chain(&error), "cannot register agent");
                        Err(IngestError::Store(Arc::new(error)))
                    }
                };
                let _ = reply.send(result);
            }
        }
    }

    fn commit_group(&mut self, mut group: Vec<BatchRequest>) {
        if self.needs_reload && !self.reload() {
            for request in group {
                request.fence.fail();
                let _ = request.reply.send(Err(IngestError::Unavailable));
            }
            return;
        }
        // A registry change is taken in before the group, so that its flags and verdicts are
        // computed with the registry the command line just changed.
        if self.registry_generation_changed() {
            self.last_tick = Instant::now();
            self.tick();
        }
        let now = (self.clock)();
        let mut submissions: Vec<Submission<'_>> = group
            .iter_mut()
            .map(|request| Submission {
                agent: request.agent,
                outbox: request.outbox,
                fenced: request.fence.is_failed(),
                batch: &mut request.batch,
                received_at: request.received_at,
            })
            .collect();
        let Staged {
            decisions,
            mut dirty,
            advanced,
            refusals,
        } = self.core.stage(&mut submissions);
        drop(submissions);
        let quota_events = self.log_staging(&group, &decisions, &refusals, now);

        let mut events = assess::after_merge(
            &mut self.core.inventory,
            &mut dirty,
            &self.registry.entries,
            &self.settings.flag_rules,
            now,
        );
        events.extend(quota_events);
        let PolicyChanges {
            events: policy_events,
            devices: policy_devices,
            sites: policy_sites,
        } = self.policies.after_merge(
            &Inputs {
                inventory: &self.core.inventory,
                agent_sites: &self.agent_sites,
                registry: &self.registry.entries,
                overrides: &self.overrides.entries,
            },
            &dirty,
            &self.rules,
            now,
        );
        // Facts and flags first, then what they mean for the policies.
        events.extend(policy_events);
        let verdicts = self.verdicts.rows(
            &dirty,
            &[],
            &self.core.inventory,
            &self.registry,
            &self.rules,
        );
        let history: Vec<HistoryEntry<'_>> = group
            .iter()
            .zip(&decisions)
            .filter(|(_, decision)| matches!(decision, Decision::Applied { .. }))
            .flat_map(|(request, _)| {
                request
                    .batch
                    .observations
                    .iter()
                    .map(|observation| HistoryEntry {
                        agent: request.agent,
                        received_at: request.received_at,
                        observation,
                    })
            })
            .collect();
        let cursors: Vec<OutboxCursor> = advanced
            .iter()
            .filter(|(key, committed)| self.core.cursor(key) != Some(*committed))
            .map(|(&(agent, outbox), committed)| OutboxCursor {
                agent,
                outbox,
                sequence: committed.high(),
                gaps: committed.to_string(),
            })
            .collect();
        let result = self.store.commit(&Commit {
            inventory: &self.core.inventory,
            dirty: &dirty,
            history: &history,
            cursors: &cursors,
            events: &events,
            unseen_flags: &[],
            policy_devices: &policy_devices,
            policy_sites: &policy_sites,
            verdicts: &verdicts.verdicts,
            verdicts_removed: &verdicts.removed,
            verdict_state: verdicts.state.as_ref(),
            now,
        });
        drop(history);

        match result {
            Ok(()) => {
                self.core.committed(advanced);
                self.publish(&policy_sites);
                for (request, decision) in group.into_iter().zip(decisions) {
                    let sequence = request.batch.sequence;
                    let outcome = match decision {
                        Decision::Applied {
                            accepted,
                            refused_new_assets,
                            ..
                        } => Ok(BatchOutcome {
                            sequence,
                            accepted,
                            refused_new_assets,
                            duplicate: false,
                        }),
                        Decision::Duplicate => Ok(BatchOutcome {
                            sequence,
                            accepted: 0,
                            refused_new_assets: 0,
                            duplicate: true,
                        }),
                        Decision::Fenced => Err(IngestError::Fenced),
                    };
                    let _ = request.reply.send(outcome);
                }
            }
            Err(error) => {
                tracing::error!(error = %error_chain(&error), batches = group.len(), "group commit failed; agents will resend");
                let error = Arc::new(error);
                for request in group {
                    request.fence.fail();
                    let _ = request
                        .reply
                        .send(Err(IngestError::Store(Arc::clone(&error))));
                }
                self.needs_reload = true;
                self.reload();
            }
        }
    }

    /// Logs what staging did that people must hear of; returns the events it records (an
    /// agent over its quota, at most once an hour each).
    fn log_staging(
        &mut self,
        group: &[BatchRequest],
        decisions: &[Decision],
        refusals: &HashMap<AgentId, (u32, super::QuotaExceeded)>,
        at: jiff::Timestamp,
    ) -> Vec<NewEvent> {
        for (request, decision) in group.iter().zip(decisions) {
            if let Decision::Applied { clamped, .. } = decision
                && *clamped > 0
            {
                tracing::warn!(
                    agent_id = request.agent,
                    sequence = request.batch.sequence,
                    clamped,
                    "observations dated implausibly (agent clock wrong?) were stamped with their arrival time"
                );
            }
        }
        let now = Instant::now();
        let mut events = Vec::new();
        for (&agent, &(refused, reason)) in refusals {
            let site = self.agent_sites.get(&agent).map_or("?", String::as_str);
            let notice = self.quota_log.entry(agent).or_insert(QuotaNotice {
                logged: now.checked_sub(QUOTA_LOG_EVERY).unwrap_or(now),
                recorded: None,
                held: 0,
            });
            notice.held += u64::from(refused);
            let first = notice.recorded.is_none();
            if first || now.duration_since(notice.logged) >= QUOTA_LOG_EVERY {
                tracing::warn!(
                    agent_id = agent,
                    site,
                    refused = notice.held,
                    reason = %reason,
                    "agent over its quota of new assets: observations of devices not yet in the inventory were not applied"
                );
                notice.logged = now;
            }
            if notice
                .recorded
                .is_none_or(|recorded| now.duration_since(recorded) >= QUOTA_EVENT_EVERY)
            {
                events.push(NewEvent::new(
                    at,
                    None,
                    EventKind::AssetQuotaReached,
                    &serde_json::json!({
                        "agent_id": agent,
                        "site": site,
                        "refused": notice.held,
                        "reason": reason.to_string(),
                    }),
                ));
                notice.recorded = Some(now);
                notice.held = 0;
            }
        }
        events
    }

    /// Reloads the in-memory model from the database; returns whether it succeeded.
    fn reload(&mut self) -> bool {
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

    /// Reloads the registry if its generation changed; returns whether it did.
    fn reload_registry(&mut self) -> bool {
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

    /// Reloads the operators' decisions if their generation changed; returns whether it did.
    fn reload_overrides(&mut self) -> bool {
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

    /// Reloads the registry and the operators' decisions when they changed, recomputing the
    /// policies they concern, and recomputes every flag when the registry changed or the sweep
    /// interval passed.
    fn tick(&mut self) {
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

    /// Whether the command line changed the registry since it was loaded (one cheap query).
    fn registry_generation_changed(&self) -> bool {
        self.store
            .registry_generation()
            .is_ok_and(|generation| generation != self.registry.generation)
    }

    /// Commits the next slice of a verdict recomputation, if one is under way (Invariant 3 of
    /// [`crate::inventory::verdict`]); on failure, reloads (which resumes from what was
    /// recorded).
    fn recompute_slice(&mut self) {
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

    fn commit_verdicts(&mut self, rows: &VerdictRows) {
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

    /// Commits policy changes on their own (a new site); on failure, reloads.
    fn commit_policy(&mut self, changes: PolicyChanges, now: Timestamp) {
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
    fn publish(&self, sites: &[SiteRecord]) {
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

    /// Deletes one bounded slice of expired history when due; while a backlog remains, the
    /// next slice follows the next commit rather than a whole interval later.
    fn prune_if_due(&mut self) {
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
}

/// The core as the database holds it.
fn load_core<S: InventoryWriter>(
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

/// The policies as the database holds them, brought up to date with `inputs` (a rules or
/// configuration change while the collector was down moves devices in or out); what that
/// changed is committed before anything is published.
fn restore_policies<S: InventoryWriter>(
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
enum Restored {
    Committed(PolicyState),
    Unrecorded(PolicyState),
}

impl Restored {
    fn into_state(self) -> PolicyState {
        match self {
            Restored::Committed(state) | Restored::Unrecorded(state) => state,
        }
    }
}

/// Publishes every site's policy (the channels are new, or may lag behind a reload).
fn publish_all(policies: &PolicyState, channels: &PolicyChannels) {
    for (site, policy) in policies.sites() {
        channels.publish(site, policy.scan_policy());
    }
}
