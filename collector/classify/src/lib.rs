//! What a device is, and why we think so: the IEEE vendor of its MAC plus rules (data) over
//! everything it said of itself (host names, DNS-SD services and TXT records, DHCP
//! fingerprint, SSDP headers, LLDP-MED inventory, CDP platform) give a category, a finer kind,
//! a model, a confidence and the evidence behind them, strongest first. Pure: no I/O, no
//! clock, no runtime; the collector and the agent's offline `scan` and `replay` use the same
//! code, so a biomedical engineer with a laptop gets the verdict the collector would give.
//!
//! # How evidence combines (what an auditor can check by hand)
//! 1. Every matching rule is one piece of [`Evidence`] with its rule's confidence. Of the
//!    vendor and MAC-prefix rules only the most specific one counts (the longest pattern; a
//!    prefix beats any name).
//! 2. Rules marked `defers` (vendors of many kinds of product, and makers of network modules
//!    built into other makers' devices: Lantronix, Digi, Silex, Murata, Espressif...) count
//!    only when no other evidence exists; otherwise they are listed as [`Role::Deferred`].
//!    On their own they give their category with their low confidence and no kind.
//! 3. Evidence for one category combines as independent signals (noisy-OR):
//!    `score = 1 - Π(1 - cᵢ)`. The category with the highest score wins; a tie goes to the
//!    more specific signal ([`Signal`] order).
//! 4. Evidence for another category that is weaker than the winner's strongest evidence is
//!    overruled ([`Role::Overruled`]): a generic vendor rule cannot drag down a TXT record
//!    naming the model. Contrary evidence at least as strong lowers the confidence:
//!    `confidence = score × (1 - contrary / 2)`, `contrary` being the highest noisy-OR score
//!    of such evidence in any other category.
//! 5. The kind is that of the winner's counted evidence naming one: a kind that refines
//!    another (`label_printer` refines `printer`, see the rules' `kinds` table) wins over it;
//!    otherwise the most confident (then the most specific signal) wins. No evidence naming a
//!    kind gives `unknown`.
//!    Evidence alone never reaches certainty: the confidence is capped at 0.99.
//! 6. A category declared in the facility's registry overrides all of it
//!    ([`Classification::with_declared`]).
//!
//! Biomedical is never guessed: a verdict is `biomedical` only when counted evidence says so,
//! and no deferring rule may say it (the rules loader refuses one). The model, manufacturer
//! and firmware come from what the device said ([`Identity`]).

mod explain;
mod facts;
mod identity;
mod rules;
pub mod vendor;

use std::collections::BTreeMap;

use hygie_domain::{Detail, MacAddr, MdnsService};
use serde::{Deserialize, Serialize};

pub use explain::explain;
pub use identity::Identity;
pub use rules::{Category, Rule, Rules, RulesError, Signal, UnknownCategory};
pub use vendor::{Vendor, VendorLookup};

/// The highest confidence evidence alone can give; 1.0 is kept for the registry's word.
pub const MAX_EVIDENCE_CONFIDENCE: f64 = 0.99;

/// The kind of a device when no evidence names one.
pub const UNKNOWN_KIND: &str = "unknown";

/// What a piece of evidence did for the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// It counted.
    Counted,
    /// It disagreed with the verdict and was weaker than the verdict's strongest evidence.
    Overruled,
    /// A vendor of many kinds of product, set aside because other evidence exists.
    Deferred,
}

/// One reason behind a classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The rule that matched.
    pub rule: String,
    /// The signal it read.
    pub signal: Signal,
    /// What matched, e.g. `TXT ty="Lexmark MX622"`.
    pub matched: String,
    /// The category it points to.
    pub category: Category,
    /// The kind it points to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The model it names, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Its confidence.
    pub confidence: f64,
    /// What it did for the verdict.
    pub role: Role,
    /// Its rule defers to any other evidence.
    #[serde(skip)]
    defers: bool,
}

/// The outcome for one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// Registered vendor, if the address has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<Vendor>,
    /// The address is locally administered (randomized or private): it carries no vendor.
    pub randomized_mac: bool,
    /// Category.
    pub category: Category,
    /// Finer kind ([`UNKNOWN_KIND`] when no evidence names one).
    pub kind: String,
    /// Confidence in [0, 1], rounded to hundredths.
    pub confidence: f64,
    /// Manufacturer, model, firmware and serial number, as the device told them.
    #[serde(default, skip_serializing_if = "Identity::is_empty")]
    pub identity: Identity,
    /// Every piece of evidence, strongest first.
    pub evidence: Vec<Evidence>,
}

/// The facts classification reads, borrowed from a device's record.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// Hardware address.
    pub mac: MacAddr,
    /// Host names (from mDNS, DHCP, NetBIOS, LLMNR).
    pub hostnames: Vec<&'a str>,
    /// DNS-SD services with their TXT records.
    pub services: Vec<&'a MdnsService>,
    /// Protocol details: DHCP fingerprints, SSDP headers, LLDP, CDP, NetBIOS, IPv6 ND.
    pub details: Vec<&'a Detail>,
}

