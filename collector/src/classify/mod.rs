//! What an asset is, and why we think so: vendor lookup plus rules (data) give a category, a
//! finer kind, a confidence and the evidence behind them. Pure: no I/O, no clock.
//!
//! Scoring, kept simple enough to explain to an auditor:
//! - every matching rule is one piece of evidence with its own confidence;
//! - evidence for the same category combines as independent signals: `1 - Π(1 - cᵢ)`;
//! - the category with the highest combined score wins (ties go to the stronger signal: TXT,
//!   then service type, host name, MAC prefix, vendor);
//! - evidence for another category lowers the confidence: `score × (1 - other / 2)`;
//! - the kind is that of the strongest evidence of the winning category that names one.
//!
//! Rules for vendors that make several kinds of products name no kind and carry a low
//! confidence, so a stronger signal (a TXT record, a service type) decides instead.

pub mod rules;
pub mod vendor;

use std::collections::{BTreeMap, BTreeSet};

use hygie_proto::MacAddr;
use serde::Serialize;

pub use rules::{Category, Rules, RulesError, Signal};
pub use vendor::{Vendor, VendorLookup};

use crate::inventory::Asset;
use rules::{Matcher, Rule};

/// One reason behind a classification.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Its confidence.
    pub confidence: f64,
}

/// The outcome for one asset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// Registered vendor, if the address has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<Vendor>,
    /// The address is locally administered (randomized or private): it carries no vendor.
    pub randomized_mac: bool,
    /// Category.
    pub category: Category,
    /// Finer kind (`unknown` when no evidence names one).
    pub kind: String,
    /// Confidence in [0, 1], rounded to hundredths.
    pub confidence: f64,
    /// Every piece of evidence, strongest first.
    pub evidence: Vec<Evidence>,
}

/// The facts classification reads, borrowed from an asset.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Hardware address.
    pub mac: MacAddr,
    /// Host names.
    pub hostnames: &'a [&'a str],
    /// Services: (type, TXT entries).
    pub services: &'a [(&'a str, &'a BTreeMap<String, String>)],
}

