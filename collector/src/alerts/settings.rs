//! The `[alerts]` section of the collector's configuration: sinks, their rules and rate
//! limits, validated into typed settings. Reading the files it names (CA, webhook secret) is
//! left to [`super::prepare`], so parsing stays pure.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::rules::{Rule, Rules};
use crate::audit::EventKind;
use crate::classify::Category;
use crate::config::ConfigError;
use crate::inventory::flags::{Flag, FlagSet};

/// Default bound of a sink's backlog, in events of the log.
pub(crate) const DEFAULT_MAX_BACKLOG: u64 = 100_000;
/// Default pause between two looks at the event log.
pub(crate) const DEFAULT_POLL: Duration = Duration::from_secs(1);
/// Default time a sink gets to deliver one message.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default sustained rate of a sink.
pub(crate) const DEFAULT_PER_MINUTE: u32 = 60;
/// Default burst of a sink.
pub(crate) const DEFAULT_BURST: u32 = 100;
/// Default longest pause between two attempts to deliver.
pub(crate) const DEFAULT_MAX_RETRY: Duration = Duration::from_secs(300);
/// Default length of a suppression window, after which its summary is sent.
pub(crate) const DEFAULT_SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// The section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertsSection {
    max_backlog: Option<u64>,
    #[serde(default, with = "humantime_serde")]
    poll_interval: Option<Duration>,
    state_dir: Option<PathBuf>,
    #[serde(default)]
    sinks: Vec<SinkSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SinkSection {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    // syslog
    transport: Option<String>,
    address: Option<String>,
    server_name: Option<String>,
    facility: Option<String>,
    app_name: Option<String>,
    // webhook
    url: Option<String>,
    secret_file: Option<PathBuf>,
    // both
    ca: Option<PathBuf>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    rate_per_minute: Option<u32>,
    burst: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    summary_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    max_retry_interval: Option<Duration>,
    #[serde(default)]
    rules: Vec<RuleSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSection {
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    sites: Vec<String>,
}

/// Alerting, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// Where alerts go; empty: alerting is off.
    pub sinks: Vec<SinkSettings>,
    /// Most events of the log a sink may be behind before the oldest are dropped.
    pub max_backlog: u64,
    /// How often the event log is looked at.
    pub poll_interval: Duration,
    /// Where each sink's cursor and counters are kept (`<state_dir>/<sink>.json`).
    pub state_dir: PathBuf,
}

/// One sink, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSettings {
    /// Its name (letters, digits, `-`, `_`): in logs, `alerts status` and its state file.
    pub name: String,
    /// Where it sends.
    pub target: Target,
    /// Which events it alerts on.
    pub rules: Rules,
    /// Its rate limit.
    pub limit: RateLimit,
    /// Time one delivery gets (connect, TLS, write, HTTP answer).
    pub timeout: Duration,
    /// Longest pause between two attempts.
    pub max_retry: Duration,
}

/// A sink's rate limit: a token bucket of `burst` tokens refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained alerts per minute.
    pub per_minute: u32,
    /// Alerts that may go at once.
    pub burst: u32,
    /// How long alerts over the limit are gathered before their summary is sent.
    pub summary_interval: Duration,
}

/// Where a sink sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// RFC 5424 syslog.
    Syslog(SyslogTarget),
    /// JSON over HTTP(S), signed.
    Webhook(WebhookTarget),
}

/// How syslog messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// RFC 5426: one datagram per message, no acknowledgement.
    Udp,
    /// RFC 6587 octet counting over TCP.
    Tcp,
    /// RFC 5425: octet counting over TLS.
    Tls,
}

/// A syslog receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTarget {
    /// How.
    pub transport: Transport,
    /// `host:port`, resolved at each connection.
    pub address: String,
    /// The name its TLS certificate must carry (default: the host of `address`).
    pub server_name: String,
    /// The CA that signed its certificate (TLS only).
    pub ca: Option<PathBuf>,
    /// Syslog facility code (0 to 23).
    pub facility: u8,
    /// APP-NAME of the messages.
    pub app_name: String,
}

/// A webhook receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// `http://` or `https://` URL the alerts are POSTed to.
    pub url: http::Uri,
    /// File holding the HMAC key (mode 0600 or stricter).
    pub secret_file: PathBuf,
    /// The only CAs trusted for HTTPS; `None`: the system's store
    /// ([`crate::http_client::Trust`]).
    pub ca: Option<PathBuf>,
}

const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

fn invalid(sink: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        key: "alerts.sinks".into(),
        reason: format!("sink {sink:?}: {reason}"),
    }
}

