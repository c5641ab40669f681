//! Arbitrary bytes through the collector's receive path: the wire check, prost, then the
//! conversion of whichever message it is. Whatever converts passes its check and survives
//! domain → wire → domain (invariant 4 of `hygie_fuzz`).
#![no_main]

use hygie_domain::{AgentHello, ObservationBatch};
use hygie_proto::pb::agent_message::Kind;
use hygie_proto::{pb, wire};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(shape) = wire::check_agent_message(data) else {
        return;
    };
    let Ok(message) = pb::AgentMessage::decode(data) else {
        return;
    };
    let kind_number = match &message.kind {
        None => 0,
        Some(Kind::Hello(_)) => 1,
        Some(Kind::Batch(_)) => 2,
        Some(Kind::Heartbeat(_)) => 3,
    };
    assert_eq!(
        shape.kind, kind_number,
        "the wire check names another kind than prost"
    );
    match message.kind {
        Some(Kind::Hello(hello)) => {
            if let Ok(hello) = AgentHello::try_from(hello) {
                assert!(hello.check().is_ok());
                assert_eq!(
                    AgentHello::try_from(pb::Hello::from(&hello)).as_ref(),
                    Ok(&hello)
                );
            }
        }
        Some(Kind::Batch(batch)) => {
            let wire_sequence = batch.sequence;
            if let Ok(batch) = ObservationBatch::try_from(batch) {
                assert_eq!(
                    shape.sequence,
                    Some(wire_sequence),
                    "the refusal would name another batch"
                );
                assert!(batch.check().is_ok());
                for observation in &batch.observations {
                    hygie_fuzz::check_converted_observation(observation);
                }
                let back = ObservationBatch::try_from(pb::ObservationBatch::from(&batch));
                assert_eq!(back.as_ref(), Ok(&batch));
            }
        }
        Some(Kind::Heartbeat(_)) | None => {}
    }
});
