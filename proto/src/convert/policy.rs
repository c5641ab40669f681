//! The scan policy and the heartbeat, wire ⇄ domain.

use hygie_domain::{
    Invalid, InvalidMessage, ProtectedDevice, ProtectionReason, ScanPolicy, check_count, limits,
};

use super::{ip_from_wire, ip_to_wire, mac_from_wire, network_from_wire, network_to_wire};
use crate::pb;
use crate::pb::protected_device::Reason;

impl From<ProtectionReason> for Reason {
    fn from(reason: ProtectionReason) -> Self {
        match reason {
            ProtectionReason::Biomedical => Reason::Biomedical,
            ProtectionReason::Registry => Reason::Registry,
            ProtectionReason::Operator => Reason::Operator,
            ProtectionReason::Site => Reason::Site,
        }
    }
}

fn reason_from_wire(value: i32) -> Result<ProtectionReason, InvalidMessage> {
    match Reason::try_from(value) {
        Ok(Reason::Biomedical) => Ok(ProtectionReason::Biomedical),
        Ok(Reason::Registry) => Ok(ProtectionReason::Registry),
        Ok(Reason::Operator) => Ok(ProtectionReason::Operator),
        Ok(Reason::Site) => Ok(ProtectionReason::Site),
        // A newer collector's reason still protects the device: only the label is lost.
        Ok(Reason::Unspecified) | Err(_) => Ok(ProtectionReason::Operator),
    }
}

impl From<&ScanPolicy> for pb::ScanPolicy {
    fn from(policy: &ScanPolicy) -> Self {
        pb::ScanPolicy {
            version: policy.version,
            devices: policy
                .devices
                .iter()
                .map(|device| pb::ProtectedDevice {
                    mac: device.mac.octets().to_vec(),
                    addresses: device.addresses.iter().copied().map(ip_to_wire).collect(),
                    reason: Reason::from(device.reason).into(),
                })
                .collect(),
            networks: policy.networks.iter().map(network_to_wire).collect(),
            passive_only: policy.passive_only,
        }
    }
}

impl TryFrom<pb::ScanPolicy> for ScanPolicy {
    type Error = InvalidMessage;

    fn try_from(wire: pb::ScanPolicy) -> Result<Self, Self::Error> {
        check_count("devices", wire.devices.len(), limits::MAX_POLICY_DEVICES)?;
        check_count("networks", wire.networks.len(), limits::MAX_POLICY_NETWORKS)?;
        let devices = wire
            .devices
            .iter()
            .enumerate()
            .map(|(index, device)| {
                device_from_wire(device).map_err(|e| e.within(format_args!("devices[{index}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let networks = wire
            .networks
            .iter()
            .enumerate()
            .map(|(index, network)| network_from_wire(&format!("networks[{index}]"), network))
            .collect::<Result<Vec<_>, _>>()?;
        let policy = ScanPolicy {
            version: wire.version,
            devices,
            networks,
            passive_only: wire.passive_only,
        };
        policy.check()?;
        Ok(policy)
    }
}

fn device_from_wire(wire: &pb::ProtectedDevice) -> Result<ProtectedDevice, InvalidMessage> {
    check_count(
        "addresses",
        wire.addresses.len(),
        limits::MAX_POLICY_DEVICE_ADDRESSES,
    )?;
    let addresses = wire
        .addresses
        .iter()
        .enumerate()
        .map(|(index, bytes)| ip_from_wire(&format!("addresses[{index}]"), bytes))
        .collect::<Result<Vec<_>, _>>()?;
    if wire.mac.is_empty() {
        return Err(InvalidMessage::new("mac", Invalid::Missing));
    }
    Ok(ProtectedDevice {
        mac: mac_from_wire("mac", &wire.mac)?,
        addresses,
        reason: reason_from_wire(wire.reason)?,
    })
}
