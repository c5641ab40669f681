//! Active ARP sweeps, made safe for fragile equipment.
//!
//! - [`plan`] turns the configured CIDRs into the list of addresses that may be probed: never the
//!   agent's own, never an excluded range, never a block larger than /16 unless explicitly
//!   allowed. Nothing outside a [`SweepPlan`] is ever probed.
//! - [`RateLimiter`] spaces every probe at least `1/rate` seconds after the previous one, for all
//!   interfaces together, so no one-second window ever holds more than `rate` probes.
//! - [`Sweeper`] decides, given the time, what to do next: probe an address, wait, or finish.
//!   Addresses already heard from (passively or by an earlier answer) are not probed; addresses
//!   whose known MAC is excluded are skipped; unanswered probes are retried a bounded number of
//!   times after a timeout.
//!
//! All of it is pure: time is passed in, so tests drive it with canned replies.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

/// Largest block swept without `allow_large`.
pub const MAX_DEFAULT_PREFIX: u8 = 16;

/// A sweep that must not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{0} is larger than /16; set allow_large = true to sweep it")]
    TooLarge(Ipv4Net),
}

/// The addresses a sweep may probe, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepPlan {
    targets: Vec<Ipv4Addr>,
    allowed: Vec<Ipv4Net>,
    /// Addresses left out because an exclusion covers them.
    pub excluded: usize,
}

impl SweepPlan {
    /// The addresses to probe.
    pub fn targets(&self) -> &[Ipv4Addr] {
        &self.targets
    }

    /// Whether `address` may be probed: the last guard before a frame leaves.
    pub fn permits(&self, address: Ipv4Addr) -> bool {
        self.allowed.iter().any(|net| net.contains(&address))
            && self.targets.binary_search(&address).is_ok()
    }
}

/// Plans a sweep of `cidrs` minus `exclude` and the agent's own addresses.
pub fn plan(
    cidrs: &[Ipv4Net],
    exclude: &[Ipv4Net],
    own: &[Ipv4Addr],
    allow_large: bool,
) -> Result<SweepPlan, PlanError> {
    let mut targets = BTreeSet::new();
    let mut excluded = 0;
    for cidr in cidrs {
        if cidr.prefix_len() < MAX_DEFAULT_PREFIX && !allow_large {
            return Err(PlanError::TooLarge(*cidr));
        }
        // For /31 and /32 every address is a host; below, hosts() skips network and broadcast.
        for address in cidr.hosts() {
            if own.contains(&address) {
                continue;
            }
            if exclude.iter().any(|net| net.contains(&address)) {
                excluded += 1;
                continue;
            }
            targets.insert(address);
        }
    }
    Ok(SweepPlan {
        targets: targets.into_iter().collect(),
        allowed: cidrs.to_vec(),
        excluded,
    })
}

/// Spaces probes at least `1/rate` apart. Shared by every sweep of the agent.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    spacing: Duration,
    last: Option<Instant>,
}

impl RateLimiter {
    /// At most `rate` probes per second (at least 1). The spacing is rounded up to the
    /// nanosecond, so rounding can never let one probe too many into a second.
    pub fn new(rate: u32) -> Self {
        RateLimiter {
            spacing: Duration::from_nanos(1_000_000_000u64.div_ceil(u64::from(rate.max(1)))),
            last: None,
        }
    }

    /// When the next probe may go.
    pub fn ready_at(&self, now: Instant) -> Instant {
        self.last.map_or(now, |last| last + self.spacing)
    }

    /// Takes the right to send now, if the spacing allows it.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if now < self.ready_at(now) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// What a sweep should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send an ARP request for this address now.
    Probe(Ipv4Addr),
    /// Nothing to do before this time (or an answer, whichever comes first).
    Wait(Instant),
    /// Every address has answered, been skipped or run out of retries.
    Done,
}

/// Statistics of one sweep, for its log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Addresses in the plan.
    pub targets: usize,
    /// Probes sent, retries included.
    pub sent: usize,
    /// Addresses that answered a probe.
    pub answered: usize,
    /// Addresses not probed because they had been heard from already.
    pub already_known: usize,
    /// Addresses not probed because their known MAC is excluded.
    pub excluded_mac: usize,
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    deadline: Instant,
    attempts: u32,
}

/// The state of one sweep.
#[derive(Debug, Clone)]
pub struct Sweeper {
    /// The plan's addresses, sorted: only they are ever recorded as heard.
    targets: Vec<Ipv4Addr>,
    queue: VecDeque<(Ipv4Addr, u32)>,
    outstanding: BTreeMap<Ipv4Addr, Outstanding>,
    heard: HashSet<Ipv4Addr>,
    timeout: Duration,
    retries: u32,
    stats: SweepStats,
}

impl Sweeper {
    /// A sweep of `plan`, waiting `timeout` for each answer and retrying `retries` times.
    pub fn new(plan: &SweepPlan, timeout: Duration, retries: u32) -> Self {
        Sweeper {
            targets: plan.targets().to_vec(),
            queue: plan.targets().iter().map(|&address| (address, 0)).collect(),
            outstanding: BTreeMap::new(),
            heard: HashSet::new(),
            timeout,
            retries,
            stats: SweepStats {
                targets: plan.targets().len(),
                ..SweepStats::default()
            },
        }
    }

    /// Records that `address` was heard from (an ARP reply, request or announcement). It will not
    /// be probed, or probed again.
    pub fn heard_from(&mut self, address: Ipv4Addr) {
        // Addresses outside the plan (a flood of spoofed senders) are not worth remembering.
        if self.targets.binary_search(&address).is_err() {
            return;
        }
        if self.outstanding.remove(&address).is_some() {
            self.stats.answered += 1;
        }
        self.heard.insert(address);
    }

    /// The statistics so far.
    pub fn stats(&self) -> SweepStats {
        self.stats
    }

    /// Addresses not yet settled (queued or awaiting an answer).
    pub fn remaining(&self) -> usize {
        self.queue.len() + self.outstanding.len()
    }

    /// Decides the next step at `now`. `excluded_mac` tells whether an address is known to
    /// belong to an excluded MAC.
    pub fn step(
        &mut self,
        now: Instant,
        limiter: &mut RateLimiter,
        excluded_mac: impl Fn(Ipv4Addr) -> bool,
    ) -> Step {
        // Probes past their deadline: retry (at the back of the queue) or give up.
        let expired: Vec<Ipv4Addr> = self
            .outstanding
            .iter()
            .filter(|(_, probe)| probe.deadline <= now)
            .map(|(&address, _)| address)
            .collect();
        for address in expired {
            if let Some(probe) = self.outstanding.remove(&address)
                && probe.attempts <= self.retries
            {
                self.queue.push_back((address, probe.attempts));
            }
        }

        while let Some(&(address, attempts)) = self.queue.front() {
            if self.heard.contains(&address) {
                self.queue.pop_front();
                if attempts == 0 {
                    self.stats.already_known += 1;
                }
                continue;
            }
            if excluded_mac(address) {
                self.queue.pop_front();
                self.stats.excluded_mac += 1;
                continue;
            }
            if !limiter.try_take(now) {
                return Step::Wait(limiter.ready_at(now));
            }
            self.queue.pop_front();
            self.outstanding.insert(
                address,
                Outstanding {
                    deadline: now + self.timeout,
                    attempts: attempts + 1,
                },
            );
            self.stats.sent += 1;
            return Step::Probe(address);
        }
        match self.outstanding.values().map(|probe| probe.deadline).min() {
            Some(deadline) => Step::Wait(deadline),
            None => Step::Done,
        }
    }
}

#[cfg(test)]
mod tests;
