//! The CDP decoder on real frames (Cisco switches, a router, lldpd), on hand-built and hostile
//! ones, and against tshark's and tcpdump's decodes of the corpus.

use std::collections::BTreeMap;

use hygie_domain::{MacAddr, Source};
use jiff::Timestamp;

use super::*;
use crate::frame::{LinkType, OUI_CISCO, Protocol, SNAP_PID_CDP, parse_frame};
use crate::heard::{Hearing, Message, decode};
use crate::testing::{Noise, corpus_frames, corpus_path, tshark};

fn hex_bytes(text: &[&str]) -> Vec<u8> {
    let text: String = text.concat();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

const CDP: Protocol = Protocol::Snap {
    oui: OUI_CISCO,
    pid: SNAP_PID_CDP,
};

/// The CDP payload of an 802.3 frame.
fn payload_of(frame: &[u8]) -> Vec<u8> {
    let parsed = parse_frame(LinkType::Ethernet, frame).unwrap();
    assert_eq!(parsed.protocol, CDP);
    parsed.payload.to_vec()
}

/// Frame 1 of tcpdump's `3560_CDP.pcap` (`tshark -x`): CDPv2 from a Catalyst 3560G.
const CATALYST: &[&str] = &[
    "01000ccccccc001906eab8850182aaaa0300000c200002b4b0bd0001000a537769746368000500c4436973636f20494f",
    "5320536f6674776172652c20433335363020536f667477617265202843333536302d414456495053455256494345534b",
    "392d4d292c2056657273696f6e2031322e3228323529534542342c2052454c4541534520534f46545741524520286663",
    "31290a436f707972696768742028632920313938362d3230303520627920436973636f2053797374656d732c20496e63",
    "2e0a436f6d70696c6564205475652033302d4175672d30352031373a35362062792079656e616e680006001863697363",
    "6f2057532d4333353630472d3234505300020011000000010101cc0004c0a80001000300164769676162697445746865",
    "726e6574302f3500040008000000280008002400000c011200000000ffffffff010221ff000000000000001906eab880",
    "ff0000000900074c6162000a00060001000b0005010012000500001300050000160011000000010101cc0004c0a80001",
    "001a00100000000100000000ffffffff",
];

/// Frame 1 of tcpdump's `LLDP_and_CDP.pcap`: a switch whose addresses are 0.0.0.0.
const UNNUMBERED: &[&str] = &[
    "01000ccccccc0018ba98688f0176aaaa0300000c200002b40bea000100065331000500c2436973636f20494f5320536f",
    "6674776172652c20433335363020536f667477617265202843333536302d414456495053455256494345534b392d4d29",
    "2c2056657273696f6e2031322e322834342953452c2052454c4541534520534f4654574152452028666331290a436f70",
    "7972696768742028632920313938362d3230303820627920436973636f2053797374656d732c20496e632e0a436f6d70",
    "696c6564205361742030352d4a616e2d30382030303a3135206279207765696c697500060017636973636f2057532d43",
    "333536302d3234545300020011000000010101cc000400000000000300144661737445746865726e6574302f31330004",
    "0008000000280008002400000c011200000000ffffffff010220ff0000000000000018ba986880ff000000090004000a",
    "00060001000b0005010012000500001300050000160011000000010101cc000400000000001a00100000000100000000",
    "ffffffff",
];

/// Frame 1 of Zeek's `cdp-v1.pcap`: CDPv1 from a Cisco 1601 router.
const ROUTER_V1: &[&str] = &[
    "01000ccccccc00e01ed5d515011eaaaa0300000c200001b4dff000010006523100020011000000010101cc0004c0a80a",
    "010003000d45746865726e6574300004000800000001000500d8436973636f20496e7465726e6574776f726b204f7065",
    "726174696e672053797374656d20536f667477617265200a494f532028746d29203136303020536f6674776172652028",
    "43313630302d4e592d4c292c2056657273696f6e2031312e3228313229502c2052454c4541534520534f465457415245",
    "2028666331290a436f707972696768742028632920313938362d3139393820627920636973636f2053797374656d732c",
    "20496e632e0a436f6d70696c6564205475652030332d4d61722d39382030363a33332062792064736368776172740006",
    "000e636973636f2031363031",
];

/// CDPv2 sent by lldpd 1.0.16 (`lldpd -ccc`) on a veth pair inside a network namespace.
const LLDPD: &[&str] = &[
    "01000ccccccc0009fb1122330063aaaa0300000c20000204c88c0001000e6d6f6e2d6963752d30310002001100000001",
    "0101cc0004c612000b000300067630000400080000001000050021496e74656c6c69567565204d58343530205265762e",
    "204d2e30302e3033000600094c696e7578",
];

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().unwrap()).collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn a_catalyst_switch() {
    let details = parse(&payload_of(&hex_bytes(CATALYST))).unwrap();
    assert_eq!(
        details,
        CdpDetails {
            device_id: Some("Switch".into()),
            platform: Some("cisco WS-C3560G-24PS".into()),
            software_version: Some(
                "Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M), Version \
                 12.2(25)SEB4, RELEASE SOFTWARE (fc1)"
                    .into()
            ),
            port_id: Some("GigabitEthernet0/5".into()),
            capabilities: strings(&["switch", "igmp"]),
            // Listed twice, as an address and as the management address.
            addresses: ips(&["192.168.0.1"]),
            native_vlan: Some(1),
        }
    );
}

