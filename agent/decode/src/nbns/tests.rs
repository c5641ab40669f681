//! The NetBIOS name service decoder on real frames of the corpus, on hand-made edge cases,
//! against tshark, and on hostile input.

use std::fmt::Write;
use std::net::IpAddr;

use super::*;
use crate::frame::LinkType;
use crate::heard::{Heard, Message, decode};
use crate::testing::{Noise, corpus_frames, tshark};

fn hex(text: &[&str]) -> Vec<u8> {
    let text: String = text.concat();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Frame 55 of nDPI's `netbios.pcap` (`tshark -x`): GUNNAR (10.0.4.24) answers a node status
/// request with its four names and its adapter's MAC as unit id.
const NODE_STATUS: &[&str] = &[
    "002162b25c43001cc410790f0800450000cb740f400080116ca40a0004180a0001570089e1ec00b7944820a884000000",
    "00010000000020434b414141414141414141414141414141414141414141414141414141414141000021000100000000",
    "00770447554e4e4152202020202020202020000400564947494c414e545f47524f55502000840047554e4e4152202020",
    "202020202020200400564947494c414e545f47524f5550201e8400001cc410790f000000000000000000000000000000",
    "00000000000000000000000000000000000000000000000000",
];

/// Frame 54 of the same capture: the node status request, routed (TTL 127) from 10.0.1.87.
const NODE_STATUS_REQUEST: &[&str] = &[
    "001cc410790f002162b25c4308004500004e045000007f111de10a0001570a000418e1ec0089003aa4b420a800000001",
    "00000000000020434b4141414141414141414141414141414141414141414141414141414141410000210001",
];

/// Frame 69 of the same capture: GUNNAR answers a query for its own name.
const QUERY_RESPONSE: &[&str] = &[
    "00e081b77485001cc410790f08004500005a1268000080110b6f0a0004180a0004a5008900890046d6a7848685000000",
    "0001000000002045484646454f454f4542464343414341434143414341434143414341434141410000200001000493e0",
    "000600000a000418",
];

/// Frame 1 of the same capture: 10.0.4.131 broadcasts a query for XSTREAM_HY<00>.
const QUERY: &[&str] = &[
    "ffffffffffff0018fe6cbcf708004500004e62f600008011b9270a0004830a0005ff00890089003abf1ea74901100001",
    "00000000000020464946444645464345464542454e46504549464a4341434143414341434141410000200001",
];

/// Frame 45 of tcpdump's `eapon1.pcap`: DJP95S0J registers its workstation name, the
/// additional record pointing back at the question's name.
const REGISTRATION: &[&str] = &[
    "ffffffffffff00042357a57a08004500006038c2000080116a0ca9fe43c2a9feffff00890089004cb508892e29100001",
    "000000000001204545454b4641444a444646444441454b434143414341434143414341434141410000200001c00c0020",
    "0001000493e000066000a9fe43c2",
];

/// Frame 52 of the same capture: the same host registers its workgroup, a group name.
const GROUP_REGISTRATION: &[&str] = &[
    "ffffffffffff00042357a57a08004500006038cc000080116a02a9fe43c2a9feffff00890089004c30f5892f29100001",
    "000000000001204542464345434546454a464546444548464346464641464145464341434141410000200001c00c0020",
    "0001000493e00006e000a9fe43c2",
];

/// Frame 90 of the same capture: the `<01><02>__MSBROWSE__<02><01>` group of master browsers.
const MSBROWSE_REGISTRATION: &[&str] = &[
    "ffffffffffff00042357a57a08004500006038f40000801169daa9fe43c2a9feffff00890089004ce9ec893e29100001",
    "000000000001204142414346504650454e464445434643455046484644454646504650414341420000200001c00c0020",
    "0001000493e00006e000a9fe43c2",
];

/// The only frame of tcpdump's `malformed/nbns-valgrind.pcap`: a query cut by the snap length
/// in the middle of its name (whose bytes include an `@`, not first-level encoding).
const CUT_QUERY: &[&str] = &[
    "00000c07acf0000c850ea5ff08004500004e96d700007f11f5900a31f8e40a30a1f100890089003a51838d4001000001",
    "0000000000002045474643454e45424640464444",
];

const REAL_FRAMES: [&[&str]; 7] = [
    NODE_STATUS,
    NODE_STATUS_REQUEST,
    QUERY_RESPONSE,
    QUERY,
    REGISTRATION,
    GROUP_REGISTRATION,
    MSBROWSE_REGISTRATION,
];

fn heard(frame: &[&str]) -> Heard {
    decode(LinkType::Ethernet, &hex(frame)).unwrap().unwrap()
}

fn packet_of(heard: &Heard) -> &NbnsPacket {
    match &heard.message {
        Message::Nbns(packet) => packet,
        other => panic!("not NetBIOS: {other:?}"),
    }
}

/// The UDP payload of a real IPv4 frame.
fn payload_of(frame: &[&str]) -> Vec<u8> {
    hex(frame)[14 + 20 + 8..].to_vec()
}

fn sender(mac: &str, ip: &str, on_link: bool) -> Sender {
    Sender {
        mac: mac.parse().unwrap(),
        ip: Some(ip.parse().unwrap()),
        on_link,
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().unwrap()).collect()
}

fn netbios(name: &str, suffix: u8, group: bool) -> NetbiosName {
    NetbiosName {
        name: name.to_owned(),
        suffix,
        group,
    }
}

fn padded(name: &[u8]) -> [u8; 15] {
    let mut bytes = [b' '; 15];
    bytes[..name.len()].copy_from_slice(name);
    bytes
}

/// A name in first-level encoding, with a scope, ending with its root label.
fn encode_name(name: &[u8], suffix: u8, scope: &[&str]) -> Vec<u8> {
    let mut raw = [b' '; 16];
    raw[..name.len()].copy_from_slice(name);
    raw[15] = suffix;
    let mut out = vec![32];
    for byte in raw {
        out.push(b'A' + (byte >> 4));
        out.push(b'A' + (byte & 0x0f));
    }
    for label in scope {
        out.push(label.len() as u8);
        out.extend(label.as_bytes());
    }
    out.push(0);
    out
}

fn message(flags: u16, counts: [u16; 4], body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x12, 0x34];
    out.extend(flags.to_be_bytes());
    for count in counts {
        out.extend(count.to_be_bytes());
    }
    out.extend(body);
    out
}

