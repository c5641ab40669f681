//! The LLDP decoder on real frames (tcpdump's, Zeek's and one sent by lldpd with an LLDP-MED
//! inventory), on hand-built TIA-1057 frames and on hostile ones, and against tshark's and
//! tcpdump's decodes of the corpus.

use std::collections::BTreeMap;

use hygie_domain::{Source, limits};
use jiff::Timestamp;

use super::*;
use crate::frame::{ETHERTYPE_LLDP, LinkType, Protocol, parse_frame};
use crate::heard::{Hearing, Message, decode};
use crate::testing::{Noise, corpus_frames, corpus_path, tshark};

fn hex_bytes(text: &[&str]) -> Vec<u8> {
    let text: String = text.concat();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The LLDP payload of an Ethernet frame.
fn payload_of(frame: &[u8]) -> Vec<u8> {
    let parsed = parse_frame(LinkType::Ethernet, frame).unwrap();
    assert_eq!(parsed.protocol, Protocol::Ethertype(ETHERTYPE_LLDP));
    parsed.payload.to_vec()
}

/// Frame 3 of tcpdump's `LLDP_and_CDP.pcap` (`tshark -x`): a Cisco 3560 (S2), port ID as an
/// interface alias, a three-line system description.
const CISCO: &[&str] = &[
    "0180c200000e00192fa7b28d88cc02070400192fa7b28d040d0155706c696e6b20746f205331060200780a0c53322e63",
    "6973636f2e636f6d0cbe436973636f20494f5320536f6674776172652c20433335363020536f66747761726520284333",
    "3536302d414456495053455256494345534b392d4d292c2056657273696f6e2031322e322834342953452c2052454c45",
    "41534520534f4654574152452028666331290a436f707972696768742028632920313938362d32303038206279204369",
    "73636f2053797374656d732c20496e632e0a436f6d70696c6564205361742030352d4a616e2d30382030303a31352062",
    "79207765696c697508134769676162697445746865726e6574302f31330e0400140004fe060080c2010001fe0900120f",
    "0103c03600100000",
];

/// Frame 1 of tcpdump's `lldp_mudurl.pcap`: lldpd on Ubuntu, port ID a MAC, IPv4 and IPv6
/// management addresses, 802.3 and IANA (MUD URL) organizational TLVs.
const MUDURL: &[&str] = &[
    "0180c200000e002354c2570288cc020704002354c25702040703002354c25702060200780a1c75707374616972732e6f",
    "66636f75727365696d72696768742e636f6d0c5c5562756e74752031342e30342e35204c5453204c696e757820332e31",
    "332e302d3130362d67656e6572696320233135332d5562756e747520534d50205475652044656320362031353a34353a",
    "313320555443203230313620693638360e04009c0008100c05013e0cad7202000000020010181102200108a810060004",
    "022354fffec25702020000000200080465746830fe0900120f030100000000fe0900120f0103ecc30010fe4000005e01",
    "68747470733a2f2f696d72696768742e6d75642e6578616d706c652e636f6d2f2e77656c6c2d6b6e6f776e2f6d75642f",
    "76312f766f6d697476322e300000",
];

/// Frame 1 of Zeek's `lldp.pcap`: an SMC switch, port ID locally assigned, Ethernet trailer
/// after the End TLV.
const SMC: &[&str] = &[
    "0180c200000e00222d81db1088cc02070400222d81db1004020731060200780807506f72742023310a0d534d43475338",
    "502d536d6172740c23534d43475338502d536d617274202d20534d43475338502d536d6172742076332e32300e040004",
    "0004100c0501c0a8020a0200000001000000bb14272c",
];

/// Sent by lldpd 1.0.16 (`lldpd -M 1`, inventory set with `lldpcli configure inventory ...`)
/// on a veth pair inside a network namespace, captured with tcpdump on the peer. tshark
/// decodes its LLDP-MED TLVs as class 1, `HW-Rev-B`, `FW 2.14.1`, `M.00.03`, `DE12345678`,
/// `Philips Medical Systems`, `MX450`, `ASSET-ICU-0042`.
const LLDPD_MED: &[&str] = &[
    "0180c200000e0009fb11223388cc0207040009fb1122330407030009fb112233060200040a0a6d6f6e2d6963752d3031",
    "0c1d496e74656c6c69567565204d58343530205265762e204d2e30302e30330e04009c0080100c0501c612000b020000",
    "0003001018110220010db800000000000000000000001102000000030008027630fe0900120f030100000000fe090012",
    "0f010080000036fe070012bb01003f01fe0c0012bb0548572d5265762d42fe0d0012bb06465720322e31342e31fe0b00",
    "12bb074d2e30302e3033fe0e0012bb0844453132333435363738fe1b0012bb095068696c697073204d65646963616c20",
    "53797374656d73fe090012bb0a4d58343530fe120012bb0b41535345542d4943552d303034320000",
];

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().unwrap()).collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn a_cisco_switch() {
    let details = parse(&payload_of(&hex_bytes(CISCO))).unwrap();
    assert_eq!(
        details,
        LldpDetails {
            chassis_id: "00:19:2f:a7:b2:8d".into(),
            port_id: "Uplink to S1".into(),
            port_description: Some("GigabitEthernet0/13".into()),
            system_name: Some("S2.cisco.com".into()),
            system_description: Some(
                "Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M), Version \
                 12.2(44)SE, RELEASE SOFTWARE (fc1) Copyright (c) 1986-2008 by Cisco Systems, \
                 Inc. Compiled Sat 05-Jan-08 00:15 by weiliu"
                    .into()
            ),
            capabilities: strings(&["bridge"]),
            management_addresses: Vec::new(),
            med: None,
        }
    );
}

