//! What the delivering tasks count: alert sinks and the scheduled GLPI push.
//!
//! Alerts are labelled by sink name: sinks are configured (a handful), so the label is bounded;
//! nothing a device sent ever becomes a label.

use std::sync::atomic::AtomicU64;

use jiff::Timestamp;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{StaticLabel, unix_seconds};

type SinkLabel = [(&'static str, String); 1];

/// The alert sinks' families. Cloning shares them; [`AlertMetrics::default`] counts into
/// nothing exposed (tests, `alerts test`).
#[derive(Debug, Clone, Default)]
pub struct AlertMetrics {
    delivered: Family<SinkLabel, Counter>,
    suppressed: Family<SinkLabel, Counter>,
    refused: Family<SinkLabel, Counter>,
    dropped: Family<SinkLabel, Counter>,
    failures: Family<SinkLabel, Counter>,
    backlog: Family<SinkLabel, Gauge>,
}

impl AlertMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = AlertMetrics::default();
        registry.register(
            "hygie_collector_alerts_delivered",
            "Alerts each sink delivered (summaries not counted: their alerts are in hygie_collector_alerts_suppressed)",
            metrics.delivered.clone(),
        );
        registry.register(
            "hygie_collector_alerts_suppressed",
            "Alerts each sink held back by its rate limit, counted when the summary naming them is delivered",
            metrics.suppressed.clone(),
        );
        registry.register(
            "hygie_collector_alerts_refused",
            "Messages each sink's receiver refused for good (webhook HTTP 400, 413, 415, 422); skipped, see the log",
            metrics.refused.clone(),
        );
        registry.register(
            "hygie_collector_alert_events_dropped",
            "Events of the log each sink dropped unsent because its backlog passed alerts.max_backlog",
            metrics.dropped.clone(),
        );
        registry.register(
            "hygie_collector_alert_delivery_failures",
            "Delivery attempts of each sink that failed and are tried again (no connection, timeout, TLS, HTTP 5xx...)",
            metrics.failures.clone(),
        );
        registry.register(
            "hygie_collector_alert_backlog",
            "Events of the log after each sink's cursor: not yet settled (delivered, summarised, refused or passed by)",
            metrics.backlog.clone(),
        );
        metrics
    }

    /// The handles of one sink, resolved once when it starts (its figures are listed, at 0,
    /// from then on).
    pub fn sink(&self, name: &str) -> SinkMetrics {
        let label = [("sink", name.to_owned())];
        SinkMetrics {
            delivered: self.delivered.get_or_create_owned(&label),
            suppressed: self.suppressed.get_or_create_owned(&label),
            refused: self.refused.get_or_create_owned(&label),
            dropped: self.dropped.get_or_create_owned(&label),
            failures: self.failures.get_or_create_owned(&label),
            backlog: self.backlog.get_or_create_owned(&label),
        }
    }
}

/// One sink's handles.
#[derive(Debug, Clone, Default)]
pub struct SinkMetrics {
    delivered: Counter,
    suppressed: Counter,
    refused: Counter,
    dropped: Counter,
    failures: Counter,
    backlog: Gauge,
}

impl SinkMetrics {
    /// `count` alerts were delivered.
    pub fn delivered(&self, count: u64) {
        self.delivered.inc_by(count);
    }

    /// `count` suppressed alerts were counted in a delivered summary.
    pub fn suppressed(&self, count: u64) {
        self.suppressed.inc_by(count);
    }

    /// `count` messages were refused for good.
    pub fn refused(&self, count: u64) {
        self.refused.inc_by(count);
    }

    /// `count` events were dropped by the backlog bound.
    pub fn dropped(&self, count: u64) {
        self.dropped.inc_by(count);
    }

    /// An attempt failed and will be retried.
    pub fn failed(&self) {
        self.failures.inc();
    }

    /// `events` of the log are after the sink's cursor.
    pub fn backlog(&self, events: u64) {
        self.backlog.set(i64::try_from(events).unwrap_or(i64::MAX));
    }
}

/// The scheduled GLPI push's figures. Cloning shares them; [`GlpiMetrics::default`] counts
/// into nothing exposed (`glpi push` on the command line).
#[derive(Debug, Clone, Default)]
pub struct GlpiMetrics {
    delivered: Counter,
    refused: Counter,
    failed: Counter,
    complete: Counter,
    incomplete: Counter,
    push_failed: Counter,
    last_complete: Gauge<f64, AtomicU64>,
}

impl GlpiMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let documents = Family::<StaticLabel, Counter>::default();
        registry.register(
            "hygie_collector_glpi_documents",
            "Device documents the scheduled GLPI push finished, by outcome: delivered (GLPI accepted), refused (GLPI refused it; sent again next push), failed (not delivered after every retry, or the push stopped)",
            documents.clone(),
        );
        let pushes = Family::<StaticLabel, Counter>::default();
        registry.register(
            "hygie_collector_glpi_pushes",
            "Scheduled GLPI pushes, by outcome: complete (every selected device is in GLPI), incomplete (some refused or failed, or stopped early), failed (could not run; see the log)",
            pushes.clone(),
        );
        let last_complete = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "hygie_collector_glpi_last_complete_push_timestamp_seconds",
            "When the last complete scheduled GLPI push ended (Unix time; 0: none since start)",
            last_complete.clone(),
        );
        let document = |outcome| documents.get_or_create_owned(&[("outcome", outcome)]);
        let push = |outcome| pushes.get_or_create_owned(&[("outcome", outcome)]);
        GlpiMetrics {
            delivered: document("delivered"),
            refused: document("refused"),
            failed: document("failed"),
            complete: push("complete"),
            incomplete: push("incomplete"),
            push_failed: push("failed"),
            last_complete,
        }
    }

    /// GLPI accepted a document.
    pub fn document_delivered(&self) {
        self.delivered.inc();
    }

    /// GLPI refused a document.
    pub fn document_refused(&self) {
        self.refused.inc();
    }

    /// A document could not be delivered.
    pub fn document_failed(&self) {
        self.failed.inc();
    }

    /// A push ended at `now`: `Some(true)` complete, `Some(false)` incomplete, `None` it could
    /// not run.
    pub fn push_ended(&self, complete: Option<bool>, now: Timestamp) {
        match complete {
            Some(true) => {
                self.complete.inc();
                self.last_complete.set(unix_seconds(now));
            }
            Some(false) => {
                self.incomplete.inc();
            }
            None => {
                self.push_failed.inc();
            }
        }
    }
}
