//! A hospital group's devices, for benchmarks at scale: the `n`-th device of a fleet, its
//! observation, and the registry entries of the managed ones. Deterministic: the same `n`
//! always gives the same device.
//!
//! What a fleet looks like (shares of the devices, drawn per device from a hash of `n`):
//! - about 20% biomedical MAC blocks (Philips, GE Healthcare, Dräger, Mindray, Baxter,
//!   B. Braun, BD Alaris, Masimo, Welch Allyn), 12% building systems (controllers, cameras,
//!   access control), 55% IT (workstations, printers, phones, servers), and the rest TVs,
//!   plugs, routers, serial modules and 6% randomized (private) MACs;
//! - every device has one IPv4 address in 198.18.0.0/15 (RFC 2544, never routed). That range
//!   holds 131,072 addresses, so past that many devices addresses are reused, as DHCP leases
//!   are: the devices sharing an address are seen at least 20 minutes apart (one hour per
//!   reuse, 40 minutes of jitter), more than the collector's default `conflict_window`;
//! - about three in four announce a host name; printers, cameras, some monitors and phones
//!   announce an mDNS service (printers and monitors with a TXT record naming the model);
//! - about half of the biomedical devices and one in twenty of the others are in the
//!   registry (`registered`), plus one registered device in a thousand that is never seen.
//!
//! MACs are distinct: the low 24 bits are `n` itself (so up to 16,777,216 devices).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use hygie_proto::{MacAddr, MdnsService, Observation, Source};
use jiff::{SignedDuration, Timestamp};

/// Addresses in 198.18.0.0/15.
pub const ADDRESSES: u32 = 1 << 17;

/// Most devices a fleet can name with distinct MACs.
pub const MAX_DEVICES: u32 = 1 << 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    Biomedical,
    Building,
    It,
    Other,
}

