//! From a captured frame to what it reveals about a device. Shared by live capture and by
//! capture-file replay, so both decode exactly alike.

use std::net::IpAddr;

use hygie_proto::{MacAddr, Observation, Source};
use jiff::Timestamp;

use super::arp::{ArpError, ArpPacket, Operation, parse_arp};
use super::frame::{ETHERTYPE_ARP, FrameError, LinkType, parse_frame};
use super::mdns_wire::{MdnsError, MdnsMessage, parse_ip_packet};

/// Why a frame was not decoded. Counted, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Arp(#[from] ArpError),
    #[error(transparent)]
    Mdns(#[from] MdnsError),
}

impl DecodeError {
    /// A short, stable name of the reason, for counts.
    pub fn kind(&self) -> &'static str {
        use super::arp::ArpError;
        use super::frame::FrameError;
        match self {
            DecodeError::Frame(FrameError::Truncated { .. }) => "truncated frame",
            DecodeError::Frame(FrameError::AddressLength(_)) => "bad link-layer address length",
            DecodeError::Arp(ArpError::Truncated(_)) => "truncated ARP",
            DecodeError::Arp(ArpError::Unsupported { .. }) => "ARP not Ethernet/IPv4",
            DecodeError::Arp(ArpError::AddressLengths { .. }) => "bad ARP address lengths",
            DecodeError::Arp(ArpError::Operation(_)) => "unknown ARP operation",
            DecodeError::Mdns(MdnsError::Ip(_)) => "malformed IP/UDP",
            DecodeError::Mdns(MdnsError::Dns(_)) => "malformed DNS",
        }
    }
}

/// What one frame revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// An ARP packet.
    Arp {
        /// Source of the Ethernet frame.
        frame_source: MacAddr,
        /// VLAN the frame was tagged with.
        vlan: Option<u16>,
        /// The packet.
        packet: ArpPacket,
    },
    /// An mDNS query or response.
    Mdns {
        /// Source of the Ethernet frame: the sender itself, since mDNS is never routed.
        frame_source: MacAddr,
        /// The message.
        message: MdnsMessage,
    },
}

/// Decodes a frame; `Ok(None)` when it is neither ARP nor mDNS.
pub fn decode(link: LinkType, bytes: &[u8]) -> Result<Option<Heard>, DecodeError> {
    let frame = parse_frame(link, bytes)?;
    if frame.ethertype == ETHERTYPE_ARP {
        let packet = parse_arp(frame.payload)?;
        return Ok(Some(Heard::Arp {
            frame_source: frame.source,
            vlan: frame.vlan,
            packet,
        }));
    }
    Ok(
        parse_ip_packet(frame.ethertype, frame.payload)?.map(|message| Heard::Mdns {
            frame_source: frame.source,
            message,
        }),
    )
}

impl Heard {
    /// The MAC and IP address pair the frame proves, for the agent's neighbour table.
    pub fn neighbour(&self) -> Option<(MacAddr, IpAddr)> {
        match self {
            Heard::Arp { packet, .. } => packet
                .sender_sighting()
                .and_then(|(mac, ip)| ip.map(|ip| (mac, IpAddr::V4(ip)))),
            Heard::Mdns {
                frame_source,
                message,
            } => frame_source
                .is_device()
                .then_some((*frame_source, message.source_ip)),
        }
    }

    /// The observation of the sending device, if the frame names one. `passive_source` is the
    /// [`Source`] for what was merely heard (`ArpPassive` live, `CaptureFile` on replay); a reply
    /// addressed to one of the agent's own addresses (`own`) answers a probe: `ArpActive`.
    pub fn observation(
        &self,
        seen_at: Timestamp,
        interface: &str,
        passive_source: Source,
        own: &[IpAddr],
    ) -> Option<Observation> {
        match self {
            Heard::Arp { packet, .. } => {
                let (mac, ip) = packet.sender_sighting()?;
                let answers_us = packet.operation == Operation::Reply
                    && own.contains(&IpAddr::V4(packet.target_ip));
                let source = if answers_us && passive_source == Source::ArpPassive {
                    Source::ArpActive
                } else {
                    passive_source
                };
                let mut observation = Observation::new(mac, seen_at, source);
                observation.ips = ip.map(IpAddr::V4).into_iter().collect();
                observation.interface = interface.to_owned();
                Some(observation)
            }
            Heard::Mdns {
                frame_source,
                message,
            } => {
                if !frame_source.is_device() {
                    return None;
                }
                let source = if passive_source == Source::ArpPassive {
                    Source::Mdns
                } else {
                    passive_source
                };
                let sender = &message.about_sender;
                let mut observation = Observation::new(*frame_source, seen_at, source);
                observation.ips = sender.addresses.iter().copied().collect();
                if !observation.ips.contains(&message.source_ip) {
                    observation.ips.push(message.source_ip);
                }
                observation.ips.truncate(hygie_proto::limits::MAX_ADDRESSES);
                observation.interface = interface.to_owned();
                observation.hostname = sender.hostnames.iter().next().cloned();
                observation.services = sender.services.clone();
                observation.normalise();
                // Anything the contract would refuse (an unusable source address) is dropped
                // here rather than poisoning a batch.
                observation.check().ok()?;
                Some(observation)
            }
        }
    }
}
