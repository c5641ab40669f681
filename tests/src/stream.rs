//! A benchmark agent: one `Report` stream over gRPC and mutual TLS that sends batches with a
//! window of them in flight, as the real uplink does, and waits for each acknowledgement in
//! order. No outbox, no retries: a benchmark either gets every batch acknowledged or fails.

use std::collections::VecDeque;

use hygie_proto::{OutboxId, pb};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::pki::AgentCerts;

/// Batches one stream keeps unacknowledged, as the agent's uplink does.
pub const WINDOW: usize = 16;

/// Why a stream did not get every batch acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("reading the agent's certificates: {0}")]
    Certificates(#[from] std::io::Error),
    #[error("connecting to the collector: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("the collector answered {0}")]
    Status(Box<tonic::Status>),
    #[error("{0}")]
    Protocol(String),
}

impl From<tonic::Status> for StreamError {
    fn from(status: tonic::Status) -> Self {
        StreamError::Status(Box::new(status))
    }
}

/// Connects as the agent of `certs` to the collector on 127.0.0.1:`port`, says Hello, then
/// sends `batches` (sequences must start at 1 and follow each other) with up to [`WINDOW`] in
/// flight. Returns the number of batches acknowledged: all of them, or an error.
///
/// `batches` is consumed as the window opens, so a caller may generate them lazily.
pub async fn send_batches<I>(port: u16, certs: AgentCerts, batches: I) -> Result<u64, StreamError>
where
    I: IntoIterator<Item = pb::ObservationBatch>,
{
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&certs.ca)?))
        .identity(Identity::from_pem(
            std::fs::read(&certs.cert)?,
            std::fs::read(&certs.key)?,
        ));
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))?
        .tls_config(tls)?
        .connect()
        .await?;
    let mut client = pb::inventory_client::InventoryClient::new(channel)
        .max_encoding_message_size(hygie_proto::limits::MAX_MESSAGE_BYTES);
    let (sender, receiver) = tokio::sync::mpsc::channel(2 * WINDOW);
    let closed = || StreamError::Protocol("the request stream closed".into());
    sender
        .send(pb::AgentMessage {
            kind: Some(pb::agent_message::Kind::Hello(pb::Hello {
                agent_version: "bench".into(),
                hostname: "bench".into(),
                interfaces: vec![],
                outbox_id: OutboxId(rand::random()).0.to_vec(),
            })),
        })
        .await
        .map_err(|_| closed())?;
    let mut inbound = client
        .report(ReceiverStream::new(receiver))
        .await?
        .into_inner();
    if inbound.message().await?.is_none() {
        return Err(StreamError::Protocol("no Welcome".into()));
    }

    let mut pending = batches.into_iter();
    let mut in_flight = VecDeque::new();
    let mut acknowledged = 0;
    loop {
        while in_flight.len() < WINDOW {
            let Some(batch) = pending.next() else {
                break;
            };
            in_flight.push_back(batch.sequence);
            sender
                .send(pb::AgentMessage {
                    kind: Some(pb::agent_message::Kind::Batch(batch)),
                })
                .await
                .map_err(|_| closed())?;
        }
        if in_flight.is_empty() {
            return Ok(acknowledged);
        }
        match inbound.message().await? {
            Some(pb::CollectorMessage {
                kind: Some(pb::collector_message::Kind::Ack(ack)),
            }) if in_flight.front() == Some(&ack.sequence) => {
                in_flight.pop_front();
                acknowledged += 1;
            }
            // The site's scan policy, on connect and on every change: not what is measured.
            Some(pb::CollectorMessage {
                kind: Some(pb::collector_message::Kind::ScanPolicy(_)),
            }) => {}
            other => return Err(StreamError::Protocol(format!("unexpected reply {other:?}"))),
        }
    }
}
