//! Unit tests of the reconstruction, named after the invariants of the module docs, and of
//! the refusals of `--at`.

use hygie_proto::{MacAddr, Observation, Source};
use jiff::Timestamp;

use super::*;
use crate::audit::{Event, Hash};
use crate::inventory::flags::Flag;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn mac(text: &str) -> MacAddr {
    text.parse().unwrap()
}

fn event(id: i64, when: &str, device: &str, kind: &str, details: &str) -> Event {
    Event {
        id,
        at: at(when),
        mac: Some(mac(device)),
        kind: kind.into(),
        details: details.into(),
        prev_hash: Hash::GENESIS,
        hash: Hash::GENESIS,
    }
}

fn seen(device: &str, seen_at: &str, received_at: &str, ip: &str) -> PastObservation {
    let mut observation = Observation::new(mac(device), at(seen_at), Source::ArpPassive);
    observation.ips = vec![ip.parse().unwrap()];
    PastObservation {
        agent: 1,
        received_at: at(received_at),
        observation,
    }
}

fn run(
    moment: &str,
    anchor: i64,
    events: Vec<Event>,
    observations: Vec<PastObservation>,
) -> Result<Vec<PastAsset>, AsOfError> {
    let mut found = Vec::new();
    rebuild(
        &Moment::new(at(moment)),
        Anchor {
            id: anchor,
            hash: Hash::GENESIS,
        },
        events.into_iter().map(Ok),
        observations.into_iter().map(Ok),
        |past| {
            found.push(past);
            Ok::<_, AsOfError>(())
        },
    )?;
    Ok(found)
}

const A: &str = "00:09:5c:11:22:01";
const B: &str = "00:1b:a9:11:22:13";
const NEW: &str = r#"{"seen_at":"2026-03-01T10:00:00Z","ips":["198.18.0.11"],"hostnames":[],"flags":["unmanaged","new"]}"#;

