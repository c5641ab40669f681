//! Deterministic observations for tests and benchmarks.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use hygie_proto::{MacAddr, MdnsService, Observation, Source};
use jiff::{SignedDuration, Timestamp};

/// The `n`-th synthetic device: a unique MAC under an OUI of the clinical vendor Philips
/// (00:09:5c), an address in the RFC 2544 test range, a host name and, for every third
/// device, an HTTP service with a TXT record.
pub fn device(n: u32, seen_at: Timestamp) -> Observation {
    let mut observation = Observation::new(
        MacAddr::from_u64(0x0009_5c00_0000 + u64::from(n)),
        seen_at,
        Source::Manual,
    );
    let [_, _, high, low] = n.to_be_bytes();
    observation.ips = vec![IpAddr::V4(Ipv4Addr::new(198, 18, high, low))];
    observation.interface = "eth0".into();
    observation.hostname = Some(format!("device-{n}"));
    if n.is_multiple_of(3) {
        observation.services = vec![MdnsService {
            instance: format!("device-{n}._http._tcp.local."),
            service_type: "_http._tcp.local.".into(),
            port: Some(80),
            txt: BTreeMap::from([("md".to_owned(), Some(format!("model-{}", n % 7)))]),
        }];
    }
    observation
}

/// Observations `first..first + count`, one second apart from `start`.
pub fn devices(first: u32, count: u32, start: Timestamp) -> Vec<Observation> {
    (first..first + count)
        .map(|n| device(n, start + SignedDuration::from_secs(i64::from(n))))
        .collect()
}

/// Appends observations to a JSON-lines file.
pub fn append_jsonl(path: &Path, observations: &[Observation]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut text = String::new();
    for observation in observations {
        text.push_str(&serde_json::to_string(observation).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_data()
}
