//! Each site's policy, kept up to date by the writer. Pure: the inputs, the classifier's rules
//! and the time are passed in; the writer persists the [`PolicyChanges`] and publishes.
//!
//! What a site's policy holds (the module's definition, checked by `tests.rs` against every
//! incremental update):
//! - a device whose category is protected (its classification, or the category the registry
//!   declares), seen by an agent of the site, unless an operator allowed probing it: reason
//!   `biomedical`;
//! - a registry entry marked do-not-probe, at every site or at the one it names: `registry`;
//! - a device an operator denied, at every site: `operator`;
//! - a MAC in the site's configured exclusions: `site`; its networks and single addresses are
//!   the policy's networks.
//!
//! Each device carries up to [`limits::MAX_POLICY_DEVICE_ADDRESSES`] of its most recent
//! addresses, in address order (so that merely seeing it again changes nothing).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;

use hygie_proto::{MacAddr, ProtectedDevice, ProtectionReason, ScanPolicy, limits};
use ipnet::IpNet;
use jiff::Timestamp;
use serde::Serialize;

use super::overrides::{Decision, Override};
use super::settings::PolicySettings;
use crate::audit::{EventKind, NewEvent};
use crate::classify::{Rules, classify};
use crate::inventory::{AgentId, Asset, Dirty, Inventory};
use crate::registry::RegistryEntry;

/// The reasons one device is protected at one site.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Reasons(u8);

impl Reasons {
    /// No reason: not protected.
    pub const NONE: Reasons = Reasons(0);

    /// Strongest first: what an operator's `allow` can never lift leads, the category comes
    /// last. The first present is the one the contract's single reason carries.
    const ORDER: [ProtectionReason; 4] = [
        ProtectionReason::Operator,
        ProtectionReason::Registry,
        ProtectionReason::Site,
        ProtectionReason::Biomedical,
    ];

    fn bit(reason: ProtectionReason) -> u8 {
        match reason {
            ProtectionReason::Biomedical => 1,
            ProtectionReason::Registry => 2,
            ProtectionReason::Operator => 4,
            ProtectionReason::Site => 8,
        }
    }

    /// These reasons and `reason`.
    #[must_use]
    pub fn with(self, reason: ProtectionReason) -> Self {
        Reasons(self.0 | Self::bit(reason))
    }

    /// Whether `reason` is one of them.
    pub fn contains(self, reason: ProtectionReason) -> bool {
        self.0 & Self::bit(reason) != 0
    }

    /// Whether there is none.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The reasons, strongest first.
    pub fn iter(self) -> impl Iterator<Item = ProtectionReason> {
        Self::ORDER
            .into_iter()
            .filter(move |reason| self.contains(*reason))
    }

    /// The strongest reason.
    pub fn primary(self) -> Option<ProtectionReason> {
        self.iter().next()
    }
}

impl FromIterator<ProtectionReason> for Reasons {
    fn from_iter<I: IntoIterator<Item = ProtectionReason>>(reasons: I) -> Self {
        reasons.into_iter().fold(Reasons::NONE, Reasons::with)
    }
}

impl fmt::Display for Reasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, reason) in self.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            f.write_str(reason.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for Reasons {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// One device of a site's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDevice {
    /// Why it is protected there.
    pub reasons: Reasons,
    /// Its most recent addresses, in address order.
    pub addresses: Vec<IpAddr>,
    /// When it entered the site's policy.
    pub since: Timestamp,
}

/// One site's policy, as its agents are told it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SitePolicy {
    /// Strictly increasing across changes and restarts (0: never published).
    pub version: u64,
    /// Protected devices.
    pub devices: BTreeMap<MacAddr, PolicyDevice>,
    /// Networks never probed (the site's configured exclusions).
    pub networks: Vec<IpNet>,
}

impl SitePolicy {
    /// Whether it is too large for one message: agents are then told to probe nothing.
    pub fn passive_only(&self) -> bool {
        self.devices.len() > limits::MAX_POLICY_DEVICES
            || self.networks.len() > limits::MAX_POLICY_NETWORKS
    }

