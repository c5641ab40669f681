//! The LLMNR decoder on real queries, hand-made responses, tshark's decode of the corpus, and
//! noise.

use std::collections::BTreeMap;

use hygie_domain::{MacAddr, limits};
use simple_dns::rdata::{A, AAAA, TXT};
use simple_dns::{Name, Question, ResourceRecord, TYPE};

use super::*;
use crate::frame::LinkType;
use crate::heard::{DecodeError, Heard, Hearing, Message, decode};
use crate::testing::{Noise, corpus_frames, tshark};

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn mac(text: &str) -> MacAddr {
    text.parse().unwrap()
}

/// Frame 20 of nDPI's `gnutella.pcap` (`tshark -x`): a Windows host asking ff02::1:3 for ANY
/// record of `MSEDGEWIN10`, with hop limit 1.
const GNUTELLA_ANY_V6: &str = "333300010003080027e6e55986dd600fe90900251101fe80000000000000c50d519f96a4e108ff020000000000000000000000010003f8e514eb0025ffe3035c000000010000000000000b4d534544474557494e31300000ff0001";
/// Frame 22: the same question to 224.0.0.252.
const GNUTELLA_ANY_V4: &str = "01005e0000fc080027e6e559080045000039a4c60000011127e30a00020fe00000fcf8e514eb00259eba035c000000010000000000000b4d534544474557494e31300000ff0001";
/// Frame 135: an AAAA query for `puppet`.
const GNUTELLA_AAAA: &str = "333300010003080027e6e55986dd6002265400201101fe80000000000000c50d519f96a4e108ff020000000000000000000000010003c50314eb0020b659831f000000010000000000000670757070657400001c0001";

/// A response written by hand as Windows sends one: `DESKTOP-1` is at 192.168.1.20, the
/// answer's name a compression pointer to the question's.
const RESPONSE: &str = concat!(
    "1234",
    "8000",
    "0001",
    "0001",
    "0000",
    "0000",
    "09",
    "4445534b544f502d31",
    "00",
    "0001",
    "0001",
    "c00c",
    "0001",
    "0001",
    "0000001e",
    "0004",
    "c0a80114",
);

const DEVICE: &str = "00:1b:21:00:00:01";

fn sender(source: &str) -> Sender {
    Sender {
        mac: mac(DEVICE),
        ip: Some(ip(source)),
        on_link: true,
    }
}

fn heard(frame: &[u8]) -> (Sender, LlmnrPacket) {
    let heard = decode(LinkType::Ethernet, frame).unwrap().unwrap();
    match heard.message {
        Message::Llmnr(packet) => (heard.sender, packet),
        other => panic!("not LLMNR: {other:?}"),
    }
}

