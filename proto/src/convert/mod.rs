//! Conversions between the wire messages (`pb`) and the domain types.
//!
//! Wire → domain is `TryFrom`: structural errors (wrong byte lengths, missing fields, unknown enum
//! values) and every domain invariant (`check`) are refused with an [`InvalidMessage`] naming the
//! field. Domain → wire is infallible. Counts are checked before anything is allocated for them,
//! so a hostile message cannot make the receiver build large values.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use jiff::Timestamp;

use hygie_domain::{
    AgentHello, AgentInterface, Invalid, InvalidMessage, MacAddr, MdnsService, Observation,
    ObservationBatch, OutboxId, Source, check_count, check_sequence, limits,
};

use crate::pb;

mod details;
mod fit;
mod policy;

pub use fit::encode_observation;

impl From<Source> for pb::Source {
    fn from(source: Source) -> Self {
        match source {
            Source::ArpPassive => pb::Source::ArpPassive,
            Source::ArpActive => pb::Source::ArpActive,
            Source::Mdns => pb::Source::Mdns,
            Source::Dhcp => pb::Source::Dhcp,
            Source::Lldp => pb::Source::Lldp,
            Source::Ssdp => pb::Source::Ssdp,
            Source::CaptureFile => pb::Source::CaptureFile,
            Source::Manual => pb::Source::Manual,
            Source::Cdp => pb::Source::Cdp,
            Source::Netbios => pb::Source::Netbios,
            Source::Llmnr => pb::Source::Llmnr,
            Source::Ipv6Nd => pb::Source::Ipv6Nd,
            Source::Other => pb::Source::Other,
        }
    }
}

fn source_from_wire(value: i32) -> Result<Source, InvalidMessage> {
    let source = match pb::Source::try_from(value) {
        Ok(pb::Source::Unspecified) => {
            return Err(InvalidMessage::new("source", Invalid::UnspecifiedSource));
        }
        Ok(pb::Source::ArpPassive) => Source::ArpPassive,
        Ok(pb::Source::ArpActive) => Source::ArpActive,
        Ok(pb::Source::Mdns) => Source::Mdns,
        Ok(pb::Source::Dhcp) => Source::Dhcp,
        Ok(pb::Source::Lldp) => Source::Lldp,
        Ok(pb::Source::Ssdp) => Source::Ssdp,
        Ok(pb::Source::CaptureFile) => Source::CaptureFile,
        Ok(pb::Source::Manual) => Source::Manual,
        Ok(pb::Source::Cdp) => Source::Cdp,
        Ok(pb::Source::Netbios) => Source::Netbios,
        Ok(pb::Source::Llmnr) => Source::Llmnr,
        Ok(pb::Source::Ipv6Nd) => Source::Ipv6Nd,
        // A newer agent's source: what it saw is still a sighting worth keeping.
        Ok(pb::Source::Other) | Err(_) => Source::Other,
    };
    Ok(source)
}

/// Converts a domain timestamp to the wire form.
pub fn timestamp_to_wire(timestamp: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: timestamp.as_second(),
        nanos: timestamp.subsec_nanosecond(),
    }
}

/// Converts a wire timestamp, refusing values outside the representable range.
pub fn timestamp_from_wire(
    path: &str,
    timestamp: Option<prost_types::Timestamp>,
) -> Result<Timestamp, InvalidMessage> {
    let timestamp = timestamp.ok_or_else(|| InvalidMessage::new(path, Invalid::Missing))?;
    Timestamp::new(timestamp.seconds, timestamp.nanos)
        .map_err(|_| InvalidMessage::new(path, Invalid::TimestampRange))
}

pub(crate) fn mac_from_wire(path: &str, bytes: &[u8]) -> Result<MacAddr, InvalidMessage> {
    MacAddr::from_slice(bytes)
        .ok_or_else(|| InvalidMessage::new(path, Invalid::MacLength(bytes.len())))
}

/// An address of the given family: 4 bytes for IPv4, 16 for IPv6.
pub(crate) fn ip_of_len(
    path: &str,
    bytes: &[u8],
    expected: usize,
) -> Result<IpAddr, InvalidMessage> {
    if bytes.len() != expected {
        let got = bytes.len();
        return Err(InvalidMessage::new(
            path,
            Invalid::AddressLength { expected, got },
        ));
    }
    ip_from_wire(path, bytes)
}

