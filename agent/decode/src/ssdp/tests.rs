//! The SSDP decoder on real frames of the corpus, on hand-made edge cases, against tshark, and
//! on hostile input.

use std::net::IpAddr;

use hygie_domain::{MacAddr, Source};
use jiff::Timestamp;

use super::*;
use crate::frame::LinkType;
use crate::heard::{Heard, Hearing, Message, decode};
use crate::testing::{Noise, corpus_frames, tshark};

fn hex(text: &[&str]) -> Vec<u8> {
    let text: String = text.concat();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Frame 1 of nDPI's `ssdp-m-search-ua.pcap` (`tshark -x`): Chrome on a Mac searching for DIAL
/// receivers, TTL 1 to 239.255.255.250.
const CHROME_SEARCH: &[&str] = &[
    "01005e7ffffaf02f4b0993bc0800450000ca9d680000011178e5c0a8f232effffffadc7e076c00b6b6924d2d53454152",
    "4348202a20485454502f312e310d0a484f53543a203233392e3235352e3235352e3235303a313930300d0a4d414e3a20",
    "22737364703a646973636f766572220d0a4d583a20310d0a53543a2075726e3a6469616c2d6d756c746973637265656e",
    "2d6f72673a736572766963653a6469616c3a310d0a555345522d4147454e543a20476f6f676c65204368726f6d652f39",
    "392e302e343834342e3734204d6163204f5320580d0a0d0a",
];

/// Frame 16 of iot-sentinel's `WeMoSwitch/Setup-A-3-STA.pcap`: a Belkin WeMo switch announcing
/// its root device, with `X-User-Agent: redsonic` and no `USER-AGENT`.
const WEMO_NOTIFY: &[&str] = &[
    "01005e7ffffa94103e3501c108004500019900004000041170540a0a0afceffffffa0c02076c0185d64a4e4f54494659",
    "202a20485454502f312e310d0a484f53543a203233392e3235352e3235352e3235303a313930300d0a43414348452d43",
    "4f4e54524f4c3a206d61782d6167653d38363430300d0a4c4f434154494f4e3a20687474703a2f2f31302e31302e3130",
    "2e3235323a34393135332f73657475702e786d6c0d0a4f50543a2022687474703a2f2f736368656d61732e75706e702e",
    "6f72672f75706e702f312f302f223b206e733d30310d0a30312d4e4c533a2064316265363437382d316464312d313162",
    "322d613339392d6630663937613034376431360d0a4e543a2075706e703a726f6f746465766963650d0a4e54533a2073",
    "7364703a616c6976650d0a5345525645523a20556e7370656369666965642c2055506e502f312e302c20556e73706563",
    "69666965640d0a582d557365722d4167656e743a20726564736f6e69630d0a55534e3a20757569643a536f636b65742d",
    "315f302d3232313531394b313130304635353a3a75706e703a726f6f746465766963650d0a0d0a",
];

/// Frame 83 of nDPI's `gnutella.pcap`: Windows searching for root devices over IPv6 (to
/// ff02::c from a link-local address), with mixed-case header names.
const IPV6_SEARCH: &[&str] = &[
    "33330000000c080027e6e55986dd600f28e800671104fe80000000000000c50d519f96a4e108ff020000000000000000",
    "00000000000cf9d8076c006754084d2d534541524348202a20485454502f312e310d0a486f73743a205b464630323a3a",
    "435d3a313930300d0a53543a2075706e703a726f6f746465766963650d0a4d616e3a2022737364703a646973636f7665",
    "72220d0a4d583a20330d0a0d0a",
];

/// Frame 11 of Zeek's `raw_packets.pcap`: a TP-Link TL-WDR3600 router announcing itself.
const TPLINK_NOTIFY: &[&str] = &[
    "01005e7ffffae8de27ffc078080045000125000040000411c424c0a80101effffffab117076c011151224e4f54494659",
    "202a20485454502f312e310d0a484f53543a203233392e3235352e3235352e3235303a313930300d0a43414348452d43",
    "4f4e54524f4c3a206d61782d6167653d3130300d0a4c4f434154494f4e3a20687474703a2f2f3139322e3136382e312e",
    "313a313930302f6967642e786d6c0d0a4e543a2075706e703a726f6f746465766963650d0a4e54533a20737364703a61",
    "6c6976650d0a5345525645523a2069706f732f372e302055506e502f312e3020544c2d574452333630302f312e300d0a",
    "55534e3a20757569643a30363062373335332d666361362d343037302d383566342d3166626662396164643632633a3a",
    "75706e703a726f6f746465766963650d0a0d0a",
];

const REAL_FRAMES: [&[&str]; 4] = [CHROME_SEARCH, WEMO_NOTIFY, IPV6_SEARCH, TPLINK_NOTIFY];

fn heard(frame: &[&str]) -> Heard {
    decode(LinkType::Ethernet, &hex(frame)).unwrap().unwrap()
}

fn packet_of(heard: &Heard) -> &SsdpPacket {
    match &heard.message {
        Message::Ssdp(packet) => packet,
        other => panic!("not SSDP: {other:?}"),
    }
}

/// The UDP payload of a real frame (the frame minus its Ethernet, IP and UDP headers).
fn payload_of(frame: &[&str]) -> Vec<u8> {
    let bytes = hex(frame);
    let offset = if bytes[12..14] == [0x86, 0xdd] {
        14 + 40 + 8
    } else {
        14 + 20 + 8
    };
    bytes[offset..].to_vec()
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

#[test]
fn a_real_search_keeps_the_user_agent_and_what_it_looks_for() {
    let heard = heard(CHROME_SEARCH);
    let details = &packet_of(&heard).details;
    assert_eq!(
        *details,
        SsdpDetails {
            message: SsdpMessage::Search,
            notification_subtype: None,
            server: None,
            user_agent: some("Google Chrome/99.0.4844.74 Mac OS X"),
            notification_type: some("urn:dial-multiscreen-org:service:dial:1"),
            usn: None,
            location: None,
        }
    );
    // What a search looks for is not what its sender is.
    assert_eq!(details.device_type(), None);
    let sighting = packet_of(&heard).sighting(&heard.sender).unwrap();
    assert_eq!(sighting.mac.unwrap().to_string(), "f0:2f:4b:09:93:bc");
    assert_eq!(sighting.ips, ["192.168.242.50".parse::<IpAddr>().unwrap()]);
    assert_eq!(sighting.hostname, None);
    assert_eq!(sighting.detail, Some(Detail::Ssdp(details.clone())));
}

#[test]
fn a_real_notify_with_x_user_agent() {
    let heard = heard(WEMO_NOTIFY);
    let details = &packet_of(&heard).details;
    assert_eq!(
        *details,
        SsdpDetails {
            message: SsdpMessage::Notify,
            notification_subtype: some("ssdp:alive"),
            server: some("Unspecified, UPnP/1.0, Unspecified"),
            user_agent: some("redsonic"),
            notification_type: some("upnp:rootdevice"),
            usn: some("uuid:Socket-1_0-221519K1100F55::upnp:rootdevice"),
            location: some("http://10.10.10.252:49153/setup.xml"),
        }
    );
    assert_eq!(details.device_type(), Some("upnp:rootdevice"));
    let observation = heard
        .observation(Timestamp::UNIX_EPOCH, "eth0", Hearing::Live { own: &[] })
        .unwrap();
    assert_eq!(observation.mac.to_string(), "94:10:3e:35:01:c1");
    assert_eq!(observation.ips, ["10.10.10.252".parse::<IpAddr>().unwrap()]);
    assert_eq!(observation.source, Source::Ssdp);
    assert_eq!(observation.detail, Some(Detail::Ssdp(details.clone())));
}

#[test]
fn a_real_ipv6_search_with_mixed_case_headers() {
    let heard = heard(IPV6_SEARCH);
    let details = &packet_of(&heard).details;
    assert_eq!(details.message, SsdpMessage::Search);
    assert_eq!(details.notification_type, some("upnp:rootdevice"));
    assert_eq!(details.user_agent, None);
    assert_eq!(details.server, None);
    let sighting = packet_of(&heard).sighting(&heard.sender).unwrap();
    assert_eq!(sighting.mac.unwrap().to_string(), "08:00:27:e6:e5:59");
    assert_eq!(
        sighting.ips,
        ["fe80::c50d:519f:96a4:e108".parse::<IpAddr>().unwrap()]
    );
}

#[test]
fn a_real_router_notify() {
    let heard = heard(TPLINK_NOTIFY);
    assert_eq!(
        packet_of(&heard).details,
        SsdpDetails {
            message: SsdpMessage::Notify,
            notification_subtype: some("ssdp:alive"),
            server: some("ipos/7.0 UPnP/1.0 TL-WDR3600/1.0"),
            user_agent: None,
            notification_type: some("upnp:rootdevice"),
            usn: some("uuid:060b7353-fca6-4070-85f4-1fbfb9add62c::upnp:rootdevice"),
            location: some("http://192.168.1.1:1900/igd.xml"),
        }
    );
}

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n\
LOCATION: http://198.18.0.21:49152/desc.xml\r\nSERVER: Linux/4.9 UPnP/1.0 Infusomat/2.1\r\n\
ST: urn:schemas-upnp-org:device:Basic:1\r\nUSN: uuid:1234::urn:schemas-upnp-org:device:Basic:1\r\n\r\n";

fn sender(mac: &str, ip: &str, on_link: bool) -> Sender {
    Sender {
        mac: mac.parse().unwrap(),
        ip: Some(ip.parse().unwrap()),
        on_link,
    }
}

#[test]
fn a_search_response_says_what_the_device_is() {
    let packet = parse(RESPONSE).unwrap();
    assert_eq!(
        packet.details,
        SsdpDetails {
            message: SsdpMessage::Response,
            notification_subtype: None,
            server: some("Linux/4.9 UPnP/1.0 Infusomat/2.1"),
            user_agent: None,
            notification_type: some("urn:schemas-upnp-org:device:Basic:1"),
            usn: some("uuid:1234::urn:schemas-upnp-org:device:Basic:1"),
            location: some("http://198.18.0.21:49152/desc.xml"),
        }
    );
    assert_eq!(
        packet.details.device_type(),
        Some("urn:schemas-upnp-org:device:Basic:1")
    );
    for status in [
        "HTTP/1.1 200",
        "HTTP/1.0 204 No Content",
        "http/1.1 299 Whatever it is",
    ] {
        let message = format!("{status}\r\nST: upnp:rootdevice\r\n\r\n");
        assert_eq!(
            parse(message.as_bytes()).unwrap().details.message,
            SsdpMessage::Response,
            "{status}"
        );
    }
}

#[test]
fn sightings_trust_the_frame_mac_only_when_it_is_the_senders() {
    let packet = parse(RESPONSE).unwrap();
    // A unicast response straight from the device.
    let direct = packet
        .sighting(&sender("00:09:fb:11:22:33", "198.18.0.21", true))
        .unwrap();
    assert_eq!(direct.mac.unwrap().to_string(), "00:09:fb:11:22:33");
    assert_eq!(direct.ips, ["198.18.0.21".parse::<IpAddr>().unwrap()]);
    assert_eq!(direct.hostname, None);
    assert!(direct.services.is_empty());
    assert_eq!(direct.detail, Some(Detail::Ssdp(packet.details.clone())));
    // Through a router: the frame MAC is the router's, so nothing is pinned on anyone.
    assert_eq!(
        packet.sighting(&sender("00:09:fb:11:22:33", "198.18.0.21", false)),
        None
    );
    // A multicast or zero source MAC names no device.
    assert_eq!(
        packet.sighting(&sender("01:00:5e:7f:ff:fa", "198.18.0.21", true)),
        None
    );
    assert_eq!(
        packet.sighting(&sender("00:00:00:00:00:00", "198.18.0.21", true)),
        None
    );
    // An address no device holds is left out; the device still was there.
    let unspecified = packet
        .sighting(&sender("00:09:fb:11:22:33", "0.0.0.0", true))
        .unwrap();
    assert!(unspecified.ips.is_empty());
    let no_ip = Sender {
        mac: MacAddr::new([0, 9, 0xfb, 0x11, 0x22, 0x33]),
        ip: None,
        on_link: true,
    };
    assert!(packet.sighting(&no_ip).unwrap().ips.is_empty());
}

#[test]
fn start_lines_decide_the_message() {
    let cases: &[(&[u8], Result<SsdpMessage, SsdpError>)] = &[
        (b"NOTIFY * HTTP/1.1\r\n\r\n", Ok(SsdpMessage::Notify)),
        (b"M-SEARCH * HTTP/1.1\r\n\r\n", Ok(SsdpMessage::Search)),
        (b"m-search  *  HTTP/1.0\n\n", Ok(SsdpMessage::Search)),
        (b"HTTP/1.1 200 OK\r\n\r\n", Ok(SsdpMessage::Response)),
        (
            b"HTTP/1.1 404 Not Found\r\n\r\n",
            Err(SsdpError::Status(404)),
        ),
        (
            b"HTTP/1.1 500 Internal\r\n\r\n",
            Err(SsdpError::Status(500)),
        ),
        (b"HTTP/1.1 2000 OK\r\n\r\n", Err(SsdpError::StartLine)),
        (b"HTTP/1.1 OK\r\n\r\n", Err(SsdpError::StartLine)),
        (b"HTTP/2 200 OK\r\n\r\n", Err(SsdpError::StartLine)),
        (b"GET / HTTP/1.1\r\n\r\n", Err(SsdpError::StartLine)),
        (b"GET * HTTP/1.1\r\n\r\n", Err(SsdpError::StartLine)),
        (b"NOTIFY /event HTTP/1.1\r\n\r\n", Err(SsdpError::StartLine)),
        (
            b"NOTIFY * HTTP/1.1 extra\r\n\r\n",
            Err(SsdpError::StartLine),
        ),
        (b"NOTIFY * SIP/2.0\r\n\r\n", Err(SsdpError::StartLine)),
        (b"NOTIFY\r\n\r\n", Err(SsdpError::StartLine)),
        (b"\r\nNOTIFY * HTTP/1.1\r\n\r\n", Err(SsdpError::StartLine)),
        (b"\x00\x01\x02\x03\n", Err(SsdpError::StartLine)),
        (b"", Err(SsdpError::Truncated)),
        (b"NOTIFY * HTTP/1.1", Err(SsdpError::Truncated)),
        (b"NOTIFY * HTTP/1.1\r", Err(SsdpError::Truncated)),
    ];
    for (bytes, expected) in cases {
        let got = parse(bytes).map(|packet| packet.details.message);
        assert_eq!(got, *expected, "{:?}", String::from_utf8_lossy(bytes));
    }
    assert_eq!(SsdpError::Status(404).kind(), "SSDP error status");
    assert_eq!(SsdpError::StartLine.kind(), "not an SSDP start line");
}

#[test]
fn header_lines_are_read_leniently_but_only_up_to_the_empty_line() {
    let message = b"NOTIFY * HTTP/1.1\n\
nt:  upnp:rootdevice  \n\
Nts:ssdp:byebye\r\n\
NT: uuid:second-copy-ignored\r\n\
 folded continuation: ignored\r\n\
\tSERVER: folded, ignored\r\n\
no colon here\r\n\
USN:\r\n\
USN :   \t \r\n\
USN: uuid:abc\r\n\
X-User-Agent: redsonic\r\n\
user-agent: Real/1.0\r\n\
LOCATION: http://198.18.0.5/d.xml\r\n\
\r\n\
SERVER: in the body, never read\r\n";
    let details = parse(message).unwrap().details;
    assert_eq!(
        details,
        SsdpDetails {
            message: SsdpMessage::Notify,
            notification_subtype: some("ssdp:byebye"),
            server: None,
            // USER-AGENT wins over X-USER-AGENT wherever it comes.
            user_agent: some("Real/1.0"),
            notification_type: some("upnp:rootdevice"),
            usn: some("uuid:abc"),
            location: some("http://198.18.0.5/d.xml"),
        }
    );
    // A NOTIFY's type is NT, never ST; a search's is ST, never NT.
    let notify = parse(b"NOTIFY * HTTP/1.1\r\nST: st\r\n\r\n").unwrap();
    assert_eq!(notify.details.notification_type, None);
    let search = parse(b"M-SEARCH * HTTP/1.1\r\nNT: nt\r\nST: st\r\n\r\n").unwrap();
    assert_eq!(search.details.notification_type, some("st"));
    // A message whose empty line was cut off keeps its complete lines, not the cut one.
    let cut = parse(b"NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\nSERVER: Lin").unwrap();
    assert_eq!(cut.details.notification_type, some("upnp:rootdevice"));
    assert_eq!(cut.details.server, None);
}

#[test]
fn hostile_values_come_out_cleaned_and_bounded() {
    let long = "é".repeat(1000); // 2000 bytes: within a line, beyond a value
    let message = format!(
        "NOTIFY * HTTP/1.1\r\nSERVER: evil\u{1b}[2J\u{7}OS\r\nUSN: uuid:\u{202e}gnp.exe\r\n\
         LOCATION: {long}\r\nNT: \u{0}\r\n\r\n"
    );
    let mut bytes = message.into_bytes();
    // Bytes that are not UTF-8 in a header.
    bytes.splice(19..19, b"USER-AGENT: Bad\xff\xfeUA\r\n".iter().copied());
    let details = parse(&bytes).unwrap().details;
    assert_eq!(details.server, some("evil\u{fffd}[2J\u{fffd}OS"));
    assert_eq!(details.usn, some("uuid:\u{fffd}gnp.exe"));
    assert_eq!(details.user_agent, some("Bad\u{fffd}\u{fffd}UA"));
    assert_eq!(details.notification_type, some("\u{fffd}"));
    let location = details.location.clone().unwrap();
    assert!(location.len() <= limits::MAX_DETAIL_TEXT_LEN);
    assert_eq!(location, "é".repeat(limits::MAX_DETAIL_TEXT_LEN / 2));
    assert_eq!(Detail::Ssdp(details).check(), Ok(()));
}

#[test]
fn lines_and_header_counts_are_bounded() {
    let with_headers = |count: usize| {
        let mut message = String::from("NOTIFY * HTTP/1.1\r\n");
        for index in 0..count {
            message.push_str(&format!("X-{index}: y\r\n"));
        }
        message.push_str("NT: upnp:rootdevice\r\n\r\n");
        message
    };
    let full = parse(with_headers(MAX_HEADER_LINES - 1).as_bytes()).unwrap();
    assert_eq!(full.details.notification_type, some("upnp:rootdevice"));
    assert_eq!(
        parse(with_headers(MAX_HEADER_LINES).as_bytes()),
        Err(SsdpError::TooManyHeaders)
    );
    assert_eq!(SsdpError::TooManyHeaders.kind(), "too many SSDP headers");

    let with_line = |len: usize, end: &str| {
        let value = "a".repeat(len - "SERVER: ".len());
        format!("NOTIFY * HTTP/1.1\r\nSERVER: {value}{end}\r\n")
    };
    for end in ["\r\n", "\n"] {
        let ok = parse(with_line(MAX_LINE_LEN, end).as_bytes()).unwrap();
        assert_eq!(
            ok.details.server.unwrap().len(),
            limits::MAX_DETAIL_TEXT_LEN
        );
        assert_eq!(
            parse(with_line(MAX_LINE_LEN + 1, end).as_bytes()),
            Err(SsdpError::LineTooLong)
        );
    }
    // One endless line, with or without an end.
    let endless = format!("NOTIFY * HTTP/1.1\r\nSERVER: {}", "a".repeat(60_000));
    assert_eq!(parse(endless.as_bytes()), Err(SsdpError::LineTooLong));
    assert_eq!(
        parse("a".repeat(60_000).as_bytes()),
        Err(SsdpError::LineTooLong)
    );
    assert_eq!(SsdpError::LineTooLong.kind(), "SSDP line too long");
}

#[test]
fn every_prefix_of_a_real_message_is_refused_or_a_subset_of_it() {
    for frame in REAL_FRAMES {
        let payload = payload_of(frame);
        let full = parse(&payload).unwrap().details;
        let first_line_end = payload.iter().position(|b| *b == b'\n').unwrap();
        for len in 0..payload.len() {
            match parse(&payload[..len]) {
                Err(error) => {
                    assert_eq!(error, SsdpError::Truncated, "{len}");
                    assert!(len <= first_line_end, "{len}");
                }
                // A cut never makes a wrong value: each header is whole or absent.
                Ok(packet) => {
                    let got = packet.details;
                    assert_eq!(got.message, full.message);
                    for (got, full) in [
                        (&got.notification_subtype, &full.notification_subtype),
                        (&got.server, &full.server),
                        (&got.user_agent, &full.user_agent),
                        (&got.notification_type, &full.notification_type),
                        (&got.usn, &full.usn),
                        (&got.location, &full.location),
                    ] {
                        assert!(got.is_none() || got == full, "{len}: {got:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let check = |bytes: &[u8]| {
        if let Ok(packet) = parse(bytes) {
            assert_eq!(Detail::Ssdp(packet.details).check(), Ok(()), "{bytes:02x?}");
        }
    };
    let mut noise = Noise(0x5eed_55d9_0000_0001);
    for frame in REAL_FRAMES {
        let payload = payload_of(frame);
        for _ in 0..2_000 {
            let mut mutated = payload.clone();
            for _ in 0..1 + noise.below(8) {
                let at = noise.below(mutated.len());
                mutated[at] = noise.byte();
            }
            check(&mutated);
        }
    }
    // Random bytes, and random header soup that gets past the start line.
    let alphabet =
        b"NOTIFY M-SEARCH HTTP/1.1 200 * :\r\n\t\x00\x1b\xff\xe2\x80\xaeSERVERUSNLOCATION";
    for _ in 0..5_000 {
        let len = noise.below(600);
        let random: Vec<u8> = (0..len).map(|_| noise.byte()).collect();
        check(&random);
        let mut soup = b"NOTIFY * HTTP/1.1\r\n".to_vec();
        soup.extend((0..len).map(|_| alphabet[noise.below(alphabet.len())]));
        check(&soup);
    }
}

/// Captures with SSDP over UDP, from the test corpus.
const CAPTURES: &[&str] = &[
    "iot-sentinel/D-LinkCam/Setup-A-4-STA.pcap",
    "iot-sentinel/D-LinkDayCam/Setup-C-2-STA.pcap",
    "iot-sentinel/D-LinkHomeHub/Setup-C-14-STA.pcap",
    "iot-sentinel/EdimaxCam1/Setup-A-1-STA.pcap",
    "iot-sentinel/HueBridge/Setup-A-3-STA.pcap",
    "iot-sentinel/HueSwitch/Setup-A-3-STA.pcap",
    "iot-sentinel/WeMoInsightSwitch/Setup-A-11-STA.pcap",
    "iot-sentinel/WeMoLink/Setup-A-2-STA.pcap",
    "iot-sentinel/WeMoSwitch/Setup-A-3-STA.pcap",
    "zeek/raw_packets.pcap",
    "zeek/igmp_home-multicast-short.pcap",
    "ndpi/ssdp-m-search-ua.pcap",
    "ndpi/gnutella.pcap",
    "ndpi/android.pcap",
    "ndpi/iphone.pcap",
    "tcpdump/eapon1.pcap",
];

/// tshark's header lines (`NAME: value\r\n`, joined by `,`) as (name, value) pairs.
fn tshark_headers(fields: &[&str]) -> Vec<(String, String)> {
    fields
        .iter()
        .flat_map(|field| field.split("\\r\\n,"))
        .filter_map(|line| {
            let line = line.trim_end_matches("\\r\\n");
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_ascii_uppercase(), value.trim().to_owned()))
        })
        .collect()
}

#[test]
fn every_corpus_message_decodes_as_tshark_does() {
    let fields = [
        "http.request.method",
        "http.response.code",
        "http.server",
        "http.user_agent",
        "http.location",
        "http.request.line",
        "http.response.line",
        "http.unknown_header",
    ];
    let mut compared = 0;
    for capture in CAPTURES {
        // SSDP quoted inside an ICMP error is not a message the device sent.
        let Some(rows) = tshark(capture, "udp.port == 1900 && !icmp", &fields) else {
            return;
        };
        let (link, frames) = corpus_frames(capture);
        for row in &rows {
            let number: usize = row[0].parse().unwrap();
            let field = |index: usize| row.get(index + 1).map(String::as_str).unwrap_or("");
            let optional = |index: usize| Some(field(index).to_owned()).filter(|v| !v.is_empty());
            let heard = decode(link, &frames[number - 1])
                .unwrap_or_else(|error| panic!("{capture} #{number}: {error}"))
                .unwrap();
            let details = &packet_of(&heard).details;
            let context = format!("{capture} #{number}");
            let message = match (field(0), field(1)) {
                ("NOTIFY", _) => SsdpMessage::Notify,
                ("M-SEARCH", _) => SsdpMessage::Search,
                ("", code) if code.starts_with('2') => SsdpMessage::Response,
                other => panic!("{context}: {other:?}"),
            };
            assert_eq!(details.message, message, "{context}");
            assert_eq!(details.server, optional(2), "{context}");
            assert_eq!(details.location, optional(4), "{context}");
            let headers = tshark_headers(&[field(5), field(6), field(7)]);
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, value)| value.clone())
            };
            let user_agent = optional(3).or_else(|| header("X-USER-AGENT"));
            assert_eq!(details.user_agent, user_agent, "{context}");
            let type_header = if message == SsdpMessage::Notify {
                "NT"
            } else {
                "ST"
            };
            assert_eq!(details.notification_type, header(type_header), "{context}");
            assert_eq!(details.notification_subtype, header("NTS"), "{context}");
            assert_eq!(details.usn, header("USN"), "{context}");
            compared += 1;
        }
    }
    // 367 SSDP datagrams over UDP in these captures (370 on port 1900, less 3 quoted in ICMP).
    eprintln!("compared {compared} SSDP messages with tshark");
    assert!(compared >= 360, "{compared}");
}
