//! The agent's Prometheus metrics: one registry built at `run`, typed handles given to the
//! components that count, and the outbox's figures read from its own state at scrape time.
//!
//! - [`UplinkMetrics`], for the uplink: observations sent per source (first sends; resends
//!   are counted as batches), batches sent and resent, Acks, quota refusals, reconnections by
//!   reason, whether connected.
//! - [`DiscoveryMetrics`], for the capture and sweep threads: frames decoded per protocol,
//!   frames malformed per protocol and reason, observations dropped because the outbox did not
//!   keep up (per interface), sweep durations, probes and answers.
//! - [`outbox::OutboxFigures`]: depth, bytes, evictions, set-aside batches, disk full, read
//!   through `Outbox::stats` at most every [`outbox::MAX_AGE`].
//!
//! No label carries a MAC, an address or anything a device sent: sources, protocols, reasons
//! (the decoders' fixed names) and the configured interface names only. Handles are resolved
//! once; a capture thread keeps its own small map of the counters it has met, so counting a
//! frame is a map lookup on a `&'static str` and an atomic increment.

pub mod outbox;

use std::collections::BTreeMap;

use hygie_proto::Source;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::outbox::SharedOutbox;
use outbox::OutboxFigures;

type StaticLabel = [(&'static str, &'static str); 1];
type OwnedLabels = [(&'static str, String); 2];

/// Every handle of the agent, and the registry they are in.
#[derive(Debug)]
pub struct AgentMetrics {
    /// For the uplink.
    pub uplink: UplinkMetrics,
    /// For discovery.
    pub discovery: DiscoveryMetrics,
    /// The registry, for the endpoint.
    pub registry: Registry,
    /// The outbox's figures, read at scrape time.
    pub outbox: std::sync::Arc<OutboxFigures>,
}

impl AgentMetrics {
    /// A registry with every agent metric, reading the outbox's figures from `outbox`.
    pub fn new(outbox: SharedOutbox) -> Self {
        let mut registry = Registry::default();
        hygie_metrics::build_info(&mut registry, "agent", env!("CARGO_PKG_VERSION"));
        AgentMetrics {
            uplink: UplinkMetrics::register(&mut registry),
            discovery: DiscoveryMetrics::register(&mut registry),
            outbox: std::sync::Arc::new(OutboxFigures::register(&mut registry, outbox)),
            registry,
        }
    }
}

/// Why the uplink reconnected, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnect {
    /// The connection could not be made (collector down, network).
    ConnectFailed,
    /// The stream failed or closed after it was opened.
    StreamFailed,
    /// The collector refused the certificate or identity.
    Refused,
    /// The collector refused a batch as invalid; it was set aside.
    BatchRefused,
    /// The collector holds batches of this outbox id it never formed: a new id was taken.
    OutboxCopied,
    /// This agent's own outbox failed.
    OutboxError,
}

impl Reconnect {
    const ALL: [Reconnect; 6] = [
        Reconnect::ConnectFailed,
        Reconnect::StreamFailed,
        Reconnect::Refused,
        Reconnect::BatchRefused,
        Reconnect::OutboxCopied,
        Reconnect::OutboxError,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Reconnect::ConnectFailed => "connect_failed",
            Reconnect::StreamFailed => "stream_failed",
            Reconnect::Refused => "refused",
            Reconnect::BatchRefused => "batch_refused",
            Reconnect::OutboxCopied => "outbox_copied",
            Reconnect::OutboxError => "outbox_error",
        }
    }
}

/// What the uplink counts. Cloning shares the counters; the default counts into nothing
/// exposed (one-shot sends, tests).
#[derive(Debug, Clone, Default)]
pub struct UplinkMetrics {
    observations: [Counter; Source::ALL.len()],
    batches_sent: Counter,
    batches_resent: Counter,
    acks_new: Counter,
    acks_duplicate: Counter,
    quota_refused: Counter,
    reconnects: [Counter; Reconnect::ALL.len()],
    connected: Gauge,
}

