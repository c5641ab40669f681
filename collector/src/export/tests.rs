//! Snapshots: export → verify round trips, tamper detection naming the first bad row, and
//! hostile device strings in every format.

use std::collections::{BTreeMap, HashMap};

use hygie_proto::{MdnsService, Observation, Source};
use jiff::Timestamp;

use super::signing::{Signer25519, Verifier25519};
use super::verify::{Tampered, verify};
use super::*;
use crate::classify::Rules;
use crate::inventory::flags::FlagRules;
use crate::inventory::{Dirty, Inventory};
use crate::views::{ViewContext, asset_views, counts};

const HOSTILE_HOST: &str = "=cmd|' /C calc'!A0\u{1b}[2J<script>alert(1)</script>";

fn input() -> SnapshotInput {
    let now: Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
    let mut inventory = Inventory::new();
    for (mac, ip, hostname) in [
        ("00:09:5c:11:22:01", "198.18.0.11", "mon-icu-01.local"),
        ("00:21:b7:11:22:12", "198.18.0.51", HOSTILE_HOST),
        ("d0:43:1e:11:22:15", "198.18.0.61", "+ws-nurse"),
    ] {
        let mut observation = Observation::new(mac.parse().unwrap(), now, Source::Mdns);
        observation.ips = vec![ip.parse().unwrap()];
        observation.hostname = Some(hostname.into());
        observation.services = vec![MdnsService {
            instance: "@evil <b>instance</b>".into(),
            service_type: "_ipp._tcp.local".into(),
            port: Some(631),
            txt: BTreeMap::from([("ty".into(), Some("-2+3 \"printer\" & co".into()))]),
        }];
        inventory.merge(1, &observation, &mut Dirty::default());
    }
    let rules = Rules::defaults().unwrap();
    let flag_rules = FlagRules::default();
    let views = asset_views(
        &inventory,
        &HashMap::new(),
        &[],
        &ViewContext {
            rules: &rules,
            flag_rules: &flag_rules,
            now,
        },
    );
    SnapshotInput {
        counts: counts(&views),
        assets: views,
        events_head: (7, crate::audit::Hash([9; 32])),
        taken_at: now,
        hostname: "collector-test".into(),
        reconstruction: None,
    }
}

fn keys() -> (Signer25519, Verifier25519) {
    let signer = Signer25519::generate();
    let verifier = signer.verifier();
    (signer, verifier)
}

#[test]
fn json_and_csv_snapshots_verify() {
    let (signer, verifier) = keys();
    let input = input();
    let json = json::write(&input, &signer);
    let verified = verify(json.as_bytes(), &verifier).unwrap();
    assert_eq!((verified.format, verified.header.rows), ("json", 3));
    assert_eq!(verified.header.counts.by_flag["unmanaged"], 3);
    assert_eq!(verified.header.events_head.id, 7);

    let csv = csv_format::write(&input, &signer);
    let verified = verify(&csv, &verifier).unwrap();
    assert_eq!((verified.format, verified.header.rows), ("csv", 3));
}

#[test]
fn the_json_shape_is_what_auditors_expect() {
    let (signer, _) = keys();
    let document: serde_json::Value =
        serde_json::from_str(&json::write(&input(), &signer)).unwrap();
    let asset = &document["assets"][0];
    assert_eq!(asset["mac"], "00:09:5c:11:22:01");
    assert_eq!(asset["ips"][0], "198.18.0.11");
    assert_eq!(asset["managed"], false);
    assert_eq!(asset["flags"], serde_json::json!(["unmanaged", "new"]));
    for key in [
        "hostnames",
        "vendor",
        "category",
        "kind",
        "confidence",
        "first_seen",
        "last_seen",
        "services",
        "evidence",
    ] {
        assert!(!asset[key].is_null(), "missing {key}");
    }
    let snapshot = &document["snapshot"];
    for key in [
        "taken_at",
        "counts",
        "collector",
        "digest",
        "signature",
        "events_head",
        "rows_digest",
    ] {
        assert!(!snapshot[key].is_null(), "missing {key}");
    }
}

