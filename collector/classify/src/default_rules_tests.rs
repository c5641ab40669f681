//! Classification of real vendors and mDNS signals with the default rules.
//!
//! Every case is real: IEEE blocks (the registry embedded in the binary, and the copy of the
//! IEEE list kept in the shared test corpus), the corpus's list of medical-device vendors, and
//! the IoT Sentinel devices with their DHCP host names and mDNS services (see the corpus's
//! INDEX.md). Failures are collected and reported together, so that one run shows every case
//! a rule change breaks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use hygie_domain::MdnsService;

use super::*;

static DEFAULTS: LazyLock<Rules> =
    LazyLock::new(|| Rules::defaults().expect("the default rules load"));

/// The shared test corpus, next to the repository.
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus");

fn corpus(path: &str) -> String {
    let path = format!("{CORPUS}/{path}");
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"))
}

/// The data lines of a corpus TSV file: no `#` comments, no header, split on tabs.
fn tsv_rows(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| line.split('\t').collect())
        .collect()
}

fn txt(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// Classifies with the default rules: services as (type, TXT) pairs.
fn run(
    mac: &str,
    hostnames: &[&str],
    services: &[(&str, &BTreeMap<String, String>)],
) -> Classification {
    let mac = mac.parse().unwrap_or_else(|_| panic!("bad MAC {mac}"));
    let services: Vec<MdnsService> = services
        .iter()
        .map(|(service_type, txt)| service(service_type, txt))
        .collect();
    classify(
        &Facts {
            mac,
            hostnames: hostnames.to_vec(),
            services: services.iter().collect(),
            details: Vec::new(),
        },
        &DEFAULTS,
    )
}

/// A DNS-SD service of the given type with these TXT entries.
fn service(service_type: &str, txt: &BTreeMap<String, String>) -> MdnsService {
    MdnsService {
        instance: format!("device.{service_type}"),
        service_type: service_type.to_owned(),
        port: Some(80),
        txt: txt
            .iter()
            .map(|(key, value)| (key.clone(), Some(value.clone())))
            .collect(),
    }
}

fn vendor_name(result: &Classification) -> &str {
    result
        .vendor
        .as_ref()
        .map_or("-", |vendor| vendor.name.as_str())
}

fn check_all(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// (a) Vendors alone: a real IEEE block, nothing else known.
// ---------------------------------------------------------------------------------------------

/// How much a vendor alone says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weight {
    /// A specialist, or a vendor of one domain: confidence of at least 0.5.
    Firm,
    /// A vendor of several domains: below 0.5, so that any service or TXT record overrules it.
    Weak,
}

use Category::{Biomedical, Building, Iot, It, Network, Unknown};
use Weight::{Firm, Weak};

/// (MAC in a real block, part of its registered name, category, kind, weight).
#[rustfmt::skip]
const VENDORS: &[(&str, &str, Category, &str, Weight)] = &[
    // Biomedical
    ("00:09:5c:11:22:01", "Philips Medical Systems", Biomedical, "patient_monitor", Firm),
    ("00:09:fb:11:22:02", "Philips Patient Monitoring", Biomedical, "patient_monitor", Firm),
    ("00:1f:ff:11:22:03", "Respironics", Biomedical, "ventilator", Firm),
    ("44:4b:5d:11:22:04", "GE Healthcare", Biomedical, "unknown", Firm),
    ("00:40:97:11:22:05", "DATEX", Biomedical, "patient_monitor", Firm),
    ("00:30:e6:11:22:06", "Draeger Medical Systems", Biomedical, "patient_monitor", Firm),
    ("f0:e5:c3:11:22:07", "Drägerwerk", Biomedical, "unknown", Firm),
    ("00:a0:37:11:22:08", "Mindray DS USA", Biomedical, "patient_monitor", Firm),
    ("00:0f:14:11:22:09", "Mindray", Biomedical, "unknown", Firm),
    ("00:a0:9a:11:22:0a", "Nihon Kohden", Biomedical, "patient_monitor", Firm),
    ("00:a0:aa:11:22:0b", "Spacelabs", Biomedical, "patient_monitor", Firm),
    ("e0:c2:b7:11:22:0c", "Masimo", Biomedical, "patient_monitor", Firm),
    ("00:1a:fa:11:22:0d", "Welch Allyn", Biomedical, "patient_monitor", Firm),
    ("00:14:b8:11:22:0e", "Hill-Rom", Biomedical, "unknown", Firm),
    ("14:4f:d7:e1:22:0f", "Edan Instruments", Biomedical, "patient_monitor", Firm),
    ("58:42:e4:11:22:10", "Baxter", Biomedical, "infusion_pump", Firm),
    ("00:12:21:11:22:11", "B.Braun", Biomedical, "infusion_pump", Firm),
    ("00:d0:75:11:22:12", "Alaris Medical", Biomedical, "infusion_pump", Firm),
    ("9c:c8:ae:11:22:13", "Becton", Biomedical, "unknown", Firm),
    ("00:03:b1:11:22:14", "ICU Medical", Biomedical, "infusion_pump", Firm),
    ("00:13:38:11:22:15", "Fresenius-Vial", Biomedical, "infusion_pump", Firm),
    ("b0:4c:05:11:22:16", "Fresenius Medical Care", Biomedical, "dialysis", Firm),
    ("88:33:be:11:22:17", "Ivenix", Biomedical, "infusion_pump", Firm),
    ("00:25:41:11:22:18", "Maquet Critical Care", Biomedical, "ventilator", Firm),
    ("00:22:52:11:22:19", "ZOLL", Biomedical, "defibrillator", Firm),
    ("40:bd:9e:11:22:1a", "Physio-Control", Biomedical, "defibrillator", Firm),
    ("00:1d:4a:11:22:1b", "Carestream", Biomedical, "imaging", Firm),
    ("00:08:fb:11:22:1c", "SonoSite", Biomedical, "imaging", Firm),
    ("00:13:dd:11:22:1d", "Abbott Diagnostics", Biomedical, "lab_analyzer", Firm),
    ("00:18:65:11:22:1e", "Siemens Healthcare Diagnostics", Biomedical, "lab_analyzer", Firm),
    ("00:06:6b:11:22:1f", "Sysmex", Biomedical, "lab_analyzer", Firm),
    ("00:0e:2f:11:22:20", "Roche Diagnostics", Biomedical, "lab_analyzer", Firm),
    ("d0:d2:86:11:22:21", "Beckman Coulter", Biomedical, "lab_analyzer", Firm),
    ("00:50:c2:5c:21:22", "Intuitive Surgical", Biomedical, "surgical_robot", Firm),
    ("00:90:5e:11:22:23", "Rauland", Biomedical, "nurse_call", Firm),
    ("00:09:ef:11:22:24", "Vocera", Biomedical, "clinical_comms", Firm),
    ("00:01:3e:11:22:25", "Ascom Tateco", Biomedical, "clinical_comms", Firm),
    // Building
    ("00:10:8d:11:22:30", "Johnson Controls", Building, "bms", Firm),
    ("00:05:19:11:22:31", "Siemens Building", Building, "bms", Firm),
    ("00:40:84:11:22:32", "Honeywell", Building, "unknown", Weak),
    ("d8:06:d1:11:22:33", "Honeywell Fire", Building, "fire_alarm", Firm),
    ("00:01:f0:11:22:34", "Tridium", Building, "bms", Firm),
    ("00:12:ea:11:22:35", "Trane", Building, "hvac_controller", Firm),
    ("00:02:52:11:22:36", "Carrier Corporation", Building, "hvac_controller", Firm),
    ("00:e0:c9:11:22:37", "AutomatedLogic", Building, "hvac_controller", Firm),
    ("00:40:ae:11:22:38", "Delta Controls", Building, "hvac_controller", Firm),
    ("9c:0e:51:11:22:39", "Schneider Electric", Building, "unknown", Weak),
    ("28:29:86:11:22:3a", "APC by Schneider", Building, "ups", Firm),
    ("b8:a4:4f:11:22:3b", "Axis Communications", Building, "camera", Firm),
    ("0c:75:d2:11:22:3c", "Hikvision", Building, "camera", Firm),
    ("74:c9:29:11:22:3d", "Dahua", Building, "camera", Firm),
    ("00:30:8e:11:22:3e", "HID Global", Building, "access_control", Firm),
    ("00:0b:d6:11:22:3f", "Paxton", Building, "access_control", Firm),
    ("00:04:63:11:22:40", "Bosch Security", Building, "unknown", Firm),
    ("0c:bf:15:11:22:41", "Genetec", Building, "unknown", Firm),
    ("00:0f:e7:11:22:42", "Lutron", Building, "lighting", Firm),
    ("00:d0:85:11:22:43", "Otis Elevator", Building, "elevator", Firm),
    ("84:07:c4:11:22:44", "Kidde", Building, "fire_alarm", Firm),
    // IoT
    ("00:17:88:24:76:ff", "Philips Lighting", Iot, "lighting", Firm),
    ("e8:c1:d7:11:22:50", "Philips", Iot, "unknown", Weak),
    ("5c:cf:7f:07:ae:fb", "Espressif", Iot, "unknown", Weak),
    ("d8:3a:dd:11:22:51", "Raspberry Pi", Iot, "unknown", Firm),
    ("1c:90:ff:11:22:52", "Tuya", Iot, "unknown", Firm),
    ("18:b4:30:11:22:53", "Nest Labs", Iot, "unknown", Firm),
    ("78:28:ca:11:22:54", "Sonos", Iot, "smart_speaker", Firm),
    ("60:70:6c:11:22:55", "Google", Iot, "unknown", Weak),
    ("94:10:3e:41:c2:05", "Belkin", Iot, "unknown", Weak),
    // IT
    ("d0:43:1e:11:22:60", "Dell Inc", It, "unknown", Firm),
    ("9c:7b:ef:11:22:61", "Hewlett Packard", It, "unknown", Weak),
    ("64:4e:d7:11:22:62", "HP Inc", It, "unknown", Weak),
    ("00:21:b7:11:22:63", "Lexmark", It, "printer", Firm),
    ("00:1b:a9:11:22:64", "Brother", It, "printer", Firm),
    ("00:00:aa:11:22:65", "Xerox", It, "printer", Firm),
    ("58:38:79:11:22:66", "Ricoh", It, "printer", Firm),
    ("d4:f0:c9:11:22:67", "Kyocera Document", It, "printer", Firm),
    ("84:ba:3b:11:22:68", "Canon", It, "unknown", Weak),
    ("a4:d7:3c:11:22:69", "Epson", It, "unknown", Weak),
    ("90:75:de:11:22:6a", "Zebra Technologies Inc", It, "unknown", Firm),
    ("00:07:4d:11:22:6b", "Zebra Technologies Corp", It, "label_printer", Firm),
    ("10:c5:95:11:22:6c", "Lenovo", It, "workstation", Weak),
    ("f0:ee:7a:11:22:6d", "Apple", It, "unknown", Weak),
    ("80:5e:c0:11:22:6e", "Yealink", It, "ip_phone", Firm),
    ("00:04:f2:11:22:6f", "Polycom", It, "ip_phone", Firm),
    ("00:90:7a:11:22:70", "Spectralink", It, "ip_phone", Firm),
    ("00:50:56:11:22:71", "VMware", It, "virtual_machine", Firm),
    ("50:16:f4:11:22:72", "Motorola Mobility", It, "mobile", Firm),
    // Network
    ("e8:0a:b9:11:22:80", "Cisco Systems", Network, "unknown", Weak),
    ("9c:e3:30:11:22:81", "Cisco Meraki", Network, "unknown", Firm),
    ("00:0b:86:11:22:82", "Hewlett Packard Enterprise", Network, "unknown", Weak),
    ("e4:f2:7c:11:22:83", "Juniper Networks", Network, "unknown", Firm),
    ("00:3e:73:11:22:84", "Mist Systems", Network, "wireless_ap", Firm),
    ("fc:59:c0:11:22:85", "Arista", Network, "switch", Firm),
    ("f0:9f:c2:11:22:86", "Ubiquiti", Network, "unknown", Firm),
    ("50:c7:bf:00:fc:a3", "TP-Link", Network, "unknown", Weak),
    ("74:78:a6:11:22:87", "Fortinet", Network, "firewall", Firm),
    ("60:15:2b:11:22:88", "Palo Alto", Network, "firewall", Firm),
    ("00:0d:b4:11:22:89", "Stormshield", Network, "firewall", Firm),
    ("08:55:31:11:22:8a", "Routerboard", Network, "router", Firm),
];

#[test]
fn real_vendor_blocks_classify_by_domain_and_kind() {
    let mut failures = Vec::new();
    for &(mac, fragment, category, kind, weight) in VENDORS {
        let result = run(mac, &[], &[]);
        let name = vendor_name(&result);
        if !name.to_lowercase().contains(&fragment.to_lowercase()) {
            failures.push(format!("{mac}: registered to {name:?}, not {fragment:?}"));
            continue;
        }
        let weight_ok = match weight {
            Firm => result.confidence >= 0.5,
            Weak => result.confidence > 0.0 && result.confidence < 0.5,
        };
        if result.category != category || result.kind != kind || !weight_ok {
            failures.push(format!(
                "{mac} ({name}): got {}/{} ({}), want {category}/{kind} ({weight:?})",
                result.category, result.kind, result.confidence
            ));
        }
    }
    check_all(failures);
    let domains: BTreeSet<Category> = VENDORS.iter().map(|row| row.2).collect();
    assert_eq!(domains.len(), 5, "every domain has real vendors");
    assert!(VENDORS.len() >= 40);
}

#[test]
fn multi_product_vendors_name_no_kind_and_a_service_overrules_them() {
    // Every weak row names no kind (Lenovo excepted: mostly PCs, a kind but a weak one), and one
    // service of another domain is enough to move it.
    let empty = txt(&[]);
    for &(mac, fragment, category, kind, weight) in VENDORS {
        if weight != Weak {
            continue;
        }
        assert!(kind == "unknown" || fragment == "Lenovo", "{mac}");
        let (service, expected) = if category == It {
            ("_axis-video._tcp.local.", Building)
        } else {
            ("_ipp._tcp.local.", It)
        };
        let result = run(mac, &[], &[(service, &empty)]);
        assert_eq!(result.category, expected, "{mac} with {service}");
    }
}

// ---------------------------------------------------------------------------------------------
// (b) mDNS: services and TXT records, which win over the vendor when they disagree.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_lexmark_printer_announcing_ipp_with_its_model_is_a_printer_beyond_doubt() {
    let ipp = txt(&[
        ("txtvers", "1"),
        ("ty", "Lexmark MX622ade"),
        ("product", "(Lexmark MX622ade)"),
        (
            "pdl",
            "application/octet-stream,image/urf,application/pdf,application/postscript",
        ),
        ("rp", "ipp/print"),
        ("URF", "W8,SRGB24,CP1,RS300-600"),
    ]);
    let raw = txt(&[]);
    let result = run(
        "00:21:b7:4a:10:20",
        &["ET0021B74A1020"],
        &[
            ("_ipp._tcp.local.", &ipp),
            ("_pdl-datastream._tcp.local.", &raw),
        ],
    );
    assert_eq!((result.category, result.kind.as_str()), (It, "printer"));
    assert!(result.confidence >= 0.99, "{}", result.confidence);
    assert_eq!(result.evidence[0].signal, Signal::Txt);
    assert!(result.evidence.iter().any(|e| e.rule == "vendor.lexmark"));
    assert!(
        result
            .evidence
            .iter()
            .any(|e| e.rule == "host.printer-lexmark")
    );
}

