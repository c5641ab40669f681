//! The inventory as of a past moment, through the command line on a real collector fed by a
//! real agent: `assets --at`, `asset --at` and `export --at` show what stood then while the
//! present has moved on, the signed reconstruction verifies offline, and a moment before the
//! history is refused.

use std::time::Duration;

use jiff::Timestamp;

use crate::audit::{observation, start_agent, verify_offline};
use crate::site::Site;

/// A Philips patient monitor, approved after the moment asked about.
const MONITOR: &str = "00:09:5c:11:22:01";
/// A Dräger device nobody ever registered.
const VENTILATOR: &str = "00:30:e6:11:22:04";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

fn managed(listing: &serde_json::Value, mac: &str) -> bool {
    listing
        .as_array()
        .unwrap()
        .iter()
        .find(|asset| asset["mac"] == mac)
        .unwrap_or_else(|| panic!("{mac} not listed: {listing}"))["managed"]
        .as_bool()
        .unwrap()
}

#[test]
fn past_listings_pages_and_signed_reconstructions_show_what_stood_then() {
    let mut site = Site::new("");
    site.collector.start().unwrap();
    let agent = start_agent(
        &site,
        &[
            observation(MONITOR, "198.18.0.11", Timestamp::now()),
            observation(VENTILATOR, "198.18.0.14", Timestamp::now()),
        ],
    );
    site.wait_for_history(2, Duration::from_secs(60), &agent);
    // The moment asked about: both devices seen, neither registered. Times are kept to the
    // microsecond; a second on each side keeps the moment clear of both changes.
    std::thread::sleep(Duration::from_millis(1100));
    let moment = Timestamp::now();
    std::thread::sleep(Duration::from_millis(1100));
    let at = moment.to_string();

    site.ok(&[
        "approve",
        MONITOR,
        "--asset-tag",
        "BIO-001",
        "--category",
        "biomedical",
    ]);
    let present = json(&site.ok(&["assets", "--format", "json"]));
    assert!(managed(&present, MONITOR), "{present}");

    let past = json(&site.ok(&["assets", "--at", &at, "--format", "json"]));
    assert_eq!(past.as_array().unwrap().len(), 2, "{past}");
    assert!(!managed(&past, MONITOR), "{past}");
    assert!(!managed(&past, VENTILATOR), "{past}");
    let unmanaged = json(&site.ok(&["assets", "--at", &at, "--unmanaged", "--format", "json"]));
    assert_eq!(unmanaged.as_array().unwrap().len(), 2, "{unmanaged}");
    let csv = site.ok(&["assets", "--at", &at, "--format", "csv"]);
    assert_eq!(csv.lines().count(), 3, "a header line and two rows:\n{csv}");
    assert!(csv.contains(MONITOR) && csv.contains(VENTILATOR), "{csv}");

    let page = json(&site.ok(&["asset", MONITOR, "--at", &at, "--format", "json"]));
    assert_eq!(page["managed"], false, "{page}");
    assert!(page["registry"].is_null(), "{page}");
    assert_eq!(page["flags"][0], "unmanaged", "{page}");

    // Signed reconstructions, verified offline with the public key alone.
    let key = site.collector.dir.join("pki/signing.pub");
    for format in ["json", "csv"] {
        let out = site.path(&format!("past.{format}"));
        let printed = site.ok(&[
            "export",
            "--at",
            &at,
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(printed.contains("2 assets (2 unmanaged)"), "{printed}");
        assert!(printed.contains("a reconstruction"), "{printed}");
        let verified = verify_offline(&out, &key);
        assert!(
            verified.status.success(),
            "{}",
            String::from_utf8_lossy(&verified.stderr)
        );
    }
    let snapshot = json(&std::fs::read_to_string(site.path("past.json")).unwrap());
    let header = &snapshot["snapshot"];
    assert_eq!(header["counts"]["assets"], 2, "{header}");
    assert_eq!(header["counts"]["managed"], 0, "{header}");
    assert_eq!(header["counts"]["by_flag"]["unmanaged"], 2, "{header}");
    let reconstruction = &header["reconstruction"];
    assert_eq!(
        reconstruction["as_of"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .unwrap(),
        moment,
        "{header}"
    );
    assert!(
        reconstruction["anchor_id"].as_i64().unwrap() >= 2,
        "{header}"
    );
    let html = site.path("past.html");
    site.ok(&[
        "export",
        "--at",
        &at,
        "--format",
        "html",
        "--out",
        html.to_str().unwrap(),
    ]);
    assert!(std::fs::read_to_string(&html).unwrap().contains(VENTILATOR));

    // Before the collector's first record: refused, naming the earliest moment possible, and
    // no file begun.
    let early = site.path("early.json");
    let refused = site.cli(&[
        "export",
        "--at",
        "2001-01-01",
        "--format",
        "json",
        "--out",
        early.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("earliest"), "{stderr}");
    assert!(!early.exists());
    let refused = site.cli(&["assets", "--at", "2001-01-01"]);
    assert!(!refused.status.success());
}
