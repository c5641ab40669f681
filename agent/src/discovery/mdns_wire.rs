//! mDNS / DNS-SD as heard on the wire: IP and UDP headers, then the DNS message (simple-dns).
//!
//! Used on live captures (announcements heard passively, and the answers to the agent's own
//! queries) and on capture files. The frame's source MAC is the sender's own, since mDNS is
//! link-local multicast that no router forwards, so a response ties its records to a device.
//!
//! Everything in a packet is device-supplied and untrusted: names are cleaned of control
//! characters and clamped to the contract's limits, and counts are bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hygie_proto::{MdnsService, is_device_ip, limits};
use simple_dns::rdata::RData;
use simple_dns::{Packet, PacketFlag, ResourceRecord};

use super::frame::{ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use super::text::{clean_hostname, clean_label, clean_value};

/// The mDNS port.
pub const MDNS_PORT: u16 = 5353;
/// The DNS-SD meta-query that enumerates service types, as a fully qualified name.
pub const SERVICE_TYPES: &str = "_services._dns-sd._udp.local.";

/// Why an mDNS packet was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MdnsError {
    #[error("IP packet truncated or malformed: {0}")]
    Ip(&'static str),
    #[error("malformed DNS message: {0}")]
    Dns(String),
}

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
    /// Services whose SRV record points at one of those host names.
    pub services: Vec<MdnsService>,
}

