//! IPv6 neighbour discovery (RFC 4861), and duplicate address detection (RFC 4862): the ICMPv6
//! part ([`crate::ip`] decodes the IPv6 header).
//!
//! Four ICMPv6 messages are decoded: router solicitation (133), router advertisement (134),
//! neighbour solicitation (135) and neighbour advertisement (136). Every other ICMPv6 message
//! is left alone (`Ok(None)`). Of the options (type, length in 8-byte units, value) only the
//! source and target link-layer addresses are kept; prefix information, MTU, nonces and the
//! rest are skipped. A message whose code is not 0, whose option has length zero (RFC 4861
//! §4.6: it must be discarded, and it would make a naive parser spin) or runs past the end, or
//! whose target is a multicast address, is refused.
//!
//! What is trusted: ND never crosses a router (every ND message is sent with hop limit 255,
//! and a receiver drops any other), so the frame's source MAC is the sender's. The link-layer
//! address option is what the sender says its MAC is; it is taken only when it agrees with
//! the frame (see [`NdPacket`]'s sighting). The ICMPv6 checksum is not verified: it covers an
//! IPv6 pseudo-header this decoder is not given.

use std::net::{IpAddr, Ipv6Addr};

use hygie_domain::{Detail, MacAddr, NdDetails, is_device_ip};

use crate::heard::{Sender, Sighting};

/// ICMPv6 type of a router solicitation.
pub const ROUTER_SOLICITATION: u8 = 133;
/// ICMPv6 type of a router advertisement.
pub const ROUTER_ADVERTISEMENT: u8 = 134;
/// ICMPv6 type of a neighbour solicitation.
pub const NEIGHBOUR_SOLICITATION: u8 = 135;
/// ICMPv6 type of a neighbour advertisement.
pub const NEIGHBOUR_ADVERTISEMENT: u8 = 136;

/// ND option carrying the sender's link-layer address.
const OPTION_SOURCE_LINK_ADDRESS: u8 = 1;
/// ND option carrying the target's link-layer address.
const OPTION_TARGET_LINK_ADDRESS: u8 = 2;

/// Why an ICMPv6 neighbour discovery message was not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NdError {
    /// Shorter than the fixed part of its message type.
    #[error("neighbour discovery message truncated: {got} of {needed} bytes")]
    Truncated {
        /// Bytes the fixed part needs.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// ND messages have code 0 (RFC 4861 §6.1, §7.1: anything else is discarded).
    #[error("neighbour discovery message with code {0}, not 0")]
    Code(u8),
    /// An option whose length field is zero.
    #[error("neighbour discovery option {0} with length zero")]
    ZeroLengthOption(u8),
    /// An option longer than what is left of the message (or a lone trailing byte).
    #[error("neighbour discovery option {kind} needs {needed} bytes, {left} left")]
    OptionOverrun {
        /// The option type.
        kind: u8,
        /// Bytes it claims (8 times its length field).
        needed: usize,
        /// Bytes left in the message.
        left: usize,
    },
    /// A solicitation or advertisement about a multicast address (RFC 4861 §7.1).
    #[error("neighbour discovery target {0} is a multicast address")]
    MulticastTarget(Ipv6Addr),
}

impl NdError {
    /// A short, stable name of the reason, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            NdError::Truncated { .. } => "truncated ND",
            NdError::Code(_) => "bad ND code",
            NdError::ZeroLengthOption(_) => "zero-length ND option",
            NdError::OptionOverrun { .. } => "truncated ND option",
            NdError::MulticastTarget(_) => "multicast ND target",
        }
    }
}

/// A router advertisement's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterAdvertisement {
    /// The hop limit hosts should use (0: unspecified).
    pub current_hop_limit: u8,
    /// M: addresses are assigned by DHCPv6.
    pub managed: bool,
    /// O: other configuration is available by DHCPv6.
    pub other: bool,
    /// How long the router is a default router, in seconds (0: it is not a default router,
    /// though still a router).
    pub router_lifetime: u16,
}

/// A neighbour advertisement's flags and target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourAdvertisement {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in answer to a solicitation.
    pub solicited: bool,
    /// O: the advertisement overrides a cached link-layer address. A node advertising its own
    /// unicast address sets it; a proxy (RFC 4861 §7.2.8) or an anycast answer leaves it clear.
    pub overrides: bool,
    /// The address advertised.
    pub target: Ipv6Addr,
}