#[test]
fn an_hp_block_says_little_until_the_device_offers_ipp() {
    let alone = run("9c:7b:ef:20:30:40", &[], &[]);
    assert_eq!((alone.category, alone.kind.as_str()), (It, "unknown"));
    assert!(alone.confidence < 0.5);
    let empty = txt(&[]);
    let result = run("9c:7b:ef:20:30:40", &[], &[("_ipp._tcp.local.", &empty)]);
    assert_eq!((result.category, result.kind.as_str()), (It, "printer"));
    // 1 - (1 - 0.75)(1 - 0.35)
    assert_eq!(result.confidence, 0.84);
}

#[test]
fn the_iot_sentinel_hue_bridge_is_iot() {
    // Philips Lighting block, HomeKit accessory: both point to IoT, none to the medical blocks.
    let hap = txt(&[("md", "BSB002"), ("ci", "2")]);
    let result = run("00:17:88:24:76:ff", &[], &[("_hap._tcp.local.", &hap)]);
    assert_eq!((result.category, result.kind.as_str()), (Iot, "iot_hub"));
    assert!(result.confidence >= 0.9, "{}", result.confidence);
    // Without TXT, the vendor gives the kind.
    let empty = txt(&[]);
    let result = run("00:17:88:24:76:ff", &[], &[("_hap._tcp.local.", &empty)]);
    assert_eq!((result.category, result.kind.as_str()), (Iot, "lighting"));
}