/// An NB record's type, class, TTL, length and entries.
fn nb_record_tail(entries: &[(u16, [u8; 4])]) -> Vec<u8> {
    let mut out = vec![0x00, 0x20, 0x00, 0x01, 0x00, 0x04, 0x93, 0xe0];
    out.extend(((entries.len() * 6) as u16).to_be_bytes());
    for (flags, address) in entries {
        out.extend(flags.to_be_bytes());
        out.extend(address);
    }
    out
}

/// A request (`opcode`, broadcast) claiming `name` with the NB `entries`, as Windows sends it.
fn claim(opcode: u8, name: &[u8], suffix: u8, entries: &[(u16, [u8; 4])]) -> Vec<u8> {
    let mut body = encode_name(name, suffix, &[]);
    body.extend([0x00, 0x20, 0x00, 0x01, 0xc0, 0x0c]);
    body.extend(nb_record_tail(entries));
    message((u16::from(opcode) << 11) | 0x0110, [1, 0, 0, 1], &body)
}

/// A node status response listing `names` (name, suffix, flags), then statistics.
fn node_status_response(names: &[(&[u8], u8, u16)], unit_id: [u8; 6]) -> Vec<u8> {
    let mut data = vec![names.len() as u8];
    for (name, suffix, flags) in names {
        data.extend(padded(name));
        data.push(*suffix);
        data.extend(flags.to_be_bytes());
    }
    data.extend(unit_id);
    data.extend([0u8; 40]);
    let mut body = encode_name(b"*", 0, &[]);
    // The wildcard is `*` padded with NULs, not spaces.
    body[3..33].copy_from_slice(&[b'A'; 30]);
    body.extend([0x00, 0x21, 0x00, 0x01, 0, 0, 0, 0]);
    body.extend((data.len() as u16).to_be_bytes());
    body.extend(data);
    message(0x8400, [0, 1, 0, 0], &body)
}

const HOST: &str = "00:09:fb:11:22:33";
const HOST_IP: &str = "198.18.0.21";

#[test]
fn a_real_node_status_response_lists_the_senders_names() {
    let heard = heard(NODE_STATUS);
    let packet = packet_of(&heard);
    assert_eq!(packet.transaction_id, 0x20a8);
    assert_eq!(packet.opcode, OPCODE_QUERY);
    assert!(packet.response && !packet.broadcast);
    assert_eq!(packet.rcode, 0);
    assert!(packet.questions.is_empty());
    let [answer] = packet.answers.as_slice() else {
        panic!("{:?}", packet.answers)
    };
    assert!(answer.name.is_wildcard());
    assert_eq!(answer.name.text().as_deref(), Some("*"));
    assert_eq!((answer.record_type, answer.ttl), (TYPE_NBSTAT, 0));
    let RecordData::NodeStatus(status) = &answer.data else {
        panic!("{:?}", answer.data)
    };
    let names: Vec<(String, u8, u16, bool)> = status
        .names
        .iter()
        .map(|n| (n.name.text().unwrap(), n.name.suffix, n.flags, n.group()))
        .collect();
    assert_eq!(
        names,
        [
            ("GUNNAR".to_owned(), 0x00, 0x0400, false),
            ("VIGILANT_GROUP".to_owned(), 0x00, 0x8400, true),
            ("GUNNAR".to_owned(), 0x20, 0x0400, false),
            ("VIGILANT_GROUP".to_owned(), 0x1e, 0x8400, true),
        ]
    );
    assert_eq!(status.names[0].name.bytes, padded(b"GUNNAR"));
    assert_eq!(status.unit_id.unwrap().to_string(), "00:1c:c4:10:79:0f");

    // TTL 128 to a unicast address: straight from the sender.
    assert!(heard.sender.on_link);
    let sighting = packet.sighting(&heard.sender).unwrap();
    assert_eq!(sighting.mac.unwrap().to_string(), "00:1c:c4:10:79:0f");
    assert_eq!(sighting.ips, ips(&["10.0.4.24"]));
    assert_eq!(sighting.hostname.as_deref(), Some("gunnar"));
    assert_eq!(
        sighting.detail,
        Some(Detail::Netbios(NetbiosDetails {
            names: vec![
                netbios("GUNNAR", 0x00, false),
                netbios("GUNNAR", 0x20, false),
                netbios("VIGILANT_GROUP", 0x00, true),
                netbios("VIGILANT_GROUP", 0x1e, true),
            ],
            workgroup: Some("VIGILANT_GROUP".into()),
        }))
    );
}

