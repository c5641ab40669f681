//! Arbitrary bytes as a `hygie.v1.Observation`, converted as the collector does: what converts
//! passes its check and survives domain → wire → domain (invariant 4 of `hygie_fuzz`).
#![no_main]

use hygie_domain::Observation;
use hygie_proto::pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(wire) = pb::Observation::decode(data) else {
        return;
    };
    if let Ok(observation) = Observation::try_from(wire) {
        hygie_fuzz::check_converted_observation(&observation);
    }
});