impl AlertsSection {
    /// Validates the section; relative paths are taken against `data_dir`.
    pub(crate) fn validate(self, data_dir: &Path) -> Result<AlertSettings, ConfigError> {
        let max_backlog = self.max_backlog.unwrap_or(DEFAULT_MAX_BACKLOG);
        if max_backlog == 0 {
            return Err(ConfigError::Invalid {
                key: "alerts.max_backlog".into(),
                reason: "must be at least 1".into(),
            });
        }
        let poll_interval = self.poll_interval.unwrap_or(DEFAULT_POLL);
        if poll_interval.is_zero() {
            return Err(ConfigError::Invalid {
                key: "alerts.poll_interval".into(),
                reason: "must be longer than zero".into(),
            });
        }
        let mut sinks = Vec::with_capacity(self.sinks.len());
        for sink in self.sinks {
            let sink = sink.validate(data_dir)?;
            if sinks
                .iter()
                .any(|other: &SinkSettings| other.name == sink.name)
            {
                return Err(invalid(&sink.name, "two sinks have this name"));
            }
            sinks.push(sink);
        }
        Ok(AlertSettings {
            sinks,
            max_backlog,
            poll_interval,
            state_dir: data_dir.join(self.state_dir.unwrap_or_else(|| PathBuf::from("alerts"))),
        })
    }
}

impl SinkSection {
    /// The syslog or webhook half, with keys of the other type refused.
    fn target(&mut self, name: &str, data_dir: &Path) -> Result<Target, ConfigError> {
        Ok(match self.kind.as_str() {
            "syslog" => {
                for (key, present) in [
                    ("url", self.url.is_some()),
                    ("secret_file", self.secret_file.is_some()),
                ] {
                    if present {
                        return Err(invalid(name, format!("{key} is for webhook sinks")));
                    }
                }
                Target::Syslog(syslog_target(
                    name,
                    self.transport.take(),
                    self.address.take(),
                    self.server_name.take(),
                    self.ca.take().map(|ca| data_dir.join(ca)),
                    self.facility.take(),
                    self.app_name.take(),
                )?)
            }
            "webhook" => {
                for (key, present) in [
                    ("transport", self.transport.is_some()),
                    ("address", self.address.is_some()),
                    ("server_name", self.server_name.is_some()),
                    ("facility", self.facility.is_some()),
                    ("app_name", self.app_name.is_some()),
                ] {
                    if present {
                        return Err(invalid(name, format!("{key} is for syslog sinks")));
                    }
                }
                Target::Webhook(webhook_target(
                    name,
                    self.url.take(),
                    self.secret_file.take().map(|file| data_dir.join(file)),
                    self.ca.take().map(|ca| data_dir.join(ca)),
                )?)
            }
            other => {
                return Err(invalid(
                    name,
                    format!("type {other:?} is neither \"syslog\" nor \"webhook\""),
                ));
            }
        })
    }

    fn validate(mut self, data_dir: &Path) -> Result<SinkSettings, ConfigError> {
        let name = std::mem::take(&mut self.name);
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                &name,
                "a name is 1 to 64 letters, digits, '-' or '_' (it names the sink's state file)",
            ));
        }
        let target = self.target(&name, data_dir)?;
        let rules = if self.rules.is_empty() {
            Rules::default_rules()
        } else {
            Rules::new(
                self.rules
                    .into_iter()
                    .map(|rule| rule.validate(&name))
                    .collect::<Result<_, _>>()?,
            )
        };
        let positive = |key: &str, value: Option<u32>, default: u32| match value {
            Some(0) => Err(invalid(&name, format!("{key} must be at least 1"))),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        let duration = |key: &str, value: Option<Duration>, default: Duration| match value {
            Some(value) if value.is_zero() => {
                Err(invalid(&name, format!("{key} must be longer than zero")))
            }
            Some(value) => Ok(value),
            None => Ok(default),
        };
        let limit = RateLimit {
            per_minute: positive("rate_per_minute", self.rate_per_minute, DEFAULT_PER_MINUTE)?,
            burst: positive("burst", self.burst, DEFAULT_BURST)?,
            summary_interval: duration(
                "summary_interval",
                self.summary_interval,
                DEFAULT_SUMMARY_INTERVAL,
            )?,
        };
        let timeout = duration("timeout", self.timeout, DEFAULT_TIMEOUT)?;
        let max_retry = duration(
            "max_retry_interval",
            self.max_retry_interval,
            DEFAULT_MAX_RETRY,
        )?;
        Ok(SinkSettings {
            name,
            target,
            rules,
            limit,
            timeout,
            max_retry,
        })
    }
}

