//! The single writer: every change to the inventory goes through here.
//!
//! gRPC sessions submit checked batches through an [`IngestSession`]; a dedicated thread owns
//! the write connection and the in-memory state ([`core::Core`]). It takes batches from the
//! sessions in turn ([`queue`]) into one *group commit* (one transaction, one fsync), then
//! answers each submitter. A submitter's answer therefore means "committed to disk", which is
//! exactly when an agent may delete the batch from its outbox.
//!
//! Idempotency: per (agent, outbox) the writer keeps which sequences were committed
//! ([`crate::cursor`]); a batch already committed (its Ack was lost, or the collector crashed
//! after the commit) is acknowledged again as a duplicate and not applied.
//!
//! If a commit fails, the in-memory inventory may be ahead of the database, so the writer
//! reloads the whole core from the database before taking more work; the agents whose batches
//! failed resend them. A session whose batch failed is *fenced*: its later batches, already
//! queued behind the failed one, are refused too. Otherwise batch N+1 could commit after N
//! failed, and the agent's resend of N would arrive after N+1, out of the order the agent
//! formed them in.
//!
//! Fairness and memory: each session may have at most `queue_batches` batches waiting for the
//! writer (its submissions wait beyond that), and a group takes one batch per session in turn,
//! so one agent flooding the collector delays another's batch by at most one group commit.

mod core;
mod queue;
pub mod quota;
mod verdicts;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use hygie_proto::{AgentHello, ObservationBatch, OutboxId};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

pub use self::core::{EARLIEST_PLAUSIBLE, MAX_CLOCK_AHEAD};
use crate::classify::Rules;
use crate::identity::AgentIdentity;
use crate::inventory::AgentId;
use crate::inventory::flags::FlagRules;
use crate::metrics::IngestMetrics;
use crate::policy::{PolicyChannels, PolicySettings};
use crate::store::{InventoryWriter, Retention, StoreError};
use queue::{FairQueue, Weighted};
pub use quota::{QuotaExceeded, QuotaLimits};

/// A clock, passed in so tests control time.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Marks one gRPC session whose batch failed to commit; see the module docs.
#[derive(Debug, Default)]
pub struct SessionFence {
    failed: AtomicBool,
}

impl SessionFence {
    /// Whether a batch of this session failed: its later batches must not be applied.
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::Release);
    }
}

/// Why a submission was not committed. All are transient for the agent: it keeps the batch and
/// sends it again.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("the inventory writer has stopped")]
    WriterStopped,
    #[error("the inventory database refused the commit")]
    Store(#[source] Arc<StoreError>),
    #[error("the inventory database is unavailable (a reload after a failed commit failed too)")]
    Unavailable,
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
    /// Observations dropped because they would have created assets beyond a quota.
    pub refused_new_assets: u32,
    /// The batch had been committed before and was not applied again.
    pub duplicate: bool,
}

/// Tuning of the writer.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Stop adding batches to a group commit past this many observations.
    pub max_group_observations: usize,
    /// Batches one session may have waiting for the writer before its submissions wait.
    pub queue_batches: usize,
    /// History retention.
    pub retention: Retention,
    /// How often to prune the history.
    pub prune_interval: Duration,
    /// Windows and gateways of the flags.
    pub flag_rules: FlagRules,
    /// How often to look for changes of the registry and of operators' decisions.
    pub tick: Duration,
    /// How often to recompute every flag (time-driven flags such as `stale`).
    pub flag_sweep_interval: Duration,
    /// Quotas on new assets.
    pub quotas: QuotaLimits,
    /// What the scan policies protect.
    pub policy: PolicySettings,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            max_group_observations: 20_000,
            queue_batches: 16,
            retention: Retention {
                max_rows: 10_000_000,
                max_age: SignedDuration::from_hours(24 * 400),
            },
            prune_interval: Duration::from_secs(60),
            flag_rules: FlagRules::default(),
            tick: Duration::from_secs(5),
            flag_sweep_interval: Duration::from_secs(60),
            quotas: QuotaLimits::default(),
            policy: PolicySettings::default(),
        }
    }
}

/// A batch on its way to the writer.
struct BatchRequest {
    agent: AgentId,
    outbox: OutboxId,
    fence: Arc<SessionFence>,
    batch: ObservationBatch,
    received_at: Timestamp,
    reply: oneshot::Sender<Result<BatchOutcome, IngestError>>,
    /// The session's queue slot, given back when the writer is done with the batch.
    _slot: OwnedSemaphorePermit,
}

