//! Arbitrary bytes as a `hygie.v1.Hello`: a converted Hello passes its check and survives
//! domain → wire → domain (invariant 4 of `hygie_fuzz`).
#![no_main]

use hygie_domain::AgentHello;
use hygie_proto::pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(wire) = pb::Hello::decode(data) else {
        return;
    };
    let Ok(hello) = AgentHello::try_from(wire) else {
        return;
    };
    if let Err(error) = hello.check() {
        panic!("a converted Hello fails its check: {error}");
    }
    let back = AgentHello::try_from(pb::Hello::from(&hello));
    assert_eq!(back.as_ref(), Ok(&hello));
});
