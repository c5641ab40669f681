//! The uplink: streams the outbox to the collector over mutual-TLS gRPC.
//!
//! One session = one `Report` stream: Hello, Welcome, then batches, and a Heartbeat when there
//! is nothing else to say. Up to `in_flight_batches` are sent ahead of their Acks; each Ack
//! marks its batch acknowledged in the outbox. The collector sends the site's scan policy after
//! its Welcome and whenever it changes; the uplink saves and publishes it ([`PolicyBoard`]).
//! After any failure the session ends and [`disposition`] decides: reconnect after a jittered
//! backoff, set a refused batch aside, or — for a refused certificate or identity — retry
//! slowly, logging at ERROR each time: the uplink never gives up, so fixing a certificate on
//! the collector side needs no visit to every ward. What it is doing is kept in
//! `<outbox>.uplink.json` ([`status`]). The outbox keeps filling meanwhile, so nothing is lost
//! while the link is down.
//!
//! The session's decisions (window, resends, partial batches, heartbeats, Ack order, what a
//! Welcome says) are a pure core in [`session`]; this module only does the I/O they ask for.

pub mod backoff;
pub mod disposition;
mod host;
pub mod session;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use hygie_proto::{ScanPolicy, pb};
use jiff::Timestamp;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::config::{CollectorSettings, UplinkSettings};
use crate::metrics::{Reconnect, SourceTally, UplinkMetrics};
use crate::outbox::{OutboxError, SharedOutbox};
use crate::policy::PolicyBoard;
use crate::tls::ClientTls;
use backoff::Backoff;
use disposition::{Disposition, Step, classify_status, classify_transport};
use session::{Fill, Next, SessionCore, SessionSettings, WelcomeVerdict, welcome_verdict};
use status::{StatusFile, UplinkState, UplinkStatus};

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
    /// Refused, and told to give up then ([`Uplink::give_up_when_refused`]): one-shot sends.
    Refused(String),
}

/// A connected-or-connecting uplink.
#[derive(Debug)]
pub struct Uplink {
    give_up_when_refused: bool,
    endpoint: Endpoint,
    welcome_timeout: Duration,
    settings: UplinkSettings,
    outbox: SharedOutbox,
    new_observations: Arc<Notify>,
    policy: PolicyBoard,
    status: StatusFile,
    metrics: UplinkMetrics,
}

/// Encoded observations per batch at most, so a batch always fits in one message.
pub const MAX_BATCH_BYTES: u64 = hygie_proto::limits::MAX_BATCH_BYTES as u64;
/// A session that lasted this long proves the link works: the next failure backs off afresh.
const HEALTHY_SESSION: Duration = Duration::from_secs(30);
/// The first delay after a refused certificate: slow from the start.
const REFUSED_FIRST_RETRY: Duration = Duration::from_secs(30);
/// How often the collector's refusal of new assets (its quota) is logged at most.
const QUOTA_LOG_EVERY: Duration = Duration::from_secs(600);
/// Heartbeat interval when the collector does not say (collectors before heartbeats).
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(60);

/// The reason label of a session's end, if another session follows it.
fn reconnect_reason(end: &SessionEnd, opened: bool, refused_before: bool) -> Option<Reconnect> {
    Some(match end {
        SessionEnd::Shutdown => return None,
        SessionEnd::Failed(Disposition::Refused(_)) => Reconnect::Refused,
        SessionEnd::Failed(Disposition::Retry(_)) if refused_before => Reconnect::Refused,
        SessionEnd::Failed(Disposition::SetAside { .. }) => Reconnect::BatchRefused,
        SessionEnd::Failed(Disposition::Retry(_)) if opened => Reconnect::StreamFailed,
        SessionEnd::Failed(Disposition::Retry(_)) => Reconnect::ConnectFailed,
        SessionEnd::OutboxCopied { .. } => Reconnect::OutboxCopied,
        SessionEnd::Local(_) => Reconnect::OutboxError,
    })
}

/// How one session ended.
enum SessionEnd {
    Shutdown,
    /// The collector already holds batches of this outbox id that this outbox never formed:
    /// it is a copy (restored backup, cloned machine) and must take a new id.
    OutboxCopied {
        collector: u64,
        ours: u64,
    },
    /// This agent's own outbox failed (a full disk): not the collector's fault.
    Local(String),
    Failed(Disposition),
}

impl From<OutboxError> for SessionEnd {
    fn from(error: OutboxError) -> Self {
        // A local disk problem: retrying later is the best we can do.
        SessionEnd::Local(hygie_proto::error_chain(&error))
    }
}

