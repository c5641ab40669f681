//! Arbitrary bytes as a registry CSV (`collector registry import`): every accepted line names
//! a distinct device with checked fields, line numbers are in the file and increasing, and a
//! listing of what was imported (`registry list --format csv`) imports back to the same entries
//! when no field holds a character the listing defuses.
#![no_main]

use std::collections::BTreeSet;

use hygie_collector::registry::csv_import::parse_csv;
use hygie_collector::registry::{RegistryEntry, check_field};
use hygie_collector::report::registry_csv;
use hygie_domain::is_unsafe_char;
use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = parse_csv(data) else {
        return;
    };
    let lines = data.iter().filter(|byte| **byte == b'\n').count() as u64 + 1;
    let mut macs = BTreeSet::new();
    let mut previous = 1;
    for entry in &parsed.entries {
        assert!(entry.mac.is_device(), "{} is not a device", entry.mac);
        assert!(macs.insert(entry.mac), "{} imported twice", entry.mac);
        assert!(
            entry.line > previous && entry.line <= lines,
            "line {} after {previous} in a file of {lines}",
            entry.line
        );
        previous = entry.line;
        let fields = &entry.fields;
        for (name, value) in [
            ("asset_tag", &fields.asset_tag),
            ("name", &fields.name),
            ("location", &fields.location),
            ("owner", &fields.owner),
        ] {
            assert_eq!(
                check_field(name, value).as_ref(),
                Ok(value),
                "{name} unchecked"
            );
        }
    }
    for error in &parsed.errors {
        assert!(
            error.line >= 1 && error.line <= lines,
            "error on line {}",
            error.line
        );
    }

    let defused = |text: &String| text.chars().any(is_unsafe_char);
    let entries: Vec<RegistryEntry> = parsed
        .entries
        .iter()
        .filter(|entry| {
            let fields = &entry.fields;
            ![
                &fields.asset_tag,
                &fields.name,
                &fields.location,
                &fields.owner,
            ]
            .into_iter()
            .any(defused)
        })
        .map(|entry| RegistryEntry {
            mac: entry.mac,
            fields: entry.fields.clone(),
            registered_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
            source: "fuzz".to_owned(),
        })
        .collect();
    let listing = registry_csv(&entries);
    let again = match parse_csv(&listing) {
        Ok(again) => again,
        Err(error) => panic!("our own listing is refused: {error}"),
    };
    assert_eq!(again.errors, vec![], "our own listing has bad lines");
    let read_back: Vec<_> = again
        .entries
        .iter()
        .map(|line| (line.mac, &line.fields))
        .collect();
    let listed: Vec<_> = entries
        .iter()
        .map(|entry| (entry.mac, &entry.fields))
        .collect();
    assert_eq!(
        read_back, listed,
        "a listing does not import back as itself"
    );
});