#[test]
fn unnumbered_addresses_are_not_device_addresses() {
    let details = parse(&payload_of(&hex_bytes(UNNUMBERED))).unwrap();
    assert_eq!(details.device_id.as_deref(), Some("S1"));
    assert_eq!(details.port_id.as_deref(), Some("FastEthernet0/13"));
    assert_eq!(details.platform.as_deref(), Some("cisco WS-C3560-24TS"));
    assert!(details.addresses.is_empty());
}

#[test]
fn a_cdp_v1_router() {
    let details = parse(&payload_of(&hex_bytes(ROUTER_V1))).unwrap();
    assert_eq!(
        details,
        CdpDetails {
            device_id: Some("R1".into()),
            platform: Some("cisco 1601".into()),
            software_version: Some("Cisco Internetwork Operating System Software".into()),
            port_id: Some("Ethernet0".into()),
            capabilities: strings(&["router"]),
            addresses: ips(&["192.168.10.1"]),
            native_vlan: None,
        }
    );
}

#[test]
fn lldpd_speaks_cdp_too() {
    let details = parse(&payload_of(&hex_bytes(LLDPD))).unwrap();
    assert_eq!(
        details,
        CdpDetails {
            device_id: Some("mon-icu-01".into()),
            platform: Some("Linux".into()),
            software_version: Some("IntelliVue MX450 Rev. M.00.03".into()),
            port_id: Some("v0".into()),
            capabilities: strings(&["host"]),
            addresses: ips(&["198.18.0.11"]),
            native_vlan: None,
        }
    );
}

// Hand-built frames.

fn tlv(tlv_type: u16, value: &[u8]) -> Vec<u8> {
    let mut bytes = tlv_type.to_be_bytes().to_vec();
    bytes.extend_from_slice(&(value.len() as u16 + 4).to_be_bytes());
    bytes.extend_from_slice(value);
    bytes
}

/// A CDPv2 header (TTL 180, checksum not checked) and TLVs.
fn cdp(tlvs: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = vec![0x02, 0xb4, 0x00, 0x00];
    for part in tlvs {
        bytes.extend_from_slice(part);
    }
    bytes
}

fn ipv4_entry(octets: [u8; 4]) -> Vec<u8> {
    [&[0x01, 0x01, NLPID_IP, 0x00, 0x04][..], &octets].concat()
}

fn ipv6_entry(ip: &str) -> Vec<u8> {
    let ip: Ipv6Addr = ip.parse().unwrap();
    [
        &[0x02, 0x08][..],
        &PROTOCOL_IPV6,
        &[0x00, 0x10],
        &ip.octets(),
    ]
    .concat()
}

fn address_tlv(tlv_type: u16, count: u32, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut value = count.to_be_bytes().to_vec();
    for entry in entries {
        value.extend_from_slice(entry);
    }
    tlv(tlv_type, &value)
}

