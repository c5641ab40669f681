//! The outbox's figures, read from its own state at scrape time.
//!
//! `Outbox::stats` counts the pending rows and sums their sizes while holding the outbox's
//! lock, which the source writer and the uplink also need: a scrape recomputes the figures
//! only when they are older than [`MAX_AGE`], and concurrent scrapes share one reading.

use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::outbox::{OutboxStats, SharedOutbox};

/// Figures older than this are read again by the next scrape.
pub const MAX_AGE: Duration = Duration::from_secs(5);

/// The outbox gauges and what keeps them fresh.
#[derive(Debug)]
pub struct OutboxFigures {
    outbox: SharedOutbox,
    pub(super) observations: Gauge,
    pub(super) batches: Gauge,
    set_aside: Gauge,
    payload_bytes: Gauge,
    file_bytes: Gauge,
    max_bytes: Gauge,
    disk_full: Gauge,
    evicted: Counter,
    failures: Counter,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    read: Option<Instant>,
    /// The outbox's lifetime eviction total when last read: the counter moves by the growth.
    evicted_total: u64,
}

fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl OutboxFigures {
    pub(super) fn register(registry: &mut Registry, outbox: SharedOutbox) -> Self {
        let figures = OutboxFigures {
            outbox,
            observations: Gauge::default(),
            batches: Gauge::default(),
            set_aside: Gauge::default(),
            payload_bytes: Gauge::default(),
            file_bytes: Gauge::default(),
            max_bytes: Gauge::default(),
            disk_full: Gauge::default(),
            evicted: Counter::default(),
            failures: Counter::default(),
            state: tokio::sync::Mutex::default(),
        };
        registry.register(
            "hygie_agent_outbox_observations",
            "Observations in the outbox not yet acknowledged by the collector (its depth)",
            figures.observations.clone(),
        );
        registry.register(
            "hygie_agent_outbox_batches",
            "Batches formed and sent or waiting, not yet acknowledged",
            figures.batches.clone(),
        );
        registry.register(
            "hygie_agent_outbox_set_aside_batches",
            "Batches the collector refused as invalid, set aside in the outbox",
            figures.set_aside.clone(),
        );
        registry.register_with_unit(
            "hygie_agent_outbox_payload",
            "Encoded observations stored in the outbox, acknowledged or not",
            Unit::Bytes,
            figures.payload_bytes.clone(),
        );
        registry.register_with_unit(
            "hygie_agent_outbox_files",
            "The outbox's files on disk together (database, WAL, shared memory, reserve)",
            Unit::Bytes,
            figures.file_bytes.clone(),
        );
        registry.register_with_unit(
            "hygie_agent_outbox_max",
            "The bound on the outbox's files ([outbox] max_size)",
            Unit::Bytes,
            figures.max_bytes.clone(),
        );
        registry.register(
            "hygie_agent_outbox_disk_full",
            "1 while the filesystem is full and the outbox's reserve is released",
            figures.disk_full.clone(),
        );
        registry.register(
            "hygie_agent_outbox_evicted_observations",
            "Unsent observations evicted to keep the outbox within its bound (lost; since the outbox was created when first read, then as they happen)",
            figures.evicted.clone(),
        );
        registry.register(
            "hygie_agent_outbox_read_failures",
            "Times the outbox's figures could not be read (see the log)",
            figures.failures.clone(),
        );
        figures
    }

    /// Reads the figures again if they are older than [`MAX_AGE`].
    pub async fn refresh(&self) {
        let mut state = self.state.lock().await;
        if state.read.is_some_and(|at| at.elapsed() < MAX_AGE) {
            return;
        }
        match self.outbox.stats().await {
            Ok(stats) => self.set(&stats, &mut state),
            Err(error) => {
                self.failures.inc();
                tracing::warn!(error = %hygie_proto::error_chain(&error), "cannot read the outbox's figures for the metrics");
            }
        }
        state.read = Some(Instant::now());
    }

    fn set(&self, stats: &OutboxStats, state: &mut State) {
        self.observations.set(gauge_value(stats.observations));
        self.batches.set(gauge_value(stats.batches));
        self.set_aside.set(gauge_value(stats.set_aside));
        self.payload_bytes.set(gauge_value(stats.bytes));
        let files = &stats.files;
        self.file_bytes.set(gauge_value(
            files
                .database
                .saturating_add(files.wal)
                .saturating_add(files.shm)
                .saturating_add(files.reserve),
        ));
        self.max_bytes.set(gauge_value(stats.max_bytes));
        self.disk_full.set(i64::from(stats.disk_full));
        // A new outbox (one set aside as unusable) starts again from 0: the counter keeps
        // what it counted and follows the new total's growth.
        if stats.evicted_total < state.evicted_total {
            state.evicted_total = 0;
        }
        self.evicted
            .inc_by(stats.evicted_total - state.evicted_total);
        state.evicted_total = stats.evicted_total;
    }
}
