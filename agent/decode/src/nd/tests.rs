//! The neighbour discovery decoder on real frames, hand-made messages, tshark's and tcpdump's
//! decodes of the corpus, and noise.

use std::collections::BTreeMap;

use super::*;
use crate::frame::LinkType;
use crate::heard::{Hearing, Message, decode};
use crate::testing::{Noise, corpus_frames, corpus_path, tshark};

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn mac(text: &str) -> MacAddr {
    text.parse().unwrap()
}

fn v6(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Frame 6 of nDPI's `gnutella.pcap` (`tshark -x`): an unsolicited neighbour advertisement
/// (override set) to ff02::1 after address configuration, with a target link-layer address.
const GNUTELLA_NA: &str = "333300000001080027e6e55986dd6000000000203afffe80000000000000c50d519f96a4e108ff020000000000000000000000000001880027a920000000fe80000000000000c50d519f96a4e1080201080027e6e559";
/// Frame 64 of nDPI's `android.pcap`: duplicate address detection of the link-local address.
const ANDROID_DAD: &str = "3333ff9ff6274c6af69ff62786dd6000000000183aff00000000000000000000000000000000ff0200000000000000000001ff9ff62787004b2e00000000fe800000000000004e6af6fffe9ff627";
/// Frame 74 of nDPI's `android.pcap`: a router solicitation with a source link-layer address.
const ANDROID_RS: &str = "3333000000024c6af69ff62786dd6000000000103afffe800000000000004e6af6fffe9ff627ff020000000000000000000000000002850008ca0000000001014c6af69ff627";
/// Frame 31 of nDPI's `iphone.pcap`: duplicate address detection with a nonce option (14).
const IPHONE_DAD: &str = "3333ff98a29cc4618b3582a986dd6000000000203aff00000000000000000000000000000000ff0200000000000000000001ff98a29c870040a500000000fe8000000000000008233f178298a29c0e012adbd6b91c40";
/// Frame 28 of IoT Sentinel's `HueBridge/Setup-A-3-STA.pcap`: a Hue bridge checking that the
/// unique local address it is taking is free.
const HUE_DAD: &str = "3333ff0000010017882476ff86dd6000000000183aff00000000000000000000000000000000ff0200000000000000000001ff0000018700cca900000000fdd90fbba06700000000000000000001";
/// Frame 7 of Zeek's `tunnels_Teredo.pcap`, the ICMPv6 message inside the Teredo tunnel: a
/// router advertisement with a prefix information option.
const TEREDO_RA: &str = "86001f570000000000000000000007d003044040ffffffffffffffff000000002001000041379e500000000000000000";
/// Frame 6 of the same capture, inside the tunnel: a router solicitation whose source
/// link-layer option is 16 bytes long (Teredo's, not an Ethernet MAC).
const TEREDO_RS: &str = "8500a91d0000000001020000000000008000f12ab9c82815";

/// Decodes a real Ethernet frame through the dispatcher.
fn heard(frame: &str) -> (Sender, NdPacket) {
    let heard = decode(LinkType::Ethernet, &hex(frame)).unwrap().unwrap();
    match heard.message {
        Message::Nd(packet) => (heard.sender, packet),
        other => panic!("not ND: {other:?}"),
    }
}

fn sender(frame_mac: &str, source: &str) -> Sender {
    Sender {
        mac: mac(frame_mac),
        ip: Some(ip(source)),
        on_link: true,
    }
}

#[test]
fn a_real_unsolicited_advertisement() {
    let (sender, packet) = heard(GNUTELLA_NA);
    assert_eq!(
        packet,
        NdPacket {
            message: NdMessage::NeighbourAdvertisement(NeighbourAdvertisement {
                router: false,
                solicited: false,
                overrides: true,
                target: v6("fe80::c50d:519f:96a4:e108"),
            }),
            source_link_address: None,
            target_link_address: Some(mac("08:00:27:e6:e5:59")),
        }
    );
    assert_eq!(
        packet.sighting(&sender),
        Some(Sighting {
            mac: Some(mac("08:00:27:e6:e5:59")),
            ips: vec![ip("fe80::c50d:519f:96a4:e108")],
            detail: Some(Detail::Nd(NdDetails { router: false })),
            ..Sighting::default()
        })
    );
    // Through the whole pipeline, the observation passes the contract.
    let heard = decode(LinkType::Ethernet, &hex(GNUTELLA_NA))
        .unwrap()
        .unwrap();
    let observation = heard
        .observation(jiff::Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture)
        .unwrap();
    assert_eq!(observation.mac, mac("08:00:27:e6:e5:59"));
    assert_eq!(observation.ips, [ip("fe80::c50d:519f:96a4:e108")]);
    assert_eq!(
        observation.detail,
        Some(Detail::Nd(NdDetails { router: false }))
    );
}

#[test]
fn real_duplicate_address_detection_claims_the_target() {
    let (sender, packet) = heard(ANDROID_DAD);
    assert_eq!(sender.ip, Some(ip("::")));
    assert_eq!(
        packet,
        NdPacket {
            message: NdMessage::NeighbourSolicitation {
                target: v6("fe80::4e6a:f6ff:fe9f:f627")
            },
            source_link_address: None,
            target_link_address: None,
        }
    );
    let sighting = packet.sighting(&sender).unwrap();
    assert_eq!(sighting.mac, Some(mac("4c:6a:f6:9f:f6:27")));
    assert_eq!(sighting.ips, [ip("fe80::4e6a:f6ff:fe9f:f627")]);
    assert_eq!(sighting.detail, None);

    // The nonce option (RFC 7527) is skipped.
    let (sender, packet) = heard(IPHONE_DAD);
    assert_eq!(
        packet.message,
        NdMessage::NeighbourSolicitation {
            target: v6("fe80::823:3f17:8298:a29c")
        }
    );
    assert_eq!(packet.source_link_address, None);
    let sighting = packet.sighting(&sender).unwrap();
    assert_eq!(sighting.mac, Some(mac("c4:61:8b:35:82:a9")));
    assert_eq!(sighting.ips, [ip("fe80::823:3f17:8298:a29c")]);

    let (sender, packet) = heard(HUE_DAD);
    let sighting = packet.sighting(&sender).unwrap();
    assert_eq!(sighting.mac, Some(mac("00:17:88:24:76:ff")));
    assert_eq!(sighting.ips, [ip("fdd9:fbb:a067::1")]);
}

#[test]
fn a_real_router_solicitation() {
    let (sender, packet) = heard(ANDROID_RS);
    assert_eq!(
        packet,
        NdPacket {
            message: NdMessage::RouterSolicitation,
            source_link_address: Some(mac("4c:6a:f6:9f:f6:27")),
            target_link_address: None,
        }
    );
    assert_eq!(
        packet.sighting(&sender),
        Some(Sighting {
            mac: Some(mac("4c:6a:f6:9f:f6:27")),
            ips: vec![ip("fe80::4e6a:f6ff:fe9f:f627")],
            ..Sighting::default()
        })
    );
}

#[test]
fn a_real_router_advertisement_from_a_tunnel() {
    let packet = parse(&hex(TEREDO_RA)).unwrap().unwrap();
    assert_eq!(
        packet,
        NdPacket {
            message: NdMessage::RouterAdvertisement(RouterAdvertisement {
                current_hop_limit: 0,
                managed: false,
                other: false,
                router_lifetime: 0,
            }),
            source_link_address: None,
            target_link_address: None,
        }
    );
    let router = sender("00:1d:5a:dc:cf:f1", "fe80::8000:f227:bec8:61af");
    assert_eq!(
        packet.sighting(&router),
        Some(Sighting {
            mac: Some(mac("00:1d:5a:dc:cf:f1")),
            ips: vec![ip("fe80::8000:f227:bec8:61af")],
            detail: Some(Detail::Nd(NdDetails { router: true })),
            ..Sighting::default()
        })
    );
    // A 16-byte link-layer option is another link type's address, not a MAC.
    let packet = parse(&hex(TEREDO_RS)).unwrap().unwrap();
    assert_eq!(packet.message, NdMessage::RouterSolicitation);
    assert_eq!(packet.source_link_address, None);
}

/// An ICMPv6 message: type, code, zero checksum, then `body`.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind, 0, 0, 0];
    bytes.extend_from_slice(body);
    bytes
}

