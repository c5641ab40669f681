//! `export --format netbox` end to end, on the real inventory of the GLPI tests: the files NetBox
//! imports, in order, each row checked against the ones it references, hostile text
//! neutralised, and a second export identical to the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::glpi::{
    HOSTILE, MONITOR, NETWORK, PRINTER, RANDOM, collector, device_id, inventory, text,
};

const FILES: [&str; 8] = [
    "01-dcim.site.csv",
    "02-dcim.manufacturer.csv",
    "03-dcim.devicerole.csv",
    "04-dcim.devicetype.csv",
    "05-dcim.device.csv",
    "06-dcim.interface.csv",
    "07-dcim.macaddress.csv",
    "08-ipam.ipaddress.csv",
];

fn rows(dir: &Path, file: &str) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader = csv::Reader::from_path(dir.join(file)).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            header
                .iter()
                .cloned()
                .zip(record.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

#[test]
fn export_netbox_writes_files_an_empty_netbox_imports_and_the_same_files_again() {
    let site = inventory("");
    let config = site.path("collector/collector.toml");
    let out = site.path("netbox");
    let output = collector(
        &config,
        &[
            "export",
            "--format",
            "netbox",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("4 devices written"), "{stdout}");
    assert!(
        stdout.contains("1 unregistered devices with a randomized MAC were left out"),
        "{stdout}"
    );
    let order: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|word| word.ends_with(".csv"))
        .collect();
    assert_eq!(order, FILES, "the import order is printed");

    let (header, devices) = rows(&out, "05-dcim.device.csv");
    assert_eq!(
        header,
        [
            "name",
            "role",
            "manufacturer",
            "device_type",
            "status",
            "site",
            "serial",
            "asset_tag",
            "description"
        ]
    );
    let names: BTreeSet<&str> = devices.iter().map(|row| row["name"].as_str()).collect();
    let expected: BTreeSet<String> = [MONITOR, HOSTILE, PRINTER, NETWORK]
        .iter()
        .map(|mac| device_id(mac))
        .collect();
    assert_eq!(names, expected.iter().map(String::as_str).collect());
    assert!(!names.contains(device_id(RANDOM).as_str()));
    let by_name: BTreeMap<&str, &BTreeMap<String, String>> = devices
        .iter()
        .map(|row| (row["name"].as_str(), row))
        .collect();
    let printer = by_name[device_id(PRINTER).as_str()];
    assert_eq!(
        (
            printer["role"].as_str(),
            printer["asset_tag"].as_str(),
            printer["device_type"].as_str()
        ),
        ("Printer", "IT-0001", "Lexmark MX622")
    );
    assert_eq!(by_name[device_id(NETWORK).as_str()]["role"], "Network");
    assert_eq!(by_name[device_id(MONITOR).as_str()]["role"], "Biomedical");
    assert!(
        devices
            .iter()
            .all(|row| row["site"] == "chu-test" && row["status"] == "active"),
        "{devices:?}"
    );
    let hostile = by_name[device_id(HOSTILE).as_str()];
    assert!(hostile["manufacturer"].starts_with("'@SUM("), "{hostile:?}");
    assert!(
        hostile["description"].contains("host name =cmd"),
        "kept, inside a cell that does not start like a formula: {hostile:?}"
    );

    // References: each in an earlier file.
    let names_of = |file: &str| -> BTreeSet<String> {
        rows(&out, file)
            .1
            .into_iter()
            .map(|row| row["name"].clone())
            .collect()
    };
    for device in &devices {
        assert!(names_of("01-dcim.site.csv").contains(&device["site"]));
        assert!(names_of("02-dcim.manufacturer.csv").contains(&device["manufacturer"]));
        assert!(names_of("03-dcim.devicerole.csv").contains(&device["role"]));
    }
    let (_, interfaces) = rows(&out, "06-dcim.interface.csv");
    let (_, macs) = rows(&out, "07-dcim.macaddress.csv");
    let (header, addresses) = rows(&out, "08-ipam.ipaddress.csv");
    assert_eq!(
        header,
        ["address", "status", "device", "interface", "is_primary"]
    );
    assert_eq!((interfaces.len(), macs.len(), addresses.len()), (4, 4, 4));
    assert!(
        macs.iter()
            .any(|row| row["mac_address"] == PRINTER && row["device"] == device_id(PRINTER))
    );
    assert!(
        addresses
            .iter()
            .any(|row| row["address"] == "198.18.16.3/32" && row["device"] == device_id(PRINTER))
    );
    for file in FILES {
        for row in rows(&out, file).1 {
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

    let again = site.path("netbox-again");
    let output = collector(
        &config,
        &[
            "export",
            "--format",
            "netbox",
            "--out",
            again.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    for file in FILES {
        assert_eq!(
            std::fs::read(out.join(file)).unwrap(),
            std::fs::read(again.join(file)).unwrap(),
            "{file}"
        );
    }
    let refused = collector(
        &config,
        &[
            "export",
            "--format",
            "netbox",
            "--out",
            again.to_str().unwrap(),
            "--at",
            "2026-11-01",
        ],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("--at is not available with --format netbox")
    );
}
