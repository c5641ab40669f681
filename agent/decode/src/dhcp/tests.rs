//! The DHCPv4 decoder on real frames, hand-built messages and hostile input, compared with
//! tshark's and tcpdump's decode of the corpus.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use hygie_domain::Observation;
use jiff::Timestamp;

use super::*;
use crate::frame::{LinkType, parse_frame};
use crate::heard::{DecodeError, Heard, Hearing, Message, decode};
use crate::ip::{parse_ip, parse_udp};
use crate::testing::{Noise, corpus_frames, corpus_path, tshark};

fn bytes_of(text: &[&str]) -> Vec<u8> {
    let text: String = text.concat();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The DHCP message of an Ethernet frame, and who sent the frame.
fn heard(frame: &[u8]) -> (Sender, DhcpPacket) {
    let heard = decode(LinkType::Ethernet, frame).unwrap().unwrap();
    let Message::Dhcp(packet) = heard.message else {
        panic!("not DHCP: {:?}", heard.message);
    };
    (heard.sender, packet)
}

fn observe(frame: &[u8]) -> Option<Observation> {
    decode(LinkType::Ethernet, frame)
        .unwrap()
        .unwrap()
        .observation(Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture)
}

fn mac(text: &str) -> MacAddr {
    text.parse().unwrap()
}

fn v4(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

/// Frame 7 of nDPI's `gnutella.pcap` (`tshark -x`): a Windows 10 REQUEST with a client id,
/// a requested address, a host name, an ASCII client FQDN, `MSFT 5.0` and option 55.
const WINDOWS_REQUEST: &[&str] = &[
    "ffffffffffff080027e6e5590800450001565bcb00008011ddcc00000000ffffffff00440043014202e401010600a678",
    "4b7d0000000000000000000000000000000000000000080027e6e5590000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000000000000000638253633501033d0701",
    "080027e6e55932040a00020f0c0b4d534544474557494e3130510e0000004d534544474557494e31303c084d53465420",
    "352e30370e0103060f1f212b2c2e2f7779f9fcff",
];

/// Frame 1 of tcpdump's `dhcp-mud.pcap`: a Raspberry Pi's renewing REQUEST forwarded by a relay
/// (62.12.173.121, MAC 00:23:eb:10:2c:29) to the server, unicast, with option 161 (MUD URL).
const RELAYED_REQUEST: &[&str] = &[
    "002354c257020023eb102c290800450001a624f30000ff11be4f3e0cad793e0cad72004300430192008901010601068c",
    "4847000000003e0cad7b00000000000000003e0cad79b827ebb853c80000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000000000000000638253633501033d0701",
    "b827ebb853c8390205c0a13668747470733a2f2f6d756463746c2e6578616d706c652e636f6d2f2e77656c6c2d6b6e6f",
    "776e2f6d75642f76312f72617362703130313c2d6468637063642d362e31312e353a4c696e75782d342e312e31382d76",
    "372b3a61726d76376c3a42434d323730390c0b7261737062657272797069910101371001792103060c0f1c2a33363a3b",
    "646577ff",
];

/// Frame 2 of `dhcp-mud.pcap`: the server's ACK of that request, sent to the relay.
const RELAYED_ACK: &[&str] = &[
    "0023eb102c29002354c257020800450001522841400040113a563e0cad723e0cad7900430043013eb36e02010601068c",
    "4847000000003e0cad7b3e0cad7b3e0cad723e0cad79b827ebb853c80000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000000000000000000000000000000000000000000000006382536335010536043e",
    "0cad723304000002580104fffffff803043e0cad7906043e0cad720f136f66636f75727365696d72696768742e636f6d",
    "650d4575726f70652f4265726c696eff",
];

/// Frame 1 of tcpdump's `dhcp-rfc3004.pcap`: a DISCOVER with three RFC 3004 user classes.
const USER_CLASS_DISCOVER: &[&str] = &[
    "ffffffffffff000c291f7406080045100148000000008011399600000000ffffffff004400430134818d0101060006e3",
    "28640000000000000000000000000000000000000000000c291f74060000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000000000000000638253633501013204c0",
    "a801043707011c02030f060c4d25077375626f707431117375626f7074322d3132333435363738390a7375626f707433",
    "2d3132ff0000",
];

#[test]
fn a_real_request_fingerprints_its_client() {
    let frame = bytes_of(WINDOWS_REQUEST);
    let (_, packet) = heard(&frame);
    assert_eq!(packet.operation, Operation::Request);
    assert_eq!(packet.transaction_id, 0xa678_4b7d);
    assert_eq!(packet.client_mac(), Some(mac("08:00:27:e6:e5:59")));
    assert_eq!(packet.client_ip, Ipv4Addr::UNSPECIFIED);
    assert_eq!(packet.host_name.as_deref(), Some("msedgewin10"));
    assert_eq!(
        (packet.server_name.as_deref(), packet.boot_file.as_deref()),
        (None, None)
    );
    assert_eq!(
        packet.details,
        DhcpDetails {
            version: DhcpVersion::V4,
            message_type: message_type::REQUEST,
            parameter_request_list: vec![1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252],
            vendor_class: Some("MSFT 5.0".into()),
            vendor_enterprise: None,
            client_id: Some("01080027e6e559".into()),
            fqdn: Some("MSEDGEWIN10".into()),
            user_class: Vec::new(),
            requested_address: Some(v4("10.0.2.15")),
        }
    );
    let observation = observe(&frame).unwrap();
    assert_eq!(observation.mac, mac("08:00:27:e6:e5:59"));
    assert!(observation.ips.is_empty(), "requested is not held");
    assert_eq!(observation.hostname.as_deref(), Some("msedgewin10"));
    assert_eq!(observation.detail, Some(Detail::Dhcp(packet.details)));
}

#[test]
fn a_relayed_request_is_about_chaddr_not_the_relay() {
    let frame = bytes_of(RELAYED_REQUEST);
    let (sender, packet) = heard(&frame);
    assert_eq!(sender.mac, mac("00:23:eb:10:2c:29"), "the relay's MAC");
    assert_eq!(packet.hops, 1);
    assert_eq!(packet.relay_ip, v4("62.12.173.121"));
    assert_eq!(packet.client_ip, v4("62.12.173.123"));
    assert_eq!(packet.details.message_name(), "REQUEST");
    assert_eq!(
        packet.details.fingerprint(),
        "1,121,33,3,6,12,15,28,42,51,54,58,59,100,101,119"
    );
    assert_eq!(
        packet.details.vendor_class.as_deref(),
        Some("dhcpcd-6.11.5:Linux-4.1.18-v7+:armv7l:BCM2709")
    );
    assert_eq!(packet.details.client_id.as_deref(), Some("01b827ebb853c8"));
    let observation = observe(&frame).unwrap();
    assert_eq!(observation.mac, mac("b8:27:eb:b8:53:c8"));
    assert_eq!(observation.ips, [IpAddr::V4(v4("62.12.173.123"))]);
    assert_eq!(observation.hostname.as_deref(), Some("raspberrypi"));
    assert!(matches!(observation.detail, Some(Detail::Dhcp(_))));
}

#[test]
fn an_ack_binds_yiaddr_to_chaddr_and_nothing_else() {
    let frame = bytes_of(RELAYED_ACK);
    let (sender, packet) = heard(&frame);
    assert_eq!(sender.mac, mac("00:23:54:c2:57:02"), "the server's MAC");
    assert_eq!(packet.operation, Operation::Reply);
    assert_eq!(packet.details.message_type, message_type::ACK);
    assert_eq!(packet.your_ip, v4("62.12.173.123"));
    assert_eq!(packet.server_ip, v4("62.12.173.114"));
    let observation = observe(&frame).unwrap();
    assert_eq!(observation.mac, mac("b8:27:eb:b8:53:c8"));
    assert_eq!(observation.ips, [IpAddr::V4(v4("62.12.173.123"))]);
    assert_eq!(observation.hostname, None);
    assert_eq!(
        observation.detail, None,
        "an ACK must not replace the fingerprint"
    );
}

#[test]
fn rfc3004_user_classes_are_split() {
    let (_, packet) = heard(&bytes_of(USER_CLASS_DISCOVER));
    assert_eq!(packet.details.message_name(), "DISCOVER");
    assert_eq!(
        packet.details.user_class,
        ["subopt1", "subopt2-123456789", "subopt3-12"]
    );
    assert_eq!(packet.details.requested_address, Some(v4("192.168.1.4")));
    assert_eq!(packet.details.fingerprint(), "1,28,2,3,15,6,12");
    assert_eq!(packet.details.client_id, None);
}

// Hand-built messages.

const CLIENT: [u8; 6] = [0x00, 0x09, 0x5c, 0x11, 0x22, 0x01];

/// A message of `op` from [`CLIENT`] with these options (after the cookie).
fn message(op: u8, options: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; HEADER_LEN];
    bytes[0] = op;
    bytes[1] = 1;
    bytes[2] = 6;
    bytes[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    bytes[28..34].copy_from_slice(&CLIENT);
    bytes.extend_from_slice(&MAGIC_COOKIE);
    bytes.extend_from_slice(options);
    bytes
}

/// One option.
fn opt(code: u8, value: &[u8]) -> Vec<u8> {
    let mut bytes = vec![code, u8::try_from(value.len()).unwrap()];
    bytes.extend_from_slice(value);
    bytes
}

/// A client message of `kind` with these extra options, ended.
fn client(kind: u8, options: &[Vec<u8>]) -> Vec<u8> {
    let mut all = opt(53, &[kind]);
    all.extend(options.concat());
    all.push(255);
    message(1, &all)
}

/// A frame source that is not the client: a router or a relay.
fn router() -> Sender {
    Sender {
        mac: mac("00:23:eb:10:2c:29"),
        ip: Some(IpAddr::V4(v4("198.18.0.1"))),
        on_link: false,
    }
}

fn sight(bytes: &[u8]) -> Option<Sighting> {
    parse(bytes).unwrap().sighting(&router())
}

#[test]
fn repeated_options_are_concatenated() {
    // RFC 3396: a client splits a long option in several instances.
    let bytes = client(
        1,
        &[
            opt(55, &[1, 3, 6]),
            opt(12, b"infusion-"),
            opt(55, &[15, 28]),
            opt(12, b"pump-07"),
        ],
    );
    let packet = parse(&bytes).unwrap();
    assert_eq!(packet.details.parameter_request_list, [1, 3, 6, 15, 28]);
    assert_eq!(packet.host_name.as_deref(), Some("infusion-pump-07"));
}

#[test]
fn overloaded_file_and_sname_carry_options() {
    let mut bytes = client(3, &[opt(52, &[3]), opt(55, &[1, 3])]);
    // `file` first, then `sname` (RFC 2131 §4.1), each ended by its own end option.
    let mut file = opt(12, b"infusion-");
    file.extend(opt(55, &[6]));
    file.push(255);
    bytes[FILE.start..FILE.start + file.len()].copy_from_slice(&file);
    let mut sname = opt(12, b"pump-07");
    sname.extend(opt(60, b"Alaris"));
    sname.push(255);
    bytes[SNAME.start..SNAME.start + sname.len()].copy_from_slice(&sname);
    let packet = parse(&bytes).unwrap();
    assert_eq!(packet.overload, 3);
    assert_eq!(packet.host_name.as_deref(), Some("infusion-pump-07"));
    assert_eq!(packet.details.parameter_request_list, [1, 3, 6]);
    assert_eq!(packet.details.vendor_class.as_deref(), Some("Alaris"));
    assert_eq!((packet.server_name, packet.boot_file), (None, None));

    // Only `file` overloaded: `sname` is the server's name again.
    let mut file_only = bytes.clone();
    let at = OPTIONS_START + 2 + 1 + 2;
    assert_eq!(file_only[at], 3);
    file_only[at] = 1;
    file_only[SNAME].fill(0);
    file_only[SNAME.start..SNAME.start + 6].copy_from_slice(b"srv-01");
    let packet = parse(&file_only).unwrap();
    assert_eq!(packet.host_name.as_deref(), Some("infusion-"));
    assert_eq!(packet.server_name.as_deref(), Some("srv-01"));
    assert_eq!(packet.boot_file, None);
    assert_eq!(packet.details.vendor_class, None);
}

#[test]
fn an_overload_inside_file_is_not_followed() {
    let mut bytes = client(1, &[opt(52, &[1])]);
    // `file` claims `sname` holds options too: only the options field may say so.
    let mut file = opt(52, &[2]);
    file.extend(opt(12, b"pump"));
    file.push(255);
    bytes[FILE.start..FILE.start + file.len()].copy_from_slice(&file);
    bytes[SNAME.start..SNAME.start + 6].copy_from_slice(&opt(12, b"evil"));
    let packet = parse(&bytes).unwrap();
    assert_eq!(packet.overload, 1);
    assert_eq!(packet.host_name.as_deref(), Some("pump"));
    assert!(packet.server_name.is_some(), "sname stays text");
}

#[test]
fn sname_and_file_are_text_when_not_overloaded() {
    let mut bytes = message(2, &[53, 1, 5, 255]);
    bytes[SNAME.start..SNAME.start + 9].copy_from_slice(b"dhcp-srv\0");
    bytes[FILE.start..FILE.start + 12].copy_from_slice(b"pxe\x1b[2J.0\0xx");
    let packet = parse(&bytes).unwrap();
    assert_eq!(packet.server_name.as_deref(), Some("dhcp-srv"));
    assert_eq!(packet.boot_file.as_deref(), Some("pxe\u{fffd}[2J.0"));
}

#[test]
fn pads_an_end_and_what_follows_it() {
    let mut options = vec![0, 0, 53, 1, 1, 0];
    options.extend(opt(12, b"monitor"));
    options.extend([0, 0, 255]);
    // After the end: padding, or garbage that is never read.
    options.extend([12, 200, 1, 2, 3]);
    let packet = parse(&message(1, &options)).unwrap();
    assert_eq!(packet.details.message_type, 1);
    assert_eq!(packet.host_name.as_deref(), Some("monitor"));

    // Many stacks omit the end option.
    let packet = parse(&message(1, &[53, 1, 3, 12, 2, b'p', b'c'])).unwrap();
    assert_eq!(packet.host_name.as_deref(), Some("pc"));
    // No options at all: a plain BOOTP message.
    let packet = parse(&message(1, &[])).unwrap();
    assert_eq!(packet.details.message_type, 0);
    assert_eq!(packet.sighting(&router()), None);
}

#[test]
fn every_truncation_is_refused_or_ends_at_an_option() {
    let frame = bytes_of(WINDOWS_REQUEST);
    let payload = &frame[42..];
    for len in 0..OPTIONS_START {
        assert_eq!(parse(&payload[..len]), Err(DhcpError::Truncated(len)));
    }
    // Option boundaries of the real message: 53 (3 bytes), 61 (9), 50 (6), 12 (13), 81 (16),
    // 60 (10), 55 (16), end.
    let mut boundaries = vec![OPTIONS_START];
    for size in [3, 9, 6, 13, 16, 10, 16, 1] {
        boundaries.push(boundaries.last().unwrap() + size);
    }
    assert_eq!(*boundaries.last().unwrap(), payload.len());
    for len in OPTIONS_START..payload.len() {
        let result = parse(&payload[..len]);
        if boundaries.contains(&len) {
            assert!(result.is_ok(), "{len}: {result:?}");
        } else {
            assert!(
                matches!(result, Err(DhcpError::OptionTruncated { .. })),
                "{len}: {result:?}"
            );
        }
    }
    assert_eq!(
        parse(&payload[..OPTIONS_START + 3 + 9 + 6 + 5]),
        Err(DhcpError::OptionTruncated { code: 12 })
    );
    assert_eq!(
        parse(&payload[..OPTIONS_START + 3 + 9 + 6 + 1]),
        Err(DhcpError::OptionTruncated { code: 12 }),
        "the length byte itself missing"
    );
}

#[test]
fn malformed_headers_say_why() {
    let good = client(1, &[]);
    let mut op = good.clone();
    op[0] = 3;
    assert_eq!(parse(&op), Err(DhcpError::Operation(3)));
    let mut hlen = good.clone();
    hlen[2] = 17;
    assert_eq!(parse(&hlen), Err(DhcpError::HardwareLength(17)));
    hlen[2] = 16;
    assert!(parse(&hlen).is_ok());
    let mut cookie = good.clone();
    cookie[236..240].copy_from_slice(&[99, 130, 83, 100]);
    assert_eq!(parse(&cookie), Err(DhcpError::Cookie([99, 130, 83, 100])));
    assert_eq!(parse(&cookie).unwrap_err().kind(), "bad DHCP magic cookie");
    // Option 53 is the one option a message cannot do without reading right.
    assert_eq!(
        parse(&message(1, &[53, 2, 1, 1, 255])),
        Err(DhcpError::MessageTypeLength(2))
    );
    assert_eq!(
        parse(&message(1, &[53, 1, 1, 53, 1, 3, 255])),
        Err(DhcpError::MessageTypeLength(2)),
        "two instances are one concatenated option"
    );
    assert_eq!(
        parse(&message(1, &[53, 0, 255])),
        Err(DhcpError::MessageTypeLength(0))
    );
    // Ill-formed values of other options are dropped, the message kept.
    let packet = parse(&client(1, &[opt(50, &[10, 0, 0]), opt(52, &[9])])).unwrap();
    assert_eq!(packet.details.requested_address, None);
    assert_eq!(packet.overload, 0);
}

#[test]
fn hostile_strings_are_cleaned_and_bounded() {
    let long = vec![b'A'; 255];
    let bytes = client(
        1,
        &[
            opt(12, "ICU-Pump\u{1b}[2J\u{202e}txt\0".as_bytes()),
            // 765 bytes of vendor class, 300 codes, 300 bytes of client id, 40 user classes.
            opt(60, &long),
            opt(60, &long),
            opt(60, "é\u{7}".repeat(85).as_bytes()),
            opt(55, &[1; 150]),
            opt(55, &[2; 150]),
            opt(61, &[0xab; 150]),
            opt(61, &[0xcd; 150]),
            opt(77, &[1, b'x'].repeat(40)),
            opt(81, &[0, 0, 0, 0x07, b'b', b'a', b'd', 0x1b, b'\n']),
        ],
    );
    let packet = parse(&bytes).unwrap();
    assert_eq!(packet.host_name.as_deref(), Some("icu-pump[2jtxt"));
    let details = &packet.details;
    let vendor = details.vendor_class.as_deref().unwrap();
    assert!(vendor.len() <= limits::MAX_DETAIL_TEXT_LEN);
    assert!(vendor.starts_with("AAAA"));
    assert_eq!(
        details.parameter_request_list.len(),
        limits::MAX_PARAMETER_REQUESTS
    );
    assert_eq!(details.parameter_request_list[149..151], [1, 2]);
    let client_id = details.client_id.as_deref().unwrap();
    assert_eq!(client_id.len(), limits::MAX_CLIENT_ID_HEX_LEN);
    assert!(client_id.starts_with("abab") && client_id.ends_with("cdcd"));
    assert_eq!(
        details.user_class,
        vec!["x".to_owned(); limits::MAX_DETAIL_ITEMS]
    );
    assert_eq!(details.fqdn.as_deref(), Some("\u{fffd}bad\u{fffd}\u{fffd}"));
    let Some(Detail::Dhcp(detail)) = sight(&bytes).unwrap().detail else {
        panic!("no detail");
    };
    Detail::Dhcp(detail).check().unwrap();

    // A multi-byte character is never cut: 255 × "€" (765 bytes) is clamped to 170 of them.
    let euros = opt(60, "€".repeat(85).as_bytes());
    let packet = parse(&client(1, &[euros.clone(), euros.clone(), euros])).unwrap();
    let vendor = packet.details.vendor_class.unwrap();
    assert_eq!(vendor.len(), 510);
    assert!(vendor.chars().all(|c| c == '€'));
    // An invisible-only host name is no host name.
    let packet = parse(&client(1, &[opt(12, "\u{200b}\u{7}.".as_bytes())])).unwrap();
    assert_eq!(packet.host_name, None);
}

#[test]
fn user_classes_are_rfc3004_instances_or_one_string() {
    let classes = |value: &[u8]| {
        parse(&client(1, &[opt(77, value)]))
            .unwrap()
            .details
            .user_class
    };
    assert_eq!(classes(b"\x03abc\x02de"), ["abc", "de"]);
    // Windows' `ipconfig /setclassid` string, and strings whose first byte is no length.
    assert_eq!(classes(b"RRAS.Microsoft"), ["RRAS.Microsoft"]);
    assert_eq!(classes(b"\x03abc\x05de"), ["\u{fffd}abc\u{fffd}de"]);
    assert_eq!(
        classes(b"\x03abc\x00"),
        ["\u{fffd}abc"],
        "a zero-length instance"
    );
    assert!(classes(b"").is_empty());
    assert_eq!(
        classes(b"\x02\x00\x00\x01z"),
        ["z"],
        "empty items are dropped"
    );
}

#[test]
fn client_fqdns_in_wire_format_and_ascii() {
    let fqdn = |value: &[u8]| parse(&client(1, &[opt(81, value)])).unwrap().details.fqdn;
    // RFC 4702: flags (E = 0x04), two RCODEs, then the name.
    assert_eq!(
        fqdn(b"\x05\x00\x00\x04pump\x03icu\x07example\x00").as_deref(),
        Some("pump.icu.example")
    );
    assert_eq!(
        fqdn(b"\x04\xff\xff\x04pump").as_deref(),
        Some("pump"),
        "partial"
    );
    assert_eq!(fqdn(b"\x04\x00\x00\x04pump\xc0\x0c"), None, "compression");
    assert_eq!(
        fqdn(b"\x04\x00\x00\x04pump\x00\x00"),
        None,
        "after the root"
    );
    assert_eq!(fqdn(b"\x04\x00\x00\x00"), None, "the root alone");
    assert_eq!(fqdn(b"\x04\x00\x00\x09pump"), None, "a label past the end");
    assert_eq!(fqdn(b"\x00\x00\x00pump.icu").as_deref(), Some("pump.icu"));
    assert_eq!(
        fqdn(b"\x00\x00\x00pump.icu\x00").as_deref(),
        Some("pump.icu")
    );
    assert_eq!(fqdn(b"\x00\x00"), None);
    assert_eq!(fqdn(b"\x00\x00\x00"), None);
    let label = [&[63u8][..], &[b'a'; 63]].concat();
    assert!(wire_name(&label).is_some());
    assert_eq!(wire_name(&[&[64u8][..], &[b'a'; 64]].concat()), None);
    assert_eq!(wire_name(b""), None);
}

// The sighting rules.

#[test]
fn client_messages_fingerprint_chaddr_whoever_sent_the_frame() {
    for kind in [1, 3, 4, 7, 8] {
        let mut bytes = client(kind, &[opt(12, b"Pump-07"), opt(55, &[1, 3, 6])]);
        bytes[12..16].copy_from_slice(&[198, 18, 0, 23]);
        let sighting = sight(&bytes).unwrap_or_else(|| panic!("type {kind}"));
        assert_eq!(
            sighting.mac,
            Some(MacAddr::new(CLIENT)),
            "never the router's"
        );
        assert_eq!(sighting.ips, [IpAddr::V4(v4("198.18.0.23"))]);
        assert_eq!(sighting.hostname.as_deref(), Some("pump-07"));
        if matches!(kind, 4 | 7) {
            // DECLINE and RELEASE prove presence; their detail would wipe the fingerprint.
            assert_eq!(sighting.detail, None, "type {kind}");
            continue;
        }
        let Some(Detail::Dhcp(detail)) = sighting.detail else {
            panic!("no detail");
        };
        assert_eq!(detail.message_type, kind);
        assert_eq!(detail.parameter_request_list, [1, 3, 6]);
    }
    // A DISCOVER holds no address yet.
    let sighting = sight(&client(1, &[opt(50, &[198, 18, 0, 23])])).unwrap();
    assert!(sighting.ips.is_empty());
}

#[test]
fn only_an_ack_of_the_server_replies_counts() {
    for kind in 1..=18 {
        let mut bytes = message(2, &[53, 1, kind, 12, 3, b's', b'r', b'v', 255]);
        bytes[16..20].copy_from_slice(&[198, 18, 0, 23]);
        let sighting = sight(&bytes);
        if kind == message_type::ACK {
            let sighting = sighting.unwrap();
            assert_eq!(sighting.mac, Some(MacAddr::new(CLIENT)));
            assert_eq!(sighting.ips, [IpAddr::V4(v4("198.18.0.23"))]);
            assert_eq!((sighting.hostname, sighting.detail), (None, None));
        } else {
            assert_eq!(sighting, None, "type {kind}");
        }
    }
    // The ACK of an INFORM binds no address.
    let sighting = sight(&message(2, &[53, 1, 5, 255])).unwrap();
    assert!(sighting.ips.is_empty());
    // Server types in a request, and unknown client types, say nothing.
    for kind in [0, 2, 5, 6, 9, 10, 106] {
        assert_eq!(sight(&client(kind, &[])), None, "type {kind}");
    }
}

#[test]
fn chaddr_must_be_an_ethernet_device_mac() {
    let good = client(1, &[]);
    assert!(sight(&good).is_some());
    let mut htype = good.clone();
    htype[1] = 6;
    assert_eq!(sight(&htype), None);
    let mut hlen = good.clone();
    hlen[2] = 7;
    assert_eq!(sight(&hlen), None);
    let mut multicast = good.clone();
    multicast[28] = 0x01;
    assert_eq!(sight(&multicast), None);
    let mut zero = good.clone();
    zero[28..34].fill(0);
    assert_eq!(sight(&zero), None);
    // An unusable ciaddr is dropped, the sighting kept.
    let mut broadcast = good.clone();
    broadcast[12..16].fill(0xff);
    assert!(sight(&broadcast).unwrap().ips.is_empty());
}

// Oracles.

/// Captures with DHCPv4 in the corpus (besides every IoT Sentinel capture).
const CAPTURES: &[&str] = &[
    "tcpdump/dhcp-mud.pcap",
    "tcpdump/dhcp-rfc3004.pcap",
    "tcpdump/dhcp-option-33.pcap",
    "tcpdump/dhcp-rfc4388.pcap",
    "tcpdump/dhcp-rfc5859.pcap",
    "tcpdump/dhcp-option-108.pcapng",
    "tcpdump/dhcpv4v6-rfc5970-rfc8572.pcap",
    "tcpdump/eapon1.pcap",
    "zeek/dhcp_dhcp.pcap",
    "zeek/dhcp_dhcp_ack_subscriber_id_and_agent_remote_id.pcap",
    "zeek/dhcp_dhcp_discover_param_req_and_client_id.pcap",
    "zeek/dhcp_dhcp_flood.pcap",
    "zeek/dhcp_dhcp_inform.pcap",
    "zeek/dhcp_dhcp_time_and_nameserver.pcap",
    "zeek/dhcp_hw-type0.pcap",
    "ndpi/android.pcap",
    "ndpi/iphone.pcap",
    "ndpi/gnutella.pcap",
];

/// Malformed captures: tshark decodes what it can of them, we may refuse them.
const MALFORMED: &[&str] = &[
    "tcpdump/malformed/bootp_asan.pcap",
    "tcpdump/malformed/bootp_asan-2.pcap",
    "ndpi/malformed/dhcp-fuzz.pcapng",
    "zeek/malformed/dhcp_bad_cookie_option_retention.pcap",
];

/// The frames of a corpus capture. [`corpus_frames`] cannot read tcpdump's `bootp_asan*.pcap`,
/// whose link-type field carries FCS-length bits above the 16 bits of the type (0x04000001) and
/// whose records exceed the snap length: those little-endian files are read here by hand.
fn frames_of(capture: &str) -> (LinkType, Vec<Vec<u8>>) {
    if !capture.starts_with("tcpdump/malformed/bootp_asan") {
        return corpus_frames(capture);
    }
    let bytes = std::fs::read(corpus_path(capture)).unwrap();
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(word(0), 0xa1b2_c3d4, "{capture}");
    assert_eq!(word(20) & 0xffff, 1, "{capture}: Ethernet");
    let (mut frames, mut at) = (Vec::new(), 24);
    while at + 16 <= bytes.len() {
        let len = word(at + 8) as usize;
        frames.push(bytes[at + 16..(at + 16 + len).min(bytes.len())].to_vec());
        at += 16 + len;
    }
    (LinkType::Ethernet, frames)
}

fn iot_sentinel() -> Vec<String> {
    let mut captures = Vec::new();
    for device in std::fs::read_dir(corpus_path("iot-sentinel")).unwrap() {
        let device = device.unwrap().path();
        for file in std::fs::read_dir(&device).into_iter().flatten() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|ext| ext == "pcap") {
                let relative = file.strip_prefix(corpus_path("")).unwrap();
                captures.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    captures.sort();
    captures
}

const TSHARK_FIELDS: &[&str] = &[
    "dhcp.type",
    "dhcp.id",
    "dhcp.option.dhcp",
    "dhcp.hw.mac_addr",
    "dhcp.ip.client",
    "dhcp.ip.your",
    "dhcp.ip.relay",
    "dhcp.option.hostname",
    "dhcp.option.request_list_item",
    "dhcp.option.vendor_class_id",
    "dhcp.option.requested_ip_address",
    "dhcp.fqdn.name",
    "dhcp.option.user_class.data",
    "dhcp.option.type",
    "dhcp.option.length",
    "dhcp.option.value",
    "_ws.malformed",
];

fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Compares one decoded message with tshark's row; returns the fields compared.
fn compare_with_tshark(capture: &str, row: &[String], packet: &DhcpPacket) -> usize {
    let field = |name: &str| {
        let at = TSHARK_FIELDS.iter().position(|f| *f == name).unwrap() + 1;
        row.get(at).map(String::as_str).unwrap_or("")
    };
    let what = format!("{capture} frame {}", row[0]);
    let mut compared = 0;
    let mut check = |name: &str, ours: String, theirs: &str| {
        assert_eq!(ours, theirs, "{what}: {name}");
        compared += 1;
    };
    let op = match packet.operation {
        Operation::Request => "1",
        Operation::Reply => "2",
    };
    check("op", op.into(), field("dhcp.type"));
    check(
        "xid",
        format!("0x{:08x}", packet.transaction_id),
        field("dhcp.id"),
    );
    let kind = packet.details.message_type;
    check(
        "type",
        if kind == 0 {
            String::new()
        } else {
            kind.to_string()
        },
        field("dhcp.option.dhcp"),
    );
    if let Some(mac) = packet.client_mac() {
        // tshark repeats the MAC of an Ethernet client id.
        let theirs = field("dhcp.hw.mac_addr").split(',').next().unwrap_or("");
        check("chaddr", mac.to_string(), theirs);
    }
    check(
        "ciaddr",
        packet.client_ip.to_string(),
        field("dhcp.ip.client"),
    );
    check("yiaddr", packet.your_ip.to_string(), field("dhcp.ip.your"));
    check(
        "giaddr",
        packet.relay_ip.to_string(),
        field("dhcp.ip.relay"),
    );
    let theirs = field("dhcp.option.hostname");
    check(
        "hostname",
        packet.host_name.clone().unwrap_or_default(),
        &clean_hostname(theirs).unwrap_or_default(),
    );
    check(
        "option 55",
        packet.details.fingerprint(),
        field("dhcp.option.request_list_item"),
    );
    let theirs = field("dhcp.option.vendor_class_id");
    check(
        "option 60",
        packet.details.vendor_class.clone().unwrap_or_default(),
        &clean_value(theirs, limits::MAX_DETAIL_TEXT_LEN),
    );
    check(
        "option 50",
        packet
            .details
            .requested_address
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        field("dhcp.option.requested_ip_address"),
    );
    check(
        "option 81",
        packet.details.fqdn.clone().unwrap_or_default(),
        field("dhcp.fqdn.name"),
    );
    let ours: Vec<String> = packet
        .details
        .user_class
        .iter()
        .map(|c| hex_of(c))
        .collect();
    check(
        "option 77",
        ours.join(","),
        field("dhcp.option.user_class.data"),
    );
    // Option 61 in hex, from tshark's raw option values when they line up with the codes.
    let codes: Vec<&str> = field("dhcp.option.type").split(',').collect();
    let values: Vec<&str> = field("dhcp.option.value").split(',').collect();
    let lengths: Vec<&str> = field("dhcp.option.length").split(',').collect();
    if lengths.len() == values.len()
        && codes.len() >= values.len()
        && let Some(at) = codes[..values.len()].iter().position(|c| *c == "61")
    {
        check(
            "option 61",
            packet.details.client_id.clone().unwrap_or_default(),
            values[at],
        );
    }
    compared
}

#[test]
fn the_corpus_decodes_as_tshark_decodes_it() {
    let mut captures: Vec<String> = CAPTURES.iter().map(|c| (*c).to_owned()).collect();
    captures.extend(iot_sentinel());
    captures.extend(MALFORMED.iter().map(|c| (*c).to_owned()));
    let (mut frames_compared, mut fields_compared, mut refused) = (0, 0, Vec::new());
    let mut captures_compared = 0;
    for capture in &captures {
        // ICMP errors quote DHCP messages: not ours to decode.
        let Some(rows) = tshark(capture, "dhcp && !icmp", TSHARK_FIELDS) else {
            return;
        };
        let (link, frames) = frames_of(capture);
        let malformed = MALFORMED.contains(&capture.as_str());
        captures_compared += 1;
        let listed = CAPTURES.contains(&capture.as_str());
        assert!(!listed || !rows.is_empty(), "{capture}: no DHCP");
        for row in rows {
            let number: usize = row[0].parse().unwrap();
            let frame = &frames[number - 1];
            match decode(link, frame) {
                Ok(Some(Heard {
                    message: Message::Dhcp(packet),
                    ..
                })) => {
                    fields_compared += compare_with_tshark(capture, &row, &packet);
                    frames_compared += 1;
                }
                other => {
                    // Only what tshark itself finds malformed may be refused.
                    let tshark_malformed = row.last().is_some_and(|cell| !cell.is_empty());
                    assert!(
                        malformed || tshark_malformed,
                        "{capture} frame {number}: {other:?}"
                    );
                    refused.push(format!("{capture} frame {number}: {other:?}"));
                }
            }
        }
    }
    eprintln!(
        "{frames_compared} frames of {captures_compared} captures ({fields_compared} fields) as \
         tshark; refused: {refused:#?}"
    );
    assert!(frames_compared > 700, "{frames_compared}");
}

/// What tcpdump's expected output says of one BOOTP message.
#[derive(Debug, Default)]
struct Tcpdump {
    request: bool,
    cookie: bool,
    xid: String,
    fields: BTreeMap<&'static str, String>,
    parameter_requests: Vec<u16>,
    user_classes: Vec<String>,
}

/// The BOOTP messages of a tcpdump `.out` file, by packet number.
fn tcpdump_messages(out: &str) -> BTreeMap<usize, Tcpdump> {
    let text =
        std::fs::read_to_string(corpus_path("tcpdump/expected_tcpdump_output").join(out)).unwrap();
    let mut messages = BTreeMap::new();
    let mut current: Option<(usize, Tcpdump)> = None;
    let mut in_list = "";
    let quoted = |line: &str| {
        let start = line.find('"')? + 1;
        let end = line.rfind('"')?;
        Some(line.get(start..end)?.to_owned())
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        let number = trimmed
            .split_once("  ")
            .filter(|(_, rest)| rest.starts_with("20") || rest.starts_with("19"))
            .and_then(|(number, _)| number.parse::<usize>().ok());
        if let Some(number) = number {
            messages.extend(current.take().filter(|(_, m)| !m.xid.is_empty()));
            current = Some((number, Tcpdump::default()));
            in_list = "";
            continue;
        }
        let Some((_, message)) = current.as_mut() else {
            continue;
        };
        if let Some(at) = line.find("BOOTP/DHCP, ") {
            message.request = line[at..].contains("Request from");
            let xid = line.split("xid 0x").nth(1).unwrap_or("");
            message.xid = xid.split(',').next().unwrap_or("").to_owned();
            continue;
        }
        let option_line = line.starts_with("\t    ") && !line.starts_with("\t     ");
        if option_line {
            in_list = "";
        }
        let mut keep = |key: &'static str, value: Option<String>| {
            if let Some(value) = value {
                message.fields.insert(key, value);
            }
        };
        let last_word = trimmed.rsplit(' ').next().map(str::to_owned);
        if trimmed == "Magic Cookie 0x63825363" {
            message.cookie = true;
        } else if let Some(address) = trimmed.strip_prefix("Client-IP ") {
            keep("ciaddr", Some(address.to_owned()));
        } else if let Some(address) = trimmed.strip_prefix("Your-IP ") {
            keep("yiaddr", Some(address.to_owned()));
        } else if let Some(address) = trimmed.strip_prefix("Gateway-IP ") {
            keep("giaddr", Some(address.to_owned()));
        } else if let Some(mac) = trimmed.strip_prefix("Client-Ethernet-Address ") {
            keep("chaddr", Some(mac.to_owned()));
        } else if trimmed.starts_with("DHCP-Message (53)") {
            keep("type", last_word);
        } else if trimmed.starts_with("Hostname (12)") {
            keep("hostname", quoted(trimmed));
        } else if trimmed.starts_with("Vendor-Class (60)") {
            keep("vendor", quoted(trimmed));
        } else if trimmed.starts_with("Requested-IP (50)") {
            keep("requested", last_word);
        } else if let Some(rest) = trimmed.strip_prefix("Client-ID (61)") {
            // `ether b8:27:eb:b8:53:c8` is type 1 and the MAC.
            let ether = rest.split(": ether ").nth(1);
            keep(
                "client_id",
                ether.map(|mac| format!("01{}", mac.replace(':', ""))),
            );
        } else if trimmed.starts_with("Parameter-Request (55)") {
            in_list = "55";
        } else if trimmed.starts_with("User-Class (77)") {
            in_list = "77";
        } else if line.starts_with("\t      ") && in_list == "55" {
            for item in trimmed.split("), ") {
                let code = item.rsplit('(').next().unwrap_or("").trim_end_matches(')');
                message.parameter_requests.push(code.parse().unwrap());
            }
        } else if line.starts_with("\t      ") && in_list == "77" {
            message.user_classes.extend(quoted(trimmed));
        }
    }
    messages.extend(current.filter(|(_, m)| !m.xid.is_empty()));
    messages
}

#[test]
fn the_corpus_decodes_as_tcpdump_decodes_it() {
    let (mut compared, mut refused) = (0, 0);
    for (out, capture) in [
        ("dhcp-mud.out", "tcpdump/dhcp-mud.pcap"),
        ("dhcp-rfc3004-v.out", "tcpdump/dhcp-rfc3004.pcap"),
        ("dhcp-option-33.out", "tcpdump/dhcp-option-33.pcap"),
        ("dhcp-rfc4388.out", "tcpdump/dhcp-rfc4388.pcap"),
        ("dhcp-rfc5859-v.out", "tcpdump/dhcp-rfc5859.pcap"),
        ("dhcp-option-108.out", "tcpdump/dhcp-option-108.pcapng"),
        (
            "dhcpv4v6-rfc5970-rfc8572.out",
            "tcpdump/dhcpv4v6-rfc5970-rfc8572.pcap",
        ),
    ] {
        let (link, frames) = corpus_frames(capture);
        let messages = tcpdump_messages(out);
        assert!(!messages.is_empty(), "{out}");
        for (number, expected) in messages {
            let what = format!("{out} packet {number}");
            let decoded = decode(link, &frames[number - 1]);
            if !expected.cookie {
                assert!(
                    matches!(decoded, Err(DecodeError::Dhcp(DhcpError::Cookie(_)))),
                    "{what}: {decoded:?}"
                );
                refused += 1;
                continue;
            }
            let Ok(Some(Heard {
                message: Message::Dhcp(packet),
                ..
            })) = decoded
            else {
                panic!("{what}: not decoded: {decoded:?}");
            };
            assert_eq!(
                packet.operation == Operation::Request,
                expected.request,
                "{what}"
            );
            assert_eq!(
                format!("{:x}", packet.transaction_id),
                expected.xid,
                "{what}"
            );
            let field = |key: &str| expected.fields.get(key).cloned();
            let nonzero = |ip: Ipv4Addr| (!ip.is_unspecified()).then(|| ip.to_string());
            assert_eq!(nonzero(packet.client_ip), field("ciaddr"), "{what}");
            assert_eq!(nonzero(packet.your_ip), field("yiaddr"), "{what}");
            assert_eq!(nonzero(packet.relay_ip), field("giaddr"), "{what}");
            if packet.hardware_type == 1 && packet.hardware_len == 6 {
                let chaddr = MacAddr::from_slice(&packet.client_hardware[..6]).unwrap();
                assert_eq!(Some(chaddr.to_string()), field("chaddr"), "{what}");
            }
            if let Some(name) = field("type") {
                assert!(
                    packet.details.message_name().eq_ignore_ascii_case(&name)
                        || (name == "NACK" && packet.details.message_type == 6)
                        || packet.details.message_type > 8,
                    "{what}: {name} vs {}",
                    packet.details.message_type
                );
            }
            assert_eq!(
                packet.host_name,
                field("hostname").and_then(|name| clean_hostname(&name)),
                "{what}"
            );
            assert_eq!(packet.details.vendor_class, field("vendor"), "{what}");
            assert_eq!(
                packet.details.requested_address.map(|ip| ip.to_string()),
                field("requested"),
                "{what}"
            );
            if let Some(client_id) = field("client_id") {
                assert_eq!(packet.details.client_id, Some(client_id), "{what}");
            }
            assert_eq!(
                packet.details.parameter_request_list, expected.parameter_requests,
                "{what}"
            );
            assert_eq!(packet.details.user_class, expected.user_classes, "{what}");
            compared += 1;
        }
    }
    eprintln!("{compared} messages as tcpdump, {refused} refused for their cookie as by tcpdump");
    assert!(compared >= 50, "{compared}");
}

// Robustness.

/// The DHCP payloads of some real frames.
fn real_payloads() -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    for capture in CAPTURES.iter().take(9) {
        let (link, frames) = corpus_frames(capture);
        for frame in frames {
            let Ok(frame) = parse_frame(link, &frame) else {
                continue;
            };
            let Some(Ok(Some(ip))) = frame.ethertype().map(|e| parse_ip(e, frame.payload)) else {
                continue;
            };
            if let Ok(udp) = parse_udp(ip.payload)
                && (udp.has_port(SERVER_PORT) || udp.has_port(CLIENT_PORT))
            {
                payloads.push(udp.payload.to_vec());
            }
        }
    }
    payloads
}

/// Decodes and, when that works, checks that the sighting passes the contract.
fn exercise(bytes: &[u8]) {
    let Ok(packet) = parse(bytes) else {
        return;
    };
    if let Some(sighting) = packet.sighting(&router()) {
        if let Some(hostname) = &sighting.hostname {
            assert!(hostname.len() <= limits::MAX_HOSTNAME_LEN);
            assert!(!hostname.chars().any(hygie_domain::is_unsafe_char));
        }
        if let Some(detail) = &sighting.detail {
            detail
                .check()
                .unwrap_or_else(|error| panic!("{error}: {bytes:02x?}"));
        }
    }
}

#[test]
fn nothing_panics_on_cut_mutated_or_random_messages() {
    let payloads = real_payloads();
    assert!(payloads.len() > 50, "{}", payloads.len());
    let mut noise = Noise(0x5eed_d4c9_0000_0001);
    for payload in &payloads {
        for len in 0..=payload.len() {
            exercise(&payload[..len]);
        }
        for _ in 0..200 {
            let mut mutated = payload.clone();
            for _ in 0..1 + noise.below(6) {
                let at = OPTIONS_START.min(mutated.len()) + noise.below(64);
                let at = if at < mutated.len() {
                    at
                } else {
                    noise.below(mutated.len())
                };
                mutated[at] = noise.byte();
            }
            exercise(&mutated);
        }
    }
    for _ in 0..20_000 {
        // A valid header and cookie, then random options, to get past the header checks.
        let options: Vec<u8> = (0..noise.below(400)).map(|_| noise.byte()).collect();
        exercise(&message(1 + (noise.below(2) as u8), &options));
        let random: Vec<u8> = (0..noise.below(600)).map(|_| noise.byte()).collect();
        exercise(&random);
    }
}
