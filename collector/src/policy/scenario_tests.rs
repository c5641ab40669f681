//! Policy timelines as scenario files: agents of sites observe devices, the registry and
//! operators change, the collector restarts; each step names the events it must produce and
//! what every site's agents must then be told. The runner drives exactly what the writer runs
//! (`restore`, `after_merge`, `refresh`, `add_site`), keeps a stand-in for the database from
//! the changes it would persist, and after every step checks invariant 1 (the policies equal a
//! computation from scratch) and that the persisted rows equal the policies.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use hygie_proto::{MacAddr, Observation, Source};
use ipnet::IpNet;
use jiff::Timestamp;
use serde::Deserialize;

use super::*;
use crate::classify::{Category, Rules};
use crate::inventory::{AgentId, Dirty, Inventory};
use crate::registry::{RegistryEntry, RegistryFields};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    /// Agent id → site.
    agents: BTreeMap<String, String>,
    #[serde(default)]
    settings: SettingsFile,
    step: Vec<Step>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    protect_categories: Option<Vec<Category>>,
    #[serde(default)]
    sites: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sighting {
    agent: AgentId,
    mac: MacAddr,
    #[serde(default)]
    ips: Vec<IpAddr>,
    hostname: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    mac: MacAddr,
    #[serde(default)]
    do_not_probe: bool,
    #[serde(default)]
    site: String,
    category: Option<Category>,
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
    unregister: Vec<MacAddr>,
    #[serde(default)]
    allow: Vec<MacAddr>,
    #[serde(default)]
    deny: Vec<MacAddr>,
    #[serde(default)]
    clear: Vec<MacAddr>,
    /// The first agent of a new site registers: `"id site"`.
    new_agent: Option<String>,
    /// The collector restarts: the policies come back from the persisted rows.
    #[serde(default)]
    restart: bool,
    #[serde(default)]
    expect_events: Vec<String>,
    /// Site → devices as `"mac reasons address…"`.
    #[serde(default)]
    expect_policy: BTreeMap<String, Vec<String>>,
    /// Site → networks.
    #[serde(default)]
    expect_networks: BTreeMap<String, Vec<String>>,
    /// Site → version.
    #[serde(default)]
    expect_versions: BTreeMap<String, u64>,
    /// Site → passive-only.
    #[serde(default)]
    expect_passive: BTreeMap<String, bool>,
}

/// What the database would hold: the rows the changes write.
#[derive(Debug, Default)]
pub(super) struct Persisted(pub(super) BTreeMap<String, SitePolicy>);

impl Persisted {
    pub(super) fn apply(&mut self, changes: &PolicyChanges) {
        for row in &changes.devices {
            let site = self.0.entry(row.site.clone()).or_default();
            match &row.device {
                Some(device) => {
                    site.devices.insert(row.mac, device.clone());
                }
                None => {
                    site.devices.remove(&row.mac);
                }
            }
        }
        for record in &changes.sites {
            let site = self.0.entry(record.site.clone()).or_default();
            site.version = record.version;
            site.networks.clone_from(&record.networks);
        }
    }
}

/// "kind mac site [reason]".
fn describe(event: &crate::audit::NewEvent) -> String {
    let details: serde_json::Value = serde_json::from_str(&event.details).unwrap();
    let mac = event.mac.map(|mac| mac.to_string()).unwrap_or_default();
    let site = details["site"].as_str().unwrap_or_default();
    match details["reason"].as_str() {
        Some(reason) => format!("{} {mac} {site} {reason}", event.kind),
        None => format!("{} {mac} {site}", event.kind),
    }
}

pub(super) fn describe_device(mac: &MacAddr, device: &PolicyDevice) -> String {
    let mut text = format!("{mac} {}", device.reasons);
    for ip in &device.addresses {
        text.push_str(&format!(" {ip}"));
    }
    text
}

/// Site → devices, for comparing policies whatever their versions and times.
pub(super) fn contents(
    sites: impl IntoIterator<Item = (String, SitePolicy)>,
) -> BTreeMap<String, (Vec<String>, Vec<IpNet>)> {
    sites
        .into_iter()
        .map(|(name, policy)| {
            let devices = policy
                .devices
                .iter()
                .map(|(mac, device)| describe_device(mac, device))
                .collect();
            (name, (devices, policy.networks))
        })
        .collect()
}

fn state_sites(state: &PolicyState) -> Vec<(String, SitePolicy)> {
    state
        .sites()
        .map(|(name, policy)| (name.to_owned(), policy.clone()))
        .collect()
}

fn settings_of(file: &SettingsFile) -> PolicySettings {
    let mut settings = PolicySettings::default();
    if let Some(categories) = &file.protect_categories {
        settings.protect_categories = categories.iter().copied().collect();
    }
    for (site, entries) in &file.sites {
        settings.sites.insert(
            site.clone(),
            SiteExclusions::from_entries(entries.iter().map(String::as_str)).unwrap(),
        );
    }
    settings
}

