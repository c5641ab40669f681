//! ARP for Ethernet/IPv4 (RFC 826): parsing what is heard, building the requests a sweep sends.

use std::net::Ipv4Addr;

use hygie_domain::MacAddr;

use crate::frame::ETHERTYPE_ARP;

/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;
/// Length of a request frame as sent: Ethernet header, ARP, padding to the 60-byte minimum.
pub const REQUEST_FRAME_LEN: usize = 60;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// "Who has target_ip?"
    Request,
    /// "target_ip is at sender_mac."
    Reply,
}

/// Why an ARP payload was not decoded.
#[allow(missing_docs, reason = "each variant's message is its documentation")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArpError {
    #[error("ARP packet truncated: {0} of 28 bytes")]
    Truncated(usize),
    #[error("ARP for hardware type {hardware}/protocol {protocol:#06x}, not Ethernet/IPv4")]
    Unsupported { hardware: u16, protocol: u16 },
    #[error("ARP address lengths {hardware}/{protocol}, expected 6/4")]
    AddressLengths { hardware: u8, protocol: u8 },
    #[error("unknown ARP operation {0}")]
    Operation(u16),
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket {
    /// Request or reply.
    pub operation: Operation,
    /// Hardware address of the sender.
    pub sender_mac: MacAddr,
    /// Protocol address of the sender (0.0.0.0 in an RFC 5227 probe).
    pub sender_ip: Ipv4Addr,
    /// Hardware address of the target (zero in requests).
    pub target_mac: MacAddr,
    /// Protocol address of the target.
    pub target_ip: Ipv4Addr,
}

impl ArpPacket {
    /// The (MAC, IPv4) a packet proves: its sender's, when that is a device and, for the address,
    /// a usable one. An RFC 5227 probe (sender 0.0.0.0) proves the MAC only.
    pub fn sender_sighting(&self) -> Option<(MacAddr, Option<Ipv4Addr>)> {
        if !self.sender_mac.is_device() {
            return None;
        }
        let ip = self.sender_ip;
        Some((
            self.sender_mac,
            hygie_domain::is_device_ip(ip.into()).then_some(ip),
        ))
    }
}

/// Parses the ARP payload of a frame (what follows the ethertype).
pub fn parse_arp(payload: &[u8]) -> Result<ArpPacket, ArpError> {
    let bytes: &[u8; ARP_LEN] = payload
        .get(..ARP_LEN)
        .and_then(|head| head.try_into().ok())
        .ok_or(ArpError::Truncated(payload.len()))?;
    let hardware = u16::from_be_bytes([bytes[0], bytes[1]]);
    let protocol = u16::from_be_bytes([bytes[2], bytes[3]]);
    // Hardware type 1 is Ethernet; 6 (IEEE 802) appears on some Token Ring-era stacks with the
    // same layout.
    if !matches!(hardware, 1 | 6) || protocol != 0x0800 {
        return Err(ArpError::Unsupported { hardware, protocol });
    }
    if bytes[4] != 6 || bytes[5] != 4 {
        return Err(ArpError::AddressLengths {
            hardware: bytes[4],
            protocol: bytes[5],
        });
    }
    let operation = match u16::from_be_bytes([bytes[6], bytes[7]]) {
        1 => Operation::Request,
        2 => Operation::Reply,
        other => return Err(ArpError::Operation(other)),
    };
    let mac = |start: usize| {
        MacAddr::new([
            bytes[start],
            bytes[start + 1],
            bytes[start + 2],
            bytes[start + 3],
            bytes[start + 4],
            bytes[start + 5],
        ])
    };
    let ip = |start: usize| {
        Ipv4Addr::new(
            bytes[start],
            bytes[start + 1],
            bytes[start + 2],
            bytes[start + 3],
        )
    };
    Ok(ArpPacket {
        operation,
        sender_mac: mac(8),
        sender_ip: ip(14),
        target_mac: mac(18),
        target_ip: ip(24),
    })
}

