//! The collector's Prometheus metrics: one registry built at `serve`, typed handles given to
//! the components that count, and the inventory's figures computed at scrape time.
//!
//! - [`IngestMetrics`], for the writer: observations committed per source, batches per
//!   outcome, the group commit's latency, quota refusals. Counted where the commit happens.
//! - [`ServiceMetrics`], for the gRPC service: batches refused as invalid, Acks sent, open
//!   streams, and per agent (agents are few: its certificate name and site as labels) when it
//!   last reported and when its last batch was committed.
//! - [`AlertMetrics`], for the alert sinks (per sink: they are configured, so few): alerts
//!   delivered, suppressed by the rate limit, refused, events dropped, failed attempts, and
//!   the backlog; and [`GlpiMetrics`], for the scheduled GLPI push: documents and pushes by
//!   outcome. Counted by the tasks that deliver.
//! - [`inventory::InventoryFigures`]: assets per category and per flag, unmanaged and managed
//!   counts, read through the read port's `counts()` at most every [`inventory::MAX_AGE`]: a
//!   scrape never waits for the writer and never costs more than one count per interval.
//!
//! No label carries a MAC, an address or anything a device sent: label values are sources,
//! outcomes, categories and flags (closed lists), agents' certificate identities and the
//! configured alert sinks' names.
//! Handles are resolved once (a counter per source in an array), so counting on the ingest
//! path is an atomic increment with no lookup and no allocation.

mod deliveries;
pub mod inventory;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use hygie_proto::Source;
use jiff::Timestamp;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::identity::AgentIdentity;
pub use deliveries::{AlertMetrics, GlpiMetrics, SinkMetrics};
use inventory::InventoryFigures;

/// One label whose value is one of a closed list.
type StaticLabel = [(&'static str, &'static str); 1];
/// An agent's certificate identity.
type AgentLabels = [(&'static str, String); 2];
/// A gauge of seconds (a Unix time).
type SecondsGauge = Gauge<f64, AtomicU64>;

/// Every handle of the collector, and the registry they are in.
#[derive(Debug)]
pub struct CollectorMetrics {
    /// For the writer.
    pub ingest: IngestMetrics,
    /// For the gRPC service.
    pub service: ServiceMetrics,
    /// For the alert sinks.
    pub alerts: AlertMetrics,
    /// For the scheduled GLPI push.
    pub glpi: GlpiMetrics,
    /// The registry, for the endpoint.
    pub registry: Registry,
    /// Figures read from the inventory at scrape time.
    pub inventory: Arc<InventoryFigures>,
}

impl CollectorMetrics {
    /// A registry with every collector metric, reading the inventory's figures from the
    /// database at `database`.
    pub fn new(database: PathBuf) -> Self {
        let mut registry = Registry::default();
        hygie_metrics::build_info(&mut registry, "collector", env!("CARGO_PKG_VERSION"));
        let batches = Family::<StaticLabel, Counter>::default();
        registry.register(
            "hygie_collector_batches",
            "Batches from agents, by outcome: applied (committed), duplicate (committed before, acknowledged again), refused (invalid, set aside by the agent), fenced or failed (not committed; the agent resends)",
            batches.clone(),
        );
        let ingest = IngestMetrics::register(&mut registry, &batches);
        let service = ServiceMetrics::register(&mut registry, &batches);
        let alerts = AlertMetrics::register(&mut registry);
        let glpi = GlpiMetrics::register(&mut registry);
        let inventory = Arc::new(InventoryFigures::register(&mut registry, database));
        CollectorMetrics {
            ingest,
            service,
            alerts,
            glpi,
            registry,
            inventory,
        }
    }
}

/// What the writer counts. Cloning shares the counters; [`IngestMetrics::default`] counts into
/// nothing exposed (tests, tools).
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    observations: [Counter; Source::ALL.len()],
    applied: Counter,
    duplicate: Counter,
    fenced: Counter,
    failed: Counter,
    quota_refused: Counter,
    commit_seconds: Histogram,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        IngestMetrics {
            observations: Default::default(),
            applied: Counter::default(),
            duplicate: Counter::default(),
            fenced: Counter::default(),
            failed: Counter::default(),
            quota_refused: Counter::default(),
            commit_seconds: commit_histogram(),
        }
    }
}

