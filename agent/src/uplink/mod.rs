//! The uplink: streams the outbox to the collector over mutual-TLS gRPC.
//!
//! One session = one `Report` stream: Hello, Welcome, then batches. Up to `in_flight_batches`
//! are sent ahead of their Acks; each Ack deletes its batch from the outbox. After any failure
//! the session ends and [`disposition`] decides: reconnect after a jittered backoff, set a
//! refused batch aside, or stop retrying (certificate or identity refused) and say so in the
//! log. The outbox keeps filling meanwhile, so nothing is lost while the link is down.

pub mod backoff;
pub mod disposition;
mod host;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use hygie_proto::pb;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::config::{CollectorSettings, UplinkSettings};
use crate::outbox::{OutboxError, SharedOutbox};
use crate::tls::ClientTls;
use backoff::Backoff;
use disposition::{Disposition, classify_status, classify_transport};

pub use host::hello;

/// The uplink could not start.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error(transparent)]
    Credentials(#[from] crate::tls::TlsError),
    #[error("invalid TLS settings for {endpoint}")]
    Tls {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
}

/// How the uplink ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UplinkEnd {
    /// Shut down on request.
    Shutdown,
    /// Stopped retrying for this reason; the agent keeps collecting into the outbox.
    Halted(String),
}

/// A connected-or-connecting uplink.
#[derive(Debug)]
pub struct Uplink {
    endpoint: Endpoint,
    welcome_timeout: Duration,
    settings: UplinkSettings,
    outbox: SharedOutbox,
    new_observations: Arc<Notify>,
}

/// Encoded observations per batch at most, so a batch always fits in one message.
pub const MAX_BATCH_BYTES: u64 = hygie_proto::limits::MAX_BATCH_BYTES as u64;
/// A session that lasted this long proves the link works: the next failure backs off afresh.
const HEALTHY_SESSION: Duration = Duration::from_secs(30);

/// How one session ended.
enum SessionEnd {
    Shutdown,
    /// The collector already holds batches of this outbox id that this outbox never formed:
    /// it is a copy (restored backup, cloned machine) and must take a new id.
    OutboxCopied {
        collector: u64,
        ours: u64,
    },
    Failed(Disposition),
}

impl From<OutboxError> for SessionEnd {
    fn from(error: OutboxError) -> Self {
        // A local disk problem: retrying later is the best we can do.
        SessionEnd::Failed(Disposition::Retry(format!(
            "outbox: {}",
            hygie_proto::error_chain(&error)
        )))
    }
}

impl Uplink {
    /// Prepares the TLS endpoint (reading the certificate files now, so a typo fails early).
    pub fn new(
        collector: &CollectorSettings,
        settings: UplinkSettings,
        outbox: SharedOutbox,
        new_observations: Arc<Notify>,
    ) -> Result<Self, UplinkError> {
        // Checked as `hygie-agent validate` checks them. One the collector will refuse still
        // runs: collection goes on into the outbox meanwhile.
        let credentials = ClientTls::load(collector)?;
        if let Some(refusal) = credentials.refusal() {
            tracing::error!(error = %refusal, "the collector will refuse this agent's certificate");
        }
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(credentials.ca_certificate())
            .identity(credentials.identity());
        if let Some(name) = &collector.server_name {
            tls = tls.domain_name(name.clone());
        }
        let tls_error = |source| UplinkError::Tls {
            endpoint: collector.endpoint.to_string(),
            source,
        };
        let endpoint = Endpoint::from(collector.endpoint.clone())
            .tls_config(tls)
            .map_err(tls_error)?
            .connect_timeout(collector.connect_timeout)
            .tcp_keepalive(Some(Duration::from_secs(60)))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        Ok(Uplink {
            endpoint,
            welcome_timeout: collector.connect_timeout.max(Duration::from_secs(5)),
            settings,
            outbox,
            new_observations,
        })
    }