/// Which ND message, with its fixed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdMessage {
    /// A host asks routers to advertise.
    RouterSolicitation,
    /// A router advertises itself.
    RouterAdvertisement(RouterAdvertisement),
    /// "Who has `target`?", or, from `::`, duplicate address detection of `target`.
    NeighbourSolicitation {
        /// The address asked about.
        target: Ipv6Addr,
    },
    /// "`target` is at (link-layer address)".
    NeighbourAdvertisement(NeighbourAdvertisement),
}

/// A decoded neighbour discovery message.
///
/// Its sighting (what it proves about the sender):
/// - the MAC is the frame's source, which on a link is the sender's own. The link-layer option
///   (source for RS, RA and NS, target for NA) must agree with it: when both are present and
///   differ, nothing is recorded. Such a message is either a proxy speaking for another node
///   (a router or access point doing proxy ND, which answers with its own MAC for someone
///   else's address) or a spoof; either way the pairing of address and MAC is not proven.
///   When only the option is present (the frame's source is no device MAC), the option is used.
/// - a message not on the link (it crossed a router, so its hop limit was not 255) or not
///   carried by IPv6 proves nothing.
/// - addresses: a solicitation from `::` is duplicate address detection, and its target is the
///   address the device is about to take; otherwise the source address. An advertisement adds
///   its target when the override flag says it is the sender's own address (a proxy clears
///   it). A router advertisement must come from a link-local address.
/// - detail: a router advertisement, or an advertisement with the router flag, says the device
///   is a router; an advertisement without it that it is not. Solicitations say neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdPacket {
    /// The message.
    pub message: NdMessage,
    /// The first source link-layer address option holding an Ethernet MAC (an option of
    /// another length is another link type's address and is ignored).
    pub source_link_address: Option<MacAddr>,
    /// The first target link-layer address option holding an Ethernet MAC.
    pub target_link_address: Option<MacAddr>,
}

/// Decodes an ICMPv6 message; `Ok(None)` for ICMPv6 types other than ND (133-136).
pub fn parse(payload: &[u8]) -> Result<Option<NdPacket>, NdError> {
    let Some(&kind) = payload.first() else {
        // No type at all: nothing says it is ND.
        return Ok(None);
    };
    // Type, code and checksum, then the fixed part, then the options.
    let fixed_len = match kind {
        ROUTER_SOLICITATION => 8,
        ROUTER_ADVERTISEMENT => 16,
        NEIGHBOUR_SOLICITATION | NEIGHBOUR_ADVERTISEMENT => 24,
        _ => return Ok(None),
    };
    let truncated = NdError::Truncated {
        needed: fixed_len,
        got: payload.len(),
    };
    let fixed = payload.get(..fixed_len).ok_or(truncated)?;
    let options = payload.get(fixed_len..).ok_or(truncated)?;
    let code = fixed.get(1).copied().ok_or(truncated)?;
    if code != 0 {
        return Err(NdError::Code(code));
    }
    let byte = |at: usize| fixed.get(at).copied().unwrap_or(0);
    let target = || -> Result<Ipv6Addr, NdError> {
        let octets: [u8; 16] = fixed
            .get(8..24)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(truncated)?;
        let target = Ipv6Addr::from(octets);
        if target.is_multicast() {
            return Err(NdError::MulticastTarget(target));
        }
        Ok(target)
    };
    let message = match kind {
        ROUTER_SOLICITATION => NdMessage::RouterSolicitation,
        ROUTER_ADVERTISEMENT => NdMessage::RouterAdvertisement(RouterAdvertisement {
            current_hop_limit: byte(4),
            managed: byte(5) & 0x80 != 0,
            other: byte(5) & 0x40 != 0,
            router_lifetime: u16::from_be_bytes([byte(6), byte(7)]),
        }),
        NEIGHBOUR_SOLICITATION => NdMessage::NeighbourSolicitation { target: target()? },
        _ => NdMessage::NeighbourAdvertisement(NeighbourAdvertisement {
            router: byte(4) & 0x80 != 0,
            solicited: byte(4) & 0x40 != 0,
            overrides: byte(4) & 0x20 != 0,
            target: target()?,
        }),
    };
    let (source_link_address, target_link_address) = link_addresses(options)?;
    Ok(Some(NdPacket {
        message,
        source_link_address,
        target_link_address,
    }))
}