/// An Ethernet/IPv4/UDP frame from `source` (port 5355) to `destination` with `ttl`.
fn udp_frame(source: [u8; 4], destination: [u8; 4], ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x00, 0x1b, 0x21, 0x00, 0x00, 0x99];
    frame.extend_from_slice(&mac(DEVICE).octets());
    frame.extend_from_slice(&[0x08, 0x00]);
    let total = u16::try_from(20 + 8 + payload.len()).unwrap();
    frame.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, ttl, 17, 0, 0]);
    frame[16..18].copy_from_slice(&total.to_be_bytes());
    frame.extend_from_slice(&source);
    frame.extend_from_slice(&destination);
    let udp_len = u16::try_from(8 + payload.len()).unwrap();
    frame.extend_from_slice(&5355u16.to_be_bytes());
    frame.extend_from_slice(&50000u16.to_be_bytes());
    frame.extend_from_slice(&udp_len.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn real_queries_prove_presence_only() {
    let (sender, packet) = heard(&hex(GNUTELLA_ANY_V6));
    assert_eq!(
        packet,
        LlmnrPacket {
            id: 0x035c,
            response: false,
            conflict: false,
            truncated: false,
            tentative: false,
            response_code: 0,
            question: LlmnrQuestion {
                name: Some("msedgewin10".into()),
                record_type: 255,
            },
            answers: Vec::new(),
        }
    );
    // Windows asks for its own name at start-up (this is one such query), but a query is
    // never taken as the sender's name.
    assert_eq!(
        packet.sighting(&sender),
        Some(Sighting {
            mac: Some(mac("08:00:27:e6:e5:59")),
            ips: vec![ip("fe80::c50d:519f:96a4:e108")],
            ..Sighting::default()
        })
    );

    let (sender, packet) = heard(&hex(GNUTELLA_ANY_V4));
    assert_eq!(packet.question.name.as_deref(), Some("msedgewin10"));
    let sighting = packet.sighting(&sender).unwrap();
    assert_eq!(sighting.ips, [ip("10.0.2.15")]);
    assert_eq!(sighting.hostname, None);

    let (_, packet) = heard(&hex(GNUTELLA_AAAA));
    assert_eq!(
        packet.question,
        LlmnrQuestion {
            name: Some("puppet".into()),
            record_type: 28,
        }
    );
}

#[test]
fn a_response_names_its_sender() {
    let packet = parse(&hex(RESPONSE)).unwrap();
    assert_eq!(
        packet,
        LlmnrPacket {
            id: 0x1234,
            response: true,
            conflict: false,
            truncated: false,
            tentative: false,
            response_code: 0,
            question: LlmnrQuestion {
                name: Some("desktop-1".into()),
                record_type: 1,
            },
            answers: vec![LlmnrAnswer {
                name: "desktop-1".into(),
                address: ip("192.168.1.20"),
            }],
        }
    );
    assert_eq!(
        packet.sighting(&sender("192.168.1.20")),
        Some(Sighting {
            mac: Some(mac(DEVICE)),
            ips: vec![ip("192.168.1.20")],
            hostname: Some("desktop-1".into()),
            ..Sighting::default()
        })
    );
    // Through the dispatcher: unicast with TTL 128 is on the link, and the observation
    // passes the contract.
    let frame = udp_frame([192, 168, 1, 20], [192, 168, 1, 7], 128, &hex(RESPONSE));
    let heard = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
    let observation = heard
        .observation(jiff::Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture)
        .unwrap();
    assert_eq!(observation.mac, mac(DEVICE));
    assert_eq!(observation.hostname.as_deref(), Some("desktop-1"));
    assert_eq!(observation.ips, [ip("192.168.1.20")]);
    assert_eq!(observation.detail, None);
    // TTL 63: routed, the frame names a router, nothing is attributed.
    let frame = udp_frame([192, 168, 1, 20], [192, 168, 1, 7], 63, &hex(RESPONSE));
    let heard = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
    assert_eq!(
        heard.observation(jiff::Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture),
        None
    );
}

fn record<'a>(name: &'a str, address: &str) -> ResourceRecord<'a> {
    let rdata = match ip(address) {
        IpAddr::V4(v4) => RData::A(A {
            address: u32::from(v4),
        }),
        IpAddr::V6(v6) => RData::AAAA(AAAA {
            address: u128::from(v6),
        }),
    };
    ResourceRecord::new(Name::new_unchecked(name), CLASS::IN, 30, rdata)
}

/// A response to a question for `question` (type ANY) with `answers`, built by simple-dns.
fn response(question: &str, answers: &[(&str, &str)]) -> Vec<u8> {
    let mut packet = Packet::new_reply(7);
    packet.questions.push(Question::new(
        Name::new_unchecked(question),
        simple_dns::QTYPE::ANY,
        CLASS::IN.into(),
        false,
    ));
    for (name, address) in answers {
        packet.answers.push(record(name, address));
    }
    packet.build_bytes_vec().unwrap()
}