    /// Runs sessions until shutdown or a permanent refusal.
    pub async fn run(self, shutdown: CancellationToken) -> UplinkEnd {
        let mut backoff = Backoff::new(self.settings.backoff_initial, self.settings.backoff_max);
        let mut set_aside_in_a_row = 0u32;
        loop {
            let started = Instant::now();
            let mut acked = false;
            let end = tokio::select! {
                () = shutdown.cancelled() => SessionEnd::Shutdown,
                connected = self.endpoint.connect() => match connected {
                    Ok(channel) => self.session(channel, &mut acked, &shutdown).await,
                    Err(error) => SessionEnd::Failed(classify_transport(&error)),
                },
            };
            // Only a session that did useful work proves the link: one that fails right after
            // its Welcome (a collector refusing every batch) must keep backing off.
            if acked || started.elapsed() >= HEALTHY_SESSION {
                backoff.reset();
            }
            let retry_now = match end {
                SessionEnd::Shutdown => return UplinkEnd::Shutdown,
                SessionEnd::Failed(Disposition::Fatal(reason)) => {
                    tracing::error!(
                        endpoint = %self.endpoint.uri(),
                        reason = %reason,
                        "uplink stopped, not retrying: fix the cause and restart hygie-agent; observations keep accumulating in the outbox"
                    );
                    return UplinkEnd::Halted(reason);
                }
                SessionEnd::OutboxCopied { collector, ours } => {
                    tracing::warn!(
                        collector_sequence = collector,
                        outbox_sequence = ours,
                        "the collector has batches of this outbox that it never sent: it was restored from a backup or copied; taking a new outbox id"
                    );
                    if let Err(error) = self.outbox.renew_id().await {
                        tracing::error!(error = %hygie_proto::error_chain(&error), "cannot renew the outbox id");
                        false
                    } else {
                        true
                    }
                }
                SessionEnd::Failed(Disposition::SetAside { sequence, reason }) => {
                    tracing::error!(sequence, reason = %reason, "the collector refused a batch as invalid; it is set aside in the outbox (not retried)");
                    if let Err(error) = self.outbox.set_aside(sequence, reason).await {
                        tracing::error!(error = %hygie_proto::error_chain(&error), "cannot set the batch aside");
                    }
                    // One refused batch is not the link's fault: carry on at once. Many in a
                    // row (a collector that refuses everything) must not spin.
                    set_aside_in_a_row += 1;
                    set_aside_in_a_row < 3
                }
                SessionEnd::Failed(Disposition::Retry(reason)) => {
                    tracing::warn!(
                        endpoint = %self.endpoint.uri(),
                        reason = %reason,
                        "collector unreachable; observations are kept in the outbox"
                    );
                    false
                }
            };
            if acked {
                set_aside_in_a_row = 0;
            }
            if !retry_now {
                let delay = backoff.next_delay(&mut rand::rng());
                tracing::info!(retry_in = ?delay, "reconnecting later");
                tokio::select! {
                    () = shutdown.cancelled() => return UplinkEnd::Shutdown,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }

    async fn session(
        &self,
        channel: Channel,
        acked: &mut bool,
        shutdown: &CancellationToken,
    ) -> SessionEnd {
        let window = self.settings.in_flight_batches;
        let (outgoing, outgoing_receiver) = mpsc::channel(window + 1);
        let hello = hello(self.outbox.id());
        let _ = outgoing
            .send(pb::AgentMessage {
                kind: Some(pb::agent_message::Kind::Hello(pb::Hello::from(&hello))),
            })
            .await;
        let mut client = pb::inventory_client::InventoryClient::new(channel)
            .max_decoding_message_size(hygie_proto::limits::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(hygie_proto::limits::MAX_MESSAGE_BYTES);
        // Neither the response headers nor the Welcome may hang the agent (or its shutdown).
        let welcome_deadline = Instant::now() + self.welcome_timeout;
        let opened = tokio::select! {
            () = shutdown.cancelled() => return SessionEnd::Shutdown,
            opened = tokio::time::timeout_at(
                welcome_deadline,
                client.report(ReceiverStream::new(outgoing_receiver)),
            ) => opened,
        };
        let mut inbound = match opened {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => return SessionEnd::Failed(classify_status(&status)),
            Err(_) => {
                return SessionEnd::Failed(Disposition::Retry("no answer to the Hello".into()));
            }
        };
        let first = tokio::select! {
            () = shutdown.cancelled() => return SessionEnd::Shutdown,
            first = tokio::time::timeout_at(welcome_deadline, inbound.message()) => first,
        };
        let Ok(first) = first else {
            return SessionEnd::Failed(Disposition::Retry("no Welcome from the collector".into()));
        };
        match first {
            Ok(Some(pb::CollectorMessage {
                kind: Some(pb::collector_message::Kind::Welcome(welcome)),
            })) => {
                tracing::info!(
                    agent = %welcome.agent_name,
                    site = %welcome.site,
                    collector_version = %welcome.collector_version,
                    outbox = %self.outbox.id(),
                    "connected to the collector"
                );
                let ours = match self.outbox.last_sequence().await {
                    Ok(ours) => ours,
                    Err(error) => return error.into(),
                };
                if welcome.last_committed_sequence > ours {
                    return SessionEnd::OutboxCopied {
                        collector: welcome.last_committed_sequence,
                        ours,
                    };
                }
            }
            Ok(Some(_)) => {
                return SessionEnd::Failed(Disposition::Retry(
                    "the collector did not start with a Welcome".into(),
                ));
            }
            Ok(None) => {
                return SessionEnd::Failed(Disposition::Retry(
                    "the collector closed the stream".into(),
                ));
            }
            Err(status) => return SessionEnd::Failed(classify_status(&status)),
        }

        // Invariant 4: unacknowledged batches go again first, oldest first.
        let mut resend: VecDeque<u64> = match self.outbox.unacked().await {
            Ok(spans) => spans.iter().map(|span| span.sequence).collect(),
            Err(error) => return error.into(),
        };
        if !resend.is_empty() {
            tracing::info!(batches = resend.len(), "resending unacknowledged batches");
        }
        let mut in_flight: VecDeque<u64> = VecDeque::new();
        let mut partial_deadline: Option<Instant> = None;
        let max = self.settings.batch_max_observations;
        loop {
            // Fill the window: resends first, then new batches (full ones at once, a partial one
            // once it has waited `batch_max_delay`).
            while in_flight.len() < window {
                let sequence = if let Some(sequence) = resend.pop_front() {
                    sequence
                } else {
                    let waiting = match self.outbox.unbatched().await {
                        Ok(waiting) => waiting,
                        Err(error) => return error.into(),
                    };
                    if waiting == 0 {
                        partial_deadline = None;
                        break;
                    }
                    let full = waiting >= max as u64;
                    let due = partial_deadline.is_some_and(|deadline| Instant::now() >= deadline);
                    if !full && !due {
                        partial_deadline
                            .get_or_insert_with(|| Instant::now() + self.settings.batch_max_delay);
                        break;
                    }
                    partial_deadline = None;
                    match self.outbox.form_batch(max, MAX_BATCH_BYTES).await {
                        Ok(Some(span)) => span.sequence,
                        Ok(None) => break,
                        Err(error) => return error.into(),
                    }
                };
                let batch = match self.outbox.load(sequence).await {
                    Ok(Some(batch)) => batch,
                    // Evicted by the size bound meanwhile: nothing to send.
                    Ok(None) => continue,
                    Err(error) => return error.into(),
                };
                let message = pb::AgentMessage {
                    kind: Some(pb::agent_message::Kind::Batch(batch)),
                };
                if outgoing.send(message).await.is_err() {
                    return SessionEnd::Failed(Disposition::Retry("the stream closed".into()));
                }
                in_flight.push_back(sequence);
            }

            let partial_due = async {
                match partial_deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                message = inbound.message() => match message {
                    Ok(Some(pb::CollectorMessage { kind: Some(pb::collector_message::Kind::Ack(ack)) })) => {
                        if in_flight.front() != Some(&ack.sequence) {
                            return SessionEnd::Failed(Disposition::Retry(format!(
                                "Ack for batch {} while expecting {:?}", ack.sequence, in_flight.front()
                            )));
                        }
                        in_flight.pop_front();
                        *acked = true;
                        if let Err(error) = self.outbox.ack(ack.sequence).await {
                            return error.into();
                        }
                        tracing::debug!(sequence = ack.sequence, accepted = ack.accepted, duplicate = ack.duplicate, "batch acknowledged");
                    }
                    // Messages this version does not act on yet (a scan policy) are ignored.
                    Ok(Some(_)) => {}
                    Ok(None) => return SessionEnd::Failed(Disposition::Retry("the collector closed the stream".into())),
                    Err(status) => return SessionEnd::Failed(classify_status(&status)),
                },
                () = self.new_observations.notified(), if in_flight.len() < window => {}
                () = partial_due, if in_flight.len() < window => {}
                () = shutdown.cancelled() => {
                    self.drain(&mut inbound, &mut in_flight).await;
                    return SessionEnd::Shutdown;
                }
            }
        }
    }

    /// On shutdown, waits briefly for the Acks of batches already sent, so a restart does not
    /// resend them (it would be harmless, only wasteful).
    async fn drain(
        &self,
        inbound: &mut tonic::Streaming<pb::CollectorMessage>,
        in_flight: &mut VecDeque<u64>,
    ) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !in_flight.is_empty() {
            let message = tokio::time::timeout_at(deadline, inbound.message()).await;
            let Ok(Ok(Some(pb::CollectorMessage {
                kind: Some(pb::collector_message::Kind::Ack(ack)),
            }))) = message
            else {
                break;
            };
            if in_flight.front() == Some(&ack.sequence) {
                in_flight.pop_front();
                let _ = self.outbox.ack(ack.sequence).await;
            }
        }
    }
}
