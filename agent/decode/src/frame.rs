//! Link-layer decoding: from captured bytes to the payload's protocol (an ethertype, or an
//! organization's SNAP protocol such as CDP) and the payload.
//!
//! Pure functions over `&[u8]`; every length is checked before it is used, so truncated or
//! hostile frames are refused with a reason, never a panic.

use hygie_domain::MacAddr;

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
/// Ethertype of LLDP (IEEE 802.1AB).
pub const ETHERTYPE_LLDP: u16 = 0x88cc;
/// Cisco's OUI, under which SNAP carries CDP.
pub const OUI_CISCO: [u8; 3] = [0x00, 0x00, 0x0c];
/// SNAP protocol id of CDP under Cisco's OUI.
pub const SNAP_PID_CDP: u16 = 0x2000;

/// What the payload of a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// An ethertype (Ethernet II, or RFC 1042 SNAP with a zero OUI).
    Ethertype(u16),
    /// 802.2 SNAP with an organization's OUI and protocol id (CDP: Cisco, `0x2000`).
    Snap {
        /// The organization.
        oui: [u8; 3],
        /// Its protocol id.
        pid: u16,
    },
    /// Another 802.2 LLC payload (spanning tree, NetBEUI...), not decoded.
    Llc,
}

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
#[allow(missing_docs, reason = "each variant's message is its documentation")]
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
    /// What the payload is, after any VLAN tags and LLC/SNAP header.
    pub protocol: Protocol,
    /// The payload.
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// The ethertype of the payload, if it has one.
    pub fn ethertype(&self) -> Option<u16> {
        match self.protocol {
            Protocol::Ethertype(ethertype) => Some(ethertype),
            Protocol::Snap { .. } | Protocol::Llc => None,
        }
    }
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
                true,
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
                true,
            )
        }
    }
}

fn parse_ethernet(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    let destination = mac_at(bytes, 0)?;
    let source = mac_at(bytes, 6)?;
    let ethertype = u16_at(bytes, 12)?;
    untag(source, Some(destination), ethertype, &bytes[14..], false)
}

/// 802.2 LLC header of SNAP encapsulation: DSAP, SSAP, control.
const LLC_SNAP: [u8; 3] = [0xaa, 0xaa, 0x03];

/// Strips 802.1Q / 802.1ad tags (at most two: QinQ), keeping the innermost VLAN id, and
/// unwraps 802.3 frames: SNAP with a zero OUI carries an ethertype (RFC 1042), SNAP with another
/// OUI that organization's protocol (CDP), anything else is plain LLC.
fn untag<'a>(
    source: MacAddr,
    destination: Option<MacAddr>,
    mut ethertype: u16,
    mut payload: &'a [u8],
    cooked: bool,
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
    let protocol = if ethertype > 1500 {
        Protocol::Ethertype(ethertype)
    } else if payload.starts_with(&LLC_SNAP) {
        let header = take(payload, 0, 8)?;
        let oui = [header[3], header[4], header[5]];
        let pid = u16::from_be_bytes([header[6], header[7]]);
        // On Ethernet the 802.3 length bounds the LLC payload (trailing padding is not part of
        // it); a cooked capture's protocol 0x0004 says "802.2" and carries no length.
        let end = if cooked {
            payload.len()
        } else {
            usize::from(ethertype).clamp(8, payload.len())
        };
        let body = &payload[8..end];
        payload = body;
        if oui == [0, 0, 0] {
            Protocol::Ethertype(pid)
        } else {
            Protocol::Snap { oui, pid }
        }
    } else {
        Protocol::Llc
    };
    Ok(Frame {
        source,
        destination,
        vlan,
        protocol,
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
        assert_eq!(frame.protocol, Protocol::Ethertype(ETHERTYPE_ARP));
        assert_eq!(frame.payload, &[1, 2, 3]);
    }

    #[test]
    fn vlan_tags_are_stripped_keeping_the_inner_id() {
        let frame = parse_frame(LinkType::Ethernet, QINQ_ARP).unwrap();
        assert_eq!(frame.vlan, Some(10));
        assert_eq!(frame.protocol, Protocol::Ethertype(ETHERTYPE_ARP));
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
        assert_eq!(frame.protocol, Protocol::Ethertype(ETHERTYPE_ARP));
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
        bytes.extend_from_slice(&[0x00, 0x09]); // 802.3 length
        bytes.extend_from_slice(&[0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x08, 0x06, 7, 0, 0]);
        let frame = parse_frame(LinkType::Ethernet, &bytes).unwrap();
        assert_eq!(frame.protocol, Protocol::Ethertype(ETHERTYPE_ARP));
        assert_eq!(frame.payload, &[7], "padding past the 802.3 length is cut");
        // Truncated SNAP header.
        assert!(parse_frame(LinkType::Ethernet, &bytes[..20]).is_err());
    }

    #[test]
    fn snap_with_an_organization_oui_names_its_protocol() {
        // The head of tcpdump's 3560_CDP.pcap: 802.3, LLC/SNAP, Cisco OUI, CDP.
        let mut bytes = vec![0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcc];
        bytes.extend_from_slice(&[0x00, 0x19, 0x06, 0xea, 0xb8, 0x85]);
        bytes.extend_from_slice(&[0x00, 0x0c]);
        bytes.extend_from_slice(&[0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00, 0x02, 0xb4]);
        let frame = parse_frame(LinkType::Ethernet, &bytes).unwrap();
        assert_eq!(
            frame.protocol,
            Protocol::Snap {
                oui: OUI_CISCO,
                pid: SNAP_PID_CDP
            }
        );
        assert_eq!(frame.payload, &[0x02, 0xb4]);
        // Spanning tree: plain LLC.
        let mut stp = bytes[..12].to_vec();
        stp.extend_from_slice(&[0x00, 0x26, 0x42, 0x42, 0x03, 0, 0]);
        assert_eq!(
            parse_frame(LinkType::Ethernet, &stp).unwrap().protocol,
            Protocol::Llc
        );
    }

    #[test]
    fn link_types_from_pcap_numbers() {
        assert_eq!(LinkType::from_pcap(1), Some(LinkType::Ethernet));
        assert_eq!(LinkType::from_pcap(113), Some(LinkType::LinuxSll));
        assert_eq!(LinkType::from_pcap(276), Some(LinkType::LinuxSll2));
        assert_eq!(LinkType::from_pcap(127), None, "radiotap is not decoded");
    }
}
