//! `hygie-agent replay`: the passive decoders run on a pcap or pcapng file.
//!
//! Frames go through exactly the decoders live capture uses, then through the same shaping,
//! with the capture's own timestamps. Nothing in a file can stop the replay: undecodable frames
//! are counted by reason, unsupported link types (e.g. 802.11 radiotap) are counted and
//! skipped, and a file cut short ends the replay with what was read so far.
//!
//! Shaping is what the live agent does (repeats within the refresh interval are dropped); a
//! replay can turn it off to get one observation per decoded frame.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hygie_proto::Observation;
use jiff::{SignedDuration, Timestamp};
use pcap_file::TsResolution;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgReader};

use hygie_decode::{Hearing, LinkType, decode};

use crate::aggregate::Shaper;

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
    /// Messages decoded, by protocol (`arp`, `mdns`, `dhcp`, `ssdp`, `lldp`, ...).
    pub decoded: BTreeMap<&'static str, u64>,
    /// Frames of no protocol the decoders handle.
    pub other: u64,
    /// Frames on a link type the decoders do not handle.
    pub unsupported_link: u64,
    /// Frames refused by a decoder, by reason.
    pub malformed: BTreeMap<&'static str, u64>,
    /// Observations produced (after shaping).
    pub observations: u64,
    /// Set when the file ended in the middle of a record.
    pub truncated: Option<String>,
}

/// One captured frame, borrowed from the reader.
struct Captured<'a> {
    link: Option<LinkType>,
    at: Stamp,
    data: &'a [u8],
}

/// A frame's capture time as the file records it, turned into a time only for frames that
/// become observations (most of a capture does not, and the conversion costs a division).
#[derive(Debug, Clone, Copy)]
enum Stamp {
    /// A pcap record: seconds and micro- or nanoseconds.
    Record {
        seconds: u32,
        fraction: u32,
        nanosecond: bool,
    },
    /// A pcapng timestamp in its interface's units.
    Raw { base: TimeBase, raw: u64 },
    /// No timestamp seen yet (a Simple Packet Block first).
    Unknown,
}

impl Stamp {
    fn time(self) -> Duration {
        match self {
            Stamp::Record {
                seconds,
                fraction,
                nanosecond,
            } => record_time(seconds, fraction, nanosecond),
            Stamp::Raw { base, raw } => base.time_of(raw),
            Stamp::Unknown => Duration::ZERO,
        }
    }
}

/// Whether a replay shapes its output like the live agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shaping {
    /// Drop what the live agent would not resend within this refresh interval.
    Refresh(SignedDuration),
    /// One observation per decoded frame.
    Off,
}

/// How a pcapng interface counts time: its `if_tsresol` and `if_tsoffset` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TimeBase {
    /// `if_tsresol`: high bit clear, 10^-n seconds per unit; set, 2^-n.
    resolution: u8,
    /// `if_tsoffset`: seconds added to every timestamp.
    offset_seconds: u64,
}

impl Default for TimeBase {
    /// Microseconds, no offset: the pcapng default.
    fn default() -> Self {
        TimeBase {
            resolution: 6,
            offset_seconds: 0,
        }
    }
}

impl TimeBase {
    fn of(description: &InterfaceDescriptionBlock<'_>) -> Self {
        let mut base = TimeBase::default();
        for option in &description.options {
            match option {
                InterfaceDescriptionOption::IfTsResol(resolution) => base.resolution = *resolution,
                InterfaceDescriptionOption::IfTsOffset(offset) => base.offset_seconds = *offset,
                _ => {}
            }
        }
        base
    }

    /// The time since the epoch of a raw timestamp counted in this base's units. Absurd
    /// values saturate rather than wrap.
    fn time_of(self, raw: u64) -> Duration {
        let raw = u128::from(raw);
        let exponent = u32::from(self.resolution & 0x7f);
        let nanos: u128 = if self.resolution & 0x80 == 0 {
            match exponent {
                0..=9 => raw.saturating_mul(10u128.pow(9 - exponent)),
                // Finer than a nanosecond: 10^38 is the largest power of ten a u128 holds.
                _ => 10u128
                    .checked_pow(exponent - 9)
                    .map_or(0, |divisor| raw / divisor),
            }
        } else if exponent >= 128 {
            0
        } else {
            // Whole seconds, then the fraction: raw < 2^64, so fraction × 10^9 < 2^94 fits.
            let seconds = raw >> exponent;
            let fraction = raw & ((1u128 << exponent) - 1);
            let fraction_nanos = (fraction * 1_000_000_000) >> exponent;
            seconds.saturating_mul(1_000_000_000) + fraction_nanos
        };
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        Duration::from_nanos(nanos).saturating_add(Duration::from_secs(self.offset_seconds))
    }
}

/// The time of a pcap record: seconds, then micro- or nanoseconds (saturating on a fraction
/// out of range, as a fuzzed file may hold).
fn record_time(seconds: u32, fraction: u32, nanosecond: bool) -> Duration {
    let nanos = if nanosecond {
        u64::from(fraction)
    } else {
        u64::from(fraction).saturating_mul(1000)
    };
    Duration::from_secs(u64::from(seconds)).saturating_add(Duration::from_nanos(nanos))
}