#[test]
fn a_linux_host_with_two_management_addresses() {
    let details = parse(&payload_of(&hex_bytes(MUDURL))).unwrap();
    assert_eq!(
        details,
        LldpDetails {
            chassis_id: "00:23:54:c2:57:02".into(),
            port_id: "00:23:54:c2:57:02".into(),
            port_description: Some("eth0".into()),
            system_name: Some("upstairs.ofcourseimright.com".into()),
            system_description: Some(
                "Ubuntu 14.04.5 LTS Linux 3.13.0-106-generic #153-Ubuntu SMP Tue Dec 6 \
                 15:45:13 UTC 2016 i686"
                    .into()
            ),
            capabilities: strings(&["wlan_access_point"]),
            management_addresses: ips(&["62.12.173.114", "2001:8a8:1006:4:223:54ff:fec2:5702"]),
            med: None,
        }
    );
}

#[test]
fn a_switch_with_a_locally_assigned_port_and_a_trailer() {
    let details = parse(&payload_of(&hex_bytes(SMC))).unwrap();
    assert_eq!(
        details,
        LldpDetails {
            chassis_id: "00:22:2d:81:db:10".into(),
            port_id: "1".into(),
            port_description: Some("Port #1".into()),
            system_name: Some("SMCGS8P-Smart".into()),
            system_description: Some("SMCGS8P-Smart - SMCGS8P-Smart v3.20".into()),
            capabilities: strings(&["bridge"]),
            management_addresses: ips(&["192.168.2.10"]),
            med: None,
        }
    );
}

#[test]
fn lldpd_sends_an_lldp_med_inventory() {
    let details = parse(&payload_of(&hex_bytes(LLDPD_MED))).unwrap();
    assert_eq!(
        details,
        LldpDetails {
            chassis_id: "00:09:fb:11:22:33".into(),
            port_id: "00:09:fb:11:22:33".into(),
            port_description: Some("v0".into()),
            system_name: Some("mon-icu-01".into()),
            system_description: Some("IntelliVue MX450 Rev. M.00.03".into()),
            capabilities: strings(&["station"]),
            management_addresses: ips(&["198.18.0.11", "2001:db8::11"]),
            med: Some(LldpMed {
                device_class: Some(1),
                hardware_revision: Some("HW-Rev-B".into()),
                firmware_revision: Some("FW 2.14.1".into()),
                software_revision: Some("M.00.03".into()),
                serial_number: Some("DE12345678".into()),
                manufacturer: Some("Philips Medical Systems".into()),
                model: Some("MX450".into()),
                asset_id: Some("ASSET-ICU-0042".into()),
            }),
        }
    );
}

// Hand-built frames.

fn tlv(tlv_type: u8, value: &[u8]) -> Vec<u8> {
    assert!(value.len() < 512);
    let header = (u16::from(tlv_type) << 9) | value.len() as u16;
    let mut bytes = header.to_be_bytes().to_vec();
    bytes.extend_from_slice(value);
    bytes
}

fn with_subtype(subtype: u8, id: &[u8]) -> Vec<u8> {
    let mut value = vec![subtype];
    value.extend_from_slice(id);
    value
}

/// An LLDP-MED TLV: TIA's OUI, the subtype, the information string.
fn med(subtype: u8, info: &[u8]) -> Vec<u8> {
    let mut value = vec![0x00, 0x12, 0xbb, subtype];
    value.extend_from_slice(info);
    tlv(TLV_ORGANIZATION, &value)
}

/// Chassis ID (a MAC), port ID (an interface name) and TTL, then `rest`, then End.
fn lldpdu(rest: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = tlv(
        TLV_CHASSIS_ID,
        &with_subtype(4, &[0x00, 0x09, 0xfb, 0x11, 0x22, 0x33]),
    );
    bytes.extend(tlv(TLV_PORT_ID, &with_subtype(5, b"eth0")));
    bytes.extend(tlv(3, &[0x00, 0x78]));
    for part in rest {
        bytes.extend_from_slice(part);
    }
    bytes.extend(tlv(TLV_END, &[]));
    bytes
}

#[test]
fn a_tia_1057_phone_with_every_med_tlv() {
    // TIA-1057 section 10.2: capabilities (subtype 1: capabilities 0x0033, class III), network
    // policy (2), location (3) and extended power (4), which are not inventory, then the seven
    // inventory strings, some NUL-padded as devices do.
    let bytes = lldpdu(&[
        tlv(TLV_SYSTEM_NAME, b"SEP001122334455"),
        tlv(TLV_SYSTEM_CAPABILITIES, &[0x00, 0x24, 0x00, 0x24]),
        med(1, &[0x00, 0x33, 0x03]),
        med(2, &[0x01, 0x00, 0x0a, 0xb8]),
        med(3, &[0x02, 0x09, 0x00, 0x46, 0x52]),
        med(4, &[0x51, 0x00, 0x40]),
        med(5, b"1.0\0\0"),
        med(6, b"2.3.1"),
        med(7, b"SIP 9.4(2)"),
        med(8, b"FCH1234ABCD"),
        med(9, b"Cisco Systems, Inc."),
        med(10, b"CP-7945G\0"),
        med(11, b""),
    ]);
    let details = parse(&bytes).unwrap();
    assert_eq!(details.capabilities, strings(&["bridge", "telephone"]));
    assert_eq!(
        details.med,
        Some(LldpMed {
            device_class: Some(3),
            hardware_revision: Some("1.0".into()),
            firmware_revision: Some("2.3.1".into()),
            software_revision: Some("SIP 9.4(2)".into()),
            serial_number: Some("FCH1234ABCD".into()),
            manufacturer: Some("Cisco Systems, Inc.".into()),
            model: Some("CP-7945G".into()),
            asset_id: None,
        })
    );
}

