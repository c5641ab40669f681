//! The clinical scan policy: what an agent must never probe actively.
//!
//! The collector computes one policy per site (biomedical assets, registry entries marked
//! do-not-probe, operator denials, the site's configured exclusions) and sends it to every agent
//! of the site; see `ScanPolicy` in the contract. An agent keeps hearing protected devices
//! passively; it only stops asking them anything.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::invalid::{Invalid, InvalidMessage, check_count};
use crate::limits;
use crate::mac::MacAddr;

/// Why a device is protected from active probing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtectionReason {
    /// Classified as biomedical equipment.
    Biomedical,
    /// Marked do-not-probe in the facility's registry.
    Registry,
    /// Denied by an operator.
    Operator,
    /// Listed in the site's exclusions in the collector's configuration.
    Site,
}

impl ProtectionReason {
    /// The reason's name, as shown and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtectionReason::Biomedical => "biomedical",
            ProtectionReason::Registry => "registry",
            ProtectionReason::Operator => "operator",
            ProtectionReason::Site => "site",
        }
    }
}

impl fmt::Display for ProtectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reason name that is not one of [`ProtectionReason`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protection reason {0:?} (expected biomedical, registry, operator or site)")]
pub struct UnknownReason(pub String);

impl FromStr for ProtectionReason {
    type Err = UnknownReason;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "biomedical" => Ok(ProtectionReason::Biomedical),
            "registry" => Ok(ProtectionReason::Registry),
            "operator" => Ok(ProtectionReason::Operator),
            "site" => Ok(ProtectionReason::Site),
            other => Err(UnknownReason(other.to_owned())),
        }
    }
}

/// One device that must not be probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedDevice {
    /// The device's hardware address; the agent also protects any address it hears it use.
    pub mac: MacAddr,
    /// Addresses the collector last saw the device use.
    pub addresses: Vec<IpAddr>,
    /// Why it is protected.
    pub reason: ProtectionReason,
}

/// What the agents of one site must never probe actively.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanPolicy {
    /// Increases with every change of the site's policy; 0 is "no policy received yet".
    pub version: u64,
    /// Protected devices.
    pub devices: Vec<ProtectedDevice>,
    /// Networks never probed at all.
    pub networks: Vec<IpNet>,
    /// Probe nothing: the policy was too large to send whole.
    pub passive_only: bool,
}

impl ScanPolicy {
    /// Checks counts against [`limits`].
    pub fn check(&self) -> Result<(), InvalidMessage> {
        check_count("devices", self.devices.len(), limits::MAX_POLICY_DEVICES)?;
        check_count("networks", self.networks.len(), limits::MAX_POLICY_NETWORKS)?;
        for (index, device) in self.devices.iter().enumerate() {
            check_count(
                "addresses",
                device.addresses.len(),
                limits::MAX_POLICY_DEVICE_ADDRESSES,
            )
            .map_err(|error| error.within(format_args!("devices[{index}]")))?;
        }
        if self.version == 0 && !(self.devices.is_empty() && self.networks.is_empty()) {
            return Err(InvalidMessage::new("version", Invalid::OutOfRange(0)));
        }
        Ok(())
    }

    /// A policy too large to send is replaced by one that forbids every probe: an incomplete
    /// list must never let a protected device be probed.
    #[must_use]
    pub fn fitted(self) -> Self {
        if self.check().is_ok() {
            return self;
        }
        ScanPolicy {
            version: self.version,
            devices: Vec::new(),
            networks: Vec::new(),
            passive_only: true,
        }
    }

    /// An index for answering "may I probe this?" once per probe.
    pub fn guard(&self) -> ProbeGuard {
        let mut guard = ProbeGuard {
            passive_only: self.passive_only,
            networks: self.networks.clone(),
            ..ProbeGuard::default()
        };
        for device in &self.devices {
            guard.macs.insert(device.mac);
            guard.addresses.extend(device.addresses.iter().copied());
        }
        guard
    }
}

/// A [`ScanPolicy`] indexed for the probe loops: the last check before a probe leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeGuard {
    passive_only: bool,
    macs: HashSet<MacAddr>,
    addresses: HashSet<IpAddr>,
    networks: Vec<IpNet>,
}

impl ProbeGuard {
    /// Whether the policy forbids every probe.
    pub fn passive_only(&self) -> bool {
        self.passive_only
    }

    /// Whether `ip` may be probed, given the MAC the agent last heard use it (if any).
    pub fn permits(&self, ip: IpAddr, heard_mac: Option<MacAddr>) -> bool {
        !self.passive_only
            && !self.addresses.contains(&ip)
            && !heard_mac.is_some_and(|mac| self.macs.contains(&mac))
            && !self.networks.iter().any(|network| network.contains(&ip))
    }

    /// Whether the device with this MAC is protected, whatever address it uses.
    pub fn protects_mac(&self, mac: MacAddr) -> bool {
        self.passive_only || self.macs.contains(&mac)
    }

    /// Protects `ip` too: the agent heard a protected MAC use it.
    pub fn protect_address(&mut self, ip: IpAddr) {
        self.addresses.insert(ip);
    }

    /// Protected devices and addresses, for logs.
    pub fn len(&self) -> usize {
        self.macs.len() + self.addresses.len() + self.networks.len()
    }

    /// Whether nothing is protected (and probing is allowed).
    pub fn is_empty(&self) -> bool {
        !self.passive_only && self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(last: u8) -> MacAddr {
        MacAddr::new([0x02, 0, 0, 0, 0, last])
    }

    fn policy() -> ScanPolicy {
        ScanPolicy {
            version: 3,
            devices: vec![ProtectedDevice {
                mac: mac(1),
                addresses: vec!["198.18.0.10".parse().unwrap()],
                reason: ProtectionReason::Biomedical,
            }],
            networks: vec!["198.18.4.0/24".parse().unwrap()],
            passive_only: false,
        }
    }

    #[test]
    fn a_guard_refuses_protected_addresses_macs_and_networks() {
        let guard = policy().guard();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert!(!guard.permits(ip("198.18.0.10"), None));
        assert!(!guard.permits(ip("198.18.0.11"), Some(mac(1))), "by MAC");
        assert!(!guard.permits(ip("198.18.4.200"), None), "by network");
        assert!(guard.permits(ip("198.18.0.11"), Some(mac(2))));
        assert!(guard.protects_mac(mac(1)));
        assert!(!guard.protects_mac(mac(2)));
    }

    #[test]
    fn an_oversized_policy_becomes_passive_only() {
        let mut big = policy();
        big.devices = (0..=limits::MAX_POLICY_DEVICES)
            .map(|index| ProtectedDevice {
                mac: MacAddr::new([
                    0x02,
                    0,
                    0,
                    (index >> 16) as u8,
                    (index >> 8) as u8,
                    index as u8,
                ]),
                addresses: Vec::new(),
                reason: ProtectionReason::Biomedical,
            })
            .collect();
        let fitted = big.fitted();
        assert!(fitted.passive_only && fitted.devices.is_empty());
        let guard = fitted.guard();
        assert!(!guard.permits("198.18.0.99".parse().unwrap(), None));
        assert!(policy().fitted() == policy());
    }

    #[test]
    fn reasons_round_trip_through_their_names() {
        for reason in [
            ProtectionReason::Biomedical,
            ProtectionReason::Registry,
            ProtectionReason::Operator,
            ProtectionReason::Site,
        ] {
            assert_eq!(reason.as_str().parse::<ProtectionReason>(), Ok(reason));
        }
        assert!("nope".parse::<ProtectionReason>().is_err());
    }
}
