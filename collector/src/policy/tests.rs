//! The policies' invariants (see the module docs) over random histories, and the edges the
//! scenario files do not reach.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hygie_proto::{MacAddr, Observation, ProtectionReason, Source, limits};
use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::scenario_tests::{Persisted, contents};
use super::*;
use crate::classify::{Category, Rules};
use crate::inventory::{AgentId, Dirty, Inventory};
use crate::registry::{RegistryEntry, RegistryFields};

fn at(minutes: i64) -> Timestamp {
    "2026-11-01T10:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
}

/// The world the policies are computed from.
#[derive(Default)]
struct World {
    inventory: Inventory,
    agent_sites: HashMap<AgentId, String>,
    registry: HashMap<MacAddr, RegistryEntry>,
    overrides: HashMap<MacAddr, Override>,
}

impl World {
    fn inputs(&self) -> Inputs<'_> {
        Inputs {
            inventory: &self.inventory,
            agent_sites: &self.agent_sites,
            registry: &self.registry,
            overrides: &self.overrides,
        }
    }
}

fn sites_of(state: &PolicyState) -> Vec<(String, SitePolicy)> {
    state
        .sites()
        .map(|(name, policy)| (name.to_owned(), policy.clone()))
        .collect()
}

/// Devices listed per site, for counting what entered and left.
fn listings(state: &PolicyState) -> BTreeSet<(String, MacAddr)> {
    state
        .sites()
        .flat_map(|(name, policy)| {
            policy
                .devices
                .keys()
                .map(move |mac| (name.to_owned(), *mac))
        })
        .collect()
}

const MACS: [&str; 8] = [
    "00:09:5c:11:22:01", // Philips patient monitoring: biomedical
    "00:09:5c:11:22:02",
    "9c:7b:ef:11:22:03", // HP: not biomedical
    "9c:7b:ef:11:22:04",
    "00:80:a3:11:22:05", // Lantronix module: biomedical once it says `mon-…`
    "00:80:a3:11:22:06",
    "02:00:00:11:22:07", // randomized
    "00:09:5c:11:22:08",
];