#[test]
fn an_altered_json_row_is_named() {
    let (signer, verifier) = keys();
    let json = json::write(&input(), &signer);
    let tampered = json.replacen("198.18.0.51", "198.18.0.99", 1);
    assert_eq!(
        verify(tampered.as_bytes(), &verifier),
        Err(Tampered::Row {
            row: 1,
            mac: "00:21:b7:11:22:12".into()
        })
    );
    let mut document: serde_json::Value = serde_json::from_str(&json).unwrap();
    document["assets"].as_array_mut().unwrap().remove(1);
    let removed = serde_json::to_vec(&document).unwrap();
    assert!(matches!(
        verify(&removed, &verifier),
        Err(Tampered::Moved { row: 1, .. })
    ));
    let mut document: serde_json::Value = serde_json::from_str(&json).unwrap();
    document["assets"].as_array_mut().unwrap().pop();
    let truncated = serde_json::to_vec(&document).unwrap();
    assert_eq!(
        verify(&truncated, &verifier),
        Err(Tampered::Count {
            signed: 3,
            found: 2
        })
    );
    let mut document: serde_json::Value = serde_json::from_str(&json).unwrap();
    document["snapshot"]["counts"]["assets"] = serde_json::json!(2);
    assert_eq!(
        verify(&serde_json::to_vec(&document).unwrap(), &verifier),
        Err(Tampered::Header)
    );
}

#[test]
fn json_that_parsers_could_read_two_ways_or_with_unsigned_parts_is_refused() {
    let (signer, verifier) = keys();
    let json = json::write(&input(), &signer);
    assert!(verify(json.as_bytes(), &verifier).is_ok());
    // A repeated key: the signed value last, a forged one first for first-wins readers.
    let twice = json.replacen(
        "\"category\":\"it\"",
        "\"category\":\"biomedical\",\"category\":\"it\"",
        1,
    );
    assert_ne!(twice, json);
    assert!(matches!(
        verify(twice.as_bytes(), &verifier),
        Err(Tampered::Unreadable(reason)) if reason.contains("appears twice")
    ));
    let mut document: serde_json::Value = serde_json::from_str(&json).unwrap();
    document["note"] = serde_json::json!("all devices approved by the auditor");
    assert!(matches!(
        verify(&serde_json::to_vec(&document).unwrap(), &verifier),
        Err(Tampered::Unreadable(reason)) if reason.contains("unsigned")
    ));
    // The published digest must be the header's.
    let mut document: serde_json::Value = serde_json::from_str(&json).unwrap();
    document["snapshot"]["digest"] = serde_json::json!("00".repeat(32));
    assert_eq!(
        verify(&serde_json::to_vec(&document).unwrap(), &verifier),
        Err(Tampered::HeaderDigest)
    );
}

#[test]
fn an_altered_csv_row_is_named() {
    let (signer, verifier) = keys();
    let csv = String::from_utf8(csv_format::write(&input(), &signer)).unwrap();
    let tampered = csv.replacen("no,", "yes,", 3);
    assert!(matches!(
        verify(tampered.as_bytes(), &verifier),
        Err(Tampered::Row { row: 0, .. })
    ));
    let lines: Vec<&str> = csv.lines().collect();
    let dropped = [&lines[..3], &lines[4..]].concat().join("\n");
    assert!(matches!(
        verify(dropped.as_bytes(), &verifier),
        Err(Tampered::Moved { row: 1, .. })
    ));
}

#[test]
fn another_key_is_told_apart_from_tampering() {
    let (signer, _) = keys();
    let (_, other) = keys();
    let json = json::write(&input(), &signer);
    assert!(matches!(
        verify(json.as_bytes(), &other),
        Err(Tampered::OtherKey { .. })
    ));
}

#[test]
fn hostile_strings_are_defused_in_every_format() {
    let (signer, _) = keys();
    let input = input();
    let csv = String::from_utf8(csv_format::write(&input, &signer)).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv.as_bytes());
    for record in reader.records().skip(2) {
        for cell in record.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula cell {cell:?}"
            );
            assert!(!cell.contains('\u{1b}'), "escape in {cell:?}");
        }
    }
    let header = verify(json::write(&input, &signer).as_bytes(), &signer.verifier())
        .unwrap()
        .header;
    let mut sections = html::Sections::default();
    for view in &input.assets {
        sections.add(view.clone());
    }
    let page = html::render(&header, &sections);
    assert!(!page.contains("<script>"), "unescaped script");
    assert!(page.contains("&lt;script&gt;"));
    assert!(!page.contains("<b>instance"));
    assert!(!page.contains('\u{1b}'));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external resource"
    );
    // JSON keeps the data as it was seen, safely encoded as JSON strings.
    let json = json::write(&input, &signer);
    assert!(json.contains("\\u001b[2J<script>"));
}

