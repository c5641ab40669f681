//! Flag timelines as scenario files: observations and registrations at given times, the events
//! each step must produce and the flags assets must then carry. The runner drives exactly the
//! code the writer runs (`merge`, `assess::after_merge`, `assess::sweep`), minus the database.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use hygie_proto::{MacAddr, Observation, Source};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::assess::{self, Registered};
use super::flags::{Flag, FlagRules, FlagSet, Gateway};
use super::{Dirty, Inventory};
use crate::registry::{RegistryEntry, RegistryFields};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    #[serde(default)]
    rules: RulesOverride,
    #[serde(default)]
    registry: Vec<Registration>,
    step: Vec<Step>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesOverride {
    #[serde(default, with = "humantime_serde")]
    stale_after: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    new_window: Option<Duration>,
    #[serde(default)]
    gateways: Vec<Gateway>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    mac: MacAddr,
    at: Timestamp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sighting {
    mac: MacAddr,
    #[serde(default)]
    ips: Vec<IpAddr>,
    hostname: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    at: Timestamp,
    #[serde(default)]
    observe: Vec<Sighting>,
    #[serde(default)]
    register: Vec<Registration>,
    #[serde(default)]
    sweep: bool,
    #[serde(default)]
    expect_events: Vec<String>,
    #[serde(default)]
    expect_flags: BTreeMap<MacAddr, Vec<Flag>>,
}

fn register(registered: &mut Registered, registration: &Registration) {
    registered.insert(
        registration.mac,
        RegistryEntry {
            mac: registration.mac,
            fields: RegistryFields::default(),
            registered_at: registration.at,
            updated_at: registration.at,
            source: "scenario".into(),
        },
    );
}

/// "kind mac [detail]": the flag for flag events, the address for address events.
fn describe(event: &crate::audit::NewEvent) -> String {
    let details: serde_json::Value = serde_json::from_str(&event.details).unwrap();
    let mac = event.mac.map(|mac| mac.to_string()).unwrap_or_default();
    use crate::audit::EventKind;
    match event.kind {
        EventKind::FlagRaised | EventKind::FlagCleared => {
            format!("{} {mac} {}", event.kind, details["flag"].as_str().unwrap())
        }
        EventKind::AddressNew => {
            format!("{} {mac} {}", event.kind, details["ip"].as_str().unwrap())
        }
        kind => format!("{kind} {mac}"),
    }
}

fn run(name: &str, text: &str) {
    let scenario: Scenario = toml::from_str(text).unwrap_or_else(|error| panic!("{name}: {error}"));
    let mut rules = FlagRules::default();
    if let Some(stale) = scenario.rules.stale_after {
        rules.stale_after = SignedDuration::try_from(stale).unwrap();
    }
    if let Some(new) = scenario.rules.new_window {
        rules.new_window = SignedDuration::try_from(new).unwrap();
    }
    rules.gateways = scenario.rules.gateways;
    let mut registered = Registered::new();
    for registration in &scenario.registry {
        register(&mut registered, registration);
    }
    let mut inventory = Inventory::new();
    let mut unseen: HashMap<MacAddr, FlagSet> = HashMap::new();
    for (index, step) in scenario.step.iter().enumerate() {
        let context = format!(
            "{name} step {} ({}): {}",
            index + 1,
            step.at,
            scenario.description
        );
        for registration in &step.register {
            register(&mut registered, registration);
        }
        let mut events = Vec::new();
        if !step.observe.is_empty() {
            let mut dirty = Dirty::default();
            for sighting in &step.observe {
                let mut observation = Observation::new(sighting.mac, step.at, Source::ArpPassive);
                observation.ips = sighting.ips.clone();
                observation.hostname = sighting.hostname.clone();
                inventory.merge(1, &observation, &mut dirty);
            }
            events.extend(assess::after_merge(
                &mut inventory,
                &mut dirty,
                &registered,
                &rules,
                step.at,
            ));
        }
        if step.sweep {
            let (more, _) = assess::sweep(
                &mut inventory,
                &mut Dirty::default(),
                &registered,
                &mut unseen,
                &rules,
                step.at,
            );
            events.extend(more);
        }
        let described: Vec<String> = events.iter().map(describe).collect();
        assert_eq!(described, step.expect_events, "{context}");
        for (mac, expected) in &step.expect_flags {
            let flags = match inventory.get(mac) {
                Some(asset) => asset.flags,
                None => unseen.get(mac).copied().unwrap_or_default(),
            };
            let flags: Vec<Flag> = flags.iter().collect();
            let mut expected = expected.clone();
            expected.sort();
            assert_eq!(flags, expected, "{context}: flags of {mac}");
        }
    }
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name), include_str!(concat!("scenarios/", stringify!($name), ".toml")));
            }
        )*
    };
}

scenarios!(
    new_then_quiet,
    registered_goes_stale,
    registered_never_seen,
    ip_change,
    ipv6_alongside_ipv4,
    multi_homed,
    arp_conflict,
    arp_conflict_held,
    gateway_impersonation,
    registered_later,
);
