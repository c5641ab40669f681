//! Sweep planning and the sweep state machine, driven by a fake clock and canned answers.

use super::*;

fn net(text: &str) -> Ipv4Net {
    text.parse().unwrap()
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

#[test]
fn a_plan_leaves_out_our_address_and_exclusions() {
    let plan = plan(
        &[net("198.18.0.0/28")],
        &[net("198.18.0.8/30")],
        &[ip("198.18.0.2")],
        false,
    )
    .unwrap();
    // 14 hosts (.1-.14), minus ours (.2), minus .8-.11.
    assert_eq!(plan.targets().len(), 9);
    assert_eq!(plan.excluded, 4);
    assert!(plan.permits(ip("198.18.0.1")));
    assert!(!plan.permits(ip("198.18.0.2")), "never ourselves");
    assert!(!plan.permits(ip("198.18.0.9")), "never an excluded address");
    assert!(
        !plan.permits(ip("198.18.0.15")),
        "never the broadcast address"
    );
    assert!(!plan.permits(ip("198.18.1.1")), "never outside the CIDRs");
}

#[test]
fn blocks_larger_than_a_slash_16_need_consent() {
    assert_eq!(
        plan(&[net("10.0.0.0/15")], &[], &[], false),
        Err(PlanError::TooLarge(net("10.0.0.0/15")))
    );
    assert!(plan(&[net("198.18.0.0/16")], &[], &[], false).is_ok());
    assert_eq!(
        plan(&[net("198.18.0.0/15")], &[], &[], true)
            .unwrap()
            .targets()
            .len(),
        131_070
    );
}

#[test]
fn overlapping_cidrs_probe_each_address_once() {
    let plan = plan(
        &[net("198.18.0.0/29"), net("198.18.0.0/30")],
        &[],
        &[],
        false,
    )
    .unwrap();
    assert_eq!(plan.targets().len(), 6);
}

#[test]
fn the_limiter_never_rounds_in_favour_of_an_extra_probe() {
    // 1 s / 30 is 33,333,333.3 ns: rounded down, 31 probes would fit in a second.
    let start = Instant::now();
    let mut limiter = RateLimiter::new(30);
    let mut sent = 0;
    let mut now = start;
    while now < start + Duration::from_secs(1) {
        if limiter.try_take(now) {
            sent += 1;
        }
        now = limiter.ready_at(now);
    }
    assert_eq!(sent, 30);
}

#[test]
fn the_limiter_spaces_probes() {
    let start = Instant::now();
    let mut limiter = RateLimiter::new(50);
    assert!(limiter.try_take(start));
    assert!(!limiter.try_take(start + Duration::from_millis(19)));
    assert_eq!(limiter.ready_at(start), start + Duration::from_millis(20));
    assert!(limiter.try_take(start + Duration::from_millis(20)));
}

#[test]
fn a_late_probe_does_not_push_every_later_slot_back() {
    // Probes due every 20 ms; the second goes 8 ms late. The third is still due at 40 ms
    // (invariant 3), though never before half a spacing after the late one (invariant 2).
    let start = Instant::now();
    let at = |ms| start + Duration::from_millis(ms);
    let mut limiter = RateLimiter::new(50);
    assert!(limiter.try_take(at(0)));
    assert!(limiter.try_take(at(28)));
    assert_eq!(limiter.ready_at(at(28)), at(40));
    // Very late: no burst, at most twice the rate while catching up.
    assert!(limiter.try_take(at(75)));
    assert_eq!(limiter.ready_at(at(75)), at(85));
}

#[test]
fn a_long_stall_is_forgiven_not_repaid() {
    let start = Instant::now();
    let mut limiter = RateLimiter::new(100);
    assert!(limiter.try_take(start));
    // A second without sending: catching up on 100 slots would send at twice the rate for
    // a second; the schedule restarts at most 8 slots back instead.
    let late = start + Duration::from_secs(1);
    let mut sent = 0;
    let mut now = late;
    while now < late + Duration::from_millis(100) {
        if limiter.try_take(now) {
            sent += 1;
        }
        now = limiter.ready_at(now);
    }
    assert!(
        (10..=18).contains(&sent),
        "{sent} probes in 100 ms at 100/s"
    );
}

#[test]
fn jittered_senders_keep_the_average_rate_and_the_hard_cap() {
    // A sender whose every wait overshoots by up to 0.9 of a spacing still sends at the
    // configured rate on average, and never more than `rate` in any second.
    let start = Instant::now();
    let mut limiter = RateLimiter::new(1000);
    let mut noise = 0x9e37_79b9_7f4a_7c15_u64;
    let mut now = start;
    let mut sent = Vec::new();
    while now < start + Duration::from_secs(3) {
        if limiter.try_take(now) {
            sent.push(now);
        }
        noise ^= noise << 13;
        noise ^= noise >> 7;
        noise ^= noise << 17;
        let overshoot = Duration::from_micros(noise % 900);
        now = limiter.ready_at(now) + overshoot;
    }
    assert!(
        sent.len() >= 2_950,
        "{} probes in 3 s at 1000/s",
        sent.len()
    );
    for (index, first) in sent.iter().enumerate() {
        let in_window = sent[index..]
            .iter()
            .take_while(|at| **at < *first + Duration::from_secs(1))
            .count();
        assert!(in_window <= 1000, "{in_window} probes within a second");
    }
    for pair in sent.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_micros(500), "a burst");
    }
}

