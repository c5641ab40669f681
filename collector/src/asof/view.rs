//! A device at the moment, as every reader shows an asset ([`AssetView`]): classified on the
//! facts known by then with the registry entry of then (Invariant 8), its flags the recorded
//! ones (Invariant 4).

use std::collections::HashMap;
use std::net::IpAddr;

use hygie_proto::MacAddr;
use jiff::Timestamp;

use super::PastAsset;
use crate::classify::Rules;
use crate::inventory::flags::FlagRules;
use crate::inventory::{Inventory, Seen};
use crate::query::SeenFact;
use crate::store::AgentRecord;
use crate::views::{self, AssetView, ViewContext};

/// What views of past devices are computed with.
#[derive(Debug)]
pub struct PastContext<'a> {
    /// Classification rules.
    pub rules: &'a Rules,
    /// Every agent, for `seen_by`.
    pub agents: &'a [AgentRecord],
    /// The moment.
    pub at: Timestamp,
}

/// The view of `past` at the moment.
pub fn past_view(past: &PastAsset, context: &PastContext<'_>) -> Option<AssetView> {
    let inventory = Inventory::from_assets(past.asset.iter().cloned());
    let registry: HashMap<MacAddr, _> = past
        .registry
        .iter()
        .map(|entry| (entry.mac, entry.clone()))
        .collect();
    // The flags computed here are replaced by the recorded ones below.
    let flag_rules = FlagRules::default();
    let view_context = ViewContext {
        rules: context.rules,
        flag_rules: &flag_rules,
        now: context.at,
    };
    let mut view = views::asset_view(
        past.mac,
        &inventory,
        &registry,
        context.agents,
        &view_context,
    )?;
    view.flags = past.flags;
    Some(view)
}

fn seen_facts<T: Clone + Ord>(facts: impl Iterator<Item = (T, Seen)>) -> Vec<SeenFact<T>> {
    let mut facts: Vec<SeenFact<T>> = facts
        .map(|(value, seen)| SeenFact {
            value,
            first_seen: seen.first(),
            last_seen: seen.last(),
        })
        .collect();
    facts.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.value.cmp(&b.value)));
    facts
}

/// Addresses and host names of `past`, most recently seen first, as the asset page lists them.
pub fn past_facts(past: &PastAsset) -> (Vec<SeenFact<IpAddr>>, Vec<SeenFact<String>>) {
    let Some(asset) = &past.asset else {
        return (Vec::new(), Vec::new());
    };
    (
        seen_facts(asset.addresses.iter().map(|(ip, seen)| (*ip, *seen))),
        seen_facts(
            asset
                .hostnames
                .iter()
                .map(|(name, seen)| (name.clone(), *seen)),
        ),
    )
}
