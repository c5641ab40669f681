//! ICMPv6 neighbour discovery payloads (what follows the IPv6 header) through `nd::parse`, behind a fuzzed sender.
//! Invariants 1 to 3 of `hygie_fuzz`.
#![no_main]

use hygie_decode::{Message, nd};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((sender, payload)) = hygie_fuzz::sender_and_payload(data) else {
        return;
    };
    if let Ok(Some(packet)) = nd::parse(payload) {
        hygie_fuzz::check_message(sender, Message::Nd(packet));
    }
});
