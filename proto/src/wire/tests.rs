//! The wire check on literal encodings: honest messages pass, every bound is enforced before
//! decoding, and the check agrees with what prost then decodes.

use prost::Message;

use super::*;

fn observation(index: u32) -> pb::Observation {
    pb::Observation {
        mac: vec![0x00, 0x09, 0x5c, 0, (index >> 8) as u8, index as u8],
        ipv4: vec![vec![198, 18, (index >> 8) as u8, index as u8]],
        ipv6: Vec::new(),
        seen_at: Some(prost_types::Timestamp {
            seconds: 1_795_000_000,
            nanos: 0,
        }),
        source: pb::Source::Mdns.into(),
        interface: "eth0".into(),
        hostname: format!("device-{index}.local"),
        services: vec![pb::MdnsService {
            instance: format!("Device {index}._http._tcp.local."),
            service_type: "_http._tcp.local.".into(),
            port: 80,
            txt: vec![pb::TxtEntry {
                key: "md".into(),
                value: "MX450".into(),
                flag: false,
            }],
        }],
        detail: Some(pb::observation::Detail::Dhcp(pb::DhcpDetails {
            version: 4,
            message_type: 1,
            parameter_request_list: vec![1, 3, 6, 15, 119, 252],
            vendor_class: "MSFT 5.0".into(),
            ..pb::DhcpDetails::default()
        })),
    }
}

fn batch_message(sequence: u64, observations: Vec<pb::Observation>) -> Vec<u8> {
    pb::AgentMessage {
        kind: Some(pb::agent_message::Kind::Batch(pb::ObservationBatch {
            sequence,
            observations,
        })),
    }
    .encode_to_vec()
}

#[test]
fn a_full_honest_batch_passes_with_a_plausible_estimate() {
    let observations: Vec<_> = (0..limits::MAX_BATCH_OBSERVATIONS as u32)
        .map(observation)
        .collect();
    let bytes = batch_message(42, observations);
    assert!(bytes.len() <= limits::MAX_MESSAGE_BYTES);
    let shape = check_agent_message(&bytes).expect("honest batch");
    assert_eq!(shape.kind, 2);
    assert_eq!(shape.sequence, Some(42));
    let floor = limits::MAX_BATCH_OBSERVATIONS * size_of::<pb::Observation>();
    assert!(
        shape.decoded_bytes > floor,
        "{} <= {floor}",
        shape.decoded_bytes
    );
    assert!(shape.decoded_bytes < 64 * floor, "{}", shape.decoded_bytes);
}

#[test]
fn millions_of_empty_observations_are_refused_before_decoding() {
    // Two bytes each (tag, zero length): two million fit in one 4 MiB message.
    let mut bytes = Vec::new();
    let inner_len = 2 + 2 * 2_000_000;
    pb::AgentMessage::default().encode(&mut bytes).unwrap();
    bytes.push(0x12); // AgentMessage.batch
    prost::encoding::encode_varint(inner_len as u64, &mut bytes);
    bytes.extend([0x08, 0x07]); // sequence = 7
    for _ in 0..2_000_000 {
        bytes.extend([0x12, 0x00]);
    }
    let refusal = check_agent_message(&bytes).unwrap_err();
    assert_eq!(refusal.sequence, Some(7));
    assert_eq!(
        refusal.error.to_string(),
        "batch.observations: 5001 entries exceed the limit of 5000"
    );
}

#[test]
fn an_observation_over_its_byte_limit_is_refused_by_position() {
    let mut big = observation(1);
    big.hostname = "x".repeat(limits::MAX_OBSERVATION_BYTES);
    let bytes = batch_message(3, vec![observation(0), big]);
    let refusal = check_agent_message(&bytes).unwrap_err();
    assert_eq!(refusal.sequence, Some(3));
    assert!(
        refusal
            .error
            .to_string()
            .starts_with("batch.observations[1]: "),
        "{}",
        refusal.error
    );
}

#[test]
fn nested_counts_are_bounded() {
    let mut many_services = observation(0);
    many_services.services = vec![many_services.services[0].clone(); limits::MAX_SERVICES + 1];
    let refusal = check_agent_message(&batch_message(1, vec![many_services])).unwrap_err();
    assert_eq!(
        refusal.error.to_string(),
        "batch.observations[0].services: 65 entries exceed the limit of 64"
    );

    let mut many_codes = observation(0);
    if let Some(pb::observation::Detail::Dhcp(dhcp)) = &mut many_codes.detail {
        dhcp.parameter_request_list = vec![1; limits::MAX_PARAMETER_REQUESTS + 1];
    }
    let refusal = check_agent_message(&batch_message(1, vec![many_codes])).unwrap_err();
    assert_eq!(
        refusal.error.to_string(),
        "batch.observations[0].dhcp.parameter_request_list: 256 entries exceed the limit of 255"
    );

    let mut many_txt = observation(0);
    many_txt.services[0].txt = vec![pb::TxtEntry::default(); limits::MAX_TXT_ENTRIES + 1];
    let refusal = check_agent_message(&batch_message(1, vec![many_txt])).unwrap_err();
    assert_eq!(
        refusal.error.to_string(),
        "batch.observations[0].services[0].txt: 65 entries exceed the limit of 64"
    );
}