/// One kind of device: its MAC block, its share per thousand, its names and announcements.
#[derive(Debug)]
struct Profile {
    oui: u32,
    per_thousand: u32,
    domain: Domain,
    host: &'static str,
    model: &'static str,
    /// An mDNS service type, and the share (per four) of devices announcing it.
    service: Option<(&'static str, u32)>,
}

const fn profile(
    oui: u32,
    per_thousand: u32,
    domain: Domain,
    host: &'static str,
    model: &'static str,
    service: Option<(&'static str, u32)>,
) -> Profile {
    Profile {
        oui,
        per_thousand,
        domain,
        host,
        model,
        service,
    }
}

use Domain::{Biomedical, Building, It, Other};

/// The MAC blocks of `tests/src/facility/devices.rs`, whose vendors and verdicts are checked
/// there. Shares add up to 1,000.
#[rustfmt::skip]
const PROFILES: [Profile; 29] = [
    profile(0x00095c, 40, Biomedical, "mon", "IntelliVue MX800", Some(("_http._tcp.local.", 2))),
    profile(0x0009fb, 20, Biomedical, "mon", "IntelliVue MX450", Some(("_http._tcp.local.", 2))),
    profile(0x444b5d, 25, Biomedical, "carescape", "CARESCAPE B450", None),
    profile(0x0030e6, 20, Biomedical, "vent", "Evita V500", None),
    profile(0x00a037, 20, Biomedical, "mindray-bs", "BeneVision N12", None),
    profile(0x5842e4, 20, Biomedical, "pump", "Sigma Spectrum", None),
    profile(0x001221, 20, Biomedical, "spaceplus", "Space Infusomat", None),
    profile(0x00d075, 15, Biomedical, "alaris", "Alaris Gateway", None),
    profile(0xe0c2b7, 10, Biomedical, "masimo-root", "Root", None),
    profile(0x001afa, 10, Biomedical, "connex-vsm", "Connex VSM", None),
    profile(0x00108d, 20, Building, "jci-nae", "Metasys NAE", None),
    profile(0x000519, 20, Building, "desigo-pxc", "Desigo PXC", None),
    profile(0x0001f0, 10, Building, "niagara-jace", "JACE 8000", None),
    profile(0x0012ea, 10, Building, "trane-tracer", "Tracer SC", None),
    profile(0xb8a44f, 30, Building, "axis-cam", "AXIS P3245", Some(("_axis-video._tcp.local.", 4))),
    profile(0x0c75d2, 20, Building, "hik-cam", "DS-2CD2143", None),
    profile(0x004084, 10, Building, "access", "Pro-Watch", None),
    profile(0x0021b7, 30, It, "prt", "Lexmark MS821", Some(("_ipp._tcp.local.", 4))),
    profile(0x001ba9, 20, It, "prt", "Brother HL-L8360", Some(("_ipp._tcp.local.", 4))),
    profile(0x9075de, 20, It, "zebra", "Zebra ZT410", Some(("_pdl-datastream._tcp.local.", 4))),
    profile(0xd0431e, 200, It, "ws", "OptiPlex 7090", None),
    profile(0x9c7bef, 150, It, "pc", "EliteDesk 800", Some(("_smb._tcp.local.", 1))),
    profile(0x805ec0, 80, It, "sep", "Yealink T54W", None),
    profile(0x0cc47a, 50, It, "srv", "SuperServer", None),
    profile(0xac5af0, 20, Other, "tv", "webOS TV", None),
    profile(0x94103e, 10, Other, "plug", "Wemo", None),
    profile(0x001ebd, 20, Other, "rtr", "Cisco ISR", None),
    profile(0x0080a3, 20, Other, "xport", "XPort", None),
    profile(0xdaa119, 60, Other, "", "", Some(("_companion-link._tcp.local.", 1))),
];

const _: () = {
    let mut total = 0;
    let mut index = 0;
    while index < PROFILES.len() {
        total += PROFILES[index].per_thousand;
        index += 1;
    }
    assert!(total == 1000);
};

/// SplitMix64: a well-mixed hash of `n`, the source of every per-device choice.
fn mix(n: u32) -> u64 {
    let mut z = u64::from(n).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn profile_of(n: u32) -> &'static Profile {
    let mut pick = (mix(n) % 1000) as u32;
    for profile in &PROFILES {
        if pick < profile.per_thousand {
            return profile;
        }
        pick -= profile.per_thousand;
    }
    &PROFILES[PROFILES.len() - 1]
}

/// The `n`-th device's MAC: its block's OUI and `n` in the low 24 bits.
pub fn mac(n: u32) -> MacAddr {
    MacAddr::from_u64(u64::from(profile_of(n).oui) << 24 | u64::from(n % MAX_DEVICES))
}

/// Whether the `n`-th device's MAC is in a biomedical vendor's block.
pub fn is_biomedical(n: u32) -> bool {
    profile_of(n).domain == Biomedical
}

/// Whether the `n`-th device is in the registry.
pub fn registered(n: u32) -> bool {
    let draw = (mix(n) >> 32) % 20;
    if is_biomedical(n) {
        draw < 10
    } else {
        draw == 0
    }
}

/// A fleet of `devices` devices, seen from `start` on (one hour per reuse of the addresses).
#[derive(Debug, Clone, Copy)]
pub struct Fleet {
    /// How many devices are seen.
    pub devices: u32,
    /// When the first ones are seen.
    pub start: Timestamp,
}

impl Fleet {
    /// A fleet whose last devices are seen about an hour before `now`.
    pub fn ending_before(devices: u32, now: Timestamp) -> Fleet {
        let hours = i64::from(devices.div_ceil(ADDRESSES)) + 1;
        Fleet {
            devices,
            start: now - SignedDuration::from_hours(hours),
        }
    }

    /// The observation of the `n`-th device, by an agent on `eth0`.
    pub fn observation(&self, n: u32) -> Observation {
        let profile = profile_of(n);
        let hash = mix(n);
        let reuse = n / ADDRESSES;
        let jitter = SignedDuration::from_secs(((hash >> 16) % 2400) as i64);
        let seen_at = self.start + SignedDuration::from_hours(i64::from(reuse)) + jitter;
        let mut observation = Observation::new(mac(n), seen_at, Source::ArpPassive);
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
        observation.ips = vec![IpAddr::V4(Ipv4Addr::from(base + n % ADDRESSES))];
        observation.interface = "eth0".into();
        let named = !profile.host.is_empty() && !(hash >> 40).is_multiple_of(4);
        if named {
            observation.hostname = Some(format!("{}-{n:07}", profile.host));
            observation.source = Source::Dhcp;
        }
        if let Some((service_type, per_four)) = profile.service
            && ((hash >> 48) % 4) < u64::from(per_four)
        {
            let instance = observation
                .hostname
                .clone()
                .unwrap_or_else(|| format!("device-{n:07}"));
            let txt = if profile.domain == Biomedical || service_type.starts_with("_ipp") {
                BTreeMap::from([("ty".to_owned(), Some(profile.model.to_owned()))])
            } else {
                BTreeMap::new()
            };
            observation.services = vec![MdnsService {
                instance: format!("{instance}.{service_type}"),
                service_type: service_type.to_owned(),
                port: Some(if service_type.starts_with("_ipp") {
                    631
                } else {
                    80
                }),
                txt,
            }];
            observation.source = Source::Mdns;
        }
        observation
    }

    /// The registry as a CSV for `hygie-collector registry import`: the registered devices
    /// among those seen, then one in a thousand more that are never seen. `sites` name the
    /// site column, in turn.
    pub fn registry_csv(&self, sites: &[&str]) -> String {
        let mut csv = String::from(
            "mac,asset_tag,name,category,location,owner,criticality,site,do_not_probe\n",
        );
        let unseen = self.devices / 1000;
        let entries = (0..self.devices)
            .filter(|n| registered(*n))
            .chain(self.devices..self.devices.saturating_add(unseen).min(MAX_DEVICES));
        for n in entries {
            let profile = profile_of(n);
            let (tag, category, owner, criticality) = match profile.domain {
                Biomedical => (
                    "BIO",
                    "biomedical",
                    "Biomedical engineering",
                    "life_critical",
                ),
                Building => ("BLD", "building", "Technical services", "medium"),
                It => ("IT", "it", "IT department", "low"),
                Other => ("GEN", "", "IT department", "low"),
            };
            let site = sites
                .get(n as usize % sites.len().max(1))
                .copied()
                .unwrap_or("");
            let _ = writeln!(
                csv,
                "{},{tag}-{n:07},{} {n},{category},Building {} floor {},{owner},{criticality},{site},{}",
                mac(n),
                if profile.model.is_empty() {
                    "Device"
                } else {
                    profile.model
                },
                n % 12,
                n % 7,
                if profile.domain == Biomedical {
                    "yes"
                } else {
                    "no"
                },
            );
        }
        csv
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn devices_are_distinct_valid_and_mixed() {
        let fleet = Fleet::ending_before(
            20_000,
            Timestamp::UNIX_EPOCH + SignedDuration::from_hours(100),
        );
        let macs: BTreeSet<MacAddr> = (0..fleet.devices).map(mac).collect();
        assert_eq!(macs.len(), 20_000);
        for n in 0..fleet.devices {
            fleet.observation(n).check().unwrap();
        }
        let biomedical = (0..fleet.devices).filter(|n| is_biomedical(*n)).count();
        assert!((3_000..5_000).contains(&biomedical), "{biomedical}");
        let managed = (0..fleet.devices).filter(|n| registered(*n)).count();
        assert!((2_000..4_000).contains(&managed), "{managed}");
    }

    #[test]
    fn devices_sharing_an_address_are_seen_at_least_twenty_minutes_apart() {
        let fleet = Fleet::ending_before(
            3 * ADDRESSES,
            Timestamp::UNIX_EPOCH + SignedDuration::from_hours(100),
        );
        for n in (0..ADDRESSES).step_by(997) {
            let times: Vec<Timestamp> = (0..3)
                .map(|reuse| fleet.observation(n + reuse * ADDRESSES).seen_at)
                .collect();
            for pair in times.windows(2) {
                assert!(pair[1].duration_since(pair[0]) >= SignedDuration::from_mins(20));
            }
        }
    }
}
