//! CDP, the Cisco Discovery Protocol (versions 1 and 2), carried in 802.2 SNAP under Cisco's
//! OUI with protocol id `0x2000`; [`crate::frame`] strips that header.
//!
//! A CDP message is a 4-byte header (version, TTL, checksum) and a run of TLVs, each a 2-byte
//! type and a 2-byte length that counts the 4-byte TLV header. Kept: the device ID, the
//! addresses (TLV 2) and management addresses (TLV 0x16), the port ID, the capabilities, the
//! first line of the software version, the platform and the native VLAN. Other TLVs (VTP
//! domain, duplex, power, trust...) are skipped by their length. The checksum is not verified:
//! Cisco's variant of the IP checksum treats odd lengths differently across releases, and a
//! corrupt frame is caught by the link layer's FCS anyway.
//!
//! Switches consume CDP rather than forward it, so a frame comes from the device on the other
//! end of the link. Everything in it is device-supplied and untrusted: strings are cleaned and
//! clamped, address lists bounded and kept to device addresses, and a TLV length below 4 or
//! past the frame gets the frame refused. Each TLV takes at least 4 bytes, and each address
//! entry at least 4, so no loop runs longer than the frame allows whatever the counts say.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hygie_domain::{CdpDetails, Detail, is_device_ip, limits};

use crate::heard::{Sender, Sighting};
use crate::lldp::detail_text;

/// Device ID.
const TLV_DEVICE_ID: u16 = 0x0001;
/// Addresses.
const TLV_ADDRESSES: u16 = 0x0002;
/// Port ID.
const TLV_PORT_ID: u16 = 0x0003;
/// Capabilities.
const TLV_CAPABILITIES: u16 = 0x0004;
/// Software version.
const TLV_SOFTWARE_VERSION: u16 = 0x0005;
/// Platform.
const TLV_PLATFORM: u16 = 0x0006;
/// Native VLAN.
const TLV_NATIVE_VLAN: u16 = 0x000a;
/// Management addresses.
const TLV_MANAGEMENT_ADDRESSES: u16 = 0x0016;

/// The 802.2 SNAP header that announces an IPv6 address in an address entry.
const PROTOCOL_IPV6: [u8; 8] = [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x86, 0xdd];
/// The NLPID of IPv4.
const NLPID_IP: u8 = 0xcc;

/// The capability bits, bit 0 first.
const CAPABILITIES: [&str; 11] = [
    "router",
    "transparent_bridge",
    "source_route_bridge",
    "switch",
    "host",
    "igmp",
    "repeater",
    "phone",
    "remote",
    "cvta",
    "two_port_mac_relay",
];

/// Why a CDP frame was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdpError {
    /// Shorter than the 4-byte header.
    #[error("CDP header truncated: {0} of 4 bytes")]
    Truncated(usize),
    /// A version other than 1 and 2.
    #[error("unknown CDP version {0}")]
    Version(u8),
    /// A TLV length below its own 4-byte header.
    #[error("CDP TLV at offset {offset} has length {length}, below its 4-byte header")]
    TlvLength {
        /// Where the TLV starts in the CDP payload.
        offset: usize,
        /// Its length field.
        length: u16,
    },
    /// A TLV header or value runs past the end of the frame.
    #[error("CDP TLV at offset {offset} runs past the frame: {needed} bytes needed, {got} present")]
    TlvTruncated {
        /// Where the TLV starts in the CDP payload.
        offset: usize,
        /// The length the TLV needs the payload to have.
        needed: usize,
        /// The payload's length.
        got: usize,
    },
}

impl CdpError {
    /// A short, stable name of the reason, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            CdpError::Truncated(_) => "truncated CDP",
            CdpError::Version(_) => "unknown CDP version",
            CdpError::TlvLength { .. } => "bad CDP TLV length",
            CdpError::TlvTruncated { .. } => "truncated CDP TLV",
        }
    }
}