#[test]
fn a_dual_stack_response_gives_every_address_of_the_name() {
    let bytes = response(
        "WARD3-PC",
        &[
            ("WARD3-PC", "fe80::1"),
            ("WARD3-PC", "198.18.0.30"),
            ("WARD3-PC", "2001:db8::30"),
            // Unusable addresses are not the device's.
            ("WARD3-PC", "0.0.0.0"),
            ("WARD3-PC", "ff02::1"),
            // Another name's address is not pinned on the sender.
            ("other-pc", "198.18.0.31"),
        ],
    );
    let sighting = parse(&bytes)
        .unwrap()
        .sighting(&sender("198.18.0.30"))
        .unwrap();
    assert_eq!(sighting.hostname.as_deref(), Some("ward3-pc"));
    assert_eq!(
        sighting.ips,
        [ip("198.18.0.30"), ip("fe80::1"), ip("2001:db8::30")]
    );
}

#[test]
fn a_response_not_about_the_sender_names_nobody() {
    // The answer gives another address: a proxy or a multi-homed host; presence only.
    let bytes = response("printer", &[("printer", "198.18.0.40")]);
    assert_eq!(
        parse(&bytes).unwrap().sighting(&sender("198.18.0.30")),
        Some(Sighting {
            mac: Some(mac(DEVICE)),
            ips: vec![ip("198.18.0.30")],
            ..Sighting::default()
        })
    );
    // An answer for a name that was not asked for is ignored.
    let bytes = response("printer", &[("pump-7", "198.18.0.30")]);
    assert_eq!(
        parse(&bytes)
            .unwrap()
            .sighting(&sender("198.18.0.30"))
            .unwrap()
            .hostname,
        None
    );
}

#[test]
fn conflicting_tentative_or_failed_responses_name_nobody() {
    let good = response("pc1", &[("pc1", "198.18.0.30")]);
    assert!(
        parse(&good)
            .unwrap()
            .sighting(&sender("198.18.0.30"))
            .unwrap()
            .hostname
            .is_some()
    );
    for (bit, field) in [
        (0x04u8, "conflict"),
        (0x01, "tentative"),
        (0x02, "truncated"),
    ] {
        let mut bytes = good.clone();
        bytes[2] |= bit;
        let packet = parse(&bytes).unwrap();
        let flags = [packet.conflict, packet.tentative, packet.truncated];
        assert_eq!(flags.iter().filter(|set| **set).count(), 1, "{field}");
        let sighting = packet.sighting(&sender("198.18.0.30")).unwrap();
        assert_eq!(sighting.ips, [ip("198.18.0.30")], "{field}");
        // A truncated response still answers; the others do not establish the name.
        assert_eq!(sighting.hostname.is_some(), field == "truncated", "{field}");
    }
    let mut refused = good.clone();
    refused[3] |= 0x05;
    let packet = parse(&refused).unwrap();
    assert_eq!(packet.response_code, 5);
    assert_eq!(
        packet.sighting(&sender("198.18.0.30")).unwrap().hostname,
        None
    );
    // A query carrying answers is still a query.
    let mut query = good;
    query[2] &= 0x7f;
    let packet = parse(&query).unwrap();
    assert!(!packet.response);
    assert_eq!(packet.answers.len(), 1);
    assert_eq!(
        packet.sighting(&sender("198.18.0.30")).unwrap().hostname,
        None
    );
}

#[test]
fn the_frame_must_name_the_sender() {
    let packet = parse(&response("pc1", &[("pc1", "198.18.0.30")])).unwrap();
    let routed = Sender {
        on_link: false,
        ..sender("198.18.0.30")
    };
    assert_eq!(packet.sighting(&routed), None);
    let group = Sender {
        mac: mac("01:00:5e:00:00:fc"),
        ..sender("198.18.0.30")
    };
    assert_eq!(packet.sighting(&group), None);
    let no_ip = Sender {
        ip: None,
        ..sender("198.18.0.30")
    };
    assert_eq!(packet.sighting(&no_ip), None);
    // A source that is no device address: the MAC alone.
    assert_eq!(
        packet.sighting(&sender("0.0.0.0")),
        Some(Sighting {
            mac: Some(mac(DEVICE)),
            ..Sighting::default()
        })
    );
}