    /// The message its agents get.
    pub fn scan_policy(&self) -> ScanPolicy {
        if self.passive_only() {
            // Not built only to be thrown away by `fitted`: a large site is the costly case.
            return ScanPolicy {
                version: self.version,
                devices: Vec::new(),
                networks: Vec::new(),
                passive_only: true,
            };
        }
        ScanPolicy {
            version: self.version,
            devices: self
                .devices
                .iter()
                .map(|(mac, device)| ProtectedDevice {
                    mac: *mac,
                    addresses: device.addresses.clone(),
                    reason: device
                        .reasons
                        .primary()
                        .unwrap_or(ProtectionReason::Operator),
                })
                .collect(),
            networks: self.networks.clone(),
            passive_only: false,
        }
        .fitted()
    }
}

/// What the policies are computed from, borrowed from the writer.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Every asset.
    pub inventory: &'a Inventory,
    /// Every known agent's site.
    pub agent_sites: &'a HashMap<AgentId, String>,
    /// The registry.
    pub registry: &'a HashMap<MacAddr, RegistryEntry>,
    /// Operators' decisions.
    pub overrides: &'a HashMap<MacAddr, Override>,
}

/// A device row to persist: listed (or changed) at a site, or no longer listed (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// The site.
    pub site: String,
    /// The device.
    pub mac: MacAddr,
    /// Its entry, `None` once removed.
    pub device: Option<PolicyDevice>,
}

/// A site whose policy changed: what to persist besides its devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRecord {
    /// The site.
    pub site: String,
    /// Its new version.
    pub version: u64,
    /// Its networks.
    pub networks: Vec<IpNet>,
    /// Whether its agents are told to probe nothing (too large to send).
    pub passive_only: bool,
}

/// What one update changed: to commit with the change that caused it, then publish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyChanges {
    /// Devices entering (`probing_forbidden`) and leaving (`probing_permitted`) policies.
    pub events: Vec<NewEvent>,
    /// Device rows to write.
    pub devices: Vec<DeviceRow>,
    /// Sites whose policy changed, each with its new version.
    pub sites: Vec<SiteRecord>,
}

impl PolicyChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.devices.is_empty() && self.sites.is_empty()
    }
}

#[derive(Serialize)]
struct Forbidden<'a> {
    site: &'a str,
    reason: ProtectionReason,
    reasons: Reasons,
}

#[derive(Serialize)]
struct Permitted<'a> {
    site: &'a str,
    was: Reasons,
}

#[derive(Debug, Clone)]
struct Site {
    name: String,
    policy: SitePolicy,
}

#[derive(Debug, Clone, Default)]
struct Pending {
    events: Vec<NewEvent>,
    devices: Vec<DeviceRow>,
    sites: BTreeSet<usize>,
}

/// Every site's policy and what keeps it current.
#[derive(Debug, Clone)]
pub struct PolicyState {
    settings: PolicySettings,
    /// Assets the classifier puts in a protected category, so that only assets whose facts
    /// changed are classified again.
    categorized: HashSet<MacAddr>,
    sites: Vec<Site>,
    site_ids: HashMap<String, usize>,
    /// The sites whose configuration lists each MAC.
    configured: HashMap<MacAddr, Vec<usize>>,
    /// The sites whose policy lists each device.
    listed_in: HashMap<MacAddr, Vec<usize>>,
    /// The highest version given so far.
    version: u64,
    pending: Pending,
}

