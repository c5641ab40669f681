//! Active ARP sweeps, made safe for fragile equipment.
//!
//! - [`plan`] turns the configured CIDRs into the list of addresses that may be probed: never the
//!   agent's own, never an excluded range, never a block larger than /16 unless explicitly
//!   allowed. Nothing outside a [`SweepPlan`] is ever probed.
//! - [`RateLimiter`] paces probes for all interfaces together. Its invariants:
//!   1. no one-second window ever holds more than `rate` probes (a sliding window of the last
//!      `rate` send times, checked before every probe, half a spacing longer than a second to
//!      absorb the jitter between deciding to send and the frame leaving);
//!   2. no two probes leave closer than half the nominal spacing `1/rate`, so a late thread
//!      never bursts;
//!   3. the average rate is the configured one: probes are scheduled on slots `1/rate` apart,
//!      and a probe sent late (the thread was descheduled, a timer fired late) does not push
//!      every later slot back; a debt of more than a few slots is forgiven, not repaid.
//! - [`Sweeper`] decides, given the time, what to do next: probe an address, wait, or finish.
//!   Addresses already heard from (passively or by an earlier answer) are not probed; addresses
//!   whose known MAC is excluded, or that the collector's scan policy protects, are skipped
//!   (asked before every probe, so a policy that arrives mid-sweep applies to the next probe);
//!   every address gets at most one probe plus its retries per sweep; an unanswered probe is retried a bounded number of
//!   times once its timeout passes. The order is arp-scan's cycle over its host list: the
//!   addresses not yet probed first, then each due retry in the order its timeout expired. On
//!   a sweep longer than one timeout that leaves no slot idle, so the last probe goes out at
//!   `(probes - 1) / rate` and the sweep ends when it times out: the floor. (Serving due retries
//!   ahead of fresh addresses would send the last fresh ones later and leave up to one timeout
//!   of idle slots before their retries.)
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

    /// The plan without the addresses `taken` says another sweep covers: two sweeps of one
    /// subnet (two interfaces on it, overlapping CIDRs) never probe the same address at once.
    #[must_use]
    pub fn without(&self, taken: impl Fn(Ipv4Addr) -> bool) -> SweepPlan {
        SweepPlan {
            targets: self
                .targets
                .iter()
                .copied()
                .filter(|&address| !taken(address))
                .collect(),
            allowed: self.allowed.clone(),
            excluded: self.excluded,
        }
    }
}

/// Why an address of the plan is not probed in this sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Its known MAC is excluded in the agent's configuration.
    ExcludedMac,
    /// The collector's scan policy protects it.
    Protected,
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

/// Slots of debt a late sender may catch up on; beyond it the schedule restarts from now.
const MAX_DEBT_SLOTS: u32 = 8;

/// Paces probes; shared by every sweep of the agent. See the module docs for its invariants.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    rate: usize,
    spacing: Duration,
    /// When the next probe is due.
    next_slot: Option<Instant>,
    /// The last `rate` send times, oldest first (invariant 1).
    window: VecDeque<Instant>,
}

impl RateLimiter {
    /// At most `rate` probes per second (at least 1). The spacing is rounded up to the
    /// nanosecond, so rounding can never let one probe too many into a second.
    pub fn new(rate: u32) -> Self {
        let rate = rate.max(1);
        RateLimiter {
            rate: usize::try_from(rate).unwrap_or(usize::MAX),
            spacing: Duration::from_nanos(1_000_000_000u64.div_ceil(u64::from(rate))),
            next_slot: None,
            window: VecDeque::new(),
        }
    }

    /// When the next probe may go.
    pub fn ready_at(&self, now: Instant) -> Instant {
        let mut ready = self.next_slot.unwrap_or(now);
        if let Some(last) = self.window.back() {
            ready = ready.max(*last + self.spacing / 2);
        }
        // The window is a second and half a spacing long: probes leave the host a little
        // after the limiter lets them go, and that delay varies, so a window held to the
        // second exactly by this clock could show one probe too many to a capture on the wire.
        if self.window.len() >= self.rate
            && let Some(oldest) = self.window.front()
        {
            ready = ready.max(*oldest + Duration::from_secs(1) + self.spacing / 2);
        }
        ready
    }

