//! DHCPv6 (RFC 8415): the message header, then the options that fingerprint a client.
//!
//! A client/server message is a msg-type byte, a 3-byte transaction id, then options of a
//! 2-byte code and a 2-byte length. A relay message (RELAY-FORW, RELAY-REPL) has a hop count and
//! two addresses instead, and carries the relayed message inside an option; only its header is
//! decoded (see [`Relay`]).
//!
//! A client sends from its link-local address to a multicast group, which no router forwards:
//! the frame's source MAC is the client's own, and the dispatcher's [`Sender::own_mac`] says so.
//! Everything else in a message is device-supplied and untrusted: every length is checked
//! against the bytes received, every string is cleaned and clamped, every list bounded.

use std::net::Ipv6Addr;

use hygie_domain::text::clean_hostname;
use hygie_domain::{Detail, DhcpDetails, DhcpVersion, is_device_ip, limits};

use crate::dhcp::{detail_text, hex, wire_name};
use crate::heard::{Sender, Sighting};

/// The client port.
pub const CLIENT_PORT: u16 = 546;
/// The server and relay port.
pub const SERVER_PORT: u16 = 547;

/// The msg-type codes of RFC 8415 §7.3.
pub mod message_type {
    /// A client looks for servers.
    pub const SOLICIT: u8 = 1;
    /// A server offers.
    pub const ADVERTISE: u8 = 2;
    /// A client asks for addresses.
    pub const REQUEST: u8 = 3;
    /// A client checks that its addresses still suit the link.
    pub const CONFIRM: u8 = 4;
    /// A client extends its lease with the server that gave it.
    pub const RENEW: u8 = 5;
    /// A client extends its lease with any server.
    pub const REBIND: u8 = 6;
    /// A server answers.
    pub const REPLY: u8 = 7;
    /// A client gives its addresses back.
    pub const RELEASE: u8 = 8;
    /// A client found an address already in use.
    pub const DECLINE: u8 = 9;
    /// A server asks a client to renew.
    pub const RECONFIGURE: u8 = 10;
    /// A client asks for configuration without addresses.
    pub const INFORMATION_REQUEST: u8 = 11;
    /// A relay forwards a message to a server.
    pub const RELAY_FORW: u8 = 12;
    /// A server answers through a relay.
    pub const RELAY_REPL: u8 = 13;
}

/// The options kept (RFC 8415 §21 unless noted).
mod code {
    pub(super) const CLIENT_ID: u16 = 1;
    pub(super) const SERVER_ID: u16 = 2;
    pub(super) const ORO: u16 = 6;
    pub(super) const USER_CLASS: u16 = 15;
    pub(super) const VENDOR_CLASS: u16 = 16;
    /// RFC 4704.
    pub(super) const CLIENT_FQDN: u16 = 39;
}

/// Length of a relay message's header: msg-type, hop-count, link-address, peer-address.
const RELAY_HEADER_LEN: usize = 34;

/// Why a DHCPv6 message was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Dhcpv6Error {
    /// Shorter than its fixed header (4 bytes, 34 for a relay message).
    #[error("DHCPv6 message truncated: {0} bytes")]
    Truncated(usize),
    /// An option's length runs past the end of the message.
    #[error("DHCPv6 option {code} truncated")]
    OptionTruncated {
        /// The option's code.
        code: u16,
    },
}

impl Dhcpv6Error {
    /// A short, stable name of the reason, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Dhcpv6Error::Truncated(_) => "truncated DHCPv6",
            Dhcpv6Error::OptionTruncated { .. } => "truncated DHCPv6 options",
        }
    }
}

/// A decoded DHCPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dhcpv6Packet {
    /// The msg-type (see [`message_type`]).
    pub message_type: u8,
    /// What follows it.
    pub body: Body,
}

/// A DHCPv6 message after its msg-type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A client or server message.
    Message(Message),
    /// A relay message's header.
    Relay(Relay),
}

