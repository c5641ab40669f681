//! From a captured frame to what it reveals about a device. Shared by live capture and by
//! capture-file replay, so both decode exactly alike.
//!
//! [`decode`] finds the protocol (by ethertype, SNAP id or UDP port) and hands the payload to
//! its decoder; [`Heard::observation`] turns the decoded message into the observation of the
//! device it is about. Which device that is depends on the protocol: the frame's source MAC
//! for what never crosses a router (ARP, LLDP, CDP, link-scope multicast and broadcast), the
//! client hardware address for DHCP (relays forward it), and nobody for a unicast IP packet
//! from off the link, whose frame source is a router.

use std::net::IpAddr;

use hygie_domain::{Detail, MacAddr, MdnsService, Observation, Source, limits};
use jiff::Timestamp;

use crate::arp::{ArpError, ArpPacket, Operation, parse_arp};
use crate::cdp::{self, CdpError};
use crate::dhcp::{self, DhcpError, DhcpPacket};
use crate::dhcpv6::{self, Dhcpv6Error, Dhcpv6Packet};
use crate::frame::{
    ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_LLDP, FrameError, LinkType, OUI_CISCO,
    Protocol, SNAP_PID_CDP, parse_frame,
};
use crate::ip::{IpError, PROTOCOL_ICMPV6, PROTOCOL_UDP, parse_ip, parse_udp};
use crate::lldp::{self, LldpError};
use crate::llmnr::{self, LlmnrError, LlmnrPacket};
use crate::mdns::{self, MdnsError, MdnsMessage};
use crate::nbns::{self, NbnsError, NbnsPacket};
use crate::nd::{self, NdError, NdPacket};
use crate::ssdp::{self, SsdpError, SsdpPacket};

