//! `[limits]`: what agents (honest or not) can make the collector hold.
//!
//! `memory` is the budget for what agents' traffic occupies: messages being received (the wire
//! budget, 3/8 of it), decoded batches waiting for their commit (3/8), and connections (the
//! rest, at [`CONNECTION_BYTES`] each). The inventory itself is bounded by the asset quotas.

use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

use super::ConfigError;
use crate::grpc::ServiceSettings;
use crate::grpc::frames::StreamDeadlines;
use crate::ingest::QuotaLimits;
use crate::net::{AdmissionLimits, FrontDoorSettings};

/// What one open connection may cost: TLS buffers, HTTP/2 windows and state.
pub const CONNECTION_BYTES: u64 = 128 * 1024;
/// The smallest memory budget: room for a few full messages at once.
pub const MIN_MEMORY: u64 = 64 * 1024 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSection {
    memory: Option<ByteSize>,
    max_connections: Option<usize>,
    max_connections_per_agent: Option<usize>,
    max_streams_per_agent: Option<usize>,
    max_handshakes: Option<usize>,
    max_handshakes_per_address: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    handshake_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    preface_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    message_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    heartbeat_interval: Option<Duration>,
    new_assets_per_agent_per_hour: Option<u32>,
    assets_per_agent: Option<u32>,
    assets_per_site: Option<u32>,
}

/// The validated limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The memory budget, in bytes.
    pub memory: u64,
    /// The front door's bounds.
    pub front_door: FrontDoorSettings,
    /// Message deadline and idle timeout.
    pub deadlines: StreamDeadlines,
    /// Bytes of messages being received, across streams.
    pub wire_bytes: usize,
    /// Stream bounds and the decoded-batch budget.
    pub service: ServiceSettings,
    /// New-asset quotas.
    pub quotas: QuotaLimits,
}

impl Default for Limits {
    fn default() -> Self {
        // Validating the empty section cannot fail.
        LimitsSection::default()
            .validate()
            .unwrap_or_else(|_| unreachable!())
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

fn at_least_one<T: Copy + PartialEq + Default>(
    key: &'static str,
    value: Option<T>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        Some(value) if value == T::default() => Err(invalid(key, "must be at least 1")),
        Some(value) => Ok(value),
        None => Ok(default),
    }
}

fn duration(
    key: &'static str,
    value: Option<Duration>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        Some(value) if value < Duration::from_secs(1) => {
            Err(invalid(key, "must be at least one second"))
        }
        Some(value) => Ok(value),
        None => Ok(default),
    }
}

impl LimitsSection {
    pub(super) fn validate(self) -> Result<Limits, ConfigError> {
        let memory = self.memory.map_or(512 * 1024 * 1024, |size| size.as_u64());
        if memory < MIN_MEMORY {
            return Err(invalid("limits.memory", "must be at least 64 MiB"));
        }
        let admission = AdmissionLimits::default();
        let admission = AdmissionLimits {
            max_connections: at_least_one(
                "limits.max_connections",
                self.max_connections,
                admission.max_connections,
            )?,
            max_handshakes: at_least_one(
                "limits.max_handshakes",
                self.max_handshakes,
                admission.max_handshakes,
            )?,
            max_handshakes_per_address: at_least_one(
                "limits.max_handshakes_per_address",
                self.max_handshakes_per_address,
                admission.max_handshakes_per_address,
            )?,
            max_connections_per_agent: at_least_one(
                "limits.max_connections_per_agent",
                self.max_connections_per_agent,
                admission.max_connections_per_agent,
            )?,
        };
        let connections_memory = u64::try_from(admission.max_connections)
            .unwrap_or(u64::MAX)
            .saturating_mul(CONNECTION_BYTES);
        if connections_memory > memory / 4 {
            return Err(invalid(
                "limits.max_connections",
                format!(
                    "{} connections need {} of the memory budget, more than its quarter ({}): raise limits.memory or lower limits.max_connections",
                    admission.max_connections,
                    ByteSize(connections_memory),
                    ByteSize(memory / 4)
                ),
            ));
        }
        let front = FrontDoorSettings::default();
        let front_door = FrontDoorSettings {
            admission,
            handshake_timeout: duration(
                "limits.handshake_timeout",
                self.handshake_timeout,
                front.handshake_timeout,
            )?,
            preface_timeout: duration(
                "limits.preface_timeout",
                self.preface_timeout,
                front.preface_timeout,
            )?,
        };
        let service = ServiceSettings::default();
        let heartbeat_interval = duration(
            "limits.heartbeat_interval",
            self.heartbeat_interval,
            service.heartbeat_interval,
        )?;
        let deadlines = StreamDeadlines {
            message_timeout: duration(
                "limits.message_timeout",
                self.message_timeout,
                StreamDeadlines::default().message_timeout,
            )?,
            idle_timeout: heartbeat_interval * 3,
        };
        let share = usize::try_from(memory / 8 * 3).unwrap_or(usize::MAX);
        let quotas = QuotaLimits::default();
        Ok(Limits {
            memory,
            front_door,
            deadlines,
            wire_bytes: share,
            service: ServiceSettings {
                queued_bytes: share,
                max_streams_per_agent: at_least_one(
                    "limits.max_streams_per_agent",
                    self.max_streams_per_agent,
                    service.max_streams_per_agent,
                )?,
                heartbeat_interval,
            },
            quotas: QuotaLimits {
                new_assets_per_agent_per_hour: at_least_one(
                    "limits.new_assets_per_agent_per_hour",
                    self.new_assets_per_agent_per_hour,
                    quotas.new_assets_per_agent_per_hour,
                )?,
                assets_per_agent: at_least_one(
                    "limits.assets_per_agent",
                    self.assets_per_agent,
                    quotas.assets_per_agent,
                )?,
                assets_per_site: at_least_one(
                    "limits.assets_per_site",
                    self.assets_per_site,
                    quotas.assets_per_site,
                )?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Limits, ConfigError> {
        hygie_daemon::parse_toml::<LimitsSection>(text)?.validate()
    }

    #[test]
    fn the_memory_budget_is_shared_between_wire_queue_and_connections() {
        let limits = parse("memory = \"512MiB\"").unwrap();
        assert_eq!(limits.wire_bytes, 192 * 1024 * 1024);
        assert_eq!(limits.service.queued_bytes, 192 * 1024 * 1024);
        assert_eq!(limits.deadlines.idle_timeout, Duration::from_secs(180));
        assert_eq!(limits, Limits::default());
    }

    #[test]
    fn limits_that_cannot_hold_are_refused() {
        assert_eq!(
            parse("memory = \"16MiB\"").unwrap_err().to_string(),
            "limits.memory: must be at least 64 MiB"
        );
        let crowded = parse("memory = \"64MiB\"\nmax_connections = 1000").unwrap_err();
        assert!(
            crowded.to_string().contains("raise limits.memory"),
            "{crowded}"
        );
        assert_eq!(
            parse("max_streams_per_agent = 0").unwrap_err().to_string(),
            "limits.max_streams_per_agent: must be at least 1"
        );
        assert_eq!(
            parse("message_timeout = \"10ms\"").unwrap_err().to_string(),
            "limits.message_timeout: must be at least one second"
        );
        assert!(
            parse("max_conections = 3").is_err(),
            "unknown keys are refused"
        );
    }
}