#[test]
fn a_routed_node_status_response_is_pinned_on_its_unit_id() {
    let packet = parse(&payload_of(NODE_STATUS)).unwrap();
    // The frame comes from a router: its MAC is not the sender's, the unit id is.
    let routed = sender("00:21:62:b2:5c:43", "10.0.4.24", false);
    let sighting = packet.sighting(&routed).unwrap();
    assert_eq!(sighting.mac.unwrap().to_string(), "00:1c:c4:10:79:0f");
    assert_eq!(sighting.hostname.as_deref(), Some("gunnar"));
    // On the link, the frame's MAC wins over whatever the statistics say.
    let other = packet.sighting(&sender(HOST, "10.0.4.24", true)).unwrap();
    assert_eq!(other.mac.unwrap().to_string(), HOST);

    // Samba's unit id is all zeros, and a multicast one names nobody: routed, nothing.
    for unit_id in [[0; 6], [0x01, 0x00, 0x5e, 0, 0, 1]] {
        let bytes = node_status_response(&[(b"NAS", 0, 0x0400)], unit_id);
        let packet = parse(&bytes).unwrap();
        assert_eq!(packet.sighting(&sender(HOST, HOST_IP, false)), None);
        let direct = packet.sighting(&sender(HOST, HOST_IP, true)).unwrap();
        assert_eq!(direct.hostname.as_deref(), Some("nas"));
    }
    // Without statistics there is no unit id, and a node status response is still decoded.
    let mut bytes = node_status_response(&[(b"NAS", 0, 0x0400)], [0; 6]);
    bytes.truncate(bytes.len() - 46);
    let len = bytes.len() - 12 - 34 - 10;
    let at = bytes.len() - len - 2;
    bytes[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes());
    let packet = parse(&bytes).unwrap();
    let RecordData::NodeStatus(status) = &packet.answers[0].data else {
        panic!()
    };
    assert_eq!((status.names.len(), status.unit_id), (1, None));
}

#[test]
fn a_real_positive_query_response_names_its_sender() {
    let heard = heard(QUERY_RESPONSE);
    let packet = packet_of(&heard);
    assert_eq!(
        (packet.transaction_id, packet.opcode),
        (0x8486, OPCODE_QUERY)
    );
    assert!(packet.response);
    let answer = &packet.answers[0];
    assert_eq!(answer.name.bytes, padded(b"GUNNAR"));
    assert_eq!((answer.name.suffix, answer.ttl), (0x00, 300_000));
    assert_eq!(
        answer.data,
        RecordData::Nb(vec![NbEntry {
            group: false,
            address: Ipv4Addr::new(10, 0, 4, 24)
        }])
    );
    let sighting = packet.sighting(&heard.sender).unwrap();
    assert_eq!(sighting.mac.unwrap().to_string(), "00:1c:c4:10:79:0f");
    assert_eq!(sighting.ips, ips(&["10.0.4.24"]));
    assert_eq!(sighting.hostname.as_deref(), Some("gunnar"));
    assert_eq!(
        sighting.detail,
        Some(Detail::Netbios(NetbiosDetails {
            names: vec![netbios("GUNNAR", 0x00, false)],
            workgroup: None,
        }))
    );
}

/// A positive query response for `name`, with NB `entries`.
fn query_response(name: &[u8], suffix: u8, entries: &[(u16, [u8; 4])]) -> Vec<u8> {
    let mut body = encode_name(name, suffix, &[]);
    body.extend(nb_record_tail(entries));
    message(0x8500, [0, 1, 0, 0], &body)
}

#[test]
fn an_answer_for_another_host_proves_presence_only() {
    // A name server (or a proxy) answering for 198.18.0.99.
    let bytes = query_response(b"PUMP-07", 0, &[(0x6000, [198, 18, 0, 99])]);
    let sighting = parse(&bytes)
        .unwrap()
        .sighting(&sender(HOST, HOST_IP, true))
        .unwrap();
    assert_eq!(sighting.mac.unwrap().to_string(), HOST);
    assert_eq!(sighting.ips, ips(&[HOST_IP]));
    assert_eq!((sighting.hostname, sighting.detail), (None, None));

    // A multi-homed host answering with all its addresses, one of them the source.
    let bytes = query_response(
        b"PUMP-07",
        0,
        &[
            (0x6000, [198, 18, 0, 99]),
            (0x6000, [198, 18, 0, 21]),
            (0x6000, [0, 0, 0, 0]),
        ],
    );
    let sighting = parse(&bytes)
        .unwrap()
        .sighting(&sender(HOST, HOST_IP, true))
        .unwrap();
    assert_eq!(sighting.ips, ips(&[HOST_IP, "198.18.0.99"]));
    assert_eq!(sighting.hostname.as_deref(), Some("pump-07"));

    // A group member answering for its group: the group is the sender's, its other members'
    // addresses are not.
    let bytes = query_response(
        b"WARD-3",
        0,
        &[(0x8000, [198, 18, 0, 99]), (0x8000, [198, 18, 0, 21])],
    );
    let sighting = parse(&bytes)
        .unwrap()
        .sighting(&sender(HOST, HOST_IP, true))
        .unwrap();
    assert_eq!(sighting.ips, ips(&[HOST_IP]));
    assert_eq!(sighting.hostname, None);
    let Some(Detail::Netbios(details)) = sighting.detail else {
        panic!()
    };
    assert_eq!(details.workgroup.as_deref(), Some("WARD-3"));

    // A negative response (rcode 3, name error) names nobody.
    let mut negative = query_response(b"PUMP-07", 0, &[(0x6000, [198, 18, 0, 21])]);
    negative[3] |= 0x03;
    let sighting = parse(&negative)
        .unwrap()
        .sighting(&sender(HOST, HOST_IP, true))
        .unwrap();
    assert_eq!((sighting.hostname, sighting.detail), (None, None));
}