/// Decodes the payload of a CDP frame (what follows the SNAP header).
///
/// The first TLV of each kind is kept; addresses of TLVs 2 and 0x16 accumulate, device
/// addresses only, up to [`limits::MAX_DETAIL_ITEMS`].
pub fn parse(payload: &[u8]) -> Result<CdpDetails, CdpError> {
    let [version, _ttl, _checksum_high, _checksum_low, tlvs @ ..] = payload else {
        return Err(CdpError::Truncated(payload.len()));
    };
    if !matches!(version, 1 | 2) {
        return Err(CdpError::Version(*version));
    }
    let mut details = CdpDetails::default();
    let mut rest = tlvs;
    let mut offset = 4;
    while !rest.is_empty() {
        let truncated = |needed: usize| CdpError::TlvTruncated {
            offset,
            needed,
            got: payload.len(),
        };
        let [type_high, type_low, length_high, length_low, body @ ..] = rest else {
            return Err(truncated(offset + 4));
        };
        let tlv_type = u16::from_be_bytes([*type_high, *type_low]);
        let length = u16::from_be_bytes([*length_high, *length_low]);
        let Some(value_len) = usize::from(length).checked_sub(4) else {
            return Err(CdpError::TlvLength { offset, length });
        };
        let (value, next) = body
            .split_at_checked(value_len)
            .ok_or_else(|| truncated(offset + usize::from(length)))?;
        match tlv_type {
            TLV_DEVICE_ID => first(&mut details.device_id, value),
            TLV_PORT_ID => first(&mut details.port_id, value),
            TLV_PLATFORM => first(&mut details.platform, value),
            TLV_SOFTWARE_VERSION if details.software_version.is_none() => {
                details.software_version = first_line(value);
            }
            TLV_ADDRESSES | TLV_MANAGEMENT_ADDRESSES => addresses(value, &mut details.addresses),
            TLV_CAPABILITIES if details.capabilities.is_empty() => {
                details.capabilities = capabilities(value);
            }
            TLV_NATIVE_VLAN if details.native_vlan.is_none() => {
                if let &[high, low] = value {
                    let vlan = u16::from_be_bytes([high, low]);
                    details.native_vlan = (1..=4094).contains(&vlan).then_some(vlan);
                }
            }
            _ => {}
        }
        rest = next;
        offset += usize::from(length);
    }
    Ok(details)
}

/// What an advertisement proves about its sender (the frame's source: CDP is never forwarded):
/// its MAC, the addresses it lists as its own, and the advertisement.
pub(crate) fn sighting(sender: &Sender, details: &CdpDetails) -> Sighting {
    Sighting {
        mac: sender.own_mac(),
        ips: details.addresses.clone(),
        // The device ID is the device's host name (a Cisco phone's is `SEP` + its MAC).
        hostname: details
            .device_id
            .as_deref()
            .and_then(hygie_domain::text::clean_hostname),
        services: Vec::new(),
        detail: Some(Detail::Cdp(details.clone())),
    }
}

/// Keeps the first non-empty occurrence of a string TLV.
fn first(field: &mut Option<String>, value: &[u8]) {
    if field.is_none() {
        *field = detail_text(value);
    }
}

/// The first line of a software version that has any text: `Cisco IOS Software, C3560
/// Software (...), Version 12.2(44)SE, RELEASE SOFTWARE (fc1)`, without the copyright and
/// build lines that follow.
fn first_line(value: &[u8]) -> Option<String> {
    value
        .split(|byte| matches!(byte, b'\n' | b'\r'))
        .find_map(detail_text)
}

/// The enabled capabilities of a 32-bit capability mask.
fn capabilities(value: &[u8]) -> Vec<String> {
    let &[a, b, c, d] = value else {
        return Vec::new();
    };
    let mask = u32::from_be_bytes([a, b, c, d]);
    CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect()
}

/// Adds the IPv4 and IPv6 device addresses of an address TLV (4-byte count, then entries of
/// protocol type, protocol length, protocol, 2-byte address length, address) to `into`,
/// without duplicates, up to [`limits::MAX_DETAIL_ITEMS`]. Other protocols (CLNS, DECnet,
/// IPX...) are skipped; an entry running past the TLV ends the list.
fn addresses(value: &[u8], into: &mut Vec<IpAddr>) {
    let [a, b, c, d, entries @ ..] = value else {
        return;
    };
    let mut rest = entries;
    let count = u32::from_be_bytes([*a, *b, *c, *d]);
    // Each entry takes at least 4 bytes, so a hostile count ends with the data.
    for _ in 0..count {
        let Some((ip, next)) = address_entry(rest) else {
            return;
        };
        rest = next;
        if let Some(ip) = ip.filter(|ip| is_device_ip(*ip))
            && !into.contains(&ip)
            && into.len() < limits::MAX_DETAIL_ITEMS
        {
            into.push(ip);
        }
    }
}

/// One address entry: its IP address if it is IPv4 or IPv6, and what follows it; `None` when
/// the entry runs past the data.
fn address_entry(bytes: &[u8]) -> Option<(Option<IpAddr>, &[u8])> {
    let [protocol_type, protocol_len, rest @ ..] = bytes else {
        return None;
    };
    let (protocol, rest) = rest.split_at_checked(usize::from(*protocol_len))?;
    let [length_high, length_low, rest @ ..] = rest else {
        return None;
    };
    let address_len = usize::from(u16::from_be_bytes([*length_high, *length_low]));
    let (address, rest) = rest.split_at_checked(address_len)?;
    let ip = match (protocol_type, protocol) {
        // NLPID
        (1, [NLPID_IP]) => <[u8; 4]>::try_from(address)
            .ok()
            .map(|octets| IpAddr::V4(Ipv4Addr::from(octets))),
        // 802.2 SNAP header naming the ethertype
        (2, protocol) if protocol == PROTOCOL_IPV6 => <[u8; 16]>::try_from(address)
            .ok()
            .map(|octets| IpAddr::V6(Ipv6Addr::from(octets))),
        _ => None,
    };
    Some((ip, rest))
}

#[cfg(test)]
mod tests;
