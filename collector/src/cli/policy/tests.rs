//! Every `policy` command on a temporary database.

use hygie_collector::audit::EventKind;
use hygie_collector::inventory::{Dirty, Inventory};
use hygie_collector::policy::{DeviceRow, PolicyDevice, SiteRecord};
use hygie_collector::store::{Commit, EventFilter, InventoryWriter};

use super::*;
use crate::cli::test_support::config_in;

fn now() -> Timestamp {
    "2026-11-25T10:00:00Z".parse().unwrap()
}

fn pump() -> MacAddr {
    "00:09:5c:11:22:01".parse().unwrap()
}

fn decision(mac: MacAddr, reason: &str) -> DecisionArgs {
    DecisionArgs {
        mac,
        reason: reason.into(),
        database: DatabaseArg::default(),
    }
}

fn kinds(config: &CollectorConfig) -> Vec<(String, String)> {
    open_reader(config, &DatabaseArg::default())
        .unwrap()
        .events(&EventFilter::default())
        .unwrap()
        .into_iter()
        .map(|event| (event.kind, event.details))
        .collect()
}

#[test]
fn allow_deny_and_clear_record_decisions_each_as_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    policy(
        PolicyCommand::Allow(decision(pump(), "calibration by the biomed team")),
        &config,
        now(),
    )
    .unwrap();
    let store = open_reader(&config, &DatabaseArg::default()).unwrap();
    let recorded = store.override_of(pump()).unwrap().unwrap();
    assert_eq!(recorded.decision, Decision::Allow);
    assert_eq!(recorded.reason, "calibration by the biomed team");
    assert!(!recorded.by.is_empty(), "who decided is recorded");
    assert_eq!(recorded.at, now());

    // The same decision again is no news; another replaces it and says what it replaced.
    policy(
        PolicyCommand::Allow(decision(pump(), "calibration by the biomed team")),
        &config,
        now(),
    )
    .unwrap();
    policy(
        PolicyCommand::Deny(decision(pump(), "probing froze it")),
        &config,
        now(),
    )
    .unwrap();
    policy(
        PolicyCommand::Clear {
            mac: pump(),
            database: DatabaseArg::default(),
        },
        &config,
        now(),
    )
    .unwrap();
    let events = kinds(&config);
    let names: Vec<&str> = events.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        names,
        [
            EventKind::ProbingAllowed.as_str(),
            EventKind::ProbingDenied.as_str(),
            EventKind::ProbingOverrideCleared.as_str(),
        ]
    );
    let denied: serde_json::Value = serde_json::from_str(&events[1].1).unwrap();
    assert_eq!(denied["reason"], "probing froze it");
    assert_eq!(denied["before"]["decision"], "allow");
    let cleared: serde_json::Value = serde_json::from_str(&events[2].1).unwrap();
    assert_eq!(cleared["before"]["decision"], "deny");
    assert!(store.override_of(pump()).unwrap().is_none());
    assert!(store.verify_events().unwrap().is_ok(), "the chain holds");

    let error = policy(
        PolicyCommand::Clear {
            mac: pump(),
            database: DatabaseArg::default(),
        },
        &config,
        now(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "no operator decision is recorded for 00:09:5c:11:22:01 (see `policy show`)"
    );
}

#[test]
fn decisions_need_a_device_and_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let refused = |args| {
        policy(PolicyCommand::Deny(args), &config, now())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        refused(decision(pump(), "  ")),
        "--reason is empty: say why, for whoever reads the event log"
    );
    assert_eq!(
        refused(decision(pump(), "bell\u{7}")),
        "reason contains a control character"
    );
    assert_eq!(
        refused(decision("01:00:5e:00:00:01".parse().unwrap(), "x")),
        "01:00:5e:00:00:01 is a multicast or all-zero address, not a device"
    );
}

/// Writes a published policy as the collector's writer does.
fn publish(config: &CollectorConfig) {
    let mut store = open_writer(config, &DatabaseArg::default()).unwrap();
    let inventory = Inventory::new();
    let device = PolicyDevice {
        reasons: [ProtectionReason::Biomedical].into_iter().collect(),
        addresses: vec!["198.18.0.10".parse().unwrap()],
        since: now(),
    };
    store
        .commit(&Commit {
            inventory: &inventory,
            dirty: &Dirty::default(),
            history: &[],
            cursors: &[],
            events: &[],
            unseen_flags: &[],
            verdicts: &[],
            verdicts_removed: &[],
            verdict_state: None,
            policy_devices: &[DeviceRow {
                site: "chu-nord".into(),
                mac: pump(),
                device: Some(device),
            }],
            policy_sites: &[
                SiteRecord {
                    site: "chu-nord".into(),
                    version: 4,
                    networks: vec!["198.18.4.0/24".parse().unwrap()],
                    passive_only: false,
                },
                SiteRecord {
                    site: "chu-sud".into(),
                    version: 4,
                    networks: vec![],
                    passive_only: false,
                },
            ],
            now: now(),
        })
        .unwrap();
}

#[test]
fn show_reads_what_each_site_was_told() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    publish(&config);
    policy(
        PolicyCommand::Deny(decision("9c:7b:ef:11:22:02".parse().unwrap(), "old PACS")),
        &config,
        now(),
    )
    .unwrap();
    let store = open_reader(&config, &DatabaseArg::default()).unwrap();
    let sites = store.policies().unwrap();
    let overrides = store.overrides().unwrap();
    let text = report::policy_tables(&sites, &overrides);
    assert!(
        text.contains(
            "site chu-nord: version 4, published 2026-11-25 10:00:00Z, 1 devices, 1 networks"
        ),
        "{text}"
    );
    assert!(
        text.contains("00:09:5c:11:22:01  biomedical  198.18.0.10"),
        "{text}"
    );
    assert!(text.contains("networks: 198.18.4.0/24"), "{text}");
    assert!(
        text.contains("9c:7b:ef:11:22:02  deny      old PACS"),
        "{text}"
    );

    let json = serde_json::to_value(ShowJson {
        sites: sites.iter().map(site_json).collect(),
        overrides: &overrides,
    })
    .unwrap();
    assert_eq!(json["sites"][0]["site"], "chu-nord");
    assert_eq!(json["sites"][0]["devices"][0]["reason"], "biomedical");
    assert_eq!(
        json["sites"][0]["devices"][0]["addresses"][0],
        "198.18.0.10"
    );
    assert_eq!(json["sites"][0]["networks"][0], "198.18.4.0/24");
    assert_eq!(json["sites"][1]["site"], "chu-sud");
    assert_eq!(json["overrides"][0]["decision"], "deny");

    for format in [Format::Table, Format::Json] {
        show(&store, Some("chu-sud"), format).unwrap();
    }
    let error = show(&store, Some("chu-est"), Format::Table).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no scan policy for site \"chu-est\" (sites: chu-nord, chu-sud)"
    );
}
