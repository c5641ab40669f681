//! Fitting one observation into [`limits::MAX_OBSERVATION_BYTES`] before it is stored or sent.
//!
//! The per-field limits allow observations far larger than one is in practice (64 services of
//! 64 TXT entries of 512 bytes). Rather than refuse what a device announced, the agent keeps as
//! much as fits, dropping in order of least worth: TXT entries of the largest service first
//! (their keys and values describe, they do not identify), then whole services from the last,
//! then the protocol detail. Addresses, the MAC, the interface and the host name always fit.

use hygie_domain::{Observation, limits};
use prost::Message;

use crate::pb;

/// Encodes `observation` as a `hygie.v1.Observation` of at most
/// [`limits::MAX_OBSERVATION_BYTES`]; returns the bytes and whether anything was dropped.
pub fn encode_observation(observation: &Observation) -> (Vec<u8>, bool) {
    let mut wire = pb::Observation::from(observation);
    let mut trimmed = false;
    while wire.encoded_len() > limits::MAX_OBSERVATION_BYTES {
        trimmed = true;
        if let Some(service) = wire
            .services
            .iter_mut()
            .filter(|service| !service.txt.is_empty())
            .max_by_key(|service| service.encoded_len())
        {
            // Halve rather than pop one by one: a worst-case observation fits in a few rounds.
            let keep = service.txt.len() / 2;
            service.txt.truncate(keep);
        } else if !wire.services.is_empty() {
            let keep = wire.services.len() / 2;
            wire.services.truncate(keep);
        } else if wire.detail.is_some() {
            wire.detail = None;
        } else {
            // Unreachable within the field limits; never loop forever on a future field.
            wire.hostname.clear();
            break;
        }
    }
    (wire.encode_to_vec(), trimmed)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use hygie_domain::{MacAddr, MdnsService, Source};
    use jiff::Timestamp;

    use super::*;

    fn huge() -> Observation {
        let mut observation = Observation::new(
            MacAddr::new([0x00, 0x09, 0x5c, 1, 2, 3]),
            Timestamp::from_second(1_795_000_000).unwrap(),
            Source::Mdns,
        );
        observation.hostname = Some("printer.local".into());
        observation.services = (0..limits::MAX_SERVICES)
            .map(|index| MdnsService {
                instance: format!("{index:0>200}._ipp._tcp.local."),
                service_type: "_ipp._tcp.local.".into(),
                port: Some(631),
                txt: (0..limits::MAX_TXT_ENTRIES)
                    .map(|key| {
                        (
                            format!("k{key}"),
                            Some("v".repeat(limits::MAX_TXT_VALUE_LEN)),
                        )
                    })
                    .collect::<BTreeMap<_, _>>(),
            })
            .collect();
        observation
    }

    #[test]
    fn a_worst_case_observation_is_trimmed_to_the_limit_and_still_valid() {
        let observation = huge();
        assert!(observation.check().is_ok());
        let (bytes, trimmed) = encode_observation(&observation);
        assert!(trimmed);
        assert!(
            bytes.len() <= limits::MAX_OBSERVATION_BYTES,
            "{}",
            bytes.len()
        );
        let decoded = Observation::try_from(pb::Observation::decode(bytes.as_slice()).unwrap())
            .expect("a trimmed observation is still valid");
        assert_eq!(decoded.mac, observation.mac);
        assert_eq!(decoded.hostname, observation.hostname);
        assert!(
            !decoded.services.is_empty(),
            "services are kept, their TXT trimmed first"
        );
    }

    #[test]
    fn an_ordinary_observation_is_encoded_unchanged() {
        let mut observation = huge();
        observation.services.truncate(2);
        for service in &mut observation.services {
            service.txt.retain(|key, _| key.len() < 3);
            for value in service.txt.values_mut() {
                *value = Some("x".into());
            }
        }
        let (bytes, trimmed) = encode_observation(&observation);
        assert!(!trimmed);
        assert_eq!(bytes, pb::Observation::from(&observation).encode_to_vec());
    }
}
