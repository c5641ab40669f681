//! The gRPC adapter: identity from the client certificate, wire → domain conversion, and the
//! ordering of Acks. No inventory rules and no SQL live here.
//!
//! Each `Report` stream runs as two halves joined by a bounded queue: the reader converts and
//! submits batches to the writer without waiting for their commits, and the acker awaits each
//! commit in submission order and sends its Ack. Throughput thus comes from many batches in
//! flight, while Acks still leave in order and only after their commit.
//!
//! Memory is bounded twice: per stream by the in-flight queue, and across streams by a budget
//! of encoded bytes that a batch holds from the moment it is read until its Ack is sent.

pub mod peer;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use hygie_proto::{AgentHello, InvalidMessage, ObservationBatch, OutboxId, pb};
use prost::Message;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::identity::AgentIdentity;
use crate::ingest::{IngestError, IngestHandle, PendingAck, SessionFence};
use crate::inventory::AgentId;

/// Batches a single stream may have awaiting commit.
const IN_FLIGHT_PER_STREAM: usize = 64;
/// Encoded bytes of batches read but not yet acknowledged, across all streams.
pub const QUEUED_BYTES_BUDGET: usize = 128 * 1024 * 1024;
/// How long a new stream may take to say Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// The `hygie.v1.Inventory` service.
#[derive(Debug, Clone)]
pub struct InventoryService {
    ingest: IngestHandle,
    budget: Arc<Semaphore>,
    shutdown: CancellationToken,
}

impl InventoryService {
    /// A service feeding the given writer; its streams end when `shutdown` is cancelled.
    pub fn new(ingest: IngestHandle, shutdown: CancellationToken) -> Self {
        InventoryService {
            ingest,
            budget: Arc::new(Semaphore::new(QUEUED_BYTES_BUDGET)),
            shutdown,
        }
    }

    /// The tonic server wrapper, with the contract's message size limit.
    pub fn into_server(self) -> pb::inventory_server::InventoryServer<Self> {
        pb::inventory_server::InventoryServer::new(self)
            .max_decoding_message_size(hygie_proto::limits::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(hygie_proto::limits::MAX_MESSAGE_BYTES)
    }
}

fn unavailable(error: &IngestError) -> Status {
    Status::unavailable(error.to_string())
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

type ReportStream = Pin<Box<dyn Stream<Item = Result<pb::CollectorMessage, Status>> + Send>>;

#[tonic::async_trait]
impl pb::inventory_server::Inventory for InventoryService {
    type ReportStream = ReportStream;

    async fn report(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Self::ReportStream>, Status> {
        let identity = peer::identity_of(&request).map_err(|error| {
            tracing::warn!(remote = ?request.remote_addr(), error = %error, "stream refused");
            Status::unauthenticated(error.to_string())
        })?;
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

        let (outgoing, outgoing_receiver) = mpsc::channel(IN_FLIGHT_PER_STREAM);
        let welcome = pb::CollectorMessage {
            kind: Some(pb::collector_message::Kind::Welcome(pb::Welcome {
                agent_name: identity.name().to_owned(),
                site: identity.site().to_owned(),
                max_batch_observations: hygie_proto::limits::MAX_BATCH_OBSERVATIONS as u32,
                collector_version: env!("CARGO_PKG_VERSION").to_owned(),
                last_committed_sequence: registration.last_committed,
                heartbeat_interval_seconds: 60,
            })),
        };
        // The channel is empty, so this cannot wait.
        let _ = outgoing.send(Ok(welcome)).await;

        let (pending, pending_receiver) = mpsc::channel(IN_FLIGHT_PER_STREAM);
        tokio::spawn(acknowledge(pending_receiver, outgoing));
        let session = Session {
            identity,
            agent: registration.agent,
            outbox,
            fence: SessionFence::new(),
            ingest: self.ingest.clone(),
            budget: Arc::clone(&self.budget),
        };
        tokio::spawn(session.read_batches(inbound, pending, self.shutdown.clone()));
        Ok(Response::new(Box::pin(ReceiverStream::new(
            outgoing_receiver,
        ))))
    }
}

/// One agent's stream.
#[derive(Debug)]
struct Session {
    identity: AgentIdentity,
    agent: AgentId,
    outbox: OutboxId,
    fence: Arc<SessionFence>,
    ingest: IngestHandle,
    budget: Arc<Semaphore>,
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
        let end = loop {
            let message = tokio::select! {
                message = inbound.message() => message,
                () = shutdown.cancelled() => {
                    break Some(Status::unavailable("the collector is shutting down"));
                }
            };
            let message = match message {
                Ok(Some(message)) => message,
                Ok(None) => break None,
                // A broken stream, or a message over the size limit: say so if anyone listens.
                Err(status) => {
                    tracing::debug!(agent = %self.identity, %status, "stream read failed");
                    break Some(status);
                }
            };
            let wire = match message.kind {
                Some(pb::agent_message::Kind::Batch(batch)) => batch,
                Some(pb::agent_message::Kind::Heartbeat(_)) => continue,
                Some(pb::agent_message::Kind::Hello(_)) | None => {
                    break Some(Status::invalid_argument(
                        "expected an ObservationBatch after the Hello",
                    ));
                }
            };
            let sequence = wire.sequence;
            let cost = wire.encoded_len().clamp(1, QUEUED_BYTES_BUDGET);
            let permit = match Arc::clone(&self.budget)
                .acquire_many_owned(u32::try_from(cost).unwrap_or(u32::MAX))
                .await
            {
                Ok(permit) => permit,
                Err(_) => break Some(Status::unavailable("the collector is shutting down")),
            };
            let batch = match ObservationBatch::try_from(wire) {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(agent = %self.identity, sequence, error = %error, "batch refused");
                    break Some(reject_batch(sequence, &error));
                }
            };
            if self.fence.is_failed() {
                break Some(unavailable(&IngestError::Fenced));
            }
            match self
                .ingest
                .submit(self.agent, self.outbox, &self.fence, batch)
                .await
            {
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
    outgoing: mpsc::Sender<Result<pb::CollectorMessage, Status>>,
) {
    while let Some(next) = pending.recv().await {
        let message = match next {
            Pending::Commit(sequence, answer, _permit) => match answer.await {
                Ok(Ok(outcome)) => Ok(pb::CollectorMessage {
                    kind: Some(pb::collector_message::Kind::Ack(pb::Ack {
                        sequence: outcome.sequence,
                        accepted: outcome.accepted,
                        duplicate: outcome.duplicate,
                        refused_new_assets: 0,
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
    }
}
