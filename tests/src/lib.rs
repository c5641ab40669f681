//! Shared pieces of Hygie's end-to-end tests, demo and benchmarks: the built binaries, a test
//! PKI, collector and agent processes, observation generators and, for discovery, the
//! simulated facility network.
//!
//! Every process started here is killed when its handle is dropped, and every file lives in a
//! temporary directory, so a failing test leaves nothing behind.

pub mod bins;
pub mod browser;
pub mod facility;
pub mod fleet;
pub mod glpi;
pub mod measure;
pub mod netns;
pub mod observations;
pub mod pki;
pub mod process;
pub mod relay;
pub mod scrape;
pub mod stream;
pub mod tally;
pub mod tmpfs;

use std::time::{Duration, Instant};

/// Polls `condition` every `poll` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, poll: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(poll);
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
