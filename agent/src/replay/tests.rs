//! Replay on real captures from public test suites (`../shared/corpus`, see its INDEX.md). The
//! expected values were read with `tshark -r FILE -Y arp -T fields -e arp.src.hw_mac -e
//! arp.src.proto_ipv4` and `tshark -r FILE -Y "mdns && dns.flags.response==1" -V`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use hygie_proto::Source;

use super::*;

fn corpus(relative: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/pcap")
        .join(relative);
    assert!(
        path.exists(),
        "{} is missing: the test corpus lives beside the project in ../shared/corpus",
        path.display()
    );
    path
}

fn run(relative: &str) -> (Vec<Observation>, ReplayReport) {
    let mut observations = Vec::new();
    let report = replay(
        &corpus(relative),
        Shaping::Refresh(SignedDuration::from_hours(24)),
        |observation| observations.push(observation),
    )
    .unwrap();
    (observations, report)
}

/// Every (MAC, IPv4) pair the observations carry.
fn pairs(observations: &[Observation]) -> BTreeSet<(String, String)> {
    observations
        .iter()
        .flat_map(|o| {
            o.ips
                .iter()
                .filter(|ip| ip.is_ipv4())
                .map(move |ip| (o.mac.to_string(), ip.to_string()))
        })
        .collect()
}

fn expected(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(mac, ip)| ((*mac).to_owned(), (*ip).to_owned()))
        .collect()
}

#[test]
fn address_pairs_match_tshark_on_every_framing() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "zeek/arp-who-has.pcap",
            &[
                ("78:31:c1:c6:3f:c2", "10.0.0.2"),
                ("f8:ed:a5:c0:a4:f1", "10.0.0.1"),
            ],
        ),
        (
            "zeek/linuxsll-arp.pcap",
            &[
                ("00:50:56:8b:3f:0d", "192.168.22.81"),
                ("00:50:56:8b:cf:fa", "10.1.10.100"),
                ("cc:2d:e0:26:19:99", "192.168.22.1"),
            ],
        ),
        (
            "tcpdump/802.1ad_QinQ.pcap",
            &[
                ("00:20:d2:5a:fb:3f", "172.21.79.97"),
                ("00:80:ea:81:88:63", "172.21.79.100"),
            ],
        ),
        (
            "zeek/snap-arp.pcapng",
            &[
                ("c2:3c:19:6c:00:01", "10.0.0.2"),
                ("c2:3d:19:6c:00:01", "10.0.0.1"),
            ],
        ),
        ("zeek/q-in-q.pcap", &[("e0:cb:4e:5e:1a:0e", "128.2.46.227")]),
        (
            "tcpdump/dhcp-rfc4388.pcap",
            &[
                ("74:83:ef:07:d0:a9", "10.40.1.1"),
                ("a6:82:4b:c9:a1:a7", "10.40.2.3"),
                // Not ARP: the two DHCP ACKs bind yiaddr to chaddr (`tshark -Y
                // 'dhcp.option.dhcp == 5' -e dhcp.hw.mac_addr -e dhcp.ip.your`).
                ("5a:4f:34:b1:af:66", "10.30.4.4"),
                ("5a:4f:34:b1:af:66", "10.50.4.4"),
            ],
        ),
    ];
    for (file, pairs_expected) in cases {
        let (observations, report) = run(file);
        assert_eq!(pairs(&observations), expected(pairs_expected), "{file}");
        assert!(report.decoded["arp"] > 0, "{file}: {report:?}");
        assert!(observations.iter().all(|o| o.source == Source::CaptureFile));
    }
}

#[test]
fn capture_times_are_kept() {
    let (observations, _) = run("zeek/arp-who-has.pcap");
    let first = tshark_first_frame_time();
    assert_eq!(observations[0].seen_at, first);
}

/// `tshark -r zeek/arp-who-has.pcap -T fields -e frame.time_epoch -c 1` prints
/// 1461764814.520906000.
fn tshark_first_frame_time() -> Timestamp {
    Timestamp::new(1_461_764_814, 520_906_000).unwrap()
}