fn link_option(kind: u8, mac: &str) -> Vec<u8> {
    let mut option = vec![kind, 1];
    option.extend_from_slice(&self::mac(mac).octets());
    option
}

/// A neighbour advertisement with `flags` (R S O in the top bits) about `target`, options after.
fn advertisement(flags: u8, target: &str, options: &[u8]) -> Vec<u8> {
    let mut body = vec![flags, 0, 0, 0];
    body.extend_from_slice(&v6(target).octets());
    body.extend_from_slice(options);
    message(NEIGHBOUR_ADVERTISEMENT, &body)
}

fn solicitation(target: &str, options: &[u8]) -> Vec<u8> {
    let mut body = vec![0; 4];
    body.extend_from_slice(&v6(target).octets());
    body.extend_from_slice(options);
    message(NEIGHBOUR_SOLICITATION, &body)
}

fn router_advertisement(options: &[u8]) -> Vec<u8> {
    let mut body = vec![64, 0xc0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
    body.extend_from_slice(options);
    message(ROUTER_ADVERTISEMENT, &body)
}

#[test]
fn router_advertisement_fields_and_options_are_read() {
    // Prefix information (3, 32 bytes) and MTU (5, 8 bytes) are skipped around the address.
    let mut options = vec![3, 4];
    options.extend_from_slice(&[0; 30]);
    options.extend_from_slice(&[5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
    options.extend(link_option(1, "00:1b:21:00:00:01"));
    let packet = parse(&router_advertisement(&options)).unwrap().unwrap();
    assert_eq!(
        packet,
        NdPacket {
            message: NdMessage::RouterAdvertisement(RouterAdvertisement {
                current_hop_limit: 64,
                managed: true,
                other: true,
                router_lifetime: 0x0708,
            }),
            source_link_address: Some(mac("00:1b:21:00:00:01")),
            target_link_address: None,
        }
    );
    // The first of two link-layer options counts.
    let mut options = link_option(1, "00:1b:21:00:00:01");
    options.extend(link_option(1, "00:1b:21:00:00:02"));
    let packet = parse(&router_advertisement(&options)).unwrap().unwrap();
    assert_eq!(packet.source_link_address, Some(mac("00:1b:21:00:00:01")));
}

#[test]
fn other_icmpv6_messages_are_not_nd() {
    for kind in [0, 1, 2, 3, 4, 128, 129, 130, 131, 132, 137, 143, 255] {
        assert_eq!(parse(&message(kind, &[0; 40])), Ok(None), "{kind}");
        assert_eq!(parse(&[kind]), Ok(None), "{kind}");
    }
    assert_eq!(parse(&[]), Ok(None));
}

#[test]
fn every_truncation_of_the_fixed_part_is_refused() {
    for (kind, fixed_len) in [(133u8, 8usize), (134, 16), (135, 24), (136, 24)] {
        let full = message(kind, &[0; 20]);
        for len in 1..fixed_len {
            assert_eq!(
                parse(&full[..len]),
                Err(NdError::Truncated {
                    needed: fixed_len,
                    got: len
                }),
                "{kind} cut at {len}"
            );
        }
        assert!(parse(&full[..fixed_len]).unwrap().is_some());
    }
}

#[test]
fn every_truncation_of_a_real_message_is_refused_or_ends_on_an_option() {
    let (_, frame_packet) = heard(GNUTELLA_NA);
    let bytes = hex(GNUTELLA_NA);
    let icmp = &bytes[54..];
    assert_eq!(parse(icmp).unwrap(), Some(frame_packet));
    for len in 0..icmp.len() {
        match parse(&icmp[..len]) {
            // Cut exactly at the end of the fixed part: a message without options.
            Ok(Some(packet)) => {
                assert_eq!(len, 24);
                assert_eq!(packet.target_link_address, None);
            }
            Ok(None) => assert_eq!(len, 0),
            Err(NdError::Truncated { .. }) => assert!(len < 24),
            Err(NdError::OptionOverrun { kind: 2, .. }) => assert!(len > 24),
            Err(error) => panic!("{len}: {error}"),
        }
    }
}

#[test]
fn malformed_messages_are_refused() {
    let mut bad_code = hex(TEREDO_RA);
    bad_code[1] = 1;
    assert_eq!(parse(&bad_code), Err(NdError::Code(1)));
    assert_eq!(NdError::Code(1).kind(), "bad ND code");

    // A zero-length option must not spin.
    let zero = advertisement(0x20, "fe80::1", &[2, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(parse(&zero), Err(NdError::ZeroLengthOption(2)));
    assert_eq!(NdError::ZeroLengthOption(2).kind(), "zero-length ND option");
    // A zero-length option after a good one.
    let mut options = link_option(2, "00:1b:21:00:00:01");
    options.extend_from_slice(&[9, 0]);
    assert_eq!(
        parse(&advertisement(0x20, "fe80::1", &options)),
        Err(NdError::ZeroLengthOption(9))
    );
    // An option claiming 255 × 8 bytes, and a lone trailing byte.
    assert_eq!(
        parse(&advertisement(0x20, "fe80::1", &[1, 255, 0, 0, 0, 0, 0, 0])),
        Err(NdError::OptionOverrun {
            kind: 1,
            needed: 2040,
            left: 8
        })
    );
    assert_eq!(
        parse(&advertisement(0x20, "fe80::1", &[1])),
        Err(NdError::OptionOverrun {
            kind: 1,
            needed: 2,
            left: 1
        })
    );
    // RFC 4861 §7.1: a multicast target is discarded.
    assert_eq!(
        parse(&solicitation("ff02::1", &[])),
        Err(NdError::MulticastTarget(v6("ff02::1")))
    );
    assert_eq!(
        parse(&advertisement(0x20, "ff02::1:ff00:1", &[])),
        Err(NdError::MulticastTarget(v6("ff02::1:ff00:1")))
    );
}

#[test]
fn a_message_of_eight_thousand_options_is_walked_to_its_end() {
    let options: Vec<u8> = std::iter::repeat_n([14u8, 1, 0, 0, 0, 0, 0, 0], 8_000)
        .flatten()
        .collect();
    let packet = parse(&solicitation("fe80::1", &options)).unwrap().unwrap();
    assert_eq!(packet.source_link_address, None);
}

const DEVICE: &str = "00:1b:21:00:00:01";
const OTHER: &str = "00:1b:21:00:00:02";

#[test]
fn the_link_layer_option_must_agree_with_the_frame() {
    let packet = |option: &str| {
        parse(&solicitation("fe80::2", &link_option(1, option)))
            .unwrap()
            .unwrap()
    };
    let from_device = sender(DEVICE, "fe80::1");
    // Agreeing: the sender's MAC and source address; the target is someone else's.
    assert_eq!(
        packet(DEVICE).sighting(&from_device),
        Some(Sighting {
            mac: Some(mac(DEVICE)),
            ips: vec![ip("fe80::1")],
            ..Sighting::default()
        })
    );
    // Disagreeing: a proxy or a spoof, nothing is recorded.
    assert_eq!(packet(OTHER).sighting(&from_device), None);
    assert_eq!(packet("01:00:5e:00:00:01").sighting(&from_device), None);
    // No option: the frame alone.
    let bare = parse(&solicitation("fe80::2", &[])).unwrap().unwrap();
    assert_eq!(bare.sighting(&from_device).unwrap().mac, Some(mac(DEVICE)));
    // The frame's source is no device MAC: the option alone, if it is one.
    let group_frame = sender("33:33:00:00:00:01", "fe80::1");
    assert_eq!(
        packet(DEVICE).sighting(&group_frame).unwrap().mac,
        Some(mac(DEVICE))
    );
    assert_eq!(packet("00:00:00:00:00:00").sighting(&group_frame), None);
    assert_eq!(bare.sighting(&group_frame), None);
    // An advertisement is checked against its target link-layer option.
    let na = |option: &str| {
        parse(&advertisement(0x60, "fe80::1", &link_option(2, option)))
            .unwrap()
            .unwrap()
    };
    assert!(na(DEVICE).sighting(&from_device).is_some());
    assert_eq!(na(OTHER).sighting(&from_device), None);
    // ...and not against a source link-layer option, which it has no business carrying.
    let odd = parse(&advertisement(0x60, "fe80::1", &link_option(1, OTHER)))
        .unwrap()
        .unwrap();
    assert_eq!(odd.sighting(&from_device).unwrap().mac, Some(mac(DEVICE)));
}

#[test]
fn advertisements_name_their_target_and_router_flag() {
    let na = |flags: u8, target: &str| parse(&advertisement(flags, target, &[])).unwrap().unwrap();
    let from = |source: &str| sender(DEVICE, source);
    // Solicited, override, router: a router answering for its own global address.
    assert_eq!(
        na(0xe0, "2001:db8::1").sighting(&from("2001:db8::1")),
        Some(Sighting {
            mac: Some(mac(DEVICE)),
            ips: vec![ip("2001:db8::1")],
            detail: Some(Detail::Nd(NdDetails { router: true })),
            ..Sighting::default()
        })
    );
    // A host answering for its global address from its link-local one: both are its own.
    assert_eq!(
        na(0x60, "2001:db8::7").sighting(&from("fe80::7")),
        Some(Sighting {
            mac: Some(mac(DEVICE)),
            ips: vec![ip("2001:db8::7"), ip("fe80::7")],
            detail: Some(Detail::Nd(NdDetails { router: false })),
            ..Sighting::default()
        })
    );
    // Override clear: a proxy or an anycast answer, the target is not claimed.
    assert_eq!(
        na(0xc0, "2001:db8::99")
            .sighting(&from("fe80::1"))
            .unwrap()
            .ips,
        [ip("fe80::1")]
    );
    assert_eq!(
        na(0x40, "fe80::1").sighting(&from("fe80::1")).unwrap().ips,
        [ip("fe80::1")]
    );
    // An unusable target (loopback) is dropped, the source kept.
    assert_eq!(
        na(0x20, "::1").sighting(&from("fe80::1")).unwrap().ips,
        [ip("fe80::1")]
    );
    // An advertisement from `::` is invalid.
    assert_eq!(na(0x20, "fe80::1").sighting(&from("::")), None);
}

#[test]
fn solicitations_prove_the_source_or_the_address_being_taken() {
    let ns = |options: &[u8]| {
        parse(&solicitation("2001:db8::5", options))
            .unwrap()
            .unwrap()
    };
    // Address resolution: the source address is the sender's, the target someone else's.
    assert_eq!(
        ns(&[])
            .sighting(&sender(DEVICE, "2001:db8::1"))
            .unwrap()
            .ips,
        [ip("2001:db8::1")]
    );
    // Duplicate address detection: the target.
    let dad = ns(&[]).sighting(&sender(DEVICE, "::")).unwrap();
    assert_eq!(dad.ips, [ip("2001:db8::5")]);
    assert_eq!(dad.mac, Some(mac(DEVICE)));
    assert_eq!(dad.detail, None);
    // RFC 4861 §7.1.1: DAD with a source link-layer option is invalid.
    assert_eq!(
        ns(&link_option(1, DEVICE)).sighting(&sender(DEVICE, "::")),
        None
    );
    // Router solicitation: the source unless unspecified, then the MAC alone.
    let rs = parse(&message(ROUTER_SOLICITATION, &[0; 4]))
        .unwrap()
        .unwrap();
    assert_eq!(
        rs.sighting(&sender(DEVICE, "fe80::1")).unwrap().ips,
        [ip("fe80::1")]
    );
    assert_eq!(
        rs.sighting(&sender(DEVICE, "::")),
        Some(Sighting {
            mac: Some(mac(DEVICE)),
            ..Sighting::default()
        })
    );
    let mut with_option = vec![0; 4];
    with_option.extend(link_option(1, DEVICE));
    let rs = parse(&message(ROUTER_SOLICITATION, &with_option))
        .unwrap()
        .unwrap();
    assert_eq!(rs.sighting(&sender(DEVICE, "::")), None);
    assert!(rs.sighting(&sender(DEVICE, "fe80::1")).is_some());
}

#[test]
fn router_advertisements_say_router_from_link_local_only() {
    let ra = parse(&router_advertisement(&link_option(1, DEVICE)))
        .unwrap()
        .unwrap();
    let sighting = ra.sighting(&sender(DEVICE, "fe80::1")).unwrap();
    assert_eq!(
        sighting.detail,
        Some(Detail::Nd(NdDetails { router: true }))
    );
    assert_eq!(sighting.ips, [ip("fe80::1")]);
    assert_eq!(sighting.hostname, None);
    // RFC 4861 §6.1.2: an advertisement from a global address is invalid.
    assert_eq!(ra.sighting(&sender(DEVICE, "2001:db8::1")), None);
    assert_eq!(ra.sighting(&sender(OTHER, "fe80::1")), None);
}

#[test]
fn what_crossed_a_router_or_came_over_ipv4_proves_nothing() {
    let ns = parse(&solicitation("2001:db8::5", &[])).unwrap().unwrap();
    let routed = Sender {
        on_link: false,
        ..sender(DEVICE, "2001:db8::1")
    };
    assert_eq!(ns.sighting(&routed), None);
    assert_eq!(ns.sighting(&sender(DEVICE, "198.18.0.1")), None);
    let no_ip = Sender {
        ip: None,
        ..sender(DEVICE, "fe80::1")
    };
    assert_eq!(ns.sighting(&no_ip), None);
}

/// The ICMPv6 message of a frame: through the dispatcher, or, for a tunnelled frame (Teredo,
/// CAPWAP), the first IPv6 header with next header 58 whose payload fits in the frame.
fn icmpv6_of(link: LinkType, frame: &[u8]) -> Option<(Option<NdPacket>, Vec<u8>)> {
    if let Ok(Some(heard)) = decode(link, frame)
        && let Message::Nd(packet) = heard.message
    {
        return Some((Some(packet), Vec::new()));
    }
    (0..frame.len().saturating_sub(40)).find_map(|at| {
        let header = &frame[at..at + 40];
        if header[0] >> 4 != 6 || header[6] != 58 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let payload = frame.get(at + 40..at + 40 + len)?;
        matches!(payload.first(), Some(133..=136)).then(|| (None, payload.to_vec()))
    })
}

/// Captures holding ND frames, and whether they are tunnelled (not reached by the dispatcher).
const ND_CAPTURES: &[(&str, bool)] = &[
    ("ndpi/android.pcap", false),
    ("ndpi/iphone.pcap", false),
    ("ndpi/gnutella.pcap", false),
    ("ndpi/capwap.pcap", true),
    ("tcpdump/dcb_ets.pcap", false),
    ("tcpdump/dcb_qcn.pcap", false),
    ("zeek/tunnels_Teredo.pcap", true),
    ("iot-sentinel/D-LinkHomeHub/Setup-C-14-STA.pcap", false),
    ("iot-sentinel/D-LinkSensor/Setup-A-1-STA.pcap", false),
    ("iot-sentinel/D-LinkSiren/Setup-C-12-STA.pcap", false),
    ("iot-sentinel/D-LinkSwitch/Setup-C-1-STA.pcap", false),
    ("iot-sentinel/D-LinkWaterSensor/Setup-C-16-STA.pcap", false),
    ("iot-sentinel/EdnetCam1/Setup-C-6-STA.pcap", false),
    ("iot-sentinel/HueBridge/Setup-A-3-STA.pcap", false),
    ("iot-sentinel/WeMoInsightSwitch/Setup-A-11-STA.pcap", false),
];

const ND_FILTER: &str = "icmpv6.type >= 133 && icmpv6.type <= 136";

fn flag(value: bool) -> &'static str {
    if value { "1" } else { "0" }
}

/// tshark writes a six-byte link-layer address as a MAC and longer ones as bare hex.
fn tshark_mac(value: &str) -> Option<MacAddr> {
    value.split(',').next().and_then(|first| first.parse().ok())
}

#[test]
fn the_corpus_decodes_as_tshark_does() {
    let fields = [
        "icmpv6.type",
        "icmpv6.code",
        "icmpv6.nd.ns.target_address",
        "icmpv6.nd.na.target_address",
        "icmpv6.nd.na.flag.r",
        "icmpv6.nd.na.flag.s",
        "icmpv6.nd.na.flag.o",
        "icmpv6.nd.ra.cur_hop_limit",
        "icmpv6.nd.ra.flag.m",
        "icmpv6.nd.ra.flag.o",
        "icmpv6.nd.ra.router_lifetime",
        "icmpv6.opt.src_linkaddr",
        "icmpv6.opt.target_linkaddr",
    ];
    let mut compared = 0;
    for &(capture, tunnelled) in ND_CAPTURES {
        let Some(rows) = tshark(capture, ND_FILTER, &fields) else {
            return;
        };
        assert!(!rows.is_empty(), "{capture}");
        let (link, frames) = corpus_frames(capture);
        let expected: BTreeMap<usize, Vec<String>> = rows
            .into_iter()
            .map(|row| (row[0].parse::<usize>().unwrap(), row[1..].to_vec()))
            .collect();
        for (index, frame) in frames.iter().enumerate() {
            let number = index + 1;
            let decoded = icmpv6_of(link, frame);
            let Some(row) = expected.get(&number) else {
                // The dispatcher finds ND nowhere tshark does not.
                assert!(
                    !matches!(decoded, Some((Some(_), _))),
                    "{capture} #{number}"
                );
                continue;
            };
            let (packet, bytes) = decoded.unwrap_or_else(|| panic!("{capture} #{number}"));
            // Plain frames reach ND through the dispatcher, tunnelled ones do not.
            assert_eq!(packet.is_none(), tunnelled, "{capture} #{number}");
            let packet = match packet {
                Some(packet) => packet,
                None => parse(&bytes).unwrap().unwrap(),
            };
            let at = |field: &str| {
                let i = fields.iter().position(|f| *f == field).unwrap();
                row.get(i).map(String::as_str).unwrap_or("")
            };
            let context = format!("{capture} #{number}: {packet:?} vs {row:?}");
            assert_eq!(at("icmpv6.code"), "0", "{context}");
            match packet.message {
                NdMessage::RouterSolicitation => {
                    assert_eq!(at("icmpv6.type"), "133", "{context}");
                }
                NdMessage::RouterAdvertisement(ra) => {
                    assert_eq!(at("icmpv6.type"), "134", "{context}");
                    assert_eq!(
                        at("icmpv6.nd.ra.cur_hop_limit"),
                        ra.current_hop_limit.to_string()
                    );
                    assert_eq!(at("icmpv6.nd.ra.flag.m"), flag(ra.managed), "{context}");
                    assert_eq!(at("icmpv6.nd.ra.flag.o"), flag(ra.other), "{context}");
                    assert_eq!(
                        at("icmpv6.nd.ra.router_lifetime"),
                        ra.router_lifetime.to_string()
                    );
                }
                NdMessage::NeighbourSolicitation { target } => {
                    assert_eq!(at("icmpv6.type"), "135", "{context}");
                    assert_eq!(
                        at("icmpv6.nd.ns.target_address").parse::<Ipv6Addr>(),
                        Ok(target),
                        "{context}"
                    );
                }
                NdMessage::NeighbourAdvertisement(na) => {
                    assert_eq!(at("icmpv6.type"), "136", "{context}");
                    assert_eq!(
                        at("icmpv6.nd.na.target_address").parse::<Ipv6Addr>(),
                        Ok(na.target),
                        "{context}"
                    );
                    assert_eq!(at("icmpv6.nd.na.flag.r"), flag(na.router), "{context}");
                    assert_eq!(at("icmpv6.nd.na.flag.s"), flag(na.solicited), "{context}");
                    assert_eq!(at("icmpv6.nd.na.flag.o"), flag(na.overrides), "{context}");
                }
            }
            assert_eq!(
                packet.source_link_address,
                tshark_mac(at("icmpv6.opt.src_linkaddr")),
                "{context}"
            );
            assert_eq!(
                packet.target_link_address,
                tshark_mac(at("icmpv6.opt.target_linkaddr")),
                "{context}"
            );
            compared += 1;
        }
        // Every frame tshark decodes as ND was found.
        assert!(
            expected
                .keys()
                .all(|number| icmpv6_of(link, &frames[number - 1]).is_some()),
            "{capture}"
        );
    }
    assert_eq!(compared, 47);
}

#[test]
fn the_corpus_decodes_as_tcpdump_does() {
    // tcpdump -vv: `N  time IP6 (hlim 255, ...) src > dst: [icmp6 sum ok] ICMP6, neighbor
    // solicitation, length 24, who has X`, then indented option lines.
    for (capture, out, count) in [
        ("tcpdump/dcb_ets.pcap", "dcb_ets.out", 7),
        ("tcpdump/dcb_qcn.pcap", "dcb_qcn.out", 2),
    ] {
        let text = std::fs::read_to_string(corpus_path(&format!(
            "tcpdump/expected_tcpdump_output/{out}"
        )))
        .unwrap();
        let mut expected: Vec<(usize, String, Option<String>, Option<MacAddr>)> = Vec::new();
        for line in text.lines() {
            if let Some((_, nd)) = line.split_once("ICMP6, ") {
                let number: usize = line.split_whitespace().next().unwrap().parse().unwrap();
                let kind = nd.split(',').next().unwrap().to_owned();
                if !kind.starts_with("neighbor") && !kind.starts_with("router") {
                    continue;
                }
                let target = nd
                    .split_once("who has ")
                    .or_else(|| nd.split_once("tgt is "))
                    .map(|(_, target)| target.split([' ', ',']).next().unwrap().to_owned());
                expected.push((number, kind, target, None));
            } else if let Some((_, address)) = line.split_once("link-address option (")
                && let Some(last) = expected.last_mut()
                && let Some((_, mac)) = address.split_once("): ")
            {
                last.3 = mac.parse().ok();
            }
        }
        assert_eq!(expected.len(), count, "{out}");
        let (link, frames) = corpus_frames(capture);
        for (number, kind, target, link_address) in expected {
            let (sender, packet) = match decode(link, &frames[number - 1]).unwrap().unwrap() {
                crate::Heard {
                    sender,
                    message: Message::Nd(packet),
                    ..
                } => (sender, packet),
                other => panic!("{out} #{number}: {other:?}"),
            };
            let (decoded_kind, decoded_target) = match packet.message {
                NdMessage::RouterSolicitation => ("router solicitation", None),
                NdMessage::RouterAdvertisement(_) => ("router advertisement", None),
                NdMessage::NeighbourSolicitation { target } => {
                    ("neighbor solicitation", Some(target.to_string()))
                }
                NdMessage::NeighbourAdvertisement(na) => {
                    ("neighbor advertisement", Some(na.target.to_string()))
                }
            };
            assert_eq!(decoded_kind, kind, "{out} #{number}");
            assert_eq!(decoded_target, target, "{out} #{number}");
            assert_eq!(
                packet.source_link_address.or(packet.target_link_address),
                link_address,
                "{out} #{number}"
            );
            // Each is a device's DAD or router solicitation: a sighting of its MAC.
            let sighting = packet.sighting(&sender).unwrap();
            assert_eq!(sighting.mac, Some(sender.mac), "{out} #{number}");
            assert_eq!(sighting.ips.len(), 1, "{out} #{number}");
        }
    }
}

#[test]
fn real_messages_cut_or_mutated_or_random_never_panic() {
    let mut messages: Vec<Vec<u8>> = [GNUTELLA_NA, ANDROID_DAD, ANDROID_RS, IPHONE_DAD, HUE_DAD]
        .iter()
        .map(|frame| hex(frame)[54..].to_vec())
        .collect();
    messages.push(hex(TEREDO_RA));
    messages.push(hex(TEREDO_RS));
    let senders = [
        sender(DEVICE, "fe80::1"),
        sender(DEVICE, "::"),
        sender("33:33:00:00:00:01", "2001:db8::1"),
    ];
    let exercise = |bytes: &[u8]| {
        if let Ok(Some(packet)) = parse(bytes) {
            for sender in &senders {
                let _ = packet.sighting(sender);
            }
        }
    };
    let mut noise = Noise(0x5eed_0f2d_4e1d_0bad);
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
        let len = noise.below(120);
        let mut bytes: Vec<u8> = (0..len).map(|_| noise.byte()).collect();
        if let Some(kind) = bytes.first_mut() {
            *kind = 133 + (*kind % 4);
        }
        if let Some(code) = bytes.get_mut(1) {
            *code = 0;
        }
        exercise(&bytes);
    }
}
