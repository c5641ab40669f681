//! The network and transport layers: IPv4 and IPv6 headers, then UDP.
//!
//! Pure functions over `&[u8]`. Lengths in headers are trusted only as far as the captured bytes
//! go (a header claiming more than was captured is cut to what is there; one claiming less cuts
//! the trailing padding), so nothing reads out of bounds.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::frame::{ETHERTYPE_IPV4, ETHERTYPE_IPV6};

/// IP protocol number of UDP.
pub const PROTOCOL_UDP: u8 = 17;
/// IPv6 next-header value of ICMPv6.
pub const PROTOCOL_ICMPV6: u8 = 58;

/// Why an IP packet or UDP datagram was not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IpError {
    /// Fewer bytes than the fixed header.
    #[error("{0} header truncated")]
    Truncated(&'static str),
    /// The version nibble disagrees with the ethertype.
    #[error("version {found} in a packet framed as IPv{expected}")]
    Version {
        /// What the ethertype said.
        expected: u8,
        /// What the header says.
        found: u8,
    },
    /// An IPv4 header length below 20 or beyond the packet.
    #[error("IPv4 header length {0} is impossible")]
    HeaderLength(usize),
}

impl IpError {
    /// A short, stable name of the reason, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            IpError::Truncated(_) => "truncated IP/UDP",
            IpError::Version { .. } => "IP version mismatch",
            IpError::HeaderLength(_) => "bad IPv4 header length",
        }
    }
}

/// An IP packet's addresses and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPacket<'a> {
    /// Source address.
    pub source: IpAddr,
    /// Destination address.
    pub destination: IpAddr,
    /// IPv4 protocol or IPv6 next header.
    pub protocol: u8,
    /// IPv4 TTL or IPv6 hop limit.
    pub hop_limit: u8,
    /// The payload.
    pub payload: &'a [u8],
}

impl IpPacket<'_> {
    /// Whether the packet went to a multicast or broadcast address: such packets stay on the
    /// link they were sent on (routers do not forward broadcasts, and the discovery groups are
    /// link- or site-local), so the frame's source MAC is the sender's own.
    pub fn to_group(&self) -> bool {
        match self.destination {
            IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast() || v4.octets()[3] == 255,
            IpAddr::V6(v6) => v6.is_multicast(),
        }
    }
}

/// A UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Source port.
    pub source_port: u16,
    /// Destination port.
    pub destination_port: u16,
    /// The payload.
    pub payload: &'a [u8],
}

impl Datagram<'_> {
    /// Whether either port is `port`.
    pub fn has_port(&self, port: u16) -> bool {
        self.source_port == port || self.destination_port == port
    }
}

/// Decodes an IPv4 or IPv6 header; `Ok(None)` for other ethertypes and for IPv4 fragments
/// after the first (they carry no transport header).
pub fn parse_ip(ethertype: u16, packet: &[u8]) -> Result<Option<IpPacket<'_>>, IpError> {
    match ethertype {
        ETHERTYPE_IPV4 => ipv4(packet),
        ETHERTYPE_IPV6 => ipv6(packet).map(Some),
        _ => Ok(None),
    }
}

fn ipv4(packet: &[u8]) -> Result<Option<IpPacket<'_>>, IpError> {
    let header = packet.get(..20).ok_or(IpError::Truncated("IPv4"))?;
    if header[0] >> 4 != 4 {
        return Err(IpError::Version {
            expected: 4,
            found: header[0] >> 4,
        });
    }
    let header_len = usize::from(header[0] & 0x0f) * 4;
    if header_len < 20 || header_len > packet.len() {
        return Err(IpError::HeaderLength(header_len));
    }
    let fragment_offset = u16::from_be_bytes([header[6], header[7]]) & 0x1fff;
    if fragment_offset != 0 {
        return Ok(None);
    }
    let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let end = total_len.clamp(header_len, packet.len());
    Ok(Some(IpPacket {
        source: IpAddr::V4(Ipv4Addr::new(
            header[12], header[13], header[14], header[15],
        )),
        destination: IpAddr::V4(Ipv4Addr::new(
            header[16], header[17], header[18], header[19],
        )),
        protocol: header[9],
        hop_limit: header[8],
        payload: &packet[header_len..end],
    }))
}