#[test]
fn addresses_of_both_tlvs_and_both_families() {
    let clns = vec![0x01, 0x01, 0x81, 0x00, 0x03, 0x49, 0x00, 0x01];
    let details = parse(&cdp(&[
        address_tlv(
            TLV_ADDRESSES,
            4,
            &[
                ipv4_entry([10, 20, 30, 40]),
                clns,
                ipv6_entry("2001:db8::7"),
                ipv4_entry([0, 0, 0, 0]),
            ],
        ),
        address_tlv(
            TLV_MANAGEMENT_ADDRESSES,
            3,
            &[
                ipv4_entry([10, 20, 30, 40]),
                ipv4_entry([10, 99, 0, 1]),
                ipv6_entry("ff02::1"),
            ],
        ),
    ]))
    .unwrap();
    assert_eq!(
        details.addresses,
        ips(&["10.20.30.40", "2001:db8::7", "10.99.0.1"])
    );
}

#[test]
fn hostile_address_lists_stay_bounded() {
    // A count far above the entries: the entries there are, no more.
    let details = parse(&cdp(&[address_tlv(
        TLV_ADDRESSES,
        u32::MAX,
        &[ipv4_entry([10, 0, 0, 1])],
    )]))
    .unwrap();
    assert_eq!(details.addresses, ips(&["10.0.0.1"]));
    // A count below the entries: the count.
    let details = parse(&cdp(&[address_tlv(
        TLV_ADDRESSES,
        1,
        &[ipv4_entry([10, 0, 0, 1]), ipv4_entry([10, 0, 0, 2])],
    )]))
    .unwrap();
    assert_eq!(details.addresses, ips(&["10.0.0.1"]));
    // An entry cut short ends the list, keeping the entries before it.
    let mut cut = ipv4_entry([10, 0, 0, 2]);
    cut.pop();
    let details = parse(&cdp(&[address_tlv(
        TLV_ADDRESSES,
        2,
        &[ipv4_entry([10, 0, 0, 1]), cut],
    )]))
    .unwrap();
    assert_eq!(details.addresses, ips(&["10.0.0.1"]));
    // Wrong address lengths for the protocol, and a TLV too short for its count.
    let odd = vec![0x01, 0x01, NLPID_IP, 0x00, 0x05, 10, 0, 0, 3, 0];
    let details = parse(&cdp(&[
        address_tlv(TLV_ADDRESSES, 1, &[odd]),
        tlv(TLV_MANAGEMENT_ADDRESSES, &[0, 0, 1]),
    ]))
    .unwrap();
    assert!(details.addresses.is_empty());
    // No more than the contract's bound.
    let many: Vec<Vec<u8>> = (0..40).map(|i| ipv4_entry([10, 0, 1, i + 1])).collect();
    let details = parse(&cdp(&[address_tlv(TLV_ADDRESSES, 40, &many)])).unwrap();
    assert_eq!(details.addresses.len(), limits::MAX_DETAIL_ITEMS);
    Detail::Cdp(details).check().unwrap();
}

#[test]
fn capabilities_and_native_vlan() {
    let details = parse(&cdp(&[
        tlv(TLV_CAPABILITIES, &[0xff, 0xff, 0xff, 0xff]),
        tlv(TLV_NATIVE_VLAN, &[0x0f, 0xfe]),
    ]))
    .unwrap();
    assert_eq!(details.capabilities, strings(&CAPABILITIES));
    assert_eq!(details.native_vlan, Some(4094));
    let phone = parse(&cdp(&[tlv(TLV_CAPABILITIES, &[0, 0, 0x04, 0x90])])).unwrap();
    assert_eq!(
        phone.capabilities,
        strings(&["host", "phone", "two_port_mac_relay"])
    );
    for vlan in [[0x00, 0x00], [0x0f, 0xff], [0xff, 0xff]] {
        let details = parse(&cdp(&[tlv(TLV_NATIVE_VLAN, &vlan)])).unwrap();
        assert_eq!(details.native_vlan, None, "{vlan:02x?}");
    }
    // Wrong lengths say nothing.
    let details = parse(&cdp(&[
        tlv(TLV_CAPABILITIES, &[0, 0, 1]),
        tlv(TLV_NATIVE_VLAN, &[0, 1, 0]),
    ]))
    .unwrap();
    assert_eq!(details, CdpDetails::default());
    // The first of repeated TLVs wins.
    let details = parse(&cdp(&[
        tlv(TLV_NATIVE_VLAN, &[0, 10]),
        tlv(TLV_NATIVE_VLAN, &[0, 20]),
        tlv(TLV_DEVICE_ID, b"first"),
        tlv(TLV_DEVICE_ID, b"second"),
    ]))
    .unwrap();
    assert_eq!(details.native_vlan, Some(10));
    assert_eq!(details.device_id.as_deref(), Some("first"));
}

