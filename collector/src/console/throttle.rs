//! Slowing down password guessing, per address and per account. Pure: time is passed in.
//!
//! Invariants (tests below are named after them):
//! 1. The first [`FREE_FAILURES`] failures of an address or an account cost nothing more; from
//!    then on each attempt waits `2^(failures - FREE_FAILURES)` seconds after the last failure,
//!    at most [`MAX_DELAY`]. A login refused for waiting is not checked (no password hashing)
//!    and counts as nothing.
//! 2. An address and an account are throttled apart: guessing one account from many addresses
//!    slows that account, guessing many accounts from one address slows that address. (An
//!    attacker can so slow a real user's logins; the delay is bounded to keep that a nuisance.)
//! 3. A success clears the account and the address; failures are forgotten [`FORGET_AFTER`]
//!    after the last one.
//! 4. IPv6 addresses count by /64, the block one client usually holds.
//! 5. The table is bounded ([`MAX_ENTRIES`] per kind); when full the oldest entries go.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};

/// Failures allowed before any wait.
pub(crate) const FREE_FAILURES: u32 = 5;
/// Longest wait between attempts.
pub(crate) const MAX_DELAY: SignedDuration = SignedDuration::from_mins(15);
/// How long failures are remembered.
pub(crate) const FORGET_AFTER: SignedDuration = SignedDuration::from_hours(1);
/// Most addresses (and accounts) tracked.
pub(crate) const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Timestamp,
}

impl Failures {
    fn ready_at(self) -> Option<Timestamp> {
        if self.count < FREE_FAILURES {
            return None;
        }
        let exponent = (self.count - FREE_FAILURES).min(20);
        let delay = SignedDuration::from_secs(1i64 << exponent).min(MAX_DELAY);
        Some(self.last + delay)
    }
}

#[derive(Debug)]
struct Table<K> {
    entries: HashMap<K, Failures>,
}

impl<K: Eq + Hash + Clone> Table<K> {
    fn new() -> Self {
        Table {
            entries: HashMap::new(),
        }
    }

    fn ready_at(&self, key: &K, now: Timestamp) -> Option<Timestamp> {
        let failures = self.entries.get(key)?;
        if now.duration_since(failures.last) >= FORGET_AFTER {
            return None;
        }
        failures.ready_at().filter(|ready| *ready > now)
    }

    fn fail(&mut self, key: K, now: Timestamp) {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(&key) {
            self.entries
                .retain(|_, failures| now.duration_since(failures.last) < FORGET_AFTER);
            if self.entries.len() >= MAX_ENTRIES
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, failures)| failures.last)
                    .map(|(key, _)| key.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        let entry = self.entries.entry(key).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(entry.last) >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }
}

/// Login attempts' bookkeeping.
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    addresses: Table<IpAddr>,
    accounts: Table<String>,
}

/// The address as counted (Invariant 4).
fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

impl LoginThrottle {
    /// Nothing recorded.
    pub(crate) fn new() -> Self {
        LoginThrottle {
            addresses: Table::new(),
            accounts: Table::new(),
        }
    }

    /// `Err(wait)` when an attempt from `address` for `account` must wait (Invariant 1).
    pub(crate) fn check(
        &self,
        now: Timestamp,
        address: IpAddr,
        account: &str,
    ) -> Result<(), SignedDuration> {
        let ready = [
            self.addresses.ready_at(&client_key(address), now),
            self.accounts.ready_at(&account.to_owned(), now),
        ]
        .into_iter()
        .flatten()
        .max();
        match ready {
            Some(ready) => Err(ready.duration_since(now)),
            None => Ok(()),
        }
    }

    /// Records a failed attempt (a wrong password or an unknown account).
    pub(crate) fn failed(&mut self, now: Timestamp, address: IpAddr, account: &str) {
        self.addresses.fail(client_key(address), now);
        self.accounts.fail(account.to_owned(), now);
    }