fn ipv6(packet: &[u8]) -> Result<IpPacket<'_>, IpError> {
    let header = packet.get(..40).ok_or(IpError::Truncated("IPv6"))?;
    if header[0] >> 4 != 6 {
        return Err(IpError::Version {
            expected: 6,
            found: header[0] >> 4,
        });
    }
    let payload_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let end = (40 + payload_len).min(packet.len());
    let address = |start: usize| {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&header[start..start + 16]);
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    // Extension headers are not followed: the discovery protocols decoded here do not use
    // them (MLD's hop-by-hop header is not one of them).
    Ok(IpPacket {
        source: address(8),
        destination: address(24),
        protocol: header[6],
        hop_limit: header[7],
        payload: &packet[40..end],
    })
}

/// Decodes a UDP header.
pub fn parse_udp(segment: &[u8]) -> Result<Datagram<'_>, IpError> {
    let header = segment.get(..8).ok_or(IpError::Truncated("UDP"))?;
    let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let end = length.clamp(8, segment.len());
    Ok(Datagram {
        source_port: u16::from_be_bytes([header[0], header[1]]),
        destination_port: u16::from_be_bytes([header[2], header[3]]),
        payload: &segment[8..end],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IPv4 and UDP headers of an mDNS query: 10.0.2.7:5353 → 224.0.0.251:5353.
    const MDNS_V4: [u8; 30] = [
        0x45, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x40, 0x00, 0xff, 0x11, 0x00, 0x00, 10, 0, 2, 7, 224,
        0, 0, 251, 0x14, 0xe9, 0x14, 0xe9, 0x00, 0x0a, 0x00, 0x00, 0xab, 0xcd,
    ];

    #[test]
    fn ipv4_then_udp() {
        let packet = parse_ip(ETHERTYPE_IPV4, &MDNS_V4).unwrap().unwrap();
        assert_eq!(packet.source, IpAddr::V4(Ipv4Addr::new(10, 0, 2, 7)));
        assert_eq!(packet.protocol, PROTOCOL_UDP);
        assert_eq!(packet.hop_limit, 255);
        assert!(packet.to_group());
        let udp = parse_udp(packet.payload).unwrap();
        assert!(udp.has_port(5353));
        assert_eq!(udp.payload, &[0xab, 0xcd]);
    }

    #[test]
    fn lengths_are_bounded_by_the_capture() {
        let mut padded = MDNS_V4.to_vec();
        padded.extend_from_slice(&[0; 16]);
        let packet = parse_ip(ETHERTYPE_IPV4, &padded).unwrap().unwrap();
        assert_eq!(packet.payload.len(), 10, "trailing padding is cut");
        for len in 0..20 {
            assert_eq!(
                parse_ip(ETHERTYPE_IPV4, &MDNS_V4[..len]),
                Err(IpError::Truncated("IPv4"))
            );
        }
        let mut long_header = MDNS_V4;
        long_header[0] = 0x4f;
        assert_eq!(
            parse_ip(ETHERTYPE_IPV4, &long_header),
            Err(IpError::HeaderLength(60))
        );
        let mut fragment = MDNS_V4;
        fragment[7] = 0x10;
        assert_eq!(parse_ip(ETHERTYPE_IPV4, &fragment), Ok(None));
        assert_eq!(parse_udp(&[0; 7]), Err(IpError::Truncated("UDP")));
    }

    #[test]
    fn ipv6_headers() {
        let mut packet = vec![0x60, 0, 0, 0, 0x00, 0x02, PROTOCOL_ICMPV6, 255];
        packet.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        packet.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        packet.extend_from_slice(&[133, 0, 9, 9]);
        let parsed = parse_ip(ETHERTYPE_IPV6, &packet).unwrap().unwrap();
        assert_eq!(parsed.protocol, PROTOCOL_ICMPV6);
        assert_eq!(parsed.payload, &[133, 0]);
        assert!(parsed.to_group());
        packet[0] = 0x40;
        assert_eq!(
            parse_ip(ETHERTYPE_IPV6, &packet),
            Err(IpError::Version {
                expected: 6,
                found: 4
            })
        );
    }
}
