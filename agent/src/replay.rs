//! `hygie-agent replay`: the passive decoders run on a pcap or pcapng file.
//!
//! Frames go through exactly the decoders live capture uses, then through the same shaping,
//! with the capture's own timestamps. Nothing in a file can stop the replay: undecodable frames
//! are counted by reason, unsupported link types (e.g. 802.11 radiotap) are counted and
//! skipped, and a file cut short ends the replay with what was read so far.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hygie_proto::{Observation, Source};
use jiff::{SignedDuration, Timestamp};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

use crate::aggregate::Shaper;
use crate::discovery::decode::{Heard, decode};
use crate::discovery::frame::LinkType;

/// Interface name given to observations from a capture file.
pub const CAPTURE_INTERFACE: &str = "capture";

/// A capture file that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a pcap or pcapng capture: {reason}")]
    Format { path: PathBuf, reason: String },
}

/// What a replay read, decoded and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplayReport {
    /// Frames read.
    pub frames: u64,
    /// ARP packets decoded.
    pub arp: u64,
    /// mDNS messages decoded.
    pub mdns: u64,
    /// Frames that are neither ARP nor mDNS.
    pub other: u64,
    /// Frames on a link type the decoders do not handle.
    pub unsupported_link: u64,
    /// Frames refused by a decoder, by reason.
    pub malformed: BTreeMap<String, u64>,
    /// Observations produced (after shaping).
    pub observations: u64,
    /// Set when the file ended in the middle of a record.
    pub truncated: Option<String>,
}

/// One captured frame, borrowed from the reader.
struct Captured<'a> {
    link: Option<LinkType>,
    at: Duration,
    data: &'a [u8],
}

/// Replays `path`, handing every observation (shaped with `refresh`) to `sink`.
pub fn replay(
    path: &Path,
    refresh: SignedDuration,
    mut sink: impl FnMut(Observation),
) -> Result<ReplayReport, ReplayError> {
    let open_error = |source| ReplayError::Open {
        path: path.to_owned(),
        source,
    };
    let mut file = BufReader::new(File::open(path).map_err(open_error)?);
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic).map_err(open_error)?;
    // Start again from the top: the readers parse the header themselves.
    let file = BufReader::new(File::open(path).map_err(open_error)?);
    let format_error = |error: pcap_file::PcapError| ReplayError::Format {
        path: path.to_owned(),
        reason: error.to_string(),
    };

    let mut report = ReplayReport::default();
    let mut shaper = Shaper::new(refresh);
    let mut handle = |frame: Captured<'_>, report: &mut ReplayReport| {
        report.frames += 1;
        let Some(link) = frame.link else {
            report.unsupported_link += 1;
            return;
        };
        let heard = match decode(link, frame.data) {
            Ok(Some(heard)) => heard,
            Ok(None) => {
                report.other += 1;
                return;
            }
            Err(error) => {
                *report.malformed.entry(error.kind().to_owned()).or_default() += 1;
                return;
            }
        };
        match heard {
            Heard::Arp { .. } => report.arp += 1,
            Heard::Mdns { .. } => report.mdns += 1,
        }
        let at = i64::try_from(frame.at.as_nanos())
            .ok()
            .and_then(|nanos| Timestamp::from_nanosecond(i128::from(nanos)).ok())
            .unwrap_or(Timestamp::UNIX_EPOCH);
        if let Some(observation) =
            heard.observation(at, CAPTURE_INTERFACE, Source::CaptureFile, &[])
            && let Some((observation, _)) = shaper.offer(observation)
        {
            report.observations += 1;
            sink(observation);
        }
    };

    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut reader = PcapNgReader::new(file).map_err(format_error)?;
        // Link types of the current section's interfaces, in declaration order.
        let mut interfaces: Vec<Option<LinkType>> = Vec::new();
        while let Some(block) = reader.next_block() {
            let block = match block {
                Ok(block) => block,
                Err(error) => {
                    report.truncated = Some(error.to_string());
                    break;
                }
            };
            let (interface, at, data) = match &block {
                Block::SectionHeader(_) => {
                    interfaces.clear();
                    continue;
                }
                Block::InterfaceDescription(description) => {
                    interfaces.push(LinkType::from_pcap(u32::from(description.linktype)));
                    continue;
                }
                Block::EnhancedPacket(packet) => {
                    (Some(packet.interface_id), packet.timestamp, &packet.data)
                }
                Block::SimplePacket(packet) => (Some(0), Duration::ZERO, &packet.data),
                // The obsolete Packet Block counts time in microseconds by default.
                Block::Packet(packet) => (
                    Some(u32::from(packet.interface_id)),
                    Duration::from_micros(packet.timestamp),
                    &packet.data,
                ),
                _ => continue,
            };
            let Some(interface) = interface else { continue };
            let link = interfaces.get(interface as usize).copied().flatten();
            handle(Captured { link, at, data }, &mut report);
        }
    } else {
        let mut reader = PcapReader::new(file).map_err(format_error)?;
        let link = LinkType::from_pcap(u32::from(reader.header().datalink));
        while let Some(packet) = reader.next_packet() {
            match packet {
                Ok(packet) => handle(
                    Captured {
                        link,
                        at: packet.timestamp,
                        data: &packet.data,
                    },
                    &mut report,
                ),
                Err(error) => {
                    report.truncated = Some(error.to_string());
                    break;
                }
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
