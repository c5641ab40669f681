//! The NetBox export: headers and rows per file, references, slugs, address conflicts, hostile
//! cells, and identical re-exports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::rows::{INTERFACE, NO_SITE, ROLES, Status, device_row, role_of, slug};
use super::{FILES, NetboxWriter};
use crate::classify::{Category, Identity};
use crate::glpi::tests::{hostile_host, pairs, view};
use crate::inventory::flags::Flag;
use crate::views::AssetView;

/// Each file's rows as maps from its header, by file name.
fn read(dir: &Path) -> BTreeMap<&'static str, Vec<BTreeMap<String, String>>> {
    let mut files = BTreeMap::new();
    for (name, _, header) in FILES {
        let mut reader = csv::Reader::from_path(dir.join(name)).unwrap();
        let found: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(found, header, "{name}'s header");
        let rows = reader
            .records()
            .map(|record| {
                let record = record.unwrap();
                header
                    .iter()
                    .map(|column| column.to_string())
                    .zip(record.iter().map(str::to_owned))
                    .collect()
            })
            .collect();
        files.insert(name, rows);
    }
    files
}

fn export(views: &[AssetView], dir: &Path) -> super::NetboxReport {
    let mut writer = NetboxWriter::begin(dir).unwrap();
    for view in views {
        writer.device(view).unwrap();
    }
    writer.finish().unwrap()
}

fn inventory() -> Vec<AssetView> {
    let mut views: Vec<AssetView> = (0u64..)
        .zip(pairs())
        .map(|(n, (category, kind))| view(n, category, &kind, n % 2 == 0))
        .collect();
    let mut unseen = view(900, Category::Biomedical, "infusion_pump", true);
    unseen.seen = false;
    unseen.ips.clear();
    unseen.last_seen = None;
    views.push(unseen);
    let mut stale = view(901, Category::It, "printer", true);
    stale.flags.insert(Flag::Stale);
    views.push(stale);
    views.sort_by_key(|view| view.mac);
    views
}

fn column<'a>(rows: &'a [BTreeMap<String, String>], name: &str) -> Vec<&'a str> {
    rows.iter().map(|row| row[name].as_str()).collect()
}

#[test]
fn invariant_1_one_device_interface_and_mac_row_per_device() {
    let dir = tempfile::tempdir().unwrap();
    let views = inventory();
    let report = export(&views, dir.path());
    let files = read(dir.path());
    let devices = &files["05-dcim.device.csv"];
    assert_eq!(devices.len(), views.len());
    assert_eq!(report.devices(), views.len() as u64);
    assert_eq!(files["06-dcim.interface.csv"].len(), views.len());
    assert_eq!(files["07-dcim.macaddress.csv"].len(), views.len());
    let macs = &files["07-dcim.macaddress.csv"];
    assert_eq!(macs[0]["mac_address"], views[0].mac.to_string());
    assert_eq!(macs[0]["interface"], INTERFACE);
    assert_eq!(macs[0]["is_primary"], "true");
    // Every seen device shares the same two current addresses: each goes to one device only.
    let addresses = &files["08-ipam.ipaddress.csv"];
    assert_eq!(
        column(addresses, "address"),
        ["198.18.0.10/32", "2001:db8::10/128"]
    );
    assert!(addresses.iter().all(|row| row["status"] == "active"
        && row["interface"] == INTERFACE
        && row["is_primary"] == "true"));
    assert_eq!(report.rows[7], 2);
}

#[test]
fn an_address_two_devices_claim_goes_to_the_one_that_saw_it_last() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = view(1, Category::It, "printer", true);
    old.last_seen = Some("2026-11-01T08:00:00Z".parse().unwrap());
    let mut new = view(2, Category::It, "printer", true);
    new.ips = vec![
        "198.18.0.10".parse().unwrap(),
        "198.18.5.5".parse().unwrap(),
    ];
    let mut newer_first = view(0, Category::It, "printer", true);
    newer_first.ips = vec!["198.18.9.9".parse().unwrap()];
    export(&[newer_first, old, new], dir.path());
    let files = read(dir.path());
    let owners: BTreeMap<&str, &str> = files["08-ipam.ipaddress.csv"]
        .iter()
        .map(|row| (row["address"].as_str(), row["device"].as_str()))
        .collect();
    assert_eq!(
        owners["198.18.0.10/32"], "hygie-00095c000002",
        "seen more recently"
    );
    assert_eq!(
        owners["2001:db8::10/128"], "hygie-00095c000001",
        "only the older device has it"
    );
    assert_eq!(owners["198.18.9.9/32"], "hygie-00095c000000");
    assert!(
        !owners.contains_key("198.18.5.5/32"),
        "history, not a current address"
    );
}