#[test]
fn the_header_is_checked_before_the_sections() {
    let good = hex(RESPONSE);
    for len in 0..HEADER_LEN {
        assert_eq!(parse(&good[..len]), Err(LlmnrError::Truncated(len)));
    }
    // Every cut inside the sections is malformed.
    for len in HEADER_LEN..good.len() {
        assert!(
            matches!(parse(&good[..len]), Err(LlmnrError::Malformed(_))),
            "{len}"
        );
    }
    let mut opcode = good.clone();
    opcode[2] |= 0x28;
    assert_eq!(parse(&opcode), Err(LlmnrError::Opcode(5)));
    for questions in [0u16, 2, 0xffff] {
        let mut bytes = good.clone();
        bytes[4..6].copy_from_slice(&questions.to_be_bytes());
        assert_eq!(parse(&bytes), Err(LlmnrError::QuestionCount(questions)));
    }
    // A header claiming 3 × 65535 records is refused without reading (or allocating) them.
    let mut many = good.clone();
    many[6..12].copy_from_slice(&[0xff; 6]);
    assert_eq!(parse(&many), Err(LlmnrError::TooManyRecords(3 * 65535)));
    many[6..12].copy_from_slice(&[0, 30, 0, 30, 0, 5]);
    assert_eq!(parse(&many), Err(LlmnrError::TooManyRecords(65)));
    // The Z bits are ignored, as RFC 4795 says (plain DNS refuses one of them).
    let mut reserved = good.clone();
    reserved[3] |= 0xf0;
    assert_eq!(parse(&reserved), parse(&good));
    for (error, kind) in [
        (LlmnrError::Truncated(3), "truncated LLMNR"),
        (LlmnrError::Opcode(5), "unknown LLMNR opcode"),
        (LlmnrError::QuestionCount(2), "LLMNR question count not one"),
        (LlmnrError::TooManyRecords(65), "too many LLMNR records"),
        (LlmnrError::Malformed(String::new()), "malformed LLMNR"),
    ] {
        assert_eq!(error.kind(), kind);
    }
}

#[test]
fn compression_loops_are_refused() {
    // The question's name is a pointer to itself.
    let looping = hex("123480000001000000000000c00c00010001");
    assert!(matches!(parse(&looping), Err(LlmnrError::Malformed(_))));
    // Two names pointing at each other.
    let pair = hex("123480000001000100000000c01200010001c00c000100010000001e0004c0a80114");
    assert!(parse(&pair).is_err());
}

#[test]
fn records_other_than_a_and_aaaa_are_skipped() {
    let mut packet = Packet::new_reply(9);
    packet.questions.push(Question::new(
        Name::new_unchecked("pc1"),
        TYPE::A.into(),
        CLASS::IN.into(),
        false,
    ));
    let mut txt = TXT::new();
    txt.add_string("hello").unwrap();
    packet.answers.push(ResourceRecord::new(
        Name::new_unchecked("pc1"),
        CLASS::IN,
        30,
        RData::TXT(txt),
    ));
    packet.answers.push(record("pc1", "198.18.0.30"));
    let mut chaos = record("pc1", "198.18.0.31");
    chaos.class = CLASS::CH;
    packet.answers.push(chaos);
    let packet = parse(&packet.build_bytes_vec().unwrap()).unwrap();
    assert_eq!(
        packet.answers,
        [LlmnrAnswer {
            name: "pc1".into(),
            address: ip("198.18.0.30"),
        }]
    );
}