#[test]
fn med_is_kept_only_when_it_says_something() {
    // Network policy alone, an unknown class, a capabilities TLV too short for its class.
    for rest in [
        vec![med(2, &[0x01, 0x00, 0x0a, 0xb8])],
        vec![med(1, &[0x00, 0x33, 0x00])],
        vec![med(1, &[0x00, 0x33, 0x05])],
        vec![med(1, &[0x00, 0x33])],
        vec![med(9, b"\0\0\0")],
        // Another OUI with MED-like subtypes (802.3's 00-12-0f).
        vec![tlv(
            TLV_ORGANIZATION,
            &[0x00, 0x12, 0x0f, 0x01, 0x03, 0xec, 0xc3],
        )],
        // An organizational TLV too short for its OUI and subtype.
        vec![tlv(TLV_ORGANIZATION, &[0x00, 0x12, 0xbb])],
    ] {
        assert_eq!(parse(&lldpdu(&rest)).unwrap().med, None, "{rest:02x?}");
    }
    let network = parse(&lldpdu(&[med(1, &[0x00, 0x01, 0x04])])).unwrap();
    assert_eq!(network.med.unwrap().device_class, Some(4));
    // The first inventory string of a kind wins.
    let twice = parse(&lldpdu(&[med(10, b"first"), med(10, b"second")])).unwrap();
    assert_eq!(twice.med.unwrap().model.as_deref(), Some("first"));
}