impl UplinkMetrics {
    fn register(registry: &mut Registry) -> Self {
        let observations = Family::<StaticLabel, Counter>::default();
        registry.register(
            "hygie_agent_observations_sent",
            "Observations sent to the collector in new batches, by source (resent batches are not counted again)",
            observations.clone(),
        );
        let batches = Family::<StaticLabel, Counter>::default();
        registry.register(
            "hygie_agent_batches_sent",
            "Batches sent to the collector: new, or resent after a reconnection",
            batches.clone(),
        );
        let acks = Family::<StaticLabel, Counter>::default();
        registry.register(
            "hygie_agent_acks_received",
            "Acknowledgements received (each means the batch is committed); duplicate: it had been committed before",
            acks.clone(),
        );
        let quota_refused = Counter::default();
        registry.register(
            "hygie_agent_quota_refused_observations",
            "Observations of new devices the collector dropped: this agent is over its quota of new assets",
            quota_refused.clone(),
        );
        let reconnects = Family::<StaticLabel, Counter>::default();
        registry.register(
            "hygie_agent_reconnects",
            "Sessions with the collector that ended and were retried, by reason",
            reconnects.clone(),
        );
        let connected = Gauge::default();
        registry.register(
            "hygie_agent_connected",
            "1 while a session with the collector is open (after its Welcome)",
            connected.clone(),
        );
        let kind = |name| batches.get_or_create_owned(&[("kind", name)]);
        let ack = |name| acks.get_or_create_owned(&[("outcome", name)]);
        UplinkMetrics {
            observations: Source::ALL
                .map(|source| observations.get_or_create_owned(&[("source", source.as_str())])),
            batches_sent: kind("new"),
            batches_resent: kind("resent"),
            acks_new: ack("committed"),
            acks_duplicate: ack("duplicate"),
            quota_refused,
            reconnects: Reconnect::ALL
                .map(|reason| reconnects.get_or_create_owned(&[("reason", reason.as_str())])),
            connected,
        }
    }

    /// A new batch was sent, with the observations `tally` counted.
    pub fn sent(&self, tally: &SourceTally) {
        self.batches_sent.inc();
        for (counter, count) in self.observations.iter().zip(tally.0) {
            if count > 0 {
                counter.inc_by(u64::from(count));
            }
        }
    }

    /// A batch not acknowledged before was sent again.
    pub fn resent(&self) {
        self.batches_resent.inc();
    }

    /// An Ack arrived.
    pub fn acked(&self, duplicate: bool, quota_refused: u32) {
        if duplicate {
            self.acks_duplicate.inc();
        } else {
            self.acks_new.inc();
        }
        self.quota_refused.inc_by(u64::from(quota_refused));
    }

    /// A session ended for `reason` and another will be tried.
    pub fn reconnect(&self, reason: Reconnect) {
        self.reconnects[reason as usize].inc();
    }

    /// Whether a session is open.
    pub fn set_connected(&self, connected: bool) {
        self.connected.set(i64::from(connected));
    }
}

/// Observations of a wire batch per source, tallied on the stack before the batch is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceTally([u32; Source::ALL.len()]);

impl SourceTally {
    /// Tallies `batch`'s observations; a source this build does not know counts as `other`.
    pub fn of(batch: &hygie_proto::pb::ObservationBatch) -> Self {
        let mut tally = SourceTally::default();
        for observation in &batch.observations {
            let source = Source::ALL
                .into_iter()
                .find(|source| hygie_proto::pb::Source::from(*source) as i32 == observation.source)
                .unwrap_or(Source::Other);
            // `Source::ALL` lists the variants in declaration order (checked by a test).
            let count = &mut tally.0[source as usize];
            *count = count.saturating_add(1);
        }
        tally
    }
}

/// What discovery counts. Cloning shares the counters; the default counts into nothing
/// exposed (the `scan` command, tests).
#[derive(Debug, Clone)]
pub struct DiscoveryMetrics {
    decoded: Family<StaticLabel, Counter>,
    malformed: Family<OwnedLabels, Counter>,
    dropped: Family<[(&'static str, String); 1], Counter>,
    sweep_seconds: Histogram,
    probes: Counter,
    answers: Counter,
}

/// 1 s to about 2 h 15 min: a /24 at the default rate takes seconds, a /16 tens of minutes.
fn sweep_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 14))
}

