//! Inventory intelligence through the command line, on a real collector fed by a real agent:
//! registry import and its errors, flags and events as the registry changes, explained
//! categories, signed exports verified offline, tamper detection, and hostile device strings in
//! every output format.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::site::Site;
use hygie_proto::{MacAddr, MdnsService, Observation, Source};
use hygie_tests::observations::append_jsonl;
use hygie_tests::process::Agent;
use hygie_tests::wait_until;
use jiff::{SignedDuration, Timestamp};

/// A Philips patient monitor the registry knows.
const MONITOR: &str = "00:09:5c:11:22:01";
/// A Dräger device nobody registered, announcing hostile strings.
const ROGUE: &str = "00:30:e6:11:22:04";
/// A Lexmark printer announcing itself over IPP.
const PRINTER: &str = "00:04:00:aa:bb:cc";
/// A laptop with a private (randomized) address that claims the gateway's address.
const IMPOSTOR: &str = "da:a1:19:11:22:18";
/// Registered, never seen.
const MISSING: &str = "00:80:f4:00:00:99";

const HOSTILE_HOSTNAME: &str = "=cmd|' /c calc'!a0<script>x</script>\u{202e}gpj.exe";
const HOSTILE_TXT: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J<img src=x onerror=alert(1)>";
const HOSTILE_INSTANCE: &str = "+SUM(1)\u{1b}[31m red._http._tcp.local.";

/// The collector these tests run: new assets stay `new` for an hour; one gateway is known.
fn audit_site() -> Site {
    Site::new(
        "[flags]\nnew_window = \"1h\"\n\
         gateways = [{ ip = \"198.18.0.1\", mac = \"00:00:5e:00:01:01\" }]\n",
    )
}

impl Site {
    /// Runs `hygie-collector ARGS` against this site's configuration.
    pub(crate) fn cli(&self, args: &[&str]) -> Output {
        self.collector
            .command()
            .unwrap()
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed; returns its standard output.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "hygie-collector {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn events(&self, mac: &str) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["events", "--mac", mac, "--format", "json"])).unwrap()
    }
}

fn mac(text: &str) -> MacAddr {
    text.parse().unwrap()
}

pub(crate) fn observation(mac_text: &str, ip: &str, seen_at: Timestamp) -> Observation {
    let mut observation = Observation::new(mac(mac_text), seen_at, Source::ArpPassive);
    observation.ips = vec![ip.parse::<IpAddr>().unwrap()];
    observation.interface = "eth0".into();
    observation
}

fn facility_observations(now: Timestamp) -> Vec<Observation> {
    let mut rogue = observation(ROGUE, "198.18.0.14", now);
    rogue.source = Source::Mdns;
    rogue.hostname = Some(HOSTILE_HOSTNAME.into());
    rogue.services = vec![MdnsService {
        instance: HOSTILE_INSTANCE.into(),
        service_type: "_http._tcp.local.".into(),
        port: Some(80),
        txt: BTreeMap::from([("note".to_owned(), Some(HOSTILE_TXT.to_owned()))]),
    }];
    let mut printer = observation(PRINTER, "198.18.0.30", now);
    printer.source = Source::Mdns;
    printer.hostname = Some("prn-ward3.local".into());
    printer.services = vec![MdnsService {
        instance: "Lexmark MX622 Ward 3._ipp._tcp.local.".into(),
        service_type: "_ipp._tcp.local.".into(),
        port: Some(631),
        txt: BTreeMap::from([
            ("ty".to_owned(), Some("Lexmark MX622ade".to_owned())),
            ("pdl".to_owned(), Some("application/pdf".to_owned())),
        ]),
    }];
    vec![
        observation(MONITOR, "198.18.0.11", now),
        rogue,
        printer,
        observation(IMPOSTOR, "198.18.0.1", now + SignedDuration::from_secs(1)),
    ]
}

pub(crate) fn start_agent(site: &Site, observations: &[Observation]) -> Agent {
    let file = site.path("observations.jsonl");
    append_jsonl(&file, observations).unwrap();
    site.agent("ward-3", vec![(file, false)])
}