#[test]
fn a_randomized_mac_announcing_companion_link_is_a_mobile() {
    let companion = txt(&[("rpVr", "360.4"), ("rpFl", "0x20000")]);
    let result = run(
        "da:a1:19:11:22:18",
        &[],
        &[("_companion-link._tcp.local.", &companion)],
    );
    assert!(result.randomized_mac);
    assert_eq!(result.vendor, None);
    assert_eq!((result.category, result.kind.as_str()), (It, "mobile"));
    // The same service from a Mac: the model in TXT decides.
    let mac = txt(&[("rpMd", "MacBookPro18,3"), ("rpVr", "360.4")]);
    let empty = txt(&[]);
    let result = run(
        "da:a1:19:11:22:19",
        &[],
        &[
            ("_companion-link._tcp.local.", &mac),
            ("_smb._tcp.local.", &empty),
        ],
    );
    assert_eq!((result.category, result.kind.as_str()), (It, "workstation"));
}

#[test]
fn an_apple_tv_is_iot_although_apple_blocks_are_it() {
    let airplay = txt(&[
        ("model", "AppleTV6,2"),
        ("features", "0x4A7FDFD5,0xBC157FDE"),
    ]);
    let empty = txt(&[]);
    let result = run(
        "f0:ee:7a:01:02:03",
        &[],
        &[
            ("_airplay._tcp.local.", &airplay),
            ("_raop._tcp.local.", &empty),
            ("_companion-link._tcp.local.", &empty),
        ],
    );
    assert_eq!(
        (result.category, result.kind.as_str()),
        (Iot, "media_player")
    );
    assert!(result.evidence.iter().any(|e| e.rule == "vendor.apple"));
}

#[test]
fn an_intellivue_model_in_txt_confirms_a_philips_monitor() {
    let info = txt(&[("md", "IntelliVue MX450")]);
    let result = run(
        "00:09:5c:11:22:01",
        &[],
        &[("_device-info._tcp.local.", &info)],
    );
    assert_eq!(
        (result.category, result.kind.as_str()),
        (Biomedical, "patient_monitor")
    );
    // 1 - (1 - 0.95)(1 - 0.7)
    assert_eq!(result.confidence, 0.99);
}

#[test]
fn services_and_txt_win_over_a_vendor_of_another_domain() {
    let empty = txt(&[]);
    // A Raspberry Pi serving IPP is a print server.
    let ipp = txt(&[("ty", "HP LaserJet 400 M401dne")]);
    let result = run("d8:3a:dd:10:20:30", &[], &[("_ipp._tcp.local.", &ipp)]);
    assert_eq!((result.category, result.kind.as_str()), (It, "printer"));
    assert!(
        result
            .evidence
            .iter()
            .any(|e| e.rule == "vendor.raspberry-pi")
    );
    // A Cisco block is network gear, unless the device names itself like a Cisco IP phone.
    let result = run("e8:0a:b9:10:20:30", &["SEPE80AB9102030"], &[]);
    assert_eq!((result.category, result.kind.as_str()), (It, "ip_phone"));
    // A camera service on a Dell block (a video server, an encoder) is a camera.
    let result = run(
        "d0:43:1e:10:20:30",
        &[],
        &[("_axis-video._tcp.local.", &empty)],
    );
    assert_eq!(
        (result.category, result.kind.as_str()),
        (Building, "camera")
    );
    // An ESP32 smart plug (HomeKit outlet).
    let hap = txt(&[("ci", "7"), ("md", "Smart Plug")]);
    let result = run("5c:cf:7f:10:20:30", &[], &[("_hap._tcp.local.", &hap)]);
    assert_eq!((result.category, result.kind.as_str()), (Iot, "smart_plug"));
    // A weaker contrary signal is overruled: it leaves a medical vendor's confidence alone.
    let result = run("44:4b:5d:10:20:30", &[], &[("_ssh._tcp.local.", &empty)]);
    assert_eq!(result.category, Biomedical);
    assert_eq!(result.confidence, 0.65);
    let ssh = result.evidence.iter().find(|e| e.category == It).unwrap();
    assert_eq!(ssh.role, Role::Overruled);
}

#[test]
fn label_printers_are_told_from_office_printers_by_their_model() {
    let cases = [
        ("90:75:de:10:20:30", "Zebra ZD621-203dpi ZPL"),
        ("00:1b:a9:10:20:30", "Brother QL-820NWB"),
    ];
    for (mac, model) in cases {
        let ipp = txt(&[("ty", model), ("pdl", "application/octet-stream")]);
        let result = run(mac, &[], &[("_ipp._tcp.local.", &ipp)]);
        assert_eq!(
            (result.category, result.kind.as_str()),
            (It, "label_printer"),
            "{mac} {model}"
        );
    }
    let ipp = txt(&[("ty", "Brother MFC-L8900CDW series")]);
    let result = run("00:1b:a9:10:20:31", &[], &[("_ipp._tcp.local.", &ipp)]);
    assert_eq!(result.kind, "printer");
}

#[test]
fn cameras_media_and_phones_by_service() {
    let empty = txt(&[]);
    let randomized = "06:11:22:33:44:55";
    let cases = [
        ("b8:a4:4f:10:20:30", "_axis-video._tcp", Building, "camera"),
        (randomized, "_googlecast._tcp", Iot, "media_player"),
        (randomized, "_sonos._tcp", Iot, "smart_speaker"),
        (randomized, "_apple-mobdev2._tcp", It, "mobile"),
        (randomized, "_pdl-datastream._tcp", It, "printer"),
        (randomized, "_uscan._tcp", It, "scanner"),
        (randomized, "_workstation._tcp", It, "workstation"),
        (randomized, "_sip._udp", It, "ip_phone"),
        (randomized, "_airport._tcp", Network, "wireless_ap"),
        (randomized, "_dhnap._tcp", Iot, "unknown"),
        (randomized, "_hue._tcp", Iot, "iot_hub"),
    ];
    let mut failures = Vec::new();
    for (mac, service, category, kind) in cases {
        let result = run(mac, &[], &[(service, &empty)]);
        if (result.category, result.kind.as_str()) != (category, kind) {
            failures.push(format!(
                "{service}: got {}/{}, want {category}/{kind}",
                result.category, result.kind
            ));
        }
    }
    check_all(failures);
}

#[test]
fn a_web_page_alone_says_nothing() {
    // Every camera, printer, switch and monitor serves HTTP: there is no rule for it.
    let empty = txt(&[]);
    let result = run("06:11:22:33:44:55", &[], &[("_http._tcp.local.", &empty)]);
    assert_eq!(
        (result.category, result.confidence),
        (Unknown, 0.0),
        "{:?}",
        result.evidence
    );
}

