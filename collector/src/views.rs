//! One view of an asset for every reader (listings, the asset page, exports): facts from the
//! inventory, the registry's entry, the classification with its evidence, and flags computed
//! at the time of reading (so a query is right even if the collector is not running).
//!
//! Registered devices never seen are listed too (`seen: false`): an auditor needs to know what
//! is missing as much as what is there.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use hygie_proto::{Detail, MacAddr, MdnsService};
use jiff::Timestamp;
use serde::Serialize;

use crate::classify::{self, Category, Evidence, Facts, Identity, Rules};
use crate::inventory::flags::{Flag, FlagRules, FlagSet, asset_flags, unseen_flags};
use crate::inventory::{AgentId, Asset, Inventory};
use crate::registry::{RegistryEntry, RegistryFields};
use crate::store::AgentRecord;

/// Everything known about one asset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetView {
    /// Hardware address.
    pub mac: MacAddr,
    /// Whether any agent has seen it (false: registered, never seen).
    pub seen: bool,
    /// Addresses, most recently seen first.
    pub ips: Vec<IpAddr>,
    /// Host names, most recently seen first.
    pub hostnames: Vec<String>,
    /// IEEE organization, if the address is registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Category.
    pub category: Category,
    /// Finer kind.
    pub kind: String,
    /// Confidence of the classification.
    pub confidence: f64,
    /// Manufacturer, model, firmware and serial number, as the device told them.
    #[serde(flatten)]
    pub identity: Identity,
    /// In the registry.
    pub managed: bool,
    /// The registry's entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryFields>,
    /// Flags at the time of reading.
    pub flags: FlagSet,
    /// First sighting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    /// Latest sighting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// Agents that saw it (`site/name`).
    pub seen_by: Vec<String>,
    /// DNS-SD services.
    pub services: Vec<MdnsService>,
    /// Protocol details: DHCP fingerprint, SSDP headers, LLDP, CDP, NetBIOS names, IPv6 ND.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Detail>,
    /// Why it got its category.
    pub evidence: Vec<Evidence>,
}

/// What views are computed with.
#[derive(Debug, Clone)]
pub struct ViewContext<'a> {
    /// Classification rules.
    pub rules: &'a Rules,
    /// Flag windows and gateways.
    pub flag_rules: &'a FlagRules,
    /// The time of reading.
    pub now: Timestamp,
}

/// Filters of `assets`. The SQL of the read port applies the same ones (Invariant 2 of
/// [`crate::store::listing`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only assets with this flag.
    pub flag: Option<Flag>,
    /// Only assets of this category.
    pub category: Option<Category>,
    /// Only assets of this kind (exactly).
    pub kind: Option<String>,
    /// Only assets seen by agents of this site.
    pub site: Option<String>,
    /// Only assets whose IEEE vendor contains this text (ASCII case ignored).
    pub vendor: Option<String>,
    /// Only assets whose MAC, addresses, host names, vendor, manufacturer, model or registry
    /// asset tag, name, location or owner contain this text (case ignored).
    pub search: Option<String>,
}

impl Filter {
    /// Whether `view` passes.
    pub fn accepts(&self, view: &AssetView) -> bool {
        self.flag.is_none_or(|flag| view.flags.contains(flag))
            && self
                .category
                .is_none_or(|category| view.category == category)
            && self.kind.as_ref().is_none_or(|kind| view.kind == *kind)
            && self.site.as_ref().is_none_or(|site| {
                view.seen_by
                    .iter()
                    .any(|agent| agent.split_once('/').is_some_and(|(s, _)| s == site))
            })
            && self.vendor.as_ref().is_none_or(|wanted| {
                view.vendor.as_ref().is_some_and(|vendor| {
                    vendor
                        .to_ascii_lowercase()
                        .contains(&wanted.to_ascii_lowercase())
                })
            })
            && self.search.as_ref().is_none_or(|text| {
                crate::inventory::verdict::search_text(
                    view.mac,
                    view.ips.iter().copied(),
                    view.hostnames.iter().map(String::as_str),
                    view.vendor.as_deref(),
                    &view.identity,
                    view.registry.as_ref(),
                )
                .contains(&text.to_lowercase())
            })
    }
}

/// Agent ids to `site/name`, for `seen_by`.
pub fn agent_names(agents: &[AgentRecord]) -> HashMap<AgentId, String> {
    agents
        .iter()
        .map(|agent| (agent.id, format!("{}/{}", agent.site, agent.name)))
        .collect()
}

/// Views of every asset and of every registered device never seen, sorted by MAC.
pub fn asset_views(
    inventory: &Inventory,
    registry: &HashMap<MacAddr, RegistryEntry>,
    agents: &[AgentRecord],
    context: &ViewContext<'_>,
) -> Vec<AssetView> {
    let names = agent_names(agents);
    let mut views: Vec<AssetView> = inventory
        .assets()
        .map(|asset| seen_view(asset, registry.get(&asset.mac), inventory, &names, context))
        .collect();
    views.extend(
        registry
            .values()
            .filter(|entry| inventory.get(&entry.mac).is_none())
            .map(|entry| unseen_view(entry, context)),
    );
    views.sort_by_key(|view| view.mac);
    views
}