fn registry_file(site: &Site, name: &str, text: &str) -> PathBuf {
    let path = site.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// No terminal control reaches stdout: no escape, bell or direction override.
fn assert_terminal_safe(text: &str, what: &str) {
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}'] {
        assert!(!text.contains(bad), "{what} printed {bad:?}:\n{text}");
    }
}

#[test]
fn registry_import_reports_every_bad_line_and_imports_nothing_unless_asked() {
    let site = audit_site();
    let csv = registry_file(
        &site,
        "registry.csv",
        "MAC Address,Asset Tag,NAME,Category,Location,Owner,Criticality,Purchase Date\n\
         00:09:5C:11:22:01,BIO-001,IntelliVue MX800,Biomedical,ICU bed 3,Biomed,life critical,2019\n\
         not-a-mac,BIO-002,Pump,biomedical,ICU,Biomed,high,2020\n\
         00:30:e6:11:22:04,BIO-003,Ventilator,lab equipment,ICU,Biomed,high,2020\n\
         00:09:5c:11:22:01,BIO-004,Duplicate,biomedical,ICU,Biomed,high,2021\n\
         00:80:f4:00:00:99,BLD-001,Air handler,building,Roof,Facilities,medium,2018\n",
    );
    let csv_arg = csv.to_str().unwrap();
    let refused = site.cli(&["registry", "import", csv_arg]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("unknown column \"purchase_date\""),
        "{stderr}"
    );
    assert!(stderr.contains("registry.csv:3:"), "{stderr}");
    assert!(
        stderr.contains("registry.csv:4:") && stderr.contains("lab equipment"),
        "{stderr}"
    );
    assert!(
        stderr.contains("registry.csv:5:") && stderr.contains("already appears on line 2"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing imported"), "{stderr}");
    // Nothing was imported (the database may not even exist yet).
    let listed = site.cli(&["registry", "list", "--format", "json"]);
    if listed.status.success() {
        let entries: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
        assert!(entries.is_empty());
    }

    let imported = site.ok(&["registry", "import", csv_arg, "--skip-invalid"]);
    assert!(
        imported.contains("2 added, 0 updated, 0 unchanged; 3 invalid line(s) skipped"),
        "{imported}"
    );
    // Re-importing updates, never duplicates.
    let again = site.ok(&["registry", "import", csv_arg, "--skip-invalid"]);
    assert!(again.contains("0 added, 0 updated, 2 unchanged"), "{again}");
    let changed = registry_file(
        &site,
        "registry-2.csv",
        "mac,location\n00:09:5c:11:22:01,ICU bed 4\n",
    );
    let updated = site.ok(&["registry", "import", changed.to_str().unwrap()]);
    assert!(updated.contains("0 added, 1 updated"), "{updated}");
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&site.ok(&["registry", "list", "--format", "json"])).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["mac"], MONITOR);
    assert_eq!(entries[0]["location"], "ICU bed 4");
    // The short file changed its one column; the others were kept.
    assert_eq!(entries[0]["name"], "IntelliVue MX800");
    assert_eq!(entries[0]["asset_tag"], "BIO-001");

    // A CSV listing can be edited and imported again.
    let listing = site.ok(&["registry", "list", "--format", "csv"]);
    let round_trip = registry_file(&site, "listing.csv", &listing);
    let unchanged = site.ok(&["registry", "import", round_trip.to_str().unwrap()]);
    assert!(
        unchanged.contains("0 added, 0 updated, 2 unchanged"),
        "{unchanged}"
    );

    let removed = site.ok(&["registry", "remove", MISSING]);
    assert!(removed.contains("removed"), "{removed}");
    let missing_again = site.cli(&["registry", "remove", MISSING]);
    assert!(!missing_again.status.success());

    // Unreadable files are refused with the reason.
    let empty = registry_file(&site, "empty.csv", "");
    let refused = site.cli(&["registry", "import", empty.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("empty"));
    let no_mac = registry_file(&site, "no-mac.csv", "name,owner\npump,biomed\n");
    let refused = site.cli(&["registry", "import", no_mac.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no `mac` column"));
}

#[test]
fn flags_events_explanations_and_signed_exports_on_a_live_inventory() {
    let mut site = audit_site();
    site.collector.start().unwrap();
    let registry = registry_file(
        &site,
        "registry.csv",
        &format!(
            "mac,asset_tag,name,category,location,owner,criticality\n\
             {MONITOR},BIO-001,IntelliVue MX800,biomedical,ICU bed 3,Biomed,life_critical\n\
             {MISSING},BLD-001,Air handler,building,Roof,Facilities,medium\n"
        ),
    );
    site.ok(&["registry", "import", registry.to_str().unwrap()]);

    let now = Timestamp::now();
    let agent = start_agent(&site, &facility_observations(now));
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
            site.collector.history_len() >= 4
        }),
        "collector log:\n{}\nagent log:\n{}",
        site.collector.log(),
        agent.log()
    );

    // Flags, as the writer computed them and as the listing shows them.
    let assets: Vec<serde_json::Value> =
        serde_json::from_str(&site.ok(&["assets", "--format", "json"])).unwrap();
    let by_mac: BTreeMap<String, &serde_json::Value> = assets
        .iter()
        .map(|asset| (asset["mac"].as_str().unwrap().to_owned(), asset))
        .collect();
    let flags = |mac: &str| -> Vec<String> {
        by_mac[mac]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|flag| flag.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(flags(MONITOR), ["new"]);
    assert_eq!(flags(ROGUE), ["unmanaged", "new"]);
    assert_eq!(
        flags(IMPOSTOR),
        ["unmanaged", "new", "arp_conflict", "randomized_mac"]
    );
    assert_eq!(by_mac[MISSING]["seen"], false);
    assert_eq!(by_mac[MISSING]["managed"], true);
    // Categories with their evidence.
    assert_eq!(by_mac[MONITOR]["category"], "biomedical");
    assert_eq!(by_mac[PRINTER]["category"], "it");
    assert_eq!(by_mac[PRINTER]["kind"], "printer");
    assert!(
        by_mac[PRINTER]["vendor"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("lexmark")
    );
    assert!(by_mac[IMPOSTOR].get("vendor").is_none());
    let explained = site.ok(&["classify", "--explain", PRINTER]);
    assert!(
        explained.contains("it") && explained.contains("printer"),
        "{explained}"
    );
    assert!(
        explained.contains("ty"),
        "the TXT evidence is shown:\n{explained}"
    );

    // Filters.
    let unmanaged: Vec<serde_json::Value> =
        serde_json::from_str(&site.ok(&["assets", "--unmanaged", "--format", "json"])).unwrap();
    let unmanaged: Vec<&str> = unmanaged
        .iter()
        .map(|a| a["mac"].as_str().unwrap())
        .collect();
    assert_eq!(unmanaged, [PRINTER, ROGUE, IMPOSTOR]);
    let biomedical: Vec<serde_json::Value> = serde_json::from_str(&site.ok(&[
        "assets",
        "--category",
        "biomedical",
        "--site",
        "chu-test",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(biomedical.len(), 2, "{biomedical:?}");

    // Approving the rogue device clears its flag: the running writer sees the registry change.
    let approved = site.ok(&[
        "approve",
        ROGUE,
        "--asset-tag",
        "BIO-777",
        "--category",
        "biomedical",
        "--owner",
        "Biomed",
    ]);
    assert!(approved.contains("registered"), "{approved}");
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
            site.events(ROGUE).iter().any(|event| {
                event["kind"] == "flag_cleared"
                    && event["details"].as_str().unwrap().contains("unmanaged")
            })
        }),
        "no flag_cleared event for the approved device: {:?}\n{}",
        site.events(ROGUE),
        site.collector.log()
    );
    let kinds: Vec<String> = site
        .events(ROGUE)
        .iter()
        .map(|event| event["kind"].as_str().unwrap().to_owned())
        .collect();
    // ROGUE's MAC block (00:30:e6) is a clinical vendor's: once seen it enters its site's scan
    // policy, in the same commit as its first sighting.
    assert_eq!(
        kinds,
        [
            "asset_new",
            "probing_forbidden",
            "registry_added",
            "flag_cleared"
        ]
    );

    // Hostile strings: the terminal outputs defuse them.
    for args in [
        vec!["assets"],
        vec!["asset", ROGUE],
        vec!["classify", "--explain", ROGUE],
        vec!["events"],
        vec!["registry", "list"],
    ] {
        let text = site.ok(&args);
        assert_terminal_safe(&text, &format!("{args:?}"));
    }
    let page = site.ok(&["asset", ROGUE]);
    assert!(
        page.contains("BIO-777") && page.contains("_http._tcp"),
        "{page}"
    );

    // Signed exports, verified offline with the public key alone.
    let key = site.collector.dir.join("pki/signing.pub");
    assert!(key.exists(), "the first start created the signing key");
    let key_arg = key.to_str().unwrap();
    let json_path = site.path("snapshot.json");
    let csv_path = site.path("snapshot.csv");
    let html_path = site.path("report.html");
    for (format, path) in [
        ("json", &json_path),
        ("csv", &csv_path),
        ("html", &html_path),
    ] {
        site.ok(&[
            "export",
            "--format",
            format,
            "--out",
            path.to_str().unwrap(),
        ]);
    }
    for path in [&json_path, &csv_path] {
        let verified = verify_offline(path, &key);
        assert!(
            verified.status.success(),
            "{}",
            String::from_utf8_lossy(&verified.stderr)
        );
        assert!(String::from_utf8_lossy(&verified.stdout).contains("OK"));
    }

    let snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let header = &snapshot["snapshot"];
    assert!(header["taken_at"].is_string());
    assert_eq!(header["counts"]["assets"], 5);
    assert_eq!(header["counts"]["by_flag"]["unmanaged"], 2);
    assert_eq!(header["counts"]["by_category"]["biomedical"], 2);
    let rogue = snapshot["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|asset| asset["mac"] == ROGUE)
        .unwrap();
    // JSON carries the strings as they were (escaped by JSON itself), and the evidence.
    assert_eq!(rogue["hostnames"][0], HOSTILE_HOSTNAME.to_lowercase());
    assert_eq!(rogue["managed"], true);
    for field in [
        "ips",
        "vendor",
        "category",
        "kind",
        "confidence",
        "flags",
        "first_seen",
        "last_seen",
        "services",
        "evidence",
    ] {
        assert!(rogue.get(field).is_some(), "{field} missing: {rogue}");
    }

    // CSV: formulas defused, signatures intact (checked above).
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv.contains("'=cmd|"), "{csv}");
    assert!(!csv.contains(",=cmd") && !csv.contains(",\"=cmd"), "{csv}");
    assert!(!csv.contains('\u{1b}'));
    // HTML: escaped, readable offline, unmanaged first.
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        !html.contains("<script>x") && !html.contains("<img"),
        "HTML not escaped"
    );
    assert!(html.contains("&lt;script&gt;"));
    assert!(!html.contains('\u{1b}') && !html.contains('\u{202e}'));
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script src")
    );
    let unmanaged_at = html.find("Unmanaged assets").unwrap();
    let registered_at = html.find("Registered assets").unwrap();
    assert!(unmanaged_at < registered_at);
    assert!(html[unmanaged_at..registered_at].contains(PRINTER));

    // Tampering is detected, and the first bad row named.
    let tampered = site.path("tampered.json");
    let mut document = snapshot.clone();
    let index = document["assets"]
        .as_array()
        .unwrap()
        .iter()
        .position(|asset| asset["mac"] == PRINTER)
        .unwrap();
    document["assets"][index]["category"] = serde_json::json!("biomedical");
    std::fs::write(&tampered, serde_json::to_string_pretty(&document).unwrap()).unwrap();
    let refused = verify_offline(&tampered, &key);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("row {index} ({PRINTER}) was altered")),
        "{stderr}"
    );
    let tampered_csv = site.path("tampered.csv");
    std::fs::write(&tampered_csv, csv.replacen("BIO-001", "BIO-666", 1)).unwrap();
    let refused = verify_offline(&tampered_csv, &key);
    assert!(String::from_utf8_lossy(&refused.stderr).contains(&format!("({MONITOR}) was altered")));
    // Another key does not verify.
    let other = site.path("other");
    std::fs::create_dir_all(&other).unwrap();
    let other_key = other.join("signing.key");
    hygie_collector::export::signing::ensure_key(&other_key).unwrap();
    let refused = verify_offline(&json_path, &other.join("signing.pub"));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not by the trusted key"));

    // The event chain verifies, and anchors the snapshot; a rewritten event is named.
    let chain = site.ok(&[
        "verify",
        "--events",
        "--snapshot",
        json_path.to_str().unwrap(),
        "--key",
        key_arg,
    ]);
    assert!(
        chain.contains("event chain: OK") && chain.contains("is in the chain"),
        "{chain}"
    );
    // JSON for a terminal escapes what could act on it, and stays the same JSON.
    let page = site.ok(&["asset", ROGUE, "--format", "json"]);
    assert_terminal_safe(&page, "asset --format json");
    let parsed: serde_json::Value = serde_json::from_str(&page).unwrap();
    assert_eq!(parsed["hostnames"][0], HOSTILE_HOSTNAME.to_lowercase());

    // A restart loads the flags as they were: no event repeats them.
    drop(agent);
    let events_before = site.events_count();
    site.collector.stop();
    site.collector.start().unwrap();
    std::thread::sleep(Duration::from_secs(7)); // past the first tick and its flag sweep
    assert_eq!(
        site.events_count(),
        events_before,
        "the restart changed the event log: {:?}",
        site.ok(&["events", "--limit", "10"])
    );
    site.collector.stop();

    // Rewriting an event and recomputing every hash after it links up again, but the seal,
    // signed with a key the attacker does not hold, no longer matches.
    let database = site.collector.database();
    rewrite_event(&database, 2, "{\"flag\":\"stale\"}");
    let broken = site.cli(&["verify", "--events"]);
    assert!(!broken.status.success());
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("the chain was rewritten"), "{stderr}");
    // Editing a row without recomputing is named by the chain itself.
    let connection = rusqlite::Connection::open(&database).unwrap();
    connection
        .execute("UPDATE events SET details = '{}' WHERE id = 3", [])
        .unwrap();
    drop(connection);
    let broken = site.cli(&["verify", "--events"]);
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("event 3"), "{stderr}");
}

