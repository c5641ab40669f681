//! `[console]`: the web console's listener, certificate and sessions. The console is off unless
//! the section is present.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

use super::ConfigError;
use crate::console::{ConsoleSettings, ConsoleTls};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsoleSection {
    listen: Option<String>,
    cert: Option<std::path::PathBuf>,
    key: Option<std::path::PathBuf>,
    #[serde(default, with = "humantime_serde")]
    session_idle: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    session_lifetime: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    agent_silent_after: Option<Duration>,
    max_import: Option<ByteSize>,
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

fn span(
    key: &'static str,
    value: Option<Duration>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(value) if value < Duration::from_secs(1) => Err(invalid(key, "must be at least 1s")),
        Some(value) => Ok(value),
    }
}

impl ConsoleSection {
    /// The validated settings; relative certificate paths are taken against `data_dir`.
    pub(super) fn validate(self, data_dir: &Path) -> Result<ConsoleSettings, ConfigError> {
        let defaults = ConsoleSettings::default();
        let listen = match self.listen {
            None => defaults.listen,
            Some(text) => text.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "console.listen",
                    format!("{text:?} is not an address:port such as 127.0.0.1:8443"),
                )
            })?,
        };
        let tls = match (self.cert, self.key) {
            (None, None) => ConsoleTls::CollectorCertificate,
            (Some(cert), Some(key)) => ConsoleTls::Files {
                cert: data_dir.join(cert),
                key: data_dir.join(key),
            },
            _ => {
                return Err(invalid(
                    "console.cert",
                    "give both cert and key, or neither (the collector's server certificate is then used)",
                ));
            }
        };
        let session_idle = span(
            "console.session_idle",
            self.session_idle,
            defaults.session_idle,
        )?;
        let session_lifetime = span(
            "console.session_lifetime",
            self.session_lifetime,
            defaults.session_lifetime,
        )?;
        if session_idle > session_lifetime {
            return Err(invalid(
                "console.session_idle",
                "must not be longer than console.session_lifetime",
            ));
        }
        let max_import = match self.max_import {
            None => defaults.max_import,
            Some(size) if size.as_u64() < 1024 || size.as_u64() > 64 * 1024 * 1024 => {
                return Err(invalid(
                    "console.max_import",
                    "must be between 1KiB and 64MiB",
                ));
            }
            Some(size) => usize::try_from(size.as_u64()).unwrap_or(defaults.max_import),
        };
        Ok(ConsoleSettings {
            listen,
            tls,
            session_idle,
            session_lifetime,
            agent_silent_after: span(
                "console.agent_silent_after",
                self.agent_silent_after,
                defaults.agent_silent_after,
            )?,
            max_import,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::CollectorConfig;
    use crate::console::ConsoleTls;
    use std::path::Path;

    #[test]
    fn off_unless_configured_loopback_by_default() {
        assert!(CollectorConfig::embedded_default().console.is_none());
        let config = CollectorConfig::from_toml("[console]", Path::new("/etc/hygie")).unwrap();
        let console = config.console.unwrap();
        assert_eq!(console.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(console.tls, ConsoleTls::CollectorCertificate);
    }

    #[test]
    fn files_and_bad_values() {
        let config = CollectorConfig::from_toml(
            "data_dir = \"/var/lib/hygie\"\n[console]\nlisten = \"0.0.0.0:443\"\ncert = \"c.pem\"\nkey = \"/etc/k.pem\"\nsession_idle = \"10min\"",
            Path::new("."),
        )
        .unwrap();
        let console = config.console.unwrap();
        assert_eq!(
            console.tls,
            ConsoleTls::Files {
                cert: "/var/lib/hygie/c.pem".into(),
                key: "/etc/k.pem".into()
            }
        );
        let refused = |text: &str| {
            hygie_proto::error_chain(&CollectorConfig::from_toml(text, Path::new(".")).unwrap_err())
        };
        assert!(refused("[console]\ncert = \"c.pem\"").contains("give both cert and key"));
        assert!(refused("[console]\nlisten = \"x\"").contains("console.listen"));
        assert!(refused("[console]\nsession_idle = \"2days\"").contains("session_lifetime"));
        assert!(refused("[console]\nport = 1").contains("unknown field `port`"));
    }
}