/// Classifies an inventory asset.
pub fn classify_asset(asset: &Asset, rules: &Rules) -> Classification {
    let hostnames: Vec<&str> = asset.hostnames.keys().map(String::as_str).collect();
    let services: Vec<(&str, &BTreeMap<String, String>)> = asset
        .services
        .values()
        .map(|record| (record.latest.service_type.as_str(), &record.latest.txt))
        .collect();
    classify(
        Facts {
            mac: asset.mac,
            hostnames: &hostnames,
            services: &services,
        },
        rules,
    )
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn evidence(rule: &Rule, matched: String) -> Evidence {
    Evidence {
        rule: rule.id.clone(),
        signal: rule.signal(),
        matched,
        category: rule.category,
        kind: rule.kind.clone(),
        confidence: rule.confidence,
    }
}

/// Classifies from facts.
pub fn classify(facts: Facts<'_>, rules: &Rules) -> Classification {
    let lookup = vendor::lookup(facts.mac);
    let (vendor, randomized) = match &lookup {
        VendorLookup::Registered(vendor) => (Some(vendor.clone()), false),
        VendorLookup::Randomized => (None, true),
        VendorLookup::Unregistered => (None, false),
    };
    let mac_hex: String = facts
        .mac
        .octets()
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect();

    let mut found: Vec<Evidence> = Vec::new();
    // Of the vendor and prefix rules, only the most specific one counts.
    let mut best_vendor: Option<(usize, &Rule, String)> = None;
    let mut seen_rules = BTreeSet::new();
    for rule in rules.iter() {
        match &rule.matcher {
            Matcher::Vendor(pattern) => {
                if let Some(vendor) = &vendor
                    && vendor.name.to_lowercase().contains(pattern.as_str())
                    && best_vendor
                        .as_ref()
                        .is_none_or(|(len, ..)| pattern.len() > *len)
                {
                    best_vendor =
                        Some((pattern.len(), rule, format!("vendor \"{}\"", vendor.name)));
                }
            }
            Matcher::MacPrefix(prefix) => {
                // A prefix is more specific than any name: rank it above them.
                if !randomized
                    && mac_hex.starts_with(prefix.as_str())
                    && best_vendor
                        .as_ref()
                        .is_none_or(|(len, ..)| 1000 + prefix.len() > *len)
                {
                    best_vendor = Some((1000 + prefix.len(), rule, format!("MAC prefix {prefix}")));
                }
            }
            Matcher::Service(wanted) => {
                if let Some((service_type, _)) = facts
                    .services
                    .iter()
                    .find(|(service_type, _)| normal_type(service_type) == wanted.as_str())
                    && seen_rules.insert(rule.id.as_str())
                {
                    found.push(evidence(
                        rule,
                        format!("service {}", normal_type(service_type)),
                    ));
                }
            }
            Matcher::Txt(key, value) => {
                let hit = facts.services.iter().find_map(|(_, txt)| {
                    txt.iter().find(|(k, v)| {
                        k.eq_ignore_ascii_case(key)
                            && value.as_ref().is_none_or(|regex| regex.is_match(v))
                    })
                });
                if let Some((k, v)) = hit
                    && seen_rules.insert(rule.id.as_str())
                {
                    found.push(evidence(rule, format!("TXT {k}={v:?}")));
                }
            }
            Matcher::Hostname(regex) => {
                if let Some(name) = facts.hostnames.iter().find(|name| regex.is_match(name))
                    && seen_rules.insert(rule.id.as_str())
                {
                    found.push(evidence(rule, format!("host name {name:?}")));
                }
            }
        }
    }
    if let Some((_, rule, matched)) = best_vendor {
        found.push(evidence(rule, matched));
    }
    found.sort_by(|a, b| {
        b.signal
            .cmp(&a.signal)
            .then(b.confidence.total_cmp(&a.confidence))
            .then(a.rule.cmp(&b.rule))
    });

    let mut scores: BTreeMap<Category, (f64, Signal)> = BTreeMap::new();
    for item in &found {
        let entry = scores.entry(item.category).or_insert((0.0, item.signal));
        entry.0 = 1.0 - (1.0 - entry.0) * (1.0 - item.confidence);
        entry.1 = entry.1.max(item.signal);
    }
    let winner = scores
        .iter()
        .max_by(|(_, a), (_, b)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map(|(category, (score, _))| (*category, *score));
    let (category, kind, confidence) = match winner {
        Some((category, score)) => {
            let other = scores
                .iter()
                .filter(|(c, _)| **c != category)
                .map(|(_, (score, _))| *score)
                .fold(0.0, f64::max);
            let kind = found
                .iter()
                .filter(|item| item.category == category)
                .filter_map(|item| {
                    item.kind
                        .clone()
                        .map(|kind| (item.confidence, item.signal, kind))
                })
                .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                .map(|(_, _, kind)| kind);
            (
                category,
                kind.unwrap_or_else(|| "unknown".into()),
                round2(score * (1.0 - other / 2.0)),
            )
        }
        None => (Category::Unknown, "unknown".into(), 0.0),
    };
    Classification {
        vendor,
        randomized_mac: randomized,
        category,
        kind,
        confidence,
        evidence: found,
    }
}

/// `_ipp._tcp.local.` → `_ipp._tcp`.
fn normal_type(service_type: &str) -> String {
    service_type
        .trim_end_matches('.')
        .trim_end_matches(".local")
        .to_lowercase()
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
            self.kind = "unknown".to_owned();
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
                confidence: 1.0,
            },
        );
        self
    }
}

/// A human-readable explanation, for `classify --explain`.
pub fn explain(mac: MacAddr, classification: &Classification) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(text, "{mac}");
    match (&classification.vendor, classification.randomized_mac) {
        (Some(vendor), _) => {
            let _ = writeln!(
                text,
                "  vendor:     {} (IEEE block {})",
                vendor.name, vendor.prefix
            );
        }
        (None, true) => {
            let _ = writeln!(
                text,
                "  vendor:     none: locally administered (randomized or private) address"
            );
        }
        (None, false) => {
            let _ = writeln!(
                text,
                "  vendor:     none: not in the IEEE registry (data of {})",
                vendor::registry_date()
            );
        }
    }
    let _ = writeln!(
        text,
        "  category:   {}\n  kind:       {}\n  confidence: {:.2}",
        classification.category, classification.kind, classification.confidence
    );
    if classification.evidence.is_empty() {
        let _ = writeln!(text, "  evidence:   none");
    } else {
        let _ = writeln!(text, "  evidence:");
        for item in &classification.evidence {
            let _ = writeln!(
                text,
                "    - {:<10} {:<44} → {}/{} ({:.2})  [rule {}]",
                format!("{:?}", item.signal).to_lowercase(),
                item.matched,
                item.category,
                item.kind.as_deref().unwrap_or("-"),
                item.confidence,
                item.rule
            );
        }
    }
    text
}

#[cfg(test)]
mod default_rules_tests;
#[cfg(test)]
mod tests;