/// `tshark -r zeek/snap-arp.pcapng -T fields -e frame.time_epoch -c 1` prints
/// 1355254140.359551000: the interface declares no resolution, so units are microseconds.
#[test]
fn pcapng_times_follow_the_interface_resolution() {
    let (observations, _) = run("zeek/snap-arp.pcapng");
    assert_eq!(
        observations[0].seen_at,
        Timestamp::new(1_355_254_140, 359_551_000).unwrap()
    );
}

#[test]
fn time_bases_convert_every_resolution() {
    let micros = TimeBase::default();
    assert_eq!(micros.time_of(1_500_000), Duration::from_millis(1500));
    let nanos = TimeBase {
        resolution: 9,
        offset_seconds: 0,
    };
    assert_eq!(nanos.time_of(1_500_000), Duration::from_micros(1500));
    let seconds_with_offset = TimeBase {
        resolution: 0,
        offset_seconds: 100,
    };
    assert_eq!(seconds_with_offset.time_of(5), Duration::from_secs(105));
    let picos = TimeBase {
        resolution: 12,
        offset_seconds: 0,
    };
    assert_eq!(picos.time_of(2_000_000_000_000), Duration::from_secs(2));
    // 2^-10 s units: 1536 units are 1.5 s.
    let binary = TimeBase {
        resolution: 0x80 | 10,
        offset_seconds: 0,
    };
    assert_eq!(binary.time_of(1536), Duration::from_millis(1500));
    // Absurd values saturate instead of wrapping or panicking.
    for resolution in [0, 9, 38, 39, 127, 0x80, 0x80 | 63, 0x80 | 64, 0xff] {
        let base = TimeBase {
            resolution,
            offset_seconds: u64::MAX,
        };
        let _ = base.time_of(u64::MAX);
        let _ = base.time_of(0);
    }
}

#[test]
fn a_nanosecond_pcapng_is_read_with_its_own_resolution() {
    use pcap_file::DataLink;
    use pcap_file::pcapng::PcapNgWriter;
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;

    // Take the ARP frame of a real capture and write it into a nanosecond pcapng.
    let mut frame = None;
    let mut reader = PcapReader::new(File::open(corpus("zeek/arp-who-has.pcap")).unwrap()).unwrap();
    if let Some(Ok(packet)) = reader.next_packet() {
        frame = Some(packet.data.into_owned());
    }
    let frame = frame.unwrap();
    let mut writer = PcapNgWriter::new(Vec::new()).unwrap();
    writer
        .write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
        })
        .unwrap();
    let raw = 1_461_764_814_520_906_123_u64;
    writer
        .write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_nanos(raw),
            original_len: frame.len() as u32,
            data: frame.into(),
            options: Vec::new(),
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nanos.pcapng");
    std::fs::write(&path, writer.into_inner()).unwrap();
    let mut observations = Vec::new();
    replay(&path, Shaping::Off, |observation| {
        observations.push(observation)
    })
    .unwrap();
    assert_eq!(
        observations[0].seen_at,
        Timestamp::new(1_461_764_814, 520_906_123).unwrap()
    );
}

#[test]
fn unshaped_replay_gives_one_observation_per_decoded_frame() {
    let mut shaped = 0;
    let shaped_report = replay(
        &corpus("zeek/arp-who-has.pcap"),
        Shaping::Refresh(SignedDuration::from_hours(1)),
        |_| shaped += 1,
    )
    .unwrap();
    let mut all = 0;
    let report = replay(&corpus("zeek/arp-who-has.pcap"), Shaping::Off, |_| all += 1).unwrap();
    assert_eq!(report.observations, all);
    assert_eq!(shaped_report.observations, shaped);
    assert!(all >= shaped);
    assert!(all >= report.decoded["arp"]);
}