impl Site {
    fn events_count(&self) -> usize {
        serde_json::from_str::<Vec<serde_json::Value>>(&self.ok(&["events", "--format", "json"]))
            .unwrap()
            .len()
    }
}

/// Changes event `id`'s details and recomputes the chain from there, as someone with write
/// access to the database but not the signing key could.
fn rewrite_event(database: &Path, id: i64, details: &str) {
    use hygie_collector::audit::{Hash, event_hash};
    let connection = rusqlite::Connection::open(database).unwrap();
    let rows: Vec<(i64, i64, Option<i64>, String, String)> = connection
        .prepare("SELECT id, at, mac, kind, details FROM events WHERE id >= ?1 ORDER BY id")
        .unwrap()
        .query_map([id], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let prev: String = connection
        .query_row("SELECT prev_hash FROM events WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .unwrap();
    let mut prev = Hash::from_hex(&prev).unwrap();
    for (row_id, at, mac, kind, stored) in rows {
        let details = if row_id == id {
            details.to_owned()
        } else {
            stored
        };
        let hash = event_hash(
            prev,
            row_id,
            Timestamp::from_microsecond(at).unwrap(),
            mac.map(|mac| MacAddr::from_u64(mac as u64)),
            &kind,
            &details,
        );
        connection
            .execute(
                "UPDATE events SET details = ?2, prev_hash = ?3, hash = ?4 WHERE id = ?1",
                rusqlite::params![row_id, details, prev.to_hex(), hash.to_hex()],
            )
            .unwrap();
        prev = hash;
    }
}

/// `hygie-collector verify FILE --key PUB` with no configuration at all, as an auditor runs it.
pub(crate) fn verify_offline(file: &Path, key: &Path) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::process::Command::new(hygie_tests::bins::binary("hygie-collector").unwrap())
        .arg("verify")
        .arg(file)
        .arg("--key")
        .arg(key)
        .current_dir(dir.path())
        .output()
        .unwrap()
}