#[test]
fn malformed_encodings_are_refused() {
    let honest = batch_message(1, vec![observation(0)]);
    for cut in [1, 2, 5, honest.len() - 1] {
        assert!(check_agent_message(&honest[..cut]).is_err(), "cut at {cut}");
    }
    // A group (wire type 3) at the top level.
    assert!(check_agent_message(&[0x0b, 0x0c]).is_err());
    // A known field with the wrong wire type: batch as a varint.
    assert!(check_agent_message(&[0x10, 0x01]).is_err());
    // An eleven-byte varint.
    assert!(check_agent_message(&[0x08; 11]).is_err());
}

#[test]
fn unknown_fields_are_skipped() {
    let mut bytes = batch_message(9, vec![observation(0)]);
    // Field 99 (LEN) and field 98 (fixed64) at the top level, from a newer agent.
    bytes.extend([0x9a, 0x06, 0x03, b'a', b'b', b'c']);
    bytes.extend([0x91, 0x06, 0, 0, 0, 0, 0, 0, 0, 0]);
    let shape = check_agent_message(&bytes).expect("unknown fields are fine");
    assert_eq!(shape.sequence, Some(9));
    assert!(pb::AgentMessage::decode(bytes.as_slice()).is_ok());
}

#[test]
fn hello_and_heartbeat_are_recognised() {
    let hello = pb::AgentMessage {
        kind: Some(pb::agent_message::Kind::Hello(pb::Hello {
            agent_version: "0.1.0".into(),
            hostname: "agent".into(),
            interfaces: vec![pb::AgentInterface::default(); limits::MAX_INTERFACES + 1],
            outbox_id: vec![0; 16],
        })),
    };
    let refusal = check_agent_message(&hello.encode_to_vec()).unwrap_err();
    assert_eq!(refusal.sequence, None);
    assert!(refusal.error.to_string().starts_with("hello.interfaces"));
    let heartbeat = pb::AgentMessage {
        kind: Some(pb::agent_message::Kind::Heartbeat(pb::Heartbeat {
            applied_policy_version: 4,
        })),
    };
    assert_eq!(
        check_agent_message(&heartbeat.encode_to_vec())
            .unwrap()
            .kind,
        3
    );
}

#[test]
fn a_large_policy_passes_and_an_oversized_one_does_not() {
    let device = pb::ProtectedDevice {
        mac: vec![0x02, 0, 0, 0, 0, 1],
        addresses: vec![vec![198, 18, 0, 1]],
        reason: pb::protected_device::Reason::Biomedical.into(),
    };
    let policy = |devices: usize| pb::CollectorMessage {
        kind: Some(pb::collector_message::Kind::ScanPolicy(pb::ScanPolicy {
            version: 1,
            devices: vec![device.clone(); devices],
            networks: Vec::new(),
            passive_only: false,
        })),
    };
    let full = policy(limits::MAX_POLICY_DEVICES).encode_to_vec();
    assert!(full.len() <= limits::MAX_MESSAGE_BYTES);
    assert_eq!(check_collector_message(&full).unwrap().kind, 3);
    assert!(
        check_collector_message(&policy(limits::MAX_POLICY_DEVICES + 1).encode_to_vec()).is_err()
    );
}

/// Counts of every bounded repeated field of a decoded batch, to compare with the check.
fn within_limits(message: &pb::AgentMessage) -> bool {
    let Some(pb::agent_message::Kind::Batch(batch)) = &message.kind else {
        return true;
    };
    batch.observations.len() <= limits::MAX_BATCH_OBSERVATIONS
        && batch.observations.iter().all(|observation| {
            observation.ipv4.len() <= limits::MAX_ADDRESSES
                && observation.ipv6.len() <= limits::MAX_ADDRESSES
                && observation.services.len() <= limits::MAX_SERVICES
                && observation
                    .services
                    .iter()
                    .all(|service| service.txt.len() <= limits::MAX_TXT_ENTRIES)
                && observation.encoded_len() <= limits::MAX_OBSERVATION_BYTES
        })
}