/// Snapshots written by the first release (format 1: no manufacturer, model or firmware),
/// kept byte for byte: they must verify for as long as auditors hold them.
#[test]
fn snapshots_of_format_1_still_verify() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/export/fixtures");
    let verifier = Verifier25519::load(&fixtures.join("snapshot-v1.pub")).unwrap();
    for file in ["snapshot-v1.json", "snapshot-v1.csv"] {
        let bytes = std::fs::read(fixtures.join(file)).unwrap();
        let verified = verify(&bytes, &verifier).unwrap_or_else(|error| panic!("{file}: {error}"));
        assert_eq!(verified.header.format, FORMAT_V1);
        assert_eq!(verified.header.rows, 3);
        // And a tampered old snapshot is still caught.
        let text = String::from_utf8(bytes).unwrap();
        let tampered = text.replacen("198.18.0.11", "198.18.0.99", 1);
        assert!(verify(tampered.as_bytes(), &verifier).is_err(), "{file}");
    }
}

#[test]
fn format_2_carries_the_identity_a_device_announced() {
    let (signer, verifier) = keys();
    let mut input = input();
    input.assets[0].identity.model = Some("IntelliVue MX450".into());
    input.assets[0].identity.manufacturer = Some("Philips".into());
    let csv = csv_format::write(&input, &signer);
    let verified = verify(&csv, &verifier).unwrap();
    assert_eq!(verified.header.format, FORMAT);
    let text = String::from_utf8(csv).unwrap();
    assert!(text.contains(",Philips,IntelliVue MX450,"), "{text}");
    let json = json::write(&input, &signer);
    // One compact row a line since the writer streams.
    assert!(json.contains("\"model\":\"IntelliVue MX450\""), "{json}");
    verify(json.as_bytes(), &verifier).unwrap();
}

#[test]
fn snapshots_in_the_earlier_pretty_layout_or_with_the_header_first_still_verify() {
    let (signer, verifier) = keys();
    let json = json::write(&input(), &signer);
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    // What earlier versions wrote: the whole document pretty-printed, members sorted.
    let pretty = serde_json::to_string_pretty(&document).unwrap();
    assert!(verify(pretty.as_bytes(), &verifier).is_ok());
    // Any tool may put the header first.
    let header_first = format!(
        "{{\"snapshot\":{},\"assets\":{}}}",
        document["snapshot"], document["assets"]
    );
    assert!(verify(header_first.as_bytes(), &verifier).is_ok());
}

/// `count` rows: the three of [`input`] over and over, each with its own MAC.
fn many(count: usize) -> SnapshotInput {
    let mut input = input();
    let base = input.assets.clone();
    input.assets = (0..count)
        .map(|index| {
            let mut view = base[index % base.len()].clone();
            view.mac = format!(
                "02:00:00:{:02x}:{:02x}:{:02x}",
                index >> 16,
                (index >> 8) & 0xff,
                index & 0xff
            )
            .parse()
            .unwrap();
            view
        })
        .collect();
    input.counts = counts(&input.assets);
    input
}

/// What `canonical` wrote before it serialized in place: a sorted deep copy.
fn canonical_by_copy(value: &serde_json::Value) -> Vec<u8> {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(
                    entries
                        .into_iter()
                        .map(|(key, value)| (key.clone(), sorted(value)))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sorted).collect())
            }
            other => other.clone(),
        }
    }
    serde_json::to_vec(&sorted(value)).unwrap()
}

#[test]
fn canonical_bytes_are_those_of_a_sorted_copy() {
    let (signer, _) = keys();
    let document: serde_json::Value =
        serde_json::from_str(&json::write(&input(), &signer)).unwrap();
    let nested = serde_json::json!({
        "z": [{"b": 1, "a": [3, {"y": null, "x": true}]}, "é\u{1b}\"", 1.5e300],
        "a": {"é": -1, "e": 18446744073709551615u64, "": ""},
    });
    for value in document["assets"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&document["snapshot"], &nested])
    {
        assert_eq!(canonical(value), canonical_by_copy(value));
    }
}