#[test]
fn chassis_and_port_id_subtypes() {
    let chassis = |subtype: u8, id: &[u8]| {
        let mut bytes = tlv(TLV_CHASSIS_ID, &with_subtype(subtype, id));
        bytes.extend(tlv(TLV_PORT_ID, &with_subtype(5, b"eth0")));
        parse(&bytes).unwrap().chassis_id
    };
    let port = |subtype: u8, id: &[u8]| {
        let mut bytes = tlv(TLV_CHASSIS_ID, &with_subtype(7, b"c"));
        bytes.extend(tlv(TLV_PORT_ID, &with_subtype(subtype, id)));
        parse(&bytes).unwrap().port_id
    };
    let mac = [0x00, 0x09, 0xfb, 0x11, 0x22, 0x33];
    assert_eq!(chassis(4, &mac), "00:09:fb:11:22:33");
    assert_eq!(chassis(4, &mac[..5]), "0009fb1122");
    assert_eq!(chassis(5, &[1, 198, 18, 0, 11]), "198.18.0.11");
    let v6 = with_subtype(2, &"2001:db8::11".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(chassis(5, &v6), "2001:db8::11");
    // An unknown family, and a family with the wrong length: hex, family byte included.
    assert_eq!(
        chassis(5, &[6, 0, 9, 0xfb, 0x11, 0x22, 0x33]),
        "060009fb112233"
    );
    assert_eq!(chassis(5, &[1, 10, 0, 0]), "010a0000");
    for subtype in [1, 2, 3, 6, 7] {
        assert_eq!(chassis(subtype, b"Switch-A "), "Switch-A");
    }
    // Text subtypes holding binary, and reserved subtypes: hex.
    assert_eq!(chassis(7, &[0xff, 0x00, 0x80]), "ff0080");
    assert_eq!(chassis(7, &[0, 0]), "0000");
    assert_eq!(chassis(0, b"ab"), "6162");
    assert_eq!(chassis(8, b"ab"), "6162");

    assert_eq!(port(3, &mac), "00:09:fb:11:22:33");
    assert_eq!(port(4, &[1, 10, 1, 2, 3]), "10.1.2.3");
    for subtype in [1, 2, 5, 7] {
        assert_eq!(port(subtype, b"Gi1/0/1"), "Gi1/0/1");
    }
    // The agent circuit ID is binary (RFC 3046).
    assert_eq!(port(6, b"\x01\x04ab"), "01046162");
    assert_eq!(port(9, b"x"), "78");
}

#[test]
fn the_length_field_has_nine_bits() {
    // Type 1, length 256: the length's top bit is the type byte's low bit.
    let mut id = vec![7];
    id.extend(std::iter::repeat_n(b'a', 255));
    let mut bytes = vec![0x03, 0x00];
    bytes.extend_from_slice(&id);
    bytes.extend(tlv(TLV_PORT_ID, &with_subtype(5, b"eth0")));
    let details = parse(&bytes).unwrap();
    assert_eq!(details.chassis_id, "a".repeat(255));
    assert_eq!(details.port_id, "eth0");
}

#[test]
fn malformed_frames_say_why() {
    // A TLV whose length runs past the frame.
    assert_eq!(
        parse(&[0x02, 0x07, 0x04, 0x00]),
        Err(LldpError::Truncated {
            offset: 0,
            needed: 9,
            got: 4
        })
    );
    let mut cut = lldpdu(&[]);
    cut.truncate(cut.len() - 2); // no End
    cut.push(0x0a); // half a TLV header
    let at = cut.len() - 1;
    assert_eq!(
        parse(&cut),
        Err(LldpError::Truncated {
            offset: at,
            needed: at + 2,
            got: at + 1
        })
    );
    // IDs without an ID after their subtype, or without even the subtype.
    assert_eq!(
        parse(&tlv(TLV_CHASSIS_ID, &[4])),
        Err(LldpError::EmptyChassisId(1))
    );
    assert_eq!(
        parse(&tlv(TLV_CHASSIS_ID, &[])),
        Err(LldpError::EmptyChassisId(0))
    );
    let mut bytes = tlv(TLV_CHASSIS_ID, &with_subtype(7, b"c"));
    bytes.extend(tlv(TLV_PORT_ID, &[5]));
    assert_eq!(parse(&bytes), Err(LldpError::EmptyPortId(1)));
    // Missing mandatory TLVs.
    assert_eq!(parse(&[]), Err(LldpError::MissingChassisId));
    assert_eq!(parse(&[0, 0]), Err(LldpError::MissingChassisId));
    let port_only = [tlv(TLV_PORT_ID, &with_subtype(5, b"eth0")), tlv(0, &[])].concat();
    assert_eq!(parse(&port_only), Err(LldpError::MissingChassisId));
    let chassis_only = [tlv(TLV_CHASSIS_ID, &with_subtype(7, b"c")), tlv(0, &[])].concat();
    assert_eq!(parse(&chassis_only), Err(LldpError::MissingPortId));
    // An End TLV ends the LLDPDU: what follows is not read, even a port ID.
    let ended = [
        chassis_only.clone(),
        tlv(TLV_PORT_ID, &with_subtype(5, b"x")),
    ]
    .concat();
    assert_eq!(parse(&ended), Err(LldpError::MissingPortId));
    // Every reason has a name for counts.
    for error in [
        LldpError::Truncated {
            offset: 0,
            needed: 2,
            got: 1,
        },
        LldpError::EmptyChassisId(1),
        LldpError::EmptyPortId(1),
        LldpError::MissingChassisId,
        LldpError::MissingPortId,
    ] {
        assert!(!error.kind().is_empty());
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn whatever_follows_the_end_tlv_is_ignored() {
    let mut bytes = lldpdu(&[]);
    bytes.extend_from_slice(&[0xff, 0xff, 0x01]);
    let details = parse(&bytes).unwrap();
    assert_eq!(details.port_id, "eth0");
    // No End TLV at all: the LLDPDU ends with the data.
    let mut bytes = lldpdu(&[]);
    bytes.truncate(bytes.len() - 2);
    assert_eq!(parse(&bytes).unwrap().chassis_id, "00:09:fb:11:22:33");
}

#[test]
fn repeated_tlvs_keep_the_first() {
    let bytes = lldpdu(&[
        tlv(TLV_CHASSIS_ID, &with_subtype(7, b"second chassis")),
        tlv(TLV_PORT_ID, &with_subtype(5, b"eth1")),
        tlv(TLV_SYSTEM_NAME, b""),
        tlv(TLV_SYSTEM_NAME, b"pump-07"),
        tlv(TLV_SYSTEM_NAME, b"pump-08"),
        tlv(TLV_SYSTEM_CAPABILITIES, &[0x00, 0x80, 0x00, 0x80]),
        tlv(TLV_SYSTEM_CAPABILITIES, &[0x00, 0x04, 0x00, 0x04]),
    ]);
    let details = parse(&bytes).unwrap();
    assert_eq!(details.chassis_id, "00:09:fb:11:22:33");
    assert_eq!(details.port_id, "eth0");
    assert_eq!(details.system_name.as_deref(), Some("pump-07"));
    assert_eq!(details.capabilities, strings(&["station"]));
}

#[test]
fn hostile_strings_come_out_cleaned_and_bounded() {
    let invalid = [0xffu8; 511];
    let accents = "é".repeat(253);
    let bytes = lldpdu(&[
        tlv(TLV_SYSTEM_NAME, "evil\u{1b}[2J\u{202e}txt\u{7}".as_bytes()),
        tlv(TLV_SYSTEM_DESCRIPTION, &invalid),
        tlv(TLV_PORT_DESCRIPTION, b"  line1\r\nline2\n\n\tline3\0\0"),
        med(10, accents.as_bytes()),
        med(8, "SN\u{200b}123\u{2066}".as_bytes()),
    ]);
    let details = parse(&bytes).unwrap();
    assert_eq!(
        details.system_name.as_deref(),
        Some("evil\u{fffd}[2J\u{fffd}txt\u{fffd}")
    );
    // 511 invalid bytes are 511 U+FFFD (1533 bytes): clamped on a character boundary.
    let description = details.system_description.clone().unwrap();
    assert_eq!(description, "\u{fffd}".repeat(170));
    assert!(description.len() <= limits::MAX_DETAIL_TEXT_LEN);
    assert_eq!(
        details.port_description.as_deref(),
        Some("line1 line2 line3")
    );
    let med = details.med.clone().unwrap();
    assert_eq!(med.model.as_deref(), Some(accents.as_str()));
    assert_eq!(med.serial_number.as_deref(), Some("SN\u{fffd}123\u{fffd}"));
    Detail::Lldp(details).check().unwrap();

    // An over-long binary ID: hex clamped to the limit; a text ID with control characters.
    let mut bytes = tlv(TLV_CHASSIS_ID, &with_subtype(7, &[0xfe; 510]));
    bytes.extend(tlv(TLV_PORT_ID, &with_subtype(5, b"Gi1/0/1\x07\x1b]0;x")));
    let details = parse(&bytes).unwrap();
    assert_eq!(details.chassis_id, "fe".repeat(256));
    assert_eq!(details.port_id, "Gi1/0/1\u{fffd}\u{fffd}]0;x");
    Detail::Lldp(details).check().unwrap();
}

#[test]
fn enabled_capabilities_only() {
    let caps = |value: &[u8]| parse(&lldpdu(&[tlv(TLV_SYSTEM_CAPABILITIES, value)])).unwrap();
    assert_eq!(
        caps(&[0xff, 0xff, 0xff, 0xff]).capabilities,
        strings(&CAPABILITIES)
    );
    // Capable of everything, nothing enabled.
    assert!(caps(&[0xff, 0xff, 0x00, 0x00]).capabilities.is_empty());
    // Reserved bits are not capabilities.
    assert!(caps(&[0x00, 0x00, 0xf8, 0x00]).capabilities.is_empty());
    assert_eq!(
        caps(&[0x00, 0x00, 0x07, 0x10]).capabilities,
        strings(&["router", "c_vlan", "s_vlan", "two_port_mac_relay"])
    );
    // A TLV of the wrong length says nothing.
    assert!(caps(&[0x00, 0x14, 0x00]).capabilities.is_empty());
    assert!(
        caps(&[0x00, 0x14, 0x00, 0x14, 0x00])
            .capabilities
            .is_empty()
    );
}

/// A management address TLV with interface numbering and an empty OID.
fn management(family: u8, address: &[u8]) -> Vec<u8> {
    let mut value = vec![address.len() as u8 + 1, family];
    value.extend_from_slice(address);
    value.extend_from_slice(&[0x02, 0, 0, 0, 3, 0]);
    tlv(TLV_MANAGEMENT_ADDRESS, &value)
}

#[test]
fn management_addresses_are_device_addresses() {
    let v6: Ipv6Addr = "fe80::209:fbff:fe11:2233".parse().unwrap();
    let details = parse(&lldpdu(&[
        management(1, &[10, 1, 2, 3]),
        management(2, &v6.octets()),
        management(1, &[10, 1, 2, 3]),
        // Not device addresses.
        management(1, &[0, 0, 0, 0]),
        management(1, &[224, 0, 0, 1]),
        management(1, &[255, 255, 255, 255]),
        management(1, &[127, 0, 0, 1]),
        management(2, &Ipv6Addr::UNSPECIFIED.octets()),
        // Not IP: an 802 MAC (family 6), an IPv4 of the wrong length.
        management(6, &[0, 9, 0xfb, 0x11, 0x22, 0x33]),
        management(1, &[10, 1, 2]),
        // An address string longer than the TLV.
        tlv(TLV_MANAGEMENT_ADDRESS, &[5, 1, 10, 9, 9]),
        tlv(TLV_MANAGEMENT_ADDRESS, &[]),
    ]))
    .unwrap();
    assert_eq!(
        details.management_addresses,
        vec![IpAddr::from([10, 1, 2, 3]), IpAddr::V6(v6)]
    );
    // No more than the contract's list bound.
    let many: Vec<Vec<u8>> = (0..40).map(|i| management(1, &[10, 0, 0, i + 1])).collect();
    let details = parse(&lldpdu(&many)).unwrap();
    assert_eq!(details.management_addresses.len(), limits::MAX_DETAIL_ITEMS);
    assert_eq!(
        details.management_addresses.last(),
        Some(&IpAddr::from([10, 0, 0, 32]))
    );
}

#[test]
fn every_truncation_of_a_real_frame() {
    let payload = payload_of(&hex_bytes(CISCO));
    // TLV boundaries, walked independently of the decoder: (start, end, type).
    let mut tlvs = Vec::new();
    let mut at = 0;
    while at + 2 <= payload.len() {
        let len = usize::from(u16::from_be_bytes([payload[at] & 1, payload[at + 1]]));
        tlvs.push((at, at + 2 + len, payload[at] >> 1));
        if payload[at] >> 1 == 0 {
            break;
        }
        at += 2 + len;
    }
    assert_eq!(tlvs[0].2, TLV_CHASSIS_ID);
    assert_eq!(tlvs[1].2, TLV_PORT_ID);
    let port_end = tlvs[1].1;
    for len in 0..=payload.len() {
        let result = parse(&payload[..len]);
        let inside = tlvs
            .iter()
            .find(|(start, end, _)| *start < len && len < *end);
        match inside {
            Some(&(start, end, _)) => assert_eq!(
                result,
                Err(LldpError::Truncated {
                    offset: start,
                    needed: if len < start + 2 { start + 2 } else { end },
                    got: len
                }),
                "{len}"
            ),
            None if len < tlvs[0].1 => {
                assert_eq!(result, Err(LldpError::MissingChassisId), "{len}");
            }
            None if len < port_end => assert_eq!(result, Err(LldpError::MissingPortId), "{len}"),
            None => {
                let details = result.unwrap();
                assert_eq!(details.port_id, "Uplink to S1", "{len}");
            }
        }
    }
}

fn check_any(bytes: &[u8]) {
    if let Ok(details) = parse(bytes) {
        Detail::Lldp(details.clone())
            .check()
            .unwrap_or_else(|error| panic!("{error}: {details:?} from {bytes:02x?}"));
    }
}

#[test]
fn never_panics_on_prefixes_flips_and_noise() {
    let hand_built = lldpdu(&[
        med(1, &[0x00, 0x33, 0x03]),
        med(8, b"FCH1234ABCD"),
        management(1, &[10, 1, 2, 3]),
        tlv(TLV_SYSTEM_CAPABILITIES, &[0x00, 0x24, 0x00, 0x24]),
    ]);
    let mut noise = Noise(0x51ed_270b_2a4f_77c3);
    let frames = [CISCO, MUDURL, SMC, LLDPD_MED].map(|frame| payload_of(&hex_bytes(frame)));
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
        // Random TLVs behind valid mandatory ones reach every TLV decoder.
        let mut framed = lldpdu(&[]);
        framed.truncate(framed.len() - 2);
        framed.extend_from_slice(&bytes);
        check_any(&framed);
    }
}

/// The frames of a little-endian Ethernet pcap, read by hand: the malformed captures have
/// records longer than their snap length and FCS bits in the link type, which
/// `testing::corpus_frames` does not read.
fn raw_ethernet_frames(relative: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(corpus_path(relative)).unwrap();
    assert_eq!(bytes[..4], [0xd4, 0xc3, 0xb2, 0xa1], "{relative}");
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    // The link type is the low 16 bits; the top ones may say an FCS is present.
    assert_eq!(word(20) & 0xffff, 1, "{relative}: Ethernet");
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let captured = word(at + 8) as usize;
        let end = (at + 16 + captured).min(bytes.len());
        frames.push(bytes[at + 16..end].to_vec());
        at = end;
    }
    frames
}

#[test]
fn the_malformed_corpus() {
    // tcpdump's captures of frames that once made it loop, over-read or crash. The DCB frames
    // that looped tcpdump are whole (their organizational TLVs are skipped by length); the
    // others, cut by their snap length on a TLV boundary, lack the mandatory IDs.
    let expected: &[(&str, &[&str])] = &[
        ("tcpdump/malformed/lldp-infinite-loop-1.pcap", &["ok"]),
        ("tcpdump/malformed/lldp-infinite-loop-2.pcap", &["ok"]),
        (
            "tcpdump/malformed/lldp_8023_mtu-oobr.pcap",
            &["LLDP without chassis ID"],
        ),
        (
            "tcpdump/malformed/lldp_asan.pcap",
            &["LLDP without port ID"],
        ),
        (
            "tcpdump/malformed/lldp_mgmt_addr_tlv_asan.pcap",
            &["LLDP without chassis ID", "not LLDP"],
        ),
        (
            "tcpdump/malformed/hoobr_safeputs.pcap",
            &["LLDP without chassis ID"],
        ),
    ];
    for (capture, outcomes) in expected {
        let got: Vec<&str> = raw_ethernet_frames(capture)
            .iter()
            .map(|frame| {
                let parsed = parse_frame(LinkType::Ethernet, frame).unwrap();
                if parsed.protocol != Protocol::Ethertype(ETHERTYPE_LLDP) {
                    return "not LLDP";
                }
                match parse(parsed.payload) {
                    Ok(details) => {
                        Detail::Lldp(details).check().unwrap();
                        "ok"
                    }
                    Err(error) => error.kind(),
                }
            })
            .collect();
        assert_eq!(&got, outcomes, "{capture}");
    }
    let loop_1 = &raw_ethernet_frames("tcpdump/malformed/lldp-infinite-loop-1.pcap")[0];
    let details = parse(parse_frame(LinkType::Ethernet, loop_1).unwrap().payload).unwrap();
    assert_eq!(details.chassis_id, "08:00:27:42:ba:59");
    assert_eq!(details.port_id, "08:00:27:42:ba:59");
}

// Oracles: tshark and tcpdump on the corpus.

/// Captures with LLDP reachable by the dispatcher (LLDP in ERSPAN/GRE is not).
const LLDP_CAPTURES: &[&str] = &[
    "tcpdump/LLDP_and_CDP.pcap",
    "tcpdump/lldp_mudurl.pcap",
    "tcpdump/lldp-app-priority.pcap",
    "tcpdump/lldp_8021_linkagg.pcap",
    "tcpdump/dcb_ets.pcap",
    "tcpdump/dcb_pfc.pcap",
    "tcpdump/dcb_qcn.pcap",
    "tcpdump/evb.pcap",
    "zeek/lldp.pcap",
];

/// The LLDP decode of every frame of a capture, by frame number (1-based).
fn decoded(capture: &str) -> BTreeMap<usize, Result<LldpDetails, LldpError>> {
    let (link, frames) = corpus_frames(capture);
    frames
        .iter()
        .enumerate()
        .filter_map(|(index, frame)| {
            let parsed = parse_frame(link, frame).ok()?;
            (parsed.protocol == Protocol::Ethertype(ETHERTYPE_LLDP))
                .then(|| (index + 1, parse(parsed.payload)))
        })
        .collect()
}

/// A tshark string field as the decoder would render it (tshark escapes line breaks).
fn tshark_text(field: &str) -> Option<String> {
    let unescaped = field
        .replace("\\n", "\n")
        .replace("\\r", "\r")
        .replace("\\t", "\t")
        .replace("\\\\", "\\");
    detail_text(unescaped.as_bytes())
}

fn tshark_list(field: &str) -> Vec<&str> {
    field.split(',').filter(|item| !item.is_empty()).collect()
}

/// Capability labels of a tshark bitmap such as `0x0014`.
fn labels_of_mask(mask: &str) -> Vec<String> {
    let Ok(mask) = u16::from_str_radix(mask.trim_start_matches("0x"), 16) else {
        return Vec::new();
    };
    capabilities(&[0, 0, (mask >> 8) as u8, mask as u8])
}

#[test]
fn agrees_with_tshark_on_the_corpus() {
    let fields = [
        "lldp.chassis.subtype",
        "lldp.chassis.id.mac",
        "lldp.chassis.id.ip4",
        "lldp.port.subtype",
        "lldp.port.id",
        "lldp.port.id.mac",
        "lldp.port.desc",
        "lldp.tlv.system.name",
        "lldp.tlv.system.desc",
        "lldp.tlv.enable_system_cap",
        "lldp.mgn.addr.ip4",
        "lldp.mgn.addr.ip6",
        "lldp.media.subtype.class",
        "lldp.media.model",
        "lldp.media.sn",
        "lldp.media.manufacturer",
    ];
    let mut compared = 0;
    for capture in LLDP_CAPTURES {
        let Some(rows) = tshark(capture, "lldp", &fields) else {
            return;
        };
        let ours = decoded(capture);
        assert_eq!(rows.len(), ours.len(), "{capture}: LLDP frame counts");
        for row in rows {
            let [
                number,
                chassis_subtype,
                chassis_mac,
                chassis_ip4,
                port_subtype,
                port_id,
                port_mac,
                port_desc,
                name,
                desc,
                caps,
                ip4,
                ip6,
                class,
                model,
                serial,
                manufacturer,
            ] = row.as_slice()
            else {
                panic!("{capture}: unexpected tshark row {row:?}");
            };
            let number: usize = number.parse().unwrap();
            let result = &ours[&number];
            let context = format!("{capture} frame {number}");
            // tshark names the chassis and port only when they come first, as they must.
            if chassis_subtype.is_empty() || port_subtype.is_empty() {
                assert!(result.is_err(), "{context}: {result:?}");
                compared += 1;
                continue;
            }
            let details = result.as_ref().unwrap_or_else(|e| panic!("{context}: {e}"));
            let chassis = [chassis_mac, chassis_ip4]
                .into_iter()
                .find(|field| !field.is_empty())
                .expect("corpus chassis IDs are MACs or addresses");
            assert_eq!(&details.chassis_id, chassis, "{context}");
            let port = if port_mac.is_empty() {
                port_id
            } else {
                port_mac
            };
            assert_eq!(
                Some(details.port_id.clone()),
                tshark_text(port),
                "{context}"
            );
            assert_eq!(
                details.port_description,
                tshark_text(port_desc),
                "{context}"
            );
            assert_eq!(details.system_name, tshark_text(name), "{context}");
            assert_eq!(details.system_description, tshark_text(desc), "{context}");
            assert_eq!(details.capabilities, labels_of_mask(caps), "{context}");
            let mut addresses: Vec<IpAddr> = tshark_list(ip4)
                .into_iter()
                .chain(tshark_list(ip6))
                .map(|ip| ip.parse().unwrap())
                .filter(|ip| is_device_ip(*ip))
                .collect();
            addresses.dedup();
            assert_eq!(details.management_addresses, addresses, "{context}");
            let med = details.med.clone().unwrap_or_default();
            assert_eq!(
                med.device_class,
                class.parse().ok().filter(|c| (1..=4).contains(c)),
                "{context}"
            );
            assert_eq!(med.model, tshark_text(model), "{context}");
            assert_eq!(med.serial_number, tshark_text(serial), "{context}");
            assert_eq!(med.manufacturer, tshark_text(manufacturer), "{context}");
            compared += 1;
        }
    }
    eprintln!("{compared} LLDP frames compared with tshark");
    assert_eq!(compared, 58);
}

/// What tcpdump's expected output says of each LLDP frame, by frame number.
#[derive(Debug, Default)]
struct TcpdumpLldp {
    chassis_id: Option<String>,
    port_id: Option<String>,
    system_name: Option<String>,
    port_description: Option<String>,
    capabilities: Option<Vec<String>>,
    management_addresses: Vec<IpAddr>,
}

fn tcpdump_lldp(out: &str) -> BTreeMap<usize, TcpdumpLldp> {
    let mut frames = BTreeMap::new();
    let mut current: Option<(usize, TcpdumpLldp)> = None;
    let mut last_tlv = "";
    for line in out.lines() {
        if !line.starts_with('\t') {
            frames.extend(current.take());
            if line.contains("LLDP, length")
                && let Some(number) = line.split_whitespace().next()
            {
                current = Some((number.parse().unwrap(), TcpdumpLldp::default()));
            }
            continue;
        }
        let Some((_, frame)) = current.as_mut() else {
            continue;
        };
        let line = line.trim();
        let after_colon = |line: &str| line.split_once("): ").map(|(_, v)| v.to_owned());
        if line.starts_with("Chassis ID TLV") || line.starts_with("Port ID TLV") {
            last_tlv = if line.starts_with("Chassis") {
                "chassis"
            } else {
                "port"
            };
        } else if line.starts_with("Subtype ") && !last_tlv.is_empty() {
            let value = after_colon(line);
            match last_tlv {
                "chassis" => frame.chassis_id = value,
                _ => frame.port_id = value,
            }
            last_tlv = "";
        } else if let Some(rest) = line.strip_prefix("System Name TLV (5), length ") {
            frame.system_name = rest.split_once(": ").map(|(_, v)| v.to_owned());
        } else if let Some(rest) = line.strip_prefix("Port Description TLV (4), length ") {
            frame.port_description = rest.split_once(": ").map(|(_, v)| v.to_owned());
        } else if let Some(rest) = line.strip_prefix("Enabled Capabilities [") {
            let mask = rest.rsplit_once('(').map(|(_, m)| m.trim_end_matches(')'));
            frame.capabilities = mask.map(labels_of_mask);
        } else if line.starts_with("Management Address length ") {
            if let Some((_, ip)) = line.rsplit_once(": ")
                && let Ok(ip) = ip.parse()
            {
                frame.management_addresses.push(ip);
            }
        } else {
            last_tlv = if line.starts_with("0x") { last_tlv } else { "" };
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
        ("tcpdump/lldp_mudurl.pcap", "lldp_mudurl-vv.out"),
        ("tcpdump/lldp-app-priority.pcap", "lldp-app-priority.out"),
        ("tcpdump/dcb_ets.pcap", "dcb_ets.out"),
        ("tcpdump/dcb_pfc.pcap", "dcb_pfc.out"),
        ("tcpdump/dcb_qcn.pcap", "dcb_qcn.out"),
        ("tcpdump/evb.pcap", "evb.out"),
    ] {
        let path = corpus_path("tcpdump/expected_tcpdump_output").join(out);
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = tcpdump_lldp(&text);
        let ours = decoded(capture);
        assert_eq!(
            expected.keys().collect::<Vec<_>>(),
            ours.keys().collect::<Vec<_>>(),
            "{out}"
        );
        for (number, frame) in expected {
            let context = format!("{out} frame {number}");
            let details = ours[&number].as_ref().unwrap();
            assert_eq!(
                Some(&details.chassis_id),
                frame.chassis_id.as_ref(),
                "{context}"
            );
            assert_eq!(Some(&details.port_id), frame.port_id.as_ref(), "{context}");
            assert_eq!(details.system_name, frame.system_name, "{context}");
            assert_eq!(
                details.port_description, frame.port_description,
                "{context}"
            );
            assert_eq!(
                details.capabilities,
                frame.capabilities.unwrap_or_default(),
                "{context}"
            );
            assert_eq!(
                details.management_addresses, frame.management_addresses,
                "{context}"
            );
            compared += 1;
        }
    }
    eprintln!("{compared} LLDP frames compared with tcpdump");
    assert!(compared >= 50, "{compared}");
}

// Sightings.

#[test]
fn a_sighting_is_the_sender_with_its_management_addresses() {
    let frame = hex_bytes(LLDPD_MED);
    let heard = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
    let Message::Lldp(details) = &heard.message else {
        panic!("{:?}", heard.message);
    };
    let observation = heard
        .observation(Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture)
        .unwrap();
    assert_eq!(observation.mac.to_string(), "00:09:fb:11:22:33");
    assert_eq!(observation.source, Source::CaptureFile);
    assert_eq!(observation.ips, ips(&["198.18.0.11", "2001:db8::11"]));
    assert_eq!(
        observation.hostname.as_deref(),
        Some("mon-icu-01"),
        "the system name"
    );
    let mut normal = Detail::Lldp(details.clone());
    normal.normalise();
    assert_eq!(observation.detail, Some(normal));
    let live = heard
        .observation(Timestamp::UNIX_EPOCH, "eth0", Hearing::Live { own: &[] })
        .unwrap();
    assert_eq!(live.source, Source::Lldp);
    // Without management addresses, the MAC and the detail alone.
    let heard = decode(LinkType::Ethernet, &hex_bytes(CISCO))
        .unwrap()
        .unwrap();
    let observation = heard
        .observation(Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture)
        .unwrap();
    assert_eq!(observation.mac.to_string(), "00:19:2f:a7:b2:8d");
    assert!(observation.ips.is_empty());
    assert!(matches!(observation.detail, Some(Detail::Lldp(_))));
}

#[test]
fn a_group_source_mac_names_no_device() {
    let mut frame = hex_bytes(LLDPD_MED);
    frame[6] |= 0x01;
    let heard = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
    assert_eq!(
        heard.observation(Timestamp::UNIX_EPOCH, "eth0", Hearing::Capture),
        None
    );
    let details = parse(&payload_of(&hex_bytes(LLDPD_MED))).unwrap();
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
    assert_eq!(seen.ips, details.management_addresses);
    assert_eq!(seen.detail, Some(Detail::Lldp(details)));
}