fn syslog_target(
    name: &str,
    transport: Option<String>,
    address: Option<String>,
    server_name: Option<String>,
    ca: Option<PathBuf>,
    facility: Option<String>,
    app_name: Option<String>,
) -> Result<SyslogTarget, ConfigError> {
    let transport = match transport.as_deref() {
        Some("udp") => Transport::Udp,
        Some("tcp") => Transport::Tcp,
        Some("tls") => Transport::Tls,
        Some(other) => {
            return Err(invalid(
                name,
                format!("transport {other:?} is not udp, tcp or tls"),
            ));
        }
        None => {
            return Err(invalid(
                name,
                "give transport = \"udp\", \"tcp\" or \"tls\"",
            ));
        }
    };
    let Some(address) = address else {
        return Err(invalid(
            name,
            "give address = \"host:port\" (514 for udp/tcp, 6514 for tls)",
        ));
    };
    let host = host_of(&address).ok_or_else(|| {
        invalid(
            name,
            format!("address {address:?} is not host:port (IPv6 as [addr]:port)"),
        )
    })?;
    match (transport, &ca) {
        (Transport::Tls, None) => {
            return Err(invalid(
                name,
                "a tls sink needs ca = \"file.pem\": the CA that signed the receiver's certificate",
            ));
        }
        (Transport::Udp | Transport::Tcp, Some(_)) => {
            return Err(invalid(name, "ca is only used with transport = \"tls\""));
        }
        _ => {}
    }
    let server_name = server_name.unwrap_or_else(|| host.to_owned());
    let facility = match facility.as_deref() {
        None => 16,
        Some(text) => FACILITIES
            .iter()
            .position(|known| *known == text)
            .and_then(|code| u8::try_from(code).ok())
            .ok_or_else(|| {
                invalid(
                    name,
                    format!("facility {text:?} is not one of {} ", FACILITIES.join(", ")),
                )
            })?,
    };
    let app_name = app_name.unwrap_or_else(|| "hygie".to_owned());
    if app_name.is_empty() || app_name.len() > 48 || !app_name.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(invalid(
            name,
            "app_name is 1 to 48 printable ASCII characters without spaces (RFC 5424)",
        ));
    }
    Ok(SyslogTarget {
        transport,
        address,
        server_name,
        ca,
        facility,
        app_name,
    })
}

/// The host of `host:port` or `[v6]:port`.
fn host_of(address: &str) -> Option<&str> {
    let (host, port) = address.rsplit_once(':')?;
    port.parse::<u16>().ok().filter(|port| *port != 0)?;
    let host = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty() && !host.contains(['[', ']', '/'])).then_some(host)
}

fn webhook_target(
    name: &str,
    url: Option<String>,
    secret_file: Option<PathBuf>,
    ca: Option<PathBuf>,
) -> Result<WebhookTarget, ConfigError> {
    let Some(text) = url else {
        return Err(invalid(name, "give url = \"https://host/path\""));
    };
    let url: http::Uri = text
        .parse()
        .map_err(|_| invalid(name, format!("url {text:?} is not a URL")))?;
    match url.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(invalid(
                name,
                format!("url {text:?} must start with http:// or https://"),
            ));
        }
    }
    if url.host().is_none_or(str::is_empty) {
        return Err(invalid(name, format!("url {text:?} has no host")));
    }
    if url
        .authority()
        .is_some_and(|authority| authority.as_str().contains('@'))
    {
        return Err(invalid(
            name,
            "url must not carry credentials: the body is signed with secret_file instead",
        ));
    }
    let Some(secret_file) = secret_file else {
        return Err(invalid(
            name,
            "give secret_file = \"file\": the HMAC key, in a file of mode 0600 (never in this configuration)",
        ));
    };
    if ca.is_some() && url.scheme_str() == Some("http") {
        return Err(invalid(name, "ca is only used with an https:// url"));
    }
    Ok(WebhookTarget {
        url,
        secret_file,
        ca,
    })
}

impl RuleSection {
    fn validate(self, sink: &str) -> Result<Rule, ConfigError> {
        if self.flags.is_empty() && self.events.is_empty() {
            return Err(invalid(
                sink,
                "a rule names flags (raised), events (kinds) or both",
            ));
        }
        let mut flags = FlagSet::EMPTY;
        for text in &self.flags {
            flags.insert(Flag::from_str(text).map_err(|error| invalid(sink, error))?);
        }
        let events = self
            .events
            .iter()
            .map(|text| EventKind::from_str(text).map_err(|error| invalid(sink, error)))
            .collect::<Result<_, _>>()?;
        let categories = self
            .categories
            .iter()
            .map(|text| {
                Category::ALL
                    .into_iter()
                    .find(|category| category.as_str() == text)
                    .ok_or_else(|| {
                        invalid(
                            sink,
                            format!(
                                "{text:?} is not a category ({})",
                                Category::ALL.map(Category::as_str).join(", ")
                            ),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        if self.sites.iter().any(String::is_empty) {
            return Err(invalid(sink, "a site name cannot be empty"));
        }
        Ok(Rule {
            flags,
            events,
            categories,
            sites: self.sites,
        })
    }
}

#[cfg(test)]
mod tests;