/// Rows signed on other threads are the bytes the writer's own `row` writes, across chunks.
#[test]
fn rows_signed_on_other_threads_are_the_bytes_of_row_by_row() {
    let (signer, verifier) = keys();
    let input = many(300);
    let meta = input.meta();

    let mut one = json::JsonWriter::begin(Vec::new(), &meta, &signer).unwrap();
    one.set_id("00112233445566778899aabbccddeeff");
    for view in &input.assets {
        one.row(view).unwrap();
    }
    let mut other = json::JsonWriter::begin(Vec::new(), &meta, &signer).unwrap();
    other.set_id("00112233445566778899aabbccddeeff");
    let mut rows = SignedRows::new(other).unwrap();
    for view in &input.assets {
        rows.row(view.clone()).unwrap();
    }
    let (one, one_header) = one.finish().unwrap();
    let (other, other_header) = rows.finish().unwrap().finish().unwrap();
    assert_eq!(one_header, other_header);
    assert_eq!(
        String::from_utf8(one).unwrap(),
        String::from_utf8(other.clone()).unwrap()
    );
    assert_eq!(verify(&other, &verifier).unwrap().header.rows, 300);

    let spool = || std::io::Cursor::new(Vec::new());
    let mut one = csv_format::CsvWriter::begin(spool(), &meta, &signer);
    one.set_id("00112233445566778899aabbccddeeff");
    for view in &input.assets {
        one.row(view).unwrap();
    }
    let mut other = csv_format::CsvWriter::begin(spool(), &meta, &signer);
    other.set_id("00112233445566778899aabbccddeeff");
    let mut rows = SignedRows::new(other).unwrap();
    for view in &input.assets {
        rows.row(view.clone()).unwrap();
    }
    let (mut one_bytes, mut other_bytes) = (Vec::new(), Vec::new());
    one.finish(&mut one_bytes).unwrap();
    rows.finish().unwrap().finish(&mut other_bytes).unwrap();
    assert_eq!(
        String::from_utf8(one_bytes).unwrap(),
        String::from_utf8(other_bytes.clone()).unwrap()
    );
    assert_eq!(verify(&other_bytes, &verifier).unwrap().header.rows, 300);
}

/// With rows checked in batches on other threads, the row named is still the first at fault,
/// wherever it sits in a batch, and whatever else is wrong further on.
#[test]
fn the_first_bad_row_is_named_across_batches() {
    let (signer, verifier) = keys();
    let input = many(700);
    let json = json::write(&input, &signer);
    let csv = String::from_utf8(csv_format::write(&input, &signer)).unwrap();
    assert!(verify(json.as_bytes(), &verifier).is_ok());
    assert!(verify(csv.as_bytes(), &verifier).is_ok());
    let json_lines: Vec<&str> = json.lines().collect();
    let csv_lines: Vec<&str> = csv.lines().collect();
    // JSON rows are lines 1..=700 of the file, CSV rows lines 2..=701.
    let alter = |line: &str| line.replacen("\"kind\":\"", "\"kind\":\"x", 1);
    // The second cell (the addresses) gets one more digit.
    let alter_csv = |line: &str| line.replacen(',', ",9", 1);
    for bad in [0, 255, 256, 511, 699] {
        let mac = input.assets[bad].mac.to_string();
        let row_error = Err(Tampered::Row {
            row: bad,
            mac: mac.clone(),
        });
        let mut lines = json_lines.clone();
        let altered = alter(lines[1 + bad]);
        assert_ne!(altered, lines[1 + bad]);
        lines[1 + bad] = &altered;
        assert_eq!(
            verify(lines.join("\n").as_bytes(), &verifier),
            row_error,
            "json row {bad}"
        );
        // A row out of place and a broken file further on do not hide it.
        let later = (bad + 90).min(699);
        if later > bad {
            let mut removed_later = lines.clone();
            removed_later.remove(1 + later);
            assert_eq!(
                verify(removed_later.join("\n").as_bytes(), &verifier),
                row_error,
                "json row {bad}, row {later} removed"
            );
        }
        // JSON is read whole for its header first: a broken file is unreadable, as before.
        let cut = lines[..(bad + 41).min(701)].join("\n");
        assert!(
            matches!(
                verify(format!("{cut}\n{{broken").as_bytes(), &verifier),
                Err(Tampered::Unreadable(reason)) if reason.contains("line")
            ),
            "json row {bad}, broken further on"
        );

        let mut lines = csv_lines.clone();
        let altered = alter_csv(lines[2 + bad]);
        assert_ne!(altered, lines[2 + bad]);
        lines[2 + bad] = &altered;
        assert_eq!(
            verify(lines.join("\n").as_bytes(), &verifier),
            row_error,
            "csv row {bad}"
        );
        if later > bad {
            let mut removed_later = lines.clone();
            removed_later.remove(2 + later);
            assert_eq!(
                verify(removed_later.join("\n").as_bytes(), &verifier),
                row_error,
                "csv row {bad}, row {later} removed"
            );
        }
        let mut cut = lines[..(bad + 43).min(702)].join("\n").into_bytes();
        cut.extend_from_slice(b"\n\xff\xfe,broken\n");
        assert_eq!(
            verify(&cut, &verifier),
            row_error,
            "csv row {bad}, broken further on"
        );
    }
    // Nothing altered but a row removed far on: that row is named, as before.
    let mut lines = json_lines.clone();
    lines.remove(1 + 600);
    assert!(matches!(
        verify(lines.join("\n").as_bytes(), &verifier),
        Err(Tampered::Moved { row: 600, .. })
    ));
}
