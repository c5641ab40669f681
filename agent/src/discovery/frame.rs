//! Link-layer decoding: from captured bytes to an ethertype and its payload.
//!
//! Pure functions over `&[u8]`; every length is checked before it is used, so truncated or
//! hostile frames are refused with a reason, never a panic.

use hygie_proto::MacAddr;

/// Ethertype of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Ethertype of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q VLAN tag.
const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service tag (QinQ outer tag).
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Pre-standard QinQ outer tag still seen on older switches.
const ETHERTYPE_QINQ_LEGACY: u16 = 0x9100;

/// How the captured bytes are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// Ethernet II (pcap link type 1), what AF_PACKET gives on Ethernet interfaces.
    Ethernet,
    /// Linux "cooked" capture, version 1 (pcap link type 113).
    LinuxSll,
    /// Linux "cooked" capture, version 2 (pcap link type 276).
    LinuxSll2,
}

impl LinkType {
    /// The link type of a pcap/pcapng link-type number, if supported.
    pub fn from_pcap(link_type: u32) -> Option<Self> {
        match link_type {
            1 => Some(LinkType::Ethernet),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            _ => None,
        }
    }
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame truncated: {needed} bytes needed, {got} present")]
    Truncated { needed: usize, got: usize },
    #[error("the link-layer address is not 6 bytes long ({0})")]
    AddressLength(usize),
}

/// A decoded link-layer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Source hardware address.
    pub source: MacAddr,
    /// Destination hardware address (absent in cooked captures of received frames).
    pub destination: Option<MacAddr>,
    /// Innermost VLAN id, if the frame was tagged.
    pub vlan: Option<u16>,
    /// Ethertype of the payload, after any VLAN tags.
    pub ethertype: u16,
    /// The payload.
    pub payload: &'a [u8],
}

fn take(bytes: &[u8], start: usize, len: usize) -> Result<&[u8], FrameError> {
    bytes.get(start..start + len).ok_or(FrameError::Truncated {
        needed: start + len,
        got: bytes.len(),
    })
}

fn u16_at(bytes: &[u8], start: usize) -> Result<u16, FrameError> {
    let field = take(bytes, start, 2)?;
    Ok(u16::from_be_bytes([field[0], field[1]]))
}

fn mac_at(bytes: &[u8], start: usize) -> Result<MacAddr, FrameError> {
    let field = take(bytes, start, 6)?;
    MacAddr::from_slice(field).ok_or(FrameError::AddressLength(field.len()))
}

/// Decodes the link-layer header of a captured frame.
pub fn parse_frame(link: LinkType, bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    match link {
        LinkType::Ethernet => parse_ethernet(bytes),
        LinkType::LinuxSll => {
            // packet type (2), ARPHRD (2), address length (2), address (8), protocol (2)
            let address_len = usize::from(u16_at(bytes, 4)?);
            if address_len != 6 {
                return Err(FrameError::AddressLength(address_len));
            }
            let source = mac_at(bytes, 6)?;
            let protocol = u16_at(bytes, 14)?;
            untag(
                source,
                None,
                protocol,
                take(bytes, 16, bytes.len().saturating_sub(16))?,
            )
        }
        LinkType::LinuxSll2 => {
            // protocol (2), reserved (2), ifindex (4), ARPHRD (2), packet type (1),
            // address length (1), address (8)
            let protocol = u16_at(bytes, 0)?;
            let address_len = usize::from(*take(bytes, 11, 1)?.first().unwrap_or(&0));
            if address_len != 6 {
                return Err(FrameError::AddressLength(address_len));
            }
            let source = mac_at(bytes, 12)?;
            untag(
                source,
                None,
                protocol,
                take(bytes, 20, bytes.len().saturating_sub(20))?,
            )
        }
    }
}

fn parse_ethernet(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    let destination = mac_at(bytes, 0)?;
    let source = mac_at(bytes, 6)?;
    let ethertype = u16_at(bytes, 12)?;
    untag(source, Some(destination), ethertype, &bytes[14..])
}

/// 802.2 LLC header of SNAP encapsulation with an ethertype (RFC 1042): DSAP, SSAP, control,
/// then a zero OUI.
const LLC_SNAP_RFC1042: [u8; 6] = [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00];

