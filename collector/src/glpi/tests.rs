//! GLPI documents (every category and kind, hostile text) checked against the upstream schema,
//! the mapping, what replies mean, retries, tokens and the delivered-digest state.
//!
//! The schema is glpi-project/inventory_format's, read at test time from the shared material
//! beside the repository (`../shared/glpi/inventory.schema.json`, or `HYGIE_GLPI_SCHEMA`): it is
//! not copied into the project.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hygie_proto::MacAddr;
use jiff::Timestamp;
use serde_json::Value;

use super::client::{Reply, ZLIB, encode, judge};
use super::document::{DocumentContext, MAX_FIELD, build, current_addresses, device_id};
use super::mapping::{CATEGORY_TYPES, ItemType, KIND_TYPES, NetworkType, registered_type};
use super::oauth::{RENEW_MARGIN, Token, TokenError, grant_form, judge_grant};
use super::retry::{Attempt, Breaker, Delivery, Next, Outcome, RetryPolicy};
use super::sent::{Delivered, SentState};
use super::settings::Selection;
use crate::classify::{Category, Identity};
use crate::inventory::flags::{Flag, FlagSet};
use crate::registry::RegistryFields;
use crate::views::AssetView;

/// A host name a hostile device could announce: a formula, escape sequences, HTML, a
/// direction override, a newline and far too much text.
pub(crate) fn hostile_host() -> String {
    format!(
        "=cmd|' /C calc'!A0\u{1b}[2J<script>alert(1)</script>\u{202e}gpj.exe\r\nX-Injected: 1{}",
        "A".repeat(5000)
    )
}

/// The GLPI inventory schema, from the shared material.
pub(crate) fn schema_path() -> PathBuf {
    std::env::var_os("HYGIE_GLPI_SCHEMA").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/glpi/inventory.schema.json")
        },
        PathBuf::from,
    )
}

pub(crate) fn validator() -> jsonschema::Validator {
    let path = schema_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "the GLPI schema {} cannot be read ({error}): it comes with the shared material beside the repository (../shared/glpi), or set HYGIE_GLPI_SCHEMA",
            path.display()
        )
    });
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