#[test]
fn host_names_are_weak_hints() {
    let cases = [
        ("ws-cardio-12", It, "workstation"),
        ("DESKTOP-4F7K2QX", It, "workstation"),
        ("DESKTOP-4F7K2QX.local", It, "workstation"),
        ("prn-urgences-2", It, "printer"),
        ("cam-parking-3", Building, "camera"),
        ("mon-rea-03", Biomedical, "patient_monitor"),
        ("Maries-iPhone", It, "mobile"),
        ("Maries-iPhone.local", It, "mobile"),
        ("android-1a2b3c4d5e6f7a8b", It, "mobile"),
        ("sw-core-1", Network, "switch"),
    ];
    for (hostname, category, kind) in cases {
        let result = run("06:11:22:33:44:55", &[hostname], &[]);
        assert_eq!(
            (result.category, result.kind.as_str()),
            (category, kind),
            "{hostname}"
        );
        assert!(
            result.confidence <= 0.55,
            "{hostname}: {}",
            result.confidence
        );
    }
    // A vendor of another domain outweighs a conventional name.
    let result = run("00:a0:aa:10:20:30", &["ws-spacelabs"], &[]);
    assert_eq!(result.category, Biomedical);
}

// ---------------------------------------------------------------------------------------------
// (c) The corpus's list of medical-device vendors (oui/medical-device-vendor-ouis.tsv).
// ---------------------------------------------------------------------------------------------

/// Rows of the list deliberately NOT classified as biomedical, by registered name, with why.
#[rustfmt::skip]
const NOT_BIOMEDICAL: &[(&str, Category, &str, &str)] = &[
    // The list's regex for "Alaris" also caught Talaris, a cash-handling company.
    ("TALARIS SYSTEMS, INC.", Unknown, "unknown", "cash handling, not Alaris"),
    ("Talaris (Sweden) AB", Unknown, "unknown", "cash handling, not Alaris"),
    // Ascom's old non-healthcare units: powerline modems and Swiss infrastructure systems.
    ("Ascom Powerline Communications Ltd.", Unknown, "unknown", "powerline modems"),
    ("ASCOM INFRASYS AG", Unknown, "unknown", "infrastructure systems"),
    // General-purpose enterprise Wi-Fi/DECT handsets: telephony, managed as IT.
    ("Spectralink, Inc", It, "ip_phone", "enterprise telephony"),
];

#[test]
fn every_clinical_manufacturer_of_the_medical_vendor_list_is_biomedical() {
    let text = corpus("oui/medical-device-vendor-ouis.tsv");
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut exceptions = 0;
    for row in tsv_rows(&text) {
        let [prefix, family, registered] = row[..] else {
            panic!("unexpected row {row:?}");
        };
        // A MAC inside the block: the prefix, then zeros, then a last octet.
        let mac = format!("{prefix:0<10}2A");
        let result = run(&mac, &[], &[]);
        match &result.vendor {
            Some(vendor) if vendor.prefix == prefix => {}
            other => {
                failures.push(format!("{mac}: block {prefix} not found, got {other:?}"));
                continue;
            }
        }
        if let Some((_, category, kind, why)) =
            NOT_BIOMEDICAL.iter().find(|(name, ..)| *name == registered)
        {
            exceptions += 1;
            if (result.category, result.kind.as_str()) != (*category, *kind) {
                failures.push(format!(
                    "{prefix} {registered} ({why}): got {}/{}, want {category}/{kind}",
                    result.category, result.kind
                ));
            }
            continue;
        }
        checked += 1;
        if result.category != Biomedical || result.confidence < 0.4 {
            failures.push(format!(
                "{prefix} {family} / {} : got {}/{} ({})",
                vendor_name(&result),
                result.category,
                result.kind,
                result.confidence
            ));
        }
    }
    check_all(failures);
    assert_eq!(
        exceptions,
        NOT_BIOMEDICAL.len(),
        "every exception is in the list"
    );
    assert_eq!(checked + exceptions, 146, "the list has 146 prefixes");
}

// ---------------------------------------------------------------------------------------------
// (d) IoT Sentinel devices (pcap/iot-sentinel/labels.tsv): MAC, DHCP host name, mDNS services.
// ---------------------------------------------------------------------------------------------

/// Device directory → what the rules should conclude, or `None` where they cannot know.
#[rustfmt::skip]
const IOT_SENTINEL: &[(&str, Option<(Category, &str)>)] = &[
    // D-Link blocks are network gear by default; the cameras' DHCP names (DCS-...) and the
    // mydlink service (_dhnap) tell. Security cameras are building equipment here.
    ("D-LinkCam", Some((Building, "camera"))),
    ("D-LinkDayCam", Some((Building, "camera"))),
    ("D-LinkDoorSensor", Some((Iot, "unknown"))),
    ("D-LinkHomeHub", Some((Iot, "iot_hub"))),
    ("D-LinkSensor", Some((Iot, "motion_sensor"))),
    ("D-LinkSiren", Some((Iot, "siren"))),
    ("D-LinkSwitch", Some((Iot, "smart_plug"))),
    ("D-LinkWaterSensor", Some((Iot, "water_sensor"))),
    // Edimax makes USB adapters, routers, cameras and plugs alike: no vendor rule, and these
    // devices show neither a host name nor a telling service (the camera only offers _http).
    ("EdimaxCam1", None),
    ("EdimaxPlug1101W", None),
    ("EdimaxPlug2101W", None),
    // ASSMANN Electronic is a distributor of accessories: nothing to go on.
    ("EdnetCam1", None),
    ("EdnetGateway", Some((Iot, "unknown"))),
    ("HomeMaticPlug", Some((Iot, "unknown"))),
    ("HueBridge", Some((Iot, "iot_hub"))),
    ("HueSwitch", Some((Iot, "lighting"))),
    ("Lightify", Some((Iot, "lighting"))),
    ("SmarterCoffee", Some((Iot, "unknown"))),
    ("TP-LinkPlugHS100", Some((Iot, "smart_plug"))),
    ("WeMoInsightSwitch", Some((Iot, "unknown"))),
    ("WeMoLink", Some((Iot, "unknown"))),
    ("WeMoSwitch", Some((Iot, "unknown"))),
    ("iKettle2", Some((Iot, "unknown"))),
];

#[test]
fn iot_sentinel_devices_classify_as_their_labels_suggest() {
    let text = corpus("pcap/iot-sentinel/labels.tsv");
    let empty = BTreeMap::new();
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for row in tsv_rows(&text).into_iter().filter(|row| row[0] != "file") {
        let (device, mac, suggested) = (row[2], row[3], row[5]);
        let hostnames: Vec<&str> = row[6].split(';').filter(|name| !name.is_empty()).collect();
        let services: Vec<(&str, &BTreeMap<String, String>)> = row[9]
            .split(';')
            .filter(|service| !service.is_empty())
            .map(|service| (service, &empty))
            .collect();
        let Some((_, expected)) = IOT_SENTINEL.iter().find(|(name, _)| *name == device) else {
            failures.push(format!("{device}: not in the table"));
            continue;
        };
        seen.insert(device);
        let result = run(mac, &hostnames, &services);
        let got = (result.category, result.kind.as_str());
        match expected {
            Some((category, kind)) => {
                // Our expectation agrees with the corpus's suggestion.
                let suggested_category = if suggested.starts_with("camera") {
                    Building
                } else if suggested.starts_with("iot") {
                    Iot
                } else {
                    Unknown
                };
                assert_eq!(suggested_category, *category, "{device}: {suggested}");
                if got != (*category, *kind) {
                    failures.push(format!(
                        "{device} ({mac}, {hostnames:?}, {}): got {}/{}, want {category}/{kind}",
                        row[9], got.0, got.1
                    ));
                }
            }
            None => {
                if result.category != Unknown {
                    failures.push(format!(
                        "{device}: should stay unknown, got {}/{} from {:?}",
                        got.0, got.1, result.evidence
                    ));
                }
            }
        }
    }
    check_all(failures);
    assert_eq!(
        seen.len(),
        IOT_SENTINEL.len(),
        "every device of the table is in the corpus"
    );
}