/// 0.5 ms to about 8 s: a group commit on an SSD with `full` durability takes a few
/// milliseconds, a slow disk or a large group seconds.
fn commit_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl IngestMetrics {
    fn register(registry: &mut Registry, batches: &Family<StaticLabel, Counter>) -> Self {
        let observations = Family::<StaticLabel, Counter>::default();
        registry.register(
            "hygie_collector_observations_received",
            "Observations committed to the inventory, by the source the agent heard them from (duplicates of committed batches not counted again)",
            observations.clone(),
        );
        let quota_refused = Counter::default();
        registry.register(
            "hygie_collector_quota_refused_observations",
            "Observations dropped because they would have created assets beyond a quota ([limits])",
            quota_refused.clone(),
        );
        let commit_seconds = commit_histogram();
        registry.register_with_unit(
            "hygie_collector_commit_duration",
            "Time of one group commit (one transaction, one fsync) of the inventory writer",
            Unit::Seconds,
            commit_seconds.clone(),
        );
        let outcome = |name| batches.get_or_create_owned(&[("outcome", name)]);
        IngestMetrics {
            observations: Source::ALL
                .map(|source| observations.get_or_create_owned(&[("source", source.as_str())])),
            applied: outcome("applied"),
            duplicate: outcome("duplicate"),
            fenced: outcome("fenced"),
            failed: outcome("failed"),
            quota_refused,
            commit_seconds,
        }
    }

    /// One observation of `source` was committed.
    pub fn observation(&self, source: Source) {
        // `Source::ALL` lists the variants in declaration order (checked by a test).
        self.observations[source as usize].inc();
    }

    /// A batch was committed and applied, with `quota_refused` observations dropped.
    pub fn applied(&self, quota_refused: u32) {
        self.applied.inc();
        self.quota_refused.inc_by(u64::from(quota_refused));
    }

    /// A batch committed before was acknowledged again.
    pub fn duplicate(&self) {
        self.duplicate.inc();
    }

    /// A batch was refused because an earlier one of its stream failed.
    pub fn fenced(&self) {
        self.fenced.inc();
    }

    /// `batches` batches were not committed (the commit failed, or the store is unavailable).
    pub fn failed(&self, batches: usize) {
        self.failed
            .inc_by(u64::try_from(batches).unwrap_or(u64::MAX));
    }

    /// A group commit took `seconds`.
    pub fn commit_took(&self, seconds: f64) {
        self.commit_seconds.observe(seconds);
    }
}

/// What the gRPC service counts. Cloning shares the handles.
#[derive(Debug, Clone, Default)]
pub struct ServiceMetrics {
    refused: Counter,
    acks: Counter,
    streams: Gauge,
    last_report: Family<AgentLabels, SecondsGauge>,
    last_batch: Family<AgentLabels, SecondsGauge>,
}

impl ServiceMetrics {
    fn register(registry: &mut Registry, batches: &Family<StaticLabel, Counter>) -> Self {
        let acks = Counter::default();
        registry.register(
            "hygie_collector_acks_sent",
            "Acknowledgements sent to agents, each after its batch's commit",
            acks.clone(),
        );
        let streams = Gauge::default();
        registry.register(
            "hygie_collector_agent_streams",
            "Agent report streams open now",
            streams.clone(),
        );
        let last_report = Family::<AgentLabels, SecondsGauge>::default();
        registry.register(
            "hygie_collector_agent_last_report_timestamp_seconds",
            "When each agent (certificate name and site) last sent anything on its stream: Hello, batch or heartbeat (Unix time)",
            last_report.clone(),
        );
        let last_batch = Family::<AgentLabels, SecondsGauge>::default();
        registry.register(
            "hygie_collector_agent_last_batch_timestamp_seconds",
            "When a batch of each agent was last committed (Unix time)",
            last_batch.clone(),
        );
        ServiceMetrics {
            refused: batches.get_or_create_owned(&[("outcome", "refused")]),
            acks,
            streams,
            last_report,
            last_batch,
        }
    }

    /// The handles of one agent's stream, resolved once when it opens.
    pub fn agent(&self, identity: &AgentIdentity) -> AgentMetrics {
        let labels = [
            ("agent", identity.name().to_owned()),
            ("site", identity.site().to_owned()),
        ];
        AgentMetrics {
            last_report: self.last_report.get_or_create_owned(&labels),
            last_batch: self.last_batch.get_or_create_owned(&labels),
            refused: self.refused.clone(),
            acks: self.acks.clone(),
            streams: self.streams.clone(),
        }
    }
}

/// One stream's handles; the open-streams gauge goes down when it is dropped.
#[derive(Debug, Clone)]
pub struct AgentMetrics {
    last_report: SecondsGauge,
    last_batch: SecondsGauge,
    refused: Counter,
    acks: Counter,
    streams: Gauge,
}

fn unix_seconds(now: Timestamp) -> f64 {
    now.as_nanosecond() as f64 / 1e9
}

impl AgentMetrics {
    /// The agent sent something at `now`.
    pub fn reported(&self, now: Timestamp) {
        self.last_report.set(unix_seconds(now));
    }

    /// A batch of the agent was refused as invalid.
    pub fn refused(&self) {
        self.refused.inc();
    }

    /// An Ack was sent for a batch committed at `now`.
    pub fn acknowledged(&self, now: Timestamp) {
        self.acks.inc();
        self.last_batch.set(unix_seconds(now));
    }
}

/// Closes one stream's count. Kept apart from [`AgentMetrics`] (which is cloned into the
/// acker) so the gauge goes down exactly once.
#[derive(Debug)]
pub struct StreamCount(Gauge);

impl AgentMetrics {
    /// Counts one more open stream, until the guard is dropped.
    pub fn stream_guard(&self) -> StreamCount {
        self.streams.inc();
        StreamCount(self.streams.clone())
    }
}

impl Drop for StreamCount {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests;
