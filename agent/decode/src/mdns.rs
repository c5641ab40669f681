//! mDNS / DNS-SD messages (the DNS part; [`crate::ip`] decodes the IP and UDP headers).
//!
//! Used on live captures (announcements heard passively, and the answers to the agent's own
//! queries) and on capture files. The frame's source MAC is the sender's own, since mDNS is
//! link-local multicast that no router forwards, so a response ties its records to a device.
//!
//! Everything in a packet is device-supplied and untrusted: names are cleaned of control
//! characters and clamped to the contract's limits, and counts are bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hygie_domain::text::{clean_hostname, clean_label, clean_value};
use hygie_domain::{MdnsService, is_device_ip, limits};
use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, PacketFlag, ResourceRecord};

/// The mDNS port.
pub const MDNS_PORT: u16 = 5353;
/// The DNS-SD meta-query that enumerates service types, as a fully qualified name.
pub const SERVICE_TYPES: &str = "_services._dns-sd._udp.local.";

/// Why an mDNS message was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed DNS message: {0}")]
pub struct MdnsError(pub String);

/// An mDNS message and who sent it, at the IP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdnsMessage {
    /// The sender's IP address.
    pub source_ip: IpAddr,
    /// True for a response (an announcement or an answer), false for a query.
    pub response: bool,
    /// For a response: what it says about the sender.
    pub about_sender: SenderRecords,
}

/// What a response says about its sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderRecords {
    /// The sender's host name(s), e.g. `mon-icu-01.local`.
    pub hostnames: BTreeSet<String>,
    /// Addresses of those host names (A and AAAA records).
    pub addresses: BTreeSet<IpAddr>,
    /// Services whose SRV record points at one of those host names, and instances heard only
    /// by their TXT record (no port) in a response about the sender alone.
    pub services: Vec<MdnsService>,
}

/// Decodes a DNS message sent by `source_ip`.
pub fn parse_message(source_ip: IpAddr, payload: &[u8]) -> Result<MdnsMessage, MdnsError> {
    let packet = Packet::parse(payload).map_err(|error| MdnsError(error.to_string()))?;
    let response = packet.has_flags(PacketFlag::RESPONSE);
    let about_sender = if response {
        sender_records(
            source_ip,
            packet.answers.iter().chain(&packet.additional_records),
        )
    } else {
        SenderRecords::default()
    };
    Ok(MdnsMessage {
        source_ip,
        response,
        about_sender,
    })
}

