//! `classify --explain`: a classification in words, for a person.

use std::fmt::Write as _;

use hygie_domain::MacAddr;

use crate::{Classification, Role, vendor};

/// A human-readable explanation: vendor, verdict, identity, then every piece of evidence,
/// strongest first, with what it did for the verdict.
pub fn explain(mac: MacAddr, classification: &Classification) -> String {
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
    let identity = &classification.identity;
    for (label, value) in [
        ("manufacturer", &identity.manufacturer),
        ("model", &identity.model),
        ("firmware", &identity.firmware),
        ("serial", &identity.serial),
    ] {
        if let Some(value) = value {
            let _ = writeln!(text, "  {:<11} {value}", format!("{label}:"));
        }
    }
    if classification.evidence.is_empty() {
        let _ = writeln!(text, "  evidence:   none");
        return text;
    }
    let _ = writeln!(text, "  evidence (strongest first):");
    for item in &classification.evidence {
        let role = match item.role {
            Role::Counted => "",
            Role::Overruled => "  overruled: weaker than the verdict's evidence",
            Role::Deferred => {
                "  deferred: a vendor of many products or of network modules gives way to what the device says"
            }
        };
        let _ = writeln!(
            text,
            "    - {:<17} {:<44} → {}/{} ({:.2})  [rule {}]{role}",
            item.signal.as_str(),
            item.matched,
            item.category,
            item.kind.as_deref().unwrap_or("-"),
            item.confidence,
            item.rule
        );
    }
    text
}
