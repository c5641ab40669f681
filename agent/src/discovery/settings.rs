//! Discovery settings: the `[discovery]` section of agent.toml, validated.

use std::collections::BTreeSet;
use std::time::Duration;

use hygie_proto::MacAddr;
use ipnet::{IpNet, Ipv4Net};
use serde::Deserialize;

use super::sweep::MAX_DEFAULT_PREFIX;

/// Highest probe rate accepted, in packets per second.
pub const MAX_RATE: u32 = 1_000;

/// A discovery setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("discovery.{key}: {reason}")]
pub struct InvalidSetting {
    key: &'static str,
    reason: String,
}

impl From<InvalidSetting> for hygie_daemon::ConfigError {
    fn from(setting: InvalidSetting) -> Self {
        hygie_daemon::ConfigError::invalid(format!("discovery.{}", setting.key), setting.reason)
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> InvalidSetting {
    InvalidSetting {
        key,
        reason: reason.into(),
    }
}

/// The `[discovery]` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySection {
    interfaces: Vec<String>,
    #[serde(default)]
    passive_only: bool,
    #[serde(default, with = "humantime_serde")]
    refresh_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    policy_wait: Option<Duration>,
    #[serde(default)]
    arp: ArpSection,
    #[serde(default)]
    mdns: MdnsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArpSection {
    sweep: Option<bool>,
    #[serde(default)]
    cidrs: Vec<IpNet>,
    #[serde(default)]
    allow_large: bool,
    rate: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    sweep_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    warmup: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    retries: Option<u32>,
    #[serde(default)]
    exclude_cidrs: Vec<IpNet>,
    #[serde(default)]
    exclude_macs: Vec<MacAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MdnsSection {
    queries: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    query_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    round_duration: Option<Duration>,
}

/// ARP settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpSettings {
    /// Whether to sweep at all (passive listening is always on).
    pub sweep: bool,
    /// Blocks to sweep; empty means each interface's own IPv4 subnet.
    pub cidrs: Vec<Ipv4Net>,
    /// Allow blocks larger than /16.
    pub allow_large: bool,
    /// Probes per second, all interfaces together.
    pub rate: u32,
    /// Time between sweeps.
    pub interval: Duration,
    /// Passive listening before the first sweep, so devices that speak up (and excluded
    /// devices among them) are known before anything is probed.
    pub warmup: Duration,
    /// How long to wait for an answer.
    pub timeout: Duration,
    /// Extra probes for an address that did not answer.
    pub retries: u32,
    /// Never probed.
    pub exclude_cidrs: Vec<Ipv4Net>,
    /// Never probed: addresses known to belong to these MACs are skipped.
    pub exclude_macs: BTreeSet<MacAddr>,
}

/// mDNS / DNS-SD settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdnsSettings {
    /// Whether to send DNS-SD queries (announcements are always listened to).
    pub queries: bool,
    /// Time between query rounds.
    pub interval: Duration,
    /// How long a round browses before its queries stop.
    pub round: Duration,
}

/// Validated discovery settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// Interfaces to listen and probe on.
    pub interfaces: Vec<String>,
    /// Send nothing at all: no ARP probe, no mDNS query.
    pub passive_only: bool,
    /// Liveness refresh interval per device.
    pub refresh: Duration,
    /// How long active discovery waits for a first scan policy (from the collector, or saved
    /// on disk) before probing with the local exclusions alone.
    pub policy_wait: Duration,
    /// ARP.
    pub arp: ArpSettings,
    /// mDNS.
    pub mdns: MdnsSettings,
}

