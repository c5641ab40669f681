//! What an agent saw of one device: the domain form of `hygie.v1.Observation`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::details::Detail;
use crate::invalid::{Invalid, InvalidMessage, check_count, check_text};
use crate::limits;
use crate::mac::MacAddr;

/// How an observation was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An ARP request, reply or gratuitous ARP heard on the wire.
    ArpPassive,
    /// A reply to the agent's own ARP probe.
    ArpActive,
    /// An mDNS / DNS-SD announcement or resolution.
    Mdns,
    /// A DHCP exchange.
    Dhcp,
    /// An LLDP advertisement.
    Lldp,
    /// An SSDP (UPnP) announcement.
    Ssdp,
    /// Decoded from a capture file.
    CaptureFile,
    /// Entered or imported by a person.
    Manual,
    /// A Cisco Discovery Protocol advertisement.
    Cdp,
    /// A NetBIOS name service registration, query or answer.
    Netbios,
    /// An LLMNR query or answer.
    Llmnr,
    /// IPv6 neighbour discovery (NS, NA, RS, RA, duplicate address detection).
    Ipv6Nd,
    /// A source this collector does not know (sent by a newer agent): kept, not refused.
    Other,
}

impl Source {
    /// Every source, in contract order.
    pub const ALL: [Source; 13] = [
        Source::ArpPassive,
        Source::ArpActive,
        Source::Mdns,
        Source::Dhcp,
        Source::Lldp,
        Source::Ssdp,
        Source::CaptureFile,
        Source::Manual,
        Source::Cdp,
        Source::Netbios,
        Source::Llmnr,
        Source::Ipv6Nd,
        Source::Other,
    ];

