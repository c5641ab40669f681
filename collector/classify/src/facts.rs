//! Matching rules against a device's facts: one piece of evidence per matching rule.

use std::collections::BTreeSet;

use hygie_domain::{Detail, DhcpDetails, LldpDetails, SsdpDetails};
use regex::{Captures, Regex};

use crate::identity::MODEL_KEYS;
use crate::rules::{LldpField, Matcher, Rule, SsdpField};
use crate::{Evidence, Facts, Role, Rules, Vendor};

/// How specific a vendor or prefix match is: only the most specific one counts.
type Specificity = usize;

/// Every piece of evidence the rules find in `facts`, in rule order, roles all `Counted`.
pub(crate) fn gather(
    facts: &Facts<'_>,
    vendor: Option<&Vendor>,
    randomized: bool,
    rules: &Rules,
) -> Vec<Evidence> {
    let mac_hex: String = facts
        .mac
        .octets()
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect();
    let vendor_name = vendor.map(|vendor| vendor.name.to_lowercase());

    let mut found: Vec<Evidence> = Vec::new();
    let mut best_vendor: Option<(Specificity, &Rule, String)> = None;
    let mut seen_rules = BTreeSet::new();
    for rule in rules.iter() {
        match &rule.matcher {
            Matcher::Vendor(pattern) => {
                if let (Some(vendor), Some(name)) = (vendor, &vendor_name)
                    && name.contains(pattern.as_str())
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
            matcher => {
                if let Some((matched, model)) = matches(matcher, facts, rule.model.as_deref())
                    && seen_rules.insert(rule.id.as_str())
                {
                    found.push(evidence(rule, matched, model));
                }
            }
        }
    }
    if let Some((_, rule, matched)) = best_vendor {
        let model = rule.model.clone();
        found.push(evidence(rule, matched, model));
    }
    found
}

fn evidence(rule: &Rule, matched: String, model: Option<String>) -> Evidence {
    Evidence {
        rule: rule.id.clone(),
        signal: rule.signal(),
        matched,
        category: rule.category,
        kind: rule.kind.clone(),
        model,
        confidence: rule.confidence,
        role: Role::Counted,
        defers: rule.defers,
    }
}

/// The model a rule's template names for a match: `$1`-style groups expanded, cleaned of
/// anything that is not printable, trimmed.
fn expand(template: Option<&str>, captures: Option<&Captures<'_>>) -> Option<String> {
    let template = template?;
    let mut model = String::new();
    match captures {
        Some(captures) => captures.expand(template, &mut model),
        None => model.push_str(template),
    }
    let model = hygie_domain::text::clean_value(model.trim(), 64);
    (!model.is_empty()).then_some(model)
}

/// The first of `texts` that `regex` matches, with the model it names.
fn first<'t>(
    regex: &Regex,
    texts: impl IntoIterator<Item = &'t str>,
    template: Option<&str>,
) -> Option<(&'t str, Option<String>)> {
    texts.into_iter().find_map(|text| {
        let captures = regex.captures(text)?;
        Some((text, expand(template, Some(&captures))))
    })
}

fn dhcp<'a>(facts: &'a Facts<'_>) -> impl Iterator<Item = &'a DhcpDetails> {
    facts.details.iter().filter_map(|detail| match detail {
        Detail::Dhcp(dhcp) => Some(dhcp),
        _ => None,
    })
}

fn ssdp<'a>(facts: &'a Facts<'_>) -> impl Iterator<Item = &'a SsdpDetails> {
    facts.details.iter().filter_map(|detail| match detail {
        Detail::Ssdp(ssdp) => Some(ssdp),
        _ => None,
    })
}

fn lldp<'a>(facts: &'a Facts<'_>) -> impl Iterator<Item = &'a LldpDetails> {
    facts.details.iter().filter_map(|detail| match detail {
        Detail::Lldp(lldp) => Some(lldp),
        _ => None,
    })
}

/// Every model name the device announced, with where it said it (`TXT md=`, `SSDP SERVER `),
/// for `product` rules: the most explicit fields first.
fn model_names<'a>(facts: &'a Facts<'_>) -> Vec<(String, &'a str)> {
    let mut names: Vec<(String, &'a str)> = Vec::new();
    let mut push = |label: &str, text: Option<&'a str>| {
        if let Some(text) = text {
            names.push((label.to_owned(), text));
        }
    };
    for lldp in lldp(facts) {
        push(
            "LLDP-MED model ",
            lldp.med.as_ref().and_then(|med| med.model.as_deref()),
        );
    }
    for service in &facts.services {
        for (key, value) in &service.txt {
            match value {
                Some(value) if MODEL_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k)) => {
                    push(&format!("TXT {key}="), Some(value.as_str()));
                }
                None => push("TXT flag ", Some(key.as_str())),
                Some(_) => {}
            }
        }
    }
    for lldp in lldp(facts) {
        push(
            "LLDP system description ",
            lldp.system_description.as_deref(),
        );
    }
    for detail in &facts.details {
        match detail {
            Detail::Cdp(cdp) => push("CDP platform ", cdp.platform.as_deref()),
            Detail::Ssdp(ssdp) => push("SSDP SERVER ", ssdp.server.as_deref()),
            Detail::Dhcp(dhcp) => push("DHCP vendor class ", dhcp.vendor_class.as_deref()),
            _ => {}
        }
    }
    names
}