/// Runs a sweep to the end against a fake network where `alive` addresses answer after
/// `latency`; returns the probe times and the final statistics.
fn run(
    plan: &SweepPlan,
    alive: &[Ipv4Addr],
    latency: Duration,
    rate: u32,
    excluded_mac: impl Fn(Ipv4Addr) -> bool,
) -> (Vec<(Instant, Ipv4Addr)>, SweepStats) {
    let start = Instant::now();
    let mut now = start;
    let mut limiter = RateLimiter::new(rate);
    let mut sweeper = Sweeper::new(plan, Duration::from_millis(500), 1);
    let mut answers: Vec<(Instant, Ipv4Addr)> = Vec::new();
    let mut probes = Vec::new();
    for _ in 0..100_000 {
        answers.retain(|&(at, address)| {
            if at <= now {
                sweeper.heard_from(address);
                false
            } else {
                true
            }
        });
        let skip = |address| excluded_mac(address).then_some(Skip::ExcludedMac);
        match sweeper.step(now, &mut limiter, skip) {
            Step::Probe(address) => {
                assert!(plan.permits(address));
                probes.push((now, address));
                if alive.contains(&address) {
                    answers.push((now + latency, address));
                }
            }
            Step::Wait(until) => {
                let next_answer = answers.iter().map(|&(at, _)| at).min();
                now = next_answer.map_or(until, |at| at.min(until)).max(now);
                if now == until || Some(now) == next_answer {
                    continue;
                }
            }
            Step::Done => return (probes, sweeper.stats()),
        }
    }
    panic!("the sweep never finished");
}

#[test]
fn answered_addresses_are_probed_once_and_silent_ones_retried_once() {
    let plan = plan(&[net("198.18.0.0/29")], &[], &[], false).unwrap();
    let alive = [ip("198.18.0.1"), ip("198.18.0.4")];
    let (probes, stats) = run(&plan, &alive, Duration::from_millis(5), 50, |_| false);
    assert_eq!(stats.targets, 6);
    assert_eq!(stats.answered, 2);
    // 2 answered on the first probe, 4 silent ones probed twice.
    assert_eq!(stats.sent, 2 + 4 * 2);
    assert_eq!(probes.len(), stats.sent);
}

#[test]
fn a_long_sweep_leaves_no_slot_idle_and_ends_one_timeout_after_its_last_probe() {
    // 1,022 addresses, 100 of them answering, at 100 probes/s with a 500 ms timeout and one
    // retry: the floor is every probe at the rate, then one timeout.
    let plan = plan(&[net("198.18.0.0/22")], &[], &[], false).unwrap();
    let alive: Vec<Ipv4Addr> = plan.targets().iter().step_by(10).copied().collect();
    let (probes, stats) = run(&plan, &alive, Duration::from_millis(2), 100, |_| false);
    let silent = 1022 - alive.len();
    assert_eq!(stats.sent, 1022 + silent);
    let (start, _) = probes[0];
    let (last, _) = probes[probes.len() - 1];
    let floor = Duration::from_millis(10) * u32::try_from(stats.sent - 1).unwrap();
    // The rate cap's window is half a spacing longer than a second: every `rate` probes
    // wait that much more (0.5% here), nothing else.
    let windows = u32::try_from(stats.sent / 100).unwrap();
    assert!(last - start >= floor, "{:?}", last - start);
    assert!(
        last - start <= floor + Duration::from_millis(5) * windows,
        "slots left idle: {:?} for a floor of {floor:?}",
        last - start
    );
    // Every silent address was retried once its timeout had passed, never before.
    let mut first_probe = std::collections::HashMap::new();
    for (at, address) in &probes {
        match first_probe.get(address) {
            None => {
                first_probe.insert(*address, *at);
            }
            Some(first) => assert!(*at - *first >= Duration::from_millis(500)),
        }
    }
}

#[test]
fn no_one_second_window_holds_more_than_rate_probes() {
    let plan = plan(&[net("198.18.0.0/24")], &[], &[], false).unwrap();
    let (probes, _) = run(&plan, &[], Duration::ZERO, 50, |_| false);
    for (index, (start, _)) in probes.iter().enumerate() {
        let in_window = probes[index..]
            .iter()
            .take_while(|(at, _)| *at < *start + Duration::from_secs(1))
            .count();
        assert!(in_window <= 50, "{in_window} probes within a second");
    }
}

#[test]
fn addresses_already_heard_excluded_or_protected_are_never_probed() {
    let plan = plan(&[net("198.18.0.0/29")], &[], &[], false).unwrap();
    let mut sweeper = Sweeper::new(&plan, Duration::from_millis(500), 1);
    sweeper.heard_from(ip("198.18.0.3"));
    let mut limiter = RateLimiter::new(1000);
    let mut now = Instant::now();
    let mut probed = Vec::new();
    loop {
        let skip = |address| {
            if address == ip("198.18.0.5") {
                Some(Skip::ExcludedMac)
            } else if address == ip("198.18.0.6") {
                Some(Skip::Protected)
            } else {
                None
            }
        };
        match sweeper.step(now, &mut limiter, skip) {
            Step::Probe(address) => probed.push(address),
            Step::Wait(until) => now = until,
            Step::Done => break,
        }
    }
    assert!(!probed.contains(&ip("198.18.0.3")));
    assert!(!probed.contains(&ip("198.18.0.5")));
    assert!(!probed.contains(&ip("198.18.0.6")));
    let stats = sweeper.stats();
    assert_eq!(
        (stats.already_known, stats.excluded_mac, stats.protected),
        (1, 1, 1)
    );
    // Every other address got one probe and one retry, no more.
    for address in probed.iter() {
        assert!(probed.iter().filter(|&other| other == address).count() <= 2);
    }
}
