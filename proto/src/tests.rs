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
                },
                pb::TxtEntry {
                    key: "md".into(),
                    value: "ignored duplicate".into(),
                },
            ],
        }],
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
        BTreeMap::from([("md".to_string(), "MX450".to_string())]),
        "a repeated TXT key keeps its first value"
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
        (|o| o.source = 99, "source: unknown value 99"),
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