fn run(name: &str, text: &str) {
    let scenario: Scenario = toml::from_str(text).unwrap_or_else(|error| panic!("{name}: {error}"));
    let rules = Rules::defaults().unwrap();
    let settings = settings_of(&scenario.settings);
    let mut agent_sites: HashMap<AgentId, String> = scenario
        .agents
        .iter()
        .map(|(id, site)| (id.parse().unwrap(), site.clone()))
        .collect();
    let mut inventory = Inventory::new();
    let mut registry: HashMap<MacAddr, RegistryEntry> = HashMap::new();
    let mut overrides: HashMap<MacAddr, Override> = HashMap::new();
    let mut persisted = Persisted::default();
    let start = scenario.step[0].at;
    let (mut state, changes) = {
        let inputs = Inputs {
            inventory: &inventory,
            agent_sites: &agent_sites,
            registry: &registry,
            overrides: &overrides,
        };
        PolicyState::restore(settings.clone(), BTreeMap::new(), &inputs, &rules, start)
    };
    persisted.apply(&changes);
    // What the first start records belongs to the first step.
    let mut first_start: Vec<String> = changes.events.iter().map(describe).collect();

    for (index, step) in scenario.step.iter().enumerate() {
        let context = format!(
            "{name} step {} ({}): {}",
            index + 1,
            step.at,
            scenario.description
        );
        let mut events = std::mem::take(&mut first_start);
        let mut record = |changes: PolicyChanges, persisted: &mut Persisted| {
            persisted.apply(&changes);
            events.extend(changes.events.iter().map(describe));
        };
        if let Some(new_agent) = &step.new_agent {
            let (id, site) = new_agent.split_once(' ').unwrap();
            agent_sites.insert(id.parse().unwrap(), site.to_owned());
            let inputs = Inputs {
                inventory: &inventory,
                agent_sites: &agent_sites,
                registry: &registry,
                overrides: &overrides,
            };
            record(state.add_site(site, &inputs, step.at), &mut persisted);
        }
        if !step.observe.is_empty() {
            let mut dirty = Dirty::default();
            for sighting in &step.observe {
                let mut observation = Observation::new(sighting.mac, step.at, Source::ArpPassive);
                observation.ips = sighting.ips.clone();
                observation.hostname = sighting.hostname.clone();
                observation.interface = "eth0".into();
                inventory.merge(sighting.agent, &observation, &mut dirty);
            }
            let inputs = Inputs {
                inventory: &inventory,
                agent_sites: &agent_sites,
                registry: &registry,
                overrides: &overrides,
            };
            record(
                state.after_merge(&inputs, &dirty, &rules, step.at),
                &mut persisted,
            );
        }
        let mut refresh = false;
        for registration in &step.register {
            registry.insert(
                registration.mac,
                RegistryEntry {
                    mac: registration.mac,
                    fields: RegistryFields {
                        category: registration.category,
                        site: registration.site.clone(),
                        do_not_probe: registration.do_not_probe,
                        ..RegistryFields::default()
                    },
                    registered_at: step.at,
                    updated_at: step.at,
                    source: "scenario".into(),
                },
            );
            refresh = true;
        }
        for mac in &step.unregister {
            registry.remove(mac);
            refresh = true;
        }
        for (macs, decision) in [(&step.allow, Decision::Allow), (&step.deny, Decision::Deny)] {
            for mac in macs {
                overrides.insert(
                    *mac,
                    Override {
                        mac: *mac,
                        decision,
                        reason: "scenario".into(),
                        by: "tester".into(),
                        at: step.at,
                    },
                );
                refresh = true;
            }
        }
        for mac in &step.clear {
            overrides.remove(mac);
            refresh = true;
        }
        let inputs = Inputs {
            inventory: &inventory,
            agent_sites: &agent_sites,
            registry: &registry,
            overrides: &overrides,
        };
        if refresh {
            record(state.refresh(&inputs, step.at), &mut persisted);
        }
        if step.restart {
            let stored = std::mem::take(&mut persisted.0);
            let (restored, changes) =
                PolicyState::restore(settings.clone(), stored.clone(), &inputs, &rules, step.at);
            persisted.0 = stored;
            record(changes, &mut persisted);
            state = restored;
        }

        assert_eq!(events, step.expect_events, "{context}: events");
        let sites = contents(state_sites(&state));
        for (site, expected) in &step.expect_policy {
            let devices = sites.get(site).map(|(devices, _)| devices.clone());
            assert_eq!(
                devices.as_ref(),
                Some(expected),
                "{context}: devices of {site}"
            );
        }
        for (site, expected) in &step.expect_networks {
            let networks: Vec<String> = sites
                .get(site)
                .map(|(_, networks)| networks.iter().map(ToString::to_string).collect())
                .unwrap_or_default();
            assert_eq!(&networks, expected, "{context}: networks of {site}");
        }
        for (site, expected) in &step.expect_versions {
            let version = state.site(site).map(|policy| policy.version);
            assert_eq!(version, Some(*expected), "{context}: version of {site}");
        }
        for (site, expected) in &step.expect_passive {
            let policy = state.site(site).unwrap().scan_policy();
            assert_eq!(
                policy.passive_only, *expected,
                "{context}: passive of {site}"
            );
        }

        // Invariant 1: what a fresh start computes from the same inputs.
        let (fresh, _) =
            PolicyState::restore(settings.clone(), BTreeMap::new(), &inputs, &rules, step.at);
        assert_eq!(
            contents(state_sites(&fresh)),
            sites,
            "{context}: incremental and from-scratch policies differ"
        );
        // What the database would hold is what agents are told, versions included.
        let mut held: Vec<(String, SitePolicy)> = persisted.0.clone().into_iter().collect();
        held.retain(|(_, policy)| policy.version > 0);
        assert_eq!(contents(held.clone()), sites, "{context}: persisted rows");
        for (site, policy) in held {
            assert_eq!(
                state.site(&site).map(|current| current.version),
                Some(policy.version),
                "{context}: persisted version of {site}"
            );
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
    seen_by_one_site,
    allow_lifts_only_the_category,
    deny_everywhere,
    registry_entries,
    site_exclusions,
    new_facts_reclassify,
    restart_keeps_versions,
    most_recent_addresses,
);
