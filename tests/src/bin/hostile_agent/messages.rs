//! What the hostile agent sends: well-formed messages from the generated types, and raw bytes
//! for the ones no honest encoder would produce.

use bytes::Bytes;
use hygie_proto::{MacAddr, Observation, Source, pb};
use jiff::Timestamp;

use crate::grpc::{PREFIX_LEN, frame, prefix};

/// Field 2 (`AgentMessage.batch`, `ObservationBatch.observations`), length-delimited.
const TAG_2_LEN: u8 = 0x12;
/// Field 1 (`ObservationBatch.sequence`), varint.
const TAG_1_VARINT: u8 = 0x08;
/// Field 15, length-delimited: unknown to the contract, so skipped by any decoder.
const TAG_15_LEN: u8 = 0x7a;

/// A random outbox id: each stream of an attack may claim an outbox of its own.
pub(crate) fn outbox() -> [u8; 16] {
    rand::random()
}

pub(crate) fn hello(outbox: [u8; 16]) -> Bytes {
    frame(&pb::AgentMessage {
        kind: Some(pb::agent_message::Kind::Hello(pb::Hello {
            agent_version: "0.1.0".into(),
            hostname: "hostile".into(),
            interfaces: vec![],
            outbox_id: outbox.to_vec(),
        })),
    })
}

pub(crate) fn batch(sequence: u64, observations: Vec<pb::Observation>) -> Bytes {
    frame(&pb::AgentMessage {
        kind: Some(pb::agent_message::Kind::Batch(pb::ObservationBatch {
            sequence,
            observations,
        })),
    })
}

/// A valid observation of `mac`, seen now.
pub(crate) fn observation(mac: MacAddr) -> pb::Observation {
    let mut observation = Observation::new(mac, Timestamp::now(), Source::ArpPassive);
    observation.interface = "eth0".into();
    pb::Observation::from(&observation)
}

fn varint(mut value: usize, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_len(value: usize) -> usize {
    let mut out = Vec::new();
    varint(value, &mut out);
    out.len()
}

/// A batch of `count` empty observations (two bytes each on the wire), prefix included: prost
/// would decode each into a full `Observation`, a hundred times its size.
pub(crate) fn amplified(count: usize) -> Bytes {
    let inner_len = 2 + 2 * count;
    let mut body = Vec::with_capacity(PREFIX_LEN + 1 + varint_len(inner_len) + inner_len);
    body.extend_from_slice(&[0; PREFIX_LEN]);
    body.push(TAG_2_LEN);
    varint(inner_len, &mut body);
    body.extend_from_slice(&[TAG_1_VARINT, 1]);
    for _ in 0..count {
        body.extend_from_slice(&[TAG_2_LEN, 0]);
    }
    let len = body.len() - PREFIX_LEN;
    body[..PREFIX_LEN].copy_from_slice(&prefix(len));
    body.into()
}

/// The prefix of a message claiming `claim` bytes, and its first `percent` % : a batch whose
/// bulk is one unknown field, well-formed as far as it goes, so only a deadline can end it.
pub(crate) fn stalled(claim: usize, percent: u8) -> Bytes {
    // AgentMessage{batch: ObservationBatch{sequence: 1, field 15: padding}} of exactly `claim`
    // bytes: find the padding whose framing makes it fit.
    let size = |pad: usize| {
        let inner = 2 + 1 + varint_len(pad) + pad;
        1 + varint_len(inner) + inner
    };
    let mut pad = claim.saturating_sub(16);
    for _ in 0..8 {
        match size(pad) {
            s if s > claim => pad -= (s - claim).min(pad),
            s if s < claim => pad += claim - s,
            _ => break,
        }
    }
    let inner = 2 + 1 + varint_len(pad) + pad;
    let mut body = Vec::with_capacity(PREFIX_LEN + claim);
    body.push(TAG_2_LEN);
    varint(inner, &mut body);
    body.extend_from_slice(&[TAG_1_VARINT, 1, TAG_15_LEN]);
    varint(pad, &mut body);
    body.resize(1 + varint_len(inner) + inner, 0);
    let whole = body.len();
    let keep = whole * usize::from(percent.min(99)) / 100;
    body.truncate(keep.max(16));
    let mut framed = prefix(whole).to_vec();
    framed.extend_from_slice(&body);
    framed.into()
}

/// Never-seen unicast, globally administered MACs.
#[derive(Debug)]
pub(crate) struct MacSource {
    base: u64,
    next: u64,
}

impl MacSource {
    pub(crate) fn random() -> Self {
        MacSource {
            base: rand::random(),
            next: 0,
        }
    }

    pub(crate) fn take(&mut self, count: usize) -> Vec<pb::Observation> {
        (0..count)
            .map(|_| {
                // An odd multiplier spreads the counter over all 48 bits without repeating.
                let value = self
                    .base
                    .wrapping_add(self.next.wrapping_mul(0x9e37_79b9_7f4b));
                self.next += 1;
                // Clear the group and the locally-administered bits of the first octet.
                let mac = MacAddr::from_u64(value & 0xfcff_ffff_ffff | 1);
                observation(mac)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_message_claims_exactly_what_was_asked() {
        let claim = hygie_proto::limits::MAX_MESSAGE_BYTES;
        let framed = stalled(claim, 100);
        let len = u32::from_be_bytes([framed[1], framed[2], framed[3], framed[4]]) as usize;
        assert_eq!(len, claim);
        assert!(framed.len() < PREFIX_LEN + claim);
        assert!(stalled(claim, 94).len() < framed.len());
    }

    #[test]
    fn an_amplified_batch_is_what_it_says() {
        let framed = amplified(1000);
        let len = u32::from_be_bytes([framed[1], framed[2], framed[3], framed[4]]) as usize;
        assert_eq!(len + PREFIX_LEN, framed.len());
        let message = <pb::AgentMessage as prost::Message>::decode(&framed[PREFIX_LEN..]).unwrap();
        let Some(pb::agent_message::Kind::Batch(batch)) = message.kind else {
            panic!("not a batch");
        };
        assert_eq!((batch.sequence, batch.observations.len()), (1, 1000));
    }

    #[test]
    fn invented_macs_are_distinct_devices() {
        let mut source = MacSource::random();
        let macs: std::collections::BTreeSet<_> =
            source.take(5000).into_iter().map(|o| o.mac).collect();
        assert_eq!(macs.len(), 5000);
        assert!(
            macs.iter()
                .all(|mac| MacAddr::from_slice(mac).unwrap().is_device())
        );
    }
}
