//! The single writer: every change to the inventory goes through here.
//!
//! gRPC sessions submit checked batches through an [`IngestHandle`]; a dedicated thread owns the
//! write connection and the in-memory [`Inventory`]. It drains whatever is queued into one
//! *group commit* (one transaction, one fsync), then answers each submitter. A submitter's
//! answer therefore means "committed to disk", which is exactly when an agent may delete the
//! batch from its outbox.
//!
//! Idempotency: per (agent, outbox) the writer keeps the highest committed sequence. Agents
//! send batches in order on one stream, and the writer commits them in arrival order, so a
//! batch at or below the cursor is a replay (its Ack was lost, or the collector crashed after
//! the commit): it is acknowledged again as a duplicate and not applied.
//!
//! If a commit fails, the in-memory inventory may be ahead of the database, so the writer
//! reloads both inventory and cursors from the database before taking more work; the agents
//! whose batches failed resend them. A session whose batch failed is *fenced*: its later
//! batches, already queued behind the failed one, are refused too. Otherwise batch N+1 could
//! commit after N failed, move the cursor past N, and the agent's resend of N would be taken
//! for a replay and lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hygie_proto::{AgentHello, ObservationBatch, OutboxId};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc, oneshot};

use crate::identity::AgentIdentity;
use crate::inventory::flags::FlagRules;
use crate::inventory::{AgentId, Dirty, Inventory, assess};
use hygie_proto::error_chain;

use crate::store::{
    Commit, HistoryEntry, InventoryWriter, OutboxCursor, RegistrySnapshot, Retention, StoreError,
};

/// A clock, passed in so tests control time.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Observations dated further in the future than this (agent clock ahead) are clamped to the
/// time of arrival, so a wrong clock cannot push `last_seen` into the future.
pub const MAX_CLOCK_AHEAD: SignedDuration = SignedDuration::from_mins(5);

/// Observations dated before this (a clock reset to 1970, a corrupt capture) are clamped to the
/// time of arrival too: nothing on a hospital network was first seen before 1990.
pub const EARLIEST_PLAUSIBLE: Timestamp = Timestamp::constant(631_152_000, 0);

/// Marks one gRPC session whose batch failed to commit; see the module docs.
#[derive(Debug, Default)]
pub struct SessionFence {
    failed: AtomicBool,
}

impl SessionFence {
    /// A fence for a new session.
    pub fn new() -> Arc<Self> {
        Arc::new(SessionFence::default())
    }

    /// Whether a batch of this session failed: its later batches must not be applied.
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::Release);
    }
}

/// Why a submission was not committed. Both are transient for the agent: it keeps the batch and
/// sends it again.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("the inventory writer has stopped")]
    WriterStopped,
    #[error("the inventory database refused the commit: {0}")]
    Store(String),
    #[error("an earlier batch of this stream failed; reconnect and resend from it")]
    Fenced,
}

/// The outcome of one committed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The batch sequence.
    pub sequence: u64,
    /// Observations applied (0 for a duplicate).
    pub accepted: u32,
    /// The batch had been committed before and was not applied again.
    pub duplicate: bool,
}

/// Tuning of the writer.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Stop adding batches to a group commit past this many observations.
    pub max_group_observations: usize,
    /// Batches that may wait for the writer before submitters are slowed down.
    pub queue_batches: usize,
    /// History retention.
    pub retention: Retention,
    /// How often to prune the history.
    pub prune_interval: Duration,
    /// Windows and gateways of the flags.
    pub flag_rules: FlagRules,
    /// How often to look for registry changes.
    pub tick: Duration,
    /// How often to recompute every flag (time-driven flags such as `stale`).
    pub flag_sweep_interval: Duration,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            max_group_observations: 20_000,
            queue_batches: 64,
            retention: Retention {
                max_rows: 10_000_000,
                max_age: SignedDuration::from_hours(24 * 400),
            },
            prune_interval: Duration::from_secs(60),
            flag_rules: FlagRules::default(),
            tick: Duration::from_secs(5),
            flag_sweep_interval: Duration::from_secs(60),
        }
    }
}

struct BatchRequest {
    agent: AgentId,
    outbox: OutboxId,
    fence: Arc<SessionFence>,
    batch: ObservationBatch,
    received_at: Timestamp,
    reply: oneshot::Sender<Result<BatchOutcome, IngestError>>,
}

enum Command {
    /// Time to look for registry changes and time-driven flags.
    Tick,
    Register {
        identity: AgentIdentity,
        hello: AgentHello,
        reply: oneshot::Sender<Result<Registration, IngestError>>,
    },
    Batch(BatchRequest),
}

/// An agent registered for a new stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    /// The agent's database id.
    pub agent: AgentId,
    /// Highest sequence already committed for the Hello's outbox (0 if none).
    pub last_committed: u64,
}

/// Submits work to the writer. Cheap to clone; the writer stops when every handle is dropped.
#[derive(Clone)]
pub struct IngestHandle {
    commands: mpsc::Sender<Command>,
    clock: Clock,
}