/// Replays `path`, handing every observation to `sink`.
pub fn replay(
    path: &Path,
    shaping: Shaping,
    sink: impl FnMut(Observation),
) -> Result<ReplayReport, ReplayError> {
    let file = File::open(path).map_err(|source| ReplayError::Open {
        path: path.to_owned(),
        source,
    })?;
    replay_reader(file, shaping, sink).map_err(|error| match error {
        StreamError::Read(source) => ReplayError::Open {
            path: path.to_owned(),
            source,
        },
        StreamError::Format(reason) => ReplayError::Format {
            path: path.to_owned(),
            reason,
        },
    })
}

/// A capture stream that cannot be read at all (the file-less half of [`ReplayError`]).
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("cannot read the capture")]
    Read(#[source] std::io::Error),
    #[error("not a pcap or pcapng capture: {0}")]
    Format(String),
}

/// Replays a pcap or pcapng stream, handing every observation to `sink`: what [`replay`] does
/// once the file is open, so a fuzz target can feed it bytes.
pub fn replay_reader(
    reader: impl Read,
    shaping: Shaping,
    mut sink: impl FnMut(Observation),
) -> Result<ReplayReport, StreamError> {
    let format_error = StreamError::Format;
    let mut file = BufReader::new(reader);
    // Peek at the magic without consuming it: the readers parse the header themselves.
    let head = file.fill_buf().map_err(StreamError::Read)?;
    let Some(magic) = head.first_chunk::<4>().copied() else {
        return Err(format_error(format!("only {} bytes long", head.len())));
    };

    let mut report = ReplayReport::default();
    let mut shaper = match shaping {
        Shaping::Refresh(refresh) => Some(Shaper::new(refresh)),
        Shaping::Off => None,
    };
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
                *report.malformed.entry(error.kind()).or_default() += 1;
                return;
            }
        };
        *report.decoded.entry(heard.message.protocol()).or_default() += 1;
        let at = i64::try_from(frame.at.time().as_nanos())
            .ok()
            .and_then(|nanos| Timestamp::from_nanosecond(i128::from(nanos)).ok())
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let Some(observation) = heard.observation(at, CAPTURE_INTERFACE, Hearing::Capture) else {
            return;
        };
        let observation = match &mut shaper {
            Some(shaper) => match shaper.offer(observation) {
                Some((observation, _)) => observation,
                None => return,
            },
            None => observation,
        };
        report.observations += 1;
        sink(observation);
    };

    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut reader =
            PcapNgReader::new(file).map_err(|error| format_error(error.to_string()))?;
        // Link types and time bases of the current section's interfaces, in declaration order.
        let mut interfaces: Vec<(Option<LinkType>, TimeBase)> = Vec::new();
        // A Simple Packet Block has no timestamp: it inherits the last one seen.
        let mut last_time = Stamp::Unknown;
        while let Some(block) = reader.next_block() {
            let block = match block {
                Ok(block) => block,
                Err(error) => {
                    report.truncated = Some(error.to_string());
                    break;
                }
            };
            // pcap-file hands the raw 64-bit timestamp over as nanoseconds whatever the
            // interface's resolution: `as_nanos` gives the raw count back.
            let (interface, raw_time, data) = match &block {
                Block::SectionHeader(_) => {
                    interfaces.clear();
                    continue;
                }
                Block::InterfaceDescription(description) => {
                    interfaces.push((
                        LinkType::from_pcap(u32::from(description.linktype)),
                        TimeBase::of(description),
                    ));
                    continue;
                }
                Block::EnhancedPacket(packet) => (
                    packet.interface_id,
                    u64::try_from(packet.timestamp.as_nanos()).ok(),
                    &packet.data,
                ),
                Block::SimplePacket(packet) => (0, None, &packet.data),
                Block::Packet(packet) => (
                    u32::from(packet.interface_id),
                    Some(packet.timestamp),
                    &packet.data,
                ),
                _ => continue,
            };
            let (link, base) = interfaces
                .get(interface as usize)
                .copied()
                .unwrap_or((None, TimeBase::default()));
            if let Some(raw) = raw_time {
                last_time = Stamp::Raw { base, raw };
            }
            handle(
                Captured {
                    link,
                    at: last_time,
                    data,
                },
                &mut report,
            );
        }
    } else {
        let mut reader = PcapReader::new(file).map_err(|error| format_error(error.to_string()))?;
        // The upper bits of a pcap link-type field carry the FCS length (pcap format §8.1).
        let link = LinkType::from_pcap(u32::from(reader.header().datalink) & 0xffff);
        let nanosecond = reader.header().ts_resolution == TsResolution::NanoSecond;
        // Raw records: the validated reader refuses a frame longer on the wire than the
        // capture's snap length, which is every frame of a capture cut with `tcpdump -s`.
        while let Some(packet) = reader.next_raw_packet() {
            match packet {
                Ok(packet) => handle(
                    Captured {
                        link,
                        at: Stamp::Record {
                            seconds: packet.ts_sec,
                            fraction: packet.ts_frac,
                            nanosecond,
                        },
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
mod corpus_tests;
#[cfg(test)]
mod tests;