#[test]
fn invariant_1_nothing_after_the_moment_counts() {
    let found = run(
        "2026-03-01T12:00:00Z",
        1,
        vec![
            event(1, "2026-03-01T10:00:00Z", A, "asset_new", NEW),
            event(
                2,
                "2026-03-01T13:00:00Z",
                A,
                "flag_cleared",
                r#"{"flag":"new"}"#,
            ),
        ],
        vec![
            seen(
                A,
                "2026-03-01T10:00:00Z",
                "2026-03-01T10:00:01Z",
                "198.18.0.11",
            ),
            // Made after the moment, and made before it but received after.
            seen(
                A,
                "2026-03-01T12:30:00Z",
                "2026-03-01T12:30:01Z",
                "198.18.0.12",
            ),
            seen(
                A,
                "2026-03-01T11:00:00Z",
                "2026-03-01T12:00:01Z",
                "198.18.0.13",
            ),
            seen(
                B,
                "2026-03-01T12:00:00.000001Z",
                "2026-03-01T12:00:02Z",
                "198.18.0.20",
            ),
        ],
    )
    .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let asset = found[0].asset.as_ref().unwrap();
    assert_eq!(
        asset.addresses.keys().copied().collect::<Vec<_>>(),
        vec!["198.18.0.11".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(asset.seen.last(), at("2026-03-01T10:00:00Z"));
    assert_eq!(
        found[0].flags.iter().collect::<Vec<_>>(),
        vec![Flag::Unmanaged, Flag::New]
    );
}

#[test]
fn invariant_4_never_seen_flags_end_at_the_first_sighting() {
    let registered = r#"{"source":"approve","after":{"name":"Tablet"}}"#;
    let tablet = "02:00:5e:10:00:07";
    let seen_new = r#"{"seen_at":"2026-03-04T10:00:00Z","ips":[],"hostnames":[],"flags":["new","randomized_mac"]}"#;
    let events = vec![
        event(
            1,
            "2026-03-03T11:00:00Z",
            tablet,
            "registry_added",
            registered,
        ),
        event(
            2,
            "2026-03-03T11:00:00Z",
            tablet,
            "flag_raised",
            r#"{"flag":"randomized_mac"}"#,
        ),
        event(3, "2026-03-04T10:00:00Z", tablet, "asset_new", seen_new),
        event(
            4,
            "2026-03-04T10:01:00Z",
            tablet,
            "flag_cleared",
            r#"{"flag":"randomized_mac"}"#,
        ),
    ];
    let flags_at = |anchor: i64| {
        run("2026-03-05T00:00:00Z", anchor, events.clone(), vec![]).unwrap()[0]
            .flags
            .iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(flags_at(2), vec![Flag::RandomizedMac]);
    assert_eq!(flags_at(3), vec![Flag::New, Flag::RandomizedMac]);
    // The sweep's clearing is the never-seen flag's, not the asset's.
    assert_eq!(flags_at(4), vec![Flag::New, Flag::RandomizedMac]);
}

#[test]
fn invariant_5_the_registry_entry_is_replayed_from_its_events() {
    let events = vec![
        event(
            1,
            "2026-03-01T09:00:00Z",
            B,
            "registry_added",
            r#"{"source":"import:a.csv","after":{"name":"Printer","category":"it"}}"#,
        ),
        event(
            2,
            "2026-03-02T09:00:00Z",
            B,
            "registry_updated",
            r#"{"source":"approve","before":{"name":"Printer"},"after":{"name":"Ward printer","category":"it"}}"#,
        ),
        event(
            3,
            "2026-03-03T09:00:00Z",
            B,
            "registry_removed",
            r#"{"source":"remove","before":{"name":"Ward printer"}}"#,
        ),
        event(
            4,
            "2026-03-04T09:00:00Z",
            B,
            "registry_added",
            r#"{"source":"approve","after":{"name":"Back"}}"#,
        ),
    ];
    let entry_at = |anchor: i64| {
        run("2026-03-05T00:00:00Z", anchor, events.clone(), vec![])
            .unwrap()
            .into_iter()
            .next()
            .and_then(|past| past.registry)
    };
    let updated = entry_at(2).unwrap();
    assert_eq!(updated.fields.name, "Ward printer");
    assert_eq!(updated.registered_at, at("2026-03-01T09:00:00Z"));
    assert_eq!(updated.updated_at, at("2026-03-02T09:00:00Z"));
    assert_eq!(updated.source, "approve");
    assert_eq!(entry_at(3), None, "removed and never seen: not listed");
    assert_eq!(
        entry_at(4).unwrap().registered_at,
        at("2026-03-04T09:00:00Z")
    );
}

#[test]
fn invariant_6_an_asset_whose_observations_were_pruned_is_listed_from_its_events() {
    let found = run(
        "2026-03-02T00:00:00Z",
        2,
        vec![
            event(1, "2026-03-01T10:00:01Z", A, "asset_new", NEW),
            event(
                2,
                "2026-03-01T11:00:01Z",
                A,
                "address_new",
                r#"{"ip":"198.18.0.12","previous":["198.18.0.11"]}"#,
            ),
        ],
        vec![],
    )
    .unwrap();
    assert!(found[0].from_events_only);
    let asset = found[0].asset.as_ref().unwrap();
    assert_eq!(asset.seen.first(), at("2026-03-01T10:00:00Z"));
    assert_eq!(asset.addresses.len(), 2);
}

#[test]
fn invariant_7_streams_out_of_mac_order_are_refused() {
    let error = run(
        "2026-03-02T00:00:00Z",
        0,
        vec![],
        vec![
            seen(
                B,
                "2026-03-01T10:00:00Z",
                "2026-03-01T10:00:00Z",
                "198.18.0.20",
            ),
            seen(
                A,
                "2026-03-01T10:00:00Z",
                "2026-03-01T10:00:00Z",
                "198.18.0.11",
            ),
        ],
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("the observations were not read in MAC order ({A} came after {B})")
    );
}

#[test]
fn an_unreadable_event_is_named() {
    let error = run(
        "2026-03-02T00:00:00Z",
        1,
        vec![event(1, "2026-03-01T10:00:00Z", A, "flag_raised", "{}")],
        vec![],
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("event #1 (flag_raised) has unreadable details"),
        "{error}"
    );
}

#[test]
fn a_date_means_the_end_of_that_day_utc_and_a_time_is_taken_as_given() {
    let now = at("2026-11-25T12:00:00Z");
    assert_eq!(
        parse_at("2026-03-01", now).unwrap().at(),
        at("2026-03-01T23:59:59.999999Z")
    );
    assert_eq!(
        parse_at(" 2026-03-01T14:30:00+01:00 ", now).unwrap().at(),
        at("2026-03-01T13:30:00Z")
    );
    assert_eq!(parse_at("2026-11-25T12:00:00Z", now).unwrap().at(), now);
}

#[test]
fn refusals_say_what_to_do() {
    let now = at("2026-11-25T12:00:00Z");
    let refused = |text: &str| parse_at(text, now).unwrap_err().to_string();
    assert_eq!(
        refused("yesterday"),
        "--at \"yesterday\" is neither a time (2026-03-01T14:30:00Z) nor a date (2026-03-01, read as the end of that day, UTC)"
    );
    assert_eq!(
        refused("2026-11-25"),
        "--at 2026-11-25 means the end of that day (UTC), which has not come yet (it is now 2026-11-25T12:00:00Z): give a time (--at 2026-11-25T12:00:00Z) or leave --at out for the present"
    );
    assert_eq!(
        refused("2026-11-26"),
        "--at 2026-11-26T23:59:59.999999Z is in the future (it is now 2026-11-25T12:00:00Z): --at shows the past"
    );
    assert_eq!(
        refused("2026-11-25T12:00:01Z"),
        "--at 2026-11-25T12:00:01Z is in the future (it is now 2026-11-25T12:00:00Z): --at shows the past"
    );
}

#[test]
fn dates_before_the_history_kept_are_refused_naming_the_earliest() {
    let moment = Moment::new(at("2026-03-01T00:00:00Z"));
    let fresh = HistoryBounds {
        first_record: Some(at("2026-03-02T08:00:00Z")),
        oldest_kept: Some(at("2026-03-02T08:00:01Z")),
        pruned: false,
    };
    assert_eq!(
        fresh.admit(&moment).unwrap_err().to_string(),
        "--at 2026-03-01T00:00:00Z is before the collector's first record; the earliest --at possible is 2026-03-02T08:00:00Z"
    );
    let pruned = HistoryBounds {
        pruned: true,
        ..fresh
    };
    assert_eq!(
        pruned.admit(&moment).unwrap_err().to_string(),
        "--at 2026-03-01T00:00:00Z is before the oldest observation history kept (older observations were pruned by [history] max_age / max_rows in the collector's configuration); the earliest --at possible is 2026-03-02T08:00:01Z"
    );
    assert_eq!(
        pruned.admit(&Moment::new(at("2026-03-02T08:00:01Z"))),
        Ok(())
    );
    assert_eq!(
        HistoryBounds::default().admit(&moment),
        Err(AsOfError::NoRecord)
    );
    let emptied = HistoryBounds {
        oldest_kept: None,
        ..pruned
    };
    assert_eq!(emptied.admit(&moment), Err(AsOfError::NoHistory));
}

#[test]
fn an_export_at_says_in_its_signed_header_that_it_is_a_reconstruction() {
    use crate::export::signing::Signer25519;
    use crate::export::{SnapshotInput, csv_format, json, verify};
    let signer = Signer25519::generate();
    let verifier = signer.verifier();
    let reconstruction = Reconstruction::new(
        &Moment::new(at("2026-03-01T23:59:59.999999Z")),
        Anchor {
            id: 41,
            hash: Hash([7; 32]),
        },
    );
    let input = SnapshotInput {
        assets: Vec::new(),
        counts: crate::views::counts(&[]),
        events_head: (52, Hash([8; 32])),
        taken_at: at("2026-11-25T12:00:00Z"),
        hostname: "collector-test".into(),
        reconstruction: Some(reconstruction.clone()),
    };
    let text = json::write(&input, &signer);
    let verified = verify::verify(text.as_bytes(), &verifier).unwrap();
    assert_eq!(verified.header.reconstruction, Some(reconstruction.clone()));
    let csv = csv_format::write(&input, &signer);
    let verified = verify::verify(&csv, &verifier).unwrap();
    assert_eq!(verified.header.reconstruction, Some(reconstruction));
    // The claim is signed: moving it to another moment breaks the signature.
    let moved = text.replace("2026-03-01T23:59:59.999999Z", "2026-03-02T23:59:59.999999Z");
    assert_ne!(moved, text);
    assert!(verify::verify(moved.as_bytes(), &verifier).is_err());
    // A live snapshot's header has no such member at all.
    let live = json::write(
        &SnapshotInput {
            reconstruction: None,
            ..input
        },
        &signer,
    );
    assert!(!live.contains("reconstruction"));
}