#[test]
fn hostile_strings_come_out_cleaned_and_bounded() {
    let long = vec![b'A'; 65_000];
    let details = parse(&cdp(&[
        tlv(TLV_DEVICE_ID, "SEP\u{1b}[2J00\u{202e}11\0".as_bytes()),
        tlv(TLV_PLATFORM, &[0xff; 600]),
        tlv(TLV_PORT_ID, &long),
        tlv(
            TLV_SOFTWARE_VERSION,
            b"\r\n  \n Cisco IP Phone\t9971 \x07\r\nCopyright 2010\n",
        ),
    ]))
    .unwrap();
    assert_eq!(
        details.device_id.as_deref(),
        Some("SEP\u{fffd}[2J00\u{fffd}11")
    );
    assert_eq!(details.platform, Some("\u{fffd}".repeat(170)));
    assert_eq!(
        details.port_id,
        Some("A".repeat(limits::MAX_DETAIL_TEXT_LEN))
    );
    assert_eq!(
        details.software_version.as_deref(),
        Some("Cisco IP Phone 9971 \u{fffd}")
    );
    Detail::Cdp(details).check().unwrap();
    // Blank strings are absent.
    let details = parse(&cdp(&[
        tlv(TLV_DEVICE_ID, b" \0"),
        tlv(TLV_SOFTWARE_VERSION, b"\n\n"),
        tlv(TLV_PLATFORM, b""),
    ]))
    .unwrap();
    assert_eq!(details, CdpDetails::default());
}