impl DiscoverySettings {
    /// Conservative defaults for the given interfaces.
    pub fn for_interfaces(interfaces: Vec<String>) -> Self {
        DiscoverySettings {
            interfaces,
            passive_only: false,
            refresh: Duration::from_secs(30 * 60),
            policy_wait: Duration::from_secs(120),
            arp: ArpSettings {
                sweep: true,
                cidrs: Vec::new(),
                allow_large: false,
                rate: 50,
                interval: Duration::from_secs(60 * 60),
                warmup: Duration::from_secs(10),
                timeout: Duration::from_secs(2),
                retries: 1,
                exclude_cidrs: Vec::new(),
                exclude_macs: BTreeSet::new(),
            },
            mdns: MdnsSettings {
                queries: true,
                interval: Duration::from_secs(15 * 60),
                round: Duration::from_secs(10),
            },
        }
    }

    /// Whether anything is ever sent.
    pub fn active_arp(&self) -> bool {
        !self.passive_only && self.arp.sweep
    }

    /// Whether DNS-SD queries are ever sent.
    pub fn active_mdns(&self) -> bool {
        !self.passive_only && self.mdns.queries
    }

    /// Checks every bound.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if self.interfaces.is_empty() {
            return Err(invalid("interfaces", "name at least one interface"));
        }
        for name in &self.interfaces {
            if name.is_empty() || name.len() > 15 || name.contains(['/', ' ']) {
                return Err(invalid(
                    "interfaces",
                    format!("{name:?} is not an interface name"),
                ));
            }
        }
        if self.refresh < Duration::from_secs(10) {
            return Err(invalid("refresh_interval", "must be at least 10s"));
        }
        if self.policy_wait > Duration::from_secs(3600) {
            return Err(invalid("policy_wait", "must be at most 1h"));
        }
        let arp = &self.arp;
        if !(1..=MAX_RATE).contains(&arp.rate) {
            return Err(invalid(
                "arp.rate",
                format!("must be between 1 and {MAX_RATE} packets per second"),
            ));
        }
        if arp.interval < Duration::from_secs(60) {
            return Err(invalid("arp.sweep_interval", "must be at least 1min"));
        }
        if arp.warmup > Duration::from_secs(600) {
            return Err(invalid("arp.warmup", "must be at most 10min"));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(30)).contains(&arp.timeout) {
            return Err(invalid("arp.timeout", "must be between 100ms and 30s"));
        }
        if arp.retries > 5 {
            return Err(invalid("arp.retries", "must be at most 5"));
        }
        if let Some(large) = arp
            .cidrs
            .iter()
            .find(|cidr| cidr.prefix_len() < MAX_DEFAULT_PREFIX)
            && !arp.allow_large
        {
            return Err(invalid(
                "arp.cidrs",
                format!("{large} is larger than /16; set allow_large = true to sweep it"),
            ));
        }
        let mdns = &self.mdns;
        if mdns.interval < Duration::from_secs(60) {
            return Err(invalid("mdns.query_interval", "must be at least 1min"));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&mdns.round) {
            return Err(invalid(
                "mdns.round_duration",
                "must be between 1s and 1min",
            ));
        }
        Ok(())
    }
}

/// Keeps IPv4 blocks (normalised to their network address); an IPv6 one is an error naming
/// `key`.
pub fn ipv4_only(key: &'static str, nets: Vec<IpNet>) -> Result<Vec<Ipv4Net>, InvalidSetting> {
    nets.into_iter()
        .map(|net| match net {
            IpNet::V4(v4) => Ok(v4.trunc()),
            IpNet::V6(v6) => Err(invalid(key, format!("{v6} is IPv6; ARP sweeps IPv4 only"))),
        })
        .collect()
}

impl TryFrom<DiscoverySection> for DiscoverySettings {
    type Error = InvalidSetting;

