//! LLDP (IEEE 802.1AB), with the LLDP-MED inventory of ANSI/TIA-1057.
//!
//! An LLDP data unit is a run of TLVs, each a 7-bit type and a 9-bit length, ending at the End
//! TLV (type 0) or at the end of the frame. Kept: the chassis and port IDs (mandatory: a frame
//! without them is refused), the port and system descriptions, the system name, the enabled
//! system capabilities, the management addresses, and from the TIA organizationally specific
//! TLVs the LLDP-MED device class and inventory (hardware, firmware and software revisions,
//! serial number, manufacturer, model, asset ID). Other TLVs (TTL, IEEE 802.1 and 802.3
//! extensions, DCBX, vendors' own) are skipped by their length.
//!
//! Bridges consume LLDP rather than forward it, so a frame comes from the device on the other
//! end of the link, whose MAC is the frame's source. Everything in it is device-supplied and
//! untrusted: strings are cleaned and clamped, lists bounded, and a TLV whose length runs past
//! the frame gets the whole frame refused (a partial decode would replace a device's full
//! advertisement with a truncated one). Each TLV takes at least its two header bytes, so the
//! decode ends within half the frame's length in TLVs whatever the lengths say.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hygie_domain::text::clean_value;
use hygie_domain::{Detail, LldpDetails, LldpMed, MacAddr, is_device_ip, limits};

use crate::heard::{Sender, Sighting};

/// End of LLDPDU.
const TLV_END: u8 = 0;
/// Chassis ID.
const TLV_CHASSIS_ID: u8 = 1;
/// Port ID.
const TLV_PORT_ID: u8 = 2;
/// Port description.
const TLV_PORT_DESCRIPTION: u8 = 4;
/// System name.
const TLV_SYSTEM_NAME: u8 = 5;
/// System description.
const TLV_SYSTEM_DESCRIPTION: u8 = 6;
/// System capabilities.
const TLV_SYSTEM_CAPABILITIES: u8 = 7;
/// Management address.
const TLV_MANAGEMENT_ADDRESS: u8 = 8;
/// Organizationally specific.
const TLV_ORGANIZATION: u8 = 127;
/// TIA TR-41's OUI, under which LLDP-MED TLVs are sent.
const OUI_TIA: [u8; 3] = [0x00, 0x12, 0xbb];

/// The system capability bits (802.1AB table 8-4), bit 0 first.
const CAPABILITIES: [&str; 11] = [
    "other",
    "repeater",
    "bridge",
    "wlan_access_point",
    "router",
    "telephone",
    "docsis",
    "station",
    "c_vlan",
    "s_vlan",
    "two_port_mac_relay",
];

/// Why a LLDP frame was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LldpError {
    /// A TLV header or value runs past the end of the frame.
    #[error(
        "LLDP TLV at offset {offset} runs past the frame: {needed} bytes needed, {got} present"
    )]
    Truncated {
        /// Where the TLV starts in the LLDP payload.
        offset: usize,
        /// The length the TLV needs the payload to have.
        needed: usize,
        /// The payload's length.
        got: usize,
    },
    /// The chassis ID TLV holds no ID after its subtype.
    #[error("LLDP chassis ID TLV of {0} bytes holds no ID")]
    EmptyChassisId(usize),
    /// The port ID TLV holds no ID after its subtype.
    #[error("LLDP port ID TLV of {0} bytes holds no ID")]
    EmptyPortId(usize),
    /// No chassis ID TLV before the end.
    #[error("LLDP frame without a chassis ID")]
    MissingChassisId,
    /// No port ID TLV before the end.
    #[error("LLDP frame without a port ID")]
    MissingPortId,
}

impl LldpError {
    /// A short, stable name of the reason, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            LldpError::Truncated { .. } => "truncated LLDP",
            LldpError::EmptyChassisId(_) => "empty LLDP chassis ID",
            LldpError::EmptyPortId(_) => "empty LLDP port ID",
            LldpError::MissingChassisId => "LLDP without chassis ID",
            LldpError::MissingPortId => "LLDP without port ID",
        }
    }
}