impl PolicyState {
    /// The policies agents were last told (`stored`, as persisted), brought up to date with
    /// the inputs: every asset classified, every known site present (configured ones and
    /// agents'). Returns the changes to persist; afterwards every site has a version.
    pub fn restore(
        settings: PolicySettings,
        stored: BTreeMap<String, SitePolicy>,
        inputs: &Inputs<'_>,
        rules: &Rules,
        now: Timestamp,
    ) -> (Self, PolicyChanges) {
        let mut state = PolicyState {
            version: stored.values().map(|site| site.version).max().unwrap_or(0),
            settings,
            categorized: HashSet::new(),
            sites: Vec::new(),
            site_ids: HashMap::new(),
            configured: HashMap::new(),
            listed_in: HashMap::new(),
            pending: Pending::default(),
        };
        for (name, policy) in stored {
            let id = state.sites.len();
            for mac in policy.devices.keys() {
                state.listed_in.entry(*mac).or_default().push(id);
            }
            state.site_ids.insert(name.clone(), id);
            state.sites.push(Site { name, policy });
        }
        let names: BTreeSet<String> = state
            .settings
            .sites
            .keys()
            .chain(inputs.agent_sites.values())
            .cloned()
            .collect();
        for name in names {
            state.ensure_site(&name);
        }
        for id in 0..state.sites.len() {
            let networks = state
                .settings
                .sites
                .get(&state.sites[id].name)
                .map(|site| site.networks.clone())
                .unwrap_or_default();
            if state.sites[id].policy.networks != networks {
                state.sites[id].policy.networks = networks;
                state.pending.sites.insert(id);
            }
        }
        for (name, site) in &state.settings.sites {
            let Some(&id) = state.site_ids.get(name) else {
                continue;
            };
            for mac in &site.macs {
                state.configured.entry(*mac).or_default().push(id);
            }
        }
        for asset in inputs.inventory.assets() {
            if state
                .settings
                .protects(asset.with_facts(|facts| classify(facts, rules)).category)
            {
                state.categorized.insert(asset.mac);
            }
        }
        state.recheck_all(inputs, now);
        let changes = state.finish();
        (state, changes)
    }

    /// A site whose first agent just registered (nothing changes for a known site).
    pub fn add_site(&mut self, site: &str, inputs: &Inputs<'_>, now: Timestamp) -> PolicyChanges {
        if self.site_ids.contains_key(site) {
            return PolicyChanges::default();
        }
        self.ensure_site(site);
        // Registry entries and denials apply at every site, this one included.
        self.recheck_all(inputs, now);
        self.finish()
    }

    /// After a group commit's merge: classifies the assets whose facts changed (new assets,
    /// new host names, services or details; not every observation), and rechecks the devices
    /// the merge could move in or out of a policy or give a new address.
    pub fn after_merge(
        &mut self,
        inputs: &Inputs<'_>,
        dirty: &Dirty,
        rules: &Rules,
        now: Timestamp,
    ) -> PolicyChanges {
        let mut recheck: BTreeSet<MacAddr> = BTreeSet::new();
        for mac in dirty.new_assets.union(&dirty.facts_changed) {
            let Some(asset) = inputs.inventory.get(mac) else {
                continue;
            };
            let protected = self
                .settings
                .protects(asset.with_facts(|facts| classify(facts, rules)).category);
            let changed = if protected {
                self.categorized.insert(*mac)
            } else {
                self.categorized.remove(mac)
            };
            if changed || dirty.new_assets.contains(mac) {
                recheck.insert(*mac);
            }
        }
        for (mac, _) in &dirty.new_addresses {
            if self.listed_in.contains_key(mac) {
                recheck.insert(*mac);
            }
        }
        let mut previous = None;
        for (mac, _) in &dirty.addresses {
            // Rows come sorted by MAC: look at each asset once.
            if previous == Some(*mac) {
                continue;
            }
            previous = Some(*mac);
            // With more addresses than a policy lists, seeing an old one again can make it
            // one of the most recent.
            if self.listed_in.contains_key(mac)
                && inputs.inventory.get(mac).is_some_and(|asset| {
                    asset.addresses.len() > limits::MAX_POLICY_DEVICE_ADDRESSES
                })
            {
                recheck.insert(*mac);
            }
        }
        for (mac, agent) in &dirty.sightings {
            // A protected device seen by an agent of another site is protected there too (it
            // may be listed there already for another reason).
            if recheck.contains(mac) || !self.category_protected(*mac, inputs) {
                continue;
            }
            let Some(&id) = inputs
                .agent_sites
                .get(agent)
                .and_then(|site| self.site_ids.get(site))
            else {
                continue;
            };
            let protected_there = self.sites[id]
                .policy
                .devices
                .get(mac)
                .is_some_and(|device| device.reasons.contains(ProtectionReason::Biomedical));
            if !protected_there {
                recheck.insert(*mac);
            }
        }
        for mac in recheck {
            self.recheck(mac, inputs, now);
        }
        self.finish()
    }

    /// After the registry or the operators' decisions changed: rechecks every device either
    /// could concern.
    pub fn refresh(&mut self, inputs: &Inputs<'_>, now: Timestamp) -> PolicyChanges {
        self.recheck_all(inputs, now);
        self.finish()
    }

