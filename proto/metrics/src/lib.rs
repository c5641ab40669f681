//! What Hygie's two daemons share to expose Prometheus metrics.
//!
//! - [`MetricsSection`]: the `[metrics]` table of both configuration files, validated into
//!   [`MetricsSettings`] (off, or the address to listen on).
//! - [`bind`] and [`MetricsListener::serve`]: a tiny plain-HTTP server answering `GET /metrics`
//!   with the daemon's [`Exposition`], in the OpenMetrics text format when the scraper asks for
//!   it (Prometheus does) and in the Prometheus text format 0.0.4 otherwise (curl, promtool).
//! - [`build_info`]: the `hygie_build_info{daemon,version,contract} 1` gauge.
//! - [`check`]: a strict reader of the exposition, for tests: well-formed lines, every name
//!   under one prefix, counters ending in `_total`, histograms cumulative, no duplicate series.
//!
//! Each daemon keeps its own registry and its own typed handles (a `metrics` module per crate):
//! nothing here is global.

mod check;
mod endpoint;
mod settings;

pub use check::{FormatError, Sample, Scrape, check};
pub use endpoint::{BindError, Exposition, Format, MetricsListener, Refresh, bind};
pub use settings::{InvalidMetrics, MetricsSection, MetricsSettings};

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The prefix of every metric either daemon exposes.
pub const PREFIX: &str = "hygie_";

/// Registers `hygie_build_info{daemon, version, contract} 1`: which build runs, for dashboards
/// and for joining other series on `version`.
pub fn build_info(registry: &mut Registry, daemon: &'static str, version: &'static str) {
    let info = Family::<[(&'static str, &'static str); 3], Gauge>::default();
    info.get_or_create(&[
        ("daemon", daemon),
        ("version", version),
        ("contract", CONTRACT),
    ])
    .set(1);
    registry.register(
        "hygie_build_info",
        "Which Hygie build is running (always 1)",
        info,
    );
}

/// The contract both daemons speak, as a label of [`build_info`].
const CONTRACT: &str = "hygie.v1";

#[cfg(test)]
mod tests;