/// A response whose name is given as raw labels.
fn raw_response(labels: &[&[u8]], address: [u8; 4]) -> Vec<u8> {
    let mut bytes = hex("123480000001000100000000");
    for label in labels {
        bytes.push(u8::try_from(label.len()).unwrap());
        bytes.extend_from_slice(label);
    }
    bytes.extend_from_slice(&[0, 0, 1, 0, 1]);
    bytes.extend_from_slice(&hex("c00c000100010000001e0004"));
    bytes.extend_from_slice(&address);
    bytes
}

#[test]
fn hostile_names_come_out_clean_and_bounded() {
    let source = sender("198.18.0.30");
    let hostile = raw_response(
        &["PUMP\u{1b}[2J\u{202e}7".as_bytes(), b"\x07lan"],
        [198, 18, 0, 30],
    );
    let packet = parse(&hostile).unwrap();
    assert_eq!(packet.question.name.as_deref(), Some("pump[2j7.lan"));
    assert_eq!(
        packet.sighting(&source).unwrap().hostname.as_deref(),
        Some("pump[2j7.lan")
    );
    // Four 60-byte labels of invalid UTF-8: each byte becomes U+FFFD (three bytes), far over
    // the limit, and is clamped on a character boundary.
    let invalid = [0xffu8; 60];
    let long = raw_response(&[&invalid, &invalid, &invalid, &invalid], [198, 18, 0, 30]);
    let hostname = parse(&long)
        .unwrap()
        .sighting(&source)
        .unwrap()
        .hostname
        .unwrap();
    assert!(
        hostname.len() <= limits::MAX_HOSTNAME_LEN,
        "{}",
        hostname.len()
    );
    assert!(hostname.starts_with('\u{fffd}'));
    // A name of control characters only is no name.
    let empty = raw_response(&[b"\x01\x02"], [198, 18, 0, 30]);
    let packet = parse(&empty).unwrap();
    assert_eq!(packet.question.name, None);
    assert!(packet.answers.is_empty());
    assert_eq!(packet.sighting(&source).unwrap().hostname, None);
    // Through the dispatcher, the observation passes the contract.
    for payload in [hostile, long] {
        let frame = udp_frame([198, 18, 0, 30], [198, 18, 0, 2], 128, &payload);
        let heard = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
        let observation = heard
            .observation(jiff::Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture)
            .unwrap();
        observation.check().unwrap();
        assert!(observation.hostname.is_some());
    }
}

/// Captures searched for LLMNR: only gnutella has any.
const CAPTURES: &[&str] = &[
    "ndpi/gnutella.pcap",
    "ndpi/android.pcap",
    "ndpi/iphone.pcap",
    "ndpi/netbios.pcap",
    "zeek/dns_mdns.pcap",
];