impl Weighted for BatchRequest {
    fn weight(&self) -> usize {
        self.batch.observations.len()
    }
}

/// Work for the writer other than batches.
enum Command {
    Register {
        identity: AgentIdentity,
        hello: AgentHello,
        reply: oneshot::Sender<Result<Registration, IngestError>>,
    },
}

/// An agent registered for a new stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    /// The agent's database id.
    pub agent: AgentId,
    /// Highest sequence already committed for the Hello's outbox (0 if none).
    pub last_committed: u64,
}

type Queue = FairQueue<BatchRequest, Command>;

/// Closes the queue when the last handle is dropped, so the writer stops.
struct Liveness(Arc<Queue>);

impl Drop for Liveness {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Submits work to the writer. Cheap to clone; the writer stops when every handle (and every
/// session made from one) is dropped.
#[derive(Clone)]
pub struct IngestHandle {
    queue: Arc<Queue>,
    _alive: Arc<Liveness>,
    clock: Clock,
    queue_batches: usize,
    next_session: Arc<AtomicU64>,
}

impl std::fmt::Debug for IngestHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestHandle")
            .field("queue_batches", &self.queue_batches)
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
        self.queue.command(Command::Register {
            identity,
            hello,
            reply,
        });
        answer.await.map_err(|_| IngestError::WriterStopped)?
    }

    /// A queue of one stream's batches for `agent`'s `outbox`.
    pub fn session(&self, agent: AgentId, outbox: OutboxId) -> IngestSession {
        IngestSession {
            key: self.next_session.fetch_add(1, Ordering::Relaxed),
            agent,
            outbox,
            fence: Arc::new(SessionFence::default()),
            slots: Arc::new(Semaphore::new(self.queue_batches.max(1))),
            handle: self.clone(),
        }
    }
}

/// One stream's way into the writer.
#[derive(Debug)]
pub struct IngestSession {
    key: u64,
    agent: AgentId,
    outbox: OutboxId,
    fence: Arc<SessionFence>,
    slots: Arc<Semaphore>,
    handle: IngestHandle,
}

impl IngestSession {
    /// Whether a batch of this session failed to commit (later ones are refused).
    pub fn is_fenced(&self) -> bool {
        self.fence.is_failed()
    }

    /// Queues a checked batch (waiting while this session's queue is full) and returns the
    /// receiver of its outcome, so a session can keep reading while earlier batches commit.
    pub async fn submit(&self, batch: ObservationBatch) -> Result<PendingAck, IngestError> {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| IngestError::WriterStopped)?;
        let (reply, answer) = oneshot::channel();
        self.handle.queue.push(
            self.key,
            BatchRequest {
                agent: self.agent,
                outbox: self.outbox,
                fence: Arc::clone(&self.fence),
                batch,
                received_at: (self.handle.clock)(),
                reply,
                _slot: slot,
            },
        );
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

/// Loads the inventory from `store`, publishes every site's scan policy to `policies`
/// (classifying with `rules`), and starts the writer thread, which counts into `metrics`.
pub fn start_writer<S>(
    store: S,
    settings: WriterSettings,
    rules: Rules,
    policies: Arc<PolicyChannels>,
    clock: Clock,
    metrics: IngestMetrics,
) -> Result<(IngestHandle, WriterThread), StoreError>
where
    S: InventoryWriter + Send + 'static,
{
    let queue_batches = settings.queue_batches;
    let queue = Arc::new(Queue::new());
    let mut writer = writer::Writer::new(store, settings, rules, policies, clock.clone(), metrics)?;
    let thread = {
        let queue = Arc::clone(&queue);
        thread::Builder::new()
            .name("hygie-writer".into())
            .spawn(move || writer.run(&queue))
            .map_err(|error| {
                StoreError::Corrupt(format!("cannot start the writer thread: {error}"))
            })?
    };
    let handle = IngestHandle {
        _alive: Arc::new(Liveness(Arc::clone(&queue))),
        queue,
        clock,
        queue_batches,
        next_session: Arc::new(AtomicU64::new(0)),
    };
    Ok((handle, WriterThread { thread }))
}

#[cfg(test)]
mod tests;