    /// The stable name used in JSON, configuration and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::ArpPassive => "arp_passive",
            Source::ArpActive => "arp_active",
            Source::Mdns => "mdns",
            Source::Dhcp => "dhcp",
            Source::Lldp => "lldp",
            Source::Ssdp => "ssdp",
            Source::CaptureFile => "capture_file",
            Source::Manual => "manual",
            Source::Cdp => "cdp",
            Source::Netbios => "netbios",
            Source::Llmnr => "llmnr",
            Source::Ipv6Nd => "ipv6_nd",
            Source::Other => "other",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of [`Source::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown source {0:?}")]
pub struct UnknownSource(pub String);

impl FromStr for Source {
    type Err = UnknownSource;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|source| source.as_str() == name)
            .ok_or_else(|| UnknownSource(name.to_owned()))
    }
}

/// One DNS-SD service instance announced by a device.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdnsService {
    /// Instance name, e.g. `Ward 3 Printer._ipp._tcp.local.`.
    pub instance: String,
    /// Service type, e.g. `_ipp._tcp.local.`.
    pub service_type: String,
    /// TCP or UDP port of the service, from its SRV record; `None` when only the instance's
    /// TXT record was heard (`_device-info._tcp` has no SRV at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// TXT entries. Keys keep the device's spelling; they compare case-insensitively. A string
    /// with `=` is a key and its value (perhaps empty: `key=`); a bare string is a flag
    /// (RFC 6763 §6.4), kept as the key with no value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub txt: BTreeMap<String, Option<String>>,
}

/// What one agent saw of one device at one moment.
///
/// Invariants once [`Observation::check`] passes: the MAC names a single device, addresses are
/// usable unicast addresses, and every string and list is within [`crate::limits`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// The device's hardware address: its identity in the inventory.
    pub mac: MacAddr,
    /// IPv4 and IPv6 addresses the device used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpAddr>,
    /// When the device was seen (the capture time for capture files).
    pub seen_at: Timestamp,
    /// How it was seen.
    pub source: Source,
    /// The agent interface it was seen on.
    #[serde(default)]
    pub interface: String,
    /// Host name the device claims (untrusted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// DNS-SD services the device announced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<MdnsService>,
    /// What the protocol it came from says beyond addresses and names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Detail>,
}

impl Observation {
    /// A bare sighting of `mac`, to be filled in by the caller.
    pub fn new(mac: MacAddr, seen_at: Timestamp, source: Source) -> Self {
        Observation {
            mac,
            ips: Vec::new(),
            seen_at,
            source,
            interface: String::new(),
            hostname: None,
            services: Vec::new(),
            detail: None,
        }
    }

    /// Checks every invariant; the error names the first offending field.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        check_device_mac("mac", self.mac)?;
        check_count("ips", self.ips.len(), limits::MAX_ADDRESSES)?;
        for (index, ip) in self.ips.iter().enumerate() {
            check_device_ip(&format!("ips[{index}]"), *ip)?;
        }
        check_text(
            "interface",
            &self.interface,
            limits::MAX_INTERFACE_LEN,
            false,
        )?;
        if let Some(hostname) = &self.hostname {
            check_text("hostname", hostname, limits::MAX_HOSTNAME_LEN, false)?;
        }
        check_count("services", self.services.len(), limits::MAX_SERVICES)?;
        for (index, service) in self.services.iter().enumerate() {
            service
                .check()
                .map_err(|error| error.within(format_args!("services[{index}]")))?;
        }
        if let Some(detail) = &self.detail {
            detail.check().map_err(|error| error.within("detail"))?;
        }
        Ok(())
    }

    /// An estimate of the heap this observation holds, in bytes: what a receiver accounts
    /// while the observation waits in its queues. Protocol details count at their bound.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let services: usize = self
            .services
            .iter()
            .map(|service| {
                size_of::<MdnsService>()
                    + service.instance.len()
                    + service.service_type.len()
                    + service
                        .txt
                        .iter()
                        .map(|(key, value)| {
                            // A B-tree entry: the key, the value and a share of its node.
                            64 + key.len() + value.as_ref().map_or(0, String::len)
                        })
                        .sum::<usize>()
            })
            .sum();
        let detail = if self.detail.is_some() {
            size_of::<Detail>() + 8 * limits::MAX_DETAIL_TEXT_LEN
        } else {
            0
        };
        size_of::<Observation>()
            + self.ips.capacity() * size_of::<IpAddr>()
            + self.interface.capacity()
            + self.hostname.as_ref().map_or(0, String::capacity)
            + services
            + detail
    }

    /// Puts the observation in its normal form, so equal facts compare equal: addresses sorted
    /// without duplicates, host name lower case without the trailing dot (empty becomes `None`),
    /// services sorted without duplicates, and no value the wire carries as "absent" (a port
    /// 0 is no port), so an observation reads back from the wire as itself.
    pub fn normalise(&mut self) {
        self.ips.sort_unstable();
        self.ips.dedup();
        if let Some(hostname) = self.hostname.take() {
            let hostname = hostname.trim_end_matches('.').to_lowercase();
            self.hostname = (!hostname.is_empty()).then_some(hostname);
        }
        for service in &mut self.services {
            service.port = service.port.filter(|port| *port != 0);
        }
        self.services.sort_unstable();
        self.services.dedup();
        if let Some(detail) = &mut self.detail {
            detail.normalise();
        }
    }
}

impl MdnsService {
    /// Checks the lengths of every field and the TXT entry count.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        check_text(
            "instance",
            &self.instance,
            limits::MAX_SERVICE_NAME_LEN,
            true,
        )?;
        check_text(
            "service_type",
            &self.service_type,
            limits::MAX_SERVICE_NAME_LEN,
            false,
        )?;
        if self.service_type.is_empty() {
            return Err(InvalidMessage::new("service_type", Invalid::Empty));
        }
        check_count("txt", self.txt.len(), limits::MAX_TXT_ENTRIES)?;
        for (key, value) in &self.txt {
            check_text("txt.key", key, limits::MAX_TXT_KEY_LEN, false)?;
            if key.is_empty() {
                return Err(InvalidMessage::new("txt.key", Invalid::Empty));
            }
            if let Some(value) = value {
                check_text("txt.value", value, limits::MAX_TXT_VALUE_LEN, true)?;
            }
        }
        Ok(())
    }
}

/// A MAC address that can stand for a device: unicast, not all-zero.
pub(crate) fn check_device_mac(path: &str, mac: MacAddr) -> Result<(), InvalidMessage> {
    if mac.is_multicast() {
        return Err(InvalidMessage::new(path, Invalid::MulticastMac(mac)));
    }
    if mac.is_zero() {
        return Err(InvalidMessage::new(path, Invalid::ZeroMac));
    }
    Ok(())
}

/// Whether a device can hold `ip`: not unspecified, loopback, multicast or limited broadcast.
/// The contract refuses observations carrying any other address, so decoders filter with it.
pub fn is_device_ip(ip: IpAddr) -> bool {
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()))
}

fn check_device_ip(path: &str, ip: IpAddr) -> Result<(), InvalidMessage> {
    if !is_device_ip(ip) {
        return Err(InvalidMessage::new(path, Invalid::UnusableAddress(ip)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor() -> Observation {
        let mut observation = Observation::new(
            "00:09:5c:11:22:01".parse().unwrap(),
            "2026-11-25T10:00:00Z".parse().unwrap(),
            Source::Mdns,
        );
        observation.ips = vec!["198.18.0.11".parse().unwrap()];
        observation.interface = "eth0".into();
        observation.hostname = Some("MON-ICU-01.local.".into());
        observation.services = vec![MdnsService {
            instance: "MON-ICU-01._http._tcp.local.".into(),
            service_type: "_http._tcp.local.".into(),
            port: Some(80),
            txt: BTreeMap::from([
                ("md".into(), Some("IntelliVue MX450".into())),
                ("hidden".into(), None),
            ]),
        }];
        observation
    }

    #[test]
    fn a_well_formed_observation_passes() {
        assert_eq!(monitor().check(), Ok(()));
    }

    #[test]
    fn normalise_sorts_dedups_and_lowercases() {
        let mut observation = monitor();
        observation.ips = vec![
            "198.18.0.12".parse().unwrap(),
            "198.18.0.11".parse().unwrap(),
            "198.18.0.12".parse().unwrap(),
        ];
        observation.services.push(observation.services[0].clone());
        observation.normalise();
        assert_eq!(
            observation.ips,
            vec![
                "198.18.0.11".parse::<IpAddr>().unwrap(),
                "198.18.0.12".parse().unwrap()
            ]
        );
        assert_eq!(observation.hostname.as_deref(), Some("mon-icu-01.local"));
        assert_eq!(observation.services.len(), 1);

        observation.hostname = Some(".".into());
        observation.normalise();
        assert_eq!(observation.hostname, None);
    }

    #[test]
    fn check_names_each_refused_field() {
        type Mutation = fn(&mut Observation);
        let cases: &[(Mutation, &str)] = &[
            (
                |o| o.mac = "01:00:5e:00:00:fb".parse().unwrap(),
                "mac: 01:00:5e:00:00:fb is a multicast or broadcast address, not a device",
            ),
            (
                |o| o.mac = MacAddr::ZERO,
                "mac: the all-zero MAC address does not name a device",
            ),
            (
                |o| o.ips = vec!["0.0.0.0".parse().unwrap()],
                "ips[0]: 0.0.0.0 cannot be the address of a device",
            ),
            (
                |o| o.ips.push("224.0.0.251".parse().unwrap()),
                "ips[1]: 224.0.0.251 cannot be the address of a device",
            ),
            (
                |o| o.ips = vec!["198.18.0.1".parse().unwrap(); 33],
                "ips: 33 entries exceed the limit of 32",
            ),
            (
                |o| o.hostname = Some("a".repeat(254)),
                "hostname: 254 bytes exceed the limit of 253",
            ),
            (
                |o| o.hostname = Some("evil\u{1b}[2Jhost".into()),
                "hostname: contains a control character",
            ),
            (
                |o| o.interface = "eth0\n".into(),
                "interface: contains a control character",
            ),
            (
                |o| o.services[0].service_type.clear(),
                "services[0].service_type: must not be empty",
            ),
            (
                |o| {
                    o.services[0].txt.insert("k".into(), Some("v".repeat(513)));
                },
                "services[0].txt.value: 513 bytes exceed the limit of 512",
            ),
            (
                |o| o.services = vec![o.services[0].clone(); 65],
                "services: 65 entries exceed the limit of 64",
            ),
        ];
        for (mutate, expected) in cases {
            let mut observation = monitor();
            mutate(&mut observation);
            let error = observation.check().unwrap_err();
            assert_eq!(error.to_string(), *expected);
        }
    }

    #[test]
    fn json_form_is_stable_and_strict() {
        let json = serde_json::to_string(&monitor()).unwrap();
        assert_eq!(
            json,
            r#"{"mac":"00:09:5c:11:22:01","ips":["198.18.0.11"],"seen_at":"2026-11-25T10:00:00Z","source":"mdns","interface":"eth0","hostname":"MON-ICU-01.local.","services":[{"instance":"MON-ICU-01._http._tcp.local.","service_type":"_http._tcp.local.","port":80,"txt":{"hidden":null,"md":"IntelliVue MX450"}}]}"#
        );
        assert_eq!(
            serde_json::from_str::<Observation>(&json).unwrap(),
            monitor()
        );
        let unknown_field = json.replace("\"interface\"", "\"colour\":1,\"interface\"");
        assert!(serde_json::from_str::<Observation>(&unknown_field).is_err());
    }

    #[test]
    fn source_names_round_trip() {
        for source in Source::ALL {
            assert_eq!(source.as_str().parse::<Source>(), Ok(source));
        }
        assert!("carrier_pigeon".parse::<Source>().is_err());
    }
}
