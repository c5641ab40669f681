//! The gRPC adapter: identity from the client certificate, wire → domain conversion, and the
//! ordering of Acks. No inventory rules and no SQL live here.
//!
//! Each `Report` stream runs as two halves joined by a bounded queue: the reader converts and
//! submits batches to the writer without waiting for their commits, and the acker awaits each
//! commit in submission order and sends its Ack. Throughput thus comes from many batches in
//! flight, while Acks still leave in order and only after their commit.

pub mod peer;

use std::pin::Pin;

use futures::Stream;
use hygie_proto::{AgentHello, InvalidMessage, ObservationBatch, OutboxId, pb};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::identity::AgentIdentity;
use crate::ingest::{IngestError, IngestHandle, PendingAck};
use crate::inventory::AgentId;

/// Batches a single stream may have awaiting commit.
const IN_FLIGHT_PER_STREAM: usize = 64;

/// The `hygie.v1.Inventory` service.
#[derive(Debug, Clone)]
pub struct InventoryService {
    ingest: IngestHandle,
}

impl InventoryService {
    /// A service feeding the given writer.
    pub fn new(ingest: IngestHandle) -> Self {
        InventoryService { ingest }
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

        let hello = match inbound.message().await? {
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
        let agent = self
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
            })),
        };
        // The channel is empty, so this cannot wait.
        let _ = outgoing.send(Ok(welcome)).await;

        let (pending, pending_receiver) = mpsc::channel(IN_FLIGHT_PER_STREAM);
        tokio::spawn(acknowledge(pending_receiver, outgoing));
        tokio::spawn(read_batches(
            inbound,
            self.ingest.clone(),
            Session {
                identity,
                agent,
                outbox,
            },
            pending,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(
            outgoing_receiver,
        ))))
    }
}

/// Who is on the other end of a stream.
#[derive(Debug)]
struct Session {
    identity: AgentIdentity,
    agent: AgentId,
    outbox: OutboxId,
}

/// What the acker must send next, in stream order.
enum Pending {
    /// Await this commit, then Ack it.
    Commit(u64, PendingAck),
    /// End the stream with this status (after the Acks queued before it).
    End(Status),
}

async fn read_batches(
    mut inbound: Streaming<pb::AgentMessage>,
    ingest: IngestHandle,
    session: Session,
    pending: mpsc::Sender<Pending>,
) {
    let end = loop {
        let message = match inbound.message().await {
            Ok(Some(message)) => message,
            Ok(None) => break None,
            Err(status) => {
                tracing::debug!(agent = %session.identity, %status, "stream ended by the agent side");
                break None;
            }
        };
        let wire = match message.kind {
            Some(pb::agent_message::Kind::Batch(batch)) => batch,
            Some(pb::agent_message::Kind::Hello(_)) | None => {
                break Some(Status::invalid_argument(
                    "expected an ObservationBatch after the Hello",
                ));
            }
        };
        let sequence = wire.sequence;
        let batch = match ObservationBatch::try_from(wire) {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(agent = %session.identity, sequence, error = %error, "batch refused");
                break Some(reject_batch(sequence, &error));
            }
        };
        match ingest.submit(session.agent, session.outbox, batch).await {
            Ok(answer) => {
                if pending
                    .send(Pending::Commit(sequence, answer))
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
    tracing::debug!(agent = %session.identity, "agent stream closed");
}

async fn acknowledge(
    mut pending: mpsc::Receiver<Pending>,
    outgoing: mpsc::Sender<Result<pb::CollectorMessage, Status>>,
) {
    while let Some(next) = pending.recv().await {
        let message = match next {
            Pending::Commit(sequence, answer) => match answer.await {
                Ok(Ok(outcome)) => Ok(pb::CollectorMessage {
                    kind: Some(pb::collector_message::Kind::Ack(pb::Ack {
                        sequence: outcome.sequence,
                        accepted: outcome.accepted,
                        duplicate: outcome.duplicate,
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
            // The agent went away, or the stream ends here; batches still queued will be
            // committed and their Acks re-sent as duplicates when the agent reconnects.
            break;
        }
    }
}
