//! The collector's configuration: TOML, unknown keys refused, validated into typed settings.
//!
//! Relative paths are resolved once, here: `data_dir` against the configuration file's directory
//! (or the working directory when there is no file), and every other path against `data_dir`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod console;
mod glpi;
mod limits;
mod policy;

pub use limits::{CONNECTION_BYTES, Limits, MIN_MEMORY};

use crate::ca::PkiPaths;
use crate::ingest::WriterSettings;
use crate::inventory::flags::{FlagRules, Gateway};
use crate::store::{Durability, Retention};

/// Where the embedded default listens: loopback only, so a first start exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7443";
/// Where the metrics endpoint listens unless `[metrics]` says otherwise: loopback only.
pub const DEFAULT_METRICS_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    9464,
));
/// Where the embedded default keeps its data, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "hygie-data";

pub use hygie_daemon::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    #[serde(default)]
    tls: TlsSection,
    #[serde(default)]
    database: DatabaseSection,
    #[serde(default)]
    history: HistorySection,
    #[serde(default)]
    ingest: IngestSection,
    #[serde(default)]
    classification: ClassificationSection,
    #[serde(default)]
    flags: FlagsSection,
    #[serde(default)]
    audit: AuditSection,
    #[serde(default)]
    limits: limits::LimitsSection,
    #[serde(default)]
    policy: policy::PolicySection,
    #[serde(default)]
    alerts: crate::alerts::AlertsSection,
    #[serde(default)]
    metrics: hygie_metrics::MetricsSection,
    glpi: Option<glpi::GlpiSection>,
    console: Option<console::ConsoleSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassificationSection {
    rules: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlagsSection {
    #[serde(default, with = "humantime_serde")]
    stale_after: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    new_window: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    ip_change_window: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    conflict_window: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    conflict_hold: Option<Duration>,
    gateways: Option<Vec<Gateway>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditSection {
    signing_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    ca_cert: Option<PathBuf>,
    ca_key: Option<PathBuf>,
    server_cert: Option<PathBuf>,
    server_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    path: Option<PathBuf>,
    durability: Option<Durability>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistorySection {
    max_rows: Option<u64>,
    #[serde(default, with = "humantime_serde")]
    max_age: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    prune_interval: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestSection {
    queue_batches: Option<usize>,
    max_group_observations: Option<usize>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Address the gRPC server listens on.
    pub listen: SocketAddr,
    /// Directory holding the database and, by default, the PKI.
    pub data_dir: PathBuf,
    /// CA and server certificate files.
    pub pki: PkiPaths,
    /// True when the PKI files are the defaults under `data_dir`: `serve` may then create them
    /// on first start. Explicitly configured files are never created behind the operator's back.
    pub pki_is_default: bool,
    /// The inventory database file.
    pub database: PathBuf,
    /// Commit durability.
    pub durability: Durability,
    /// Writer tuning, history retention and the flag windows.
    pub writer: WriterSettings,
    /// The site's classification rules file, layered over the embedded defaults.
    pub rules: Option<PathBuf>,
    /// The Ed25519 key that signs snapshots; its public half sits beside it as `.pub`.
    pub signing_key: PathBuf,
    /// What agents can make the collector hold.
    pub limits: Limits,
    /// Alerts to syslog receivers and webhooks.
    pub alerts: crate::alerts::AlertSettings,
    /// The Prometheus endpoint: on loopback unless configured otherwise or turned off.
    pub metrics: hygie_metrics::MetricsSettings,
    /// Pushes to GLPI (`[glpi]`), if configured.
    pub glpi: Option<crate::glpi::GlpiSettings>,
    /// The web console, when `[console]` is configured.
    pub console: Option<crate::console::ConsoleSettings>,
}

impl CollectorConfig {
    /// The embedded default: loopback on port 7443, data under `./hygie-data/`.
    pub fn embedded_default() -> Self {
        // Parsing an empty document cannot fail.
        Self::from_toml("", Path::new(".")).unwrap_or_else(|_| unreachable!())
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = hygie_daemon::read_file(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, base).map_err(|error| error.in_file(path))
    }

    /// The configuration at `path`, or the embedded default when there is none.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        path.map_or_else(|| Ok(Self::embedded_default()), Self::load)
    }

    /// Parses and validates TOML text; relative `data_dir` is taken against `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let file: File = hygie_daemon::parse_toml(text)?;
        let listen = file.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen.parse().map_err(|_| ConfigError::Invalid {
            key: "listen".into(),
            reason: format!("{listen:?} is not an address:port such as 0.0.0.0:7443"),
        })?;
        let data_dir = base.join(
            file.data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        );
        let within = |path: Option<PathBuf>, default: PathBuf| {
            path.map_or(default, |path| data_dir.join(path))
        };
        let defaults = PkiPaths::in_dir(&data_dir.join("pki"));
        let tls = file.tls;
        let pki_is_default = tls.ca_cert.is_none()
            && tls.ca_key.is_none()
            && tls.server_cert.is_none()
            && tls.server_key.is_none();
        let pki = PkiPaths {
            ca_cert: within(tls.ca_cert, defaults.ca_cert),
            ca_key: within(tls.ca_key, defaults.ca_key),
            server_cert: within(tls.server_cert, defaults.server_cert),
            server_key: within(tls.server_key, defaults.server_key),
        };

        let mut writer = WriterSettings::default();
        if let Some(max_rows) = file.history.max_rows {
            if max_rows == 0 {
                return Err(ConfigError::Invalid {
                    key: "history.max_rows".into(),
                    reason: "must be at least 1".into(),
                });
            }
            writer.retention = Retention {
                max_rows,
                ..writer.retention
            };
        }
        if let Some(max_age) = file.history.max_age {
            let max_age =
                jiff::SignedDuration::try_from(max_age).map_err(|_| ConfigError::Invalid {
                    key: "history.max_age".into(),
                    reason: "too large".into(),
                })?;
            writer.retention.max_age = max_age;
        }
        if let Some(interval) = file.history.prune_interval {
            writer.prune_interval = interval;
        }
        if let Some(queue) = file.ingest.queue_batches {
            writer.queue_batches = positive("ingest.queue_batches", queue)?;
        }
        if let Some(group) = file.ingest.max_group_observations {
            writer.max_group_observations = positive("ingest.max_group_observations", group)?;
        }

        writer.flag_rules = flag_rules(file.flags)?;
        writer.policy = file.policy.validate()?;
        let limits = file.limits.validate()?;
        writer.quotas = limits.quotas;
        let alerts = file.alerts.validate(&data_dir)?;
        let metrics = file
            .metrics
            .validate(true, DEFAULT_METRICS_LISTEN)
            .map_err(|error| ConfigError::Invalid {
                key: error.key.into(),
                reason: error.reason,
            })?;
        let glpi = file
            .glpi
            .map(|section| section.validate(&data_dir))
            .transpose()?;

        let console = file
            .console
            .map(|section| section.validate(&data_dir))
            .transpose()?;
        Ok(CollectorConfig {
            console,
            listen,
            database: within(file.database.path, data_dir.join("inventory.sqlite")),
            durability: file.database.durability.unwrap_or_default(),
            rules: file.classification.rules.map(|path| data_dir.join(path)),
            signing_key: within(
                file.audit.signing_key,
                data_dir.join("pki").join("signing.key"),
            ),
            pki,
            pki_is_default,
            data_dir,
            writer,
            limits,
            alerts,
            metrics,
            glpi,
        })
    }
}

fn flag_rules(section: FlagsSection) -> Result<FlagRules, ConfigError> {
    let mut rules = FlagRules::default();
    let window = |key: &'static str, value: Option<Duration>, default: jiff::SignedDuration| {
        let Some(value) = value else {
            return Ok(default);
        };
        if value.is_zero() {
            return Err(ConfigError::Invalid {
                key: key.into(),
                reason: "must be longer than zero".into(),
            });
        }
        jiff::SignedDuration::try_from(value).map_err(|_| ConfigError::Invalid {
            key: key.into(),
            reason: "too large".into(),
        })
    };
    rules.stale_after = window("flags.stale_after", section.stale_after, rules.stale_after)?;
    rules.new_window = window("flags.new_window", section.new_window, rules.new_window)?;
    rules.ip_change_window = window(
        "flags.ip_change_window",
        section.ip_change_window,
        rules.ip_change_window,
    )?;
    rules.conflict_window = window(
        "flags.conflict_window",
        section.conflict_window,
        rules.conflict_window,
    )?;
    rules.conflict_hold = window(
        "flags.conflict_hold",
        section.conflict_hold,
        rules.conflict_hold,
    )?;
    if let Some(gateways) = section.gateways {
        for gateway in &gateways {
            if gateway.ip.is_unspecified() || gateway.ip.is_multicast() {
                return Err(ConfigError::Invalid {
                    key: "flags.gateways".into(),
                    reason: format!("{} cannot be a gateway", gateway.ip),
                });
            }
        }
        rules.gateways = gateways;
    }
    Ok(rules)
}

fn positive(key: &'static str, value: usize) -> Result<usize, ConfigError> {
    if value == 0 {
        return Err(ConfigError::Invalid {
            key: key.into(),
            reason: "must be at least 1".into(),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Category;

    #[test]
    fn embedded_default_is_loopback_under_hygie_data() {
        let config = CollectorConfig::embedded_default();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7443");
        assert_eq!(config.database, Path::new("./hygie-data/inventory.sqlite"));
        assert_eq!(config.pki.ca_cert, Path::new("./hygie-data/pki/ca.pem"));
        assert!(config.pki_is_default);
        assert_eq!(config.durability, Durability::Full);
        assert_eq!(
            config.metrics.listen,
            Some(DEFAULT_METRICS_LISTEN),
            "metrics on loopback"
        );
    }

    #[test]
    fn metrics_move_or_turn_off_and_bad_values_are_named() {
        let base = Path::new(".");
        let moved =
            CollectorConfig::from_toml("[metrics]\nlisten = \"198.18.0.5:9100\"", base).unwrap();
        assert_eq!(
            moved.metrics.listen,
            Some("198.18.0.5:9100".parse().unwrap())
        );
        let off = CollectorConfig::from_toml("[metrics]\nenabled = false", base).unwrap();
        assert_eq!(off.metrics.listen, None);
        let bad = CollectorConfig::from_toml("[metrics]\nlisten = \"9464\"", base).unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("metrics.listen: \"9464\" is not an address:port"),
            "{bad}"
        );
        let typo = CollectorConfig::from_toml("[metrics]\nport = 1", base).unwrap_err();
        let typo = hygie_proto::error_chain(&typo);
        assert!(typo.contains("unknown field `port`"), "{typo}");
    }

    #[test]
    fn paths_resolve_against_the_file_and_the_data_dir() {
        let config = CollectorConfig::from_toml(
            r#"
            listen = "0.0.0.0:7443"
            data_dir = "data"
            [tls]
            server_cert = "/etc/hygie/server.pem"
            [database]
            path = "inv.sqlite"
            durability = "normal"
            [history]
            max_rows = 1000
            max_age = "30days"
            "#,
            Path::new("/etc/hygie"),
        )
        .unwrap();
        assert_eq!(config.data_dir, Path::new("/etc/hygie/data"));
        assert_eq!(config.database, Path::new("/etc/hygie/data/inv.sqlite"));
        assert_eq!(config.pki.server_cert, Path::new("/etc/hygie/server.pem"));
        assert_eq!(config.pki.ca_cert, Path::new("/etc/hygie/data/pki/ca.pem"));
        assert!(!config.pki_is_default);
        assert_eq!(config.durability, Durability::Normal);
        assert_eq!(config.writer.retention.max_rows, 1000);
        assert_eq!(
            config.writer.retention.max_age,
            jiff::SignedDuration::from_hours(24 * 30)
        );
    }

    #[test]
    fn the_packaged_example_is_valid() {
        let text = include_str!("../../../packaging/collector.toml");
        let config = CollectorConfig::from_toml(text, Path::new("/etc/hygie")).unwrap();
        assert_eq!(
            config.database,
            Path::new("/var/lib/hygie-collector/inventory.sqlite")
        );
        assert!(!config.pki_is_default);
        let defaults = WriterSettings::default();
        assert_eq!(config.writer.queue_batches, defaults.queue_batches);
        assert_eq!(
            config.writer.max_group_observations,
            defaults.max_group_observations
        );
        assert_eq!(config.writer.retention, defaults.retention);
        // The example documents the defaults.
        assert_eq!(config.writer.flag_rules, FlagRules::default());
        assert_eq!(
            config.signing_key,
            Path::new("/var/lib/hygie-collector/pki/signing.key")
        );
        assert_eq!(config.rules, None);
        assert_eq!(config.metrics.listen, Some(DEFAULT_METRICS_LISTEN));
    }

    #[test]
    fn flag_windows_rules_and_the_signing_key_are_configurable() {
        let config = CollectorConfig::from_toml(
            r#"
            data_dir = "/var/lib/hygie"
            [classification]
            rules = "/etc/hygie/rules.toml"
            [flags]
            stale_after = "14days"
            new_window = "2days"
            gateways = [{ ip = "198.18.0.1", mac = "00:00:5e:00:01:01" }, { ip = "198.18.1.1" }]
            [audit]
            signing_key = "keys/signing.key"
            "#,
            Path::new("."),
        )
        .unwrap();
        let flags = &config.writer.flag_rules;
        assert_eq!(flags.stale_after, jiff::SignedDuration::from_hours(24 * 14));
        assert_eq!(flags.new_window, jiff::SignedDuration::from_hours(48));
        assert_eq!(
            flags.ip_change_window,
            FlagRules::default().ip_change_window
        );
        assert_eq!(flags.gateways.len(), 2);
        assert_eq!(flags.gateways[1].mac, None);
        assert_eq!(
            config.rules.as_deref(),
            Some(Path::new("/etc/hygie/rules.toml"))
        );
        assert_eq!(
            config.signing_key,
            Path::new("/var/lib/hygie/keys/signing.key")
        );
        let zero = CollectorConfig::from_toml("[flags]\nstale_after = \"0s\"", Path::new("."))
            .unwrap_err();
        assert_eq!(
            zero.to_string(),
            "flags.stale_after: must be longer than zero"
        );
        let typo =
            CollectorConfig::from_toml("[flags]\nstale = \"1day\"", Path::new(".")).unwrap_err();
        let typo = hygie_proto::error_chain(&typo);
        assert!(typo.contains("unknown field `stale`"), "{typo}");
    }

    #[test]
    fn the_policy_names_categories_and_each_site_once() {
        let config = CollectorConfig::from_toml(
            r#"
            [policy]
            protect_categories = ["biomedical", "building"]
            [[policy.sites]]
            site = "chu-nord"
            do_not_probe = ["198.18.4.0/24", "00:09:5c:11:22:33", "198.18.0.7"]
            [[policy.sites]]
            site = "chu-sud"
            "#,
            Path::new("."),
        )
        .unwrap();
        let policy = &config.writer.policy;
        assert_eq!(
            policy.protect_categories,
            [Category::Biomedical, Category::Building].into()
        );
        let nord = &policy.sites["chu-nord"];
        assert_eq!(nord.networks.len(), 2);
        assert_eq!(nord.macs.len(), 1);
        assert!(policy.sites["chu-sud"].networks.is_empty());
        assert_eq!(
            CollectorConfig::embedded_default().writer.policy,
            crate::policy::PolicySettings::default(),
            "biomedical by default"
        );

        let refused = |text: &str| {
            hygie_proto::error_chain(&CollectorConfig::from_toml(text, Path::new(".")).unwrap_err())
        };
        let category = refused("[policy]\nprotect_categories = [\"biomed\"]");
        assert!(category.contains("unknown variant `biomed`"), "{category}");
        assert_eq!(
            refused("[[policy.sites]]\nsite = \"chu-nord\"\n[[policy.sites]]\nsite = \"chu-nord\""),
            "policy.sites: site chu-nord is listed twice: merge its do_not_probe lists"
        );
        assert_eq!(
            refused("[[policy.sites]]\nsite = \"chu-nord\"\ndo_not_probe = [\"198.18.4.1/24\"]"),
            "policy.sites: site chu-nord: do_not_probe: 198.18.4.1/24 has host bits set: write the network as 198.18.4.0/24"
        );
        assert_eq!(
            refused("[[policy.sites]]\nsite = \"chu nord\""),
            "policy.sites: site \"chu nord\" is not allowed: use 1 to 64 letters, digits, '.', '_' or '-'"
        );
        let typo = refused("[[policy.sites]]\nsite = \"a\"\nexclude = []");
        assert!(typo.contains("unknown field `exclude`"), "{typo}");
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        let base = Path::new(".");
        let unknown = CollectorConfig::from_toml("lisen = \"127.0.0.1:1\"", base).unwrap_err();
        assert!(
            hygie_proto::error_chain(&unknown).contains("unknown field `lisen`"),
            "{unknown}"
        );
        let nested = CollectorConfig::from_toml("[database]\nfile = \"x\"", base).unwrap_err();
        assert!(
            hygie_proto::error_chain(&nested).contains("unknown field `file`"),
            "{nested}"
        );
        let listen = CollectorConfig::from_toml("listen = \"everywhere\"", base).unwrap_err();
        assert_eq!(
            listen.to_string(),
            "listen: \"everywhere\" is not an address:port such as 0.0.0.0:7443"
        );
        let rows = CollectorConfig::from_toml("[history]\nmax_rows = 0", base).unwrap_err();
        assert_eq!(rows.to_string(), "history.max_rows: must be at least 1");
        let durability =
            CollectorConfig::from_toml("[database]\ndurability = \"maybe\"", base).unwrap_err();
        assert!(
            hygie_proto::error_chain(&durability).contains("unknown variant"),
            "{durability}"
        );
    }
}