pub(crate) fn assert_valid(validator: &jsonschema::Validator, body: &[u8]) -> Value {
    let document: Value = serde_json::from_slice(body).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\nin {document:#}");
    document
}

pub(crate) fn mac(n: u64) -> MacAddr {
    MacAddr::from_u64(0x0009_5c00_0000 + n)
}

/// A seen device `n` (two current addresses, older ones, an identity), registered or not.
pub(crate) fn view(n: u64, category: Category, kind: &str, managed: bool) -> AssetView {
    let ips: Vec<IpAddr> = vec![
        "198.18.0.10".parse().unwrap(),
        "fe80::209:5cff:fe00:1".parse().unwrap(),
        "2001:db8::10".parse().unwrap(),
        "198.18.0.9".parse().unwrap(),
    ];
    AssetView {
        mac: mac(n),
        seen: true,
        ips,
        hostnames: vec![format!("device-{n}.local")],
        vendor: Some("Philips Medical Systems".into()),
        category,
        kind: kind.into(),
        confidence: 0.8,
        identity: Identity {
            manufacturer: Some("Philips".into()),
            model: Some("IntelliVue MX450".into()),
            firmware: Some("M.00.03".into()),
            serial: Some("DE12345678".into()),
        },
        managed,
        registry: managed.then(|| RegistryFields {
            asset_tag: "BIO-0042".into(),
            name: format!("Moniteur réa {n}"),
            location: "Réanimation, chambre 3".into(),
            owner: "Biomédical".into(),
            site: "chu-nord".into(),
            ..RegistryFields::default()
        }),
        flags: FlagSet::EMPTY,
        first_seen: Some("2026-11-20T08:00:00Z".parse().unwrap()),
        last_seen: Some("2026-11-25T08:00:00Z".parse().unwrap()),
        seen_by: vec!["chu-nord/ward-3".into()],
        services: Vec::new(),
        details: Vec::new(),
        evidence: Vec::new(),
    }
}

fn context() -> DocumentContext {
    DocumentContext::this_build(Some("hygie-{site}".into()))
}

/// Every category with every kind of the default rules, and kinds no rule names.
pub(crate) fn pairs() -> Vec<(Category, String)> {
    let mut pairs: Vec<(Category, String)> = Vec::new();
    let kinds = [
        "patient_monitor",
        "infusion_pump",
        "ventilator",
        "imaging",
        "camera",
        "hvac_controller",
        "bms",
        "ups",
        "iot_hub",
        "smart_plug",
        "workstation",
        "server",
        "virtual_machine",
        "ip_phone",
        "mobile",
        "printer",
        "label_printer",
        "scanner",
        "switch",
        "router",
        "firewall",
        "wireless_ap",
        "unknown",
        "a_kind_no_rule_names",
    ];
    for category in Category::ALL {
        for kind in kinds {
            pairs.push((category, kind.to_owned()));
        }
    }
    pairs
}

#[test]
fn invariant_1_every_category_and_kind_gives_a_valid_document() {
    let validator = validator();
    let mut seen_types = std::collections::BTreeSet::new();
    for (n, (category, kind)) in (0u64..).zip(pairs()) {
        for managed in [false, true] {
            let built = build(&view(n, category, &kind, managed), &context());
            let document = assert_valid(&validator, &built.body);
            assert_eq!(document["itemtype"], built.glpi.itemtype.as_str());
            assert_eq!(document["action"], "netdiscovery");
            assert_eq!(document["partial"], true);
            seen_types.insert(built.glpi.itemtype);
        }
    }
    assert_eq!(seen_types.len(), ItemType::ALL.len(), "{seen_types:?}");

    // A device that told nothing: no address, name, identity or registry entry.
    let mut bare = view(9999, Category::Unknown, "unknown", false);
    bare.ips.clear();
    bare.hostnames.clear();
    bare.vendor = None;
    bare.identity = Identity::default();
    let built = build(&bare, &DocumentContext::this_build(None));
    let document = assert_valid(&validator, &built.body);
    assert!(document.get("tag").is_none());
    assert_eq!(
        document["content"]["network_device"],
        serde_json::json!({"type": "Unmanaged", "mac": "00:09:5c:00:27:0f", "description": "Hygie: unknown/unknown"})
    );
    // Computers without an address or a name validate too.
    let mut computer = view(9998, Category::It, "workstation", true);
    computer.ips.clear();
    computer.hostnames.clear();
    computer.registry = Some(RegistryFields::default());
    assert_valid(&validator, &build(&computer, &context()).body);
}

#[test]
fn invariant_5_hostile_text_reaches_glpi_neutralised_and_valid() {
    let validator = validator();
    for (category, kind, managed) in [
        (Category::Unknown, "unknown", false),
        (Category::It, "workstation", true),
        (Category::Network, "switch", true),
        (Category::Biomedical, "patient_monitor", true),
    ] {
        let mut hostile = view(7, category, kind, managed);
        hostile.hostnames = vec![hostile_host()];
        hostile.identity = Identity {
            manufacturer: Some("@SUM(1+1)\u{0}".into()),
            model: Some("+model\u{7f}".into()),
            firmware: Some("-1\t2".into()),
            serial: Some("\u{2066}serial".into()),
        };
        hostile.vendor = Some("=vendor".into());
        if let Some(registry) = &mut hostile.registry {
            registry.name = hostile_host();
            registry.location = "=HYPERLINK(\"http://x\")".into();
        }
        let built = build(&hostile, &context());
        let document = assert_valid(&validator, &built.body);
        let mut strings = Vec::new();
        collect_strings(&document, &mut strings);
        for text in &strings {
            assert!(
                !text.chars().any(hygie_proto::is_unsafe_char),
                "{text:?} keeps an unsafe character"
            );
            assert!(
                !text.starts_with(['=', '+', '-', '@']),
                "{text:?} starts like a formula"
            );
            assert!(
                text.chars().count() <= MAX_FIELD,
                "{} characters",
                text.chars().count()
            );
        }
        let json = String::from_utf8(built.body.clone()).unwrap();
        assert!(
            json.contains("'=cmd"),
            "the formula is kept, defused: {json}"
        );
    }
}

fn collect_strings(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(text) => into.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, into)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, into)),
        _ => {}
    }
}

