//! A site rules file (`[classification] rules = ...`) as the collector loads it, then used on a
//! device that says the text after the first NUL byte everywhere it can speak. A loaded rule
//! set classifies without panicking, and the verdict keeps the classifier's promises: a
//! confidence in [0, 0.99], biomedical only on counted biomedical evidence, a category and a
//! kind that counted evidence gives, evidence sorted strongest first, identity fields bounded
//! and free of unsafe characters.
#![no_main]

use std::collections::BTreeMap;

use hygie_classify::{
    Category, Classification, Facts, MAX_EVIDENCE_CONFIDENCE, Role, Rules, UNKNOWN_KIND, classify,
    explain,
};
use hygie_domain::{
    CdpDetails, Detail, DhcpDetails, DhcpVersion, LldpDetails, LldpMed, MacAddr, MdnsService,
    NdDetails, SsdpDetails, SsdpMessage, is_unsafe_char,
};
use libfuzzer_sys::fuzz_target;

/// A Philips monitor's prefix, a randomized address and an unregistered one.
const MACS: [[u8; 6]; 3] = [
    [0x00, 0x09, 0x5c, 0x11, 0x22, 0x01],
    [0xda, 0xa1, 0x19, 0x00, 0x00, 0x01],
    [0x00, 0x00, 0x01, 0x00, 0x00, 0x01],
];

fn check(verdict: &Classification) {
    assert!(
        (0.0..=MAX_EVIDENCE_CONFIDENCE).contains(&verdict.confidence),
        "confidence {}",
        verdict.confidence
    );
    let counted = |category: Category| {
        verdict
            .evidence
            .iter()
            .any(|item| item.role == Role::Counted && item.category == category)
    };
    if verdict.category == Category::Biomedical {
        assert!(
            counted(Category::Biomedical),
            "biomedical guessed: {verdict:?}"
        );
    }
    if verdict.confidence > 0.0 {
        assert!(
            counted(verdict.category),
            "a verdict without evidence: {verdict:?}"
        );
    }
    if verdict.kind != UNKNOWN_KIND {
        assert!(
            verdict
                .evidence
                .iter()
                .any(|item| item.role == Role::Counted
                    && item.category == verdict.category
                    && item.kind.as_deref() == Some(verdict.kind.as_str())),
            "a kind no evidence gives: {verdict:?}"
        );
    }
    assert!(
        verdict
            .evidence
            .windows(2)
            .all(|pair| pair[0].confidence >= pair[1].confidence),
        "evidence not strongest first"
    );
    let identity = &verdict.identity;
    for value in [
        &identity.manufacturer,
        &identity.model,
        &identity.firmware,
        &identity.serial,
    ]
    .into_iter()
    .flatten()
    {
        assert!(
            value.len() <= 128,
            "identity field of {} bytes",
            value.len()
        );
        assert!(
            !value.chars().any(is_unsafe_char),
            "unsafe identity {value:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let (rules, said) = match data.iter().position(|byte| *byte == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"MX450 IntelliVue Philips printer.local"[..]),
    };
    let Ok(rules) = std::str::from_utf8(rules) else {
        return;
    };
    let Ok(rules) = Rules::from_texts(&[(rules, "site rules")]) else {
        return;
    };
    let said = String::from_utf8_lossy(said).into_owned();
    let text = Some(said.clone());
    let service = MdnsService {
        instance: format!("{said}._ipp._tcp.local."),
        service_type: "_ipp._tcp.local.".to_owned(),
        port: Some(631),
        txt: BTreeMap::from([
            ("ty".to_owned(), text.clone()),
            ("usb_MFG".to_owned(), text.clone()),
            ("fw".to_owned(), text.clone()),
            (said.clone(), None),
        ]),
    };
    let details = [
        Detail::Dhcp(DhcpDetails {
            version: DhcpVersion::V4,
            message_type: 1,
            parameter_request_list: said.bytes().map(u16::from).take(16).collect(),
            vendor_class: text.clone(),
            vendor_enterprise: None,
            client_id: None,
            fqdn: text.clone(),
            user_class: vec![said.clone()],
            requested_address: None,
        }),
        Detail::Ssdp(SsdpDetails {
            message: SsdpMessage::Notify,
            server: text.clone(),
            user_agent: text.clone(),
            notification_type: text.clone(),
            usn: text.clone(),
            notification_subtype: None,
            location: None,
        }),
        Detail::Lldp(LldpDetails {
            chassis_id: said.clone(),
            port_id: said.clone(),
            port_description: text.clone(),
            system_name: text.clone(),
            management_addresses: Vec::new(),
            system_description: text.clone(),
            capabilities: vec![said.to_lowercase()],
            med: Some(LldpMed {
                model: text.clone(),
                manufacturer: text.clone(),
                serial_number: text.clone(),
                software_revision: text.clone(),
                ..LldpMed::default()
            }),
        }),
        Detail::Cdp(CdpDetails {
            platform: text.clone(),
            software_version: text.clone(),
            capabilities: vec![said.to_lowercase()],
            ..CdpDetails::default()
        }),
        Detail::Nd(NdDetails { router: true }),
    ];
    for octets in MACS {
        let facts = Facts {
            mac: MacAddr::new(octets),
            hostnames: vec![said.as_str()],
            services: vec![&service],
            details: details.iter().collect(),
        };
        let verdict = classify(&facts, &rules);
        check(&verdict);
        let _ = explain(facts.mac, &verdict);
        let declared = verdict.with_declared(Some(Category::Biomedical));
        assert_eq!(declared.category, Category::Biomedical);
        assert!((declared.confidence - 1.0).abs() < f64::EPSILON);
    }
});
