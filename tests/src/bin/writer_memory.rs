//! Writer memory: the resident memory the writer's in-memory inventory takes per asset.
//!
//! Merges N synthetic devices ([`hygie_tests::observations::device`], one address, one host
//! name, a service for every third) into an [`Inventory`] in groups of 5,000, as the writer
//! does, and prints the growth of the resident set divided by N. Run it on a release build:
//! `cargo run --release -p hygie-tests --bin writer-memory -- 1000000`.

use anyhow::{Context, Result};
use hygie_collector::inventory::{Dirty, Inventory};
use hygie_tests::observations::device;
use jiff::{SignedDuration, Timestamp};

/// Observations merged per group, as the writer's groups are about this size.
const GROUP: u32 = 5_000;

fn main() -> Result<()> {
    let count: u32 = std::env::args()
        .nth(1)
        .map_or(Ok(1_000_000), |arg| arg.parse())
        .context("usage: writer-memory [N]")?;
    let start: Timestamp = "2026-11-25T08:00:00Z".parse()?;
    let before = resident_bytes()?;
    let mut inventory = Inventory::new();
    let mut first = 0;
    while first < count {
        let end = first.saturating_add(GROUP).min(count);
        let mut dirty = Dirty::default();
        for n in first..end {
            let at = start + SignedDuration::from_secs(i64::from(n % 86_400));
            inventory.merge(1, &device(n, at), &mut dirty);
        }
        first = end;
    }
    let after = resident_bytes()?;
    let grown = after.saturating_sub(before);
    println!(
        "assets {} resident {:.1} MB (+{:.1} MB) bytes/asset {}",
        inventory.len(),
        mb(after),
        mb(grown),
        grown / u64::from(count.max(1)),
    );
    Ok(())
}

/// This process's resident set (`VmRSS` in `/proc/self/status`), in bytes.
fn resident_bytes() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .context("no VmRSS in /proc/self/status")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()?;
    Ok(kib * 1024)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
