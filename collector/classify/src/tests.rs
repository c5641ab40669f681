//! Classification engine behaviour on small rule sets.

use std::collections::BTreeMap;

use hygie_domain::MdnsService;

use super::*;

fn rules(text: &str) -> Rules {
    Rules::from_texts(&[(text, "test")]).unwrap()
}

fn services(services: &[(&str, &BTreeMap<String, String>)]) -> Vec<MdnsService> {
    services
        .iter()
        .map(|(service_type, txt)| MdnsService {
            instance: format!("device.{service_type}"),
            service_type: (*service_type).to_owned(),
            port: Some(80),
            txt: txt
                .iter()
                .map(|(key, value)| (key.clone(), Some(value.clone())))
                .collect(),
        })
        .collect()
}

fn facts<'a>(mac: &str, hostnames: &[&'a str], services: &'a [MdnsService]) -> Facts<'a> {
    Facts {
        mac: mac.parse().unwrap(),
        hostnames: hostnames.to_vec(),
        services: services.iter().collect(),
        details: Vec::new(),
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
    let result = classify(&facts("00:09:5c:11:22:01", &[], &[]), &rules(RULES));
    assert_eq!(result.evidence.len(), 1);
    assert_eq!(result.evidence[0].rule, "vendor.philips-medical");
    assert_eq!(
        (result.category, result.kind.as_str()),
        (Category::Biomedical, "patient_monitor")
    );
    assert_eq!(result.confidence, 0.7);
}

#[test]
fn stronger_signals_combine_and_weaker_contrary_ones_are_overruled() {
    let txt = BTreeMap::from([("md".to_string(), "IntelliVue MX450".to_string())]);
    let services = services(&[("_http._tcp.local.", &txt)]);
    let result = classify(&facts("00:09:5c:11:22:01", &[], &services), &rules(RULES));
    assert_eq!(result.category, Category::Biomedical);
    // 1 - (1 - 0.95)(1 - 0.7) = 0.985; the HTTP evidence for `it` (0.1) is weaker than the
    // verdict's strongest (0.95): overruled, it lowers nothing.
    assert_eq!(result.confidence, 0.99);
    assert_eq!(result.evidence[0].signal, Signal::Txt, "strongest first");
    assert_eq!(result.evidence.len(), 3);
    let http = result
        .evidence
        .iter()
        .find(|e| e.rule == "service.http")
        .unwrap();
    assert_eq!(http.role, Role::Overruled);
    assert_eq!(result.identity.model.as_deref(), Some("IntelliVue MX450"));
}

#[test]
fn contrary_evidence_as_strong_as_the_verdicts_lowers_its_confidence() {
    let rules = rules(
        r#"
        [[rule]]
        id = "host.a"
        hostname = "^pump"
        category = "biomedical"
        kind = "infusion_pump"
        confidence = 0.6

        [[rule]]
        id = "host.b"
        hostname = "-ws$"
        category = "it"
        kind = "workstation"
        confidence = 0.6
        "#,
    );
    let result = classify(&facts("02:00:00:00:00:01", &["pump-ws"], &[]), &rules);
    // A tie: the same score, the same signal; the confidence is halved by the contrary 0.6.
    assert_eq!(result.confidence, 0.42);
    assert!(result.evidence.iter().all(|e| e.role == Role::Counted));
}

const DEFERRING: &str = r#"
[[rule]]
id = "vendor.lantronix"
vendor = "Lantronix"
category = "unknown"
confidence = 0.2
defers = true

[[rule]]
id = "vendor.tp-link"
vendor = "TP-LINK"
category = "network"
kind = "router"
confidence = 0.3
defers = true

[[rule]]
id = "host.hs100"
hostname = "^(hs1[01]0)\\b"
category = "iot"
kind = "smart_plug"
model = "$1"
confidence = 0.6

[[rule]]
id = "dhcp.monitor"
dhcp_vendor_class = "^IntelliVue"
category = "biomedical"
kind = "patient_monitor"
confidence = 0.85
"#;

#[test]
fn a_vendor_of_many_products_defers_to_any_other_evidence() {
    let rules = rules(DEFERRING);
    // TP-Link alone: its category, low confidence, no kind.
    let alone = classify(&facts("50:c7:bf:00:fc:a3", &[], &[]), &rules);
    assert_eq!(
        (alone.category, alone.kind.as_str(), alone.confidence),
        (Category::Network, "unknown", 0.3)
    );
    // With a host name naming the product, the vendor steps aside.
    let plug = classify(&facts("50:c7:bf:00:fc:a3", &["hs100(eu)"], &[]), &rules);
    assert_eq!(
        (plug.category, plug.kind.as_str(), plug.confidence),
        (Category::Iot, "smart_plug", 0.6)
    );
    assert_eq!(plug.identity.model.as_deref(), Some("hs100"));
    let vendor = plug
        .evidence
        .iter()
        .find(|e| e.rule == "vendor.tp-link")
        .unwrap();
    assert_eq!(vendor.role, Role::Deferred);
}

#[test]
fn a_module_makers_mac_gives_way_to_what_the_device_says() {
    let rules = rules(DEFERRING);
    let dhcp = Detail::Dhcp(hygie_domain::DhcpDetails {
        version: hygie_domain::DhcpVersion::V4,
        message_type: 1,
        parameter_request_list: vec![1, 3, 6],
        vendor_class: Some("IntelliVue MX450".into()),
        vendor_enterprise: None,
        client_id: None,
        fqdn: None,
        user_class: Vec::new(),
        requested_address: None,
    });
    // 00:80:a3 is Lantronix: a serial-to-Ethernet module inside someone else's device.
    let mut module = facts("00:80:a3:11:22:33", &[], &[]);
    let alone = classify(&module, &rules);
    assert_eq!((alone.category, alone.confidence), (Category::Unknown, 0.2));
    module.details.push(&dhcp);
    let monitor = classify(&module, &rules);
    assert_eq!(
        (monitor.category, monitor.kind.as_str(), monitor.confidence),
        (Category::Biomedical, "patient_monitor", 0.85)
    );
}

#[test]
fn a_refining_kind_wins_over_the_kind_it_refines() {
    let rules = rules(
        r#"
        kinds = { label_printer = "printer" }

        [[rule]]
        id = "service.ipp"
        service = "_ipp._tcp"
        category = "it"
        kind = "printer"
        confidence = 0.9

        [[rule]]
        id = "txt.zebra"
        txt_key = "usb_MDL"
        txt_value = "^Z[DT]"
        category = "it"
        kind = "label_printer"
        confidence = 0.5
        "#,
    );
    let txt = BTreeMap::from([("usb_MDL".to_string(), "ZD621".to_string())]);
    let services = services(&[("_ipp._tcp.local.", &txt)]);
    let result = classify(&facts("02:00:00:00:00:01", &[], &services), &rules);
    assert_eq!(result.kind, "label_printer");
    assert!(rules.refines("label_printer", "printer"));
    assert!(!rules.refines("printer", "label_printer"));
    let looping = Rules::from_texts(&[("kinds = { a = \"b\", b = \"a\" }", "site")]);
    assert!(looping.unwrap_err().to_string().contains("loop"));
}

#[test]
fn a_randomized_mac_has_no_vendor_and_no_evidence_from_it() {
    let result = classify(&facts("da:a1:19:11:22:18", &[], &[]), &rules(RULES));
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
    let result = classify(&facts("00:09:5c:11:22:01", &[], &[]), &rules);
    assert_eq!(result.kind, "cardiology");
}

#[test]
fn invalid_rules_name_themselves() {
    let cases = [
        (
            "[[rule]]\nid = \"x\"\ncategory = \"it\"\nconfidence = 0.5",
            "needs exactly one matcher (0 given)",
        ),
        (
            "[[rule]]\nid = \"x\"\nvendor = \"Dell\"\nhostname = \"^d\"\ncategory = \"it\"\nconfidence = 0.5",
            "needs exactly one matcher (2 given)",
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
        (
            "[[rule]]\nid = \"x\"\ndhcp_fingerprint = \"1,3,x\"\ncategory = \"it\"\nconfidence = 0.5",
            "not a comma-separated list",
        ),
        (
            "[[rule]]\nid = \"x\"\nvendor = \"Digi International\"\ncategory = \"biomedical\"\nconfidence = 0.2\ndefers = true",
            "a deferring rule cannot say biomedical",
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
    let result = classify(&facts("00:09:5c:11:22:01", &[], &[]), &rules(RULES));
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
