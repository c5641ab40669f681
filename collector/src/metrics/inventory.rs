//! The inventory's figures, computed at scrape time through the read port.
//!
//! `InventoryReader::counts()` scans the stored verdicts (and, for the per-site figure, the
//! sightings): a few milliseconds at 10,000 assets, about a second at 1,000,000. So a scrape
//! recomputes them only when they are older than [`MAX_AGE`], on a blocking thread with the
//! figures' own read-only connection, and concurrent scrapes share one computation. Prometheus
//! scraping every 15 s or more thus costs at most one count per scrape, and never touches the
//! writer (SQLite WAL readers do not block it).

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::store::{InventoryReader, SqliteStore, StoreError};
use crate::views::Counts;

/// Figures older than this are recomputed by the next scrape.
pub const MAX_AGE: Duration = Duration::from_secs(10);

type Labelled = Family<[(&'static str, String); 1], Gauge>;

/// The gauges read from the inventory, and what keeps them fresh.
#[derive(Debug)]
pub struct InventoryFigures {
    database: PathBuf,
    by_category: Labelled,
    by_flag: Labelled,
    unmanaged: Gauge,
    managed: Gauge,
    assets: Gauge,
    counted_at: Gauge<f64, AtomicU64>,
    failures: Counter,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Kept between scrapes; `None` until first opened, or after an error.
    reader: Option<SqliteStore>,
    counted: Option<Instant>,
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

impl InventoryFigures {
    pub(super) fn register(registry: &mut Registry, database: PathBuf) -> Self {
        let figures = InventoryFigures {
            database,
            by_category: Labelled::default(),
            by_flag: Labelled::default(),
            unmanaged: Gauge::default(),
            managed: Gauge::default(),
            assets: Gauge::default(),
            counted_at: Gauge::default(),
            failures: Counter::default(),
            state: tokio::sync::Mutex::default(),
        };
        registry.register(
            "hygie_collector_assets",
            "Assets in the inventory, by category",
            figures.by_category.clone(),
        );
        registry.register(
            "hygie_collector_assets_flagged",
            "Assets carrying each flag (an asset may carry several)",
            figures.by_flag.clone(),
        );
        registry.register(
            "hygie_collector_assets_unmanaged",
            "Assets seen on the network that are not in the registry",
            figures.unmanaged.clone(),
        );
        registry.register(
            "hygie_collector_assets_managed",
            "Assets in the registry",
            figures.managed.clone(),
        );
        registry.register(
            "hygie_collector_assets_listed",
            "Assets listed in the inventory, all categories together",
            figures.assets.clone(),
        );
        registry.register(
            "hygie_collector_inventory_counted_timestamp_seconds",
            "When the asset figures were last computed (Unix time; they are at most 10 s old when scraped)",
            figures.counted_at.clone(),
        );
        registry.register(
            "hygie_collector_inventory_count_failures",
            "Times the asset figures could not be read from the database (see the log)",
            figures.failures.clone(),
        );
        figures
    }

    /// Recomputes the figures if they are older than [`MAX_AGE`]; on failure the previous
    /// ones stay and the failure is counted and logged.
    pub async fn refresh(&self) {
        let mut state = self.state.lock().await;
        if state.counted.is_some_and(|at| at.elapsed() < MAX_AGE) {
            return;
        }
        let reader = state.reader.take();
        let database = self.database.clone();
        let counted = tokio::task::spawn_blocking(move || {
            let reader = match reader {
                Some(reader) => reader,
                None => SqliteStore::open_reader(&database)?,
            };
            let counts = reader.counts()?;
            Ok::<_, StoreError>((reader, counts))
        })
        .await;
        match counted {
            Ok(Ok((reader, counts))) => {
                state.reader = Some(reader);
                self.set(&counts, Timestamp::now());
            }
            Ok(Err(error)) => {
                self.failures.inc();
                tracing::warn!(error = %hygie_proto::error_chain(&error), "cannot count the assets for the metrics");
            }
            Err(error) => {
                self.failures.inc();
                tracing::warn!(%error, "counting the assets for the metrics failed");
            }
        }
        // A failure waits as long as a success before the next attempt: no storm of retries.
        state.counted = Some(Instant::now());
    }

    /// Publishes `counts`, computed at `now`.
    pub fn set(&self, counts: &Counts, now: Timestamp) {
        for (category, count) in &counts.by_category {
            self.by_category
                .get_or_create(&[("category", category.clone())])
                .set(gauge_value(*count));
        }
        for (flag, count) in &counts.by_flag {
            self.by_flag
                .get_or_create(&[("flag", flag.clone())])
                .set(gauge_value(*count));
        }
        let unmanaged = counts.by_flag.get("unmanaged").copied().unwrap_or(0);
        self.unmanaged.set(gauge_value(unmanaged));
        self.managed.set(gauge_value(counts.managed));
        self.assets.set(gauge_value(counts.assets));
        self.counted_at.set(now.as_nanosecond() as f64 / 1e9);
    }
}
