//! pcap and pcapng bytes through the reader `hygie-agent replay` uses: nothing in a file may
//! stop or crash a replay, every observation it yields is one the collector accepts
//! (invariants 2 and 3 of `hygie_fuzz`), and the report's counts add up.
#![no_main]

use hygie_agent::replay::{Shaping, replay_reader};
use jiff::SignedDuration;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let shaping = match data.first() {
        Some(byte) if byte & 1 == 1 => Shaping::Refresh(SignedDuration::from_secs(60)),
        _ => Shaping::Off,
    };
    let mut observations = 0u64;
    let report = replay_reader(data, shaping, |observation| {
        hygie_fuzz::check_observation(&observation);
        observations += 1;
    });
    if let Ok(report) = report {
        assert_eq!(report.observations, observations);
        let decoded: u64 = report.decoded.values().sum();
        let malformed: u64 = report.malformed.values().sum();
        assert_eq!(
            decoded + malformed + report.other + report.unsupported_link,
            report.frames,
            "every frame is counted once: {report:?}"
        );
        assert!(observations <= decoded);
    }
});
