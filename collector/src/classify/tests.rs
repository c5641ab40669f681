//! Classification engine behaviour on small rule sets.

use super::*;

fn rules(text: &str) -> Rules {
    Rules::from_texts(&[(text, "test")]).unwrap()
}

fn facts<'a>(
    mac: &str,
    hostnames: &'a [&'a str],
    services: &'a [(&'a str, &'a BTreeMap<String, String>)],
) -> Facts<'a> {
    Facts {
        mac: mac.parse().unwrap(),
        hostnames,
        services,
    }
}

const RULES: &str = r#"
[[rule]]
id = "vendor.philips-medical"
vendor = "Philips Medical"
category = "biomedical"
kind = "patient_monitor"
confidence = 0.7

[[rule]]
id = "vendor.philips"
vendor = "Philips"
category = "iot"
confidence = 0.2

[[rule]]
id = "service.http"
service = "_http._tcp"
category = "it"
confidence = 0.1

[[rule]]
id = "txt.intellivue"
txt_key = "md"
txt_value = "intellivue"
category = "biomedical"
kind = "patient_monitor"
confidence = 0.95
"#;

#[test]
fn the_most_specific_vendor_rule_counts_alone() {
    let result = classify(facts("00:09:5c:11:22:01", &[], &[]), &rules(RULES));
    assert_eq!(result.evidence.len(), 1);
    assert_eq!(result.evidence[0].rule, "vendor.philips-medical");
    assert_eq!(
        (result.category, result.kind.as_str()),
        (Category::Biomedical, "patient_monitor")
    );
    assert_eq!(result.confidence, 0.7);
}

#[test]
fn stronger_signals_combine_and_outweigh_weak_contrary_ones() {
    let txt = BTreeMap::from([("md".to_string(), "IntelliVue MX450".to_string())]);
    let services = [("_http._tcp.local.", &txt)];
    let result = classify(facts("00:09:5c:11:22:01", &[], &services), &rules(RULES));
    assert_eq!(result.category, Category::Biomedical);
    // 1 - (1 - 0.95)(1 - 0.7) = 0.985, lowered by the HTTP evidence for `it`: × (1 - 0.1/2)
    assert_eq!(result.confidence, 0.94);
    assert_eq!(result.evidence[0].signal, Signal::Txt, "strongest first");
    assert_eq!(result.evidence.len(), 3);
}

#[test]
fn a_randomized_mac_has_no_vendor_and_no_evidence_from_it() {
    let result = classify(facts("da:a1:19:11:22:18", &[], &[]), &rules(RULES));
    assert!(result.randomized_mac);
    assert_eq!(result.vendor, None);
    assert_eq!(
        (result.category, result.confidence),
        (Category::Unknown, 0.0)
    );
}

#[test]
fn site_rules_override_and_disable_defaults() {
    let site = r#"
        [[rule]]
        id = "vendor.philips-medical"
        vendor = "Philips Medical"
        category = "biomedical"
        kind = "cardiology"
        confidence = 0.5

        [[rule]]
        id = "service.http"
        disabled = true
    "#;
    let rules = Rules::from_texts(&[(RULES, "defaults"), (site, "site")]).unwrap();
    assert_eq!(rules.len(), 3);
    let result = classify(facts("00:09:5c:11:22:01", &[], &[]), &rules);
    assert_eq!(result.kind, "cardiology");
}

#[test]
fn invalid_rules_name_themselves() {
    let cases = [
        (
            "[[rule]]\nid = \"x\"\ncategory = \"it\"\nconfidence = 0.5",
            "needs exactly one of",
        ),
        (
            "[[rule]]\nid = \"x\"\nvendor = \"Dell\"\ncategory = \"it\"\nconfidence = 1.5",
            "not in (0, 1]",
        ),
        (
            "[[rule]]\nid = \"x\"\nhostname = \"(\"\ncategory = \"it\"\nconfidence = 0.5",
            "bad regex",
        ),
        (
            "[[rule]]\nid = \"x\"\nvendor = \"Dell\"\ncategory = \"lab\"\nconfidence = 0.5",
            "unknown variant",
        ),
        (
            "[[rule]]\nid = \"x\"\nmac_prefix = \"00:09\"\ncategory = \"it\"\nconfidence = 0.5",
            "not 6, 7 or 9 hex digits",
        ),
        (
            "[[rule]]\nid = \"x\"\nvendor = \"Dell\"\ncategory = \"it\"\nkind = \"Work Station\"\nconfidence = 0.5",
            "not snake_case",
        ),
    ];
    for (text, expected) in cases {
        let error = Rules::from_texts(&[(text, "site.toml")])
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{error}");
    }
}

#[test]
fn the_default_rules_load() {
    assert!(!Rules::defaults().unwrap().is_empty());
}

#[test]
fn the_registrys_declared_category_overrides_the_evidence() {
    let result = classify(facts("00:09:5c:11:22:01", &[], &[]), &rules(RULES));
    let agreeing = result.clone().with_declared(Some(Category::Biomedical));
    assert_eq!(
        (
            agreeing.category,
            agreeing.kind.as_str(),
            agreeing.confidence
        ),
        (Category::Biomedical, "patient_monitor", 1.0)
    );
    assert_eq!(agreeing.evidence[0].signal, Signal::Registry);
    assert_eq!(agreeing.evidence[1].rule, "vendor.philips-medical");
    // Declared otherwise: the evidence's kind no longer applies.
    let declared = result.clone().with_declared(Some(Category::Building));
    assert_eq!(
        (declared.category, declared.kind.as_str()),
        (Category::Building, "unknown")
    );
    assert_eq!(result.clone().with_declared(None), result);
}
