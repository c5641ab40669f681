//! The `[metrics]` table, the same in both daemons' configuration files.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[metrics]` as written: unknown keys refused.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    enabled: Option<bool>,
    listen: Option<String>,
}

/// The validated `[metrics]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Where `/metrics` is served; `None`: no metrics endpoint.
    pub listen: Option<SocketAddr>,
}

/// A `[metrics]` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct InvalidMetrics {
    /// The offending key, e.g. `metrics.listen`.
    pub key: &'static str,
    /// Why, and what to write instead.
    pub reason: String,
}

impl MetricsSection {
    /// Validates the table. `enabled` defaults to `enabled_by_default`, or to true when a
    /// `listen` address is written (writing one means wanting it); `listen` defaults to
    /// `default_listen`. Port 0 takes any free port (the daemon logs which): for tests.
    pub fn validate(
        self,
        enabled_by_default: bool,
        default_listen: SocketAddr,
    ) -> Result<MetricsSettings, InvalidMetrics> {
        let listen = match self.listen.as_deref() {
            None => default_listen,
            Some(text) => text.parse().map_err(|_| InvalidMetrics {
                key: "metrics.listen",
                reason: format!(
                    "{text:?} is not an address:port such as 127.0.0.1:{} (to turn metrics off, write enabled = false)",
                    default_listen.port()
                ),
            })?,
        };
        let enabled = self
            .enabled
            .unwrap_or(enabled_by_default || self.listen.is_some());
        Ok(MetricsSettings {
            listen: enabled.then_some(listen),
        })
    }
}