/// Invariants 1, 3 and 4 over random histories: observations by agents of three sites (one
/// joining late), registry and decision changes, restarts.
#[test]
fn random_histories_match_a_fresh_computation() {
    let rules = Rules::defaults().unwrap();
    let mut settings = PolicySettings::default();
    settings.sites.insert(
        "chu-nord".into(),
        SiteExclusions::from_entries(["198.18.4.0/24", "9c:7b:ef:11:22:04"]).unwrap(),
    );
    let macs: Vec<MacAddr> = MACS.iter().map(|text| text.parse().unwrap()).collect();
    for seed in 0..40u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut world = World::default();
        world.agent_sites.insert(1, "chu-nord".into());
        world.agent_sites.insert(2, "chu-sud".into());
        let mut persisted = Persisted::default();
        let (mut state, changes) = PolicyState::restore(
            settings.clone(),
            BTreeMap::new(),
            &world.inputs(),
            &rules,
            at(0),
        );
        persisted.apply(&changes);
        let mut versions: BTreeMap<String, u64> = BTreeMap::new();
        for step in 1..60 {
            let now = at(step);
            let before = listings(&state);
            let mac = macs[rng.random_range(0..macs.len())];
            let changes = match rng.random_range(0..10) {
                0..=4 => {
                    let agent = rng.random_range(1..=3);
                    if agent == 3 && !world.agent_sites.contains_key(&3) {
                        world.agent_sites.insert(3, "chu-est".into());
                        state.add_site("chu-est", &world.inputs(), now)
                    } else {
                        let agent = if world.agent_sites.contains_key(&agent) {
                            agent
                        } else {
                            1
                        };
                        let mut observation = Observation::new(mac, now, Source::ArpPassive);
                        observation.ips = vec![
                            format!(
                                "198.18.{}.{}",
                                rng.random_range(0..2),
                                rng.random_range(1..12)
                            )
                            .parse()
                            .unwrap(),
                        ];
                        if rng.random_bool(0.3) {
                            observation.hostname = Some("mon-icu-09".into());
                        }
                        let mut dirty = Dirty::default();
                        world.inventory.merge(agent, &observation, &mut dirty);
                        state.after_merge(&world.inputs(), &dirty, &rules, now)
                    }
                }
                5 | 6 => {
                    if rng.random_bool(0.3) {
                        world.registry.remove(&mac);
                    } else {
                        let site = ["", "chu-sud", "chu-est"][rng.random_range(0..3)];
                        world.registry.insert(
                            mac,
                            RegistryEntry {
                                mac,
                                fields: RegistryFields {
                                    do_not_probe: rng.random_bool(0.5),
                                    site: site.into(),
                                    category: rng.random_bool(0.3).then_some(Category::Biomedical),
                                    ..RegistryFields::default()
                                },
                                registered_at: now,
                                updated_at: now,
                                source: "test".into(),
                            },
                        );
                    }
                    state.refresh(&world.inputs(), now)
                }
                7 | 8 => {
                    match rng.random_range(0..3) {
                        0 => {
                            world.overrides.remove(&mac);
                        }
                        choice => {
                            world.overrides.insert(
                                mac,
                                Override {
                                    mac,
                                    decision: if choice == 1 {
                                        Decision::Allow
                                    } else {
                                        Decision::Deny
                                    },
                                    reason: "test".into(),
                                    by: "tester".into(),
                                    at: now,
                                },
                            );
                        }
                    }
                    state.refresh(&world.inputs(), now)
                }
                _ => {
                    let (restored, changes) = PolicyState::restore(
                        settings.clone(),
                        persisted.0.clone(),
                        &world.inputs(),
                        &rules,
                        now,
                    );
                    state = restored;
                    changes
                }
            };
            persisted.apply(&changes);
            let context = format!("seed {seed} step {step}");

            // 1: the same as a fresh computation.
            let (fresh, _) = PolicyState::restore(
                settings.clone(),
                BTreeMap::new(),
                &world.inputs(),
                &rules,
                now,
            );
            assert_eq!(
                contents(sites_of(&state)),
                contents(sites_of(&fresh)),
                "{context}"
            );
            assert_eq!(
                contents(persisted.0.clone()),
                contents(sites_of(&state)),
                "{context}: persisted"
            );

            // 3: every entry and exit is an event, and nothing else is.
            let after = listings(&state);
            let mut entered: Vec<(String, MacAddr)> = after.difference(&before).cloned().collect();
            let mut left: Vec<(String, MacAddr)> = before.difference(&after).cloned().collect();
            let mut forbidden = Vec::new();
            let mut permitted = Vec::new();
            for event in &changes.events {
                let details: serde_json::Value = serde_json::from_str(&event.details).unwrap();
                let key = (
                    details["site"].as_str().unwrap().to_owned(),
                    event.mac.unwrap(),
                );
                match event.kind {
                    crate::audit::EventKind::ProbingForbidden => forbidden.push(key),
                    crate::audit::EventKind::ProbingPermitted => permitted.push(key),
                    other => panic!("{context}: unexpected {other}"),
                }
            }
            for list in [&mut entered, &mut left, &mut forbidden, &mut permitted] {
                list.sort();
            }
            assert_eq!(forbidden, entered, "{context}: entries");
            assert_eq!(permitted, left, "{context}: exits");

            // 4: versions only grow, and grow with every change.
            for record in &changes.sites {
                let previous = versions.insert(record.site.clone(), record.version);
                assert!(
                    previous.is_none_or(|previous| previous < record.version),
                    "{context}: {} went from {previous:?} to {}",
                    record.site,
                    record.version
                );
            }
            for row in &changes.devices {
                assert!(
                    changes.sites.iter().any(|record| record.site == row.site),
                    "{context}: {} changed without a new version",
                    row.site
                );
            }
        }
    }
}

