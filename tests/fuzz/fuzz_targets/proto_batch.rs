//! Arbitrary bytes as a `hygie.v1.ObservationBatch`: a converted batch passes its check, each
//! observation invariant 4 of `hygie_fuzz`, and the batch survives domain → wire → domain.
#![no_main]

use hygie_domain::ObservationBatch;
use hygie_proto::pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(wire) = pb::ObservationBatch::decode(data) else {
        return;
    };
    let Ok(batch) = ObservationBatch::try_from(wire) else {
        return;
    };
    if let Err(error) = batch.check() {
        panic!("a converted batch fails its check: {error}");
    }
    for observation in &batch.observations {
        hygie_fuzz::check_converted_observation(observation);
    }
    let back = ObservationBatch::try_from(pb::ObservationBatch::from(&batch));
    assert_eq!(back.as_ref(), Ok(&batch));
});
