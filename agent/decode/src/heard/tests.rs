//! Every decoder behind [`decode`], on random bytes and on mutated real frames: none of it may
//! panic, and every observation it produces must pass the contract.

use std::net::Ipv4Addr;

use super::*;
use crate::testing::{Noise, corpus_frames};

/// Everything a caller does with a decoded frame.
fn exercise(link: LinkType, bytes: &[u8]) {
    let Ok(Some(heard)) = decode(link, bytes) else {
        return;
    };
    let _ = heard.neighbour();
    let own = [IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2))];
    for hearing in [Hearing::Live { own: &own }, Hearing::Capture] {
        if let Some(observation) = heard.observation(Timestamp::UNIX_EPOCH, "eth0", hearing) {
            observation
                .check()
                .unwrap_or_else(|error| panic!("{error}: {observation:?} from {bytes:02x?}"));
        }
    }
}

#[test]
fn random_bytes_never_panic_on_any_link_type() {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    for link in [LinkType::Ethernet, LinkType::LinuxSll, LinkType::LinuxSll2] {
        for _ in 0..20_000 {
            let len = noise.below(400);
            let bytes: Vec<u8> = (0..len).map(|_| noise.byte()).collect();
            exercise(link, &bytes);
        }
    }
}

/// Captures holding every protocol decoded, from the test corpus.
const CAPTURES: &[&str] = &[
    "ndpi/iphone.pcap",
    "ndpi/android.pcap",
    "ndpi/gnutella.pcap",
    "ndpi/netbios.pcap",
    "ndpi/capwap.pcap",
    "zeek/dns_mdns.pcap",
    "zeek/arp-who-has.pcap",
    "zeek/linuxsll-arp.pcap",
    "zeek/q-in-q.pcap",
    "zeek/dhcp_dhcp.pcap",
    "zeek/raw_packets.pcap",
    "zeek/lldp.pcap",
    "zeek/cdp-v1.pcap",
    "tcpdump/3560_CDP.pcap",
    "tcpdump/LLDP_and_CDP.pcap",
    "tcpdump/dhcp-mud.pcap",
    "tcpdump/dhcpv4v6-rfc5970-rfc8572.pcap",
    "tcpdump/eapon1.pcap",
    "tcpdump/lldp_mudurl.pcap",
    "iot-sentinel/HueBridge/Setup-A-3-STA.pcap",
    "iot-sentinel/WeMoSwitch/Setup-A-3-STA.pcap",
];

#[test]
fn mutated_real_frames_never_panic() {
    let mut noise = Noise(0x0123_4567_89ab_cdef);
    for capture in CAPTURES {
        let (link, frames) = corpus_frames(capture);
        assert!(!frames.is_empty(), "{capture}");
        // Every frame of small captures, a sample of large ones.
        let step = (frames.len() / 150).max(1);
        for frame in frames.iter().step_by(step) {
            exercise(link, frame);
            for _ in 0..100 {
                let mut mutated = frame.clone();
                // A few flipped bytes, then perhaps a cut: what a bad cable or a hostile
                // sender produce.
                for _ in 0..1 + noise.below(4) {
                    let at = noise.below(mutated.len());
                    mutated[at] = noise.byte();
                }
                if noise.below(4) == 0 {
                    mutated.truncate(noise.below(mutated.len() + 1));
                }
                exercise(link, &mutated);
            }
        }
    }
}

#[test]
fn the_malformed_corpus_is_refused_or_decoded_without_panic() {
    for capture in [
        "tcpdump/malformed/bootp_asan.pcap",
        "tcpdump/malformed/bootp_asan-2.pcap",
        "tcpdump/malformed/hoobr_safeputs.pcap",
        "tcpdump/malformed/lldp-infinite-loop-1.pcap",
        "tcpdump/malformed/lldp-infinite-loop-2.pcap",
        "tcpdump/malformed/lldp_8023_mtu-oobr.pcap",
        "tcpdump/malformed/lldp_asan.pcap",
        "tcpdump/malformed/lldp_mgmt_addr_tlv_asan.pcap",
        "tcpdump/malformed/nbns-valgrind.pcap",
        "zeek/malformed/dhcp_bad_cookie_option_retention.pcap",
    ] {
        let (link, frames) = corpus_frames(capture);
        for frame in &frames {
            exercise(link, frame);
        }
    }
}
