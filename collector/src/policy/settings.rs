//! `[policy]` as the writer uses it: which categories are protected, and each site's
//! configured exclusions. Pure: parsing and checking; the configuration module reads the TOML.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use hygie_proto::{MacAddr, limits};
use ipnet::IpNet;

use crate::classify::Category;

/// What the collector protects from active probing, beyond the registry and operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySettings {
    /// Assets classified in one of these categories are protected unless an operator allows
    /// probing them.
    pub protect_categories: BTreeSet<Category>,
    /// Each site's configured exclusions, by site name.
    pub sites: BTreeMap<String, SiteExclusions>,
}

impl Default for PolicySettings {
    fn default() -> Self {
        PolicySettings {
            protect_categories: BTreeSet::from([Category::Biomedical]),
            sites: BTreeMap::new(),
        }
    }
}

impl PolicySettings {
    /// Whether assets of `category` are protected.
    pub fn protects(&self, category: Category) -> bool {
        self.protect_categories.contains(&category)
    }
}

/// What one site's agents must never probe, whatever the inventory says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteExclusions {
    /// Networks, single addresses as /32 or /128, in the configured order without repeats.
    pub networks: Vec<IpNet>,
    /// Devices, by MAC.
    pub macs: BTreeSet<MacAddr>,
}

impl SiteExclusions {
    /// Builds the exclusions of one site from its `do_not_probe` entries.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ExclusionError> {
        let mut exclusions = SiteExclusions::default();
        for entry in entries {
            match entry.parse::<Exclusion>()? {
                Exclusion::Network(network) => {
                    if !exclusions.networks.contains(&network) {
                        exclusions.networks.push(network);
                    }
                }
                Exclusion::Device(mac) => {
                    exclusions.macs.insert(mac);
                }
            }
        }
        // Past these the policy could not be sent whole and the site would go passive-only:
        // refuse it here, where the operator can see why.
        if exclusions.networks.len() > limits::MAX_POLICY_NETWORKS {
            return Err(ExclusionError::TooMany {
                what: "networks and addresses",
                count: exclusions.networks.len(),
                max: limits::MAX_POLICY_NETWORKS,
            });
        }
        if exclusions.macs.len() > limits::MAX_POLICY_DEVICES {
            return Err(ExclusionError::TooMany {
                what: "MAC addresses",
                count: exclusions.macs.len(),
                max: limits::MAX_POLICY_DEVICES,
            });
        }
        Ok(exclusions)
    }
}

/// One `do_not_probe` entry: a network (CIDR), a single address, or a device's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// Never probe any address in it (a single address is a /32 or /128).
    Network(IpNet),
    /// Never probe this device, whatever address it uses.
    Device(MacAddr),
}

/// A `do_not_probe` entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExclusionError {
    #[error("{0:?} is neither a network (198.18.4.0/24), an address (198.18.0.7) nor a MAC")]
    Unrecognised(String),
    #[error("{given} has host bits set: write the network as {network}")]
    HostBits { given: String, network: IpNet },
    #[error("{0} is a multicast or all-zero MAC, not a device")]
    NotADevice(MacAddr),
    #[error("{count} {what}, more than the {max} one policy can carry")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
}

impl FromStr for Exclusion {
    type Err = ExclusionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        // Addresses first: twelve digits without separators would also read as a MAC.
        if text.contains('/') {
            let network: IpNet = text
                .parse()
                .map_err(|_| ExclusionError::Unrecognised(text.to_owned()))?;
            if network.trunc() != network {
                return Err(ExclusionError::HostBits {
                    given: text.to_owned(),
                    network: network.trunc(),
                });
            }
            return Ok(Exclusion::Network(network));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Exclusion::Network(IpNet::from(ip)));
        }
        let mac: MacAddr = text
            .parse()
            .map_err(|_| ExclusionError::Unrecognised(text.chars().take(64).collect()))?;
        if !mac.is_device() {
            return Err(ExclusionError::NotADevice(mac));
        }
        Ok(Exclusion::Device(mac))
    }
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exclusion::Network(network) => write!(f, "{network}"),
            Exclusion::Device(mac) => write!(f, "{mac}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_networks_addresses_or_macs() {
        let exclusions = SiteExclusions::from_entries([
            "198.18.4.0/24",
            "00:09:5c:11:22:33",
            "198.18.0.7",
            "2001:db8::/64",
            "198.18.0.7",
        ])
        .unwrap();
        let networks: Vec<String> = exclusions.networks.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            networks,
            ["198.18.4.0/24", "198.18.0.7/32", "2001:db8::/64"],
            "in order, without repeats"
        );
        assert_eq!(
            exclusions
                .macs
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>(),
            ["00:09:5c:11:22:33"]
        );
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        let error = |text: &str| text.parse::<Exclusion>().unwrap_err().to_string();
        assert_eq!(
            error("198.18.4.1/24"),
            "198.18.4.1/24 has host bits set: write the network as 198.18.4.0/24"
        );
        assert_eq!(
            error("ward-3"),
            "\"ward-3\" is neither a network (198.18.4.0/24), an address (198.18.0.7) nor a MAC"
        );
        assert_eq!(
            error("198.18.0.0/33"),
            "\"198.18.0.0/33\" is neither a network (198.18.4.0/24), an address (198.18.0.7) nor a MAC"
        );
        assert_eq!(
            error("01:00:5e:00:00:01"),
            "01:00:5e:00:00:01 is a multicast or all-zero MAC, not a device"
        );
        // Twelve digits are a MAC, not an address.
        assert_eq!(
            "00095c112233".parse::<Exclusion>(),
            Ok(Exclusion::Device("00:09:5c:11:22:33".parse().unwrap()))
        );
    }

    #[test]
    fn more_networks_than_a_policy_carries_are_refused() {
        let entries: Vec<String> = (0..=limits::MAX_POLICY_NETWORKS)
            .map(|n| format!("198.18.{}.{}", n / 256, n % 256))
            .collect();
        let error = SiteExclusions::from_entries(entries.iter().map(String::as_str)).unwrap_err();
        assert!(matches!(error, ExclusionError::TooMany { .. }), "{error}");
    }
}