/// Why a frame was not decoded. Counted by [`DecodeError::kind`], never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "each variant wraps its decoder's documented error"
)]
pub enum DecodeError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Ip(#[from] IpError),
    #[error(transparent)]
    Arp(#[from] ArpError),
    #[error(transparent)]
    Mdns(#[from] MdnsError),
    #[error(transparent)]
    Dhcp(#[from] DhcpError),
    #[error(transparent)]
    Dhcpv6(#[from] Dhcpv6Error),
    #[error(transparent)]
    Ssdp(#[from] SsdpError),
    #[error(transparent)]
    Lldp(#[from] LldpError),
    #[error(transparent)]
    Cdp(#[from] CdpError),
    #[error(transparent)]
    Nbns(#[from] NbnsError),
    #[error(transparent)]
    Llmnr(#[from] LlmnrError),
    #[error(transparent)]
    Nd(#[from] NdError),
}

impl DecodeError {
    /// A short, stable name of the reason, for counts (`truncated DHCP options`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Frame(FrameError::Truncated { .. }) => "truncated frame",
            DecodeError::Frame(FrameError::AddressLength(_)) => "bad link-layer address length",
            DecodeError::Ip(error) => error.kind(),
            DecodeError::Arp(ArpError::Truncated(_)) => "truncated ARP",
            DecodeError::Arp(ArpError::Unsupported { .. }) => "ARP not Ethernet/IPv4",
            DecodeError::Arp(ArpError::AddressLengths { .. }) => "bad ARP address lengths",
            DecodeError::Arp(ArpError::Operation(_)) => "unknown ARP operation",
            DecodeError::Mdns(_) => "malformed DNS",
            DecodeError::Dhcp(error) => error.kind(),
            DecodeError::Dhcpv6(error) => error.kind(),
            DecodeError::Ssdp(error) => error.kind(),
            DecodeError::Lldp(error) => error.kind(),
            DecodeError::Cdp(error) => error.kind(),
            DecodeError::Nbns(error) => error.kind(),
            DecodeError::Llmnr(error) => error.kind(),
            DecodeError::Nd(error) => error.kind(),
        }
    }

    /// The layer or protocol the undecodable frame was of, named as [`Message::protocol`]
    /// names decoded ones (`ethernet` and `ip` for the layers beneath).
    pub fn protocol(&self) -> &'static str {
        match self {
            DecodeError::Frame(_) => "ethernet",
            DecodeError::Ip(_) => "ip",
            DecodeError::Arp(_) => "arp",
            DecodeError::Mdns(_) => "mdns",
            DecodeError::Dhcp(_) => "dhcp",
            DecodeError::Dhcpv6(_) => "dhcpv6",
            DecodeError::Ssdp(_) => "ssdp",
            DecodeError::Lldp(_) => "lldp",
            DecodeError::Cdp(_) => "cdp",
            DecodeError::Nbns(_) => "nbns",
            DecodeError::Llmnr(_) => "llmnr",
            DecodeError::Nd(_) => "ipv6_nd",
        }
    }
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    missing_docs,
    reason = "each variant holds its decoder's documented message"
)]
pub enum Message {
    Arp(ArpPacket),
    Mdns(MdnsMessage),
    Dhcp(DhcpPacket),
    Dhcpv6(Dhcpv6Packet),
    Ssdp(SsdpPacket),
    Lldp(hygie_domain::LldpDetails),
    Cdp(hygie_domain::CdpDetails),
    Nbns(NbnsPacket),
    Llmnr(LlmnrPacket),
    Nd(NdPacket),
}

impl Message {
    /// The protocol's name, for counts: `arp`, `mdns`, `dhcp`, `dhcpv6`, `ssdp`, `lldp`,
    /// `cdp`, `nbns`, `llmnr`, `ipv6_nd`.
    pub fn protocol(&self) -> &'static str {
        match self {
            Message::Arp(_) => "arp",
            Message::Mdns(_) => "mdns",
            Message::Dhcp(_) => "dhcp",
            Message::Dhcpv6(_) => "dhcpv6",
            Message::Ssdp(_) => "ssdp",
            Message::Lldp(_) => "lldp",
            Message::Cdp(_) => "cdp",
            Message::Nbns(_) => "nbns",
            Message::Llmnr(_) => "llmnr",
            Message::Nd(_) => "ipv6_nd",
        }
    }

    /// The [`Source`] of what the live agent hears of this protocol.
    fn live_source(&self) -> Source {
        match self {
            Message::Arp(_) => Source::ArpPassive,
            Message::Mdns(_) => Source::Mdns,
            Message::Dhcp(_) | Message::Dhcpv6(_) => Source::Dhcp,
            Message::Ssdp(_) => Source::Ssdp,
            Message::Lldp(_) => Source::Lldp,
            Message::Cdp(_) => Source::Cdp,
            Message::Nbns(_) => Source::Netbios,
            Message::Llmnr(_) => Source::Llmnr,
            Message::Nd(_) => Source::Ipv6Nd,
        }
    }
}

/// Who sent a frame, as far as the link and network layers tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    /// The frame's source MAC.
    pub mac: MacAddr,
    /// The IP source address, for IP-borne protocols.
    pub ip: Option<IpAddr>,
    /// Whether the frame's source MAC is the sender's own: true for link-layer protocols, for
    /// IP packets sent to a group (multicast or broadcast) or from a link-local address, which
    /// no router forwards, and for unicast packets whose hop limit is still a stack's initial
    /// value (64, 128, 255). A routed packet carries its last router's MAC.
    pub on_link: bool,
}

impl Sender {
    /// The frame's source MAC, when it names the sender.
    pub fn own_mac(&self) -> Option<MacAddr> {
        (self.on_link && self.mac.is_device()).then_some(self.mac)
    }
}

/// What a message proves about one device, before it is stamped with time and place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sighting {
    /// The device.
    pub mac: Option<MacAddr>,
    /// Addresses it used.
    pub ips: Vec<IpAddr>,
    /// The host name it claims.
    pub hostname: Option<String>,
    /// DNS-SD services (mDNS only).
    pub services: Vec<MdnsService>,
    /// The protocol's detail.
    pub detail: Option<Detail>,
}

/// What one frame revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// Who sent it.
    pub sender: Sender,
    /// VLAN the frame was tagged with.
    pub vlan: Option<u16>,
    /// The message.
    pub message: Message,
}

/// Where a frame was heard, which decides the [`Source`] of its observations.
#[derive(Debug, Clone, Copy)]
pub enum Hearing<'a> {
    /// On a live interface, whose own addresses are given (an ARP reply to one of them answers
    /// the agent's probe: `arp_active`).
    Live {
        /// The interface's addresses.
        own: &'a [IpAddr],
    },
    /// In a capture file: every observation is `capture_file`.
    Capture,
}

/// Decodes a frame; `Ok(None)` when it carries no protocol Hygie listens to.
pub fn decode(link: LinkType, bytes: &[u8]) -> Result<Option<Heard>, DecodeError> {
    let frame = parse_frame(link, bytes)?;
    let link_sender = Sender {
        mac: frame.source,
        ip: None,
        on_link: true,
    };
    let heard = |sender: Sender, message: Message| {
        Some(Heard {
            sender,
            vlan: frame.vlan,
            message,
        })
    };
    let ethertype = match frame.protocol {
        Protocol::Ethertype(ETHERTYPE_ARP) => {
            return Ok(heard(link_sender, Message::Arp(parse_arp(frame.payload)?)));
        }
        Protocol::Ethertype(ETHERTYPE_LLDP) => {
            return Ok(heard(
                link_sender,
                Message::Lldp(lldp::parse(frame.payload)?),
            ));
        }
        Protocol::Snap {
            oui: OUI_CISCO,
            pid: SNAP_PID_CDP,
        } => {
            return Ok(heard(link_sender, Message::Cdp(cdp::parse(frame.payload)?)));
        }
        Protocol::Ethertype(ethertype) => ethertype,
        Protocol::Snap { .. } | Protocol::Llc => return Ok(None),
    };
    // Most IP traffic is TCP, which no decoder reads: skip it before parsing the header.
    let transport = match ethertype {
        ETHERTYPE_IPV4 => frame.payload.get(9),
        ETHERTYPE_IPV6 => frame.payload.get(6),
        _ => return Ok(None),
    };
    if !matches!(transport, Some(&(PROTOCOL_UDP | PROTOCOL_ICMPV6)) | None) {
        return Ok(None);
    }
    let Some(packet) = parse_ip(ethertype, frame.payload)? else {
        return Ok(None);
    };
    let sender = Sender {
        mac: frame.source,
        ip: Some(packet.source),
        on_link: packet.to_group()
            || is_link_local(packet.source)
            || is_initial_hop_limit(packet.hop_limit),
    };
    let message = match packet.protocol {
        PROTOCOL_UDP => {
            let udp = parse_udp(packet.payload)?;
            let payload = udp.payload;
            if udp.has_port(mdns::MDNS_PORT) {
                Message::Mdns(mdns::parse_message(packet.source, payload)?)
            } else if udp.has_port(dhcp::SERVER_PORT) || udp.has_port(dhcp::CLIENT_PORT) {
                Message::Dhcp(dhcp::parse(payload)?)
            } else if udp.has_port(dhcpv6::SERVER_PORT) || udp.has_port(dhcpv6::CLIENT_PORT) {
                Message::Dhcpv6(dhcpv6::parse(payload)?)
            } else if udp.has_port(ssdp::PORT) {
                Message::Ssdp(ssdp::parse(payload)?)
            } else if udp.has_port(nbns::PORT) {
                Message::Nbns(nbns::parse(payload)?)
            } else if udp.has_port(llmnr::PORT) {
                Message::Llmnr(llmnr::parse(payload)?)
            } else {
                return Ok(None);
            }
        }
        // RFC 4861 §7.1: neighbour discovery arrives with hop limit 255, or it crossed a
        // router (or was forged off the link) and is silently discarded.
        PROTOCOL_ICMPV6 if ethertype == ETHERTYPE_IPV6 && packet.hop_limit == 255 => {
            match nd::parse(packet.payload)? {
                Some(nd) => Message::Nd(nd),
                None => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    Ok(heard(sender, message))
}

/// Whether a unicast packet still has the hop limit its sender set: stacks start at 64, 128 or
/// 255, and every router on the way takes one off. A packet arriving with one of those values
/// came straight from its sender (a device using another start value is not attributed: the
/// conservative side).
fn is_initial_hop_limit(hop_limit: u8) -> bool {
    matches!(hop_limit, 64 | 128 | 255)
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    }
}

impl Heard {
    /// The MAC and IP address pair the frame proves, for the agent's neighbour table.
    pub fn neighbour(&self) -> Option<(MacAddr, IpAddr)> {
        match &self.message {
            Message::Arp(packet) => packet
                .sender_sighting()
                .and_then(|(mac, ip)| ip.map(|ip| (mac, IpAddr::V4(ip)))),
            _ => {
                let ip = self.sender.ip?;
                let mac = self.sender.own_mac()?;
                hygie_domain::is_device_ip(ip).then_some((mac, ip))
            }
        }
    }

    /// What the message proves about one device, before it is stamped with time and place.
    /// Public so that fuzz targets can check [`Heard::observation`]'s promise: a sighting of a
    /// device always becomes an observation, losing at most its unusable addresses.
    pub fn sighting(&self) -> Option<Sighting> {
        match &self.message {
            Message::Arp(packet) => {
                let (mac, ip) = packet.sender_sighting()?;
                Some(Sighting {
                    mac: Some(mac),
                    ips: ip.map(IpAddr::V4).into_iter().collect(),
                    ..Sighting::default()
                })
            }
            Message::Mdns(message) => mdns_sighting(self.sender, message),
            Message::Dhcp(packet) => packet.sighting(&self.sender),
            Message::Dhcpv6(packet) => packet.sighting(&self.sender),
            Message::Ssdp(packet) => packet.sighting(&self.sender),
            Message::Lldp(lldp) => Some(lldp::sighting(&self.sender, lldp)),
            Message::Cdp(cdp) => Some(cdp::sighting(&self.sender, cdp)),
            Message::Nbns(packet) => packet.sighting(&self.sender),
            Message::Llmnr(packet) => packet.sighting(&self.sender),
            Message::Nd(packet) => packet.sighting(&self.sender),
        }
    }

    /// The observation of the device the frame is about, if it names one, heard at `seen_at`
    /// on `interface`. Whatever it returns passes the contract's checks: a part that does not
    /// (an unusable address during address acquisition) is dropped, keeping the rest.
    pub fn observation(
        &self,
        seen_at: Timestamp,
        interface: &str,
        hearing: Hearing<'_>,
    ) -> Option<Observation> {
        let sighting = self.sighting()?;
        let source = match (hearing, &self.message) {
            (Hearing::Capture, _) => Source::CaptureFile,
            (Hearing::Live { own }, Message::Arp(packet))
                if packet.operation == Operation::Reply
                    && own.contains(&IpAddr::V4(packet.target_ip)) =>
            {
                Source::ArpActive
            }
            (Hearing::Live { .. }, message) => message.live_source(),
        };
        let mut observation = Observation::new(sighting.mac?, seen_at, source);
        observation.ips = sighting.ips;
        observation.ips.truncate(limits::MAX_ADDRESSES);
        observation.interface = interface.to_owned();
        observation.hostname = sighting.hostname;
        observation.services = sighting.services;
        observation.detail = sighting.detail;
        observation.normalise();
        if observation.check().is_err() {
            // What the decoders build is bounded and cleaned; an address that a device could
            // not hold (0.0.0.0 while it acquires one) is the one thing left to drop.
            observation.ips.retain(|ip| hygie_domain::is_device_ip(*ip));
        }
        observation.check().ok()?;
        Some(observation)
    }
}

/// An mDNS response proves its sender's names, addresses and services; a query its presence.
fn mdns_sighting(sender: Sender, message: &MdnsMessage) -> Option<Sighting> {
    // mDNS is link-local: even a unicast answer comes straight from the device.
    let mac = sender.mac.is_device().then_some(sender.mac)?;
    let about = &message.about_sender;
    // The source address first (it surely belongs to the sender), then its records.
    let ips = std::iter::once(message.source_ip)
        .chain(
            about
                .addresses
                .iter()
                .copied()
                .filter(|ip| *ip != message.source_ip),
        )
        .collect();
    Some(Sighting {
        mac: Some(mac),
        ips,
        hostname: about.hostnames.iter().next().cloned(),
        services: about.services.clone(),
        detail: None,
    })
}

#[cfg(test)]
mod tests;