    /// One site's policy.
    pub fn site(&self, name: &str) -> Option<&SitePolicy> {
        self.site_ids.get(name).map(|&id| &self.sites[id].policy)
    }

    /// Every site's policy, by name.
    pub fn sites(&self) -> impl Iterator<Item = (&str, &SitePolicy)> {
        self.sites
            .iter()
            .map(|site| (site.name.as_str(), &site.policy))
    }

    /// Whether the classifier puts `mac` in a protected category.
    pub fn is_categorized(&self, mac: MacAddr) -> bool {
        self.categorized.contains(&mac)
    }

    fn ensure_site(&mut self, name: &str) -> usize {
        if let Some(&id) = self.site_ids.get(name) {
            return id;
        }
        let id = self.sites.len();
        self.sites.push(Site {
            name: name.to_owned(),
            policy: SitePolicy {
                networks: self
                    .settings
                    .sites
                    .get(name)
                    .map(|site| site.networks.clone())
                    .unwrap_or_default(),
                ..SitePolicy::default()
            },
        });
        self.site_ids.insert(name.to_owned(), id);
        // A new site gets a version even with nothing in it: "nothing protected" is news.
        self.pending.sites.insert(id);
        id
    }

    /// Whether `mac`'s category protects it (an operator's `allow` aside).
    fn category_protected(&self, mac: MacAddr, inputs: &Inputs<'_>) -> bool {
        let allowed = inputs
            .overrides
            .get(&mac)
            .is_some_and(|decision| decision.decision == Decision::Allow);
        let declared = inputs
            .registry
            .get(&mac)
            .and_then(|entry| entry.fields.category)
            .is_some_and(|category| self.settings.protects(category));
        // Either the evidence or the registry's word protects: a clerical error in either
        // must not expose a pump; `allow` is there for the real exceptions.
        !allowed && (self.categorized.contains(&mac) || declared)
    }

    /// The sites whose policy should list `mac`, with the reasons.
    fn wanted(&self, mac: MacAddr, inputs: &Inputs<'_>) -> Vec<(usize, Reasons)> {
        let mut wanted: Vec<(usize, Reasons)> = Vec::new();
        let mut add = |id: usize, reason: ProtectionReason| match wanted
            .iter_mut()
            .find(|(site, _)| *site == id)
        {
            Some((_, reasons)) => *reasons = reasons.with(reason),
            None => wanted.push((id, Reasons::NONE.with(reason))),
        };
        let entry = inputs
            .registry
            .get(&mac)
            .filter(|entry| entry.fields.do_not_probe);
        let denied = inputs
            .overrides
            .get(&mac)
            .is_some_and(|decision| decision.decision == Decision::Deny);
        if denied || entry.is_some() {
            for (id, site) in self.sites.iter().enumerate() {
                if denied {
                    add(id, ProtectionReason::Operator);
                }
                if entry.is_some_and(|entry| {
                    entry.fields.site.is_empty() || entry.fields.site == site.name
                }) {
                    add(id, ProtectionReason::Registry);
                }
            }
        }
        for &id in self.configured.get(&mac).into_iter().flatten() {
            add(id, ProtectionReason::Site);
        }
        if self.category_protected(mac, inputs)
            && let Some(asset) = inputs.inventory.get(&mac)
        {
            for agent in asset.sightings.keys() {
                if let Some(&id) = inputs
                    .agent_sites
                    .get(agent)
                    .and_then(|site| self.site_ids.get(site))
                {
                    add(id, ProtectionReason::Biomedical);
                }
            }
        }
        wanted
    }

    fn recheck_all(&mut self, inputs: &Inputs<'_>, now: Timestamp) {
        let concerned: BTreeSet<MacAddr> = self
            .categorized
            .iter()
            .chain(self.listed_in.keys())
            .chain(self.configured.keys())
            .chain(inputs.overrides.keys())
            .copied()
            .chain(
                inputs
                    .registry
                    .values()
                    .filter(|entry| {
                        entry.fields.do_not_probe
                            || entry
                                .fields
                                .category
                                .is_some_and(|category| self.settings.protects(category))
                    })
                    .map(|entry| entry.mac),
            )
            .collect();
        for mac in concerned {
            self.recheck(mac, inputs, now);
        }
    }