/// Builds a broadcast "who has `target`?" request frame from `sender_mac`/`sender_ip`.
pub fn build_request(
    sender_mac: MacAddr,
    sender_ip: Ipv4Addr,
    target: Ipv4Addr,
) -> [u8; REQUEST_FRAME_LEN] {
    let mut frame = [0u8; REQUEST_FRAME_LEN];
    frame[0..6].copy_from_slice(&MacAddr::BROADCAST.octets());
    frame[6..12].copy_from_slice(&sender_mac.octets());
    frame[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    frame[14..22].copy_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    frame[22..28].copy_from_slice(&sender_mac.octets());
    frame[28..32].copy_from_slice(&sender_ip.octets());
    // Target hardware address stays zero: unknown.
    frame[38..42].copy_from_slice(&target.octets());
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{LinkType, parse_frame};

    /// Frame 2 of Zeek's `arp-who-has.pcap` (bytes as `tshark -x` prints them, trailer cut):
    /// 10.0.0.1 is at f8:ed:a5:c0:a4:f1 (Commscope), answering 10.0.0.2 (78:31:c1:c6:3f:c2, Apple).
    const REPLY: [u8; 42] = [
        0x78, 0x31, 0xc1, 0xc6, 0x3f, 0xc2, 0xf8, 0xed, 0xa5, 0xc0, 0xa4, 0xf1, 0x08,
        0x06, // eth
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // ARP reply
        0xf8, 0xed, 0xa5, 0xc0, 0xa4, 0xf1, 0x0a, 0x00, 0x00, 0x01, // sender
        0x78, 0x31, 0xc1, 0xc6, 0x3f, 0xc2, 0x0a, 0x00, 0x00, 0x02, // target
    ];

    fn arp_of(frame: &[u8]) -> Result<ArpPacket, ArpError> {
        parse_arp(parse_frame(LinkType::Ethernet, frame).unwrap().payload)
    }

    #[test]
    fn parses_a_reply() {
        let packet = arp_of(&REPLY).unwrap();
        assert_eq!(packet.operation, Operation::Reply);
        assert_eq!(packet.sender_mac.to_string(), "f8:ed:a5:c0:a4:f1");
        assert_eq!(packet.sender_ip, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(packet.target_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(
            packet.sender_sighting(),
            Some((packet.sender_mac, Some(Ipv4Addr::new(10, 0, 0, 1))))
        );
    }

    #[test]
    fn a_built_request_parses_back() {
        let sender: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        let frame = build_request(
            sender,
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 11),
        );
        assert_eq!(frame.len(), 60);
        let parsed = parse_frame(LinkType::Ethernet, &frame).unwrap();
        assert_eq!(parsed.destination, Some(MacAddr::BROADCAST));
        assert_eq!(parsed.source, sender);
        let packet = parse_arp(parsed.payload).unwrap();
        assert_eq!(packet.operation, Operation::Request);
        assert_eq!(packet.sender_ip, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(packet.target_mac, MacAddr::ZERO);
        assert_eq!(packet.target_ip, Ipv4Addr::new(198, 18, 0, 11));
    }

    #[test]
    fn probes_and_gratuitous_announcements() {
        let mut probe = REPLY;
        probe[21] = 1; // request
        probe[28..32].copy_from_slice(&[0, 0, 0, 0]);
        let packet = arp_of(&probe).unwrap();
        assert_eq!(packet.sender_sighting(), Some((packet.sender_mac, None)));

        let mut gratuitous = REPLY;
        gratuitous[38..42].copy_from_slice(&[10, 0, 0, 1]);
        let packet = arp_of(&gratuitous).unwrap();
        assert_eq!(
            packet.sender_sighting(),
            Some((packet.sender_mac, Some(packet.sender_ip)))
        );
    }

    #[test]
    fn a_multicast_sender_proves_nothing() {
        let mut spoofed = REPLY;
        spoofed[22] = 0x01;
        assert_eq!(arp_of(&spoofed).unwrap().sender_sighting(), None);
    }

    #[test]
    fn malformed_packets_say_why() {
        for len in 0..ARP_LEN {
            assert_eq!(
                parse_arp(&REPLY[14..14 + len]),
                Err(ArpError::Truncated(len))
            );
        }
        let mut long_hardware = REPLY;
        long_hardware[18] = 8; // like tcpdump's arp-too-long-tha.pcap
        assert_eq!(
            arp_of(&long_hardware),
            Err(ArpError::AddressLengths {
                hardware: 8,
                protocol: 4
            })
        );
        let mut ipv6 = REPLY;
        ipv6[16..18].copy_from_slice(&[0x86, 0xdd]);
        assert!(matches!(arp_of(&ipv6), Err(ArpError::Unsupported { .. })));
        let mut operation = REPLY;
        operation[21] = 9;
        assert_eq!(arp_of(&operation), Err(ArpError::Operation(9)));
    }
}