#[test]
fn unregistered_devices_go_as_unmanaged_network_devices() {
    let built = build(
        &view(1, Category::Biomedical, "patient_monitor", false),
        &context(),
    );
    assert_eq!(built.glpi.itemtype, ItemType::Unmanaged);
    let document: Value = serde_json::from_slice(&built.body).unwrap();
    assert_eq!(document["deviceid"], "hygie-00095c000001");
    assert_eq!(document["tag"], "hygie-chu-nord");
    let device = &document["content"]["network_device"];
    assert_eq!(device["type"], "Unmanaged");
    assert_eq!(device["mac"], "00:09:5c:00:00:01");
    assert_eq!(device["name"], "device-1.local");
    // The current address of each family, a global IPv6 before a link-local one.
    assert_eq!(
        device["ips"],
        serde_json::json!(["198.18.0.10", "2001:db8::10"])
    );
    assert_eq!(device["manufacturer"], "Philips");
    assert_eq!(device["model"], "IntelliVue MX450");
    assert_eq!(device["serial"], "DE12345678");
    assert!(
        device.get("assettag").is_none(),
        "no registry entry, no asset tag"
    );
    assert!(document["content"].get("hardware").is_none());
    assert!(
        document["content"]["versionclient"]
            .as_str()
            .unwrap()
            .starts_with("Hygie-collector_v")
    );
}

#[test]
fn registered_devices_go_as_their_kinds_item_type() {
    for (kind, itemtype, network) in KIND_TYPES {
        assert_eq!(
            registered_type(Category::It, kind),
            super::GlpiType {
                itemtype: *itemtype,
                network: *network
            },
            "{kind}"
        );
    }
    assert_eq!(
        registered_type(Category::Network, "a_new_kind").itemtype,
        ItemType::NetworkEquipment
    );
    assert_eq!(CATEGORY_TYPES.len(), 1);
    for category in [
        Category::Biomedical,
        Category::Building,
        Category::Iot,
        Category::It,
        Category::Unknown,
    ] {
        assert_eq!(
            registered_type(category, "a_new_kind").itemtype,
            ItemType::Unmanaged,
            "{category}"
        );
    }

    let printer: Value =
        serde_json::from_slice(&build(&view(2, Category::It, "printer", true), &context()).body)
            .unwrap();
    assert_eq!(printer["itemtype"], "Printer");
    let device = &printer["content"]["network_device"];
    assert_eq!(device["type"], "Printer");
    assert_eq!(
        device["name"], "Moniteur réa 2",
        "the registry's name first"
    );
    assert_eq!(device["assettag"], "BIO-0042");
    assert_eq!(device["location"], "Réanimation, chambre 3");
    assert_eq!(device["contact"], "Biomédical");

    let ups: Value =
        serde_json::from_slice(&build(&view(3, Category::Building, "ups", true), &context()).body)
            .unwrap();
    assert_eq!(
        (
            ups["itemtype"].as_str(),
            ups["content"]["network_device"]["type"].as_str()
        ),
        (Some("NetworkEquipment"), Some(NetworkType::Power.as_str()))
    );

    // Computers and phones: GLPI reads them from hardware, bios and networks.
    let computer: Value = serde_json::from_slice(
        &build(&view(4, Category::It, "workstation", true), &context()).body,
    )
    .unwrap();
    assert_eq!(computer["itemtype"], "Computer");
    let content = &computer["content"];
    assert!(content.get("network_device").is_none());
    assert_eq!(content["hardware"]["name"], "Moniteur réa 4");
    assert_eq!(content["bios"]["smanufacturer"], "Philips");
    assert_eq!(content["bios"]["ssn"], "DE12345678");
    assert_eq!(content["bios"]["assettag"], "BIO-0042");
    assert_eq!(
        content["networks"],
        serde_json::json!([
            {"description": "Hygie discovery", "mac": "00:09:5c:00:00:04", "ipaddress": "198.18.0.10"},
            {"description": "Hygie discovery", "mac": "00:09:5c:00:00:04", "ipaddress6": "2001:db8::10"}
        ])
    );
    let phone = build(&view(5, Category::It, "ip_phone", true), &context());
    assert_eq!(phone.glpi.itemtype, ItemType::Phone);
    // The same device unregistered is only an unmanaged device.
    assert_eq!(
        build(&view(4, Category::It, "workstation", false), &context())
            .glpi
            .itemtype,
        ItemType::Unmanaged
    );
}

