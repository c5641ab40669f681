//! Whole frames through `hygie_decode::decode`, as live capture and replay hand them over: the
//! first byte picks the link type. Invariants 1 to 3 of `hygie_fuzz`.
#![no_main]

use hygie_decode::{LinkType, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&link, frame)) = data.split_first() else {
        return;
    };
    let link = match link % 3 {
        0 => LinkType::Ethernet,
        1 => LinkType::LinuxSll,
        _ => LinkType::LinuxSll2,
    };
    if let Ok(Some(heard)) = decode(link, frame) {
        hygie_fuzz::check_heard(&heard);
    }
});