    /// Brings `mac`'s entry at every site to what the inputs say.
    fn recheck(&mut self, mac: MacAddr, inputs: &Inputs<'_>, now: Timestamp) {
        let wanted = self.wanted(mac, inputs);
        let listed = self.listed_in.remove(&mac).unwrap_or_default();
        if wanted.is_empty() && listed.is_empty() {
            return;
        }
        let addresses = inputs
            .inventory
            .get(&mac)
            .map(recent_addresses)
            .unwrap_or_default();
        let mut ids: Vec<usize> = wanted.iter().map(|(id, _)| *id).chain(listed).collect();
        // Events in site order: the chain must not depend on the order sites appeared in.
        ids.sort_unstable_by(|a, b| self.sites[*a].name.cmp(&self.sites[*b].name));
        ids.dedup();
        for id in ids {
            let want = wanted
                .iter()
                .find(|(site, _)| *site == id)
                .map(|(_, reasons)| *reasons);
            let site = &mut self.sites[id];
            let row = match (site.policy.devices.get_mut(&mac), want) {
                (None, None) => None,
                (None, Some(reasons)) => {
                    let device = PolicyDevice {
                        reasons,
                        addresses: addresses.clone(),
                        since: now,
                    };
                    site.policy.devices.insert(mac, device.clone());
                    self.pending.events.push(NewEvent::new(
                        now,
                        Some(mac),
                        EventKind::ProbingForbidden,
                        &Forbidden {
                            site: &site.name,
                            reason: reasons.primary().unwrap_or(ProtectionReason::Operator),
                            reasons,
                        },
                    ));
                    Some(Some(device))
                }
                (Some(device), Some(reasons)) => {
                    if device.reasons == reasons && device.addresses == addresses {
                        None
                    } else {
                        device.reasons = reasons;
                        device.addresses.clone_from(&addresses);
                        Some(Some(device.clone()))
                    }
                }
                (Some(device), None) => {
                    let was = device.reasons;
                    site.policy.devices.remove(&mac);
                    self.pending.events.push(NewEvent::new(
                        now,
                        Some(mac),
                        EventKind::ProbingPermitted,
                        &Permitted {
                            site: &site.name,
                            was,
                        },
                    ));
                    Some(None)
                }
            };
            if let Some(device) = row {
                self.pending.devices.push(DeviceRow {
                    site: site.name.clone(),
                    mac,
                    device,
                });
                self.pending.sites.insert(id);
            }
        }
        if !wanted.is_empty() {
            let mut sites: Vec<usize> = wanted.into_iter().map(|(id, _)| id).collect();
            sites.sort_unstable();
            self.listed_in.insert(mac, sites);
        }
    }

    /// Gives every changed site the next version and hands the changes over.
    fn finish(&mut self) -> PolicyChanges {
        let pending = std::mem::take(&mut self.pending);
        let mut changes = PolicyChanges {
            events: pending.events,
            devices: pending.devices,
            sites: Vec::new(),
        };
        if pending.sites.is_empty() {
            return changes;
        }
        // One version for the whole change: persisted with it, so a restart continues above.
        self.version += 1;
        for id in pending.sites {
            let site = &mut self.sites[id];
            site.policy.version = self.version;
            changes.sites.push(SiteRecord {
                site: site.name.clone(),
                version: self.version,
                networks: site.policy.networks.clone(),
                passive_only: site.policy.passive_only(),
            });
        }
        changes.sites.sort_by(|a, b| a.site.cmp(&b.site));
        changes
    }
}

/// Up to [`limits::MAX_POLICY_DEVICE_ADDRESSES`] most recently used addresses, in address
/// order.
fn recent_addresses(asset: &Asset) -> Vec<IpAddr> {
    if asset.addresses.len() <= limits::MAX_POLICY_DEVICE_ADDRESSES {
        return asset.addresses.keys().copied().collect();
    }
    let mut by_recency: Vec<(Timestamp, IpAddr)> = asset
        .addresses
        .iter()
        .map(|(ip, seen)| (seen.last(), *ip))
        .collect();
    by_recency.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut recent: Vec<IpAddr> = by_recency
        .into_iter()
        .take(limits::MAX_POLICY_DEVICE_ADDRESSES)
        .map(|(_, ip)| ip)
        .collect();
    recent.sort_unstable();
    recent
}