#[test]
fn mutated_messages_never_slip_past_the_check() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let honest = batch_message(5, (0..40).map(observation).collect());
    for _ in 0..20_000 {
        let mut bytes = honest.clone();
        for _ in 0..rng.random_range(1..8) {
            let at = rng.random_range(0..bytes.len());
            match rng.random_range(0..3) {
                0 => bytes[at] = rng.random(),
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, rng.random()),
            }
        }
        if check_agent_message(&bytes).is_ok()
            && let Ok(decoded) = pb::AgentMessage::decode(bytes.as_slice())
        {
            assert!(
                within_limits(&decoded),
                "passed the check but exceeds a limit"
            );
        }
    }
}

/// prost merges a singular message field that appears twice (protobuf's rule), so counting
/// each occurrence alone let twice the limit through: two Hellos of 64 interfaces decode as
/// one of 128, two DHCP details of 255 requested options as one of 510.
#[test]
fn a_singular_message_sent_twice_is_refused_not_merged_past_the_limits() {
    let interfaces = |count: usize| pb::Hello {
        interfaces: vec![pb::AgentInterface::default(); count],
        ..pb::Hello::default()
    };
    let hello = pb::AgentMessage {
        kind: Some(pb::agent_message::Kind::Hello(interfaces(
            limits::MAX_INTERFACES,
        ))),
    }
    .encode_to_vec();
    assert!(check_agent_message(&hello).is_ok());
    let twice = [hello.as_slice(), hello.as_slice()].concat();
    let merged = pb::AgentMessage::decode(twice.as_slice()).unwrap();
    let Some(pb::agent_message::Kind::Hello(merged)) = merged.kind else {
        panic!("not a Hello");
    };
    assert_eq!(
        merged.interfaces.len(),
        2 * limits::MAX_INTERFACES,
        "prost merges"
    );
    let refusal = check_agent_message(&twice).unwrap_err();
    assert_eq!(refusal.error.to_string(), "hello: appears twice");

    // The same one level down: a batch whose observation carries its DHCP detail twice.
    let mut observation = observation(1);
    observation.detail = None;
    let detail = pb::Observation {
        detail: Some(pb::observation::Detail::Dhcp(pb::DhcpDetails {
            version: 4,
            parameter_request_list: vec![1; limits::MAX_PARAMETER_REQUESTS],
            ..pb::DhcpDetails::default()
        })),
        ..pb::Observation::default()
    }
    .encode_to_vec();
    let mut bytes = observation.encode_to_vec();
    bytes.extend_from_slice(&detail);
    bytes.extend_from_slice(&detail);
    let batch = [
        &[0x08, 0x01][..],
        &[0x12],
        &varint_bytes(bytes.len()),
        &bytes,
    ]
    .concat();
    let message = [&[0x12][..], &varint_bytes(batch.len()), &batch].concat();
    let refusal = check_agent_message(&message).unwrap_err();
    assert_eq!(
        refusal.error.to_string(),
        "batch.observations[0].dhcp: appears twice"
    );
    assert_eq!(
        refusal.sequence,
        Some(1),
        "the refused batch is still named"
    );

    // Another member of the oneof replaces the first, as in prost: not a repeat.
    let heartbeat = pb::AgentMessage {
        kind: Some(pb::agent_message::Kind::Heartbeat(pb::Heartbeat {
            applied_policy_version: 3,
        })),
    }
    .encode_to_vec();
    let shape = check_agent_message(&[hello.as_slice(), &heartbeat].concat()).unwrap();
    assert_eq!(shape.kind, 3);
}

fn varint_bytes(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Found by the `wire_check` fuzz target: an empty packed run (`parameter_request_list` of
/// length 0) counted -1 entries, which overflowed in a debug build.
#[test]
fn an_empty_packed_run_counts_no_entries() {
    // Batch 1 of one observation whose DHCP detail has an empty packed run, then three codes.
    let dhcp = [0x1a, 0x00, 0x1a, 0x03, 0x01, 0x03, 0x06];
    let observation = [&[0x82, 0x01, dhcp.len() as u8][..], &dhcp].concat();
    let batch = [
        &[0x08, 0x01, 0x12, observation.len() as u8][..],
        &observation,
    ]
    .concat();
    let message = [&[0x12, batch.len() as u8][..], &batch].concat();
    let shape = check_agent_message(&message).unwrap();
    assert_eq!(shape.sequence, Some(1));
    let decoded = pb::AgentMessage::decode(message.as_slice()).unwrap();
    let Some(pb::agent_message::Kind::Batch(batch)) = decoded.kind else {
        panic!("not a batch");
    };
    let Some(pb::observation::Detail::Dhcp(dhcp)) = &batch.observations[0].detail else {
        panic!("no DHCP detail");
    };
    assert_eq!(dhcp.parameter_request_list, [1, 3, 6]);
}