/// Strips 802.1Q / 802.1ad tags (at most two: QinQ), keeping the innermost VLAN id, and
/// unwraps 802.3 frames carrying an ethertype in an LLC/SNAP header.
fn untag<'a>(
    source: MacAddr,
    destination: Option<MacAddr>,
    mut ethertype: u16,
    mut payload: &'a [u8],
) -> Result<Frame<'a>, FrameError> {
    let mut vlan = None;
    for _ in 0..2 {
        if !matches!(
            ethertype,
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_LEGACY
        ) {
            break;
        }
        let tci = u16_at(payload, 0)?;
        vlan = Some(tci & 0x0fff);
        ethertype = u16_at(payload, 2)?;
        payload = &payload[4..];
    }
    // Values up to 1500 are an 802.3 length, not an ethertype.
    if ethertype <= 1500 && payload.starts_with(&LLC_SNAP_RFC1042) {
        ethertype = u16_at(payload, 6)?;
        payload = &payload[8..];
    }
    Ok(Frame {
        source,
        destination,
        vlan,
        ethertype,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ARP request from tcpdump's `802.1ad_QinQ.pcap` layout, rebuilt by hand: outer 802.1ad
    /// tag (VLAN 100), inner 802.1Q tag (VLAN 10), then ARP.
    const QINQ_ARP: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination
        0x00, 0x80, 0xea, 0x00, 0x00, 0x01, // source
        0x88, 0xa8, 0x00, 0x64, // 802.1ad, VLAN 100
        0x81, 0x00, 0x00, 0x0a, // 802.1Q, VLAN 10
        0x08, 0x06, // ARP
        0xde, 0xad,
    ];

    #[test]
    fn plain_ethernet() {
        let mut bytes = QINQ_ARP[..12].to_vec();
        bytes.extend_from_slice(&[0x08, 0x06, 1, 2, 3]);
        let frame = parse_frame(LinkType::Ethernet, &bytes).unwrap();
        assert_eq!(frame.source.to_string(), "00:80:ea:00:00:01");
        assert_eq!(frame.destination, Some(MacAddr::BROADCAST));
        assert_eq!(frame.vlan, None);
        assert_eq!(frame.ethertype, ETHERTYPE_ARP);
        assert_eq!(frame.payload, &[1, 2, 3]);
    }

    #[test]
    fn vlan_tags_are_stripped_keeping_the_inner_id() {
        let frame = parse_frame(LinkType::Ethernet, QINQ_ARP).unwrap();
        assert_eq!(frame.vlan, Some(10));
        assert_eq!(frame.ethertype, ETHERTYPE_ARP);
        assert_eq!(frame.payload, &[0xde, 0xad]);
    }

    #[test]
    fn truncated_frames_are_refused_at_every_length() {
        for len in 0..22 {
            let result = parse_frame(LinkType::Ethernet, &QINQ_ARP[..len]);
            assert!(result.is_err(), "length {len} should not decode");
        }
        assert_eq!(
            parse_frame(LinkType::Ethernet, &QINQ_ARP[..5]),
            Err(FrameError::Truncated { needed: 6, got: 5 })
        );
    }

    #[test]
    fn linux_cooked_captures() {
        // SLL v1: outgoing (4), ARPHRD_ETHER (1), address length 6, address + 2 padding, ARP.
        let sll = [
            0x00, 0x04, 0x00, 0x01, 0x00, 0x06, 0x00, 0x0c, 0x29, 0x11, 0x22, 0x33, 0x00, 0x00,
            0x08, 0x06, 0xaa,
        ];
        let frame = parse_frame(LinkType::LinuxSll, &sll).unwrap();
        assert_eq!(frame.source.to_string(), "00:0c:29:11:22:33");
        assert_eq!(frame.destination, None);
        assert_eq!(frame.ethertype, ETHERTYPE_ARP);
        assert_eq!(frame.payload, &[0xaa]);

        let mut wrong_length = sll;
        wrong_length[5] = 8;
        assert_eq!(
            parse_frame(LinkType::LinuxSll, &wrong_length),
            Err(FrameError::AddressLength(8))
        );

        // SLL v2: protocol first, address at offset 12.
        let sll2 = [
            0x08, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06, 0x00, 0x0c,
            0x29, 0x11, 0x22, 0x33, 0x00, 0x00, 0xbb,
        ];
        let frame = parse_frame(LinkType::LinuxSll2, &sll2).unwrap();
        assert_eq!(frame.source.to_string(), "00:0c:29:11:22:33");
        assert_eq!(frame.payload, &[0xbb]);
        assert!(parse_frame(LinkType::LinuxSll2, &sll2[..19]).is_err());
    }

    #[test]
    fn snap_encapsulated_arp_is_unwrapped() {
        let mut bytes = QINQ_ARP[..12].to_vec();
        bytes.extend_from_slice(&[0x00, 0x2a]); // 802.3 length
        bytes.extend_from_slice(&[0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x08, 0x06, 7]);
        let frame = parse_frame(LinkType::Ethernet, &bytes).unwrap();
        assert_eq!(frame.ethertype, ETHERTYPE_ARP);
        assert_eq!(frame.payload, &[7]);
        // Truncated SNAP header.
        assert!(parse_frame(LinkType::Ethernet, &bytes[..20]).is_err());
    }

    #[test]
    fn link_types_from_pcap_numbers() {
        assert_eq!(LinkType::from_pcap(1), Some(LinkType::Ethernet));
        assert_eq!(LinkType::from_pcap(113), Some(LinkType::LinuxSll));
        assert_eq!(LinkType::from_pcap(276), Some(LinkType::LinuxSll2));
        assert_eq!(LinkType::from_pcap(127), None, "radiotap is not decoded");
    }
}