/// Gathers a response's records and keeps those about its sender: the host names whose
/// addresses include the source address, and the services on those hosts. Records about other
/// hosts (a sleep proxy, an mDNS gateway answering for others) are not pinned on the sender.
///
/// An instance with a TXT record but no SRV in the message (a Hue bridge's `md=BSB002` sent on
/// its own, Apple's `_device-info._tcp` which never has an SRV) is kept without a port, as long
/// as the message speaks of no host but the sender: then nothing in it is about anyone else.
fn sender_records<'a>(
    source_ip: IpAddr,
    records: impl Iterator<Item = &'a ResourceRecord<'a>>,
) -> SenderRecords {
    let mut host_addresses: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    let mut instance_types: BTreeMap<String, String> = BTreeMap::new();
    let mut srv: BTreeMap<String, (String, u16)> = BTreeMap::new();
    let mut txt: BTreeMap<String, BTreeMap<String, Option<String>>> = BTreeMap::new();

    for record in records.take(256) {
        // Names are read only for the record types kept (most of a response is NSEC, OPT...).
        let name = || name_text(&record.name);
        match &record.rdata {
            RData::A(a) => {
                let ip = IpAddr::V4(Ipv4Addr::from(a.address));
                if is_device_ip(ip)
                    && let Some(host) = clean_hostname(&name())
                {
                    host_addresses.entry(host).or_default().insert(ip);
                }
            }
            RData::AAAA(aaaa) => {
                let ip = IpAddr::V6(Ipv6Addr::from(aaaa.address));
                if is_device_ip(ip)
                    && let Some(host) = clean_hostname(&name())
                {
                    host_addresses.entry(host).or_default().insert(ip);
                }
            }
            RData::PTR(ptr) => {
                let name = name();
                // `_services._dns-sd._udp.local PTR _ipp._tcp.local` only lists types, and
                // reverse-lookup PTRs (`…in-addr.arpa`, `…ip6.arpa`) name hosts, not services.
                let service_type = name.trim_end_matches('.');
                let reverse = service_type.to_ascii_lowercase().ends_with(".arpa");
                let enumeration =
                    service_type.eq_ignore_ascii_case(SERVICE_TYPES.trim_end_matches('.'));
                if !reverse && !enumeration {
                    instance_types.insert(name_text(&ptr.0), service_type.to_owned());
                }
            }
            RData::SRV(record) => {
                if let Some(target) = clean_hostname(&name_text(&record.target)) {
                    srv.insert(name(), (target, record.port));
                }
            }
            RData::TXT(record) => {
                let entries = txt.entry(name()).or_default();
                // Several TXT records for one instance share the contract's entry budget.
                let room = limits::MAX_TXT_ENTRIES.saturating_sub(entries.len());
                for (key, value) in record.iter_raw().take(room) {
                    let Some(key) =
                        clean_label(&String::from_utf8_lossy(key), limits::MAX_TXT_KEY_LEN)
                    else {
                        continue;
                    };
                    // A string without `=` is a flag (RFC 6763 §6.4): no value at all.
                    let value = value.map(|v| {
                        clean_value(&String::from_utf8_lossy(v), limits::MAX_TXT_VALUE_LEN)
                    });
                    // RFC 6763 §6.4: the first occurrence of a key wins.
                    entries.entry(key).or_insert(value);
                }
            }
            _ => {}
        }
    }

    let hostnames: BTreeSet<String> = host_addresses
        .iter()
        .filter(|(_, addresses)| addresses.contains(&source_ip))
        .map(|(host, _)| host.clone())
        .collect();
    let mut addresses: BTreeSet<IpAddr> = hostnames
        .iter()
        .filter_map(|host| host_addresses.get(host))
        .flatten()
        .copied()
        .collect();
    if is_device_ip(source_ip) {
        addresses.insert(source_ip);
    }

    let service = |instance: &String, port: Option<u16>| {
        let service_type = instance_types
            .get(instance)
            .cloned()
            .or_else(|| type_of_instance(instance))?;
        Some(MdnsService {
            instance: clean_value(instance, limits::MAX_SERVICE_NAME_LEN),
            service_type: clean_label(&service_type, limits::MAX_SERVICE_NAME_LEN)?,
            port,
            txt: txt.get(instance).cloned().unwrap_or_default(),
        })
    };
    let mut services: Vec<MdnsService> = srv
        .iter()
        .filter(|(_, (target, _))| hostnames.contains(target))
        .filter_map(|(instance, (_, port))| service(instance, Some(*port)))
        .collect();
    let only_about_sender = host_addresses.keys().all(|host| hostnames.contains(host))
        && srv.values().all(|(target, _)| hostnames.contains(target));
    if only_about_sender {
        services.extend(
            txt.keys()
                .filter(|instance| !srv.contains_key(*instance))
                .filter_map(|instance| service(instance, None)),
        );
    }
    services.truncate(limits::MAX_SERVICES);
    SenderRecords {
        hostnames,
        addresses,
        services,
    }
}

/// A DNS name as text, labels joined by dots, a dot or backslash inside a label escaped with a
/// backslash: what simple-dns's `Display` writes, without the formatting machinery (which took
/// a seventh of a capture replay's time).
pub(crate) fn name_text(name: &Name<'_>) -> String {
    let mut text = String::with_capacity(64);
    for (index, label) in name.as_bytes().enumerate() {
        if index > 0 {
            text.push('.');
        }
        for c in String::from_utf8_lossy(label).chars() {
            if matches!(c, '.' | '\\') {
                text.push('\\');
            }
            text.push(c);
        }
    }
    text
}

/// `Ward 3._ipp._tcp.local` → `_ipp._tcp.local`: the type is the tail starting at the first
/// label that begins with an underscore and is followed by `_tcp` or `_udp`.
fn type_of_instance(instance: &str) -> Option<String> {
    let labels: Vec<&str> = instance.split('.').collect();
    labels
        .windows(2)
        .position(|pair| pair[0].starts_with('_') && matches!(pair[1], "_tcp" | "_udp"))
        .map(|start| labels[start..].join("."))
}

#[cfg(test)]
mod tests;
