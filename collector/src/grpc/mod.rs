//! The gRPC adapter: identity from the connection, wire → domain conversion, the ordering of
//! Acks and the scan policy sent back. No inventory rules and no SQL live here.
//!
//! Each `Report` stream runs as two halves joined by a bounded queue: the reader converts and
//! submits batches to the writer without waiting for their commits, and the acker awaits each
//! commit in submission order and sends its Ack. Throughput thus comes from many batches in
//! flight, while Acks still leave in order and only after their commit.
//!
//! Bounds, besides those of the front door ([`crate::net`]) and of the message bodies
//! ([`frames`]):
//! - one stream per outbox, a few per identity ([`streams`]);
//! - within a stream, sequences strictly increase: a regression ends it with
//!   `FAILED_PRECONDITION` rather than being mistaken for a replay;
//! - per stream, at most `IN_FLIGHT_PER_STREAM` batches await their commit, and across streams
//!   the *decoded* size of batches read but not yet acknowledged stays within a budget
//!   ([`ServiceSettings::queued_bytes`]): the reader waits for room before it submits more.

pub mod frames;
pub mod peer;
pub mod streams;

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::Stream;
use hygie_proto::{AgentHello, InvalidMessage, ObservationBatch, OutboxId, ScanPolicy, pb};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::identity::AgentIdentity;
use crate::ingest::{IngestError, IngestHandle, IngestSession, PendingAck};
use crate::metrics::{AgentMetrics, ServiceMetrics, StreamCount};
use crate::net::AgentPeer;
use crate::policy::PolicyChannels;
use crate::throttle::LogThrottle;
use streams::{StreamId, StreamTable};

/// Batches a single stream may have awaiting commit.
const IN_FLIGHT_PER_STREAM: usize = 64;
/// How long a new stream may take to say Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// Bounds of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSettings {
    /// Decoded bytes of batches read but not yet acknowledged, across all streams.
    pub queued_bytes: usize,
    /// Streams per agent identity (for different outboxes; one outbox has one stream).
    pub max_streams_per_agent: usize,
    /// How often agents must send something; the stream idle timeout is three times this.
    pub heartbeat_interval: Duration,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            queued_bytes: 128 * 1024 * 1024,
            max_streams_per_agent: 2,
            heartbeat_interval: Duration::from_secs(60),
        }
    }
}

/// The `hygie.v1.Inventory` service.
#[derive(Debug, Clone)]
pub struct InventoryService {
    ingest: IngestHandle,
    throttle: Arc<Mutex<LogThrottle>>,
    policies: Arc<PolicyChannels>,
    budget: Arc<Semaphore>,
    streams: Arc<Mutex<StreamTable>>,
    settings: ServiceSettings,
    shutdown: CancellationToken,
    metrics: ServiceMetrics,
}

impl InventoryService {
    /// A service feeding the given writer; its streams end when `shutdown` is cancelled.
    pub fn new(
        ingest: IngestHandle,
        policies: Arc<PolicyChannels>,
        settings: ServiceSettings,
        shutdown: CancellationToken,
    ) -> Self {
        InventoryService {
            ingest,
            throttle: Arc::new(Mutex::new(LogThrottle::new(crate::net::LOG_EVERY))),
            policies,
            budget: Arc::new(Semaphore::new(
                settings.queued_bytes.clamp(1, Semaphore::MAX_PERMITS),
            )),
            streams: Arc::new(Mutex::new(StreamTable::new(settings.max_streams_per_agent))),
            settings,
            shutdown,
            metrics: ServiceMetrics::default(),
        }
    }