#[test]
fn mdns_responses_give_names_and_services() {
    let (observations, report) = run("ndpi/iphone.pcap");
    assert!(report.decoded["mdns"] > 0);
    let imac: Vec<&Observation> = observations
        .iter()
        .filter(|o| o.mac.to_string() == "c6:2c:03:60:6a:64")
        .collect();
    let hostnames: BTreeSet<&str> = imac.iter().filter_map(|o| o.hostname.as_deref()).collect();
    assert_eq!(hostnames, BTreeSet::from(["lucas-imac.local"]));
    let services: BTreeSet<(String, u16)> = imac
        .iter()
        .flat_map(|o| &o.services)
        .filter_map(|s| Some((s.service_type.clone(), s.port?)))
        .collect();
    let expected: BTreeSet<(String, u16)> = [
        ("_afpovertcp._tcp.local", 548),
        ("_companion-link._tcp.local", 49155),
        ("_nfs._tcp.local", 2049),
        ("_odisk._tcp.local", 49152),
        ("_sftp-ssh._tcp.local", 22),
        ("_smb._tcp.local", 445),
        ("_ssh._tcp.local", 22),
    ]
    .into_iter()
    .map(|(t, p)| (t.to_owned(), p))
    .collect();
    assert_eq!(services, expected);
    assert!(
        imac.iter()
            .flat_map(|o| &o.services)
            .any(|s| s.instance == "Luca’s iMac._smb._tcp.local")
    );

    let (observations, _) = run("zeek/dns_mdns.pcap");
    let named: BTreeSet<(String, String)> = observations
        .iter()
        .filter_map(|o| o.hostname.clone().map(|h| (o.mac.to_string(), h)))
        .collect();
    assert_eq!(
        named,
        BTreeSet::from([(
            "8a:3c:d6:e1:4d:c4".to_owned(),
            "johanna-qemu-virtual-machine.local".to_owned()
        )])
    );
}

#[test]
fn unsupported_link_types_are_counted_not_decoded() {
    let (observations, report) = run("zeek/arp-who-has-radiotap.pcap");
    assert!(observations.is_empty());
    assert_eq!(report.unsupported_link, report.frames);
    assert!(report.frames > 0);
}

#[test]
fn every_malformed_capture_replays_without_panic_and_accounts_for_every_frame() {
    let mut files = Vec::new();
    for suite in ["tcpdump", "zeek", "ndpi"] {
        let dir = corpus(suite).join("malformed");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.map(|entry| entry.unwrap().path()));
        }
    }
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let report = replay(&file, Shaping::Off, |_| {})
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        let malformed: u64 = report.malformed.values().sum();
        assert_eq!(
            report.decoded.values().sum::<u64>()
                + report.other
                + report.unsupported_link
                + malformed,
            report.frames,
            "{}: {report:?}",
            file.display()
        );
    }
    // tshark: hardware type 12336, hardware size 14 (tcpdump's expected output agrees).
    let (_, report) = run("tcpdump/malformed/arp-too-long-tha.pcap");
    assert_eq!(report.malformed.get("ARP not Ethernet/IPv4"), Some(&1));
}

#[test]
fn a_file_that_is_not_a_capture_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "this is not a capture at all").unwrap();
    let error = replay(&path, Shaping::Off, |_| {}).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("is not a pcap or pcapng capture"),
        "{error}"
    );
}

#[test]
fn a_tiny_file_is_not_a_capture_rather_than_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [("empty", &b""[..]), ("three", &b"\n\r\r"[..])] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let error = replay(&path, Shaping::Off, |_| {}).unwrap_err();
        assert!(matches!(error, ReplayError::Format { .. }), "{error}");
    }
}

#[test]
fn a_capture_cut_short_keeps_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(corpus("zeek/arp-who-has.pcap")).unwrap();
    let path = dir.path().join("cut.pcap");
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    let report = replay(&path, Shaping::Off, |_| {}).unwrap();
    assert_eq!(report.frames, 1);
    assert!(report.truncated.is_some());
}