    /// Records a success (Invariant 3).
    pub(crate) fn succeeded(&mut self, address: IpAddr, account: &str) {
        self.addresses.entries.remove(&client_key(address));
        self.accounts.entries.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn invariant_1_free_failures_then_doubling_waits() {
        let mut throttle = LoginThrottle::new();
        let address = ip("198.18.0.10");
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed(at(0), address, "alice");
            assert_eq!(throttle.check(at(0), address, "alice"), Ok(()));
        }
        throttle.failed(at(0), address, "alice");
        assert_eq!(
            throttle.check(at(0), address, "alice"),
            Err(SignedDuration::from_secs(1))
        );
        assert_eq!(throttle.check(at(1), address, "alice"), Ok(()));
        throttle.failed(at(1), address, "alice");
        assert_eq!(
            throttle.check(at(1), address, "alice"),
            Err(SignedDuration::from_secs(2))
        );
        let mut now = 1;
        for _ in 0..30 {
            now += 1000;
            throttle.failed(at(now), address, "alice");
        }
        assert_eq!(throttle.check(at(now), address, "alice"), Err(MAX_DELAY));
    }

    #[test]
    fn invariant_2_addresses_and_accounts_apart() {
        let mut throttle = LoginThrottle::new();
        for index in 0..FREE_FAILURES {
            throttle.failed(at(0), ip(&format!("198.18.0.{}", 10 + index)), "admin");
        }
        assert!(throttle.check(at(0), ip("198.18.0.99"), "admin").is_err());
        assert!(throttle.check(at(0), ip("198.18.0.99"), "bob").is_ok());
        let mut throttle = LoginThrottle::new();
        for index in 0..FREE_FAILURES {
            throttle.failed(at(0), ip("198.18.0.10"), &format!("user{index}"));
        }
        assert!(throttle.check(at(0), ip("198.18.0.10"), "anyone").is_err());
        assert!(throttle.check(at(0), ip("198.18.0.11"), "anyone").is_ok());
    }

    #[test]
    fn invariant_3_success_clears_and_failures_are_forgotten() {
        let mut throttle = LoginThrottle::new();
        let address = ip("198.18.0.10");
        for _ in 0..FREE_FAILURES {
            throttle.failed(at(0), address, "alice");
        }
        throttle.succeeded(address, "alice");
        assert!(throttle.check(at(0), address, "alice").is_ok());
        for _ in 0..FREE_FAILURES + 10 {
            throttle.failed(at(0), address, "alice");
        }
        assert!(throttle.check(at(899), address, "alice").is_err());
        assert!(
            throttle.check(at(900), address, "alice").is_ok(),
            "at most MAX_DELAY"
        );
        // An hour after the last failure, the count starts again.
        throttle.failed(at(3600), address, "alice");
        assert!(
            throttle.check(at(3600), address, "alice").is_ok(),
            "counted anew"
        );
    }

    #[test]
    fn invariant_4_ipv6_counts_by_64() {
        let mut throttle = LoginThrottle::new();
        for index in 0..FREE_FAILURES {
            throttle.failed(
                at(0),
                ip(&format!("2001:db8::{index:x}")),
                &format!("u{index}"),
            );
        }
        assert!(throttle.check(at(0), ip("2001:db8::ffff"), "x").is_err());
        assert!(throttle.check(at(0), ip("2001:db8:0:1::1"), "x").is_ok());
        assert_eq!(client_key(ip("::ffff:198.18.0.1")), ip("198.18.0.1"));
    }

    #[test]
    fn invariant_5_the_table_is_bounded() {
        let mut throttle = LoginThrottle::new();
        for index in 0..MAX_ENTRIES + 10 {
            let index = u32::try_from(index).unwrap();
            throttle.failed(at(i64::from(index)), IpAddr::from(index.to_be_bytes()), "a");
        }
        assert!(throttle.addresses.entries.len() <= MAX_ENTRIES);
        assert!(
            !throttle
                .addresses
                .entries
                .contains_key(&IpAddr::from(0u32.to_be_bytes())),
            "the oldest went"
        );
    }
}