#[test]
fn a_real_name_query_proves_presence_only() {
    let heard = heard(QUERY);
    let packet = packet_of(&heard);
    assert_eq!(packet.transaction_id, 0xa749);
    assert!(!packet.response && packet.broadcast);
    let [question] = packet.questions.as_slice() else {
        panic!()
    };
    assert_eq!(question.name.text().as_deref(), Some("XSTREAM_HY"));
    assert_eq!((question.name.suffix, question.question_type), (0, TYPE_NB));
    let sighting = packet.sighting(&heard.sender).unwrap();
    assert_eq!(sighting.mac.unwrap().to_string(), "00:18:fe:6c:bc:f7");
    assert_eq!(sighting.ips, ips(&["10.0.4.131"]));
    // XSTREAM_HY is whom it looks for, not who it is.
    assert_eq!((sighting.hostname, sighting.detail), (None, None));
}

#[test]
fn a_routed_node_status_request_proves_nothing() {
    let heard = heard(NODE_STATUS_REQUEST);
    let packet = packet_of(&heard);
    assert!(packet.questions[0].name.is_wildcard());
    assert_eq!(packet.questions[0].question_type, TYPE_NBSTAT);
    assert!(!heard.sender.on_link);
    assert_eq!(packet.sighting(&heard.sender), None);
    // Heard on the link, it proves its sender's presence.
    let sighting = packet.sighting(&sender(HOST, HOST_IP, true)).unwrap();
    assert_eq!(sighting.ips, ips(&[HOST_IP]));
    assert_eq!((sighting.hostname, sighting.detail), (None, None));
}

#[test]
fn real_registrations_claim_the_senders_names() {
    let heard = heard(REGISTRATION);
    let packet = packet_of(&heard);
    assert_eq!(
        (packet.opcode, packet.response),
        (OPCODE_REGISTRATION, false)
    );
    assert_eq!(packet.questions[0].name.bytes, padded(b"DJP95S0J"));
    assert_eq!(packet.additional[0].name, packet.questions[0].name);
    assert_eq!(
        packet.additional[0].data,
        RecordData::Nb(vec![NbEntry {
            group: false,
            address: Ipv4Addr::new(169, 254, 67, 194)
        }])
    );
    let sighting = packet.sighting(&heard.sender).unwrap();
    assert_eq!(sighting.mac.unwrap().to_string(), "00:04:23:57:a5:7a");
    assert_eq!(sighting.ips, ips(&["169.254.67.194"]));
    assert_eq!(sighting.hostname.as_deref(), Some("djp95s0j"));
    assert_eq!(
        sighting.detail,
        Some(Detail::Netbios(NetbiosDetails {
            names: vec![netbios("DJP95S0J", 0x00, false)],
            workgroup: None,
        }))
    );

    let heard = self::heard(GROUP_REGISTRATION);
    let sighting = packet_of(&heard).sighting(&heard.sender).unwrap();
    assert_eq!(sighting.hostname, None);
    assert_eq!(
        sighting.detail,
        Some(Detail::Netbios(NetbiosDetails {
            names: vec![netbios("ARBEITSGRUPPE", 0x00, true)],
            workgroup: Some("ARBEITSGRUPPE".into()),
        }))
    );

    let heard = self::heard(MSBROWSE_REGISTRATION);
    let packet = packet_of(&heard);
    assert_eq!(packet.questions[0].name.bytes, *b"\x01\x02__MSBROWSE__\x02");
    assert_eq!(packet.questions[0].name.suffix, 0x01);
    let sighting = packet.sighting(&heard.sender).unwrap();
    assert_eq!((sighting.hostname, sighting.ips.len()), (None, 1));
    assert_eq!(
        sighting.detail,
        Some(Detail::Netbios(NetbiosDetails {
            // The control bytes are dropped: what is left is what people know it by.
            names: vec![netbios("__MSBROWSE__", 0x01, true)],
            workgroup: None,
        }))
    );
}

#[test]
fn refreshes_releases_and_multi_homed_registrations_claim_names_too() {
    for opcode in [
        OPCODE_REGISTRATION,
        OPCODE_RELEASE,
        OPCODE_REFRESH,
        OPCODE_REFRESH_ALT,
        OPCODE_MULTI_HOMED_REGISTRATION,
    ] {
        let bytes = claim(
            opcode,
            b"MON-ICU-01",
            0x00,
            &[(0x6000, [198, 18, 0, 21]), (0x6000, [198, 18, 1, 21])],
        );
        let packet = parse(&bytes).unwrap();
        assert_eq!(packet.opcode, opcode);
        let sighting = packet.sighting(&sender(HOST, HOST_IP, true)).unwrap();
        assert_eq!(sighting.mac.unwrap().to_string(), HOST, "{opcode}");
        assert_eq!(sighting.hostname.as_deref(), Some("mon-icu-01"), "{opcode}");
        assert_eq!(sighting.ips, ips(&[HOST_IP, "198.18.1.21"]), "{opcode}");
        // Sent through a router (to a WINS server), the frame MAC is not the sender's.
        assert_eq!(packet.sighting(&sender(HOST, HOST_IP, false)), None);
    }
    // Unusable addresses in the record are left out.
    let bytes = claim(
        5,
        b"MON",
        0,
        &[(0, [0, 0, 0, 0]), (0, [255, 255, 255, 255])],
    );
    let sighting = parse(&bytes)
        .unwrap()
        .sighting(&sender(HOST, HOST_IP, true))
        .unwrap();
    assert_eq!(sighting.ips, ips(&[HOST_IP]));
}