#[test]
fn invariant_2_documents_are_keyed_by_mac_and_stable() {
    let first = build(
        &view(6, Category::Biomedical, "infusion_pump", true),
        &context(),
    );
    let again = build(
        &view(6, Category::Biomedical, "infusion_pump", true),
        &context(),
    );
    assert_eq!(first, again, "the same device gives the same bytes");
    assert_eq!(device_id(mac(6)), "hygie-00095c000006");

    let mut older_history = view(6, Category::Biomedical, "infusion_pump", true);
    older_history.ips.push("198.18.7.7".parse().unwrap());
    older_history.first_seen = None;
    assert_eq!(
        build(&older_history, &context()).digest,
        first.digest,
        "history is not state"
    );

    let mut moved = view(6, Category::Biomedical, "infusion_pump", true);
    moved.ips.insert(0, "198.18.0.99".parse().unwrap());
    assert_ne!(
        build(&moved, &context()).digest,
        first.digest,
        "a new address is a change"
    );
}

#[test]
fn current_addresses_skip_unusable_ones() {
    let ips: Vec<IpAddr> = [
        "0.0.0.0",
        "fe80::1",
        "198.18.1.1",
        "::1",
        "fd00::5",
        "198.18.1.2",
    ]
    .iter()
    .map(|ip| ip.parse().unwrap())
    .collect();
    assert_eq!(
        current_addresses(&ips),
        (
            Some("198.18.1.1".parse().unwrap()),
            Some("fd00::5".parse().unwrap())
        )
    );
    let only_link_local: Vec<IpAddr> = vec!["fe80::2".parse().unwrap()];
    assert_eq!(
        current_addresses(&only_link_local),
        (None, Some("fe80::2".parse().unwrap()))
    );
}

