//! The passive mDNS decoder on real and hand-made packets.

use simple_dns::rdata::{A, PTR, SRV, TXT};
use simple_dns::{CLASS, Name, Packet, ResourceRecord};

use super::*;
use crate::frame::{LinkType, parse_frame};
use crate::ip::{parse_ip, parse_udp};

fn hex(text: &[&str]) -> Vec<u8> {
    let text: String = text.concat();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Frame 4 of Zeek's `dns_mdns.pcap` (`tshark -x`): a host announcing its name with one A and
/// two AAAA records, plus reverse-lookup PTRs that must not be taken for services.
const ZEEK_ANNOUNCEMENT: &[&str] = &[
    "01005e0000fb8a3cd6e14dc408004500013565974000ff11281e0a000207e00000fb14e914e9012142a2000084000000",
    "0006000000001c6a6f68616e6e612d51454d552d5669727475616c2d4d616368696e65056c6f63616c00001c80010000",
    "00000010fd52429ec03c8235883cd6fffee14dc401340163016401340131016501650166016601660136016401630133",
    "01380138013501330132013801630133013001630165013901320134013201350164016603697036046172706100000c",
    "8001000000000002c00cc00c001c8001000000000010fd52429ec03c823559685bc61563f82f01660132013801660133",
    "01360135013101360163016201350138013601390135c06a000c8001000000000002c00cc00c00018001000000000004",
    "0a00020701370132013002313007696e2d61646472c08e000c8001000000000002c00c",
];

#[test]
fn a_real_announcement_names_its_sender() {
    let bytes = hex(ZEEK_ANNOUNCEMENT);
    let frame = parse_frame(LinkType::Ethernet, &bytes).unwrap();
    assert_eq!(frame.source.to_string(), "8a:3c:d6:e1:4d:c4");
    let packet = parse_ip(frame.ethertype().unwrap(), frame.payload)
        .unwrap()
        .unwrap();
    let udp = parse_udp(packet.payload).unwrap();
    assert!(udp.has_port(MDNS_PORT));
    let message = parse_message(packet.source, udp.payload).unwrap();
    assert!(message.response);
    assert_eq!(message.source_ip.to_string(), "10.0.2.7");
    let sender = message.about_sender;
    assert_eq!(
        sender.hostnames.into_iter().collect::<Vec<_>>(),
        ["johanna-qemu-virtual-machine.local"]
    );
    let addresses: Vec<String> = sender.addresses.iter().map(ToString::to_string).collect();
    assert_eq!(
        addresses,
        [
            "10.0.2.7",
            "fd52:429e:c03c:8235:5968:5bc6:1563:f82f",
            "fd52:429e:c03c:8235:883c:d6ff:fee1:4dc4"
        ]
    );
    assert!(sender.services.is_empty(), "{:?}", sender.services);
}

#[test]
fn every_truncation_of_a_real_packet_is_refused_without_panic() {
    let bytes = hex(ZEEK_ANNOUNCEMENT);
    let frame = parse_frame(LinkType::Ethernet, &bytes).unwrap();
    let decode = |bytes: &[u8]| {
        if let Ok(Some(packet)) = parse_ip(frame.ethertype().unwrap(), bytes)
            && let Ok(udp) = parse_udp(packet.payload)
        {
            let _ = parse_message(packet.source, udp.payload);
        }
    };
    for len in 0..frame.payload.len() {
        decode(&frame.payload[..len]);
    }
    // Flipping any byte never panics either.
    for index in 0..frame.payload.len() {
        let mut mutated = frame.payload.to_vec();
        mutated[index] ^= 0xff;
        decode(&mutated);
    }
}

fn printer_response(hostname: &str, txt_value: &str) -> Vec<u8> {
    let mut packet = Packet::new_reply(0);
    let instance = Name::new_unchecked("Ward 3 Printer._ipp._tcp.local");
    let host = Name::new_unchecked(hostname);
    packet.answers.push(ResourceRecord::new(
        Name::new_unchecked("_ipp._tcp.local"),
        CLASS::IN,
        4500,
        RData::PTR(PTR(instance.clone())),
    ));
    packet.additional_records.push(ResourceRecord::new(
        instance.clone(),
        CLASS::IN,
        120,
        RData::SRV(SRV {
            priority: 0,
            weight: 0,
            port: 631,
            target: host.clone(),
        }),
    ));
    let txt = TXT::new()
        .with_string(txt_value)
        .unwrap()
        .with_string("usb_MFG=Lexmark")
        .unwrap();
    packet.additional_records.push(ResourceRecord::new(
        instance,
        CLASS::IN,
        4500,
        RData::TXT(txt),
    ));
    packet.additional_records.push(ResourceRecord::new(
        host,
        CLASS::IN,
        120,
        RData::A(A {
            address: u32::from(Ipv4Addr::new(198, 18, 0, 51)),
        }),
    ));
    packet.build_bytes_vec().unwrap()
}

#[test]
fn a_service_announcement_becomes_a_service_of_its_sender() {
    let payload = printer_response("lexmark-ward3.local", "ty=Lexmark MX622");
    let message = parse_message(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 51)), &payload).unwrap();
    let sender = message.about_sender;
    assert_eq!(
        sender.hostnames.iter().collect::<Vec<_>>(),
        ["lexmark-ward3.local"]
    );
    assert_eq!(sender.services.len(), 1);
    let service = &sender.services[0];
    assert_eq!(service.instance, "Ward 3 Printer._ipp._tcp.local");
    assert_eq!(service.service_type, "_ipp._tcp.local");
    assert_eq!(service.port, Some(631));
    assert_eq!(service.txt["ty"].as_deref(), Some("Lexmark MX622"));
    assert_eq!(service.txt["usb_MFG"].as_deref(), Some("Lexmark"));
}