#[test]
fn invariant_2_every_reference_has_one_row_with_a_slug_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut views = inventory();
    // Two makers whose names read alike, and a device that names none.
    views[0].identity.manufacturer = Some("Acme, Inc.".into());
    views[1].identity.manufacturer = Some("Acme Inc".into());
    views[2].identity = Identity::default();
    views[2].vendor = None;
    views[3].seen_by.clear();
    views[3].registry = None;
    views[3].managed = false;
    export(&views, dir.path());
    let files = read(dir.path());
    let names = |file: &str| -> BTreeSet<String> {
        files[file].iter().map(|row| row["name"].clone()).collect()
    };
    let (sites, manufacturers, roles) = (
        names("01-dcim.site.csv"),
        names("02-dcim.manufacturer.csv"),
        names("03-dcim.devicerole.csv"),
    );
    let types: BTreeSet<(String, String)> = files["04-dcim.devicetype.csv"]
        .iter()
        .map(|row| (row["manufacturer"].clone(), row["model"].clone()))
        .collect();
    for device in &files["05-dcim.device.csv"] {
        assert!(sites.contains(&device["site"]), "{device:?}");
        assert!(
            manufacturers.contains(&device["manufacturer"]),
            "{device:?}"
        );
        assert!(roles.contains(&device["role"]), "{device:?}");
        assert!(
            types.contains(&(
                device["manufacturer"].clone(),
                device["device_type"].clone()
            )),
            "{device:?}"
        );
    }
    assert!(
        manufacturers.contains("Acme, Inc.")
            && manufacturers.contains("Acme Inc")
            && manufacturers.contains("Unknown")
    );
    assert!(sites.contains(NO_SITE) && sites.contains("chu-nord"));
    for file in [
        "01-dcim.site.csv",
        "02-dcim.manufacturer.csv",
        "03-dcim.devicerole.csv",
    ] {
        let rows = &files[file];
        let slugs: BTreeSet<&str> = rows.iter().map(|row| row["slug"].as_str()).collect();
        assert_eq!(slugs.len(), rows.len(), "{file}: a slug is shared");
        assert_eq!(names(file).len(), rows.len(), "{file}: a name is repeated");
        assert!(
            slugs.iter().all(|slug| !slug.is_empty()
                && slug
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')),
            "{slugs:?}"
        );
    }
    let per_maker: BTreeSet<(String, String)> = files["04-dcim.devicetype.csv"]
        .iter()
        .map(|row| (row["manufacturer"].clone(), row["slug"].clone()))
        .collect();
    assert_eq!(
        per_maker.len(),
        files["04-dcim.devicetype.csv"].len(),
        "a device type slug is shared within a manufacturer"
    );
    assert!(
        files["01-dcim.site.csv"]
            .iter()
            .all(|row| row["status"] == "active")
    );
    assert!(
        files["03-dcim.devicerole.csv"]
            .iter()
            .all(|row| row["color"].len() == 6)
    );
}

#[test]
fn invariant_3_names_are_keyed_by_mac() {
    let views = inventory();
    let rows: Vec<_> = views.iter().map(device_row).collect();
    let names: BTreeSet<&str> = rows.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(names.len(), views.len());
    assert_eq!(
        device_row(&view(1, Category::It, "printer", true)).name,
        "hygie-00095c000001"
    );
    // Whatever else changes, the name does not.
    let mut renamed = view(1, Category::Network, "switch", false);
    renamed.hostnames = vec!["other".into()];
    assert_eq!(device_row(&renamed).name, "hygie-00095c000001");
    assert!(
        rows.iter()
            .all(|row| row.name.len() <= super::rows::width::DEVICE_NAME)
    );
}

#[test]
fn invariant_4_exporting_again_gives_identical_files() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    export(&inventory(), first.path());
    export(&inventory(), second.path());
    // Into the same directory again too: the files are replaced whole.
    export(&inventory(), second.path());
    for (name, _, _) in FILES {
        assert_eq!(
            std::fs::read(first.path().join(name)).unwrap(),
            std::fs::read(second.path().join(name)).unwrap(),
            "{name}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(second.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left.len(),
        FILES.len(),
        "no staging directory is left: {left:?}"
    );
}