#[test]
fn registrations_without_their_record_or_from_a_server_claim_no_names() {
    let presence_only = |bytes: &[u8]| {
        let sighting = parse(bytes)
            .unwrap()
            .sighting(&sender(HOST, HOST_IP, true))
            .unwrap();
        assert_eq!(sighting.ips, ips(&[HOST_IP]));
        assert_eq!((sighting.hostname, sighting.detail), (None, None));
    };
    // No additional record: unique or group is unknown.
    let mut body = encode_name(b"MON-ICU-01", 0, &[]);
    body.extend([0x00, 0x20, 0x00, 0x01]);
    presence_only(&message(0x2910, [1, 0, 0, 0], &body));
    // The record claims another name than the question.
    let mut body = encode_name(b"MON-ICU-01", 0, &[]);
    body.extend([0x00, 0x20, 0x00, 0x01]);
    body.extend(encode_name(b"OTHER", 0, &[]));
    body.extend(nb_record_tail(&[(0x6000, [198, 18, 0, 21])]));
    presence_only(&message(0x2910, [1, 0, 0, 1], &body));
    // A record with no entry.
    presence_only(&claim(5, b"MON-ICU-01", 0, &[]));
    // A name server's (or a defender's) registration response names the registrant.
    let mut response = claim(5, b"MON-ICU-01", 0, &[(0x6000, [198, 18, 0, 99])]);
    response[2] |= 0x80;
    presence_only(&response);
    // A WACK, and an opcode RFC 1002 does not define.
    presence_only(&claim(
        OPCODE_WACK,
        b"MON-ICU-01",
        0,
        &[(0, [198, 18, 0, 21])],
    ));
    presence_only(&claim(3, b"MON-ICU-01", 0, &[(0, [198, 18, 0, 21])]));
    // A wildcard "claim" is nobody's name.
    presence_only(&claim(5, b"*", 0, &[(0, [198, 18, 0, 21])]));
}

#[test]
fn hostile_names_come_out_cleaned_and_bounded() {
    let replacements = "\u{fffd}".repeat(15);
    let hostile: &[(&[u8], Option<&str>)] = &[
        (b"PC\x1b[2J\x07X", Some("PC[2JX")),
        (b"\xe2\x80\xaeexe.TXT", Some("exe.TXT")),
        (b"\xff\xfeABC", Some("\u{fffd}\u{fffd}ABC")),
        (&[0xff; 15], Some(replacements.as_str())),
        (b"\x01\x02\x03\x7f", None),
        (b"", None),
    ];
    for (name, expected) in hostile {
        let bytes = claim(5, name, 0, &[(0x6000, [198, 18, 0, 21])]);
        let packet = parse(&bytes).unwrap();
        let text = packet.questions[0].name.text();
        assert_eq!(text.as_deref(), *expected, "{name:02x?}");
        let sighting = packet.sighting(&sender(HOST, HOST_IP, true)).unwrap();
        match (expected, &sighting.detail) {
            (None, detail) => assert_eq!(*detail, None),
            (Some(expected), Some(detail)) => {
                assert_eq!(detail.check(), Ok(()));
                let Detail::Netbios(details) = detail else {
                    panic!()
                };
                assert_eq!(details.names[0].name, *expected);
                assert!(details.names[0].name.len() <= limits::MAX_NETBIOS_NAME_LEN);
                let hostname = sighting.hostname.unwrap();
                assert_eq!(hostname, expected.to_lowercase());
            }
            (Some(_), None) => panic!("{name:02x?}: no detail"),
        }
    }
    // A node status listing 255 distinct names: the detail keeps the contract's 32.
    let names: Vec<Vec<u8>> = (0..255)
        .map(|i| format!("HOST{i:03}").into_bytes())
        .collect();
    let entries: Vec<(&[u8], u8, u16)> = names
        .iter()
        .map(|name| (name.as_slice(), 0x20, 0x0400))
        .collect();
    let packet = parse(&node_status_response(&entries, [0; 6])).unwrap();
    let sighting = packet.sighting(&sender(HOST, HOST_IP, true)).unwrap();
    let Some(Detail::Netbios(details)) = &sighting.detail else {
        panic!()
    };
    assert_eq!(details.names.len(), limits::MAX_DETAIL_ITEMS);
    assert_eq!(sighting.detail.as_ref().unwrap().check(), Ok(()));
    // Many NB entries: the record keeps at most the contract's addresses.
    let many: Vec<(u16, [u8; 4])> = (0..200).map(|i| (0x6000, [198, 18, 1, i])).collect();
    let packet = parse(&claim(5, b"MON", 0, &many)).unwrap();
    let RecordData::Nb(entries) = &packet.additional[0].data else {
        panic!()
    };
    assert_eq!(entries.len(), MAX_NB_ENTRIES);
    let sighting = packet.sighting(&sender(HOST, HOST_IP, true)).unwrap();
    assert!(sighting.ips.len() <= limits::MAX_ADDRESSES);
}

