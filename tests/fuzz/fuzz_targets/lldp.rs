//! LLDP payloads (what follows the ethertype) through `lldp::parse`, behind a fuzzed sender.
//! Invariants 1 to 3 of `hygie_fuzz`.
#![no_main]

use hygie_decode::{Message, lldp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((sender, payload)) = hygie_fuzz::sender_and_payload(data) else {
        return;
    };
    if let Ok(details) = lldp::parse(payload) {
        hygie_fuzz::check_message(sender, Message::Lldp(details));
    }
});