impl Default for DiscoveryMetrics {
    fn default() -> Self {
        DiscoveryMetrics {
            decoded: Family::default(),
            malformed: Family::default(),
            dropped: Family::default(),
            sweep_seconds: sweep_histogram(),
            probes: Counter::default(),
            answers: Counter::default(),
        }
    }
}

/// A decoder's reason (`truncated DHCP options`) as a label value (`truncated_dhcp_options`).
fn snake_case(reason: &str) -> String {
    let mut label = String::with_capacity(reason.len());
    for c in reason.chars() {
        if c.is_ascii_alphanumeric() {
            label.push(c.to_ascii_lowercase());
        } else if !label.ends_with('_') {
            label.push('_');
        }
    }
    label.trim_matches('_').to_owned()
}

impl DiscoveryMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = DiscoveryMetrics::default();
        registry.register(
            "hygie_agent_frames_decoded",
            "Discovery frames heard and decoded, by protocol",
            metrics.decoded.clone(),
        );
        registry.register(
            "hygie_agent_frames_malformed",
            "Discovery frames that could not be decoded, by protocol (or layer) and reason",
            metrics.malformed.clone(),
        );
        registry.register(
            "hygie_agent_capture_dropped_observations",
            "Observations dropped by a capture thread because the outbox was not keeping up, by interface",
            metrics.dropped.clone(),
        );
        registry.register_with_unit(
            "hygie_agent_sweep_duration",
            "Time of one ARP sweep of an interface's blocks",
            Unit::Seconds,
            metrics.sweep_seconds.clone(),
        );
        registry.register(
            "hygie_agent_sweep_probes",
            "ARP probes sent by sweeps, retries included",
            metrics.probes.clone(),
        );
        registry.register(
            "hygie_agent_sweep_answers",
            "Addresses that answered a sweep's probe",
            metrics.answers.clone(),
        );
        metrics
    }

    /// The counters of one capture thread on `interface`.
    pub fn capture(&self, interface: &str) -> CaptureCounters {
        CaptureCounters {
            metrics: self.clone(),
            dropped: self
                .dropped
                .get_or_create_owned(&[("interface", interface.to_owned())]),
            decoded: BTreeMap::new(),
            malformed: BTreeMap::new(),
        }
    }

    /// A sweep ended after `seconds`, having sent `probes` and heard `answers`.
    pub fn swept(&self, seconds: f64, probes: usize, answers: usize) {
        self.sweep_seconds.observe(seconds);
        self.probes
            .inc_by(u64::try_from(probes).unwrap_or(u64::MAX));
        self.answers
            .inc_by(u64::try_from(answers).unwrap_or(u64::MAX));
    }
}

/// One capture thread's counters, resolved the first time each protocol or reason is met.
#[derive(Debug)]
pub struct CaptureCounters {
    metrics: DiscoveryMetrics,
    dropped: Counter,
    decoded: BTreeMap<&'static str, Counter>,
    malformed: BTreeMap<(&'static str, &'static str), Counter>,
}

impl CaptureCounters {
    /// A frame of `protocol` was decoded.
    pub fn decoded(&mut self, protocol: &'static str) {
        self.decoded
            .entry(protocol)
            .or_insert_with(|| {
                self.metrics
                    .decoded
                    .get_or_create_owned(&[("protocol", protocol)])
            })
            .inc();
    }

    /// A frame of `protocol` could not be decoded, for `reason`.
    pub fn malformed(&mut self, protocol: &'static str, reason: &'static str) {
        self.malformed
            .entry((protocol, reason))
            .or_insert_with(|| {
                self.metrics.malformed.get_or_create_owned(&[
                    ("protocol", protocol.to_owned()),
                    ("reason", snake_case(reason)),
                ])
            })
            .inc();
    }

    /// An observation was dropped: the outbox was not keeping up.
    pub fn dropped(&self) {
        self.dropped.inc();
    }
}

#[cfg(test)]
mod tests;
