//! Verdicts: what the writer concludes about each listed device (its classification with the
//! registry's declaration applied, its flags, and the text `--search` looks in), stored with
//! the device so that a read never classifies.
//!
//! Invariants (tests in `verdict::tests` are named after them):
//! 1. A verdict is a function of the asset's facts, its registry entry, the rules and the flags
//!    the writer last computed: [`of_asset`] and [`of_unseen`] read nothing else (no clock).
//! 2. The writer rewrites a device's verdict in the commit that changes any of its inputs:
//!    new asset, new address or host name, changed services or details ([`super::Dirty`]'s
//!    `verdicts`), a flag change, or a change of its registry entry.
//! 3. The [`digest`] names the rules and flag windows verdicts are computed with; when the
//!    stored one differs, the writer recomputes every verdict in slices of at most
//!    [`RECOMPUTE_SLICE`] devices in MAC order, recording how far it got, so a restart resumes
//!    and readers can say that they show the previous verdicts until it is done.
//! 4. The search text holds, lower-cased, the MAC, addresses, host names, vendor, manufacturer,
//!    model and the registry's asset tag, name, location and owner: nothing else, so a
//!    filter over the views ([`crate::views::Filter::accepts`]) and one in SQL agree.

use std::net::IpAddr;

use hygie_classify::{Classification, Facts, Identity, Rules, classify};
use hygie_proto::MacAddr;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Asset;
use super::flags::{FlagRules, FlagSet};
use crate::registry::{RegistryEntry, RegistryFields};

/// Most devices one recomputation slice classifies (Invariant 3): a slice takes tens of
/// milliseconds, so batches keep flowing between slices.
pub const RECOMPUTE_SLICE: usize = 5_000;

/// What is stored for one listed device.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The device.
    pub mac: MacAddr,
    /// Seen on the network (false: registered, never seen).
    pub seen: bool,
    /// Its classification, the registry's declaration applied.
    pub classification: Classification,
    /// Its flags, as the writer last computed them.
    pub flags: FlagSet,
    /// Lower-case text `--search` looks in (Invariant 4).
    pub search: String,
}

/// The verdict on a seen asset (Invariant 1).
pub fn of_asset(asset: &Asset, entry: Option<&RegistryEntry>, rules: &Rules) -> Verdict {
    let classification = asset
        .with_facts(|facts| classify(facts, rules))
        .with_declared(entry.and_then(|entry| entry.fields.category));
    let search = search_text(
        asset.mac,
        asset.addresses.keys().copied(),
        asset.hostnames.keys().map(String::as_str),
        classification
            .vendor
            .as_ref()
            .map(|vendor| vendor.name.as_str()),
        &classification.identity,
        entry.map(|entry| &entry.fields),
    );
    Verdict {
        mac: asset.mac,
        seen: true,
        classification,
        flags: asset.flags,
        search,
    }
}

/// The verdict on a registered device never seen, with its stored never-seen flags.
pub fn of_unseen(entry: &RegistryEntry, flags: FlagSet, rules: &Rules) -> Verdict {
    let classification =
        classify(&Facts::mac_only(entry.mac), rules).with_declared(entry.fields.category);
    let search = search_text(
        entry.mac,
        std::iter::empty(),
        std::iter::empty(),
        classification
            .vendor
            .as_ref()
            .map(|vendor| vendor.name.as_str()),
        &classification.identity,
        Some(&entry.fields),
    );
    Verdict {
        mac: entry.mac,
        seen: false,
        classification,
        flags,
        search,
    }
}

/// The text `--search` looks in (Invariant 4), one field a line, lower-cased.
pub fn search_text<'a>(
    mac: MacAddr,
    ips: impl Iterator<Item = IpAddr>,
    hostnames: impl Iterator<Item = &'a str>,
    vendor: Option<&str>,
    identity: &Identity,
    registry: Option<&RegistryFields>,
) -> String {
    let Identity {
        manufacturer,
        model,
        ..
    } = identity;
    let mut fields: Vec<String> = vec![mac.to_string()];
    fields.extend(ips.map(|ip| ip.to_string()));
    fields.extend(hostnames.map(str::to_owned));
    fields.extend(vendor.map(str::to_owned));
    fields.extend(manufacturer.iter().cloned());
    fields.extend(model.iter().cloned());
    if let Some(registry) = registry {
        for field in [
            &registry.asset_tag,
            &registry.name,
            &registry.location,
            &registry.owner,
        ] {
            if !field.is_empty() {
                fields.push(field.clone());
            }
        }
    }
    fields.join("\n").to_lowercase()
}

/// Names the rules and flag windows verdicts are computed with (Invariant 3): the rules as
/// loaded, the flag rules, the embedded IEEE data and this build's version.
pub fn digest(rules: &Rules, flag_rules: &FlagRules) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("{rules:?}").as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(flag_rules).unwrap_or_default());
    hasher.update([0]);
    hasher.update(hygie_classify::vendor::registry_date().as_bytes());
    hasher.update([0]);
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hex::encode(hasher.finalize())
}

/// What the stored verdicts were computed with, kept in `settings` (Invariant 3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictState {
    /// The digest every stored verdict was computed with; `None` before the first full pass.
    pub digest: Option<String>,
    /// A recomputation under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recomputing: Option<Recomputing>,
    /// The registry generation the verdicts reflect.
    #[serde(default)]
    pub registry_generation: i64,
}

/// How far a recomputation has gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recomputing {
    /// The digest it computes with.
    pub digest: String,
    /// Every device up to this MAC has its new verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_through: Option<MacAddr>,
}

impl VerdictState {
    /// Whether the stored verdicts were all computed with `digest`.
    pub fn is_current(&self, digest: &str) -> bool {
        self.recomputing.is_none() && self.digest.as_deref() == Some(digest)
    }
}

#[cfg(test)]
mod tests;