/// A response holding only a TXT record (with a flag and an empty value) and the sender's
/// address record, as a Hue bridge or an Apple `_device-info` announcement sends.
fn txt_only_response(instance: &str, strings: &[&str], host: &str) -> Vec<u8> {
    let mut packet = Packet::new_reply(0);
    let mut txt = TXT::new();
    for string in strings {
        txt = txt.with_string(string).unwrap();
    }
    packet.answers.push(ResourceRecord::new(
        Name::new_unchecked(instance),
        CLASS::IN,
        4500,
        RData::TXT(txt),
    ));
    packet.additional_records.push(ResourceRecord::new(
        Name::new_unchecked(host),
        CLASS::IN,
        120,
        RData::A(A {
            address: u32::from(Ipv4Addr::new(198, 18, 0, 60)),
        }),
    ));
    packet.build_bytes_vec().unwrap()
}

#[test]
fn txt_records_without_srv_are_kept_without_a_port() {
    let payload = txt_only_response(
        "iMac._device-info._tcp.local",
        &["model=iMac11,3", "osxvers=", "IC-3115W Network Camera"],
        "imac.local",
    );
    let message = parse_message(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 60)), &payload).unwrap();
    let services = message.about_sender.services;
    assert_eq!(services.len(), 1, "{services:?}");
    let service = &services[0];
    assert_eq!(service.service_type, "_device-info._tcp.local");
    assert_eq!(service.port, None);
    assert_eq!(service.txt["model"].as_deref(), Some("iMac11,3"));
    assert_eq!(
        service.txt["osxvers"].as_deref(),
        Some(""),
        "an empty value"
    );
    assert_eq!(service.txt["IC-3115W Network Camera"], None, "a flag");
}

#[test]
fn txt_without_srv_from_a_proxy_is_not_pinned_on_it() {
    // The address record names another host: the TXT may be that host's.
    let payload = txt_only_response("Hue._hap._tcp.local", &["md=BSB002"], "hue.local");
    let message = parse_message(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 99)), &payload).unwrap();
    assert!(message.about_sender.services.is_empty());
}

#[test]
fn records_about_another_host_are_not_pinned_on_the_sender() {
    // A proxy (198.18.0.99) answering for the printer: the printer's records are not the proxy's.
    let payload = printer_response("lexmark-ward3.local", "ty=Lexmark MX622");
    let message = parse_message(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 99)), &payload).unwrap();
    assert!(message.about_sender.hostnames.is_empty());
    assert!(message.about_sender.services.is_empty());
    assert_eq!(
        message
            .about_sender
            .addresses
            .into_iter()
            .collect::<Vec<_>>(),
        [IpAddr::V4(Ipv4Addr::new(198, 18, 0, 99))]
    );
}

