//! The writer thread: takes work from the queue, stages it in the [`Core`], persists it, and
//! answers. All of the writer's I/O is here; its decisions are in `core`. This file holds the
//! loop and the group commit; by responsibility, the rest is in `policy` (restoring, committing
//! and publishing scan policies), `recompute` (the background verdict recomputation),
//! `maintenance` (the periodic tick, pruning, reloading after a failure) and `quota_log`
//! (telling people what the quotas held back).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hygie_proto::error_chain;

use super::core::{Core, Decision, Staged, Submission};
use super::queue::Taken;
use super::verdicts::Verdicts;
use super::{
    BatchOutcome, BatchRequest, Clock, Command, IngestError, Queue, Registration, WriterSettings,
};
use crate::classify::Rules;
use crate::inventory::{AgentId, assess};
use crate::metrics::IngestMetrics;
use crate::policy::{Inputs, OverrideSnapshot, PolicyChanges, PolicyChannels, PolicyState};
use crate::store::{
    Commit, HistoryEntry, InventoryWriter, OutboxCursor, RegistrySnapshot, StoreError,
};

mod maintenance;
mod policy;
mod quota_log;
mod recompute;

use maintenance::load_core;
use policy::{Restored, publish_all, restore_policies};
use quota_log::QuotaNotice;

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
    /// Counted at the commit: what was committed, and how long it took.
    metrics: IngestMetrics,
}

impl<S: InventoryWriter> Writer<S> {
    pub(super) fn new(
        mut store: S,
        settings: WriterSettings,
        rules: Rules,
        channels: Arc<PolicyChannels>,
        clock: Clock,
        metrics: IngestMetrics,
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
            metrics,
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
            self.metrics.failed(group.len());
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
        let started = Instant::now();
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
        self.metrics.commit_took(started.elapsed().as_secs_f64());
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
                        } => {
                            // What the history just kept of this batch, by source.
                            for observation in &request.batch.observations {
                                self.metrics.observation(observation.source);
                            }
                            self.metrics.applied(refused_new_assets);
                            Ok(BatchOutcome {
                                sequence,
                                accepted,
                                refused_new_assets,
                                duplicate: false,
                            })
                        }
                        Decision::Duplicate => {
                            self.metrics.duplicate();
                            Ok(BatchOutcome {
                                sequence,
                                accepted: 0,
                                refused_new_assets: 0,
                                duplicate: true,
                            })
                        }
                        Decision::Fenced => {
                            self.metrics.fenced();
                            Err(IngestError::Fenced)
                        }
                    };
                    let _ = request.reply.send(outcome);
                }
            }
            Err(error) => {
                tracing::error!(error = %error_chain(&error), batches = group.len(), "group commit failed; agents will resend");
                self.metrics.failed(group.len());
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
}