/// A client or server message (every msg-type but the relay ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The 24-bit transaction id.
    pub transaction_id: u32,
    /// The server DUID (option 2), in hex.
    pub server_id: Option<String>,
    /// The client FQDN (option 39), through [`clean_hostname`].
    pub host_name: Option<String>,
    /// What the options say, cleaned and bounded (`client_id` is the client DUID, option 1).
    pub details: DhcpDetails,
}

/// The header of a RELAY-FORW or RELAY-REPL message. What is inside (the relayed message,
/// itself perhaps relayed again) is not decoded: the frame comes from a relay or a server, not
/// from the client, so it would tie the client's fingerprint to no MAC we could trust, and the
/// agent on the client's own link hears the original message anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relay {
    /// Relays the message went through before this one.
    pub hop_count: u8,
    /// An address of the client's link, to pick its subnet (may be unspecified).
    pub link_address: Ipv6Addr,
    /// The address of the client (or previous relay) the message came from.
    pub peer_address: Ipv6Addr,
}

/// Decodes a DHCPv6 message.
pub fn parse(payload: &[u8]) -> Result<Dhcpv6Packet, Dhcpv6Error> {
    let truncated = || Dhcpv6Error::Truncated(payload.len());
    let &message_type = payload.first().ok_or_else(truncated)?;
    if matches!(
        message_type,
        message_type::RELAY_FORW | message_type::RELAY_REPL
    ) {
        let header: &[u8; RELAY_HEADER_LEN] = payload
            .get(..RELAY_HEADER_LEN)
            .and_then(|head| head.try_into().ok())
            .ok_or_else(truncated)?;
        let address = |at: usize| {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(header.get(at..at + 16).unwrap_or(&[0; 16]));
            Ipv6Addr::from(octets)
        };
        return Ok(Dhcpv6Packet {
            message_type,
            body: Body::Relay(Relay {
                hop_count: header[1],
                link_address: address(2),
                peer_address: address(18),
            }),
        });
    }
    let (header, options) = payload.split_first_chunk::<4>().ok_or_else(truncated)?;
    let transaction_id = u32::from_be_bytes([0, header[1], header[2], header[3]]);

    // The first instance of each option counts: RFC 8415 allows one client or server id, one
    // ORO, one FQDN per message.
    let mut found = Found::default();
    let mut rest = options;
    // Every turn consumes at least four bytes, so the loop ends.
    while !rest.is_empty() {
        let (head, after) = rest
            .split_first_chunk::<4>()
            .ok_or(Dhcpv6Error::OptionTruncated { code: 0 })?;
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let (value, after) = after
            .split_at_checked(len)
            .ok_or(Dhcpv6Error::OptionTruncated { code })?;
        let slot = match code {
            code::CLIENT_ID => &mut found.client_id,
            code::SERVER_ID => &mut found.server_id,
            code::ORO => &mut found.oro,
            code::USER_CLASS => &mut found.user_class,
            code::VENDOR_CLASS => &mut found.vendor_class,
            code::CLIENT_FQDN => &mut found.fqdn,
            _ => {
                rest = after;
                continue;
            }
        };
        slot.get_or_insert(value);
        rest = after;
    }

    let (vendor_enterprise, vendor_class) = found.vendor_class.and_then(vendor_class).unzip();
    // RFC 4704 §4: one flags byte, then the name in DNS wire format, perhaps partial.
    let fqdn = found
        .fqdn
        .and_then(|value| value.get(1..))
        .and_then(wire_name);
    let details = DhcpDetails {
        version: DhcpVersion::V6,
        message_type,
        parameter_request_list: found.oro.map(option_codes).unwrap_or_default(),
        vendor_class: vendor_class.flatten(),
        vendor_enterprise,
        client_id: found.client_id.and_then(hex),
        fqdn: fqdn.as_deref().map(str::as_bytes).and_then(detail_text),
        user_class: found
            .user_class
            .and_then(|value| items(value).collect::<Option<Vec<_>>>())
            .unwrap_or_default()
            .into_iter()
            .filter_map(detail_text)
            .take(limits::MAX_DETAIL_ITEMS)
            .collect(),
        requested_address: None,
    };
    Ok(Dhcpv6Packet {
        message_type,
        body: Body::Message(Message {
            transaction_id,
            server_id: found.server_id.and_then(hex),
            host_name: fqdn.as_deref().and_then(clean_hostname),
            details,
        }),
    })
}