impl std::fmt::Debug for IngestHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestHandle")
            .field(
                "queued",
                &(self.commands.max_capacity() - self.commands.capacity()),
            )
            .finish_non_exhaustive()
    }
}

/// A batch accepted into the writer's queue; await it for the commit outcome.
pub type PendingAck = oneshot::Receiver<Result<BatchOutcome, IngestError>>;

impl IngestHandle {
    /// Registers the agent behind a new stream.
    pub async fn register(
        &self,
        identity: AgentIdentity,
        hello: AgentHello,
    ) -> Result<Registration, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Register {
                identity,
                hello,
                reply,
            })
            .await
            .map_err(|_| IngestError::WriterStopped)?;
        answer.await.map_err(|_| IngestError::WriterStopped)?
    }

    /// Queues a checked batch (waiting while the queue is full) and returns the receiver of its
    /// outcome, so a session can keep reading while earlier batches commit.
    pub async fn submit(
        &self,
        agent: AgentId,
        outbox: OutboxId,
        fence: &Arc<SessionFence>,
        batch: ObservationBatch,
    ) -> Result<PendingAck, IngestError> {
        let (reply, answer) = oneshot::channel();
        let request = BatchRequest {
            agent,
            outbox,
            fence: Arc::clone(fence),
            batch,
            received_at: (self.clock)(),
            reply,
        };
        self.commands
            .send(Command::Batch(request))
            .await
            .map_err(|_| IngestError::WriterStopped)?;
        Ok(answer)
    }
}

/// The running writer thread.
#[derive(Debug)]
pub struct WriterThread {
    thread: thread::JoinHandle<()>,
}

impl WriterThread {
    /// Waits for the writer to finish; it does once every [`IngestHandle`] is dropped.
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("the inventory writer thread panicked");
        }
    }
}

/// Loads the inventory from `store` and starts the writer thread.
pub fn start_writer<S>(
    store: S,
    settings: WriterSettings,
    clock: Clock,
) -> Result<(IngestHandle, WriterThread), StoreError>
where
    S: InventoryWriter + Send + 'static,
{
    let tick = settings.tick;
    let queue = settings.queue_batches.max(1);
    let mut writer = Writer::new(store, settings, clock.clone())?;
    tracing::info!(
        assets = writer.inventory.len(),
        registered = writer.registry.entries.len(),
        "inventory loaded"
    );
    let (commands, mut receiver) = mpsc::channel(queue);
    let thread = thread::Builder::new()
        .name("hygie-writer".into())
        .spawn(move || writer.run(&mut receiver))
        .map_err(|error| StoreError::Corrupt(format!("cannot start the writer thread: {error}")))?;
    // A weak sender: the ticker must not keep the writer alive once every handle is gone.
    let ticker = commands.downgrade();
    let _ = thread::Builder::new()
        .name("hygie-ticker".into())
        .spawn(move || {
            loop {
                thread::sleep(tick);
                let Some(commands) = ticker.upgrade() else {
                    break;
                };
                // Wakes an idle writer. A full queue means it is busy: it ticks by itself
                // between group commits.
                let _ = commands.try_send(Command::Tick);
            }
        });
    Ok((IngestHandle { commands, clock }, WriterThread { thread }))
}

struct Writer<S> {
    store: S,
    settings: WriterSettings,
    clock: Clock,
    inventory: Inventory,
    cursors: HashMap<(AgentId, OutboxId), u64>,
    /// The registry, reloaded when its generation changes.
    registry: RegistrySnapshot,
    last_flag_sweep: Option<Instant>,
    /// When registry changes and time-driven flags were last looked at. Checked after every
    /// group commit too: under a steady backlog the ticker's messages may find no room.
    last_tick: Instant,
    /// Set when a failed commit could not be followed by a reload: refuse work until a reload
    /// succeeds, rather than persist from a model that disagrees with the database.
    needs_reload: bool,
    last_prune: Instant,
    prune_backlog: bool,
}

impl<S: InventoryWriter> Writer<S> {
    fn new(store: S, settings: WriterSettings, clock: Clock) -> Result<Self, StoreError> {
        let inventory = store.load_inventory()?;
        let cursors = store.load_cursors()?;
        let registry = store.load_registry()?;
        Ok(Writer {
            store,
            settings,
            clock,
            inventory,
            cursors,
            registry,
            // Sweep soon after start: time has passed while the collector was down.
            last_flag_sweep: None,
            last_tick: Instant::now(),
            needs_reload: false,
            // Prune soon after start, not immediately: start-up should be quick.
            last_prune: Instant::now(),
            prune_backlog: false,
        })
    }

