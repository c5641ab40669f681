//! The agent's configuration: TOML, unknown keys refused, validated into typed settings.
//!
//! Relative paths are taken against the configuration file's directory, so a unit file or a
//! test can point at a config anywhere.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;
use tonic::transport::Uri;

use crate::discovery::settings::{DiscoverySection, DiscoverySettings};
use crate::outbox::{DEFAULT_KEEP_ACKED, OutboxLimits};

pub use hygie_daemon::ConfigError;

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    collector: CollectorSection,
    #[serde(default)]
    uplink: UplinkSection,
    outbox: OutboxSection,
    #[serde(default)]
    sources: SourcesSection,
    discovery: Option<DiscoverySection>,
    #[serde(default)]
    metrics: hygie_metrics::MetricsSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectorSection {
    endpoint: String,
    server_name: Option<String>,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    #[serde(default, with = "humantime_serde")]
    connect_timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UplinkSection {
    batch_max_observations: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    batch_max_delay: Option<Duration>,
    in_flight_batches: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    backoff_initial: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    backoff_max: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxSection {
    path: PathBuf,
    max_size: Option<ByteSize>,
    #[serde(default, with = "humantime_serde")]
    keep_acked: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcesSection {
    #[serde(default)]
    file: Vec<FileSourceSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSourceSection {
    path: PathBuf,
    #[serde(default)]
    follow: bool,
    #[serde(default, with = "humantime_serde")]
    poll_interval: Option<Duration>,
}

/// How to reach the collector.
#[derive(Debug, Clone)]
pub struct CollectorSettings {
    /// `https://host:port`.
    pub endpoint: Uri,
    /// Name to verify in the collector's certificate, when it differs from the endpoint host.
    pub server_name: Option<String>,
    /// CA certificate that signed the collector's certificate (PEM).
    pub ca: PathBuf,
    /// This agent's client certificate (PEM).
    pub cert: PathBuf,
    /// This agent's private key (PEM).
    pub key: PathBuf,
    /// Give up a connection attempt after this long.
    pub connect_timeout: Duration,
}

/// Batching, pipelining and retry of the uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UplinkSettings {
    /// Largest batch sent.
    pub batch_max_observations: usize,
    /// How long a partial batch may wait for more observations.
    pub batch_max_delay: Duration,
    /// Batches sent but not yet acknowledged.
    pub in_flight_batches: usize,
    /// First reconnection delay.
    pub backoff_initial: Duration,
    /// Longest reconnection delay.
    pub backoff_max: Duration,
}

impl Default for UplinkSettings {
    fn default() -> Self {
        UplinkSettings {
            batch_max_observations: 500,
            batch_max_delay: Duration::from_millis(500),
            in_flight_batches: 16,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// The durable outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxSettings {
    /// SQLite file.
    pub path: PathBuf,
    /// Bound on the outbox's files together (database, WAL, shm, reserve), in bytes.
    pub max_bytes: u64,
    /// How long acknowledged batches are kept for a collector restored from a backup.
    pub keep_acked: Duration,
}

impl OutboxSettings {
    /// The bounds the outbox is opened with.
    pub fn limits(&self) -> OutboxLimits {
        OutboxLimits {
            max_bytes: self.max_bytes,
            keep_acked: self.keep_acked,
        }
    }
}

/// A JSON-lines file of observations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSourceSettings {
    /// The file.
    pub path: PathBuf,
    /// Keep reading lines appended after the end (like `tail -f`).
    pub follow: bool,
    /// How often to look for appended lines when following.
    pub poll_interval: Duration,
}

/// The validated agent configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// How to reach the collector.
    pub collector: CollectorSettings,
    /// Uplink tuning.
    pub uplink: UplinkSettings,
    /// The outbox.
    pub outbox: OutboxSettings,
    /// JSON-lines file sources.
    pub file_sources: Vec<FileSourceSettings>,
    /// Network discovery, if the agent discovers (rather than only forwarding files).
    pub discovery: Option<DiscoverySettings>,
    /// The Prometheus endpoint: off unless configured.
    pub metrics: hygie_metrics::MetricsSettings,
}

/// Where the metrics endpoint listens when turned on without an address: loopback, beside the
/// collector's 9464.
pub const DEFAULT_METRICS_LISTEN: std::net::SocketAddr = std::net::SocketAddr::V4(
    std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 9465),
);

/// Default outbox bound.
pub const DEFAULT_OUTBOX_BYTES: u64 = 256 * 1024 * 1024;
/// Smallest outbox bound accepted: below it one burst could evict everything.
pub const MIN_OUTBOX_BYTES: u64 = 1024 * 1024;
/// Longest `outbox.keep_acked` accepted: a collector restored from a backup older than this
/// is a disaster-recovery matter, not the outbox's.
pub const MAX_KEEP_ACKED: Duration = Duration::from_secs(30 * 24 * 3600);

impl AgentConfig {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = hygie_daemon::read_file(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, base).map_err(|error| error.in_file(path))
    }

    /// Parses and validates TOML text, resolving relative paths against `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let file: File = hygie_daemon::parse_toml(text)?;
        let collector = file.collector;
        let endpoint: Uri = collector.endpoint.parse().map_err(|_| {
            invalid(
                "collector.endpoint",
                format!("{:?} is not a URL", collector.endpoint),
            )
        })?;
        if endpoint.scheme_str() != Some("https") || endpoint.host().is_none() {
            return Err(invalid(
                "collector.endpoint",
                "must be https://HOST:PORT (the uplink always uses mutual TLS)",
            ));
        }
        let defaults = UplinkSettings::default();
        let uplink = file.uplink;
        let uplink = UplinkSettings {
            batch_max_observations: uplink
                .batch_max_observations
                .unwrap_or(defaults.batch_max_observations),
            batch_max_delay: uplink.batch_max_delay.unwrap_or(defaults.batch_max_delay),
            in_flight_batches: uplink
                .in_flight_batches
                .unwrap_or(defaults.in_flight_batches),
            backoff_initial: uplink.backoff_initial.unwrap_or(defaults.backoff_initial),
            backoff_max: uplink.backoff_max.unwrap_or(defaults.backoff_max),
        };
        let max_batch = hygie_proto::limits::MAX_BATCH_OBSERVATIONS;
        if !(1..=max_batch).contains(&uplink.batch_max_observations) {
            return Err(invalid(
                "uplink.batch_max_observations",
                format!("must be between 1 and {max_batch}"),
            ));
        }
        if !(1..=1024).contains(&uplink.in_flight_batches) {
            return Err(invalid(
                "uplink.in_flight_batches",
                "must be between 1 and 1024",
            ));
        }
        if uplink.backoff_initial.is_zero() || uplink.backoff_max < uplink.backoff_initial {
            return Err(invalid(
                "uplink.backoff_max",
                "backoff_initial must be positive and backoff_max at least backoff_initial",
            ));
        }
        let max_bytes = file
            .outbox
            .max_size
            .map_or(DEFAULT_OUTBOX_BYTES, |size| size.as_u64());
        if max_bytes < MIN_OUTBOX_BYTES {
            return Err(invalid("outbox.max_size", "must be at least 1 MiB"));
        }
        let keep_acked = file.outbox.keep_acked.unwrap_or(DEFAULT_KEEP_ACKED);
        if keep_acked > MAX_KEEP_ACKED {
            return Err(invalid(
                "outbox.keep_acked",
                "must be at most 30 days (0s deletes acknowledged batches at once)",
            ));
        }
        let file_sources = file
            .sources
            .file
            .into_iter()
            .map(|source| {
                let poll_interval = source.poll_interval.unwrap_or(Duration::from_millis(500));
                if poll_interval < Duration::from_millis(10) {
                    return Err(invalid(
                        "sources.file.poll_interval",
                        "must be at least 10ms",
                    ));
                }
                Ok(FileSourceSettings {
                    path: base.join(source.path),
                    follow: source.follow,
                    poll_interval,
                })
            })
            .collect::<Result<_, _>>()?;
        let discovery = file
            .discovery
            .map(DiscoverySettings::try_from)
            .transpose()?;
        let metrics = file
            .metrics
            .validate(false, DEFAULT_METRICS_LISTEN)
            .map_err(|error| invalid(error.key, error.reason))?;
        Ok(AgentConfig {
            collector: CollectorSettings {
                endpoint,
                server_name: collector.server_name,
                ca: base.join(collector.ca),
                cert: base.join(collector.cert),
                key: base.join(collector.key),
                connect_timeout: collector.connect_timeout.unwrap_or(Duration::from_secs(10)),
            },
            uplink,
            outbox: OutboxSettings {
                path: base.join(file.outbox.path),
                max_bytes,
                keep_acked,
            },
            file_sources,
            discovery,
            metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [collector]
        endpoint = "https://127.0.0.1:7443"
        ca = "pki/ca.pem"
        cert = "pki/agent.pem"
        key = "pki/agent.key"

        [outbox]
        path = "outbox.sqlite"
    "#;

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let config = AgentConfig::from_toml(MINIMAL, Path::new("/etc/hygie")).unwrap();
        assert_eq!(config.collector.ca, Path::new("/etc/hygie/pki/ca.pem"));
        assert_eq!(config.outbox.path, Path::new("/etc/hygie/outbox.sqlite"));
        assert_eq!(config.outbox.max_bytes, 256 * 1024 * 1024);
        assert_eq!(config.outbox.keep_acked, Duration::from_secs(24 * 3600));
        assert_eq!(config.uplink, UplinkSettings::default());
        assert!(config.file_sources.is_empty());
        assert_eq!(config.metrics.listen, None, "metrics off by default");
    }

    #[test]
    fn metrics_turn_on_with_an_address_and_bad_values_are_named() {
        let base = Path::new(".");
        let on = format!("{MINIMAL}\n[metrics]\nenabled = true");
        assert_eq!(
            AgentConfig::from_toml(&on, base).unwrap().metrics.listen,
            Some(DEFAULT_METRICS_LISTEN)
        );
        let moved = format!("{MINIMAL}\n[metrics]\nlisten = \"198.18.0.9:9100\"");
        assert_eq!(
            AgentConfig::from_toml(&moved, base).unwrap().metrics.listen,
            Some("198.18.0.9:9100".parse().unwrap())
        );
        let bad = format!("{MINIMAL}\n[metrics]\nlisten = \"eth0:9100\"");
        let error = AgentConfig::from_toml(&bad, base).unwrap_err().to_string();
        assert!(
            error.starts_with("metrics.listen: \"eth0:9100\" is not an address:port"),
            "{error}"
        );
        let typo = format!("{MINIMAL}\n[metrics]\nenable = true");
        let error = hygie_proto::error_chain(&AgentConfig::from_toml(&typo, base).unwrap_err());
        assert!(error.contains("unknown field `enable`"), "{error}");
    }

    #[test]
    fn sizes_durations_and_sources_parse() {
        let text = format!(
            "{MINIMAL}\nmax_size = \"64 MiB\"\nkeep_acked = \"2h\"\n[uplink]\nbatch_max_delay = \"250ms\"\n\
             [[sources.file]]\npath = \"/tmp/obs.jsonl\"\nfollow = true\n"
        );
        let config = AgentConfig::from_toml(&text, Path::new("/etc/hygie")).unwrap();
        assert_eq!(config.outbox.max_bytes, 64 * 1024 * 1024);
        assert_eq!(config.outbox.keep_acked, Duration::from_secs(7200));
        assert_eq!(config.uplink.batch_max_delay, Duration::from_millis(250));
        assert_eq!(config.file_sources[0].path, Path::new("/tmp/obs.jsonl"));
        assert!(config.file_sources[0].follow);
    }

    #[test]
    fn the_packaged_example_is_valid() {
        let text = include_str!("../../packaging/agent.toml");
        let config = AgentConfig::from_toml(text, Path::new("/etc/hygie")).unwrap();
        assert_eq!(config.outbox.max_bytes, DEFAULT_OUTBOX_BYTES);
        assert_eq!(config.outbox.keep_acked, DEFAULT_KEEP_ACKED);
        assert_eq!(config.uplink, UplinkSettings::default());
        let discovery = config.discovery.unwrap();
        assert_eq!(
            discovery,
            DiscoverySettings::for_interfaces(vec!["eth0".into()]),
            "the example documents the defaults"
        );
        assert_eq!(
            config.metrics.listen, None,
            "the example leaves metrics off"
        );
    }

    #[test]
    fn refuses_what_cannot_work() {
        let base = Path::new(".");
        let plain = MINIMAL.replace("https://", "http://");
        assert_eq!(
            AgentConfig::from_toml(&plain, base)
                .unwrap_err()
                .to_string(),
            "collector.endpoint: must be https://HOST:PORT (the uplink always uses mutual TLS)"
        );
        let typo = MINIMAL.replace("[outbox]", "[outbox]\nmax_sise = 1");
        assert!(
            hygie_proto::error_chain(&AgentConfig::from_toml(&typo, base).unwrap_err())
                .contains("unknown field `max_sise`")
        );
        let tiny = format!("{MINIMAL}\nmax_size = \"10 KiB\"");
        assert_eq!(
            AgentConfig::from_toml(&tiny, base).unwrap_err().to_string(),
            "outbox.max_size: must be at least 1 MiB"
        );
        let long = format!("{MINIMAL}\nkeep_acked = \"60days\"");
        assert_eq!(
            AgentConfig::from_toml(&long, base).unwrap_err().to_string(),
            "outbox.keep_acked: must be at most 30 days (0s deletes acknowledged batches at once)"
        );
        let huge_batch = format!("{MINIMAL}\n[uplink]\nbatch_max_observations = 100000");
        assert_eq!(
            AgentConfig::from_toml(&huge_batch, base)
                .unwrap_err()
                .to_string(),
            "uplink.batch_max_observations: must be between 1 and 5000"
        );
        let missing = "[outbox]\npath = \"x\"";
        assert!(
            hygie_proto::error_chain(&AgentConfig::from_toml(missing, base).unwrap_err())
                .contains("missing field `collector`")
        );
    }
}