/// The first value of each kept option.
#[derive(Default)]
struct Found<'a> {
    client_id: Option<&'a [u8]>,
    server_id: Option<&'a [u8]>,
    oro: Option<&'a [u8]>,
    user_class: Option<&'a [u8]>,
    vendor_class: Option<&'a [u8]>,
    fqdn: Option<&'a [u8]>,
}

/// The ORO: option codes of two bytes each, in the client's order (it is the fingerprint);
/// empty when its length is odd.
fn option_codes(value: &[u8]) -> Vec<u16> {
    if !value.len().is_multiple_of(2) {
        return Vec::new();
    }
    value
        .chunks_exact(2)
        .take(limits::MAX_PARAMETER_REQUESTS)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect()
}

/// Option 16: an enterprise number, then vendor-class-data items (a 2-byte length, then the
/// data), joined as text. `None` when malformed.
fn vendor_class(value: &[u8]) -> Option<(u32, Option<String>)> {
    let (enterprise, data) = value.split_first_chunk::<4>()?;
    let items = items(data).collect::<Option<Vec<_>>>()?;
    let text: Vec<String> = items
        .into_iter()
        .filter_map(detail_text)
        .take(limits::MAX_DETAIL_ITEMS)
        .collect();
    let text = detail_text(text.join(", ").as_bytes());
    Some((u32::from_be_bytes(*enterprise), text))
}

/// Items of a 2-byte length then that many bytes, repeated to the end of `value` (the
/// vendor-class-data of option 16, the user-class-data of option 15). An item is `None` when
/// it runs past the end (and is the last item).
fn items(value: &[u8]) -> impl Iterator<Item = Option<&[u8]>> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let current = rest.filter(|rest| !rest.is_empty())?;
        let split = current
            .split_first_chunk::<2>()
            .and_then(|(len, after)| after.split_at_checked(usize::from(u16::from_be_bytes(*len))));
        rest = split.map(|(_, after)| after);
        Some(split.map(|(item, _)| item))
    })
}

impl Dhcpv6Packet {
    /// What the message proves about its sender: a client message (SOLICIT, REQUEST, CONFIRM,
    /// RENEW, REBIND, RELEASE, DECLINE, INFORMATION-REQUEST) heard from the client's own MAC
    /// gives its fingerprint, its FQDN as host name and its source address. Server messages
    /// say nothing about the client's MAC, and relay messages are not the client's frames (see
    /// [`Relay`]).
    pub(crate) fn sighting(&self, sender: &Sender) -> Option<Sighting> {
        use message_type::{
            CONFIRM, DECLINE, INFORMATION_REQUEST, REBIND, RELEASE, RENEW, REQUEST, SOLICIT,
        };
        let Body::Message(message) = &self.body else {
            return None;
        };
        if !matches!(
            self.message_type,
            SOLICIT | REQUEST | CONFIRM | RENEW | REBIND | RELEASE | DECLINE | INFORMATION_REQUEST
        ) {
            return None;
        }
        let mac = sender.own_mac()?;
        Some(Sighting {
            mac: Some(mac),
            ips: sender
                .ip
                .filter(|ip| is_device_ip(*ip))
                .into_iter()
                .collect(),
            hostname: message.host_name.clone(),
            services: Vec::new(),
            detail: Some(Detail::Dhcp(message.details.clone())),
        })
    }
}

#[cfg(test)]
mod tests;
