//! ARP payloads (what follows the ethertype) through `arp::parse_arp`, behind a fuzzed sender.
//! Invariants 1 to 3 of `hygie_fuzz`.
#![no_main]

use hygie_decode::{Message, arp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((sender, payload)) = hygie_fuzz::sender_and_payload(data) else {
        return;
    };
    if let Ok(packet) = arp::parse_arp(payload) {
        hygie_fuzz::check_message(sender, Message::Arp(packet));
    }
});