impl Uplink {
    /// Prepares the TLS endpoint (reading the certificate files now, so a typo fails early).
    pub fn new(
        collector: &CollectorSettings,
        settings: UplinkSettings,
        outbox: SharedOutbox,
        new_observations: Arc<Notify>,
        policy: PolicyBoard,
        status: StatusFile,
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
            give_up_when_refused: false,
            endpoint,
            welcome_timeout: collector.connect_timeout.max(Duration::from_secs(5)),
            settings,
            outbox,
            new_observations,
            policy,
            status,
            metrics: UplinkMetrics::default(),
        })
    }

    /// Counts into `metrics` (by default, into handles no endpoint exposes).
    #[must_use]
    pub fn with_metrics(mut self, metrics: UplinkMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    fn record(
        &mut self,
        state: UplinkState,
        reason: Option<String>,
        failures: u32,
        next: Option<Duration>,
        collector_version: Option<String>,
    ) {
        let now = Timestamp::now();
        let next_attempt = next.and_then(|delay| {
            jiff::SignedDuration::try_from(delay)
                .ok()
                .and_then(|delay| now.checked_add(delay).ok())
        });
        self.status.record(UplinkStatus {
            state,
            since: now,
            reason,
            failures,
            next_attempt,
            collector_version,
            policy_version: self.policy.version(),
        });
    }

    /// Makes [`Uplink::run`] end at a refusal rather than retry: for a one-shot send that a
    /// person is waiting on.
    #[must_use]
    pub fn give_up_when_refused(mut self) -> Self {
        self.give_up_when_refused = true;
        self
    }

    /// Runs sessions until shutdown. It never gives up (see the module docs), unless told to.
    pub async fn run(mut self, shutdown: CancellationToken) -> UplinkEnd {
        let mut backoff = Backoff::new(self.settings.backoff_initial, self.settings.backoff_max);
        let mut refused = Backoff::new(
            REFUSED_FIRST_RETRY.min(self.settings.backoff_max),
            self.settings.backoff_max,
        );
        let mut set_aside_in_a_row = 0u32;
        let mut failures = 0u32;
        // A refusal stands until a session succeeds: with TLS 1.3 the collector's alert races
        // the client's first write, so a refused agent also sees bare broken pipes, which must
        // not make it look (or retry) as if the collector were merely unreachable.
        let mut refusal: Option<String> = None;
        self.record(UplinkState::Connecting, None, 0, None, None);
        loop {
            let started = Instant::now();
            let mut acked = false;
            let mut opened = false;
            let end = tokio::select! {
                () = shutdown.cancelled() => SessionEnd::Shutdown,
                connected = self.endpoint.connect() => match connected {
                    Ok(channel) => {
                        opened = true;
                        self.session(channel, &mut acked, &shutdown).await
                    }
                    Err(error) => SessionEnd::Failed(classify_transport(&error)),
                },
            };
            // Only a session that did useful work proves the link: one that fails right after
            // its Welcome (a collector refusing every batch) must keep backing off.
            if acked || started.elapsed() >= HEALTHY_SESSION {
                backoff.reset();
                refused.reset();
                failures = 0;
                refusal = None;
            }
            self.metrics.set_connected(false);
            if let Some(reason) = reconnect_reason(&end, opened, refusal.is_some()) {
                self.metrics.reconnect(reason);
            }
            let (delay, state, reason) = match end {
                SessionEnd::Shutdown => return UplinkEnd::Shutdown,
                SessionEnd::Failed(Disposition::Refused(reason)) if self.give_up_when_refused => {
                    return UplinkEnd::Refused(reason);
                }
                SessionEnd::Failed(Disposition::Refused(reason)) => {
                    failures += 1;
                    let delay = refused.next_delay(&mut rand::rng());
                    tracing::error!(
                        endpoint = %self.endpoint.uri(),
                        reason = %reason,
                        failures,
                        retry_in = ?delay,
                        "uplink refused: the reason says what to fix (a certificate, on either side, or an incompatible collector); retrying slowly meanwhile, nothing is sent to an unverified server, observations keep accumulating in the outbox"
                    );
                    refusal = Some(reason.clone());
                    (Some(delay), UplinkState::Refused, Some(reason))
                }
                SessionEnd::Failed(Disposition::Retry(reason)) if refusal.is_some() => {
                    failures += 1;
                    let delay = refused.next_delay(&mut rand::rng());
                    tracing::warn!(reason = %reason, retry_in = ?delay, "uplink still refused, it seems (the connection failed before saying why)");
                    (Some(delay), UplinkState::Refused, refusal.clone())
                }
                SessionEnd::OutboxCopied { collector, ours } => {
                    tracing::warn!(
                        collector_sequence = collector,
                        outbox_sequence = ours,
                        "the collector has batches of this outbox that it never sent: it was restored from a backup or copied; taking a new outbox id"
                    );
                    match self.outbox.renew_id().await {
                        Ok(_) => (None, UplinkState::Connecting, None),
                        Err(error) => {
                            let reason = hygie_proto::error_chain(&error);
                            tracing::error!(error = %reason, "cannot renew the outbox id");
                            failures += 1;
                            (
                                Some(backoff.next_delay(&mut rand::rng())),
                                UplinkState::Retrying,
                                Some(reason),
                            )
                        }
                    }
                }
                SessionEnd::Failed(Disposition::SetAside { sequence, reason }) => {
                    tracing::error!(sequence, reason = %reason, "the collector refused a batch as invalid; it is set aside in the outbox (not retried)");
                    if let Err(error) = self.outbox.set_aside(sequence, reason.clone()).await {
                        tracing::error!(error = %hygie_proto::error_chain(&error), "cannot set the batch aside");
                    }
                    // One refused batch is not the link's fault: carry on at once. Many in a
                    // row (a collector that refuses everything) must not spin.
                    set_aside_in_a_row += 1;
                    if set_aside_in_a_row < 3 {
                        (None, UplinkState::Connecting, None)
                    } else {
                        failures += 1;
                        (
                            Some(backoff.next_delay(&mut rand::rng())),
                            UplinkState::Retrying,
                            Some(reason),
                        )
                    }
                }
                SessionEnd::Local(reason) => {
                    failures += 1;
                    let delay = backoff.next_delay(&mut rand::rng());
                    tracing::error!(reason = %reason, retry_in = ?delay, "cannot send: this agent's outbox failed (the collector is not at fault)");
                    (
                        Some(delay),
                        UplinkState::Retrying,
                        Some(format!("outbox: {reason}")),
                    )
                }
                SessionEnd::Failed(Disposition::Retry(reason)) => {
                    failures += 1;
                    let delay = backoff.next_delay(&mut rand::rng());
                    tracing::warn!(
                        endpoint = %self.endpoint.uri(),
                        reason = %reason,
                        retry_in = ?delay,
                        "collector unreachable; observations are kept in the outbox"
                    );
                    (Some(delay), UplinkState::Retrying, Some(reason))
                }
            };
            if acked {
                set_aside_in_a_row = 0;
            }
            self.record(state, reason, failures, delay, None);
            if let Some(delay) = delay {
                tokio::select! {
                    () = shutdown.cancelled() => return UplinkEnd::Shutdown,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }

    async fn session(
        &mut self,
        channel: Channel,
        acked: &mut bool,
        shutdown: &CancellationToken,
    ) -> SessionEnd {
        let window = self.settings.in_flight_batches;
        let (outgoing, outgoing_receiver) = mpsc::channel(window + 2);
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
            Ok(Err(status)) => return SessionEnd::Failed(classify_status(&status, Step::Hello)),
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
        let welcome = match first {
            Ok(Some(pb::CollectorMessage {
                kind: Some(pb::collector_message::Kind::Welcome(welcome)),
            })) => welcome,
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
            Err(status) => return SessionEnd::Failed(classify_status(&status, Step::Hello)),
        };
        tracing::info!(
            agent = %welcome.agent_name,
            site = %welcome.site,
            collector_version = %welcome.collector_version,
            outbox = %self.outbox.id(),
            "connected to the collector"
        );
        let formed = match self.outbox.last_sequence().await {
            Ok(formed) => formed,
            Err(error) => return error.into(),
        };
        let acknowledged = match self.outbox.highest_acked().await {
            Ok(acknowledged) => acknowledged,
            Err(error) => return error.into(),
        };
        let verdict = welcome_verdict(welcome.last_committed_sequence, formed, acknowledged);
        if !matches!(verdict, WelcomeVerdict::OutboxCopied { .. }) {
            // Batches evicted in flight: the collector's cursor says which arrived.
            match self
                .outbox
                .settle_evicted(welcome.last_committed_sequence)
                .await
            {
                Ok(0) => {}
                Ok(delivered) => tracing::info!(
                    delivered,
                    "observations evicted in flight had reached the collector"
                ),
                Err(error) => return error.into(),
            }
        }
        match verdict {
            WelcomeVerdict::InStep => {}
            WelcomeVerdict::OutboxCopied { collector, ours } => {
                return SessionEnd::OutboxCopied { collector, ours };
            }
            WelcomeVerdict::CollectorBehind {
                after,
                acknowledged,
            } => match self.outbox.reopen_after(after).await {
                Ok(reopened) => tracing::warn!(
                    collector_sequence = after,
                    acknowledged,
                    reopened,
                    "the collector lost batches it had acknowledged (restored from a backup?): resending those this outbox still keeps"
                ),
                Err(error) => return error.into(),
            },
        }
        self.record(
            UplinkState::Connected,
            None,
            0,
            None,
            Some(welcome.collector_version.clone()),
        );
        self.metrics.set_connected(true);
        let heartbeat = match welcome.heartbeat_interval_seconds {
            0 => DEFAULT_HEARTBEAT,
            seconds => Duration::from_secs(seconds.into()),
        };

        // Invariant 4: unacknowledged batches go again first, oldest first.
        let unacknowledged: Vec<u64> = match self.outbox.unacked().await {
            Ok(spans) => spans.iter().map(|span| span.sequence).collect(),
            Err(error) => return error.into(),
        };
        if !unacknowledged.is_empty() {
            tracing::info!(
                batches = unacknowledged.len(),
                "resending unacknowledged batches"
            );
        }
        let mut core = SessionCore::new(
            SessionSettings {
                window,
                max_observations: self.settings.batch_max_observations,
                batch_delay: self.settings.batch_max_delay,
                heartbeat,
            },
            unacknowledged,
            Instant::now(),
        );
        let mut quota_logged: Option<Instant> = None;
        loop {
            let until = match self.fill(&mut core, &outgoing).await {
                Ok(until) => until,
                Err(end) => return end,
            };
            tokio::select! {
                message = inbound.message() => match message {
                    Ok(Some(pb::CollectorMessage { kind: Some(kind) })) => {
                        if let Err(end) = self.receive(kind, &mut core, acked, &mut quota_logged).await {
                            return end;
                        }
                    }
                    // Messages this version does not know are ignored.
                    Ok(Some(pb::CollectorMessage { kind: None })) => {}
                    Ok(None) => return SessionEnd::Failed(Disposition::Retry("the collector closed the stream".into())),
                    Err(status) => return SessionEnd::Failed(classify_status(&status, Step::Stream)),
                },
                () = self.new_observations.notified(), if core.window_open() => {}
                () = tokio::time::sleep_until(until) => {}
                () = shutdown.cancelled() => {
                    self.drain(&mut inbound, &mut core).await;
                    return SessionEnd::Shutdown;
                }
            }
        }
    }

    /// Sends what the core asks for until it says to wait; returns until when.
    async fn fill(
        &self,
        core: &mut SessionCore,
        outgoing: &mpsc::Sender<pb::AgentMessage>,
    ) -> Result<Instant, SessionEnd> {
        let closed = || SessionEnd::Failed(Disposition::Retry("the stream closed".into()));
        loop {
            let (sequence, resend) = match core.next(Instant::now()) {
                Next::Idle { until } => return Ok(until),
                Next::Heartbeat => {
                    let heartbeat = pb::AgentMessage {
                        kind: Some(pb::agent_message::Kind::Heartbeat(pb::Heartbeat {
                            applied_policy_version: self.policy.version(),
                        })),
                    };
                    outgoing.send(heartbeat).await.map_err(|_| closed())?;
                    core.heartbeat_sent(Instant::now());
                    continue;
                }
                Next::Resend(sequence) => (sequence, true),
                Next::CountWaiting => {
                    let waiting = self.outbox.unbatched().await?;
                    match core.waiting(waiting, Instant::now()) {
                        Fill::Idle { until } => return Ok(until),
                        Fill::Form => {
                            match self
                                .outbox
                                .form_batch(self.settings.batch_max_observations, MAX_BATCH_BYTES)
                                .await?
                            {
                                Some(span) => (span.sequence, false),
                                None => continue,
                            }
                        }
                    }
                }
            };
            // Evicted by the size bound meanwhile: nothing to send, and it stays counted lost.
            let Some(batch) = self.outbox.load(sequence).await? else {
                self.outbox.skip_evicted(sequence).await?;
                continue;
            };
            let tally = (!resend).then(|| SourceTally::of(&batch));
            let message = pb::AgentMessage {
                kind: Some(pb::agent_message::Kind::Batch(batch)),
            };
            outgoing.send(message).await.map_err(|_| closed())?;
            core.sent(sequence, Instant::now());
            match tally {
                Some(tally) => self.metrics.sent(&tally),
                None => self.metrics.resent(),
            }
        }
    }

    /// Handles one message from the collector.
    async fn receive(
        &mut self,
        kind: pb::collector_message::Kind,
        core: &mut SessionCore,
        acked: &mut bool,
        quota_logged: &mut Option<Instant>,
    ) -> Result<(), SessionEnd> {
        match kind {
            pb::collector_message::Kind::Ack(ack) => {
                core.acked(ack.sequence)
                    .map_err(|error| SessionEnd::Failed(Disposition::Retry(error.to_string())))?;
                *acked = true;
                self.outbox.ack(ack.sequence).await?;
                self.metrics.acked(ack.duplicate, ack.refused_new_assets);
                if ack.refused_new_assets > 0
                    && quota_logged.is_none_or(|at| at.elapsed() >= QUOTA_LOG_EVERY)
                {
                    *quota_logged = Some(Instant::now());
                    tracing::warn!(
                        sequence = ack.sequence,
                        refused = ack.refused_new_assets,
                        "the collector refused observations of new devices: this agent is over its quota of new assets (see the collector's [limits])"
                    );
                }
                tracing::debug!(
                    sequence = ack.sequence,
                    accepted = ack.accepted,
                    duplicate = ack.duplicate,
                    "batch acknowledged"
                );
            }
            pb::collector_message::Kind::ScanPolicy(wire) => match ScanPolicy::try_from(wire) {
                Ok(policy) => {
                    if let Err(error) = self.policy.apply(policy) {
                        tracing::error!(error = %hygie_proto::error_chain(&error), "cannot save the scan policy; it applies until the agent restarts");
                    }
                    // The status names the version in force: the policy arrives after the
                    // Welcome, when the status already says `connected`.
                    self.status.policy_applied(self.policy.version());
                }
                // Keep the policy in force: a bad one must not lift protections.
                Err(error) => {
                    tracing::error!(%error, "the collector sent an invalid scan policy; keeping the one in force")
                }
            },
            pb::collector_message::Kind::Welcome(_) => {
                return Err(SessionEnd::Failed(Disposition::Retry(
                    "a second Welcome on the stream".into(),
                )));
            }
        }
        Ok(())
    }

    /// On shutdown, waits briefly for the Acks of batches already sent, so a restart does not
    /// resend them (it would be harmless, only wasteful).
    async fn drain(
        &self,
        inbound: &mut tonic::Streaming<pb::CollectorMessage>,
        core: &mut SessionCore,
    ) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while core.in_flight().next().is_some() {
            let message = tokio::time::timeout_at(deadline, inbound.message()).await;
            let Ok(Ok(Some(pb::CollectorMessage { kind: Some(kind) }))) = message else {
                break;
            };
            if let pb::collector_message::Kind::Ack(ack) = kind
                && core.acked(ack.sequence).is_ok()
            {
                let _ = self.outbox.ack(ack.sequence).await;
            }
        }
    }
}

#[cfg(test)]
mod server_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_session_end_but_shutdown_is_counted_with_its_reason() {
        let retry = || SessionEnd::Failed(Disposition::Retry("gone".into()));
        let reason = |end: &SessionEnd, opened, refused_before| {
            reconnect_reason(end, opened, refused_before)
        };
        assert_eq!(reason(&SessionEnd::Shutdown, true, false), None);
        assert_eq!(
            reason(&retry(), false, false),
            Some(Reconnect::ConnectFailed)
        );
        assert_eq!(reason(&retry(), true, false), Some(Reconnect::StreamFailed));
        assert_eq!(
            reason(&retry(), false, true),
            Some(Reconnect::Refused),
            "a bare broken pipe after a refusal is the refusal again"
        );
        assert_eq!(
            reason(
                &SessionEnd::Failed(Disposition::Refused("unknown CA".into())),
                true,
                false
            ),
            Some(Reconnect::Refused)
        );
        assert_eq!(
            reason(
                &SessionEnd::Failed(Disposition::SetAside {
                    sequence: 3,
                    reason: "bad".into()
                }),
                true,
                false
            ),
            Some(Reconnect::BatchRefused)
        );
        assert_eq!(
            reason(
                &SessionEnd::OutboxCopied {
                    collector: 9,
                    ours: 3
                },
                true,
                false
            ),
            Some(Reconnect::OutboxCopied)
        );
        assert_eq!(
            reason(&SessionEnd::Local("disk full".into()), true, false),
            Some(Reconnect::OutboxError)
        );
    }
}
