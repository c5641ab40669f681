//! SIGKILLs at random moments of ingest, of the collector and of the agents, with real
//! processes: every produced observation ends up in the history exactly once.
//!
//! The schedules come from a seeded RNG whose seed is printed; `HYGIE_KILL_SEED` replays one.

use std::time::{Duration, Instant};

use hygie_proto::Observation;
use hygie_tests::observations::{device, devices};
use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::fleet::Fleet;
use crate::site::Site;

fn start() -> Timestamp {
    "2026-11-25T08:00:00Z".parse().unwrap()
}

/// The seed of a kill schedule: `HYGIE_KILL_SEED` if set, random otherwise; printed.
fn schedule(test: &str) -> (u64, StdRng) {
    let seed = std::env::var("HYGIE_KILL_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{test}: kill schedule seed {seed} (HYGIE_KILL_SEED={seed} replays it)");
    (seed, StdRng::seed_from_u64(seed))
}

/// Chunk `round` of three agents: ward-1 sees devices of its own, ward-2 some of the same
/// devices at the same moments (so (mac, seen_at) repeats across agents), ward-3 devices of
/// its own and ward-1's again a day later.
fn chunks(round: u32, per: u32) -> [Vec<Observation>; 3] {
    let day = SignedDuration::from_hours(24);
    let ward_3: Vec<Observation> = devices(100_000 + round * per / 2, per / 2, start())
        .into_iter()
        .chain((0..per / 2).map(|k| {
            let n = round * per / 2 + k;
            device(n, start() + day + SignedDuration::from_secs(i64::from(n)))
        }))
        .collect();
    [
        devices(round * per, per, start()),
        devices(50 * per / 2 + round * per, per, start()),
        ward_3,
    ]
}

#[test]
fn fifty_collector_kills_during_ingest_from_three_agents_lose_and_duplicate_nothing() {
    const KILLS: u32 = 50;
    const PER_CHUNK: u32 = 100;
    let began = Instant::now();
    let mut site = Site::new("");
    site.collector.start().unwrap();
    let mut fleet = Fleet::start(&site, &["ward-1", "ward-2", "ward-3"], |_| {});
    let (seed, mut rng) = schedule("fifty_collector_kills");

    // Each round: every agent gets a chunk, and the collector dies a moment later, while
    // batches are on their way or committing, then comes back.
    let mut in_flight_at_kill = 0;
    for round in 0..KILLS {
        for (index, chunk) in chunks(round, PER_CHUNK).iter().enumerate() {
            fleet.append(index, chunk);
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(20..300)));
        if fleet.unacked_batches() > 0 {
            in_flight_at_kill += 1;
        }
        site.collector.kill();
        std::thread::sleep(Duration::from_millis(rng.random_range(0..100)));
        site.collector.start().unwrap();
    }

    let delivered = fleet.wait_delivered(&site.collector, Duration::from_secs(120));
    let tally = fleet
        .tally("50 collector SIGKILLs, 3 agents", &site.collector)
        .figure("seed", seed)
        .figure("kills", KILLS)
        .figure("kills with unacknowledged batches", in_flight_at_kill)
        .figure("took", format!("{:.1?}", began.elapsed()));
    tally.assert_exact(|| fleet.logs(&site.collector));
    assert!(delivered, "not drained\n{}", fleet.logs(&site.collector));

    // The inventory: one asset per distinct MAC produced, nothing else.
    let snapshot = site.collector.snapshot().unwrap();
    let assets: std::collections::BTreeSet<_> =
        snapshot.inventory.assets().map(|asset| asset.mac).collect();
    let macs = fleet.macs();
    eprintln!(
        "assets {} / distinct MACs produced {}",
        assets.len(),
        macs.len()
    );
    assert_eq!(
        assets, macs,
        "assets = the distinct MACs produced (seed {seed})"
    );
    for (name, ours, theirs) in fleet.cursors(&site.collector) {
        assert_eq!(theirs, Some(ours), "{name}'s cursor (seed {seed})");
    }
}

#[test]
fn agents_killed_with_batches_in_flight_resend_without_duplicates() {
    const KILLS: u32 = 40;
    // 16,000 devices per agent: under the collector's quota of new assets per agent and hour.
    const PER_CHUNK: u32 = 400;
    let began = Instant::now();
    let mut site = Site::new("");
    site.collector.start().unwrap();
    let mut fleet = Fleet::start(&site, &["ward-1", "ward-2"], |_| {});
    let (seed, mut rng) = schedule("agents_killed_with_batches_in_flight");

    let mut in_flight_at_kill = 0;
    // Where each agent's log was at its last start.
    let mut started_at = vec![0; fleet.members.len()];
    for round in 0..KILLS {
        // Overlapping devices, the same moments: (mac, seen_at) repeats across the two agents.
        fleet.append(0, &devices(round * PER_CHUNK, PER_CHUNK, start()));
        fleet.append(
            1,
            &devices(round * PER_CHUNK + PER_CHUNK / 2, PER_CHUNK, start()),
        );
        let victim = rng.random_range(0..fleet.members.len());
        // Kill once this run has connected and has batches not acknowledged yet (or after
        // 3 s: then it dies connecting, reading its file or forming batches, as safe).
        let member = &fleet.members[victim];
        let from = started_at[victim];
        let formed =
            hygie_tests::wait_until(Duration::from_secs(3), Duration::from_millis(2), || {
                member.agent.log()[from..].contains("connected to the collector")
                    && member.stats().is_some_and(|stats| stats.batches > 0)
            });
        if formed && rng.random_bool(0.5) {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..10)));
        }
        let member = &mut fleet.members[victim];
        member.agent.kill();
        // What it left unacknowledged when it died: batches in flight (or formed, not sent).
        if member.stats().is_some_and(|stats| stats.batches > 0) {
            in_flight_at_kill += 1;
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..100)));
        started_at[victim] = member.agent.log().len();
        member.agent.restart().unwrap();
    }

    let delivered = fleet.wait_delivered(&site.collector, Duration::from_secs(120));
    let resends: usize = fleet
        .members
        .iter()
        .map(|member| {
            member
                .agent
                .log()
                .matches("resending unacknowledged batches")
                .count()
        })
        .sum();
    let tally = fleet
        .tally("40 agent SIGKILLs mid-upload, 2 agents", &site.collector)
        .figure("seed", seed)
        .figure("kills", KILLS)
        .figure("kills leaving unacknowledged batches", in_flight_at_kill)
        .figure("restarts that resent batches", resends)
        .figure("took", format!("{:.1?}", began.elapsed()));
    tally.assert_exact(|| fleet.logs(&site.collector));
    assert!(delivered, "not drained\n{}", fleet.logs(&site.collector));
    assert!(
        in_flight_at_kill >= KILLS / 2,
        "most kills should leave batches in flight: {in_flight_at_kill} of {KILLS} (seed {seed})"
    );
    for member in &fleet.members {
        let log = member.agent.log();
        assert!(
            !log.contains("set aside") && !log.contains("taking a new outbox id"),
            "{}: a kill must not cost the outbox:\n{}",
            member.name,
            crate::fleet::tail(&log)
        );
    }
    for (name, ours, theirs) in fleet.cursors(&site.collector) {
        assert_eq!(theirs, Some(ours), "{name}'s cursor (seed {seed})");
    }
}