    fn run(&mut self, receiver: &mut mpsc::Receiver<Command>) {
        let mut group = Vec::new();
        while let Some(command) = receiver.blocking_recv() {
            let mut observations = 0;
            let mut next = Some(command);
            // Drain what is already queued into one group commit.
            let mut ticked = false;
            while let Some(command) = next.take() {
                match command {
                    Command::Tick => ticked = true,
                    Command::Register {
                        identity,
                        hello,
                        reply,
                    } => {
                        let now = (self.clock)();
                        let outbox = hello.outbox_id;
                        let result = self
                            .store
                            .register_agent(&identity, &hello, now)
                            .map(|agent| Registration {
                                agent,
                                last_committed: self
                                    .cursors
                                    .get(&(agent, outbox))
                                    .copied()
                                    .unwrap_or(0),
                            })
                            .map_err(|error| {
                                tracing::error!(agent = %identity, error = %error_chain(&error), "cannot register agent");
                                IngestError::Store(error.to_string())
                            });
                        let _ = reply.send(result);
                    }
                    Command::Batch(request) => {
                        observations += request.batch.observations.len();
                        group.push(request);
                    }
                }
                if observations < self.settings.max_group_observations {
                    next = receiver.try_recv().ok();
                }
            }
            if !group.is_empty() {
                self.commit_group(&mut group);
            }
            if ticked || self.last_tick.elapsed() >= self.settings.tick {
                self.last_tick = Instant::now();
                self.tick();
            }
            self.prune_if_due();
        }
        tracing::info!("inventory writer stopped");
    }

    fn commit_group(&mut self, group: &mut Vec<BatchRequest>) {
        if self.needs_reload && !self.reload() {
            for request in group.drain(..) {
                request.fence.fail();
                let _ = request.reply.send(Err(IngestError::Store(
                    "the inventory database is unavailable".into(),
                )));
            }
            return;
        }
        let now = (self.clock)();
        let mut dirty = Dirty::default();
        let mut advanced: HashMap<(AgentId, OutboxId), u64> = HashMap::new();
        let mut outcomes: Vec<Result<BatchOutcome, IngestError>> = Vec::with_capacity(group.len());
        for request in group.iter_mut() {
            if request.fence.is_failed() {
                outcomes.push(Err(IngestError::Fenced));
                continue;
            }
            let key = (request.agent, request.outbox);
            let committed = advanced
                .get(&key)
                .or_else(|| self.cursors.get(&key))
                .copied()
                .unwrap_or(0);
            let sequence = request.batch.sequence;
            if sequence <= committed {
                outcomes.push(Ok(BatchOutcome {
                    sequence,
                    accepted: 0,
                    duplicate: true,
                }));
                continue;
            }
            let clamped = clamp_times(&mut request.batch, request.received_at);
            if clamped > 0 {
                tracing::warn!(
                    agent_id = request.agent,
                    sequence,
                    clamped,
                    "observations dated implausibly (agent clock wrong?) were stamped with their arrival time"
                );
            }
            for observation in &request.batch.observations {
                self.inventory.merge(request.agent, observation, &mut dirty);
            }
            advanced.insert(key, sequence);
            outcomes.push(Ok(BatchOutcome {
                sequence,
                accepted: u32::try_from(request.batch.observations.len()).unwrap_or(u32::MAX),
                duplicate: false,
            }));
        }

        let events = assess::after_merge(
            &mut self.inventory,
            &mut dirty,
            &self.registry.entries,
            &self.settings.flag_rules,
            now,
        );
        let history: Vec<HistoryEntry<'_>> = group
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| matches!(outcome, Ok(outcome) if !outcome.duplicate))
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
            .map(|(&(agent, outbox), &sequence)| OutboxCursor {
                agent,
                outbox,
                sequence,
            })
            .collect();
        let result = self.store.commit(&Commit {
            inventory: &self.inventory,
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
                self.cursors.extend(advanced);
                for (request, outcome) in group.drain(..).zip(outcomes) {
                    let _ = request.reply.send(outcome);
                }
            }
            Err(error) => {
                tracing::error!(error = %error_chain(&error), batches = group.len(), "group commit failed; agents will resend");
                let message = error.to_string();
                for request in group.drain(..) {
                    request.fence.fail();
                    let _ = request.reply.send(Err(IngestError::Store(message.clone())));
                }
                self.needs_reload = true;
                self.reload();
            }
        }
    }

    /// Reloads the in-memory model from the database; returns whether it succeeded.
    fn reload(&mut self) -> bool {
        match (
            self.store.load_inventory(),
            self.store.load_cursors(),
            self.store.load_registry(),
        ) {
            (Ok(inventory), Ok(cursors), Ok(registry)) => {
                self.inventory = inventory;
                self.cursors = cursors;
                self.registry = registry;
                self.needs_reload = false;
                true
            }
            (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
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
        let mut dirty = Dirty::default();
        let (events, unseen) = assess::sweep(
            &mut self.inventory,
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
            inventory: &self.inventory,
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

/// Clamps implausible observation times to the arrival time; returns how many were clamped.
fn clamp_times(batch: &mut ObservationBatch, received_at: Timestamp) -> usize {
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