#[test]
fn scopes_and_compression_pointers() {
    let mut body = encode_name(b"MON-ICU-01", 0, &["ward3", "hospital"]);
    body.extend([0x00, 0x20, 0x00, 0x01, 0xc0, 0x0c]);
    body.extend(nb_record_tail(&[(0x6000, [198, 18, 0, 21])]));
    let packet = parse(&message(0x2910, [1, 0, 0, 1], &body)).unwrap();
    let name = &packet.questions[0].name;
    assert_eq!(name.scope.as_deref(), Some("ward3.hospital"));
    assert_eq!(packet.additional[0].name, *name);
    let sighting = packet.sighting(&sender(HOST, HOST_IP, true)).unwrap();
    assert_eq!(sighting.hostname.as_deref(), Some("mon-icu-01"));

    // A pointer into the middle of a name: its scope only is not a NetBIOS name.
    let mut body = encode_name(b"MON-ICU-01", 0, &["ward3"]);
    body.extend([0x00, 0x20, 0x00, 0x01, 0xc0, 12 + 33]);
    body.extend(nb_record_tail(&[(0x6000, [198, 18, 0, 21])]));
    assert_eq!(
        parse(&message(0x2910, [1, 0, 0, 1], &body)),
        Err(NbnsError::BadName)
    );

    // A chain of pointers, each to the one before, ending at a real name: a few are followed,
    // too many refused.
    let chain = |links: usize| {
        let mut body = encode_name(b"MON", 0, &[]);
        body.extend([0x00, 0x20, 0x00, 0x01]);
        // An answer of an undecoded type holds the chain.
        body.extend(encode_name(b"X", 0, &[]));
        let data_start = 12 + body.len() + 10;
        body.extend([0x00, 0x0a, 0x00, 0x01, 0, 0, 0, 0]);
        body.extend(((links * 2) as u16).to_be_bytes());
        for link in 0..links {
            let target = if link == 0 {
                12
            } else {
                data_start + 2 * (link - 1)
            };
            body.extend([0xc0 | (target >> 8) as u8, target as u8]);
        }
        // The additional record's name points at the chain's last link.
        let last = data_start + 2 * (links - 1);
        body.extend([0xc0 | (last >> 8) as u8, last as u8]);
        body.extend(nb_record_tail(&[(0x6000, [198, 18, 0, 21])]));
        parse(&message(0x2910, [1, 1, 0, 1], &body))
    };
    let packet = chain(MAX_POINTER_JUMPS - 1).unwrap();
    assert_eq!(packet.additional[0].name, packet.questions[0].name);
    assert_eq!(chain(MAX_POINTER_JUMPS), Err(NbnsError::BadPointer));
}