/// `_ipp._tcp.local.` → `_ipp._tcp`.
pub(crate) fn normal_type(service_type: &str) -> String {
    service_type
        .trim_end_matches('.')
        .trim_end_matches(".local")
        .to_lowercase()
}

/// Whether `matcher` matches the facts: what matched (for the evidence) and the model the
/// rule's template names. Vendor and prefix matchers are handled by the caller.
fn matches(
    matcher: &Matcher,
    facts: &Facts<'_>,
    template: Option<&str>,
) -> Option<(String, Option<String>)> {
    let literal = || expand(template, None);
    match matcher {
        Matcher::Vendor(_) | Matcher::MacPrefix(_) => None,
        Matcher::Hostname(regex) => first(regex, facts.hostnames.iter().copied(), template)
            .map(|(name, model)| (format!("host name {name:?}"), model)),
        Matcher::Service(wanted) => facts
            .services
            .iter()
            .map(|service| normal_type(&service.service_type))
            .find(|service_type| service_type == wanted)
            .map(|service_type| (format!("service {service_type}"), literal())),
        Matcher::Txt(key, value) => facts.services.iter().find_map(|service| {
            service.txt.iter().find_map(|(k, v)| {
                if !k.eq_ignore_ascii_case(key) {
                    return None;
                }
                match (value, v) {
                    (None, Some(v)) => Some((format!("TXT {k}={v:?}"), literal())),
                    (None, None) => Some((format!("TXT flag {k:?}"), literal())),
                    (Some(regex), Some(v)) => {
                        let captures = regex.captures(v)?;
                        Some((format!("TXT {k}={v:?}"), expand(template, Some(&captures))))
                    }
                    (Some(_), None) => None,
                }
            })
        }),
        Matcher::TxtFlag(regex) => facts.services.iter().find_map(|service| {
            let flags = service
                .txt
                .iter()
                .filter(|(_, value)| value.is_none())
                .map(|(key, _)| key.as_str());
            first(regex, flags, template).map(|(flag, model)| (format!("TXT flag {flag:?}"), model))
        }),
        Matcher::DhcpFingerprint(wanted, exact) => dhcp(facts).find_map(|dhcp| {
            let list = &dhcp.parameter_request_list;
            let hit = if *exact {
                list == wanted
            } else {
                list.starts_with(wanted)
            };
            hit.then(|| (format!("DHCP parameter request list {}", dhcp.fingerprint()), literal()))
        }),
        Matcher::DhcpVendorClass(regex) => first(
            regex,
            dhcp(facts).filter_map(|dhcp| dhcp.vendor_class.as_deref()),
            template,
        )
        .map(|(class, model)| (format!("DHCP vendor class {class:?}"), model)),
        Matcher::Ssdp(field, regex) => {
            let (label, texts): (&str, Vec<&str>) = match field {
                SsdpField::Server => (
                    "SSDP SERVER",
                    ssdp(facts).filter_map(|s| s.server.as_deref()).collect(),
                ),
                SsdpField::UserAgent => (
                    "SSDP USER-AGENT",
                    ssdp(facts).filter_map(|s| s.user_agent.as_deref()).collect(),
                ),
                SsdpField::Type => (
                    "SSDP NT",
                    ssdp(facts).filter_map(SsdpDetails::device_type).collect(),
                ),
                SsdpField::Usn => ("SSDP USN", ssdp(facts).filter_map(|s| s.usn.as_deref()).collect()),
            };
            first(regex, texts, template).map(|(text, model)| (format!("{label} {text:?}"), model))
        }
        Matcher::Lldp(field, regex) => {
            let (label, texts): (&str, Vec<&str>) = match field {
                LldpField::Model => (
                    "LLDP-MED model",
                    lldp(facts)
                        .filter_map(|l| l.med.as_ref()?.model.as_deref())
                        .collect(),
                ),
                LldpField::Manufacturer => (
                    "LLDP-MED manufacturer",
                    lldp(facts)
                        .filter_map(|l| l.med.as_ref()?.manufacturer.as_deref())
                        .collect(),
                ),
                LldpField::Description => (
                    "LLDP system description",
                    lldp(facts)
                        .filter_map(|l| l.system_description.as_deref())
                        .collect(),
                ),
            };
            first(regex, texts, template).map(|(text, model)| (format!("{label} {text:?}"), model))
        }
        Matcher::LldpCapability(wanted) => lldp(facts)
            .any(|l| l.capabilities.iter().any(|c| c == wanted))
            .then(|| (format!("LLDP capability {wanted}"), literal())),
        Matcher::CdpPlatform(regex) => first(
            regex,
            facts.details.iter().filter_map(|detail| match detail {
                Detail::Cdp(cdp) => cdp.platform.as_deref(),
                _ => None,
            }),
            template,
        )
        .map(|(platform, model)| (format!("CDP platform {platform:?}"), model)),
        Matcher::CdpCapability(wanted) => facts
            .details
            .iter()
            .any(|detail| matches!(detail, Detail::Cdp(cdp) if cdp.capabilities.iter().any(|c| c == wanted)))
            .then(|| (format!("CDP capability {wanted}"), literal())),
        Matcher::Product(regex) => model_names(facts).into_iter().find_map(|(label, text)| {
            let captures = regex.captures(text)?;
            Some((format!("{label}{text:?}"), expand(template, Some(&captures))))
        }),
        Matcher::Ipv6Router => facts
            .details
            .iter()
            .any(|detail| matches!(detail, Detail::Nd(nd) if nd.router))
            .then(|| ("IPv6 router advertisements".to_owned(), literal())),
    }
}