/// Decodes the payload of a LLDP frame (what follows the ethertype).
///
/// The first chassis ID, port ID and string TLV of each kind is kept (802.1AB allows one of
/// each); management addresses accumulate, device addresses only, up to
/// [`limits::MAX_DETAIL_ITEMS`].
pub fn parse(payload: &[u8]) -> Result<LldpDetails, LldpError> {
    let mut chassis_id = None;
    let mut port_id = None;
    let mut details = LldpDetails {
        chassis_id: String::new(),
        port_id: String::new(),
        port_description: None,
        system_name: None,
        system_description: None,
        capabilities: Vec::new(),
        management_addresses: Vec::new(),
        med: None,
    };
    let mut med = LldpMed::default();
    let mut rest = payload;
    let mut offset = 0;
    while !rest.is_empty() {
        let truncated = |needed: usize| LldpError::Truncated {
            offset,
            needed,
            got: payload.len(),
        };
        let [high, low, body @ ..] = rest else {
            return Err(truncated(offset + 2));
        };
        let tlv_type = high >> 1;
        let len = usize::from(u16::from_be_bytes([high & 0x01, *low]));
        let (value, next) = body
            .split_at_checked(len)
            .ok_or_else(|| truncated(offset + 2 + len))?;
        match tlv_type {
            TLV_END => break,
            TLV_CHASSIS_ID if chassis_id.is_none() => {
                chassis_id = Some(chassis_text(value).ok_or(LldpError::EmptyChassisId(len))?);
            }
            TLV_PORT_ID if port_id.is_none() => {
                port_id = Some(port_text(value).ok_or(LldpError::EmptyPortId(len))?);
            }
            TLV_PORT_DESCRIPTION => first(&mut details.port_description, value),
            TLV_SYSTEM_NAME => first(&mut details.system_name, value),
            TLV_SYSTEM_DESCRIPTION => first(&mut details.system_description, value),
            TLV_SYSTEM_CAPABILITIES if details.capabilities.is_empty() => {
                details.capabilities = capabilities(value);
            }
            TLV_MANAGEMENT_ADDRESS => {
                if let Some(ip) = management_address(value).filter(|ip| is_device_ip(*ip))
                    && !details.management_addresses.contains(&ip)
                    && details.management_addresses.len() < limits::MAX_DETAIL_ITEMS
                {
                    details.management_addresses.push(ip);
                }
            }
            TLV_ORGANIZATION => {
                if let [a, b, c, subtype, info @ ..] = value
                    && [*a, *b, *c] == OUI_TIA
                {
                    med_tlv(&mut med, *subtype, info);
                }
            }
            // TTL, reserved types, repeated IDs: nothing Hygie keeps.
            _ => {}
        }
        rest = next;
        offset += 2 + len;
    }
    details.chassis_id = chassis_id.ok_or(LldpError::MissingChassisId)?;
    details.port_id = port_id.ok_or(LldpError::MissingPortId)?;
    details.med = (!med.is_empty()).then_some(med);
    Ok(details)
}

/// What an advertisement proves about its sender (the frame's source: LLDP is never forwarded):
/// its MAC, the management addresses it gives as its own, and the advertisement.
pub(crate) fn sighting(sender: &Sender, details: &LldpDetails) -> Sighting {
    Sighting {
        mac: sender.own_mac(),
        ips: details.management_addresses.clone(),
        // The system name is the device's host name (IEEE 802.1AB: "the system's
        // administratively assigned name", its FQDN where it has one).
        hostname: details
            .system_name
            .as_deref()
            .and_then(hygie_domain::text::clean_hostname),
        services: Vec::new(),
        detail: Some(Detail::Lldp(details.clone())),
    }
}

/// Device-supplied free text as a detail value: invalid UTF-8 shown as U+FFFD, line breaks
/// and tabs as one space (multi-line descriptions are layout, not hostile content), leading
/// and trailing blanks and NUL padding trimmed, other unsafe characters shown as U+FFFD, at
/// most [`limits::MAX_DETAIL_TEXT_LEN`] bytes; `None` when nothing is left. Shared with CDP.
pub(crate) fn detail_text(bytes: &[u8]) -> Option<String> {
    let lossy = String::from_utf8_lossy(bytes);
    let mut text = String::with_capacity(lossy.len());
    let mut in_break = false;
    for c in lossy.chars() {
        if matches!(c, '\r' | '\n' | '\t' | '\u{0b}' | '\u{0c}') {
            if !in_break {
                text.push(' ');
            }
            in_break = true;
        } else {
            text.push(c);
            in_break = false;
        }
    }
    let trimmed = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    let cleaned = clean_value(trimmed, limits::MAX_DETAIL_TEXT_LEN);
    (!cleaned.is_empty()).then_some(cleaned)
}

