//! Test helpers: deterministic noise, the frames of a corpus capture, and tshark's own decode of
//! the same frames as an oracle.

use std::path::{Path, PathBuf};
use std::process::Command;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

use crate::frame::LinkType;

/// xorshift64*: deterministic noise without a dependency.
pub(crate) struct Noise(pub(crate) u64);

impl Noise {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    pub(crate) fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

/// A file of the shared test corpus (`../shared/corpus/pcap/...` beside the repository).
pub(crate) fn corpus_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/pcap")
        .join(relative)
}

/// The link type and frames of a corpus capture (pcap or pcapng, first interface's link type).
pub(crate) fn corpus_frames(relative: &str) -> (LinkType, Vec<Vec<u8>>) {
    let path = corpus_path(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut frames = Vec::new();
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut reader = PcapNgReader::new(bytes.as_slice()).unwrap();
        let mut link = None;
        while let Some(Ok(block)) = reader.next_block() {
            match block {
                Block::InterfaceDescription(description) => {
                    link = link.or(LinkType::from_pcap(u32::from(description.linktype)));
                }
                Block::EnhancedPacket(packet) => frames.push(packet.data.into_owned()),
                Block::SimplePacket(packet) => frames.push(packet.data.into_owned()),
                _ => {}
            }
        }
        (link.expect("an Ethernet or cooked pcapng"), frames)
    } else {
        let mut reader = PcapReader::new(bytes.as_slice()).unwrap();
        let link = LinkType::from_pcap(u32::from(reader.header().datalink) & 0xffff)
            .expect("an Ethernet or cooked capture");
        // Raw records: the validated reader stops at a frame longer than the snap length.
        while let Some(Ok(packet)) = reader.next_raw_packet() {
            frames.push(packet.data.into_owned());
        }
        (link, frames)
    }
}

/// tshark's decode of a corpus capture: for each frame matching `filter`, its number (1-based)
/// and the values of `fields` (tshark's `-T fields`, several occurrences joined by `,`).
///
/// `None` when tshark is not installed, unless `HYGIE_REQUIRE_TSHARK` is set (as
/// `tests/run.sh`, which installs it, does): then its absence fails the test.
pub(crate) fn tshark(relative: &str, filter: &str, fields: &[&str]) -> Option<Vec<Vec<String>>> {
    let mut command = Command::new("tshark");
    command
        .args(["-n", "-r"])
        .arg(corpus_path(relative))
        .args([
            "-Y",
            filter,
            "-T",
            "fields",
            "-E",
            "separator=\t",
            "-E",
            "occurrence=a",
        ])
        .args(["-e", "frame.number"]);
    for field in fields {
        command.args(["-e", field]);
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(error) if std::env::var_os("HYGIE_REQUIRE_TSHARK").is_none() => {
            eprintln!("tshark not run ({error}): the oracle comparison is skipped");
            return None;
        }
        Err(error) => panic!("tshark is required (tests/setup.sh installs it): {error}"),
    };
    assert!(
        output.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| line.split('\t').map(str::to_owned).collect())
            .collect(),
    )
}