/// Invariant 2, device by device: `allow` lifts the category and nothing else.
#[test]
fn allow_never_lifts_registry_site_or_operator_reasons() {
    let rules = Rules::defaults().unwrap();
    let monitor: MacAddr = MACS[0].parse().unwrap();
    let mut settings = PolicySettings::default();
    settings.sites.insert(
        "chu-nord".into(),
        SiteExclusions::from_entries([MACS[0]]).unwrap(),
    );
    let mut world = World::default();
    world.agent_sites.insert(1, "chu-nord".into());
    let mut observation = Observation::new(monitor, at(0), Source::ArpPassive);
    observation.ips = vec!["198.18.0.10".parse().unwrap()];
    world
        .inventory
        .merge(1, &observation, &mut Dirty::default());
    world.registry.insert(
        monitor,
        RegistryEntry {
            mac: monitor,
            fields: RegistryFields {
                do_not_probe: true,
                ..RegistryFields::default()
            },
            registered_at: at(0),
            updated_at: at(0),
            source: "test".into(),
        },
    );
    let (mut state, _) =
        PolicyState::restore(settings, BTreeMap::new(), &world.inputs(), &rules, at(0));
    let reasons = |state: &PolicyState| {
        state.site("chu-nord").unwrap().devices[&monitor]
            .reasons
            .iter()
            .collect::<Vec<_>>()
    };
    use ProtectionReason::{Biomedical, Registry, Site};
    assert_eq!(reasons(&state), [Registry, Site, Biomedical]);
    world.overrides.insert(
        monitor,
        Override {
            mac: monitor,
            decision: Decision::Allow,
            reason: "calibration".into(),
            by: "tester".into(),
            at: at(1),
        },
    );
    let changes = state.refresh(&world.inputs(), at(1));
    assert!(changes.events.is_empty(), "still listed: no event");
    assert_eq!(reasons(&state), [Registry, Site]);
    let policy = state.site("chu-nord").unwrap().scan_policy();
    assert_eq!(
        policy.devices[0].reason, Registry,
        "the strongest reason is sent"
    );
}

/// Invariant 5: past the contract's bound, the policy says "probe nothing" rather than a part.
#[test]
fn a_policy_too_large_to_send_is_passive_only() {
    let rules = Rules::defaults().unwrap();
    let mut world = World::default();
    world.agent_sites.insert(1, "chu-nord".into());
    for n in 0..=limits::MAX_POLICY_DEVICES as u64 {
        let mac = MacAddr::from_u64(0x0009_5c00_0000 + n);
        world.overrides.insert(
            mac,
            Override {
                mac,
                decision: Decision::Deny,
                reason: "ward closed".into(),
                by: "tester".into(),
                at: at(0),
            },
        );
    }
    let (state, changes) = PolicyState::restore(
        PolicySettings::default(),
        BTreeMap::new(),
        &world.inputs(),
        &rules,
        at(0),
    );
    assert!(changes.sites[0].passive_only);
    let policy = state.site("chu-nord").unwrap().scan_policy();
    assert!(policy.passive_only && policy.devices.is_empty());
    assert_eq!(policy.version, 1);
    assert!(policy.check().is_ok());
}

#[test]
fn reasons_print_strongest_first() {
    let reasons: Reasons = [ProtectionReason::Biomedical, ProtectionReason::Operator]
        .into_iter()
        .collect();
    assert_eq!(reasons.to_string(), "operator,biomedical");
    assert_eq!(reasons.primary(), Some(ProtectionReason::Operator));
    assert_eq!(
        serde_json::to_string(&reasons).unwrap(),
        r#"["operator","biomedical"]"#
    );
    assert!(Reasons::NONE.is_empty() && Reasons::NONE.primary().is_none());
}