#[test]
fn the_selection_keeps_seen_devices_of_its_sites_categories_and_kinds() {
    let all = Selection::default();
    let mut unseen = view(1, Category::Biomedical, "patient_monitor", true);
    unseen.seen = false;
    assert!(
        !all.accepts(&unseen),
        "a registered device never seen tells GLPI nothing"
    );
    let mut random = view(2, Category::Unknown, "unknown", false);
    random.flags.insert(Flag::RandomizedMac);
    assert!(!all.accepts(&random));
    assert!(
        Selection {
            include_randomized: true,
            ..Selection::default()
        }
        .accepts(&random)
    );
    let mut registered_random = random.clone();
    registered_random.managed = true;
    assert!(
        all.accepts(&registered_random),
        "registered: its MAC is known to stay"
    );

    let narrow = Selection {
        sites: ["chu-sud".to_owned()].into(),
        ..Selection::default()
    };
    assert!(!narrow.accepts(&view(3, Category::It, "printer", false)));
    assert_eq!(narrow.prefilter().site.as_deref(), Some("chu-sud"));
    let kinds = Selection {
        categories: [Category::It].into(),
        exclude_kinds: ["workstation".to_owned()].into(),
        ..Selection::default()
    };
    assert!(kinds.accepts(&view(4, Category::It, "printer", false)));
    assert!(!kinds.accepts(&view(5, Category::It, "workstation", true)));
    assert!(!kinds.accepts(&view(6, Category::Network, "switch", true)));
    assert_eq!(kinds.prefilter().category, Some(Category::It));
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        content_type: Some("application/json".into()),
        retry_after: None,
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn replies_are_judged_as_glpi_means_them() {
    assert_eq!(
        judge(&reply(200, r#"{"status":"ok","expiration":24}"#), false),
        Attempt::Accepted
    );
    let (compressed, kind) = encode(br#"{"status":"ok"}"#, true);
    assert_eq!(kind, ZLIB);
    let zlib = Reply {
        content_type: Some(ZLIB.into()),
        body: compressed,
        ..reply(200, "")
    };
    assert_eq!(judge(&zlib, false), Attempt::Accepted);
    assert_eq!(
        judge(
            &reply(
                400,
                r#"{"status":"error","message":"JSON does not validate. Violations:\n\u001b[2J"}"#
            ),
            false
        ),
        Attempt::Refused {
            status: 400,
            message: "JSON does not validate. Violations:\u{fffd}\u{fffd}[2J".into()
        }
    );
    assert!(matches!(
        judge(&reply(200, "<html>login</html>"), false),
        Attempt::Refused { status: 200, .. }
    ));
    assert!(matches!(
        judge(&reply(200, r#"{"status":"error","message":"x"}"#), false),
        Attempt::Refused { .. }
    ));
    assert!(matches!(
        judge(&reply(500, r#"{"status":"error","message":"db"}"#), false),
        Attempt::Transient { .. }
    ));
    let slow_down = Reply {
        retry_after: Some(Duration::from_secs(7)),
        ..reply(429, "")
    };
    assert_eq!(
        judge(&slow_down, false),
        Attempt::Transient {
            reason: "GLPI asks to slow down (HTTP 429: HTTP 429)".into(),
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(matches!(
        judge(&reply(401, ""), true),
        Attempt::Unauthorized { .. }
    ));
    assert!(matches!(
        judge(&reply(401, ""), false),
        Attempt::Fatal { .. }
    ));
    assert!(
        matches!(judge(&reply(403, r#"{"status":"error","message":"Inventory is disabled"}"#), false), Attempt::Fatal { message } if message.contains("Inventory is disabled"))
    );
    assert!(
        matches!(judge(&reply(404, "Not found"), false), Attempt::Fatal { message } if message.contains("base URL"))
    );
}

#[test]
fn retry_invariant_1_refused_documents_are_not_retried() {
    let policy = RetryPolicy::default();
    let mut delivery = Delivery::new();
    assert_eq!(
        delivery.step(
            &policy,
            Attempt::Refused {
                status: 400,
                message: "no".into()
            },
            0.5
        ),
        Next::Done(Outcome::Refused {
            status: 400,
            message: "no".into()
        })
    );
    assert_eq!(delivery.attempts(), 1);
}

#[test]
fn retry_invariant_2_transient_failures_back_off_within_bounds() {
    let policy = RetryPolicy {
        attempts: 4,
        base: Duration::from_secs(1),
        ceiling: Duration::from_secs(5),
        give_up_after: 3,
    };
    let mut delivery = Delivery::new();
    let transient = |retry_after| Attempt::Transient {
        reason: "HTTP 500".into(),
        retry_after,
    };
    let mut waits = Vec::new();
    loop {
        match delivery.step(&policy, transient(None), 1.0) {
            Next::RetryAfter(wait) => waits.push(wait),
            Next::Done(outcome) => {
                assert_eq!(
                    outcome,
                    Outcome::GaveUp {
                        reason: "HTTP 500".into()
                    }
                );
                break;
            }
            Next::RenewToken => unreachable!(),
        }
    }
    assert_eq!(
        waits,
        [1, 2, 4].map(Duration::from_secs),
        "attempts - 1 waits, doubling"
    );
    assert_eq!(delivery.attempts(), 4);
    // Jitter scales into [0.5, 1]; Retry-After is a floor, the ceiling a ceiling.
    assert_eq!(policy.backoff(1, 0.0, None), Duration::from_millis(500));
    assert_eq!(policy.backoff(10, 1.0, None), Duration::from_secs(5));
    assert_eq!(
        policy.backoff(1, 0.0, Some(Duration::from_secs(3))),
        Duration::from_secs(3)
    );
    assert_eq!(
        policy.backoff(1, 0.0, Some(Duration::from_secs(3600))),
        Duration::from_secs(5)
    );
}

#[test]
fn retry_invariant_3_a_refused_token_is_renewed_once() {
    let policy = RetryPolicy::default();
    let mut delivery = Delivery::new();
    let unauthorized = || Attempt::Unauthorized {
        message: "expired".into(),
    };
    assert_eq!(
        delivery.step(&policy, unauthorized(), 0.5),
        Next::RenewToken
    );
    assert_eq!(delivery.attempts(), 0, "a renewal is not a failed attempt");
    assert_eq!(
        delivery.step(&policy, unauthorized(), 0.5),
        Next::Done(Outcome::Refused {
            status: 401,
            message: "expired".into()
        })
    );
}

#[test]
fn retry_invariant_4_documents_giving_up_in_a_row_stop_the_push() {
    let policy = RetryPolicy {
        give_up_after: 2,
        ..RetryPolicy::default()
    };
    let mut breaker = Breaker::default();
    let gave_up = Outcome::GaveUp {
        reason: "down".into(),
    };
    assert!(!breaker.record(&policy, &gave_up));
    assert!(
        !breaker.record(&policy, &Outcome::Delivered),
        "a success resets the count"
    );
    assert!(!breaker.record(&policy, &gave_up));
    assert!(breaker.record(&policy, &gave_up));
}

#[test]
fn retry_invariant_5_a_configuration_failure_stops_the_push_at_once() {
    let policy = RetryPolicy::default();
    let mut delivery = Delivery::new();
    let next = delivery.step(
        &policy,
        Attempt::Fatal {
            message: "fix it".into(),
        },
        0.5,
    );
    let Next::Done(outcome) = next else {
        panic!("{next:?}")
    };
    assert!(Breaker::default().record(&policy, &outcome));
}

#[test]
fn tokens_are_granted_kept_until_shortly_before_expiry_and_refusals_explained() {
    let asked = Instant::now();
    let token = judge_grant(
        200,
        br#"{"access_token":"t0k","token_type":"Bearer","expires_in":3600}"#,
        asked,
    )
    .unwrap();
    assert!(
        token.usable_at(asked + Duration::from_secs(3600) - RENEW_MARGIN - Duration::from_secs(1))
    );
    assert!(!token.usable_at(asked + Duration::from_secs(3600) - RENEW_MARGIN));
    assert!(
        format!("{token:?}").contains("renew_at") && !format!("{token:?}").contains("t0k"),
        "never logged"
    );
    let short = Token::granted("x".into(), asked, Duration::from_secs(10));
    assert!(
        short.usable_at(asked + Duration::from_secs(4)),
        "a short token is used for half its life"
    );
    assert!(matches!(
        judge_grant(401, br#"{"error":"invalid_client","error_description":"Client authentication failed"}"#, asked),
        Err(TokenError::Refused(message)) if message.contains("invalid_client: Client authentication failed")
    ));
    assert!(matches!(
        judge_grant(503, b"", asked),
        Err(TokenError::Transient(_))
    ));
    assert!(matches!(
        judge_grant(200, b"<html>", asked),
        Err(TokenError::Refused(_))
    ));
    assert_eq!(
        grant_form("hygie collector", "s3cr&t=+", "inventory"),
        "grant_type=client_credentials&client_id=hygie%20collector&client_secret=s3cr%26t%3D%2B&scope=inventory"
    );
}

#[test]
fn invariant_3_the_state_keeps_accepted_digests_per_glpi() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("glpi-sent.sqlite");
    let now: Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
    let mut state = SentState::open(&path, "https://glpi.a/").unwrap();
    assert!(state.is_empty().unwrap());
    let delivered = Delivered {
        mac: mac(1),
        digest: [7; 32],
        itemtype: ItemType::Printer,
    };
    state.record(&[delivered], now).unwrap();
    state
        .record(
            &[Delivered {
                digest: [8; 32],
                ..delivered
            }],
            now,
        )
        .unwrap();
    assert_eq!(state.digest(mac(1)).unwrap(), Some([8; 32]));
    assert_eq!(state.digest(mac(2)).unwrap(), None);
    drop(state);
    assert_eq!(crate::files::mode(&path).unwrap() & 0o777, 0o600);
    assert_eq!(
        SentState::open(&path, "https://glpi.a/")
            .unwrap()
            .len()
            .unwrap(),
        1
    );
    let other = SentState::open(&path, "https://glpi.b/").unwrap();
    assert!(other.is_empty().unwrap(), "another GLPI holds none of it");
}

#[test]
fn the_schema_check_refuses_what_glpi_would_refuse() {
    let validator = validator();
    let good = build(&view(1, Category::It, "printer", true), &context());
    let document: Value = serde_json::from_slice(&good.body).unwrap();
    assert!(validator.is_valid(&document));
    for (pointer, bad) in [
        ("/itemtype", serde_json::json!("Peripheral")),
        ("/content/network_device/type", serde_json::json!("Medical")),
        (
            "/content/network_device/ips",
            serde_json::json!(["198.18.0.300"]),
        ),
        ("/unknown_key", serde_json::json!("x")),
        ("/partial", serde_json::json!("yes")),
    ] {
        let mut broken = document.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        broken
            .pointer_mut(if parent.is_empty() { "" } else { parent })
            .unwrap()[key] = bad;
        assert!(!validator.is_valid(&broken), "{pointer} should be refused");
    }
    let mut no_deviceid = document.clone();
    no_deviceid.as_object_mut().unwrap().remove("deviceid");
    assert!(!validator.is_valid(&no_deviceid));
}