/// The view of one device, seen or only registered; `None` if it is neither.
pub fn asset_view(
    mac: MacAddr,
    inventory: &Inventory,
    registry: &HashMap<MacAddr, RegistryEntry>,
    agents: &[AgentRecord],
    context: &ViewContext<'_>,
) -> Option<AssetView> {
    match (inventory.get(&mac), registry.get(&mac)) {
        (Some(asset), entry) => Some(seen_view(
            asset,
            entry,
            inventory,
            &agent_names(agents),
            context,
        )),
        (None, Some(entry)) => Some(unseen_view(entry, context)),
        (None, None) => None,
    }
}

fn seen_view(
    asset: &Asset,
    entry: Option<&RegistryEntry>,
    inventory: &Inventory,
    names: &HashMap<AgentId, String>,
    context: &ViewContext<'_>,
) -> AssetView {
    let classification = asset
        .with_facts(|facts| classify::classify(facts, context.rules))
        .with_declared(entry.and_then(|entry| entry.fields.category));
    let mut ips: Vec<_> = asset.addresses.iter().collect();
    ips.sort_by(|a, b| b.1.last().cmp(&a.1.last()).then(a.0.cmp(b.0)));
    let mut hostnames: Vec<_> = asset.hostnames.iter().collect();
    hostnames.sort_by(|a, b| b.1.last().cmp(&a.1.last()).then(a.0.cmp(b.0)));
    AssetView {
        mac: asset.mac,
        seen: true,
        ips: ips.into_iter().map(|(ip, _)| *ip).collect(),
        hostnames: hostnames
            .into_iter()
            .map(|(name, _)| name.clone())
            .collect(),
        vendor: classification.vendor.map(|vendor| vendor.name),
        category: classification.category,
        kind: classification.kind,
        confidence: classification.confidence,
        identity: classification.identity,
        managed: entry.is_some(),
        registry: entry.map(|entry| entry.fields.clone()),
        flags: asset_flags(
            asset,
            entry.map(|entry| entry.registered_at),
            inventory,
            context.flag_rules,
            context.now,
        ),
        first_seen: Some(asset.seen.first()),
        last_seen: Some(asset.seen.last()),
        seen_by: asset
            .sightings
            .iter()
            .map(|(id, _)| {
                names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("agent#{id}"))
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        services: asset.services(),
        details: asset
            .details
            .values()
            .map(|record| record.latest.clone())
            .collect(),
        evidence: classification.evidence,
    }
}

fn unseen_view(entry: &RegistryEntry, context: &ViewContext<'_>) -> AssetView {
    let classification = classify::classify(&Facts::mac_only(entry.mac), context.rules)
        .with_declared(entry.fields.category);
    let flags = unseen_flags(
        entry.mac,
        entry.registered_at,
        context.flag_rules,
        context.now,
    );
    AssetView {
        mac: entry.mac,
        seen: false,
        ips: Vec::new(),
        hostnames: Vec::new(),
        vendor: classification.vendor.map(|vendor| vendor.name),
        category: classification.category,
        kind: classification.kind,
        confidence: classification.confidence,
        identity: classification.identity,
        managed: true,
        registry: Some(entry.fields.clone()),
        flags,
        first_seen: None,
        last_seen: None,
        seen_by: Vec::new(),
        services: Vec::new(),
        details: Vec::new(),
        evidence: classification.evidence,
    }
}

/// Counts per category and per flag, for snapshot headers and reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// All assets listed.
    pub assets: usize,
    /// Assets seen on the network.
    pub seen: usize,
    /// Assets in the registry.
    pub managed: usize,
    /// Per category (every category, zeros included).
    pub by_category: BTreeMap<String, usize>,
    /// Per flag (every flag, zeros included).
    pub by_flag: BTreeMap<String, usize>,
    /// Per site: assets seen by its agents (an asset seen at two sites counts at both).
    pub by_site: BTreeMap<String, usize>,
}

/// Counts over `views`.
pub fn counts(views: &[AssetView]) -> Counts {
    let mut counts = Counts::zero();
    for view in views {
        counts.add(view);
    }
    counts
}

impl Counts {
    /// No asset yet: every category and flag at zero.
    pub fn zero() -> Counts {
        Counts {
            assets: 0,
            seen: 0,
            managed: 0,
            by_category: Category::ALL
                .iter()
                .map(|category| (category.as_str().to_owned(), 0))
                .collect(),
            by_flag: Flag::ALL
                .iter()
                .map(|flag| (flag.as_str().to_owned(), 0))
                .collect(),
            by_site: BTreeMap::new(),
        }
    }

    /// Counts one more asset: how outputs that stream their rows (reconstructions) learn their
    /// counts without holding the rows.
    pub fn add(&mut self, view: &AssetView) {
        self.assets += 1;
        self.seen += usize::from(view.seen);
        self.managed += usize::from(view.managed);
        *self
            .by_category
            .entry(view.category.as_str().to_owned())
            .or_default() += 1;
        for flag in view.flags.iter() {
            *self.by_flag.entry(flag.as_str().to_owned()).or_default() += 1;
        }
        let sites: BTreeSet<&str> = view
            .seen_by
            .iter()
            .filter_map(|agent| agent.split_once('/').map(|(site, _)| site))
            .collect();
        for site in sites {
            *self.by_site.entry(site.to_owned()).or_default() += 1;
        }
    }
}