#[test]
fn the_corpus_decodes_as_tshark_does() {
    let fields = [
        "dns.id",
        "dns.flags.response",
        "dns.flags.conflict",
        "dns.flags.truncated",
        "dns.flags.tentative",
        "dns.flags.rcode",
        "dns.qry.name",
        "dns.qry.type",
        "dns.a",
        "dns.aaaa",
    ];
    let flag = |value: bool| if value { "1" } else { "0" };
    let mut compared = 0;
    for capture in CAPTURES {
        let Some(rows) = tshark(capture, "llmnr", &fields) else {
            return;
        };
        let expected: BTreeMap<usize, Vec<String>> = rows
            .into_iter()
            .map(|row| (row[0].parse::<usize>().unwrap(), row[1..].to_vec()))
            .collect();
        let (link, frames) = corpus_frames(capture);
        for (index, frame) in frames.iter().enumerate() {
            let decoded = decode(link, frame);
            let Some(row) = expected.get(&(index + 1)) else {
                assert!(
                    !matches!(
                        decoded,
                        Ok(Some(Heard {
                            message: Message::Llmnr(_),
                            ..
                        })) | Err(DecodeError::Llmnr(_))
                    ),
                    "{capture} #{}",
                    index + 1
                );
                continue;
            };
            let (sender, packet) = heard(frame);
            let context = format!("{capture} #{}: {packet:?} vs {row:?}", index + 1);
            assert_eq!(row[0], format!("0x{:04x}", packet.id), "{context}");
            assert_eq!(row[1], flag(packet.response), "{context}");
            assert_eq!(row[2], flag(packet.conflict), "{context}");
            assert_eq!(row[3], flag(packet.truncated), "{context}");
            assert_eq!(row[4], flag(packet.tentative), "{context}");
            // tshark shows the response code of responses only.
            let rcode = packet.response.then(|| packet.response_code.to_string());
            assert_eq!(row[5], rcode.unwrap_or_default(), "{context}");
            assert_eq!(
                Some(row[6].to_lowercase()),
                packet.question.name,
                "{context}"
            );
            assert_eq!(row[7], packet.question.record_type.to_string(), "{context}");
            let addresses = |v4: bool| {
                packet
                    .answers
                    .iter()
                    .filter(|answer| answer.address.is_ipv4() == v4)
                    .map(|answer| answer.address.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            assert_eq!(row.get(8).cloned().unwrap_or_default(), addresses(true));
            assert_eq!(row.get(9).cloned().unwrap_or_default(), addresses(false));
            // Every one is a query: its sender's presence, no name.
            let sighting = packet.sighting(&sender).unwrap();
            assert_eq!(sighting.mac, Some(mac("08:00:27:e6:e5:59")));
            assert_eq!(sighting.ips.len(), 1, "{context}");
            assert_eq!(sighting.hostname, None);
            compared += 1;
        }
    }
    assert_eq!(compared, 10);
}

#[test]
fn real_and_made_messages_cut_or_mutated_or_random_never_panic() {
    let mut messages: Vec<Vec<u8>> = [GNUTELLA_ANY_V6, GNUTELLA_AAAA]
        .iter()
        .map(|frame| hex(frame)[62..].to_vec())
        .collect();
    messages.push(hex(GNUTELLA_ANY_V4)[42..].to_vec());
    messages.push(hex(RESPONSE));
    messages.push(response(
        "ward3-pc",
        &[("ward3-pc", "198.18.0.30"), ("ward3-pc", "fe80::1")],
    ));
    for message in &messages {
        assert!(parse(message).is_ok());
    }
    let senders = [sender("198.18.0.30"), sender("fe80::1"), sender("0.0.0.0")];
    let exercise = |bytes: &[u8]| {
        if let Ok(packet) = parse(bytes) {
            for sender in &senders {
                if let Some(sighting) = packet.sighting(sender) {
                    assert!(sighting.ips.len() <= limits::MAX_ADDRESSES);
                    if let Some(hostname) = &sighting.hostname {
                        assert!(hostname.len() <= limits::MAX_HOSTNAME_LEN);
                        assert!(!hostname.chars().any(hygie_domain::text::is_unsafe_char));
                    }
                }
            }
        }
    };
    let mut noise = Noise(0x11a1_7e57_0bad_cafe);
    for message in &messages {
        for len in 0..=message.len() {
            exercise(&message[..len]);
        }
        for _ in 0..2_000 {
            let mut mutated = message.clone();
            for _ in 0..1 + noise.below(4) {
                let at = noise.below(mutated.len());
                mutated[at] = noise.byte();
            }
            exercise(&mutated);
        }
    }
    for _ in 0..20_000 {
        let len = noise.below(200);
        let mut bytes: Vec<u8> = (0..len).map(|_| noise.byte()).collect();
        // A plausible header, so that the sections get parsed.
        if bytes.len() >= HEADER_LEN {
            bytes[2] &= 0x87;
            bytes[4..6].copy_from_slice(&[0, 1]);
            bytes[6] = 0;
            bytes[7] %= 8;
            bytes[8..10].copy_from_slice(&[0, 0]);
            bytes[10] = 0;
            bytes[11] %= 4;
        }
        exercise(&bytes);
    }
}