// ---------------------------------------------------------------------------------------------
// (e) Vendor patterns match the organizations they mean, and no other.
// ---------------------------------------------------------------------------------------------

/// Every registered organization name (the corpus's IEEE list and the embedded registry, which
/// is newer and spells some names differently).
fn registry_names() -> BTreeSet<String> {
    let text = corpus("oui/arp-scan_ieee-oui.txt");
    let mut names: BTreeSet<String> = tsv_rows(&text)
        .into_iter()
        .filter_map(|row| row.get(1).map(|name| name.trim().to_owned()))
        .collect();
    names.extend(
        macaddr_ouidb::OUI_DB
            .iter()
            .map(|entry| entry.name().trim().to_owned()),
    );
    names
}

/// The vendor rule that counts for an organization name: the longest matching pattern, the
/// first in file order on a tie (as in `classify`).
fn vendor_rule_for(name: &str) -> Option<&'static str> {
    let name = name.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for rule in DEFAULTS.iter() {
        if let rules::Matcher::Vendor(pattern) = &rule.matcher
            && name.contains(pattern.as_str())
            && best.is_none_or(|(len, _)| pattern.len() > len)
        {
            best = Some((pattern.len(), rule.id.as_str()));
        }
    }
    best.map(|(_, id)| id)
}

#[test]
fn vendor_patterns_match_only_the_intended_organizations() {
    let mut actual: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for name in registry_names() {
        if let Some(rule) = vendor_rule_for(&name) {
            actual.entry(rule).or_default().insert(name);
        }
    }
    let expected = expected_vendor_matches();
    let vendor_rules: BTreeSet<&str> = DEFAULTS
        .iter()
        .filter(|rule| rule.signal() == Signal::Vendor)
        .map(|rule| rule.id.as_str())
        .collect();
    let listed: BTreeSet<&str> = expected.keys().copied().collect();
    assert_eq!(
        vendor_rules, listed,
        "every vendor rule is listed below, and only those"
    );
    let mut failures = Vec::new();
    for (rule, names) in &expected {
        let got: BTreeSet<&str> = actual
            .get(rule)
            .map(|set| set.iter().map(String::as_str).collect())
            .unwrap_or_default();
        for extra in got.difference(names) {
            failures.push(format!("{rule} also matches {extra:?}"));
        }
        for missing in names.difference(&got) {
            failures.push(format!("{rule} no longer matches {missing:?}"));
        }
    }
    check_all(failures);
}

#[test]
fn mac_prefix_rules_name_the_blocks_they_mean() {
    let expected = [
        ("prefix.trane", "0012EA", "Trane"),
        ("prefix.digi", "00409D", "DigiBoard"),
    ];
    let text = corpus("oui/arp-scan_ieee-oui.txt");
    let rows = tsv_rows(&text);
    let prefix_rules: Vec<&str> = DEFAULTS
        .iter()
        .filter(|rule| rule.signal() == Signal::MacPrefix)
        .map(|rule| rule.id.as_str())
        .collect();
    assert_eq!(prefix_rules, expected.map(|(id, ..)| id));
    for (id, prefix, name) in expected {
        let row = rows.iter().find(|row| row[0] == prefix).unwrap();
        assert_eq!(row[1].trim(), name, "{id}");
        let result = run(&format!("{prefix}01020A"), &[], &[]);
        assert_eq!(result.evidence[0].rule, id);
    }
}

#[test]
fn rule_ids_name_their_signal() {
    for rule in DEFAULTS.iter() {
        let prefix = match rule.signal() {
            Signal::Vendor => "vendor.",
            Signal::MacPrefix => "prefix.",
            Signal::Hostname => "host.",
            Signal::Service => "service.",
            Signal::Txt => "txt.",
            Signal::DhcpFingerprint | Signal::DhcpVendorClass => "dhcp.",
            Signal::SsdpServer | Signal::SsdpType => "ssdp.",
            Signal::Lldp | Signal::LldpMed => "lldp.",
            Signal::Cdp => "cdp.",
            Signal::Ipv6Router => "nd.",
            Signal::Product => "product.",
            Signal::Registry => unreachable!("rules never read the registry"),
        };
        assert!(rule.id.starts_with(prefix), "{}", rule.id);
    }
}

