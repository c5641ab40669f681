//! `[console]`: the web console's listener, certificate and sessions. The console is off unless
//! the section is present.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

use super::ConfigError;
use crate::console::{ConsoleSettings, ConsoleTls, ProxyTrust};

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
    proxy: Option<ProxySection>,
}

/// `[console.proxy]`: single sign-on through a reverse proxy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxySection {
    header: String,
    from: Vec<String>,
}

/// Headers clients and browsers send themselves: never a proxy's user header.
const CLIENT_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "user-agent",
    "referer",
    "origin",
    "content-type",
    "accept",
];

impl ProxySection {
    fn validate(self) -> Result<ProxyTrust, ConfigError> {
        let header = self
            .header
            .trim()
            .parse::<axum::http::HeaderName>()
            .ok()
            .filter(|name| !CLIENT_HEADERS.contains(&name.as_str()))
            .ok_or_else(|| {
                invalid(
                    "console.proxy.header",
                    format!(
                        "{:?} is not a header a proxy can set for the user (such as X-Remote-User)",
                        self.header
                    ),
                )
            })?;
        if self.from.is_empty() {
            return Err(invalid(
                "console.proxy.from",
                "give the proxy's addresses (the header is believed from them only)",
            ));
        }
        let from = self
            .from
            .iter()
            .map(|text| {
                let net = text
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "console.proxy.from",
                            format!("{text:?} is not an address or network such as 10.0.0.5 or 10.0.0.0/30"),
                        )
                    })?;
                if net.prefix_len() == 0 {
                    return Err(invalid(
                        "console.proxy.from",
                        format!("{text} would believe anyone's header: give the proxy's addresses"),
                    ));
                }
                Ok(net)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProxyTrust { header, from })
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
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
            proxy: self.proxy.map(ProxySection::validate).transpose()?,
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
        let proxy = |body: &str| refused(&format!("[console]\n[console.proxy]\n{body}"));
        assert!(proxy("header = \"X-Remote-User\"").contains("from"));
        assert!(
            proxy("header = \"Cookie\"\nfrom = [\"10.0.0.5\"]").contains("console.proxy.header")
        );
        assert!(proxy("header = \"X-Remote-User\"\nfrom = []").contains("console.proxy.from"));
        assert!(proxy("header = \"X-Remote-User\"\nfrom = [\"0.0.0.0/0\"]").contains("anyone"));
        assert!(
            proxy("header = \"X-Remote-User\"\nfrom = [\"proxy.local\"]")
                .contains("not an address")
        );
        assert!(
            proxy("header = \"X-User\"\nfrom = [\"10.0.0.5\"]\nrole = \"admin\"").contains("role")
        );
        let config = CollectorConfig::from_toml(
            "[console]\n[console.proxy]\nheader = \"X-Remote-User\"\nfrom = [\"10.0.0.5\", \"fd00::/64\"]",
            Path::new("."),
        )
        .unwrap();
        let trust = config.console.unwrap().proxy.unwrap();
        assert_eq!(trust.header.as_str(), "x-remote-user");
        assert_eq!(trust.from.len(), 2);
        assert!(trust.from[0].contains(&"10.0.0.5".parse::<std::net::IpAddr>().unwrap()));
        assert!(refused("[console]\nport = 1").contains("unknown field `port`"));
    }
}