#[test]
fn hostile_names_and_values_are_cleaned() {
    let payload = printer_response("evil\u{1b}[2J.local", "ty=\u{7}bell\u{1b}]0;title");
    let message = parse_message(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 51)), &payload).unwrap();
    let sender = message.about_sender;
    assert_eq!(
        sender.hostnames.iter().collect::<Vec<_>>(),
        ["evil[2j.local"]
    );
    let value = sender.services[0].txt["ty"].as_deref().unwrap();
    assert!(!value.chars().any(char::is_control), "{value:?}");
}

#[test]
fn queries_reveal_only_their_sender() {
    let mut query = Packet::new_query(0);
    query.questions.push(simple_dns::Question::new(
        Name::new_unchecked(SERVICE_TYPES),
        simple_dns::QTYPE::TYPE(simple_dns::TYPE::PTR),
        simple_dns::QCLASS::CLASS(CLASS::IN),
        false,
    ));
    let payload = query.build_bytes_vec().unwrap();
    let message = parse_message(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 7)), &payload).unwrap();
    assert!(!message.response);
    assert!(message.about_sender.hostnames.is_empty());
}

#[test]
fn instance_names_give_their_type() {
    assert_eq!(
        type_of_instance("Ward 3._ipp._tcp.local").as_deref(),
        Some("_ipp._tcp.local")
    );
    assert_eq!(
        type_of_instance("x._sub._http._tcp.local").as_deref(),
        Some("_http._tcp.local")
    );
    assert_eq!(type_of_instance("host.local"), None);
}

#[test]
fn names_read_as_simple_dns_displays_them() {
    for text in [
        "Ward 3 Printer._ipp._tcp.local",
        "a\\.b.local",
        "evil\u{1b}.local",
        "x",
    ] {
        let name = Name::new_unchecked(text);
        assert_eq!(name_text(&name), name.to_string(), "{text:?}");
    }
}

/// Found by the `frame` fuzz target (Apple's `_sftp-ssh._tcp` SRV carries port 0): the wire
/// carries "no port" as 0, so a port 0 kept as `Some(0)` read back from the collector as
/// another observation.
#[test]
fn an_srv_port_of_zero_is_no_port() {
    let payload = [
        0x00, 0x00, 0x84, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // header
        0x01, b'p', 0x04, b'_', b'i', b'p', b'p', 0x04, b'_', b't', b'c', b'p', 0x05, b'l', b'o',
        b'c', b'a', b'l', 0x00, // p._ipp._tcp.local
        0x00, 0x21, 0x80, 0x01, 0x00, 0x00, 0x00, 0x78, 0x00, 0x0f, // SRV, 15 bytes
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // priority, weight, port 0
        0x01, b'h', 0x05, b'l', b'o', b'c', b'a', b'l', 0x00, // h.local
        0x01, b'h', 0x05, b'l', b'o', b'c', b'a', b'l', 0x00, // h.local
        0x00, 0x01, 0x80, 0x01, 0x00, 0x00, 0x00, 0x78, 0x00, 0x04, 198, 18, 0, 51, // A
    ];
    let source = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 51));
    let message = parse_message(source, &payload).unwrap();
    assert_eq!(
        message.about_sender.services[0].port,
        Some(0),
        "as announced"
    );
    let heard = crate::Heard {
        sender: crate::Sender {
            mac: "00:09:5c:11:22:01".parse().unwrap(),
            ip: Some(source),
            on_link: true,
        },
        vlan: None,
        message: crate::Message::Mdns(message),
    };
    let observation = heard
        .observation(jiff::Timestamp::UNIX_EPOCH, "eth0", crate::Hearing::Capture)
        .unwrap();
    assert_eq!(observation.services[0].instance, "p._ipp._tcp.local");
    assert_eq!(observation.services[0].port, None, "observed as no port");
}
