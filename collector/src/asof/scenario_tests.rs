//! Reconstructions as scenario files: observations, registry changes, sweeps and pruning over
//! days, written through the real writer path into a real SQLite file (merge, `after_merge`,
//! `sweep`, `commit`, `change_registry`, account changes, `prune_history`), then read back `--at` each day. Each
//! expectation lists the whole inventory of that moment: MACs, addresses, category, flags and
//! registry entry, nothing more and nothing less.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hygie_proto::{MacAddr, Observation, Source};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::view::{PastContext, past_view};
use super::{Moment, parse_at};
use crate::classify::{Category, Rules};
use crate::inventory::flags::{Flag, FlagRules, FlagSet};
use crate::inventory::{Dirty, Inventory, assess};
use crate::registry::RegistryFields;
use crate::store::sqlite::{AsOfReadError, Durability, RegistryChange, SqliteStore};
use crate::store::{Commit, HistoryEntry, InventoryWriter, Retention};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    step: Vec<Step>,
    expect: Vec<Expect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sighting {
    mac: MacAddr,
    #[serde(default)]
    ips: Vec<IpAddr>,
    hostname: Option<String>,
    /// When it was made, if earlier than its step (delivered late).
    seen_at: Option<Timestamp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    mac: MacAddr,
    #[serde(default)]
    name: String,
    category: Option<Category>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    /// When the step is committed (the observations are received then).
    at: Timestamp,
    #[serde(default)]
    observe: Vec<Sighting>,
    #[serde(default)]
    register: Vec<Registration>,
    #[serde(default)]
    unregister: Vec<MacAddr>,
    /// Console accounts added (with a role change and a removal after): events about no
    /// asset, interleaved in the chain, that a reconstruction passes over.
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    sweep: bool,
    /// Keep only this many observation rows.
    prune_to: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// The `--at` text.
    at: String,
    #[serde(default)]
    assets: Vec<Device>,
    /// The reconstruction is refused with this message.
    refused: Option<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Device {
    mac: MacAddr,
    #[serde(default = "yes")]
    seen: bool,
    #[serde(default)]
    ips: Vec<IpAddr>,
    category: Category,
    #[serde(default)]
    flags: Vec<Flag>,
    /// The registry entry's name; absent when not registered.
    registered: Option<String>,
    #[serde(default)]
    from_events_only: bool,
}

fn yes() -> bool {
    true
}

struct Writer {
    store: SqliteStore,
    inventory: Inventory,
    unseen: std::collections::HashMap<MacAddr, FlagSet>,
    rules: FlagRules,
}

impl Writer {
    fn commit(
        &mut self,
        dirty: &Dirty,
        history: &[HistoryEntry<'_>],
        events: &[crate::audit::NewEvent],
        unseen: &[(MacAddr, FlagSet)],
        now: Timestamp,
    ) {
        self.store
            .commit(&Commit {
                inventory: &self.inventory,
                dirty,
                history,
                cursors: &[],
                events,
                unseen_flags: unseen,
                policy_devices: &[],
                policy_sites: &[],
                // The reconstruction reads events and history, never stored verdicts.
                verdicts: &[],
                verdicts_removed: &[],
                verdict_state: None,
                now,
            })
            .unwrap();
    }

    fn step(&mut self, step: &Step) {
        for registration in &step.register {
            let fields = RegistryFields {
                name: registration.name.clone(),
                category: registration.category,
                ..RegistryFields::default()
            };
            let change = RegistryChange::Approve {
                mac: registration.mac,
                fields,
                do_not_probe: None,
            };
            self.store.change_registry(change, step.at).unwrap();
        }
        for mac in &step.unregister {
            let change = RegistryChange::Remove { mac: *mac };
            self.store.change_registry(change, step.at).unwrap();
        }
        for name in &step.accounts {
            let store = &mut self.store;
            store
                .add_user(name, "biomed", "$argon2id$x", "root", step.at)
                .unwrap();
            store
                .change_user(name, None, Some("admin"), "root", step.at)
                .unwrap();
            store.remove_user(name, "root", step.at).unwrap();
        }
        let registered = self.store.load_registry().unwrap().entries;
        if !step.observe.is_empty() {
            let observations: Vec<Observation> = step
                .observe
                .iter()
                .map(|sighting| {
                    let seen_at = sighting.seen_at.unwrap_or(step.at);
                    let mut observation =
                        Observation::new(sighting.mac, seen_at, Source::ArpPassive);
                    observation.ips = sighting.ips.clone();
                    observation.hostname = sighting.hostname.clone();
                    observation.interface = "eth0".into();
                    observation
                })
                .collect();
            let mut dirty = Dirty::default();
            for observation in &observations {
                self.inventory.merge(1, observation, &mut dirty);
            }
            let events = assess::after_merge(
                &mut self.inventory,
                &mut dirty,
                &registered,
                &self.rules,
                step.at,
            );
            let history: Vec<HistoryEntry<'_>> = observations
                .iter()
                .map(|observation| HistoryEntry {
                    agent: 1,
                    received_at: step.at,
                    observation,
                })
                .collect();
            self.commit(&dirty, &history, &events, &[], step.at);
        }
        if step.sweep {
            let mut dirty = Dirty::default();
            let (events, unseen) = assess::sweep(
                &mut self.inventory,
                &mut dirty,
                &registered,
                &mut self.unseen,
                &self.rules,
                step.at,
            );
            self.commit(&dirty, &[], &events, &unseen, step.at);
        }
        if let Some(keep) = step.prune_to {
            let retention = Retention {
                max_rows: keep,
                max_age: SignedDuration::from_hours(24 * 365),
            };
            self.store.prune_history(retention, step.at).unwrap();
        }
    }
}

fn reconstruct(store: &SqliteStore, text: &str, now: Timestamp) -> Result<Vec<Device>, String> {
    let moment: Moment = parse_at(text, now).map_err(|error| error.to_string())?;
    let rules = Rules::load(None).unwrap();
    let context = PastContext {
        rules: &rules,
        agents: &[],
        at: moment.at(),
    };
    let mut devices = Vec::new();
    store
        .past_inventory(&moment, None, |past| {
            let view = past_view(&past, &context).unwrap();
            let mut ips = view.ips.clone();
            ips.sort();
            devices.push(Device {
                mac: past.mac,
                seen: view.seen,
                ips,
                category: view.category,
                flags: past.flags.iter().collect(),
                registered: past.registry.map(|entry| entry.fields.name),
                from_events_only: past.from_events_only,
            });
            Ok::<_, AsOfReadError>(())
        })
        .map_err(|error| error.to_string())?;
    Ok(devices)
}

fn run(name: &str, text: &str) {
    let scenario: Scenario = toml::from_str(text).unwrap_or_else(|error| panic!("{name}: {error}"));
    let dir = tempfile::tempdir().unwrap();
    let store =
        SqliteStore::open_writer(&dir.path().join("inventory.sqlite"), Durability::Normal).unwrap();
    let mut writer = Writer {
        store,
        inventory: Inventory::new(),
        unseen: Default::default(),
        rules: FlagRules::default(),
    };
    for step in &scenario.step {
        writer.step(step);
    }
    let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
    for expect in scenario.expect {
        let context = format!("{name} --at {}: {}", expect.at, scenario.description);
        let found = reconstruct(&writer.store, &expect.at, now);
        match expect.refused {
            Some(message) => assert_eq!(found.map(|_| ()), Err(message), "{context}"),
            None => {
                let found = found.unwrap_or_else(|error| panic!("{context}: {error}"));
                let found: BTreeMap<MacAddr, Device> = found
                    .into_iter()
                    .map(|device| (device.mac, device))
                    .collect();
                let expected: BTreeMap<MacAddr, Device> = expect
                    .assets
                    .into_iter()
                    .map(|mut device| {
                        device.flags.sort();
                        device.ips.sort();
                        (device.mac, device)
                    })
                    .collect();
                assert_eq!(found, expected, "{context}");
            }
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

scenarios!(registry_over_days, late_delivery, pruned_history);