/// Keeps the first non-empty occurrence of a string TLV.
fn first(field: &mut Option<String>, value: &[u8]) {
    if field.is_none() {
        *field = detail_text(value);
    }
}

/// A chassis ID (subtype byte, then the ID) as text; `None` when there is no ID.
fn chassis_text(value: &[u8]) -> Option<String> {
    let (&subtype, id) = value.split_first()?;
    if id.is_empty() {
        return None;
    }
    Some(match subtype {
        4 => mac_text(id),
        5 => network_address_text(id),
        // Chassis component, interface alias, port component, interface name, locally
        // assigned: text.
        1 | 2 | 3 | 6 | 7 => id_text(id),
        _ => hex(id),
    })
}

/// A port ID (subtype byte, then the ID) as text; `None` when there is no ID.
fn port_text(value: &[u8]) -> Option<String> {
    let (&subtype, id) = value.split_first()?;
    if id.is_empty() {
        return None;
    }
    Some(match subtype {
        3 => mac_text(id),
        4 => network_address_text(id),
        // Interface alias, port component, interface name, locally assigned: text.
        1 | 2 | 5 | 7 => id_text(id),
        // The agent circuit ID (RFC 3046) is binary, like reserved subtypes.
        _ => hex(id),
    })
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`, other lengths in hex.
fn mac_text(id: &[u8]) -> String {
    match MacAddr::from_slice(id) {
        Some(mac) => mac.to_string(),
        None => hex(id),
    }
}

/// A network address (IANA address family, then the address) as the IP address; other
/// families and lengths in hex, family byte included.
fn network_address_text(id: &[u8]) -> String {
    match ip_of(id) {
        Some(ip) => ip.to_string(),
        None => hex(id),
    }
}

/// An IANA address family byte (1 IPv4, 2 IPv6) followed by an address of that family.
fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    let (&family, address) = bytes.split_first()?;
    match family {
        1 => <[u8; 4]>::try_from(address)
            .ok()
            .map(|octets| IpAddr::V4(Ipv4Addr::from(octets))),
        2 => <[u8; 16]>::try_from(address)
            .ok()
            .map(|octets| IpAddr::V6(Ipv6Addr::from(octets))),
        _ => None,
    }
}

/// A textual ID subtype: cleaned text when it is UTF-8 and not blank, else hex, so binary IDs
/// sent under a text subtype stay stable identifiers.
fn id_text(id: &[u8]) -> String {
    match std::str::from_utf8(id) {
        Ok(_) => detail_text(id).unwrap_or_else(|| hex(id)),
        Err(_) => hex(id),
    }
}

/// Lower-case hex of at most the bytes that fit the detail text limit (an ID may be up to
/// 510 bytes, twice that in hex).
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(bytes.len().min(limits::MAX_DETAIL_TEXT_LEN / 2) * 2);
    for byte in bytes.iter().take(limits::MAX_DETAIL_TEXT_LEN / 2) {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// The enabled capabilities of a system capabilities TLV (system map, then enabled map).
fn capabilities(value: &[u8]) -> Vec<String> {
    let &[_, _, high, low] = value else {
        return Vec::new();
    };
    let enabled = u16::from_be_bytes([high, low]);
    CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| enabled & (1 << bit) != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect()
}

/// The address of a management address TLV: address string length (family byte included),
/// IANA family, address, then interface numbering and OID, which Hygie does not keep. Families
/// other than IPv4 and IPv6 give `None`.
fn management_address(value: &[u8]) -> Option<IpAddr> {
    let (&string_len, rest) = value.split_first()?;
    ip_of(rest.get(..usize::from(string_len))?)
}

/// Records an LLDP-MED TLV (TIA-1057 section 10.2): capabilities with the device class, and
/// the inventory strings.
fn med_tlv(med: &mut LldpMed, subtype: u8, info: &[u8]) {
    let field = match subtype {
        1 => {
            // Capabilities (2 bytes), then the device type.
            if let [_, _, class, ..] = info
                && (1..=4).contains(class)
                && med.device_class.is_none()
            {
                med.device_class = Some(*class);
            }
            return;
        }
        5 => &mut med.hardware_revision,
        6 => &mut med.firmware_revision,
        7 => &mut med.software_revision,
        8 => &mut med.serial_number,
        9 => &mut med.manufacturer,
        10 => &mut med.model,
        11 => &mut med.asset_id,
        // Network policy, location, extended power: not inventory.
        _ => return,
    };
    first(field, info);
}

#[cfg(test)]
mod tests;
