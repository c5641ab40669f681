//! What every fuzz target shares: how an input becomes a sender and a payload, and the
//! invariants checked on whatever a decoder or a conversion produces.
//!
//! The invariants, each cited by the targets:
//! 1. A decoded frame's sighting of a device always becomes an observation
//!    ([`hygie_decode::Heard::observation`] may drop unusable addresses, nothing else).
//! 2. Every observation a decoder produces passes [`Observation::check`], the contract.
//! 3. What the agent sends, the collector accepts: an observation converts to the wire and back
//!    to itself, and [`encode_observation`] fits it in [`limits::MAX_OBSERVATION_BYTES`] in a
//!    form the collector still accepts.
//! 4. A conversion that succeeds yields a value whose `check()` passes, and converting that
//!    value to the wire and back gives it again (domain → wire → domain is the identity).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hygie_decode::{Heard, Hearing, Message, Sender};
use hygie_domain::{MacAddr, Observation, is_device_ip, limits};
use hygie_proto::{encode_observation, pb};
use jiff::Timestamp;
use prost::Message as _;

/// The agent's own address in the `Live` hearing (an ARP reply to it is `arp_active`).
const OWN: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2))];

/// Splits an input into the sender of a per-protocol payload and the payload.
///
/// Layout: a flags byte (bit 0: the frame came from the link, bit 1: an IPv6 source), six
/// bytes of source MAC, then four or sixteen bytes of source address. `tests/fuzz/seeds.py`
/// writes the corpus's payloads in this layout.
pub fn sender_and_payload(data: &[u8]) -> Option<(Sender, &[u8])> {
    let (&flags, rest) = data.split_first()?;
    let (mac, rest) = rest.split_first_chunk::<6>()?;
    let (ip, rest) = if flags & 2 == 0 {
        let (octets, rest) = rest.split_first_chunk::<4>()?;
        (IpAddr::V4(Ipv4Addr::from(*octets)), rest)
    } else {
        let (octets, rest) = rest.split_first_chunk::<16>()?;
        (IpAddr::V6(Ipv6Addr::from(*octets)), rest)
    };
    let sender = Sender {
        mac: MacAddr::new(*mac),
        ip: Some(ip),
        on_link: flags & 1 == 1,
    };
    Some((sender, rest))
}

/// Wraps a decoded message as [`hygie_decode::decode`] would, and checks it (see
/// [`check_heard`]).
pub fn check_message(sender: Sender, message: Message) {
    check_heard(&Heard {
        sender,
        vlan: None,
        message,
    });
}

/// Everything a caller does with a decoded frame, with invariants 1 to 3.
pub fn check_heard(heard: &Heard) {
    if let Some((mac, ip)) = heard.neighbour() {
        assert!(mac.is_device(), "neighbour {mac} is not a device");
        assert!(is_device_ip(ip), "neighbour address {ip} is unusable");
    }
    let sighting = heard.sighting();
    let seen_at = Timestamp::from_second(1_795_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    for hearing in [Hearing::Live { own: &OWN }, Hearing::Capture] {
        let observation = heard.observation(seen_at, "eth0", hearing);
        match (&sighting, observation) {
            (Some(sighting), None) => {
                // Invariant 1.
                assert!(
                    !sighting.mac.is_some_and(MacAddr::is_device),
                    "a sighting of a device was dropped: {sighting:?} from {heard:?}"
                );
            }
            (sighting, Some(observation)) => {
                assert_eq!(
                    sighting.as_ref().and_then(|sighting| sighting.mac),
                    Some(observation.mac),
                    "the observation is not about the device sighted"
                );
                // The two hearings differ only in the source: the wire round trip (the
                // costly part) once is enough.
                match hearing {
                    Hearing::Capture => check_observation(&observation),
                    Hearing::Live { .. } => {
                        if let Err(error) = observation.check() {
                            panic!("{error}: {observation:?}");
                        }
                    }
                }
            }
            (None, None) => {}
        }
    }
}

/// Invariants 2 and 3 on an observation an agent would send.
pub fn check_observation(observation: &Observation) {
    if let Err(error) = observation.check() {
        panic!("{error}: {observation:?}");
    }
    let back = Observation::try_from(pb::Observation::from(observation));
    assert_eq!(
        back.as_ref(),
        Ok(observation),
        "the collector reads another observation than the agent sent"
    );
    let (bytes, _) = encode_observation(observation);
    assert!(
        bytes.len() <= limits::MAX_OBSERVATION_BYTES,
        "{} encoded bytes",
        bytes.len()
    );
    let wire = pb::Observation::decode(bytes.as_slice()).expect("our own encoding decodes");
    if let Err(error) = Observation::try_from(wire) {
        panic!("a fitted observation is refused: {error}: {observation:?}");
    }
}

/// Invariant 4 for observations read from the wire: checked, and stable through the wire.
pub fn check_converted_observation(observation: &Observation) {
    if let Err(error) = observation.check() {
        panic!("a converted observation fails its check: {error}: {observation:?}");
    }
    check_observation(observation);
}
