//! The DHCPv6 decoder on real frames, hand-built messages and hostile input, compared with
//! tshark's and tcpdump's decode of the corpus.

use std::net::IpAddr;

use hygie_domain::{MacAddr, Observation};
use jiff::Timestamp;

use super::*;
use crate::frame::{LinkType, parse_frame};
use crate::heard::{Heard, Hearing, Message as Decoded, decode};
use crate::ip::{parse_ip, parse_udp};
use crate::testing::{Noise, corpus_frames, corpus_path, tshark};

fn bytes_of(text: &[&str]) -> Vec<u8> {
    let text: String = text.concat();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The DHCPv6 payload of an Ethernet frame (IPv6 without extension headers, UDP).
fn payload_of(frame: &[u8]) -> &[u8] {
    &frame[14 + 40 + 8..]
}

fn observe(frame: &[u8]) -> Option<Observation> {
    decode(LinkType::Ethernet, frame)
        .unwrap()
        .unwrap()
        .observation(Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture)
}

fn message_of(packet: &Dhcpv6Packet) -> &Message {
    match &packet.body {
        Body::Message(message) => message,
        Body::Relay(relay) => panic!("a relay message: {relay:?}"),
    }
}

/// Frame 9 of nDPI's `gnutella.pcap` (`tshark -x`): Windows 10 soliciting, with a DUID-LLT, a
/// partial FQDN (`MSEDGEWIN10`, no root label), vendor class `MSFT 5.0` and an ORO.
const WINDOWS_SOLICIT: &[&str] = &[
    "333300010002080027e6e55986dd600cfa6400631101fe80000000000000c50d519f96a4e108ff020000000000000000",
    "000000010002022202230063dd170113d1ed0008000200000001000e000100012422f1b3080027e6e5590003000c0508",
    "002700000000000000000027000d000b4d534544474557494e31300010000e0000013700084d53465420352e30000600",
    "080011001700180027",
];

/// Frame 14 of tcpdump's `dhcpv4v6-rfc5970-rfc8572.pcap`: an Arista switch's
/// INFORMATION-REQUEST, with a DUID-LL and a user class.
const ARISTA_INFORMATION_REQUEST: &[&str] = &[
    "33330001000200004401000086dd60009903008a1101fe80000000000000020044fffe010000ff020000000000000000",
    "00000001000202220223008ae6410b0b5fcf00110034000075710001002c4172697374613b546573742d446863707636",
    "446973636f7665723b30312e30303b48534831343432353134380001000a0003000100004401000000060006003b0018",
    "001700080002014b000f002400224172697374613b546573742d446863707636446973636f7665723b342e32312e5858",
];

/// Frame 69 of nDPI's `android.pcap`: an Android phone soliciting, with neither FQDN nor vendor
/// class.
const ANDROID_SOLICIT: &[&str] = &[
    "3333000100024c6af69ff62786dd6004d8a9003c1101fe800000000000004e6af6fffe9ff627ff020000000000000000",
    "00000001000202220223003c51cf01d8e4fe0001000e0001000125e5148e4c6af69ff6270003000c0e0008ca00000000",
    "000000000008000200000006000400170018",
];

#[test]
fn a_real_solicit_fingerprints_its_sender() {
    let frame = bytes_of(WINDOWS_SOLICIT);
    let packet = parse(payload_of(&frame)).unwrap();
    assert_eq!(packet.message_type, message_type::SOLICIT);
    let message = message_of(&packet);
    assert_eq!(message.transaction_id, 0x13d1ed);
    assert_eq!(message.server_id, None);
    assert_eq!(message.host_name.as_deref(), Some("msedgewin10"));
    assert_eq!(
        message.details,
        DhcpDetails {
            version: DhcpVersion::V6,
            message_type: 1,
            parameter_request_list: vec![17, 23, 24, 39],
            vendor_class: Some("MSFT 5.0".into()),
            vendor_enterprise: Some(311),
            client_id: Some("000100012422f1b3080027e6e559".into()),
            fqdn: Some("MSEDGEWIN10".into()),
            user_class: Vec::new(),
            requested_address: None,
        }
    );
    assert_eq!(message.details.message_name(), "SOLICIT");
    let observation = observe(&frame).unwrap();
    assert_eq!(observation.mac.to_string(), "08:00:27:e6:e5:59");
    assert_eq!(
        observation.ips,
        ["fe80::c50d:519f:96a4:e108".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(observation.hostname.as_deref(), Some("msedgewin10"));
    assert_eq!(
        observation.detail,
        Some(Detail::Dhcp(message.details.clone()))
    );
}

#[test]
fn a_real_information_request_keeps_its_user_class() {
    let frame = bytes_of(ARISTA_INFORMATION_REQUEST);
    let packet = parse(payload_of(&frame)).unwrap();
    assert_eq!(packet.message_type, message_type::INFORMATION_REQUEST);
    let message = message_of(&packet);
    assert_eq!(message.transaction_id, 0x0b5fcf);
    let details = &message.details;
    assert_eq!(details.client_id.as_deref(), Some("00030001000044010000"));
    assert_eq!(details.parameter_request_list, [59, 24, 23]);
    assert_eq!(details.user_class, ["Arista;Test-Dhcpv6Discover;4.21.XX"]);
    // Option 17 (vendor-specific information) is not the vendor class.
    assert_eq!(
        (details.vendor_class.as_deref(), details.vendor_enterprise),
        (None, None)
    );
    assert_eq!(
        (details.fqdn.as_deref(), message.host_name.as_deref()),
        (None, None)
    );
    let observation = observe(&frame).unwrap();
    assert_eq!(observation.mac.to_string(), "00:00:44:01:00:00");
    assert_eq!(observation.hostname, None);
}

#[test]
fn a_solicit_without_names_is_still_a_fingerprint() {
    let frame = bytes_of(ANDROID_SOLICIT);
    let observation = observe(&frame).unwrap();
    assert_eq!(observation.mac.to_string(), "4c:6a:f6:9f:f6:27");
    let Some(Detail::Dhcp(details)) = observation.detail else {
        panic!("no detail");
    };
    assert_eq!(details.fingerprint(), "23,24");
    assert_eq!(
        details.client_id.as_deref(),
        Some("0001000125e5148e4c6af69ff627")
    );
}

// Hand-built messages.

/// One option.
fn opt(code: u16, value: &[u8]) -> Vec<u8> {
    let mut bytes = code.to_be_bytes().to_vec();
    bytes.extend(u16::try_from(value.len()).unwrap().to_be_bytes());
    bytes.extend_from_slice(value);
    bytes
}

/// A message of `kind`, transaction 0x123456, with these options.
fn message(kind: u8, options: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = vec![kind, 0x12, 0x34, 0x56];
    bytes.extend(options.concat());
    bytes
}

const CLIENT: [u8; 6] = [0x00, 0x09, 0x5c, 0x11, 0x22, 0x01];

/// The client, sending from its link-local address to a multicast group.
fn client() -> Sender {
    Sender {
        mac: MacAddr::new(CLIENT),
        ip: Some("fe80::209:5cff:fe11:2201".parse().unwrap()),
        on_link: true,
    }
}

fn details(bytes: &[u8]) -> DhcpDetails {
    message_of(&parse(bytes).unwrap()).details.clone()
}

#[test]
fn relay_messages_decode_their_header_only() {
    let mut relay = vec![message_type::RELAY_FORW, 1];
    relay.extend("2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    relay.extend(
        "fe80::209:5cff:fe11:2201"
            .parse::<Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    // The relayed SOLICIT, inside option 9: not looked at.
    relay.extend(opt(9, &message(1, &[opt(39, b"\x00\x04pump")])));
    let packet = parse(&relay).unwrap();
    assert_eq!(
        packet.body,
        Body::Relay(Relay {
            hop_count: 1,
            link_address: "2001:db8::1".parse().unwrap(),
            peer_address: "fe80::209:5cff:fe11:2201".parse().unwrap(),
        })
    );
    assert_eq!(packet.sighting(&client()), None);
    relay[0] = message_type::RELAY_REPL;
    assert!(matches!(parse(&relay).unwrap().body, Body::Relay(_)));
    assert_eq!(parse(&relay).unwrap().sighting(&client()), None);
    for len in 0..RELAY_HEADER_LEN {
        assert_eq!(parse(&relay[..len]), Err(Dhcpv6Error::Truncated(len)));
    }
    // Whatever follows the header (even garbage) is not read.
    assert!(parse(&relay[..RELAY_HEADER_LEN + 3]).is_ok());
}

#[test]
fn every_truncation_is_refused_or_ends_at_an_option() {
    let frame = bytes_of(WINDOWS_SOLICIT);
    let payload = payload_of(&frame);
    for len in 0..4 {
        assert_eq!(parse(&payload[..len]), Err(Dhcpv6Error::Truncated(len)));
    }
    // Options: elapsed time (6 bytes), client id (18), IA_NA (16), FQDN (17), vendor class
    // (18), ORO (12).
    let mut boundaries = vec![4];
    for size in [6, 18, 16, 17, 18, 12] {
        boundaries.push(boundaries.last().unwrap() + size);
    }
    assert_eq!(*boundaries.last().unwrap(), payload.len());
    for len in 4..payload.len() {
        let result = parse(&payload[..len]);
        if boundaries.contains(&len) {
            assert!(result.is_ok(), "{len}: {result:?}");
        } else {
            assert!(
                matches!(result, Err(Dhcpv6Error::OptionTruncated { .. })),
                "{len}: {result:?}"
            );
        }
    }
    assert_eq!(
        parse(&payload[..4 + 6 + 10]),
        Err(Dhcpv6Error::OptionTruncated { code: 1 })
    );
    assert_eq!(
        parse(&payload[..4 + 6 + 3]).unwrap_err().kind(),
        "truncated DHCPv6 options"
    );
}

#[test]
fn ill_formed_option_values_are_dropped_not_the_message() {
    // An odd ORO, a vendor class whose item runs past its end, a user class likewise, an FQDN
    // with a compression pointer: each field is dropped, the rest kept.
    let bytes = message(
        1,
        &[
            opt(1, &[0, 3, 0, 1, 1, 2, 3, 4, 5, 6]),
            opt(6, &[0, 23, 0]),
            opt(16, &[0, 0, 1, 55, 0, 9, b'M', b'S']),
            opt(15, &[0, 2, b'a', b'b', 0, 5, b'c']),
            opt(39, &[0, 4, b'p', b'u', b'm', b'p', 0xc0, 0x0c]),
        ],
    );
    let details = details(&bytes);
    assert_eq!(details.client_id.as_deref(), Some("00030001010203040506"));
    assert!(details.parameter_request_list.is_empty());
    assert_eq!(
        (details.vendor_class, details.vendor_enterprise),
        (None, None)
    );
    assert!(details.user_class.is_empty());
    assert_eq!(details.fqdn, None);

    // A vendor class with an enterprise number and no data; a shorter one is nothing.
    let details = self::details(&message(1, &[opt(16, &[0, 0, 0x75, 0x71])]));
    assert_eq!(
        (details.vendor_class, details.vendor_enterprise),
        (None, Some(30065))
    );
    let details = self::details(&message(1, &[opt(16, &[0, 0, 0x75])]));
    assert_eq!(details.vendor_enterprise, None);
    // Empty options are absent ones.
    let details = self::details(&message(1, &[opt(1, &[]), opt(6, &[]), opt(39, &[])]));
    assert_eq!(details.client_id, None);
    assert!(details.parameter_request_list.is_empty());
    assert_eq!(details.fqdn, None);
}

#[test]
fn the_first_instance_of_an_option_counts() {
    let bytes = message(
        1,
        &[
            opt(6, &[0, 23]),
            opt(1, &[0xaa]),
            opt(6, &[0, 24]),
            opt(1, &[0xbb]),
            opt(2, &[0xcc]),
        ],
    );
    let packet = parse(&bytes).unwrap();
    let message = message_of(&packet);
    assert_eq!(message.details.parameter_request_list, [23]);
    assert_eq!(message.details.client_id.as_deref(), Some("aa"));
    assert_eq!(message.server_id.as_deref(), Some("cc"));
}

#[test]
fn vendor_and_user_classes_are_lists_of_items() {
    let details = details(&message(
        1,
        &[
            opt(16, b"\x00\x00\x01\x37\x00\x08MSFT 5.0\x00\x04test"),
            opt(15, b"\x00\x03abc\x00\x00\x00\x02de"),
        ],
    ));
    assert_eq!(details.vendor_enterprise, Some(311));
    assert_eq!(details.vendor_class.as_deref(), Some("MSFT 5.0, test"));
    assert_eq!(
        details.user_class,
        ["abc", "de"],
        "the empty item is dropped"
    );
}

#[test]
fn hostile_values_are_cleaned_and_bounded() {
    let mut users = Vec::new();
    for _ in 0..40 {
        users.extend([0, 1, b'u']);
    }
    let mut vendor = vec![0, 0, 0, 9];
    for _ in 0..10 {
        vendor.extend([1, 44]);
        vendor.extend([b'v'; 300]);
    }
    let bytes = message(
        1,
        &[
            opt(1, &[0xab; 300]),
            opt(6, &[0, 1].repeat(1000)),
            opt(15, &users),
            opt(16, &vendor),
            opt(
                39,
                &[&[0u8][..], b"\x0eICU\x1b[2J\xe2\x80\xaePump\x05local"].concat(),
            ),
        ],
    );
    let packet = parse(&bytes).unwrap();
    let message = message_of(&packet);
    let details = &message.details;
    assert_eq!(
        details.client_id.as_ref().unwrap().len(),
        limits::MAX_CLIENT_ID_HEX_LEN
    );
    assert_eq!(
        details.parameter_request_list.len(),
        limits::MAX_PARAMETER_REQUESTS
    );
    assert_eq!(
        details.user_class,
        vec!["u".to_owned(); limits::MAX_DETAIL_ITEMS]
    );
    let vendor = details.vendor_class.as_deref().unwrap();
    assert_eq!(vendor.len(), limits::MAX_DETAIL_TEXT_LEN);
    assert!(vendor.starts_with("vvv"));
    assert_eq!(
        details.fqdn.as_deref(),
        Some("ICU\u{fffd}[2J\u{fffd}Pump.local")
    );
    assert_eq!(message.host_name.as_deref(), Some("icu[2jpump.local"));
    let sighting = packet.sighting(&client()).unwrap();
    sighting.detail.unwrap().check().unwrap();
}

// The sighting rules.

#[test]
fn client_messages_fingerprint_the_frame_sender() {
    for kind in [1, 3, 4, 5, 6, 8, 9, 11] {
        let bytes = message(kind, &[opt(6, &[0, 23, 0, 24]), opt(39, b"\x01\x04Pump")]);
        let sighting = parse(&bytes).unwrap().sighting(&client()).unwrap();
        assert_eq!(sighting.mac, Some(MacAddr::new(CLIENT)), "type {kind}");
        assert_eq!(sighting.ips, [client().ip.unwrap()]);
        assert_eq!(sighting.hostname.as_deref(), Some("pump"));
        let Some(Detail::Dhcp(detail)) = sighting.detail else {
            panic!("no detail");
        };
        assert_eq!(detail.version, DhcpVersion::V6);
        assert_eq!(detail.message_type, kind);
        assert_eq!(detail.parameter_request_list, [23, 24]);
        assert_eq!(detail.requested_address, None);
    }
}

#[test]
fn server_and_unknown_messages_say_nothing() {
    for kind in [0, 2, 7, 10, 14, 15, 20, 255] {
        let bytes = message(kind, &[opt(1, &[1, 2]), opt(2, &[3, 4])]);
        let packet = parse(&bytes).unwrap();
        assert!(matches!(packet.body, Body::Message(_)));
        assert_eq!(packet.sighting(&client()), None, "type {kind}");
    }
}

#[test]
fn only_the_senders_own_mac_counts() {
    let bytes = message(1, &[]);
    let packet = parse(&bytes).unwrap();
    let routed = Sender {
        on_link: false,
        ..client()
    };
    assert_eq!(packet.sighting(&routed), None);
    let multicast = Sender {
        mac: MacAddr::new([0x33, 0x33, 0, 1, 0, 2]),
        ..client()
    };
    assert_eq!(packet.sighting(&multicast), None);
    let no_ip = Sender {
        ip: None,
        ..client()
    };
    assert!(packet.sighting(&no_ip).unwrap().ips.is_empty());
    let unspecified = Sender {
        ip: Some("::".parse().unwrap()),
        ..client()
    };
    assert!(packet.sighting(&unspecified).unwrap().ips.is_empty());
}

// Oracles.

const CAPTURES: &[&str] = &[
    "tcpdump/dhcpv4v6-rfc5970-rfc8572.pcap",
    "ndpi/android.pcap",
    "ndpi/gnutella.pcap",
];

const TSHARK_FIELDS: &[&str] = &[
    "dhcpv6.msgtype",
    "dhcpv6.xid",
    "dhcpv6.duid.bytes",
    "dhcpv6.requested_option_code",
    "dhcpv6.vendorclass.enterprise",
    "dhcpv6.vendorclass.data",
    "dhcpv6.client_domain",
    "dhcpv6.userclass.opaque_data",
    "dhcpv6.hopcount",
];

/// Every DHCPv6 payload of a capture, by frame number, and whether the dispatcher hands the
/// frame to this decoder (it does not for server-to-client messages: see the report).
fn payloads(capture: &str) -> Vec<(usize, Vec<u8>, bool)> {
    let (link, frames) = corpus_frames(capture);
    let mut payloads = Vec::new();
    for (index, bytes) in frames.iter().enumerate() {
        let Ok(frame) = parse_frame(link, bytes) else {
            continue;
        };
        let Some(Ok(Some(ip))) = frame.ethertype().map(|e| parse_ip(e, frame.payload)) else {
            continue;
        };
        let Ok(udp) = parse_udp(ip.payload) else {
            continue;
        };
        if udp.has_port(CLIENT_PORT) || udp.has_port(SERVER_PORT) {
            let dispatched = matches!(
                decode(link, bytes),
                Ok(Some(Heard {
                    message: Decoded::Dhcpv6(_),
                    ..
                }))
            );
            payloads.push((index + 1, udp.payload.to_vec(), dispatched));
        }
    }
    payloads
}

#[test]
fn the_corpus_decodes_as_tshark_decodes_it() {
    let (mut frames, mut fields, mut dispatched) = (0, 0, 0);
    for capture in CAPTURES {
        let Some(rows) = tshark(capture, "dhcpv6 && !icmpv6", TSHARK_FIELDS) else {
            return;
        };
        let payloads = payloads(capture);
        assert_eq!(rows.len(), payloads.len(), "{capture}");
        for (row, (number, payload, by_dispatcher)) in rows.iter().zip(&payloads) {
            assert_eq!(row[0], number.to_string(), "{capture}");
            let what = format!("{capture} frame {number}");
            let field = |name: &str| {
                let at = TSHARK_FIELDS.iter().position(|f| *f == name).unwrap() + 1;
                row.get(at).map(String::as_str).unwrap_or("")
            };
            let packet = parse(payload).unwrap_or_else(|error| panic!("{what}: {error}"));
            let mut check = |name: &str, ours: String, theirs: &str| {
                assert_eq!(ours, theirs, "{what}: {name}");
                fields += 1;
            };
            check(
                "msg-type",
                packet.message_type.to_string(),
                field("dhcpv6.msgtype"),
            );
            match &packet.body {
                Body::Relay(relay) => {
                    check(
                        "hop count",
                        relay.hop_count.to_string(),
                        field("dhcpv6.hopcount"),
                    );
                }
                Body::Message(message) => {
                    check(
                        "xid",
                        format!("0x{:06x}", message.transaction_id),
                        field("dhcpv6.xid"),
                    );
                    let details = &message.details;
                    let mut ours: Vec<String> = details
                        .client_id
                        .iter()
                        .chain(&message.server_id)
                        .cloned()
                        .collect();
                    ours.sort();
                    let mut theirs: Vec<&str> = field("dhcpv6.duid.bytes")
                        .split(',')
                        .filter(|d| !d.is_empty())
                        .collect();
                    theirs.sort_unstable();
                    check("DUIDs", ours.join(","), &theirs.join(","));
                    check(
                        "ORO",
                        details.fingerprint(),
                        field("dhcpv6.requested_option_code"),
                    );
                    check(
                        "vendor enterprise",
                        details
                            .vendor_enterprise
                            .map(|n| n.to_string())
                            .unwrap_or_default(),
                        field("dhcpv6.vendorclass.enterprise"),
                    );
                    check(
                        "vendor class",
                        details.vendor_class.clone().unwrap_or_default(),
                        &field("dhcpv6.vendorclass.data").replace(',', ", "),
                    );
                    check(
                        "FQDN",
                        details.fqdn.clone().unwrap_or_default(),
                        field("dhcpv6.client_domain"),
                    );
                    let users: Vec<String> = details
                        .user_class
                        .iter()
                        .map(|class| hex_of(class.as_bytes()))
                        .collect();
                    check(
                        "user class",
                        users.join(","),
                        field("dhcpv6.userclass.opaque_data"),
                    );
                }
            }
            frames += 1;
            dispatched += usize::from(*by_dispatcher);
        }
    }
    eprintln!("{frames} DHCPv6 messages ({dispatched} dispatched) and {fields} fields as tshark");
    assert!(frames >= 19, "{frames}");
}

/// What tcpdump's one-line decode says of a DHCPv6 message.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tcpdump {
    kind: String,
    xid: u32,
    client_id: Option<String>,
    server_id: Option<String>,
    oro: Vec<u16>,
    user_class: Option<String>,
}

/// A DUID as tcpdump writes it: `hwaddr/time type 1 time 701530515 000001010000` (DUID-LLT)
/// or `hwaddr type 1 000044010000` (DUID-LL), in hex.
fn tcpdump_duid(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    match words.as_slice() {
        ["hwaddr/time", "type", kind, "time", time, address] => format!(
            "0001{:04x}{:08x}{address}",
            kind.parse::<u16>().unwrap(),
            time.parse::<u32>().unwrap()
        ),
        ["hwaddr", "type", kind, address] => {
            format!("0003{:04x}{address}", kind.parse::<u16>().unwrap())
        }
        _ => panic!("DUID {text}"),
    }
}

fn tcpdump_line(line: &str) -> Option<Tcpdump> {
    let rest = line.split("dhcp6 ").nth(1)?;
    let (kind, rest) = rest.split_once(' ')?;
    let xid = rest.strip_prefix("(xid=")?.split([' ', ')']).next()?;
    let mut message = Tcpdump {
        kind: kind.to_owned(),
        xid: u32::from_str_radix(xid, 16).ok()?,
        ..Tcpdump::default()
    };
    // The options are parenthesised groups; those kept here have no nested parentheses.
    for group in rest.split('(').skip(1) {
        let group = group.split(')').next().unwrap_or("");
        if let Some(duid) = group.strip_prefix("client-ID ") {
            message.client_id = Some(tcpdump_duid(duid));
        } else if let Some(duid) = group.strip_prefix("server-ID ") {
            message.server_id = Some(tcpdump_duid(duid));
        } else if let Some(names) = group.strip_prefix("option-request ") {
            message.oro = names
                .split(' ')
                .map(|name| match name {
                    "DNS-server" => 23,
                    "DNS-search-list" => 24,
                    "Bootfile-URL" => 59,
                    "SZTP-redirect" => 136,
                    other => panic!("option {other}"),
                })
                .collect();
        } else if let Some(class) = group.strip_prefix("user-class ") {
            message.user_class = Some(class.to_owned());
        }
    }
    Some(message)
}

#[test]
fn the_corpus_decodes_as_tcpdump_decodes_it() {
    let out = std::fs::read_to_string(corpus_path(
        "tcpdump/expected_tcpdump_output/dhcpv4v6-rfc5970-rfc8572.out",
    ))
    .unwrap();
    let payloads = payloads("tcpdump/dhcpv4v6-rfc5970-rfc8572.pcap");
    let mut compared = 0;
    for line in out.lines() {
        let Some(expected) = tcpdump_line(line) else {
            continue;
        };
        let number: usize = line.split_whitespace().next().unwrap().parse().unwrap();
        let (_, payload, _) = payloads.iter().find(|(n, _, _)| *n == number).unwrap();
        let packet = parse(payload).unwrap();
        let message = message_of(&packet);
        let names = [
            "",
            "solicit",
            "advertise",
            "request",
            "confirm",
            "renew",
            "rebind",
            "reply",
            "release",
            "decline",
            "reconfigure",
            "inf-req",
        ];
        let ours = Tcpdump {
            kind: names[usize::from(packet.message_type)].to_owned(),
            xid: message.transaction_id,
            client_id: message.details.client_id.clone(),
            server_id: message.server_id.clone(),
            oro: message.details.parameter_request_list.clone(),
            user_class: message.details.user_class.first().cloned(),
        };
        assert_eq!(ours, expected, "packet {number}");
        compared += 1;
    }
    eprintln!("{compared} DHCPv6 messages as tcpdump");
    assert_eq!(compared, 10);
}

// Robustness.

fn exercise(bytes: &[u8]) {
    let Ok(packet) = parse(bytes) else {
        return;
    };
    if let Some(sighting) = packet.sighting(&client()) {
        if let Some(hostname) = &sighting.hostname {
            assert!(hostname.len() <= limits::MAX_HOSTNAME_LEN);
            assert!(!hostname.chars().any(hygie_domain::is_unsafe_char));
        }
        let detail = sighting.detail.unwrap();
        detail
            .check()
            .unwrap_or_else(|error| panic!("{error}: {bytes:02x?}"));
    }
}

#[test]
fn nothing_panics_on_cut_mutated_or_random_messages() {
    let mut real: Vec<Vec<u8>> = CAPTURES
        .iter()
        .flat_map(|capture| payloads(capture))
        .map(|(_, payload, _)| payload)
        .collect();
    real.push(bytes_of(WINDOWS_SOLICIT)[62..].to_vec());
    assert!(real.len() >= 20, "{}", real.len());
    let mut noise = Noise(0xd1c9_0006_5eed_0002);
    for payload in &real {
        for len in 0..=payload.len() {
            exercise(&payload[..len]);
        }
        for _ in 0..300 {
            let mut mutated = payload.clone();
            for _ in 0..1 + noise.below(4) {
                let at = noise.below(mutated.len());
                mutated[at] = noise.byte();
            }
            exercise(&mutated);
        }
    }
    for _ in 0..20_000 {
        let mut random: Vec<u8> = (0..noise.below(300)).map(|_| noise.byte()).collect();
        if let Some(kind) = random.first_mut() {
            // Mostly client messages, to reach the sighting.
            *kind = [1, 3, 11, 12, *kind][noise.below(5)];
        }
        exercise(&random);
    }
}

/// Found by the `dhcpv6` fuzz target: a vendor class under enterprise number 0 (reserved) kept
/// `Some(0)`, which the wire carries as "none", so the collector read another detail back.
#[test]
fn a_vendor_class_of_enterprise_zero_names_no_enterprise() {
    let bytes = message(
        1,
        &[
            opt(
                1,
                &[0x00, 0x03, 0x00, 0x01, 0x00, 0x09, 0x5c, 0x11, 0x22, 0x01],
            ),
            opt(16, &[0, 0, 0, 0, 0x00, 0x04, b'M', b'S', b'F', b'T']),
        ],
    );
    assert_eq!(details(&bytes).vendor_enterprise, Some(0), "as sent");
    let heard = crate::Heard {
        sender: client(),
        vlan: None,
        message: crate::Message::Dhcpv6(parse(&bytes).unwrap()),
    };
    let observation = heard
        .observation(jiff::Timestamp::UNIX_EPOCH, "eth0", crate::Hearing::Capture)
        .unwrap();
    let Some(hygie_domain::Detail::Dhcp(dhcp)) = observation.detail else {
        panic!("no DHCP detail: {observation:?}");
    };
    assert_eq!(dhcp.vendor_enterprise, None);
    assert_eq!(dhcp.vendor_class.as_deref(), Some("MSFT"));
}