    fn try_from(section: DiscoverySection) -> Result<Self, Self::Error> {
        let defaults = DiscoverySettings::for_interfaces(section.interfaces);
        let arp = section.arp;
        let mdns = section.mdns;
        let settings = DiscoverySettings {
            passive_only: section.passive_only,
            refresh: section.refresh_interval.unwrap_or(defaults.refresh),
            policy_wait: section.policy_wait.unwrap_or(defaults.policy_wait),
            arp: ArpSettings {
                sweep: arp.sweep.unwrap_or(defaults.arp.sweep),
                cidrs: ipv4_only("arp.cidrs", arp.cidrs)?,
                allow_large: arp.allow_large,
                rate: arp.rate.unwrap_or(defaults.arp.rate),
                interval: arp.sweep_interval.unwrap_or(defaults.arp.interval),
                warmup: arp.warmup.unwrap_or(defaults.arp.warmup),
                timeout: arp.timeout.unwrap_or(defaults.arp.timeout),
                retries: arp.retries.unwrap_or(defaults.arp.retries),
                exclude_cidrs: ipv4_only("arp.exclude_cidrs", arp.exclude_cidrs)?,
                exclude_macs: arp.exclude_macs.into_iter().collect(),
            },
            mdns: MdnsSettings {
                queries: mdns.queries.unwrap_or(defaults.mdns.queries),
                interval: mdns.query_interval.unwrap_or(defaults.mdns.interval),
                round: mdns.round_duration.unwrap_or(defaults.mdns.round),
            },
            interfaces: defaults.interfaces,
        };
        settings.validate()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DiscoverySettings, String> {
        let section: DiscoverySection = toml::from_str(text).map_err(|e| e.to_string())?;
        DiscoverySettings::try_from(section).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_conservative() {
        let settings = parse("interfaces = [\"eth0\"]").unwrap();
        assert_eq!(settings.arp.rate, 50);
        assert!(settings.active_arp() && settings.active_mdns());
        assert!(settings.arp.cidrs.is_empty(), "the interface's own subnet");
    }

    #[test]
    fn passive_only_sends_nothing() {
        let settings = parse("interfaces = [\"eth0\"]\npassive_only = true").unwrap();
        assert!(!settings.active_arp());
        assert!(!settings.active_mdns());
    }

    #[test]
    fn full_section_parses() {
        let settings = parse(
            r#"
            interfaces = ["eth0"]
            refresh_interval = "10min"
            [arp]
            cidrs = ["198.18.0.7/24"]
            rate = 20
            exclude_cidrs = ["198.18.0.128/25"]
            exclude_macs = ["00:09:5C:11:22:01"]
            [mdns]
            query_interval = "5min"
            "#,
        )
        .unwrap();
        assert_eq!(
            settings.arp.cidrs,
            vec!["198.18.0.0/24".parse::<Ipv4Net>().unwrap()]
        );
        assert!(
            settings
                .arp
                .exclude_macs
                .contains(&"00:09:5c:11:22:01".parse().unwrap())
        );
        assert_eq!(settings.mdns.interval, Duration::from_secs(300));
    }

    #[test]
    fn unsafe_settings_are_refused() {
        let cases = [
            (
                "interfaces = []",
                "discovery.interfaces: name at least one interface",
            ),
            (
                "interfaces = [\"eth0\"]\n[arp]\nrate = 5000",
                "discovery.arp.rate: must be between 1 and 1000 packets per second",
            ),
            (
                "interfaces = [\"eth0\"]\n[arp]\ncidrs = [\"10.0.0.0/8\"]",
                "discovery.arp.cidrs: 10.0.0.0/8 is larger than /16; set allow_large = true to sweep it",
            ),
            (
                "interfaces = [\"eth0\"]\n[arp]\ncidrs = [\"fe80::/64\"]",
                "discovery.arp.cidrs: fe80::/64 is IPv6; ARP sweeps IPv4 only",
            ),
            (
                "interfaces = [\"eth0\"]\n[mdns]\nquery_interval = \"5s\"",
                "discovery.mdns.query_interval: must be at least 1min",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).unwrap_err(), expected);
        }
        assert!(
            parse("interfaces = [\"eth0\"]\n[arp]\nrat = 5")
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(
            parse("interfaces = [\"eth0\"]\n[arp]\ncidrs = [\"10.0.0.0/8\"]\nallow_large = true")
                .is_ok()
        );
    }
}
