//! The writer thread: takes work from the queue, stages it in the [`Core`], persists it, and
//! answers. All of the writer's I/O is here; its decisions are in `core`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hygie_proto::error_chain;

use super::core::{Core, Decision, Staged, Submission};
use super::queue::Taken;
use super::quota::AssetQuotas;
use super::{
    BatchOutcome, BatchRequest, Clock, Command, IngestError, Queue, Registration, WriterSettings,
};
use crate::audit::{EventKind, NewEvent};
use crate::inventory::{AgentId, assess};
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
}

impl<S: InventoryWriter> Writer<S> {
    pub(super) fn new(
        store: S,
        settings: WriterSettings,
        clock: Clock,
    ) -> Result<Self, StoreError> {
        let agent_sites = store.agent_sites()?;
        let core = load_core(&store, &settings, &agent_sites)?;
        let registry = store.load_registry()?;
        tracing::info!(
            assets = core.inventory.len(),
            registered = registry.entries.len(),
            "inventory loaded"
        );
        Ok(Writer {
            store,
            settings,
            clock,
            core,
            registry,
            agent_sites,
            // Sweep soon after start: time has passed while the collector was down.
            last_flag_sweep: None,
            last_tick: Instant::now(),
            needs_reload: false,
            // Prune soon after start, not immediately: start-up should be quick.
            last_prune: Instant::now(),
            prune_backlog: false,
            quota_log: HashMap::new(),
        })
    }

    pub(super) fn run(&mut self, queue: &Queue) {
        loop {
            let wait = self.settings.tick.saturating_sub(self.last_tick.elapsed());
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
            now,
        });
        drop(history);

        match result {
            Ok(()) => {
                self.core.committed(advanced);
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
        let loaded = load_core(&self.store, &self.settings, &self.agent_sites)
            .and_then(|core| Ok((core, self.store.load_registry()?)));
        match loaded {
            Ok((core, registry)) => {
                self.core = core;
                self.registry = registry;
                self.needs_reload = false;
                true
            }
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "cannot reload the inventory");
                false
            }
        }
    }

    /// Reloads the registry when it changed, and recomputes every flag when the registry
    /// changed or the sweep interval passed.
    fn tick(&mut self) {
        if self.needs_reload && !self.reload() {
            return;
        }
        let registry_changed = match self.store.registry_generation() {
            Ok(generation) if generation != self.registry.generation => {
                match self.store.load_registry() {
                    Ok(registry) => {
                        tracing::info!(entries = registry.entries.len(), "registry reloaded");
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
        };
        let due = self
            .last_flag_sweep
            .is_none_or(|last| last.elapsed() >= self.settings.flag_sweep_interval);
        if !registry_changed && !due {
            return;
        }
        self.last_flag_sweep = Some(Instant::now());
        let now = (self.clock)();
        let mut dirty = crate::inventory::Dirty::default();
        let (events, unseen) = assess::sweep(
            &mut self.core.inventory,
            &mut dirty,
            &self.registry.entries,
            &mut self.registry.unseen_flags,
            &self.settings.flag_rules,
            now,
        );
        if events.is_empty() && unseen.is_empty() && dirty.is_empty() {
            return;
        }
        let result = self.store.commit(&Commit {
            inventory: &self.core.inventory,
            dirty: &dirty,
            history: &[],
            cursors: &[],
            events: &events,
            unseen_flags: &unseen,
            now,
        });
        match result {
            Ok(()) => tracing::debug!(events = events.len(), "flags recomputed"),
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "cannot record flag changes");
                self.needs_reload = true;
                self.reload();
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