#[test]
fn malformed_frames_say_why() {
    for len in 0..4 {
        assert_eq!(
            parse(&[0x02, 0xb4, 0x00, 0x00][..len]),
            Err(CdpError::Truncated(len))
        );
    }
    assert_eq!(parse(&[0x03, 0xb4, 0, 0]), Err(CdpError::Version(3)));
    assert_eq!(parse(&[0x00, 0xb4, 0, 0]), Err(CdpError::Version(0)));
    // No TLV at all is a valid, empty advertisement.
    assert_eq!(parse(&cdp(&[])), Ok(CdpDetails::default()));
    for length in 0..4u16 {
        let mut bytes = cdp(&[tlv(TLV_DEVICE_ID, b"R1")]);
        bytes.extend_from_slice(&[0x00, 0x03]);
        bytes.extend_from_slice(&length.to_be_bytes());
        assert_eq!(
            parse(&bytes),
            Err(CdpError::TlvLength { offset: 10, length })
        );
    }
    let mut past = cdp(&[tlv(TLV_DEVICE_ID, b"R1")]);
    past.extend_from_slice(&[0x00, 0x03, 0x00, 0x10, b'G', b'i']);
    assert_eq!(
        parse(&past),
        Err(CdpError::TlvTruncated {
            offset: 10,
            needed: 26,
            got: 16
        })
    );
    let mut half = cdp(&[tlv(TLV_DEVICE_ID, b"R1")]);
    half.extend_from_slice(&[0x00, 0x03, 0x00]);
    assert_eq!(
        parse(&half),
        Err(CdpError::TlvTruncated {
            offset: 10,
            needed: 14,
            got: 13
        })
    );
    for error in [
        CdpError::Truncated(0),
        CdpError::Version(3),
        CdpError::TlvLength {
            offset: 4,
            length: 0,
        },
        CdpError::TlvTruncated {
            offset: 4,
            needed: 8,
            got: 6,
        },
    ] {
        assert!(!error.kind().is_empty());
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn every_truncation_of_a_real_frame() {
    let payload = payload_of(&hex_bytes(CATALYST));
    let mut ends = vec![4];
    let mut at = 4;
    while at + 4 <= payload.len() {
        at += usize::from(u16::from_be_bytes([payload[at + 2], payload[at + 3]]));
        ends.push(at);
    }
    assert_eq!(ends.last(), Some(&payload.len()));
    for len in 0..=payload.len() {
        let result = parse(&payload[..len]);
        if len < 4 {
            assert_eq!(result, Err(CdpError::Truncated(len)));
        } else if ends.contains(&len) {
            assert!(result.is_ok(), "{len}: {result:?}");
        } else {
            assert!(
                matches!(result, Err(CdpError::TlvTruncated { got, .. }) if got == len),
                "{len}: {result:?}"
            );
        }
    }
}

fn check_any(bytes: &[u8]) {
    if let Ok(details) = parse(bytes) {
        Detail::Cdp(details.clone())
            .check()
            .unwrap_or_else(|error| panic!("{error}: {details:?} from {bytes:02x?}"));
    }
}

#[test]
fn never_panics_on_prefixes_flips_and_noise() {
    let hand_built = cdp(&[
        address_tlv(
            TLV_ADDRESSES,
            2,
            &[ipv4_entry([10, 0, 0, 1]), ipv6_entry("2001:db8::1")],
        ),
        tlv(TLV_NATIVE_VLAN, &[0, 10]),
        tlv(TLV_CAPABILITIES, &[0, 0, 0, 0x90]),
    ]);
    let mut noise = Noise(0x2545_f491_4f6c_dd1d);
    let frames =
        [CATALYST, UNNUMBERED, ROUTER_V1, LLDPD].map(|frame| payload_of(&hex_bytes(frame)));
    for payload in frames.iter().chain([&hand_built]) {
        for len in 0..=payload.len() {
            check_any(&payload[..len]);
        }
        for _ in 0..3_000 {
            let mut mutated = payload.clone();
            for _ in 0..1 + noise.below(4) {
                let at = noise.below(mutated.len());
                mutated[at] = noise.byte();
            }
            if noise.below(4) == 0 {
                mutated.truncate(noise.below(mutated.len() + 1));
            }
            check_any(&mutated);
        }
    }
    for _ in 0..20_000 {
        let len = noise.below(600);
        let bytes: Vec<u8> = (0..len).map(|_| noise.byte()).collect();
        check_any(&bytes);
        // Random TLV bodies behind a valid header reach every TLV decoder.
        let mut framed = vec![0x02, 0xb4, 0x00, 0x00];
        framed.extend_from_slice(&bytes);
        check_any(&framed);
    }
}

// Oracles: tshark and tcpdump on the corpus.

const CDP_CAPTURES: &[&str] = &[
    "tcpdump/3560_CDP.pcap",
    "tcpdump/LLDP_and_CDP.pcap",
    "zeek/cdp-v1.pcap",
    "ndpi/capwap.pcap",
];

/// The CDP decode of every frame of a capture, by frame number (1-based).
fn decoded(capture: &str) -> BTreeMap<usize, Result<CdpDetails, CdpError>> {
    let (link, frames) = corpus_frames(capture);
    frames
        .iter()
        .enumerate()
        .filter_map(|(index, frame)| {
            let parsed = parse_frame(link, frame).ok()?;
            (parsed.protocol == CDP).then(|| (index + 1, parse(parsed.payload)))
        })
        .collect()
}

fn tshark_list(field: &str) -> Vec<&str> {
    field.split(',').filter(|item| !item.is_empty()).collect()
}

#[test]
fn agrees_with_tshark_on_the_corpus() {
    let fields = [
        "cdp.deviceid",
        "cdp.platform",
        "cdp.portid",
        "cdp.software_version",
        "cdp.capabilities",
        "cdp.native_vlan",
        "cdp.nrgyz.ip_address",
        "cdp.nrgyz.ipv6_address",
    ];
    let mut compared = 0;
    for capture in CDP_CAPTURES {
        let Some(rows) = tshark(capture, "cdp", &fields) else {
            return;
        };
        let ours = decoded(capture);
        assert_eq!(rows.len(), ours.len(), "{capture}: CDP frame counts");
        for row in rows {
            let [
                number,
                device_id,
                platform,
                port_id,
                software,
                caps,
                vlan,
                ip4,
                ip6,
            ] = row.as_slice()
            else {
                panic!("{capture}: unexpected tshark row {row:?}");
            };
            let number: usize = number.parse().unwrap();
            let context = format!("{capture} frame {number}");
            let details = ours[&number]
                .as_ref()
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            assert_eq!(
                details.device_id,
                detail_text(device_id.as_bytes()),
                "{context}"
            );
            assert_eq!(
                details.platform,
                detail_text(platform.as_bytes()),
                "{context}"
            );
            assert_eq!(
                details.port_id,
                detail_text(port_id.as_bytes()),
                "{context}"
            );
            // tshark gives each line of the version as one occurrence, joined by commas
            // (which the lines hold too): ours is where tshark's text starts, up to a comma.
            let theirs = detail_text(software.as_bytes()).unwrap_or_default();
            let ours_software = details.software_version.clone().unwrap_or_default();
            assert!(
                !ours_software.is_empty()
                    && theirs
                        .strip_prefix(&ours_software)
                        .is_some_and(|rest| rest.is_empty() || rest.trim_start().starts_with(',')),
                "{context}: {ours_software:?} / {theirs:?}"
            );
            let mask = u32::from_str_radix(caps.trim_start_matches("0x"), 16).unwrap();
            assert_eq!(
                details.capabilities,
                capabilities(&mask.to_be_bytes()),
                "{context}"
            );
            assert_eq!(details.native_vlan, vlan.parse().ok(), "{context}");
            let mut addresses: Vec<IpAddr> = Vec::new();
            for ip in tshark_list(ip4).into_iter().chain(tshark_list(ip6)) {
                let ip: IpAddr = ip.parse().unwrap();
                if is_device_ip(ip) && !addresses.contains(&ip) {
                    addresses.push(ip);
                }
            }
            assert_eq!(details.addresses, addresses, "{context}");
            compared += 1;
        }
    }
    eprintln!("{compared} CDP frames compared with tshark");
    assert!(compared >= 15, "{compared}");
}

/// What tcpdump's expected output says of each CDP frame: device ID, platform, port ID, the
/// first line of the version, the capability mask, the native VLAN and the addresses.
#[derive(Debug, Default)]
struct TcpdumpCdp {
    device_id: Option<String>,
    platform: Option<String>,
    port_id: Option<String>,
    software_version: Option<String>,
    capabilities: Option<u32>,
    native_vlan: Option<u16>,
    addresses: Vec<IpAddr>,
}

fn tcpdump_cdp(out: &str) -> BTreeMap<usize, TcpdumpCdp> {
    let quoted = |line: &str| {
        line.rsplit_once(": '")
            .map(|(_, value)| value.trim_end_matches('\'').to_owned())
    };
    let mut frames = BTreeMap::new();
    let mut current: Option<(usize, TcpdumpCdp)> = None;
    let mut in_version = false;
    for line in out.lines() {
        if !line.starts_with('\t') {
            frames.extend(current.take());
            if line.contains("CDPv")
                && let Some(number) = line.split_whitespace().next()
            {
                current = Some((number.parse().unwrap(), TcpdumpCdp::default()));
            }
            continue;
        }
        let Some((_, frame)) = current.as_mut() else {
            continue;
        };
        if in_version && line.starts_with("\t  ") {
            if frame.software_version.is_none() {
                frame.software_version = Some(line.trim().to_owned());
            }
            continue;
        }
        in_version = false;
        let line = line.trim();
        if line.starts_with("Device-ID (0x0001)") {
            frame.device_id = quoted(line);
        } else if line.starts_with("Platform (0x0006)") {
            frame.platform = quoted(line);
        } else if line.starts_with("Port-ID (0x0003)") {
            frame.port_id = quoted(line);
        } else if line.starts_with("Version String (0x0005)") {
            in_version = true;
        } else if line.starts_with("Capability (0x0004)") {
            frame.capabilities = line
                .split_once("(0x0000")
                .and_then(|(_, rest)| rest.split_once(')'))
                .and_then(|(mask, _)| u32::from_str_radix(mask, 16).ok());
        } else if line.starts_with("Native VLAN ID (0x000a)") {
            frame.native_vlan = line.rsplit_once(": ").and_then(|(_, v)| v.parse().ok());
        } else if line.starts_with("Address (0x0002)")
            || line.starts_with("Management Addresses (0x0016)")
        {
            for ip in line.split(") ").skip(1) {
                let ip = ip.split_whitespace().next().unwrap_or_default();
                if let Ok(ip) = ip.parse::<IpAddr>()
                    && is_device_ip(ip)
                    && !frame.addresses.contains(&ip)
                {
                    frame.addresses.push(ip);
                }
            }
        }
    }
    frames.extend(current);
    frames
}

#[test]
fn agrees_with_tcpdump_expected_output() {
    let mut compared = 0;
    for (capture, out) in [
        ("tcpdump/LLDP_and_CDP.pcap", "lldp_cdp-ev.out"),
        ("tcpdump/3560_CDP.pcap", "cdp-v.out"),
    ] {
        let path = corpus_path("tcpdump/expected_tcpdump_output").join(out);
        let expected = tcpdump_cdp(&std::fs::read_to_string(&path).unwrap());
        let ours = decoded(capture);
        assert_eq!(
            expected.keys().collect::<Vec<_>>(),
            ours.keys().collect::<Vec<_>>(),
            "{out}"
        );
        for (number, frame) in expected {
            let context = format!("{out} frame {number}");
            let details = ours[&number].as_ref().unwrap();
            assert_eq!(details.device_id, frame.device_id, "{context}");
            assert_eq!(details.platform, frame.platform, "{context}");
            assert_eq!(details.port_id, frame.port_id, "{context}");
            assert_eq!(
                details.software_version, frame.software_version,
                "{context}"
            );
            assert_eq!(
                details.capabilities,
                capabilities(&frame.capabilities.unwrap().to_be_bytes()),
                "{context}"
            );
            assert_eq!(details.native_vlan, frame.native_vlan, "{context}");
            assert_eq!(details.addresses, frame.addresses, "{context}");
            compared += 1;
        }
    }
    eprintln!("{compared} CDP frames compared with tcpdump");
    assert_eq!(compared, 7);
}

// Sightings.

#[test]
fn a_sighting_is_the_sender_with_its_addresses() {
    let heard = decode(LinkType::Ethernet, &hex_bytes(CATALYST))
        .unwrap()
        .unwrap();
    let Message::Cdp(details) = &heard.message else {
        panic!("{:?}", heard.message);
    };
    let observation = heard
        .observation(Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture)
        .unwrap();
    assert_eq!(observation.mac.to_string(), "00:19:06:ea:b8:85");
    assert_eq!(observation.source, Source::CaptureFile);
    assert_eq!(observation.ips, ips(&["192.168.0.1"]));
    // The observation keeps sets sorted.
    let mut normal = Detail::Cdp(details.clone());
    normal.normalise();
    assert_eq!(observation.detail, Some(normal));
    let live = heard
        .observation(Timestamp::UNIX_EPOCH, "eth0", Hearing::Live { own: &[] })
        .unwrap();
    assert_eq!(live.source, Source::Cdp);
    // 0.0.0.0 is not an address of the switch: the MAC and the detail alone.
    let heard = decode(LinkType::Ethernet, &hex_bytes(UNNUMBERED))
        .unwrap()
        .unwrap();
    let observation = heard
        .observation(Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture)
        .unwrap();
    assert_eq!(observation.mac.to_string(), "00:18:ba:98:68:8f");
    assert!(observation.ips.is_empty());
    assert!(matches!(observation.detail, Some(Detail::Cdp(_))));
}

#[test]
fn a_group_source_mac_names_no_device() {
    let mut frame = hex_bytes(LLDPD);
    frame[6] |= 0x01;
    let heard = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
    assert_eq!(
        heard.observation(Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture),
        None
    );
    let details = parse(&payload_of(&hex_bytes(LLDPD))).unwrap();
    let sender = Sender {
        mac: MacAddr::ZERO,
        ip: None,
        on_link: true,
    };
    assert_eq!(sighting(&sender, &details).mac, None);
    let sender = Sender {
        mac: "00:09:fb:11:22:33".parse().unwrap(),
        ..sender
    };
    let seen = sighting(&sender, &details);
    assert_eq!(seen.mac, Some(sender.mac));
    assert_eq!(seen.ips, details.addresses);
    assert_eq!(seen.detail, Some(Detail::Cdp(details)));
}