    /// Takes the right to send now, if the pacing allows it.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if now < self.ready_at(now) {
            return false;
        }
        let due = self.next_slot.unwrap_or(now);
        // Invariant 3: a debt of more than a few slots is forgiven; the schedule restarts
        // near now rather than letting a long stall be repaid at twice the rate.
        let floor = now
            .checked_sub(self.spacing * MAX_DEBT_SLOTS)
            .unwrap_or(now);
        self.next_slot = Some(due.max(floor) + self.spacing);
        self.window.push_back(now);
        while self.window.len() > self.rate {
            self.window.pop_front();
        }
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
    /// Addresses not probed because the scan policy protects them.
    pub protected: usize,
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    /// Its key in `Sweeper::deadlines`.
    deadline: (Instant, u64),
    attempts: u32,
}

/// The state of one sweep.
#[derive(Debug, Clone)]
pub struct Sweeper {
    /// The plan's addresses, sorted: only they are ever recorded as heard.
    targets: Vec<Ipv4Addr>,
    /// Addresses not yet probed, in plan order.
    queue: VecDeque<(Ipv4Addr, u32)>,
    /// Addresses whose probe timed out and that get another one, first come first served.
    retry: VecDeque<(Ipv4Addr, u32)>,
    outstanding: BTreeMap<Ipv4Addr, Outstanding>,
    /// Outstanding probes by deadline (a sequence number breaks ties), so expiry is found
    /// without scanning every outstanding probe.
    deadlines: BTreeMap<(Instant, u64), Ipv4Addr>,
    sequence: u64,
    heard: HashSet<Ipv4Addr>,
    skipped: HashSet<Ipv4Addr>,
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
            retry: VecDeque::new(),
            outstanding: BTreeMap::new(),
            deadlines: BTreeMap::new(),
            sequence: 0,
            heard: HashSet::new(),
            skipped: HashSet::new(),
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
        if let Some(probe) = self.outstanding.remove(&address) {
            self.deadlines.remove(&probe.deadline);
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
        self.queue.len() + self.retry.len() + self.outstanding.len()
    }

    /// Decides the next step at `now`. `skip` tells whether an address must not be probed
    /// (asked just before its probe would leave).
    pub fn step(
        &mut self,
        now: Instant,
        limiter: &mut RateLimiter,
        skip: impl Fn(Ipv4Addr) -> Option<Skip>,
    ) -> Step {
        // Probes past their deadline: retry (after the addresses not yet probed, earliest
        // deadline first), or give up.
        while let Some((&deadline, &address)) = self.deadlines.first_key_value() {
            if deadline.0 > now {
                break;
            }
            self.deadlines.remove(&deadline);
            if let Some(probe) = self.outstanding.remove(&address)
                && probe.attempts <= self.retries
            {
                self.retry.push_back((address, probe.attempts));
            }
        }

        loop {
            let (queue, is_retry) = if self.queue.is_empty() {
                (&mut self.retry, true)
            } else {
                (&mut self.queue, false)
            };
            let Some(&(address, attempts)) = queue.front() else {
                break;
            };
            if self.heard.contains(&address) {
                queue.pop_front();
                if attempts == 0 && !is_retry {
                    self.stats.already_known += 1;
                }
                continue;
            }
            if let Some(reason) = skip(address) {
                queue.pop_front();
                // Counted once, not once per retry.
                if !self.skipped.insert(address) {
                    continue;
                }
                match reason {
                    Skip::ExcludedMac => self.stats.excluded_mac += 1,
                    Skip::Protected => self.stats.protected += 1,
                }
                continue;
            }
            if !limiter.try_take(now) {
                return Step::Wait(limiter.ready_at(now));
            }
            queue.pop_front();
            let deadline = now + self.timeout;
            self.sequence += 1;
            self.deadlines.insert((deadline, self.sequence), address);
            self.outstanding.insert(
                address,
                Outstanding {
                    deadline: (deadline, self.sequence),
                    attempts: attempts + 1,
                },
            );
            self.stats.sent += 1;
            return Step::Probe(address);
        }
        match self.deadlines.first_key_value() {
            Some((deadline, _)) => Step::Wait(deadline.0),
            None => Step::Done,
        }
    }
}

#[cfg(test)]
mod tests;