/// Decodes an IPv4 or IPv6 packet carrying UDP to or from port 5353; `Ok(None)` for anything
/// else.
pub fn parse_ip_packet(ethertype: u16, packet: &[u8]) -> Result<Option<MdnsMessage>, MdnsError> {
    let (source_ip, udp) = match ethertype {
        ETHERTYPE_IPV4 => match ipv4_udp(packet)? {
            Some(found) => found,
            None => return Ok(None),
        },
        ETHERTYPE_IPV6 => match ipv6_udp(packet)? {
            Some(found) => found,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let header = udp.get(..8).ok_or(MdnsError::Ip("UDP header truncated"))?;
    let source_port = u16::from_be_bytes([header[0], header[1]]);
    let destination_port = u16::from_be_bytes([header[2], header[3]]);
    if source_port != MDNS_PORT && destination_port != MDNS_PORT {
        return Ok(None);
    }
    let udp_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let payload_end = udp_len.clamp(8, udp.len());
    parse_message(source_ip, &udp[8..payload_end]).map(Some)
}

fn ipv4_udp(packet: &[u8]) -> Result<Option<(IpAddr, &[u8])>, MdnsError> {
    let header = packet
        .get(..20)
        .ok_or(MdnsError::Ip("IPv4 header truncated"))?;
    if header[0] >> 4 != 4 {
        return Err(MdnsError::Ip("not IPv4"));
    }
    let header_len = usize::from(header[0] & 0x0f) * 4;
    if header_len < 20 {
        return Err(MdnsError::Ip("IPv4 header length below 20"));
    }
    // A non-first fragment carries no UDP header.
    let fragment_offset = u16::from_be_bytes([header[6], header[7]]) & 0x1fff;
    if header[9] != 17 || fragment_offset != 0 {
        return Ok(None);
    }
    if header_len > packet.len() {
        return Err(MdnsError::Ip("IPv4 header longer than the packet"));
    }
    let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let end = total_len.clamp(header_len, packet.len());
    let udp = packet
        .get(header_len..end)
        .ok_or(MdnsError::Ip("IPv4 payload truncated"))?;
    let source = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
    Ok(Some((IpAddr::V4(source), udp)))
}

fn ipv6_udp(packet: &[u8]) -> Result<Option<(IpAddr, &[u8])>, MdnsError> {
    let header = packet
        .get(..40)
        .ok_or(MdnsError::Ip("IPv6 header truncated"))?;
    if header[0] >> 4 != 6 {
        return Err(MdnsError::Ip("not IPv6"));
    }
    // Extension headers are not followed: mDNS senders do not use them.
    if header[6] != 17 {
        return Ok(None);
    }
    let payload_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let end = (40 + payload_len).min(packet.len());
    let mut source = [0u8; 16];
    source.copy_from_slice(&header[8..24]);
    Ok(Some((IpAddr::V6(Ipv6Addr::from(source)), &packet[40..end])))
}

/// Decodes a DNS message sent by `source_ip`.
pub fn parse_message(source_ip: IpAddr, payload: &[u8]) -> Result<MdnsMessage, MdnsError> {
    let packet = Packet::parse(payload).map_err(|error| MdnsError::Dns(error.to_string()))?;
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
fn sender_records<'a>(
    source_ip: IpAddr,
    records: impl Iterator<Item = &'a ResourceRecord<'a>>,
) -> SenderRecords {
    let mut host_addresses: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    let mut instance_types: BTreeMap<String, String> = BTreeMap::new();
    let mut srv: BTreeMap<String, (String, u16)> = BTreeMap::new();
    let mut txt: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();

    for record in records.take(256) {
        let name = record.name.to_string();
        match &record.rdata {
            RData::A(a) => {
                let ip = IpAddr::V4(Ipv4Addr::from(a.address));
                if let Some(host) = clean_hostname(&name).filter(|_| is_device_ip(ip)) {
                    host_addresses.entry(host).or_default().insert(ip);
                }
            }
            RData::AAAA(aaaa) => {
                let ip = IpAddr::V6(Ipv6Addr::from(aaaa.address));
                if let Some(host) = clean_hostname(&name).filter(|_| is_device_ip(ip)) {
                    host_addresses.entry(host).or_default().insert(ip);
                }
            }
            RData::PTR(ptr) => {
                // `_services._dns-sd._udp.local PTR _ipp._tcp.local` only lists types, and
                // reverse-lookup PTRs (`…in-addr.arpa`, `…ip6.arpa`) name hosts, not services.
                let service_type = name.trim_end_matches('.');
                let reverse = service_type.to_ascii_lowercase().ends_with(".arpa");
                let enumeration =
                    service_type.eq_ignore_ascii_case(SERVICE_TYPES.trim_end_matches('.'));
                if !reverse && !enumeration {
                    instance_types.insert(ptr.0.to_string(), service_type.to_owned());
                }
            }
            RData::SRV(record) => {
                if let Some(target) = clean_hostname(&record.target.to_string()) {
                    srv.insert(name, (target, record.port));
                }
            }
            RData::TXT(record) => {
                let entries = txt.entry(name).or_default();
                // Several TXT records for one instance share the contract's entry budget.
                let room = limits::MAX_TXT_ENTRIES.saturating_sub(entries.len());
                for (key, value) in record.iter_raw().take(room) {
                    let Some(key) =
                        clean_label(&String::from_utf8_lossy(key), limits::MAX_TXT_KEY_LEN)
                    else {
                        continue;
                    };
                    let value = value
                        .map(|v| {
                            clean_value(&String::from_utf8_lossy(v), limits::MAX_TXT_VALUE_LEN)
                        })
                        .unwrap_or_default();
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

    let services = srv
        .iter()
        .filter(|(_, (target, _))| hostnames.contains(target))
        .filter_map(|(instance, (_, port))| {
            let service_type = instance_types
                .get(instance)
                .cloned()
                .or_else(|| type_of_instance(instance))?;
            Some(MdnsService {
                instance: clean_value(instance, limits::MAX_SERVICE_NAME_LEN),
                service_type: clean_label(&service_type, limits::MAX_SERVICE_NAME_LEN)?,
                port: *port,
                txt: txt.get(instance).cloned().unwrap_or_default(),
            })
        })
        .take(limits::MAX_SERVICES)
        .collect();
    SenderRecords {
        hostnames,
        addresses,
        services,
    }
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