/// Walks the options and returns the first source and target link-layer addresses. Every
/// option is at least 8 bytes long (a zero length is refused), so the walk ends.
fn link_addresses(mut rest: &[u8]) -> Result<(Option<MacAddr>, Option<MacAddr>), NdError> {
    let mut source = None;
    let mut target = None;
    while let Some(&kind) = rest.first() {
        let units = rest.get(1).copied().ok_or(NdError::OptionOverrun {
            kind,
            needed: 2,
            left: rest.len(),
        })?;
        if units == 0 {
            return Err(NdError::ZeroLengthOption(kind));
        }
        let len = usize::from(units) * 8;
        let option = rest.get(..len).ok_or(NdError::OptionOverrun {
            kind,
            needed: len,
            left: rest.len(),
        })?;
        // On Ethernet the option is exactly 8 bytes: type, length, six-byte MAC (RFC 2464 §9).
        let mac = || {
            option
                .get(2..)
                .filter(|_| len == 8)
                .and_then(MacAddr::from_slice)
        };
        match kind {
            OPTION_SOURCE_LINK_ADDRESS => source = source.or_else(mac),
            OPTION_TARGET_LINK_ADDRESS => target = target.or_else(mac),
            _ => {}
        }
        rest = rest.get(len..).unwrap_or_default();
    }
    Ok((source, target))
}

impl NdPacket {
    /// What the message proves about its sender (see [`NdPacket`]).
    pub(crate) fn sighting(&self, sender: &Sender) -> Option<Sighting> {
        // A legitimate ND message always arrives with hop limit 255, which the dispatcher
        // counts as on the link. One that is not on the link crossed a router: its frame names
        // the router, and the message itself is forged or relayed.
        if !sender.on_link {
            return None;
        }
        // ND is IPv6 only (an IPv4 packet with protocol 58 is not ND).
        let Some(IpAddr::V6(source)) = sender.ip else {
            return None;
        };
        let unspecified = source.is_unspecified();
        let from_source = || vec![IpAddr::V6(source)];
        let (link_address, ips, router) = match self.message {
            NdMessage::RouterSolicitation => {
                // RFC 4861 §6.1.1: a solicitation from `::` carries no link-layer address.
                if unspecified && self.source_link_address.is_some() {
                    return None;
                }
                (self.source_link_address, from_source(), None)
            }
            NdMessage::RouterAdvertisement(_) => {
                // RFC 4861 §6.1.2: routers advertise from their link-local address.
                if !source.is_unicast_link_local() {
                    return None;
                }
                (self.source_link_address, from_source(), Some(true))
            }
            NdMessage::NeighbourSolicitation { target } if unspecified => {
                // Duplicate address detection (RFC 4862 §5.4.2): the device asks whether anyone
                // holds the address it is about to take. RFC 4861 §7.1.1: no link-layer option.
                if self.source_link_address.is_some() {
                    return None;
                }
                (None, vec![IpAddr::V6(target)], None)
            }
            NdMessage::NeighbourSolicitation { .. } => {
                // The target is the address being resolved: someone else's.
                (self.source_link_address, from_source(), None)
            }
            NdMessage::NeighbourAdvertisement(advertisement) => {
                // An advertisement comes from an address of the advertising interface.
                if unspecified {
                    return None;
                }
                let mut ips = Vec::with_capacity(2);
                if advertisement.overrides {
                    ips.push(IpAddr::V6(advertisement.target));
                }
                if !ips.contains(&IpAddr::V6(source)) {
                    ips.push(IpAddr::V6(source));
                }
                (self.target_link_address, ips, Some(advertisement.router))
            }
        };
        let frame = sender.mac.is_device().then_some(sender.mac);
        let mac = match (frame, link_address) {
            (Some(frame), Some(option)) if frame != option => return None,
            (Some(frame), _) => frame,
            (None, Some(option)) if option.is_device() => option,
            (None, _) => return None,
        };
        Some(Sighting {
            mac: Some(mac),
            ips: ips.into_iter().filter(|ip| is_device_ip(*ip)).collect(),
            detail: router.map(|router| Detail::Nd(NdDetails { router })),
            ..Sighting::default()
        })
    }
}

#[cfg(test)]
mod tests;
