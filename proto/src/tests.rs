//! Wire ⇄ domain conversions: round trips and every reason a message is refused.

use std::collections::BTreeMap;

use crate::pb;
use crate::*;

fn wire_observation() -> pb::Observation {
    pb::Observation {
        mac: vec![0x00, 0x09, 0x5c, 0x11, 0x22, 0x01],
        ipv4: vec![vec![198, 18, 0, 11]],
        ipv6: vec![vec![0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
        seen_at: Some(prost_types::Timestamp {
            seconds: 1_795_000_000,
            nanos: 5,
        }),
        source: pb::Source::ArpPassive.into(),
        interface: "eth0".into(),
        hostname: "Mon-ICU-01.local.".into(),
        services: vec![pb::MdnsService {
            instance: "Mon ICU 01._http._tcp.local.".into(),
            service_type: "_http._tcp.local.".into(),
            port: 80,
            txt: vec![
                pb::TxtEntry {
                    key: "md".into(),
                    value: "MX450".into(),
                    flag: false,
                },
                pb::TxtEntry {
                    key: "md".into(),
                    value: "ignored duplicate".into(),
                    flag: false,
                },
                pb::TxtEntry {
                    key: "hidden".into(),
                    value: String::new(),
                    flag: true,
                },
            ],
        }],
        detail: None,
    }
}

fn wire_batch(observations: usize) -> pb::ObservationBatch {
    pb::ObservationBatch {
        sequence: 7,
        observations: vec![wire_observation(); observations],
    }
}

fn refusal(result: Result<impl std::fmt::Debug, InvalidMessage>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn observation_converts_and_normalises() {
    let observation = Observation::try_from(wire_observation()).unwrap();
    assert_eq!(observation.mac.to_string(), "00:09:5c:11:22:01");
    assert_eq!(
        observation.ips,
        vec![
            "198.18.0.11".parse::<std::net::IpAddr>().unwrap(),
            "fe80::1".parse().unwrap()
        ]
    );
    assert_eq!(observation.hostname.as_deref(), Some("mon-icu-01.local"));
    assert_eq!(observation.source, Source::ArpPassive);
    assert_eq!(observation.seen_at.as_second(), 1_795_000_000);
    assert_eq!(observation.seen_at.subsec_nanosecond(), 5);
    assert_eq!(
        observation.services[0].txt,
        BTreeMap::from([
            ("hidden".to_string(), None),
            ("md".to_string(), Some("MX450".to_string()))
        ]),
        "a repeated TXT key keeps its first value; a flag has no value"
    );
}

#[test]
fn observation_round_trips_through_the_wire() {
    let domain = Observation::try_from(wire_observation()).unwrap();
    let again = Observation::try_from(pb::Observation::from(&domain)).unwrap();
    assert_eq!(again, domain);
}

#[test]
fn empty_hostname_on_the_wire_means_none() {
    let mut wire = wire_observation();
    wire.hostname.clear();
    assert_eq!(Observation::try_from(wire).unwrap().hostname, None);
}

#[test]
fn every_observation_refusal_names_its_field() {
    type Mutation = fn(&mut pb::Observation);
    let cases: &[(Mutation, &str)] = &[
        (
            |o| o.mac = vec![1, 2, 3],
            "mac: expected a 6-byte MAC address, got 3 bytes",
        ),
        (
            |o| o.mac = vec![0; 8],
            "mac: expected a 6-byte MAC address, got 8 bytes",
        ),
        (
            |o| o.mac = vec![0xff; 6],
            "mac: ff:ff:ff:ff:ff:ff is a multicast or broadcast address, not a device",
        ),
        (
            |o| o.mac = vec![0x01, 0x00, 0x5e, 0, 0, 0xfb],
            "mac: 01:00:5e:00:00:fb is a multicast or broadcast address, not a device",
        ),
        (
            |o| o.mac = vec![0; 6],
            "mac: the all-zero MAC address does not name a device",
        ),
        (
            |o| o.ipv4 = vec![vec![198, 18, 0]],
            "ipv4[0]: expected 4 address bytes, got 3",
        ),
        (
            |o| o.ipv6 = vec![vec![0; 4]],
            "ipv6[0]: expected 16 address bytes, got 4",
        ),
        (
            |o| o.ipv4 = vec![vec![198, 18, 0, 1]; 40],
            "ips: 41 entries exceed the limit of 32",
        ),
        (
            |o| o.ipv4 = vec![vec![0, 0, 0, 0]],
            "ips[0]: 0.0.0.0 cannot be the address of a device",
        ),
        (
            |o| o.ipv4 = vec![vec![255, 255, 255, 255]],
            "ips[0]: 255.255.255.255 cannot be the address of a device",
        ),
        (|o| o.seen_at = None, "seen_at: missing"),
        (
            |o| {
                o.seen_at = Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 0,
                })
            },
            "seen_at: timestamp out of range",
        ),
        (
            |o| o.source = pb::Source::Unspecified.into(),
            "source: source is unspecified",
        ),
        (
            |o| o.interface = "x".repeat(65),
            "interface: 65 bytes exceed the limit of 64",
        ),
        (
            |o| o.hostname = "h".repeat(300),
            "hostname: 300 bytes exceed the limit of 253",
        ),
        (
            |o| o.hostname = "bad\u{7}bell".into(),
            "hostname: contains a control character",
        ),
        (
            |o| o.services = vec![o.services[0].clone(); 65],
            "services: 65 entries exceed the limit of 64",
        ),
        (
            |o| o.services[0].port = 70_000,
            "services[0].port: port 70000 is out of range",
        ),
        (
            |o| o.services[0].instance = "i".repeat(256),
            "services[0].instance: 256 bytes exceed the limit of 255",
        ),
        (
            |o| {
                o.services[0].txt = (0..65)
                    .map(|i| pb::TxtEntry {
                        key: format!("k{i}"),
                        value: String::new(),
                        flag: false,
                    })
                    .collect()
            },
            "services[0].txt: 65 entries exceed the limit of 64",
        ),
        (
            |o| o.services[0].txt[0].key = "k\0".into(),
            "services[0].txt.key: contains a control character",
        ),
    ];
    for (mutate, expected) in cases {
        let mut wire = wire_observation();
        mutate(&mut wire);
        assert_eq!(refusal(Observation::try_from(wire)), *expected);
    }
}

#[test]
fn batch_refusals_name_the_observation() {
    assert_eq!(
        ObservationBatch::try_from(wire_batch(3))
            .unwrap()
            .observations
            .len(),
        3
    );

    let mut zero = wire_batch(1);
    zero.sequence = 0;
    assert_eq!(
        refusal(ObservationBatch::try_from(zero)),
        "sequence: sequence numbers start at 1"
    );
    let mut huge = wire_batch(1);
    huge.sequence = u64::MAX;
    assert_eq!(
        refusal(ObservationBatch::try_from(huge)),
        "sequence: sequence 18446744073709551615 exceeds 2^63 - 1"
    );
    assert_eq!(
        refusal(ObservationBatch::try_from(wire_batch(0))),
        "observations: must not be empty"
    );
    assert_eq!(
        refusal(ObservationBatch::try_from(wire_batch(
            limits::MAX_BATCH_OBSERVATIONS + 1
        ))),
        "observations: 5001 entries exceed the limit of 5000"
    );

    let mut bad = wire_batch(3);
    bad.observations[2].mac.pop();
    let error = ObservationBatch::try_from(bad).unwrap_err();
    assert_eq!(error.path(), "observations[2].mac");
    assert_eq!(error.reason, Invalid::MacLength(5));
}

fn wire_hello() -> pb::Hello {
    pb::Hello {
        agent_version: "0.1.0".into(),
        hostname: "agent-ward3".into(),
        interfaces: vec![pb::AgentInterface {
            name: "eth0".into(),
            mac: vec![0x02, 0, 0, 0, 0, 1],
            networks: vec![pb::IpNetwork {
                address: vec![198, 18, 0, 2],
                prefix_len: 24,
            }],
        }],
        outbox_id: vec![7; 16],
    }
}

#[test]
fn hello_converts_and_round_trips() {
    let hello = AgentHello::try_from(wire_hello()).unwrap();
    assert_eq!(hello.interfaces[0].networks[0].to_string(), "198.18.0.2/24");
    assert_eq!(hello.outbox_id.to_string(), "07".repeat(16));
    assert_eq!(
        AgentHello::try_from(pb::Hello::from(&hello)).unwrap(),
        hello
    );
}

#[test]
fn every_hello_refusal_names_its_field() {
    type Mutation = fn(&mut pb::Hello);
    let cases: &[(Mutation, &str)] = &[
        (
            |h| h.outbox_id = vec![1; 3],
            "outbox_id: expected 16 bytes, got 3",
        ),
        (
            |h| h.interfaces[0].mac = vec![1; 4],
            "interfaces[0].mac: expected a 6-byte MAC address, got 4 bytes",
        ),
        (
            |h| h.interfaces[0].networks[0].prefix_len = 33,
            "interfaces[0].networks[0]: prefix length 33 is out of range for 198.18.0.2",
        ),
        (
            |h| h.interfaces[0].networks[0].address = vec![1, 2, 3],
            "interfaces[0].networks[0]: expected 4 address bytes, got 3",
        ),
        (
            |h| h.interfaces = vec![h.interfaces[0].clone(); 65],
            "interfaces: 65 entries exceed the limit of 64",
        ),
        (
            |h| h.hostname = "\u{1b}]0;pwned\u{7}".into(),
            "hostname: contains a control character",
        ),
        (
            |h| h.agent_version = "v".repeat(256),
            "agent_version: 256 bytes exceed the limit of 255",
        ),
    ];
    for (mutate, expected) in cases {
        let mut wire = wire_hello();
        mutate(&mut wire);
        assert_eq!(refusal(AgentHello::try_from(wire)), *expected);
    }
}

/// The `Observation` message as agents before protocol details encoded it (hygie.v1 with
/// fields 1-8, TXT entries without the flag), written out by hand so the test keeps meaning
/// what it says whatever the current schema becomes.
mod old_schema {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct TxtEntry {
        #[prost(string, tag = "1")]
        pub(super) key: String,
        #[prost(string, tag = "2")]
        pub(super) value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct MdnsService {
        #[prost(string, tag = "1")]
        pub(super) instance: String,
        #[prost(string, tag = "2")]
        pub(super) service_type: String,
        #[prost(uint32, tag = "3")]
        pub(super) port: u32,
        #[prost(message, repeated, tag = "4")]
        pub(super) txt: Vec<TxtEntry>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Observation {
        #[prost(bytes = "vec", tag = "1")]
        pub(super) mac: Vec<u8>,
        #[prost(bytes = "vec", repeated, tag = "2")]
        pub(super) ipv4: Vec<Vec<u8>>,
        #[prost(bytes = "vec", repeated, tag = "3")]
        pub(super) ipv6: Vec<Vec<u8>>,
        #[prost(message, optional, tag = "4")]
        pub(super) seen_at: Option<prost_types::Timestamp>,
        #[prost(int32, tag = "5")]
        pub(super) source: i32,
        #[prost(string, tag = "6")]
        pub(super) interface: String,
        #[prost(string, tag = "7")]
        pub(super) hostname: String,
        #[prost(message, repeated, tag = "8")]
        pub(super) services: Vec<MdnsService>,
    }
}

fn old_agent_observation(source: i32) -> Vec<u8> {
    use prost::Message as _;
    old_schema::Observation {
        mac: vec![0x00, 0x21, 0xb7, 0x11, 0x22, 0x12],
        ipv4: vec![vec![198, 18, 0, 51]],
        ipv6: Vec::new(),
        seen_at: Some(prost_types::Timestamp {
            seconds: 1_795_000_000,
            nanos: 0,
        }),
        source,
        interface: "eth0".into(),
        hostname: "lexmark-ward3.local".into(),
        services: vec![old_schema::MdnsService {
            instance: "Lexmark._ipp._tcp.local".into(),
            service_type: "_ipp._tcp.local".into(),
            port: 631,
            txt: vec![old_schema::TxtEntry {
                key: "ty".into(),
                value: "Lexmark MX622ade".into(),
            }],
        }],
    }
    .encode_to_vec()
}

#[test]
fn an_agent_built_before_protocol_details_still_talks_to_this_collector() {
    use prost::Message as _;
    let bytes = old_agent_observation(pb::Source::Mdns.into());
    let wire = pb::Observation::decode(bytes.as_slice()).unwrap();
    let observation = Observation::try_from(wire).unwrap();
    assert_eq!(observation.source, Source::Mdns);
    assert_eq!(observation.detail, None);
    let service = &observation.services[0];
    assert_eq!(service.port, Some(631));
    assert_eq!(service.txt["ty"].as_deref(), Some("Lexmark MX622ade"));
}

#[test]
fn an_unknown_source_from_a_newer_agent_is_kept_as_other() {
    use prost::Message as _;
    let bytes = old_agent_observation(99);
    let observation =
        Observation::try_from(pb::Observation::decode(bytes.as_slice()).unwrap()).unwrap();
    assert_eq!(observation.source, Source::Other);
}

fn details() -> Vec<Detail> {
    vec![
        Detail::Dhcp(DhcpDetails {
            version: DhcpVersion::V4,
            message_type: 1,
            parameter_request_list: vec![1, 3, 6, 12, 15, 28, 42],
            vendor_class: Some("udhcp 1.22.1".into()),
            vendor_enterprise: None,
            client_id: Some("01b0c554255b0e".into()),
            fqdn: None,
            user_class: vec!["ward-3".into()],
            requested_address: Some("198.18.0.41".parse().unwrap()),
        }),
        Detail::Dhcp(DhcpDetails {
            version: DhcpVersion::V6,
            message_type: 1,
            parameter_request_list: vec![23, 24, 39],
            vendor_class: Some("MSFT 5.0".into()),
            vendor_enterprise: Some(311),
            client_id: Some("000100012a".into()),
            fqdn: Some("ws-pharmacy.chu.local".into()),
            user_class: Vec::new(),
            requested_address: None,
        }),
        Detail::Ssdp(SsdpDetails {
            message: SsdpMessage::Notify,
            notification_subtype: Some("ssdp:alive".into()),
            server: Some("Linux/3.14.0 UPnP/1.0 IpBridge/1.9.0".into()),
            user_agent: None,
            notification_type: Some("upnp:rootdevice".into()),
            usn: Some("uuid:2f402f80-da50-11e1-9b23-001788247 6ff::upnp:rootdevice".into()),
            location: Some("http://198.18.0.70:80/description.xml".into()),
        }),
        Detail::Lldp(LldpDetails {
            chassis_id: "00:09:5c:11:22:01".into(),
            port_id: "eth0".into(),
            port_description: Some("LAN".into()),
            system_name: Some("mon-icu-01".into()),
            system_description: Some("IntelliVue MX450".into()),
            capabilities: vec!["station".into()],
            management_addresses: vec!["198.18.0.11".parse().unwrap()],
            med: Some(LldpMed {
                device_class: Some(1),
                hardware_revision: Some("A".into()),
                firmware_revision: Some("M.00.03".into()),
                software_revision: Some("N.01".into()),
                serial_number: Some("DE12345678".into()),
                manufacturer: Some("Philips Medical Systems".into()),
                model: Some("IntelliVue MX450".into()),
                asset_id: Some("BIO-00412".into()),
            }),
        }),
        Detail::Cdp(CdpDetails {
            device_id: Some("SEP805EC0112217".into()),
            platform: Some("Cisco IP Phone 8845".into()),
            software_version: Some("sip88xx.12-8-1".into()),
            port_id: Some("Port 1".into()),
            capabilities: vec!["host".into(), "phone".into()],
            addresses: vec!["198.18.0.63".parse().unwrap()],
            native_vlan: Some(20),
        }),
        Detail::Netbios(NetbiosDetails {
            names: vec![NetbiosName {
                name: "WS-PHARMACY".into(),
                suffix: 0x20,
                group: false,
            }],
            workgroup: Some("CHU".into()),
        }),
        Detail::Nd(NdDetails { router: true }),
    ]
}

#[test]
fn every_detail_round_trips_through_the_wire() {
    for detail in details() {
        let mut wire = wire_observation();
        let mut domain = Observation::try_from(wire.clone()).unwrap();
        domain.detail = Some(detail.clone());
        wire = pb::Observation::from(&domain);
        let again = Observation::try_from(wire).unwrap();
        assert_eq!(again.detail, Some(detail));
    }
}

#[test]
fn detail_refusals_name_their_field() {
    use pb::observation::Detail as Wire;
    type Mutation = fn(&mut Wire);
    let lldp = pb::Observation::from(&{
        let mut observation = Observation::try_from(wire_observation()).unwrap();
        observation.detail = details().into_iter().nth(3);
        observation
    })
    .detail
    .unwrap();
    let cases: &[(Mutation, &str)] = &[
        (
            |d| {
                if let Wire::Lldp(lldp) = d {
                    lldp.capabilities = vec!["x".into(); 33];
                }
            },
            "detail.lldp.capabilities: 33 entries exceed the limit of 32",
        ),
        (
            |d| {
                if let Wire::Lldp(lldp) = d {
                    lldp.management_addresses = vec![vec![1, 2, 3]];
                }
            },
            "detail.lldp.management_addresses[0]: expected 4 address bytes, got 3",
        ),
        (
            |d| {
                if let Wire::Lldp(lldp) = d
                    && let Some(med) = &mut lldp.med
                {
                    med.model = "\u{1b}[2J".into();
                }
            },
            "detail.lldp.med.model: contains a control character",
        ),
        (
            |d| {
                if let Wire::Lldp(lldp) = d
                    && let Some(med) = &mut lldp.med
                {
                    med.device_class = 9;
                }
            },
            "detail.lldp.med.device_class: 9 is out of range",
        ),
    ];
    for (mutate, expected) in cases {
        let mut wire = wire_observation();
        let mut detail = lldp.clone();
        mutate(&mut detail);
        wire.detail = Some(detail);
        assert_eq!(refusal(Observation::try_from(wire)), *expected);
    }
    let mut wire = wire_observation();
    wire.detail = Some(Wire::Dhcp(pb::DhcpDetails {
        version: 5,
        ..pb::DhcpDetails::default()
    }));
    assert_eq!(
        refusal(Observation::try_from(wire)),
        "detail.dhcp.version: 5 is out of range"
    );
    let mut wire = wire_observation();
    wire.detail = Some(Wire::Ssdp(pb::SsdpDetails::default()));
    assert_eq!(
        refusal(Observation::try_from(wire)),
        "detail.ssdp.message: missing"
    );
}

#[test]
fn scan_policies_round_trip_and_refuse_bad_entries() {
    let policy = ScanPolicy {
        version: 7,
        devices: vec![ProtectedDevice {
            mac: "00:09:5c:11:22:01".parse().unwrap(),
            addresses: vec!["198.18.0.11".parse().unwrap(), "fe80::1".parse().unwrap()],
            reason: ProtectionReason::Biomedical,
        }],
        networks: vec!["198.18.4.0/24".parse().unwrap()],
        passive_only: false,
    };
    let wire = pb::ScanPolicy::from(&policy);
    assert_eq!(ScanPolicy::try_from(wire.clone()), Ok(policy));

    let mut bad_mac = wire.clone();
    bad_mac.devices[0].mac = vec![1, 2, 3];
    assert_eq!(
        ScanPolicy::try_from(bad_mac).unwrap_err().to_string(),
        "devices[0].mac: expected a 6-byte MAC address, got 3 bytes"
    );
    let mut bad_network = wire.clone();
    bad_network.networks[0].prefix_len = 33;
    assert!(
        ScanPolicy::try_from(bad_network)
            .unwrap_err()
            .to_string()
            .starts_with("networks[0]")
    );
    let mut newer_reason = wire;
    newer_reason.devices[0].reason = 99;
    let converted = ScanPolicy::try_from(newer_reason).expect("an unknown reason still protects");
    assert_eq!(converted.devices[0].reason, ProtectionReason::Operator);
}
