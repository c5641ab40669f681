//! mDNS payloads (what follows the UDP header) through `mdns::parse_message`, behind a fuzzed sender.
//! Invariants 1 to 3 of `hygie_fuzz`.
#![no_main]

use hygie_decode::{Message, mdns};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((sender, payload)) = hygie_fuzz::sender_and_payload(data) else {
        return;
    };
    let Some(source_ip) = sender.ip else {
        return;
    };
    if let Ok(message) = mdns::parse_message(source_ip, payload) {
        hygie_fuzz::check_message(sender, Message::Mdns(message));
    }
});
