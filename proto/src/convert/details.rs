//! Protocol details (`Observation.detail`) between the wire and the domain.
//!
//! On the wire an absent string is empty and an absent number zero; in the domain both are
//! `None`. Lists are counted before they are converted; every other bound (lengths, control
//! characters, labels) is the domain's [`Detail::check`], which the observation's check runs.

use std::net::{IpAddr, Ipv4Addr};

use hygie_domain::{
    CdpDetails, Detail, DhcpDetails, DhcpVersion, Invalid, InvalidMessage, LldpDetails, LldpMed,
    NdDetails, NetbiosDetails, NetbiosName, SsdpDetails, SsdpMessage, check_count, limits,
};

use super::{ip_from_wire, ip_to_wire};
use crate::pb;
use crate::pb::observation::Detail as WireDetail;

fn text(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn addresses(path: &str, wire: &[Vec<u8>]) -> Result<Vec<IpAddr>, InvalidMessage> {
    check_count(path, wire.len(), limits::MAX_DETAIL_ITEMS)?;
    wire.iter()
        .enumerate()
        .map(|(index, bytes)| ip_from_wire(&format!("{path}[{index}]"), bytes))
        .collect()
}

/// A list of strings, counted (the domain check bounds each one).
fn labels(path: &str, wire: Vec<String>) -> Result<Vec<String>, InvalidMessage> {
    check_count(path, wire.len(), limits::MAX_DETAIL_ITEMS)?;
    Ok(wire)
}

fn small(path: &str, value: u32, max: u32) -> Result<u32, InvalidMessage> {
    if value > max {
        return Err(InvalidMessage::new(
            path,
            Invalid::OutOfRange(u64::from(value)),
        ));
    }
    Ok(value)
}

fn as_u8(path: &str, value: u32) -> Result<u8, InvalidMessage> {
    u8::try_from(value).map_err(|_| InvalidMessage::new(path, Invalid::OutOfRange(value.into())))
}

/// The domain form of a wire detail; the error's path is relative to the detail.
pub(crate) fn detail_from_wire(wire: WireDetail) -> Result<Detail, InvalidMessage> {
    let detail = match wire {
        WireDetail::Dhcp(dhcp) => Detail::Dhcp(dhcp_from_wire(dhcp).map_err(|e| e.within("dhcp"))?),
        WireDetail::Ssdp(ssdp) => Detail::Ssdp(ssdp_from_wire(ssdp).map_err(|e| e.within("ssdp"))?),
        WireDetail::Lldp(lldp) => Detail::Lldp(lldp_from_wire(lldp).map_err(|e| e.within("lldp"))?),
        WireDetail::Cdp(cdp) => Detail::Cdp(cdp_from_wire(cdp).map_err(|e| e.within("cdp"))?),
        WireDetail::Netbios(netbios) => {
            Detail::Netbios(netbios_from_wire(netbios).map_err(|e| e.within("netbios"))?)
        }
        WireDetail::Nd(nd) => Detail::Nd(NdDetails { router: nd.router }),
    };
    Ok(detail)
}

fn dhcp_from_wire(wire: pb::DhcpDetails) -> Result<DhcpDetails, InvalidMessage> {
    let version = match wire.version {
        4 => DhcpVersion::V4,
        6 => DhcpVersion::V6,
        other => {
            return Err(InvalidMessage::new(
                "version",
                Invalid::OutOfRange(other.into()),
            ));
        }
    };
    check_count(
        "parameter_request_list",
        wire.parameter_request_list.len(),
        limits::MAX_PARAMETER_REQUESTS,
    )?;
    let parameter_request_list = wire
        .parameter_request_list
        .iter()
        .enumerate()
        .map(|(index, code)| {
            let path = format!("parameter_request_list[{index}]");
            u16::try_from(*code)
                .map_err(|_| InvalidMessage::new(path, Invalid::OutOfRange((*code).into())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if wire.client_id.len() > limits::MAX_CLIENT_ID_HEX_LEN / 2 {
        return Err(InvalidMessage::new(
            "client_id",
            Invalid::TooLong {
                len: wire.client_id.len(),
                max: limits::MAX_CLIENT_ID_HEX_LEN / 2,
            },
        ));
    }
    let requested_address = match wire.requested_address.len() {
        0 => None,
        _ => {
            let bytes = <[u8; 4]>::try_from(wire.requested_address.as_slice()).map_err(|_| {
                InvalidMessage::new(
                    "requested_address",
                    Invalid::AddressLength {
                        expected: 4,
                        got: wire.requested_address.len(),
                    },
                )
            })?;
            Some(Ipv4Addr::from(bytes))
        }
    };
    Ok(DhcpDetails {
        version,
        message_type: as_u8("message_type", wire.message_type)?,
        parameter_request_list,
        vendor_class: text(wire.vendor_class),
        vendor_enterprise: (wire.vendor_enterprise != 0).then_some(wire.vendor_enterprise),
        client_id: (!wire.client_id.is_empty()).then(|| hex(&wire.client_id)),
        fqdn: text(wire.fqdn),
        user_class: labels("user_class", wire.user_class)?,
        requested_address,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

fn unhex(text: &str) -> Vec<u8> {
    // The domain checked it is lower-case hex of even length; anything else is dropped.
    (0..text.len() / 2)
        .filter_map(|index| u8::from_str_radix(text.get(2 * index..2 * index + 2)?, 16).ok())
        .collect()
}

fn ssdp_from_wire(wire: pb::SsdpDetails) -> Result<SsdpDetails, InvalidMessage> {
    let message = match pb::ssdp_details::Message::try_from(wire.message) {
        Ok(pb::ssdp_details::Message::Notify) => SsdpMessage::Notify,
        Ok(pb::ssdp_details::Message::Search) => SsdpMessage::Search,
        Ok(pb::ssdp_details::Message::Response) => SsdpMessage::Response,
        Ok(pb::ssdp_details::Message::Unspecified) => {
            return Err(InvalidMessage::new("message", Invalid::Missing));
        }
        Err(_) => {
            return Err(InvalidMessage::new(
                "message",
                Invalid::UnknownEnumValue(wire.message),
            ));
        }
    };
    Ok(SsdpDetails {
        message,
        notification_subtype: text(wire.notification_subtype),
        server: text(wire.server),
        user_agent: text(wire.user_agent),
        notification_type: text(wire.notification_type),
        usn: text(wire.usn),
        location: text(wire.location),
    })
}

fn lldp_from_wire(wire: pb::LldpDetails) -> Result<LldpDetails, InvalidMessage> {
    let med = match wire.med {
        Some(med) => Some(LldpMed {
            device_class: match small("med.device_class", med.device_class, 4)? {
                0 => None,
                class => Some(as_u8("med.device_class", class)?),
            },
            hardware_revision: text(med.hardware_revision),
            firmware_revision: text(med.firmware_revision),
            software_revision: text(med.software_revision),
            serial_number: text(med.serial_number),
            manufacturer: text(med.manufacturer),
            model: text(med.model),
            asset_id: text(med.asset_id),
        }),
        None => None,
    };
    Ok(LldpDetails {
        chassis_id: wire.chassis_id,
        port_id: wire.port_id,
        port_description: text(wire.port_description),
        system_name: text(wire.system_name),
        system_description: text(wire.system_description),
        capabilities: labels("capabilities", wire.capabilities)?,
        management_addresses: addresses("management_addresses", &wire.management_addresses)?,
        med,
    })
}

fn cdp_from_wire(wire: pb::CdpDetails) -> Result<CdpDetails, InvalidMessage> {
    let native_vlan = match small("native_vlan", wire.native_vlan, 4094)? {
        0 => None,
        vlan => Some(u16::try_from(vlan).unwrap_or_default()),
    };
    Ok(CdpDetails {
        device_id: text(wire.device_id),
        platform: text(wire.platform),
        software_version: text(wire.software_version),
        port_id: text(wire.port_id),
        capabilities: labels("capabilities", wire.capabilities)?,
        addresses: addresses("addresses", &wire.addresses)?,
        native_vlan,
    })
}

fn netbios_from_wire(wire: pb::NetbiosDetails) -> Result<NetbiosDetails, InvalidMessage> {
    check_count("names", wire.names.len(), limits::MAX_DETAIL_ITEMS)?;
    let names = wire
        .names
        .into_iter()
        .enumerate()
        .map(|(index, name)| {
            Ok(NetbiosName {
                name: name.name,
                suffix: as_u8(&format!("names[{index}].suffix"), name.suffix)?,
                group: name.group,
            })
        })
        .collect::<Result<Vec<_>, InvalidMessage>>()?;
    Ok(NetbiosDetails {
        names,
        workgroup: text(wire.workgroup),
    })
}

/// The wire form of a domain detail.
pub(crate) fn detail_to_wire(detail: &Detail) -> WireDetail {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    match detail {
        Detail::Dhcp(dhcp) => WireDetail::Dhcp(pb::DhcpDetails {
            version: match dhcp.version {
                DhcpVersion::V4 => 4,
                DhcpVersion::V6 => 6,
            },
            message_type: dhcp.message_type.into(),
            parameter_request_list: dhcp
                .parameter_request_list
                .iter()
                .copied()
                .map(u32::from)
                .collect(),
            vendor_class: text(&dhcp.vendor_class),
            vendor_enterprise: dhcp.vendor_enterprise.unwrap_or_default(),
            client_id: dhcp.client_id.as_deref().map(unhex).unwrap_or_default(),
            fqdn: text(&dhcp.fqdn),
            user_class: dhcp.user_class.clone(),
            requested_address: dhcp
                .requested_address
                .map(|ip| ip.octets().to_vec())
                .unwrap_or_default(),
        }),
        Detail::Ssdp(ssdp) => WireDetail::Ssdp(pb::SsdpDetails {
            message: match ssdp.message {
                SsdpMessage::Notify => pb::ssdp_details::Message::Notify,
                SsdpMessage::Search => pb::ssdp_details::Message::Search,
                SsdpMessage::Response => pb::ssdp_details::Message::Response,
            }
            .into(),
            notification_subtype: text(&ssdp.notification_subtype),
            server: text(&ssdp.server),
            user_agent: text(&ssdp.user_agent),
            notification_type: text(&ssdp.notification_type),
            usn: text(&ssdp.usn),
            location: text(&ssdp.location),
        }),
        Detail::Lldp(lldp) => WireDetail::Lldp(pb::LldpDetails {
            chassis_id: lldp.chassis_id.clone(),
            port_id: lldp.port_id.clone(),
            port_description: text(&lldp.port_description),
            system_name: text(&lldp.system_name),
            system_description: text(&lldp.system_description),
            capabilities: lldp.capabilities.clone(),
            management_addresses: lldp
                .management_addresses
                .iter()
                .copied()
                .map(ip_to_wire)
                .collect(),
            med: lldp.med.as_ref().map(|med| pb::LldpMed {
                device_class: med.device_class.map_or(0, u32::from),
                hardware_revision: text(&med.hardware_revision),
                firmware_revision: text(&med.firmware_revision),
                software_revision: text(&med.software_revision),
                serial_number: text(&med.serial_number),
                manufacturer: text(&med.manufacturer),
                model: text(&med.model),
                asset_id: text(&med.asset_id),
            }),
        }),
        Detail::Cdp(cdp) => WireDetail::Cdp(pb::CdpDetails {
            device_id: text(&cdp.device_id),
            platform: text(&cdp.platform),
            software_version: text(&cdp.software_version),
            port_id: text(&cdp.port_id),
            capabilities: cdp.capabilities.clone(),
            addresses: cdp.addresses.iter().copied().map(ip_to_wire).collect(),
            native_vlan: cdp.native_vlan.map_or(0, u32::from),
        }),
        Detail::Netbios(netbios) => WireDetail::Netbios(pb::NetbiosDetails {
            names: netbios
                .names
                .iter()
                .map(|name| pb::NetbiosName {
                    name: name.name.clone(),
                    suffix: name.suffix.into(),
                    group: name.group,
                })
                .collect(),
            workgroup: text(&netbios.workgroup),
        }),
        Detail::Nd(nd) => WireDetail::Nd(pb::NdDetails { router: nd.router }),
    }
}