/// An address of either family, told apart by its length.
pub(crate) fn ip_from_wire(path: &str, bytes: &[u8]) -> Result<IpAddr, InvalidMessage> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Ok(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(bytes)
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
        .map_err(|_| {
            InvalidMessage::new(
                path,
                Invalid::AddressLength {
                    expected: 4,
                    got: bytes.len(),
                },
            )
        })
}

pub(crate) fn ip_to_wire(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

impl TryFrom<pb::Observation> for Observation {
    type Error = InvalidMessage;

    fn try_from(wire: pb::Observation) -> Result<Self, Self::Error> {
        let mac = mac_from_wire("mac", &wire.mac)?;
        check_count(
            "ips",
            wire.ipv4.len() + wire.ipv6.len(),
            limits::MAX_ADDRESSES,
        )?;
        let mut ips = Vec::with_capacity(wire.ipv4.len() + wire.ipv6.len());
        for (index, bytes) in wire.ipv4.iter().enumerate() {
            ips.push(ip_of_len(&format!("ipv4[{index}]"), bytes, 4)?);
        }
        for (index, bytes) in wire.ipv6.iter().enumerate() {
            ips.push(ip_of_len(&format!("ipv6[{index}]"), bytes, 16)?);
        }
        check_count("services", wire.services.len(), limits::MAX_SERVICES)?;
        let services = wire
            .services
            .into_iter()
            .enumerate()
            .map(|(index, service)| {
                service_from_wire(service).map_err(|e| e.within(format_args!("services[{index}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut observation = Observation {
            mac,
            ips,
            seen_at: timestamp_from_wire("seen_at", wire.seen_at)?,
            source: source_from_wire(wire.source)?,
            interface: wire.interface,
            hostname: Some(wire.hostname).filter(|name| !name.is_empty()),
            services,
            detail: wire
                .detail
                .map(details::detail_from_wire)
                .transpose()
                .map_err(|error| error.within("detail"))?,
        };
        // Normalise first: lower-casing can lengthen a name, and the limits apply to what is kept.
        observation.normalise();
        observation.check()?;
        Ok(observation)
    }
}

fn service_from_wire(wire: pb::MdnsService) -> Result<MdnsService, InvalidMessage> {
    check_count("txt", wire.txt.len(), limits::MAX_TXT_ENTRIES)?;
    let port = u16::try_from(wire.port)
        .map_err(|_| InvalidMessage::new("port", Invalid::PortRange(wire.port)))?;
    let port = (port != 0).then_some(port);
    let mut txt = BTreeMap::new();
    for entry in wire.txt {
        let value = (!entry.flag).then_some(entry.value);
        // RFC 6763 §6.4: a key that appears twice keeps its first value.
        txt.entry(entry.key).or_insert(value);
    }
    Ok(MdnsService {
        instance: wire.instance,
        service_type: wire.service_type,
        port,
        txt,
    })
}

impl From<&Observation> for pb::Observation {
    fn from(observation: &Observation) -> Self {
        let (ipv4, ipv6) = observation
            .ips
            .iter()
            .partition::<Vec<IpAddr>, _>(|ip| ip.is_ipv4());
        pb::Observation {
            mac: observation.mac.octets().to_vec(),
            ipv4: ipv4.into_iter().map(ip_to_wire).collect(),
            ipv6: ipv6.into_iter().map(ip_to_wire).collect(),
            seen_at: Some(timestamp_to_wire(observation.seen_at)),
            source: pb::Source::from(observation.source).into(),
            interface: observation.interface.clone(),
            hostname: observation.hostname.clone().unwrap_or_default(),
            services: observation
                .services
                .iter()
                .map(|service| pb::MdnsService {
                    instance: service.instance.clone(),
                    service_type: service.service_type.clone(),
                    port: service.port.map_or(0, u32::from),
                    txt: service
                        .txt
                        .iter()
                        .map(|(key, value)| pb::TxtEntry {
                            key: key.clone(),
                            value: value.clone().unwrap_or_default(),
                            flag: value.is_none(),
                        })
                        .collect(),
                })
                .collect(),
            detail: observation.detail.as_ref().map(details::detail_to_wire),
        }
    }
}

impl TryFrom<pb::ObservationBatch> for ObservationBatch {
    type Error = InvalidMessage;

    fn try_from(wire: pb::ObservationBatch) -> Result<Self, Self::Error> {
        check_sequence(wire.sequence)?;
        check_count(
            "observations",
            wire.observations.len(),
            limits::MAX_BATCH_OBSERVATIONS,
        )?;
        let observations = wire
            .observations
            .into_iter()
            .enumerate()
            .map(|(index, observation)| {
                Observation::try_from(observation)
                    .map_err(|e| e.within(format_args!("observations[{index}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let batch = ObservationBatch {
            sequence: wire.sequence,
            observations,
        };
        batch.check()?;
        Ok(batch)
    }
}

impl From<&ObservationBatch> for pb::ObservationBatch {
    fn from(batch: &ObservationBatch) -> Self {
        pb::ObservationBatch {
            sequence: batch.sequence,
            observations: batch.observations.iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::Hello> for AgentHello {
    type Error = InvalidMessage;

    fn try_from(wire: pb::Hello) -> Result<Self, Self::Error> {
        let outbox_id = OutboxId::from_slice(&wire.outbox_id).ok_or_else(|| {
            InvalidMessage::new(
                "outbox_id",
                Invalid::IdLength {
                    expected: OutboxId::LEN,
                    got: wire.outbox_id.len(),
                },
            )
        })?;
        check_count("interfaces", wire.interfaces.len(), limits::MAX_INTERFACES)?;
        let interfaces = wire
            .interfaces
            .into_iter()
            .enumerate()
            .map(|(index, interface)| {
                interface_from_wire(interface)
                    .map_err(|e| e.within(format_args!("interfaces[{index}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let hello = AgentHello {
            agent_version: wire.agent_version,
            hostname: wire.hostname,
            interfaces,
            outbox_id,
        };
        hello.check()?;
        Ok(hello)
    }
}

fn interface_from_wire(wire: pb::AgentInterface) -> Result<AgentInterface, InvalidMessage> {
    let mac = if wire.mac.is_empty() {
        None
    } else {
        Some(mac_from_wire("mac", &wire.mac)?)
    };
    check_count(
        "networks",
        wire.networks.len(),
        limits::MAX_INTERFACE_NETWORKS,
    )?;
    let networks = wire
        .networks
        .iter()
        .enumerate()
        .map(|(index, network)| network_from_wire(&format!("networks[{index}]"), network))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AgentInterface {
        name: wire.name,
        mac,
        networks,
    })
}

/// An address with its prefix, e.g. `198.18.0.0/24`.
pub(crate) fn network_from_wire(path: &str, wire: &pb::IpNetwork) -> Result<IpNet, InvalidMessage> {
    let address = ip_from_wire(path, &wire.address)?;
    u8::try_from(wire.prefix_len)
        .ok()
        .and_then(|prefix_len| IpNet::new(address, prefix_len).ok())
        .ok_or_else(|| {
            InvalidMessage::new(
                path,
                Invalid::PrefixLength {
                    address,
                    prefix_len: wire.prefix_len,
                },
            )
        })
}

pub(crate) fn network_to_wire(network: &IpNet) -> pb::IpNetwork {
    pb::IpNetwork {
        address: ip_to_wire(network.addr()),
        prefix_len: network.prefix_len().into(),
    }
}

impl From<&AgentHello> for pb::Hello {
    fn from(hello: &AgentHello) -> Self {
        pb::Hello {
            agent_version: hello.agent_version.clone(),
            hostname: hello.hostname.clone(),
            interfaces: hello
                .interfaces
                .iter()
                .map(|interface| pb::AgentInterface {
                    name: interface.name.clone(),
                    mac: interface
                        .mac
                        .map(|mac| mac.octets().to_vec())
                        .unwrap_or_default(),
                    networks: interface.networks.iter().map(network_to_wire).collect(),
                })
                .collect(),
            outbox_id: hello.outbox_id.0.to_vec(),
        }
    }
}