#[test]
fn invariant_5_hostile_cells_are_neutralised() {
    let dir = tempfile::tempdir().unwrap();
    let mut hostile = view(3, Category::Unknown, "unknown", true);
    hostile.hostnames = vec![hostile_host()];
    hostile.identity = Identity {
        manufacturer: Some("=HYPERLINK(\"http://x\")".into()),
        model: Some("+model\r\nline".into()),
        firmware: None,
        serial: Some("@serial\u{1b}[2J".into()),
    };
    if let Some(registry) = &mut hostile.registry {
        registry.name = "-2+3".into();
        registry.asset_tag = "=1+1".into();
        registry.site = "chu-nord".into();
    }
    export(&[hostile], dir.path());
    for (file, rows) in read(dir.path()) {
        for row in rows {
            for (column, cell) in row {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@']),
                    "{file} {column}: {cell:?}"
                );
                assert!(
                    !cell.chars().any(hygie_proto::is_unsafe_char),
                    "{file} {column}: {cell:?}"
                );
            }
        }
    }
    let row = device_row(&{
        let mut hostile = view(3, Category::Unknown, "unknown", true);
        hostile.hostnames = vec![hostile_host()];
        hostile
    });
    assert!(row.description.chars().count() <= super::rows::width::DESCRIPTION);
}

#[test]
fn roles_follow_the_category_and_the_kind() {
    assert_eq!(
        role_of(Category::Biomedical, "infusion_pump").name,
        "Biomedical"
    );
    assert_eq!(role_of(Category::It, "workstation").name, "Workstation");
    assert_eq!(role_of(Category::It, "virtual_machine").name, "Server");
    assert_eq!(role_of(Category::It, "label_printer").name, "Printer");
    assert_eq!(role_of(Category::It, "barcode_scanner").name, "IT");
    assert_eq!(
        role_of(Category::Network, "wireless_ap").name,
        "Wireless AP"
    );
    assert_eq!(role_of(Category::Network, "a_new_kind").name, "Network");
    assert_eq!(role_of(Category::Unknown, "unknown").name, "Unclassified");
    for category in Category::ALL {
        assert!(
            ROLES
                .iter()
                .any(|(_, c, kinds)| *c == category && kinds.is_empty()),
            "{category} has no default role"
        );
    }
    let slugs: BTreeSet<&str> = ROLES.iter().map(|(role, _, _)| role.slug).collect();
    assert_eq!(slugs.len(), ROLES.len());
}

#[test]
fn devices_get_a_status_a_type_and_unique_asset_tags() {
    let mut unseen = view(1, Category::It, "printer", true);
    unseen.seen = false;
    assert_eq!(device_row(&unseen).status, Status::Planned);
    let mut stale = view(2, Category::It, "printer", true);
    stale.flags.insert(Flag::Stale);
    assert_eq!(device_row(&stale).status, Status::Offline);
    let mut generic = view(3, Category::Biomedical, "ventilator", false);
    generic.identity = Identity::default();
    let row = device_row(&generic);
    assert_eq!(
        (
            row.status,
            row.device_type.as_str(),
            row.manufacturer.as_str()
        ),
        (
            Status::Active,
            "Generic ventilator",
            "Philips Medical Systems"
        )
    );
    assert!(
        row.description.contains("not in the registry"),
        "{}",
        row.description
    );

    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        view(4, Category::It, "printer", true),
        view(5, Category::It, "printer", true),
    );
    export(&[first, second], dir.path());
    let files = read(dir.path());
    assert_eq!(
        column(&files["05-dcim.device.csv"], "asset_tag"),
        ["BIO-0042", ""],
        "NetBox keeps asset tags unique"
    );
    assert!(
        files["05-dcim.device.csv"][1]["description"]
            .contains("asset tag BIO-0042 is on another device too")
    );
}

#[test]
fn slugs_read_like_their_names_and_never_collide() {
    assert!(slug("Philips Medical Systems").starts_with("philips-medical-systems-"));
    assert_ne!(slug("Acme, Inc."), slug("Acme Inc"));
    assert_eq!(slug("Acme Inc"), slug("Acme Inc"));
    assert!(
        slug("日本").chars().all(|c| c.is_ascii_hexdigit()),
        "{}",
        slug("日本")
    );
    assert!(slug(&"x".repeat(500)).len() <= 100);
}

#[test]
fn unregistered_randomized_macs_are_left_out() {
    let mut random = view(1, Category::Unknown, "unknown", false);
    random.flags.insert(Flag::RandomizedMac);
    assert!(!super::exported(&random));
    random.managed = true;
    assert!(super::exported(&random));
    assert!(super::exported(&view(2, Category::It, "printer", false)));
}