impl<'a> Facts<'a> {
    /// A device known by its MAC alone.
    pub fn mac_only(mac: MacAddr) -> Self {
        Facts {
            mac,
            hostnames: Vec::new(),
            services: Vec::new(),
            details: Vec::new(),
        }
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Classifies from facts.
pub fn classify(facts: &Facts<'_>, rules: &Rules) -> Classification {
    let lookup = vendor::lookup(facts.mac);
    let (vendor, randomized) = match &lookup {
        VendorLookup::Registered(vendor) => (Some(vendor.clone()), false),
        VendorLookup::Randomized => (None, true),
        VendorLookup::Unregistered => (None, false),
    };
    let mut evidence = facts::gather(facts, vendor.as_ref(), randomized, rules);
    let verdict = combine(&mut evidence, rules);
    evidence.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(b.signal.cmp(&a.signal))
            .then(a.rule.cmp(&b.rule))
    });
    let identity = identity::from_facts(facts, verdict.model);
    Classification {
        vendor,
        randomized_mac: randomized,
        category: verdict.category,
        kind: verdict.kind.unwrap_or_else(|| UNKNOWN_KIND.to_owned()),
        confidence: verdict.confidence,
        identity,
        evidence,
    }
}

struct Verdict {
    category: Category,
    kind: Option<String>,
    model: Option<String>,
    confidence: f64,
}

/// Noisy-OR of independent signals.
fn noisy_or<'a>(confidences: impl IntoIterator<Item = &'a f64>) -> f64 {
    1.0 - confidences
        .into_iter()
        .fold(1.0, |missed, confidence| missed * (1.0 - confidence))
}

/// Steps 2 to 5 of the module documentation; sets each piece of evidence's role.
fn combine(evidence: &mut [Evidence], rules: &Rules) -> Verdict {
    let only_deferring = evidence.iter().all(|item| item.defers);
    if !only_deferring {
        for item in evidence.iter_mut().filter(|item| item.defers) {
            item.role = Role::Deferred;
        }
    }
    let counted = |item: &&Evidence| item.role == Role::Counted;

    let mut by_category: BTreeMap<Category, Vec<&Evidence>> = BTreeMap::new();
    for item in evidence.iter().filter(counted) {
        by_category.entry(item.category).or_default().push(item);
    }
    let winner = by_category
        .iter()
        .map(|(category, items)| {
            let score = noisy_or(items.iter().map(|item| &item.confidence));
            let signal = items.iter().map(|item| item.signal).max();
            (*category, score, signal)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1).then(a.2.cmp(&b.2)));
    let Some(((category, score, _), winners)) =
        winner.and_then(|winner| Some((winner, by_category.get(&winner.0)?.clone())))
    else {
        return Verdict {
            category: Category::Unknown,
            kind: None,
            model: None,
            confidence: 0.0,
        };
    };
    let support = winners
        .iter()
        .map(|item| item.confidence)
        .fold(0.0, f64::max);
    let contrary = by_category
        .iter()
        .filter(|(other, _)| **other != category)
        .map(|(_, items)| {
            noisy_or(
                items
                    .iter()
                    .filter(|item| item.confidence >= support)
                    .map(|item| &item.confidence),
            )
        })
        .fold(0.0, f64::max);
    let kind = if only_deferring {
        None
    } else {
        choose_kind(&winners, rules)
    };
    let model = winners
        .iter()
        .filter(|item| item.model.is_some())
        .max_by(|a, b| {
            a.confidence
                .total_cmp(&b.confidence)
                .then(a.signal.cmp(&b.signal))
        })
        .and_then(|item| item.model.clone());
    // Only the registry makes a verdict certain: evidence tops out at 0.99.
    let confidence = round2(score * (1.0 - contrary / 2.0)).min(MAX_EVIDENCE_CONFIDENCE);
    for item in evidence.iter_mut() {
        if item.role == Role::Counted && item.category != category && item.confidence < support {
            item.role = Role::Overruled;
        }
    }
    Verdict {
        category,
        kind,
        model,
        confidence,
    }
}

/// The kind of the winning category's evidence: refinements first, then confidence, then the
/// more specific signal.
fn choose_kind(winners: &[&Evidence], rules: &Rules) -> Option<String> {
    let kinds: Vec<&Evidence> = winners
        .iter()
        .copied()
        .filter(|item| item.kind.is_some())
        .collect();
    let refined = |item: &Evidence| {
        let kind = item.kind.as_deref().unwrap_or_default();
        kinds.iter().any(|other| {
            other
                .kind
                .as_deref()
                .is_some_and(|other| rules.refines(other, kind))
        })
    };
    kinds
        .iter()
        .filter(|item| !refined(item))
        .max_by(|a, b| {
            a.confidence
                .total_cmp(&b.confidence)
                .then(a.signal.cmp(&b.signal))
        })
        .and_then(|item| item.kind.clone())
}

impl Classification {
    /// Applies the category the approved registry declares for the device, if any: it becomes
    /// the category with full confidence, ahead of the evidence. The kind is kept when the
    /// evidence agrees on the category, and is otherwise unknown.
    pub fn with_declared(mut self, declared: Option<Category>) -> Self {
        let Some(category) = declared else {
            return self;
        };
        if self.category != category {
            UNKNOWN_KIND.clone_into(&mut self.kind);
        }
        self.category = category;
        self.confidence = 1.0;
        self.evidence.insert(
            0,
            Evidence {
                rule: "registry".to_owned(),
                signal: Signal::Registry,
                matched: format!("category {category} declared in the approved registry"),
                category,
                kind: None,
                model: None,
                confidence: 1.0,
                role: Role::Counted,
                defers: false,
            },
        );
        self
    }
}

#[cfg(test)]
mod default_rules_tests;
#[cfg(test)]
mod tests;