#[test]
fn malformed_messages_say_why() {
    let good = claim(5, b"MON", 0, &[(0x6000, [198, 18, 0, 21])]);
    assert!(parse(&good).is_ok());
    let with = |at: usize, bytes: &[u8]| {
        let mut bad = good.clone();
        bad.splice(at..at + bytes.len(), bytes.iter().copied());
        parse(&bad)
    };
    // Counts beyond the bound are refused before anything is read.
    assert_eq!(
        parse(&message(0, [16, 16, 16, 17], &[])),
        Err(NbnsError::TooManyRecords(65))
    );
    assert_eq!(
        parse(&message(0, [0xffff; 4], &[])),
        Err(NbnsError::TooManyRecords(4 * 0xffff))
    );
    // More records announced than sent.
    assert_eq!(with(11, &[2]), Err(NbnsError::Truncated));
    // Not first-level encoding: a letter beyond P, a short label, a reserved label type.
    assert_eq!(with(13, b"Q"), Err(NbnsError::BadName));
    assert_eq!(with(13, b"a"), Err(NbnsError::BadName));
    assert_eq!(with(12, &[31]), Err(NbnsError::BadName));
    assert_eq!(with(12, &[0x40]), Err(NbnsError::BadName));
    assert_eq!(with(12, &[0x80]), Err(NbnsError::BadName));
    // The root name alone.
    assert_eq!(with(12, &[0]), Err(NbnsError::BadName));
    // A pointer to itself, and one forwards.
    assert_eq!(with(12, &[0xc0, 12]), Err(NbnsError::BadPointer));
    assert_eq!(with(50, &[0xc0, 50]), Err(NbnsError::BadPointer));
    assert_eq!(with(50, &[0xc0, 60]), Err(NbnsError::BadPointer));
    // A pointer into the header, whose bytes are no name.
    assert_eq!(with(50, &[0xc0, 0]), Err(NbnsError::BadName));
    // A record longer than the message.
    assert_eq!(with(60, &[0x00, 0x07]), Err(NbnsError::Truncated));
    // A name of more than 255 bytes.
    let label = "a".repeat(63);
    let mut body = encode_name(b"MON", 0, &[label.as_str(); 4]);
    body.extend([0x00, 0x20, 0x00, 0x01]);
    assert_eq!(
        parse(&message(0, [1, 0, 0, 0], &body)),
        Err(NbnsError::NameTooLong)
    );
    // A node status with fewer entries than it counts.
    let mut status = node_status_response(&[(b"NAS", 0, 0x0400)], [0; 6]);
    let count_at = 12 + 34 + 10;
    status[count_at] = 5;
    assert_eq!(parse(&status), Err(NbnsError::BadNodeStatus));
    // An empty one.
    let mut body = encode_name(b"*", 0, &[]);
    body.extend([0x00, 0x21, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        parse(&message(0x8400, [0, 1, 0, 0], &body)),
        Err(NbnsError::BadNodeStatus)
    );
    for (error, kind) in [
        (NbnsError::Truncated, "truncated NetBIOS"),
        (NbnsError::TooManyRecords(65), "too many NetBIOS records"),
        (NbnsError::BadName, "bad NetBIOS name"),
        (NbnsError::BadPointer, "bad NetBIOS name pointer"),
        (NbnsError::NameTooLong, "NetBIOS name too long"),
        (NbnsError::BadNodeStatus, "bad NetBIOS node status"),
    ] {
        assert_eq!(error.kind(), kind);
    }
}

#[test]
fn the_valgrind_frame_is_refused() {
    assert_eq!(
        decode(LinkType::Ethernet, &hex(CUT_QUERY)),
        Err(NbnsError::Truncated.into())
    );
    // Had it been whole, the `@` would still refuse it.
    let mut whole = payload_of(CUT_QUERY);
    whole.extend([b'A'; 20]);
    whole.extend([0, 0x00, 0x20, 0x00, 0x01]);
    assert_eq!(parse(&whole), Err(NbnsError::BadName));
}

#[test]
fn every_prefix_of_a_real_message_is_refused() {
    for frame in REAL_FRAMES {
        let payload = payload_of(frame);
        assert!(parse(&payload).is_ok());
        for len in 0..payload.len() {
            assert_eq!(parse(&payload[..len]), Err(NbnsError::Truncated), "{len}");
        }
    }
}

/// What the contract asks of a sighting, as [`crate::heard`] checks it on observations.
fn check_sighting(sighting: &Sighting) {
    assert!(sighting.mac.unwrap().is_device());
    assert!(sighting.ips.len() <= limits::MAX_ADDRESSES);
    assert!(sighting.ips.iter().all(|ip| is_device_ip(*ip)));
    if let Some(hostname) = &sighting.hostname {
        assert!(hostname.len() <= limits::MAX_HOSTNAME_LEN);
        assert!(
            !hostname.chars().any(hygie_domain::is_unsafe_char),
            "{hostname:?}"
        );
    }
    if let Some(detail) = &sighting.detail {
        assert_eq!(detail.check(), Ok(()), "{detail:?}");
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let senders = [
        sender(HOST, HOST_IP, true),
        sender(HOST, "10.0.4.24", false),
        sender(HOST, "169.254.67.194", true),
    ];
    let exercise = |bytes: &[u8]| {
        if let Ok(packet) = parse(bytes) {
            for sender in &senders {
                if let Some(sighting) = packet.sighting(sender) {
                    check_sighting(&sighting);
                }
            }
        }
    };
    let mut noise = Noise(0x0bad_cafe_f00d_0137);
    for frame in REAL_FRAMES {
        let payload = payload_of(frame);
        for _ in 0..3_000 {
            let mut mutated = payload.clone();
            for _ in 0..1 + noise.below(6) {
                let at = noise.below(mutated.len());
                mutated[at] = noise.byte();
            }
            exercise(&mutated);
        }
    }
    for _ in 0..20_000 {
        let len = noise.below(300);
        let mut random: Vec<u8> = (0..len).map(|_| noise.byte()).collect();
        // Small counts, so that records are reached now and then.
        for at in [5, 7, 9, 11] {
            if let Some(count) = random.get_mut(at) {
                *count &= 0x03;
            }
        }
        if let Some(high) = random.get_mut(4..12) {
            for (index, byte) in high.iter_mut().enumerate() {
                if index % 2 == 0 {
                    *byte = 0;
                }
            }
        }
        exercise(&random);
    }
}

/// How tshark writes a NetBIOS name: printable bytes as they are, others as `<hh>`, trailing
/// spaces cut, then the suffix (`<00>`) and the scope.
fn tshark_name(name: &NbnsName, with_suffix: bool) -> String {
    let end = name
        .bytes
        .iter()
        .rposition(|b| *b != b' ')
        .map_or(0, |last| last + 1);
    let mut text = String::new();
    for byte in &name.bytes[..end] {
        if (0x20..0x7f).contains(byte) {
            text.push(char::from(*byte));
        } else {
            write!(text, "<{byte:02x}>").unwrap();
        }
    }
    if with_suffix {
        write!(text, "<{:02x}>", name.suffix).unwrap();
    }
    if let Some(scope) = &name.scope {
        write!(text, ".{scope}").unwrap();
    }
    text
}

/// A tshark list (`a,b,c`), empty for an absent field.
fn list(field: &str) -> Vec<String> {
    if field.is_empty() {
        Vec::new()
    } else {
        field.split(',').map(str::to_owned).collect()
    }
}

const CAPTURES: &[&str] = &[
    "ndpi/netbios.pcap",
    "tcpdump/eapon1.pcap",
    "ndpi/gnutella.pcap",
    "zeek/tunnels_Teredo.pcap",
    "tcpdump/malformed/nbns-valgrind.pcap",
];

#[test]
fn every_corpus_message_decodes_as_tshark_does() {
    let fields = [
        "_ws.short",
        "nbns.id",
        "nbns.flags.opcode",
        "nbns.flags.response",
        "nbns.flags.broadcast",
        "nbns.count.queries",
        "nbns.count.answers",
        "nbns.count.auth_rr",
        "nbns.count.add_rr",
        "nbns.name",
        "nbns.type",
        "nbns.addr",
        "nbns.nb_flags.group",
        "nbns.netbios_name",
        "nbns.name_flags.group",
        "nbns.unit_id",
    ];
    let (mut compared, mut refused, mut missing, mut named) = (0, 0, 0, 0);
    for capture in CAPTURES {
        let Some(rows) = tshark(capture, "nbns", &fields) else {
            return;
        };
        let (link, frames) = corpus_frames(capture);
        for row in &rows {
            let number: usize = row[0].parse().unwrap();
            let context = format!("{capture} #{number}");
            let field = |index: usize| row.get(index + 1).map(String::as_str).unwrap_or("");
            // `corpus_frames` loses a frame cut by the snap length (pcap-file refuses a frame
            // whose original length exceeds the snap length): nbns-valgrind's only one, which
            // `the_valgrind_frame_is_refused` holds as literal bytes.
            let Some(frame) = frames.get(number - 1) else {
                assert!(
                    capture.contains("nbns-valgrind"),
                    "{context}: frame missing"
                );
                missing += 1;
                continue;
            };
            let result = decode(link, frame);
            if !field(0).is_empty() {
                // tshark says the capture cut the message short: it must be refused.
                assert!(result.is_err(), "{context}: {result:?}");
                refused += 1;
                continue;
            }
            let heard = result
                .unwrap_or_else(|error| panic!("{context}: {error}"))
                .unwrap();
            let packet = packet_of(&heard);
            assert_eq!(
                field(1),
                format!("{:#06x}", packet.transaction_id),
                "{context}"
            );
            assert_eq!(field(2), packet.opcode.to_string(), "{context}");
            assert_eq!(field(3), u8::from(packet.response).to_string(), "{context}");
            assert_eq!(
                field(4),
                u8::from(packet.broadcast).to_string(),
                "{context}"
            );
            let counts = [
                packet.questions.len(),
                packet.answers.len(),
                packet.authority.len(),
                packet.additional.len(),
            ];
            for (index, count) in counts.iter().enumerate() {
                assert_eq!(field(5 + index), count.to_string(), "{context}");
            }
            let records = || {
                packet
                    .answers
                    .iter()
                    .chain(&packet.authority)
                    .chain(&packet.additional)
            };
            // Names: the questions', then the records' (tshark adds the suffix's meaning).
            let names: Vec<String> = packet
                .questions
                .iter()
                .map(|q| &q.name)
                .chain(records().map(|r| &r.name))
                .map(|name| tshark_name(name, true))
                .collect();
            let tshark_names: Vec<String> = list(field(9))
                .into_iter()
                .map(|name| match name.rfind(" (") {
                    Some(at) if name.ends_with(')') => name[..at].to_owned(),
                    _ => name,
                })
                .collect();
            assert_eq!(tshark_names, names, "{context}");
            let types: Vec<String> = packet
                .questions
                .iter()
                .map(|q| q.question_type)
                .chain(records().map(|r| r.record_type))
                .map(|t| t.to_string())
                .collect();
            assert_eq!(list(field(10)), types, "{context}");
            let entries: Vec<NbEntry> = records()
                .filter_map(|r| match &r.data {
                    RecordData::Nb(entries) => Some(entries.clone()),
                    _ => None,
                })
                .flatten()
                .collect();
            let addresses: Vec<String> = entries.iter().map(|e| e.address.to_string()).collect();
            assert_eq!(list(field(11)), addresses, "{context}");
            let groups: Vec<String> = entries
                .iter()
                .map(|e| u8::from(e.group).to_string())
                .collect();
            assert_eq!(list(field(12)), groups, "{context}");
            let statuses: Vec<&NodeStatus> = records()
                .filter_map(|r| match &r.data {
                    RecordData::NodeStatus(status) => Some(status),
                    _ => None,
                })
                .collect();
            let node_names: Vec<String> = statuses
                .iter()
                .flat_map(|s| &s.names)
                .map(|n| tshark_name(&n.name, false))
                .collect();
            assert_eq!(list(field(13)), node_names, "{context}");
            let node_groups: Vec<String> = statuses
                .iter()
                .flat_map(|s| &s.names)
                .map(|n| u8::from(n.group()).to_string())
                .collect();
            assert_eq!(list(field(14)), node_groups, "{context}");
            let unit_ids: Vec<String> = statuses
                .iter()
                .filter_map(|s| s.unit_id)
                .map(|mac| mac.to_string())
                .collect();
            assert_eq!(list(field(15)), unit_ids, "{context}");
            compared += 1;
            if let Some(sighting) = packet.sighting(&heard.sender) {
                check_sighting(&sighting);
                named += usize::from(sighting.detail.is_some());
            }
        }
    }
    // 256 + 36 + 15 + 3 NBNS messages, and the valgrind one, cut short.
    eprintln!(
        "compared {compared} NBNS messages with tshark ({named} naming their sender), \
         {refused} refused, {missing} not read from the capture"
    );
    assert!(compared >= 310 && refused + missing >= 1, "{compared}");
    // 6 responses in netbios.pcap, 24 + 12 registrations in eapon1 and gnutella.
    assert!(named >= 40, "{named}");
}