    /// Counts into `metrics` (by default, into handles no endpoint exposes).
    #[must_use]
    pub fn with_metrics(mut self, metrics: ServiceMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The tonic server wrapper, with the contract's message size limit.
    pub fn into_server(self) -> pb::inventory_server::InventoryServer<Self> {
        pb::inventory_server::InventoryServer::new(self)
            .max_decoding_message_size(hygie_proto::limits::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(hygie_proto::limits::MAX_MESSAGE_BYTES)
    }
}

/// Logs at WARN unless a line of the same kind was logged within [`crate::net::LOG_EVERY`].
fn warn_throttled(throttle: &Mutex<LogThrottle>, kind: &'static str, log: impl FnOnce(u64)) {
    let admitted = throttle
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .admit(kind, std::time::Instant::now());
    if let Some(held_back) = admitted {
        log(held_back);
    }
}

fn unavailable(error: &IngestError) -> Status {
    Status::unavailable(hygie_proto::error_chain(error))
}

/// Refuses one batch, naming it so the agent can set exactly that batch aside.
fn reject_batch(sequence: u64, error: &InvalidMessage) -> Status {
    let mut status = Status::invalid_argument(format!("batch {sequence} refused: {error}"));
    status.metadata_mut().insert(
        hygie_proto::REJECTED_SEQUENCE_METADATA,
        MetadataValue::from(sequence),
    );
    status
}

/// The identity behind a request: from the front door's connection info, or (when the server
/// runs on tonic's own TLS, as some tests do) from the peer certificate.
fn identity_of<T>(request: &Request<T>) -> Result<AgentIdentity, Status> {
    if let Some(peer) = request.extensions().get::<AgentPeer>() {
        return Ok(peer.identity.clone());
    }
    peer::identity_of(request).map_err(|error| {
        tracing::warn!(remote = ?request.remote_addr(), error = %error, "stream refused");
        Status::unauthenticated(error.to_string())
    })
}

type ReportStream = Pin<Box<dyn Stream<Item = Result<pb::CollectorMessage, Status>> + Send>>;
type Outgoing = mpsc::Sender<Result<pb::CollectorMessage, Status>>;

/// Removes a stream from the table when it ends.
struct StreamEntry {
    streams: Arc<Mutex<StreamTable>>,
    identity: AgentIdentity,
    id: StreamId,
}

impl Drop for StreamEntry {
    fn drop(&mut self) {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .close(&self.identity, self.id);
    }
}

#[tonic::async_trait]
impl pb::inventory_server::Inventory for InventoryService {
    type ReportStream = ReportStream;

    async fn report(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Self::ReportStream>, Status> {
        let identity = identity_of(&request)?;
        let mut inbound = request.into_inner();

        let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no Hello within 30 s"))??;
        let hello = match first {
            Some(pb::AgentMessage {
                kind: Some(pb::agent_message::Kind::Hello(hello)),
            }) => AgentHello::try_from(hello).map_err(|error| {
                tracing::warn!(agent = %identity, error = %error, "hello refused");
                Status::invalid_argument(format!("hello refused: {error}"))
            })?,
            Some(_) => {
                return Err(Status::invalid_argument(
                    "the first message of a stream must be a Hello",
                ));
            }
            None => return Err(Status::cancelled("stream closed before Hello")),
        };
        let outbox = hello.outbox_id;
        let replaced = CancellationToken::new();
        let entry = {
            let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
            let id = streams
                .open(&identity, outbox, replaced.clone())
                .map_err(|refusal| {
                    warn_throttled(&self.throttle, "streams", |held_back| {
                        tracing::warn!(agent = %identity, %outbox, reason = %refusal, held_back, "stream refused");
                    });
                    Status::resource_exhausted(refusal.to_string())
                })?;
            StreamEntry {
                streams: Arc::clone(&self.streams),
                identity: identity.clone(),
                id,
            }
        };
        tracing::info!(
            agent = %identity,
            hostname = %hello.hostname,
            version = %hello.agent_version,
            %outbox,
            "agent connected"
        );
        let registration = self
            .ingest
            .register(identity.clone(), hello)
            .await
            .map_err(|error| unavailable(&error))?;
        let metrics = self.metrics.agent(&identity);
        metrics.reported(jiff::Timestamp::now());

        let (outgoing, outgoing_receiver) = mpsc::channel(IN_FLIGHT_PER_STREAM + 2);
        let welcome = pb::CollectorMessage {
            kind: Some(pb::collector_message::Kind::Welcome(pb::Welcome {
                agent_name: identity.name().to_owned(),
                site: identity.site().to_owned(),
                max_batch_observations: u32::try_from(hygie_proto::limits::MAX_BATCH_OBSERVATIONS)
                    .unwrap_or(u32::MAX),
                collector_version: env!("CARGO_PKG_VERSION").to_owned(),
                last_committed_sequence: registration.last_committed,
                heartbeat_interval_seconds: u32::try_from(
                    self.settings.heartbeat_interval.as_secs(),
                )
                .unwrap_or(u32::MAX)
                .max(1),
            })),
        };
        // The channel is empty, so this cannot wait.
        let _ = outgoing.send(Ok(welcome)).await;
        let ended = CancellationToken::new();
        tokio::spawn(send_policies(
            self.policies.subscribe(identity.site()),
            outgoing.clone(),
            ended.clone(),
        ));

        let (pending, pending_receiver) = mpsc::channel(IN_FLIGHT_PER_STREAM);
        tokio::spawn(acknowledge(pending_receiver, outgoing, metrics.clone()));
        let session = Session {
            _stream: metrics.stream_guard(),
            metrics,
            identity,
            throttle: Arc::clone(&self.throttle),
            ingest: self.ingest.session(registration.agent, outbox),
            outbox,
            budget: Arc::clone(&self.budget),
            replaced,
            _ended: ended.drop_guard(),
            _entry: entry,
        };
        tokio::spawn(session.read_batches(inbound, pending, self.shutdown.clone()));
        Ok(Response::new(Box::pin(ReceiverStream::new(
            outgoing_receiver,
        ))))
    }
}

/// Sends the site's policy now and whenever it changes, until the stream ends.
async fn send_policies(
    mut policies: watch::Receiver<Arc<ScanPolicy>>,
    outgoing: Outgoing,
    ended: CancellationToken,
) {
    loop {
        let policy = Arc::clone(&policies.borrow_and_update());
        let message = pb::CollectorMessage {
            kind: Some(pb::collector_message::Kind::ScanPolicy(
                pb::ScanPolicy::from(policy.as_ref()),
            )),
        };
        tokio::select! {
            () = ended.cancelled() => return,
            sent = outgoing.send(Ok(message)) => if sent.is_err() { return },
        }
        tokio::select! {
            () = ended.cancelled() => return,
            changed = policies.changed() => if changed.is_err() { return },
        }
    }
}

/// One agent's stream.
struct Session {
    identity: AgentIdentity,
    throttle: Arc<Mutex<LogThrottle>>,
    ingest: IngestSession,
    outbox: OutboxId,
    budget: Arc<Semaphore>,
    /// Cancelled when a newer stream of the same outbox replaces this one.
    replaced: CancellationToken,
    /// Stops the policy sender when the reader ends.
    _ended: tokio_util::sync::DropGuard,
    _entry: StreamEntry,
    metrics: AgentMetrics,
    /// Counts the stream as open while it reads.
    _stream: StreamCount,
}

/// What the acker must send next, in stream order.
enum Pending {
    /// Await this commit, then Ack it; the permit holds the batch's share of the byte budget.
    Commit(u64, PendingAck, OwnedSemaphorePermit),
    /// End the stream with this status (after the Acks queued before it).
    End(Status),
}

impl Session {
    async fn read_batches(
        self,
        mut inbound: Streaming<pb::AgentMessage>,
        pending: mpsc::Sender<Pending>,
        shutdown: CancellationToken,
    ) {
        let mut last_sequence = 0u64;
        let end = loop {
            let message = tokio::select! {
                message = inbound.message() => message,
                () = shutdown.cancelled() => {
                    break Some(Status::unavailable("the collector is shutting down"));
                }
                () = self.replaced.cancelled() => {
                    tracing::info!(agent = %self.identity, outbox = %self.outbox, "stream replaced by a newer one of the same outbox");
                    break Some(Status::aborted("replaced by a newer stream of the same outbox"));
                }
            };
            let message = match message {
                Ok(Some(message)) => {
                    self.metrics.reported(jiff::Timestamp::now());
                    message
                }
                Ok(None) => break None,
                // A broken stream, a deadline, a message refused by the wire check: say so if
                // anyone listens.
                Err(status) => {
                    if matches!(
                        status.code(),
                        tonic::Code::DeadlineExceeded | tonic::Code::InvalidArgument
                    ) {
                        warn_throttled(&self.throttle, "stream_refused", |held_back| {
                            tracing::warn!(agent = %self.identity, %status, held_back, "stream ended: message refused or too slow");
                        });
                    } else {
                        tracing::debug!(agent = %self.identity, %status, "stream read failed");
                    }
                    break Some(status);
                }
            };
            let wire = match message.kind {
                Some(pb::agent_message::Kind::Batch(batch)) => batch,
                Some(pb::agent_message::Kind::Heartbeat(heartbeat)) => {
                    tracing::trace!(agent = %self.identity, policy = heartbeat.applied_policy_version, "heartbeat");
                    continue;
                }
                Some(pb::agent_message::Kind::Hello(_)) | None => {
                    break Some(Status::invalid_argument(
                        "expected an ObservationBatch or a Heartbeat after the Hello",
                    ));
                }
            };
            let sequence = wire.sequence;
            if sequence <= last_sequence {
                warn_throttled(&self.throttle, "regressed", |held_back| {
                    tracing::warn!(agent = %self.identity, sequence, after = last_sequence, held_back, "batch sequence regressed within a stream");
                });
                break Some(Status::failed_precondition(format!(
                    "batch {sequence} after batch {last_sequence} on the same stream: sequences must increase"
                )));
            }
            last_sequence = sequence;
            let batch = match ObservationBatch::try_from(wire) {
                Ok(batch) => batch,
                Err(error) => {
                    self.metrics.refused();
                    warn_throttled(&self.throttle, "batch_refused", |held_back| {
                        tracing::warn!(agent = %self.identity, sequence, error = %error, held_back, "batch refused");
                    });
                    break Some(reject_batch(sequence, &error));
                }
            };
            let cost = batch.heap_bytes().clamp(1, Semaphore::MAX_PERMITS);
            let permit = match Arc::clone(&self.budget)
                .acquire_many_owned(u32::try_from(cost).unwrap_or(u32::MAX))
                .await
            {
                Ok(permit) => permit,
                Err(_) => break Some(Status::unavailable("the collector is shutting down")),
            };
            if self.ingest.is_fenced() {
                break Some(unavailable(&IngestError::Fenced));
            }
            match self.ingest.submit(batch).await {
                Ok(answer) => {
                    if pending
                        .send(Pending::Commit(sequence, answer, permit))
                        .await
                        .is_err()
                    {
                        break None;
                    }
                }
                Err(error) => break Some(unavailable(&error)),
            }
        };
        if let Some(status) = end {
            let _ = pending.send(Pending::End(status)).await;
        }
        tracing::debug!(agent = %self.identity, "agent stream closed");
    }
}

async fn acknowledge(
    mut pending: mpsc::Receiver<Pending>,
    outgoing: Outgoing,
    metrics: AgentMetrics,
) {
    while let Some(next) = pending.recv().await {
        let message = match next {
            Pending::Commit(sequence, answer, _permit) => match answer.await {
                Ok(Ok(outcome)) => Ok(pb::CollectorMessage {
                    kind: Some(pb::collector_message::Kind::Ack(pb::Ack {
                        sequence: outcome.sequence,
                        accepted: outcome.accepted,
                        duplicate: outcome.duplicate,
                        refused_new_assets: outcome.refused_new_assets,
                    })),
                }),
                Ok(Err(error)) => Err(unavailable(&error)),
                Err(_) => {
                    tracing::error!(sequence, "the writer dropped a batch without an answer");
                    Err(unavailable(&IngestError::WriterStopped))
                }
            },
            Pending::End(status) => Err(status),
        };
        let last = message.is_err();
        if outgoing.send(message).await.is_err() || last {
            // The agent went away, or the stream ends here. Batches still queued are either
            // committed (their Acks are sent again, as duplicates, when the agent resends them)
            // or fenced and refused, so the agent resends from the first unacknowledged one.
            break;
        }
        metrics.acknowledged(jiff::Timestamp::now());
    }
}
