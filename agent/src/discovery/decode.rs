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
                // The source address first (it surely belongs to the sender), then its records,
                // within the contract's bound. `addresses` already holds usable ones only.
                observation.ips = std::iter::once(message.source_ip)
                    .chain(
                        sender
                            .addresses
                            .iter()
                            .copied()
                            .filter(|ip| *ip != message.source_ip),
                    )
                    .take(hygie_proto::limits::MAX_ADDRESSES)
                    .collect();
                observation.interface = interface.to_owned();
                observation.hostname = sender.hostnames.iter().next().cloned();
                observation.services = sender.services.clone();
                observation.normalise();
                // A sender whose own address is unusable (0.0.0.0 during address acquisition)
                // proves only its MAC.
                if observation.check().is_err() {
                    observation.ips.clear();
                    observation.check().ok()?;
                }
                Some(observation)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use pcap_file::pcap::PcapReader;

    use super::*;

    /// xorshift64*: deterministic noise without a dependency.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
    }

    /// Everything a caller does with a decoded frame: none of it may panic, and whatever
    /// observation comes out must satisfy the contract.
    fn exercise(link: LinkType, bytes: &[u8]) {
        let Ok(Some(heard)) = decode(link, bytes) else {
            return;
        };
        let _ = heard.neighbour();
        for source in [Source::ArpPassive, Source::CaptureFile] {
            let own = [IpAddr::V4([198, 18, 0, 2].into())];
            if let Some(observation) =
                heard.observation(Timestamp::UNIX_EPOCH, "eth0", source, &own)
            {
                observation
                    .check()
                    .unwrap_or_else(|error| panic!("{error}: {observation:?} from {bytes:02x?}"));
            }
        }
    }

    fn corpus_frames(relative: &str) -> (LinkType, Vec<Vec<u8>>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus/pcap")
            .join(relative);
        let file = std::fs::File::open(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let mut reader = PcapReader::new(file).unwrap();
        let link = LinkType::from_pcap(u32::from(reader.header().datalink)).unwrap();
        let mut frames = Vec::new();
        while let Some(Ok(packet)) = reader.next_packet() {
            frames.push(packet.data.into_owned());
        }
        (link, frames)
    }

    #[test]
    fn random_bytes_never_panic_on_any_link_type() {
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        for link in [LinkType::Ethernet, LinkType::LinuxSll, LinkType::LinuxSll2] {
            for _ in 0..20_000 {
                let len = noise.below(160);
                let bytes: Vec<u8> = (0..len).map(|_| noise.next() as u8).collect();
                exercise(link, &bytes);
            }
        }
    }

    #[test]
    fn mutated_real_frames_never_panic() {
        let mut noise = Noise(0x0123_4567_89ab_cdef);
        for capture in [
            "ndpi/iphone.pcap",
            "zeek/dns_mdns.pcap",
            "zeek/arp-who-has.pcap",
            "zeek/linuxsll-arp.pcap",
            "zeek/q-in-q.pcap",
        ] {
            let (link, frames) = corpus_frames(capture);
            assert!(!frames.is_empty(), "{capture}");
            for frame in &frames {
                exercise(link, frame);
                for _ in 0..200 {
                    let mut mutated = frame.clone();
                    // A few flipped bytes, then perhaps a cut: what a bad cable or a hostile
                    // sender produce.
                    for _ in 0..1 + noise.below(4) {
                        let at = noise.below(mutated.len());
                        mutated[at] = noise.next() as u8;
                    }
                    if noise.below(4) == 0 {
                        mutated.truncate(noise.below(mutated.len() + 1));
                    }
                    exercise(link, &mutated);
                }
            }
        }
    }
}