/// Rule id, then (indented) every organization name, in the corpus's IEEE list or in the
/// embedded registry, for which it is the vendor rule that counts. Reviewed by hand: a new
/// name here means a pattern caught a company it was not written for.
const VENDOR_MATCHES: &str = "
vendor.philips-medical
    Philips Medical Systems - Cardiac and Monitoring Systems (CM
    Philips Medical Systems - Cardiac and Monitoring Systems (CMS)
vendor.philips-patient-monitoring
    Philips Patient Monitoring
vendor.philips-healthcare
    Philips Healthcare PCCI
vendor.philips-careservant
    Philips CareServant
vendor.philips-lifeline
    Philips Lifeline
vendor.respironics
    RESPIRONICS INC.
    Respironics, Inc.
vendor.philips-lighting
    Philips Lighting BV
vendor.philips
    N.V. PHILIPS INDUSTRIAL ACTIVITIES
    PHILIPS ANALYTICAL X-RAY B.V.
    PHILIPS APELDOORN B.V.
    PHILIPS BROADBAND NETWORKS
    PHILIPS ELECTRONICS UK LTD
    PHILIPS MULTIMEDIA NETWORK
    Philips
    Philips CFT
    Philips Consumer Communications
    Philips Electronics Nederland BV
    Philips Oral Healthcare, Inc.
    Philips Personal Health Solutions
vendor.ge-healthcare
    GE Healthcare
vendor.ge-medical-china
    GE Medical System China Co. Ltd.
    GE Medical System(China) Co., Ltd.
vendor.datex
    DATEX DIVISION OF
vendor.corometrics
    COROMETRICS MEDICAL SYSTEMS
vendor.care-innovations
    Intel - GE Care Innovations LLC
    Intel – GE Care Innovations LLC
vendor.ge-lighting
    GE Lighting
vendor.ge-security
    GE Security
    GE Security Kampro
    GE Security-Kampro
vendor.ge-appliances
    GE Appliances
vendor.draeger-medical-systems
    Draeger Medical Systems, Inc.
vendor.draeger
    Draeger Medical
vendor.draeger-umlaut
    Drägerwerk AG & Co. KG aA
vendor.mindray-ds
    Mindray DS USA, Inc.
vendor.mindray
    Mindray Co., Ltd.
    Mindray North America
vendor.mindray-animal
    Shenzhen Mindray Animal Medical Technology Co.,LTD
vendor.nihon-kohden
    NIHON KOHDEN AMERICA
vendor.spacelabs
    SPACELABS MEDICAL
vendor.masimo
    Masimo Corp
    Masimo Corporation
vendor.nonin
    Nonin Medical Inc.
vendor.welch-allyn
    Welch Allyn, Inc.
vendor.hill-rom
    Hill-Rom
vendor.edan
    Edan Instruments, Inc.
vendor.criticare
    Criticare Systems, Inc
vendor.fukuda-denshi
    FUKUDA DENSHI CO., LTD.
vendor.mennen
    MENNEN MEDICAL INC.
vendor.suntech
    SunTech Medical, Inc.
vendor.edwards
    Edwards Lifesciences LLC
vendor.cas-medical
    CAS Medical Systems, Inc
vendor.mortara
    Mortara Instrument, Inc.
vendor.schiller
    SCHILLER AG
vendor.huntleigh
    Huntleigh Healthcare
vendor.ortivus
    ORTIVUS MEDICAL AB
vendor.cardionet
    CardioNet, Inc
vendor.omron-healthcare
    OMRON HEALTHCARE Co., Ltd.
    Omron Healthcare Co., Ltd
vendor.excel-medical
    Excel Medical Electronics LLC
vendor.cerner
    Cerner Corporation
vendor.alaris-medical
    ALARIS MEDICAL SYSTEMS, INC.
vendor.alaris-inc
    Alaris, Inc.
vendor.carefusion
    Carefusion
vendor.becton-dickinson
    Becton Dickinson
    Becton, Dickinson  and Company
    Becton, Dickinson and Company
vendor.cardinal-health
    Cardinal Health
vendor.baxter
    Baxter International Inc
vendor.bbraun
    B.Braun Melsungen AG
vendor.icu-medical
    ICU Medical, Inc.
vendor.fresenius-vial
    FRESENIUS-VIAL
vendor.ivenix
    Ivenix, Inc.
vendor.qcore
    Q Core Medical Ltd
vendor.qcore-upper
    QCORE Medical
vendor.terumo
    TERUMO CORPORATION
vendor.medtronic
    Medtronic
    Medtronic CRM
    Medtronic Diabetes
vendor.fresenius-medical-care
    FRESENIUS MEDICAL CARE
    Fresenius Medical Care Deutschland GmbH
    Fresenius Medical Care R&D (Shanghai) Co.,Ltd.
vendor.fresenius
vendor.gambro
    Gambro Lundia AB
vendor.nikkiso
    NIKKISO CO., LTD.
    Weigao Nikkiso(Weihai)Dialysis Equipment Co.,Ltd
vendor.toray-medical
    Toray Medical Co.,Ltd
    Toray Medical Company Limited
vendor.maquet-critical-care
    Maquet Critical Care AB
vendor.maquet
    Maquet CardioVascular
    Maquet Cardiopulmonary AG
    Maquet GmbH
vendor.getinge
    Getinge IT Solutions ApS
    Getinge Sterilization AB
vendor.breas
    Breas Medical AB
vendor.resmed
    RESMED PTY LTD
    ResMed Ltd
vendor.puritan-bennett
    PURITAN BENNETT
vendor.viasys
    VIASYS Healthcare GmbH
vendor.air-liquide-medical
    AIR LIQUIDE MEDICAL SYSTEMS
vendor.weinmann
    Weinmann Geräte für Medizin GmbH + Co. KG
vendor.zoll
    ZOLL Lifecor Corporation
vendor.physio-control
    Physio-Control, Inc
vendor.stryker
    Stryker Corporation
vendor.carestream
    Carestream Dental LLC
    Carestream Health, Inc.
    Carestream Healthcare International Company Limited
vendor.fujifilm-healthcare
    FUJIFILM Healthcare Corporation
vendor.sonosite
    SonoSite, Inc.
vendor.sonoscape
    sonoscape
vendor.aloka
    Hitachi Aloka Medical, Ltd.
vendor.medison
    MEDISON Xray Co., Ltd
    Medison Co., Ltd.
vendor.esaote
    ESAOTE S.p.A.
vendor.varex
    Varex Imaging
    Varex Imaging Deutschland AG
    Varex Imaging Finland
vendor.electron-tubes
    CANON ELECTRON TUBES & DEVICES CO., LTD.
    Toshiba Electron Tubes & Devices Co., Ltd.
vendor.karl-storz
    Karl Storz Imaging
vendor.quantum-medical-imaging
    Quantum Medical Imaging
vendor.sirona
    SIRONA DENTAL SYSTEMS GmbH & Co. KG
vendor.duerr-dental
    DUERR DENTAL AG
vendor.planmeca
    Planmeca Oy
vendor.kavo
    KaVo Dental GmbH & Co. KG
vendor.abbott-diagnostics
    Abbott Diagnostics
    Abbott Diagnostics Technologies AS
vendor.abbott-point-of-care
    Abbott Point of Care
vendor.abbott
    Abbott Medical Optics
    Abbott Medical Optics Inc.
vendor.axis-shield
    Axis-Shield PoC AS
vendor.beckman-coulter
    Beckman Coulter Inc
    Beckman Coulter K.K.
vendor.beckman-lab-automation
    BECKMAN LAB. AUTOMATION DIV.
vendor.roche-diagnostics
    Roche Diagnostics
    Roche Diagnostics GmbH
    Roche Diagnostics International Ltd.
vendor.siemens-healthcare-diagnostics
    Siemens Healthcare Diagnostics
    Siemens Healthcare Diagnostics Manufacturing Ltd
    Siemens Healthcare Diagnostics, Inc
vendor.siemens-healthcare
    Siemens AG, Healthcare Sector
vendor.sysmex
    Sysmex Corporation
vendor.radiometer
    Radiometer Medical A/S
    Radiometer Medical ApS
vendor.nipro-diagnostics
    Nipro Diagnostics, Inc
vendor.stratec
    Stratec Biomedical AG
vendor.euroimmun
    EUROIMMUN Medizinische Labordiagnostika AG
vendor.intuitive-surgical
    Intuitive Surgical, Inc
vendor.cmr-surgical
    Cambridge Medical Robotics Ltd
vendor.avateramedical
    avateramedical Mechatronics GmbH
vendor.stereotaxis
    Stereotaxis, Inc.
vendor.biotronik
    BIOTRONIK GmbH & Co
vendor.boston-scientific
    Boston Scientific
vendor.st-jude
    St Jude Medical, Inc.
vendor.bosch-healthcare
    Robert Bosch Healthcare GmbH
    Robert Bosch Healthcare Systems, Inc.
vendor.rauland
    RAULAND-BORG CORPORATION
vendor.tunstall
    Tunstall A/S
    Tunstall Healthcare A/S
    Tunstall Nordic AB
vendor.vocera
    Vocera Communications
vendor.ascom-tateco
    Ascom Tateco AB
vendor.ascom-danmark
    Ascom Danmark A/S
vendor.johnson-controls
    Hitachi Johnson Controls Air
    Johnson Controls IR, Sabroe Controls
    Johnson Controls, Inc.
vendor.siemens-building
    SIEMENS BUILDING
    Siemens Building Technologies AG
    Siemens Building Technologies AG,
vendor.siemens-switzerland
    Siemens Switzerland Ltd., I B T HVP
vendor.honeywell
    HONEYWELL-DATING
    Honeywell
    Honeywell (China) Co., LTD
    Honeywell Analytics
    Honeywell Analytics Ltd
    Honeywell CMSS
    Honeywell Co., Ltd. (KOREA)
    Honeywell GNO
    Honeywell GmbH
    Honeywell International
    Honeywell International Inc
    Honeywell SPS
    Honeywell Safety Products (Shanghai) Co.,Ltd
    Honeywell Safety Products USA, Inc
    Honeywell Sensotec
    Honeywell spol. s.r.o. HTS CZ o.z.
    Honeywell/Intelligrated
    SECURITE COMMUNICATIONS / HONEYWELL
    YAMATAKE-HONEYWELL CO., LTD.
vendor.honeywell-connected-building
    Honeywell Connected Building
vendor.honeywell-ecc
    Honeywell Environmental & Combustion Controls
    Honeywell Environmental & Combustion Controls (Tianjin) Co., Ltd.
vendor.honeywell-fire
    Honeywell Fire System (Shanghai) Co,. Ltd.
vendor.honeywell-life-safety
    Honeywell Life Safety
vendor.honeywell-video
    Honeywell Video Systems
vendor.honeywell-security
    Honeywell Security (China) Co., Ltd.
vendor.schneider-electric
    Schneider Electric
    Schneider Electric (Australia)
    Schneider Electric Asia Pacific Ltd
    Schneider Electric Canada Inc
    Schneider Electric GmbH
    Schneider Electric Japan Holdings Ltd.
    Schneider Electric Korea
    Schneider Electric Motion
    Schneider Electric Motion USA
    Schneider Electric Motion, Inc. USA
    Schneider Electric USA
    Schneider Electric Ultra Terminal
vendor.schneider-electric-hyphen
    Schneider-Electric(China)Co.Ltd,Shenzhen Branch
vendor.apc
    APC by Schneider Electric
vendor.schneider-fire
    Schneider Electric Fire & Security Oy
vendor.trane-technologies
    Trane Technologies
vendor.trane-company
    The Trane Company
vendor.carrier
    Carrier Corporation
vendor.carrier-culoz
    Carrier Culoz SA
vendor.carrier-fire-security
    Carrier Fire & Security
vendor.tridium
    Tridium, Inc.
vendor.automated-logic
    AutomatedLogic Corporation
vendor.delta-controls
    DELTA CONTROLS, INC.
vendor.distech
    Distech Controls
vendor.alerton
    ALERTON TECHNOLOGIES, INC.
vendor.reliable-controls
    Reliable Controls
vendor.kmc-controls
    KMC CONTROLS
vendor.cylon
    Cylon Controls
vendor.belimo
    BELIMO Automation AG
vendor.sauter
    Fr. Sauter AG
    Fr. SauterAG
    Fr.Sauter AG
    Fr.SauterAG
vendor.kieback-peter
    Kieback & Peter GmbH & Co KG
vendor.loytec
    LOYTEC electronics GmbH
vendor.priva
    PRIVA B.V.
vendor.carel
    Carel s.p.a.
vendor.daikin
    DAIKIN INDUSTRIES, LTD.
    Daikin Air-conditioning (Shanghai) Co., Ltd.
    Daikin Europe NV
    Daikin Holdings Singapore Pte Ltd
vendor.lennox
    Lennox International Incorporated
vendor.viessmann
    Viessmann Elektronik GmbH
vendor.bosch-thermotechnik
    Bosch Thermotechnik GmbH
vendor.danfoss
    DEVI - Danfoss A/S
    Danfoss A/S
    Danfoss Drives A/S
    Danfoss Inc.
    Danfoss Power Solutions
    Danfoss Solar Inverters
    Danfoss Turbocor Compressors, Inc
vendor.mitsubishi-electric
    MITSUBISHI ELECTRIC AUTOMATION (CHINA) LTD.
    MITSUBISHI ELECTRIC INDIA PVT. LTD.
    MITSUBISHI ELECTRIC SYSTEM & SERVICE CO.,LTD.
    Mitsubishi Electric Corporation
    Mitsubishi Electric Europe B.V UK Branch
    Mitsubishi Electric India PVT. LTD
    Mitsubishi Electric India Pvt. Ltd.
    Mitsubishi Electric Klimat Transportation Systems S.p.A.
    Mitsubishi Electric Micro-Computer Application Software Co.,Ltd.
    Mitsubishi Electric System & Service Co., Ltd.
    Mitsubishi Electric US, Inc.
vendor.bosch-building-automation
    Bosch Building Automation GmbH
vendor.wago
    WAGO Kontakttechnik GmbH
vendor.beckhoff
    Beckhoff Automation GmbH
vendor.crestron
    CRESTRON ELECTRONICS, INC.
vendor.lutron
    Lutron Electronics Co., Inc.
vendor.landis-gyr
    LANDIS + GYR
    Landis Gyr
    Landis+Gyr
    Landis+Gyr Equipamentos de Medição Ltda
    Landis+Gyr GmbH
    Landis+Gyr Ltd.
vendor.janitza
    Janitza electronics GmbH
vendor.socomec
    SOCOMEC
vendor.axis
    Axis Communications AB
vendor.hikvision
    Hangzhou Hikvision Digital Technology Co.,Ltd.
    Prama Hikvision India Private Limited
vendor.dahua
    ZHEJIANG DAHUA TECHNOLOGYCO.,LTD
    ZHEJIANG DAHUA ZHILIAN CO.,LTD
    Zhejiang Dahua Technology Co., Ltd.
vendor.uniview
    Zhejiang Uniview Technologies Co., Ltd.
    Zhejiang Uniview Technologies Co.,Ltd.
vendor.hanwha-vision
    HANWHA VISION VIETNAM COMPANY LIMITED
    Hanwha Vision VietNam
vendor.samsung-techwin
    SAMSUNG TECHWIN CO.,LTD
vendor.vivotek
    Vivotek, Inc.
vendor.mobotix
    Mobotix AG
vendor.avigilon
    Avigilon Alta
vendor.milesight
    Milesight Taiwan
    Xiamen Milesight IoT Co., Ltd.
vendor.genetec
    Genetec Inc.
vendor.bosch-security
    Bosch Security Systems
    Bosch Security Systems B.V.
    Bosch Security Systems BV
    Bosch Security Systems, Inc.
vendor.bosch-security-zhuhai
    Bosch (zhuhai) Security Systems Company, Ltd.
vendor.bosch-sicherheitssysteme
    Bosch Sicherheitssysteme GmbH
vendor.utc-ccs
    UTC CCS
vendor.hid-global
    Crossmatch Technologies/HID Global
vendor.hid-corporation
    HID Corporation
vendor.paxton
    Paxton Access Ltd
vendor.assa-abloy
    ASSA ABLOY AB
    ASSA ABLOY CÔTE PICARDE
    ASSA ABLOY Korea Co., Ltd Unilock
    ASSA ABLOY Korea Co., Ltd iRevo
    ASSA ABLOY(GuangZhou) Smart Technology Co., Ltd
    Assa Abloy AB - Yale
vendor.dormakaba
    dormakaba Canada Inc. - Keyscan
    dormakaba Deutschland GmbH
    dormakaba USA Inc.
vendor.kaba
    Kaba Benzing GmbH
vendor.bosch-access
    Bosch Access Systems GmbH
vendor.suprema
    Suprema Inc.
vendor.salto
    SALTO SYSTEMS S.L.
vendor.gallagher
    Gallagher Group Limited
vendor.zkteco
    ZKTECO EUROPE
vendor.nedap
    NEDAP N.V.
vendor.hochiki
    Hochiki Corporation
vendor.securiton
    Securiton AG
    Securiton Gmbh
vendor.apollo-fire
    Apollo Fire Detectors Ltd
vendor.kidde
    Walter Kidde Portable Equipment, Inc.
vendor.kone
    Kone OYj
vendor.otis
    OTIS ELEVATOR COMPANY
vendor.otis-technology
    Otis Technology and Development(Shanghai) Co., Ltd.
vendor.schindler
    Schindler - PORT Technology
    Schindler Elevator Ltd.
vendor.thyssenkrupp
    ThyssenKrupp Elevator
    ThyssenKrupp Elevators (Shanghai) Co.,Ltd
    Thyssenkrupp Aufzugswerke GmbH
vendor.signify
    Signify B.V.
vendor.osram
    OSRAM GmbH
    Osram GmbH
vendor.espressif
    Espressif Inc.
    Espressif Systems (Singapore) Pte. Ltd
vendor.raspberry-pi
    Raspberry Pi (Trading) Ltd
    Raspberry Pi Foundation
    Raspberry Pi Trading Ltd
vendor.hi-flying
    Hi-flying electronics technology Co.,Ltd
vendor.tuya
    Tuya Smart Inc.
vendor.shelly
    Shelly Europe LTD
vendor.eq3
    eQ-3 Entwicklung GmbH
vendor.bosch-smart-home
    Robert Bosch Smart Home GmbH
vendor.nest
    Nest Labs Inc.
vendor.ecobee
    ecobee inc
vendor.google
    Google, Inc.
vendor.amazon
    Amazon Technologies Inc.
vendor.amazon-com
    Amazon.com, LLC
vendor.blink
    Blink by Amazon
vendor.sonos
    Sonos, Inc.
vendor.sonos-nocomma
    Sonos Inc.
vendor.roku
    Roku, Inc
    Roku, Inc.
vendor.belkin
    BELKIN COMPONENTS
    Belkin Corporation
    Belkin International Inc.
vendor.cisco-spvtg
    Cisco SPVTG
vendor.dell
    Dell Inc.
vendor.dell-technologies
    Dell Technologies
vendor.dell-emc
    Dell EMC
vendor.hewlett-packard
    Hewlett Packard
vendor.hp-inc
    HP Inc.
vendor.lenovo
    LENOVO(BEIJING)CO., LTD.
    Lenovo
    Lenovo (Beijing) Co., Ltd.
    Lenovo (Beijing) Limited.
    Lenovo Future Communication Technology (Chongqing) Company Limited
    Lenovo Image(Tianjin) Technology Ltd.
    Lenovo India Private Limited
    Lenovo Information Products (Shenzhen)Co.,Ltd
    Notebook Development Lab.  Lenovo Japan Ltd.
    Notebook Development Lab. Lenovo Japan Ltd.
    Vuzix / Lenovo
vendor.lenovo-data-center
    Lenovo Data Center Group
vendor.lenovo-emc
    LenovoEMC Products USA, LLC
vendor.lenovo-mobile
    Lenovo Mobile Communication (Wuhan) Company Limited
    Lenovo Mobile Communication Technology Ltd.
vendor.motorola-mobility
    Motorola Mobility LLC, a Lenovo Company
vendor.apple
    Apple, Inc.
vendor.microsoft
    MICROSOFT CORP.
    Microsoft
    Microsoft Corp.
    Microsoft Corporation
    Microsoft Mobile Oy
    Microsoft Research
    Microsoft XCG
vendor.supermicro
    Super Micro Computer, Inc.
vendor.vmware
    VMware, Inc.
vendor.huawei-device
    Huawei Device Co., Ltd.
vendor.hmd-global
    HMD Global Oy
vendor.kyocera-wireless
    Kyocera Wireless Corp.
vendor.lexmark
    LEXMARK INTERNATIONAL, INC.
vendor.xerox
    XEROX CORP UNIV GRANT PROGRAM
    XEROX CORPORATION
    Xerox Corporation
    Xerox International Partners
vendor.fujifilm-business
    FUJIFILM Business Innovation Corp.
vendor.ricoh
    RICOH COMPANY LTD.
    RICOH COMPANY, LTD.
    RICOH COMPANY,LTD.
    SINDORICOH
    TOHOKU RICOH Co., LTD.
vendor.kyocera-document
    KYOCERA Document Solutions Inc.
vendor.kyocera
    KYOCERA CORPORATION
    KYOCERA Corporation
    KYOCERA Display Corporation
    Kyocera AVX Components (Timisoara) SRL
vendor.konica-minolta
    KONICA MINOLTA HOLDINGS, INC.
vendor.brother
    Brother Industries, LTD.
    Brother industries, LTD.
vendor.epson
    Seiko Epson Corporation
vendor.canon
    CANON FINETECH INC.
    CANON INC.
    Canon Electronic Business Machines (H.K.) Co., Ltd.
    Canon Imaging Systems Inc.
    Canon Korea Inc.
vendor.zebra-corp
    Zebra Technologies Corp.
vendor.zebra
    Zebra Technologies Inc
    Zebra Technologies Inc.
vendor.intermec
    INTERMEC CORPORATION
vendor.hand-held-products
    Hand Held Products Inc
vendor.motorola-solutions
    MOTOROLA SOLUTIONS MALAYSIA SDN. BHD.
    Motorola Solutions Inc.
vendor.polycom
    Polycom
vendor.yealink
    XIAMEN YEALINK NETWORK TECHNOLOGY CO.,LTD
    YEALINK(XIAMEN) NETWORK TECHNOLOGY CO.,LTD.
vendor.snom
    snom technology GmbH
vendor.mitel
    MITEL CORPORATION
    Mitel Corporation
vendor.mitel-networks
    Mitel Networks Corporation
vendor.avaya
    Avaya ECS Ltd
    Avaya Inc
    Avaya LLC
vendor.spectralink
    Spectralink, Inc
vendor.grandstream
    Grandstream Networks Inc
    Grandstream Networks, Inc.
vendor.gigaset
    Siemens Home & Office Comm. Devices
vendor.cisco
    Cisco Systems Inc
    Cisco Systems, Inc
vendor.cisco-meraki
    Cisco Meraki
vendor.linksys
    Cisco-Linksys, LLC
vendor.hpe
    Hewlett Packard Enterprise
vendor.juniper
    Juniper Networks
vendor.mist
    Mist Systems, Inc.
vendor.arista
    Arista Network, Inc.
    Arista Networks
    Arista Networks, Inc.
vendor.extreme
    Extreme Networks Headquarters
    Extreme Networks, Inc.
vendor.ruckus
    Ruckus Wireless
vendor.ubiquiti
    Ubiquiti Inc
vendor.netgear
    NETGEAR
vendor.tp-link
    TP-LINK CORPORATION PTE. LTD.
    TP-LINK TECHNOLOGIES CO.,LTD.
    TP-Link Corporation Limited
    TP-Link Systems Inc
    TP-Link Systems Inc.
vendor.d-link
    D-LINK SYSTEMS, INC.
    D-Link (Shanghai) Limited Corp.
    D-Link (Shanghai)Limited Corp.
    D-Link Corporation
    D-Link International
    D-Link Middle East FZCO
    D-Link （Shanghai）Limited Corp.
vendor.zyxel
    Zyxel Communications Corporation
vendor.allied-telesis
    ALLIED TELESIS INTERNATIONAL CORPORATION
    ALLIED TELESIS K.K.
    ALLIED TELESIS, K.K.
    Allied Telesis (Hong Kong) Ltd.
    Allied Telesis K.K.
    Allied Telesis Labs Ltd
    Allied Telesis Labs, Inc.
    Allied Telesis, Inc.
vendor.brocade
    Brocade Communications Systems LLC
vendor.h3c
    Hangzhou H3C Technologies Co., Limited
    New H3C Intelligence Terminal Co., Ltd.
    New H3C Technologies Co., Ltd
vendor.huawei
    HUAWEI TECHNOLOGIES CO.,LTD
    Huawei Technologies Co., Ltd.
vendor.alcatel-lucent-enterprise
    Alcatel-Lucent Enterprise
    Alcatel-Lucent Enterprise (China)
vendor.mikrotik
    Routerboard.com
vendor.fortinet
    Fortinet, Inc.
vendor.palo-alto
    Palo Alto Networks
vendor.check-point
    Check Point Software Technologies
    Check Point Software Technologies Ltd.
vendor.stormshield
    Stormshield
vendor.sophos
    Sophos Ltd
vendor.watchguard
    WatchGuard Technologies, Inc.
vendor.sonicwall
    SonicWALL
    SonicWall
    Sonicwall
vendor.lantronix
    Lantronix
vendor.silex
    Silex Technology America
    Silex Technology, Inc.
    silex technology, Inc.
vendor.murata
    Murata Manufacturing CO., Ltd.
    Murata Manufacturing Co., Ltd.
vendor.usr-iot
    Jinan USR IOT Technology Co., Ltd.
    Jinan USR IOT Technology Limited
    Shandong USR IOT Technology Limited
vendor.moxa
    MOXA TECHNOLOGIES CORP., LTD.
    Moxa.Inc
vendor.u-blox
    u-blox AG
vendor.laird
    Laird Connectivity
    Laird Technologies
vendor.azurewave
    AzureWave Technologies (Shanghai) Inc.
    AzureWave Technology Inc.
";

fn expected_vendor_matches() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut expected: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut rule = None;
    for line in VENDOR_MATCHES
        .lines()
        .filter(|line| !line.trim().is_empty())
    {
        match line.strip_prefix("    ") {
            Some(name) => {
                let rule = rule.expect("a name comes after its rule");
                expected.entry(rule).or_default().insert(name);
            }
            None => {
                rule = Some(line);
                expected.entry(line).or_default();
            }
        }
    }
    expected
}
