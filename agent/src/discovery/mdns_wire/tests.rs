//! The passive mDNS decoder on real and hand-made packets.

use simple_dns::rdata::{A, PTR, SRV, TXT};
use simple_dns::{CLASS, Name, Packet, ResourceRecord};

use super::*;
use crate::discovery::frame::{LinkType, parse_frame};

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
    let message = parse_ip_packet(frame.ethertype, frame.payload)
        .unwrap()
        .unwrap();
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
    for len in 0..frame.payload.len() {
        let _ = parse_ip_packet(frame.ethertype, &frame.payload[..len]);
    }
    // Flipping any byte never panics either.
    for index in 0..frame.payload.len() {
        let mut mutated = frame.payload.to_vec();
        mutated[index] ^= 0xff;
        let _ = parse_ip_packet(frame.ethertype, &mutated);
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
    assert_eq!(service.port, 631);
    assert_eq!(service.txt["ty"], "Lexmark MX622");
    assert_eq!(service.txt["usb_MFG"], "Lexmark");
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
    let value = &sender.services[0].txt["ty"];
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
