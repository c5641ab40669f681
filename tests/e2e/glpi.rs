//! Pushes to GLPI end to end: a real inventory (a collector and an agent over mutual TLS), the
//! real `hygie-collector glpi push`, and a stand-in GLPI on 127.0.0.1 that records what arrives
//! and answers as GLPI does (`{"status":"ok"}`, errors, HTTP 500 and 429, an OAuth token
//! endpoint). Every document received is checked against GLPI's schema (shared material beside
//! the repository: ../shared/glpi).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hygie_collector::store::listing::VerdictStatus;
use hygie_collector::store::{InventoryReader, SqliteStore};
use hygie_proto::{MacAddr, MdnsService, Observation, Source};
use hygie_tests::bins::binary;
use hygie_tests::glpi::{Answer, FakeGlpi, Received};
use hygie_tests::observations::append_jsonl;
use hygie_tests::wait_until;
use serde_json::Value;

use crate::site::Site;

/// Philips Medical Systems: a patient monitor, unregistered.
pub(crate) const MONITOR: &str = "00:09:5c:00:10:01";
/// Philips too, announcing a hostile name and identity, unregistered.
pub(crate) const HOSTILE: &str = "00:09:5c:00:10:02";
/// A printer (IPP with its model), registered.
pub(crate) const PRINTER: &str = "00:09:5c:00:10:03";
/// Registered as network equipment.
pub(crate) const NETWORK: &str = "00:09:5c:00:10:04";
/// A randomized MAC (locally administered), unregistered: not pushed by default.
pub(crate) const RANDOM: &str = "02:00:5e:00:10:05";

const HOSTILE_NAME: &str = "=cmd|' /C calc'!A0\u{202e}<script>alert(1)</script>";

/// The devices a push sends (the randomized one is left out).
fn pushed() -> BTreeSet<String> {
    [MONITOR, HOSTILE, PRINTER, NETWORK]
        .iter()
        .map(|mac| device_id(mac))
        .collect()
}

pub(crate) fn device_id(mac: &str) -> String {
    format!("hygie-{:012x}", mac.parse::<MacAddr>().unwrap().to_u64())
}

fn observation(mac: &str, ip: &str, hostname: &str) -> Observation {
    let mut observation = Observation::new(
        mac.parse().unwrap(),
        jiff::Timestamp::now() - jiff::SignedDuration::from_mins(5),
        Source::Mdns,
    );
    observation.ips = vec![ip.parse().unwrap()];
    observation.hostname = Some(hostname.into());
    observation.interface = "eth0".into();
    observation
}

fn observations() -> Vec<Observation> {
    let mut hostile = observation(HOSTILE, "198.18.16.2", HOSTILE_NAME);
    hostile.services = vec![MdnsService {
        instance: "evil._http._tcp.local.".into(),
        service_type: "_http._tcp.local.".into(),
        port: Some(80),
        txt: BTreeMap::from([
            ("usb_MFG".to_owned(), Some("@SUM(1+1)".to_owned())),
            ("usb_MDL".to_owned(), Some("+evil\u{7}model".to_owned())),
        ]),
    }];
    let mut printer = observation(PRINTER, "198.18.16.3", "npi-accueil");
    printer.services = vec![MdnsService {
        instance: "Accueil._ipp._tcp.local.".into(),
        service_type: "_ipp._tcp.local.".into(),
        port: Some(631),
        txt: BTreeMap::from([("ty".to_owned(), Some("Lexmark MX622".to_owned()))]),
    }];
    vec![
        observation(MONITOR, "198.18.16.1", "mon-rea-01"),
        hostile,
        printer,
        observation(NETWORK, "198.18.16.4", "sw-etage-2"),
        observation(RANDOM, "198.18.16.5", "iphone"),
    ]
}

/// Runs `hygie-collector --config CONFIG ARGS`.
pub(crate) fn collector(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(binary("hygie-collector").unwrap())
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

pub(crate) fn text(output: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A site whose inventory holds the devices above, two of them registered, with the verdicts
/// computed; the collector is stopped.
pub(crate) fn inventory(extra_toml: &str) -> Site {
    let mut site = Site::new(extra_toml);
    site.collector.start().unwrap();
    let file = site.path("observations.jsonl");
    append_jsonl(&file, &observations()).unwrap();
    let agent = site.agent("ward-3", vec![(file, false)]);
    site.wait_for_history(5, Duration::from_secs(30), &agent);
    let config = site.path("collector/collector.toml");
    for args in [
        vec![
            "approve",
            PRINTER,
            "--name",
            "Imprimante accueil",
            "--asset-tag",
            "IT-0001",
            "--location",
            "Accueil",
            "--category",
            "it",
        ],
        vec![
            "approve",
            NETWORK,
            "--name",
            "Switch étage 2",
            "--category",
            "network",
        ],
    ] {
        let output = collector(&config, &args);
        assert!(output.status.success(), "{}", text(&output));
    }
    let database = site.collector.database();
    let current = wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        let store = SqliteStore::open_reader(&database).unwrap();
        store.verdict_status().unwrap() == VerdictStatus::Current
            && [PRINTER, NETWORK].iter().all(|mac| {
                store
                    .asset(mac.parse().unwrap())
                    .unwrap()
                    .is_some_and(|view| view.managed)
            })
    });
    assert!(
        current,
        "the verdicts never caught up\n{}",
        site.collector.log()
    );
    drop(agent);
    site.collector.stop();
    site
}

/// A configuration: the site's, with `glpi` appended.
fn config_with(site: &Site, name: &str, glpi: &str) -> PathBuf {
    let base = std::fs::read_to_string(site.path("collector/collector.toml")).unwrap();
    let path = site.path(name);
    std::fs::write(&path, format!("{base}\n{glpi}\n")).unwrap();
    path
}

fn inventory_requests(requests: &[Received]) -> Vec<&Received> {
    requests
        .iter()
        .filter(|request| request.path == "/glpi/front/inventory.php")
        .collect()
}

fn schema() -> jsonschema::Validator {
    let path = std::env::var_os("HYGIE_GLPI_SCHEMA").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/glpi/inventory.schema.json")
        },
        PathBuf::from,
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "the GLPI schema {} ({error}): it comes with the shared material beside the repository",
            path.display()
        )
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&serde_json::from_str(&text).unwrap())
        .unwrap()
}

/// Each document, by deviceid, after checking it against the schema.
fn checked_documents(requests: &[&Received]) -> BTreeMap<String, Value> {
    let schema = schema();
    let mut documents = BTreeMap::new();
    for request in requests {
        let document = request.json();
        let errors: Vec<String> = schema
            .iter_errors(&document)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?} in {document:#}");
        documents.insert(document["deviceid"].as_str().unwrap().to_owned(), document);
    }
    documents
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

#[test]
fn glpi_push_delivers_every_device_once_with_oauth_then_only_what_changed() {
    let site = inventory("");
    let tokens = Arc::new(AtomicUsize::new(0));
    let glpi = {
        let tokens = tokens.clone();
        FakeGlpi::start(move |request| match request.path.as_str() {
            "/glpi/api.php/token" => {
                let number = tokens.fetch_add(1, Ordering::SeqCst) + 1;
                Answer::json(
                    200,
                    &format!(
                        r#"{{"access_token":"tok-{number}","token_type":"Bearer","expires_in":3600}}"#
                    ),
                )
            }
            "/glpi/front/inventory.php" => {
                let bearer = request.header("authorization").unwrap_or_default();
                // The first token is refused (expired, revoked): the push must renew it.
                if bearer == "Bearer tok-1" {
                    Answer::error(401, "Invalid token")
                } else if bearer.starts_with("Bearer tok-") {
                    Answer::ok()
                } else {
                    Answer::error(401, "Authorization header required")
                }
            }
            _ => Answer::error(404, "Not found"),
        })
    };
    let secret = site.path("glpi-oauth.secret");
    std::fs::write(&secret, "s3cr&t=+\n").unwrap();
    let glpi_toml = format!(
        "[glpi]\nurl = \"{}\"\nconcurrency = 1\n[glpi.oauth]\nclient_id = \"hygie\"\nclient_secret_file = \"{}\"\n",
        glpi.url("glpi"),
        secret.display()
    );
    let zlib = config_with(&site, "push-zlib.toml", &glpi_toml);

    let output = collector(&zlib, &["glpi", "push"]);
    assert!(output.status.success(), "{}", text(&output));
    let requests = glpi.take();
    let token_requests: Vec<&Received> = requests
        .iter()
        .filter(|r| r.path == "/glpi/api.php/token")
        .collect();
    assert_eq!(
        token_requests.len(),
        2,
        "one token, then one renewal after the 401"
    );
    for request in &token_requests {
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let form = form(&request.body);
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["client_id"], "hygie");
        assert_eq!(
            form["client_secret"], "s3cr%26t%3D%2B",
            "the secret file's first line, encoded"
        );
        assert_eq!(form["scope"], "inventory");
    }
    let sent = inventory_requests(&requests);
    assert_eq!(
        sent.len(),
        pushed().len() + 1,
        "every device once, and the one refused with the revoked token again"
    );
    let agent_id = std::fs::read_to_string(site.collector.dir.join("glpi-agent-id")).unwrap();
    let agent_id = uuid_text(agent_id.trim());
    for request in &sent {
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.header("content-type"),
            Some("application/x-compress-zlib")
        );
        assert_eq!(request.header("glpi-agent-id"), Some(agent_id.as_str()));
        assert!(
            request
                .header("user-agent")
                .unwrap()
                .starts_with("Hygie-collector/")
        );
    }
    let accepted: Vec<&Received> = sent[1..].to_vec();
    assert!(
        accepted
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer tok-2"))
    );
    let documents = checked_documents(&accepted);
    assert_eq!(documents.keys().cloned().collect::<BTreeSet<_>>(), pushed());
    let itemtype = |mac: &str| {
        documents[&device_id(mac)]["itemtype"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(itemtype(MONITOR), "Unmanaged");
    assert_eq!(itemtype(HOSTILE), "Unmanaged");
    assert_eq!(itemtype(PRINTER), "Printer");
    assert_eq!(itemtype(NETWORK), "NetworkEquipment");
    let monitor = &documents[&device_id(MONITOR)]["content"]["network_device"];
    assert_eq!(monitor["mac"], MONITOR);
    assert_eq!(monitor["ips"], serde_json::json!(["198.18.16.1"]));
    assert_eq!(monitor["name"], "mon-rea-01");
    assert_eq!(monitor["type"], "Unmanaged");
    let printer = &documents[&device_id(PRINTER)]["content"]["network_device"];
    assert_eq!(printer["name"], "Imprimante accueil");
    assert_eq!(printer["assettag"], "IT-0001");
    assert_eq!(printer["model"], "Lexmark MX622");
    let hostile = &documents[&device_id(HOSTILE)]["content"]["network_device"];
    let name = hostile["name"].as_str().unwrap();
    assert!(name.starts_with("'=cmd"), "{name:?}");
    assert!(!name.chars().any(hygie_proto::is_unsafe_char), "{name:?}");
    assert!(
        hostile["manufacturer"]
            .as_str()
            .unwrap()
            .starts_with("'@SUM("),
        "{hostile}"
    );
    assert!(
        hostile["model"].as_str().unwrap().starts_with("'+evil"),
        "{hostile}"
    );

    // Nothing changed: nothing is sent.
    let output = collector(&zlib, &["glpi", "push"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("4 devices selected: 4 unchanged, 0 delivered"),
        "{}",
        text(&output)
    );
    assert!(
        glpi.take().is_empty(),
        "an unchanged inventory sends nothing, not even a token request"
    );

    // --full sends them all again, here as plain JSON, under the same agent id.
    let plain = config_with(
        &site,
        "push-plain.toml",
        &glpi_toml.replace("concurrency = 1", "concurrency = 3\ncompress = false"),
    );
    let output = collector(&plain, &["glpi", "push", "--full"]);
    assert!(output.status.success(), "{}", text(&output));
    let requests = glpi.take();
    let sent = inventory_requests(&requests);
    assert_eq!(sent.len(), pushed().len());
    assert!(
        sent.iter()
            .all(|r| r.header("content-type") == Some("application/json")
                && r.header("glpi-agent-id") == Some(agent_id.as_str()))
    );
    assert_eq!(
        checked_documents(&sent)
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        pushed()
    );
}

/// The UUID as the collector prints it (validated, lower case).
fn uuid_text(text: &str) -> String {
    assert_eq!(text.len(), 36, "{text:?} is not a UUID");
    assert!(
        text.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
        "{text:?}"
    );
    text.to_ascii_lowercase()
}

#[test]
fn glpi_push_retries_failures_refuses_nothing_twice_and_resends_only_what_glpi_refused() {
    let site = inventory("");
    let seen: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let glpi = {
        let seen = seen.clone();
        FakeGlpi::start(move |request| {
            let deviceid = request.json()["deviceid"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mut seen = seen.lock().unwrap();
            let count = seen.entry(deviceid.clone()).or_default();
            *count += 1;
            match (deviceid.as_str(), *count) {
                (id, _) if id == device_id(HOSTILE) => Answer::error(
                    400,
                    "JSON does not validate. Violations:\n[content.network_device.name] \u{1b}[31mtoo long",
                ),
                (id, 1) if id == device_id(PRINTER) => Answer::error(500, "Database error"),
                (id, 1) if id == device_id(NETWORK) => {
                    Answer::error(429, "Too many requests").with_header("Retry-After", "1")
                }
                _ => Answer::ok(),
            }
        })
    };
    let config = config_with(
        &site,
        "push.toml",
        &format!(
            "[glpi]\nurl = \"{}\"\ncompress = false\nattempts = 3\n",
            glpi.url("glpi")
        ),
    );
    let started = Instant::now();
    let output = collector(&config, &["glpi", "push"]);
    assert!(
        !output.status.success(),
        "a refused device makes the push fail\n{}",
        text(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("4 devices selected: 0 unchanged, 3 delivered"),
        "{}",
        text(&output)
    );
    assert!(stderr.contains("1 refused, 0 failed"), "{}", text(&output));
    assert!(
        stderr.contains("JSON does not validate"),
        "GLPI's message is shown\n{}",
        text(&output)
    );
    assert!(
        stderr.contains("\u{fffd}[31mtoo long") && !stderr.contains("\u{1b}[31mtoo long"),
        "GLPI's message is made safe for the terminal\n{}",
        text(&output)
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let counts = seen.lock().unwrap().clone();
    assert_eq!(counts[&device_id(HOSTILE)], 1, "a refusal is not retried");
    assert_eq!(counts[&device_id(PRINTER)], 2, "a 500 is retried");
    assert_eq!(counts[&device_id(NETWORK)], 2, "a 429 is retried");
    assert_eq!(counts[&device_id(MONITOR)], 1);
    checked_documents(&inventory_requests(&glpi.take()));

    // The next push sends only what GLPI did not accept.
    seen.lock().unwrap().clear();
    glpi.respond(|_| Answer::ok());
    let output = collector(&config, &["glpi", "push"]);
    assert!(output.status.success(), "{}", text(&output));
    let sent = glpi.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json()["deviceid"], device_id(HOSTILE));
}

#[test]
fn glpi_push_stops_soon_when_glpi_is_unreachable_and_dry_runs_send_nothing() {
    let site = inventory("");
    // A port nothing listens on.
    let closed = hygie_tests::free_port().unwrap();
    let down = config_with(
        &site,
        "push-down.toml",
        &format!(
            "[glpi]\nurl = \"http://127.0.0.1:{closed}/glpi/\"\nattempts = 2\nconcurrency = 1\n"
        ),
    );
    let started = Instant::now();
    let output = collector(&down, &["glpi", "push"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("GLPI looks unreachable"),
        "{}",
        text(&output)
    );
    assert!(stderr.contains("cannot reach GLPI"), "{}", text(&output));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );

    let glpi = FakeGlpi::start(|_| Answer::ok());
    let config = config_with(
        &site,
        "push.toml",
        &format!("[glpi]\nurl = \"{}\"\n", glpi.url("glpi")),
    );
    let output = collector(&config, &["glpi", "push", "--dry-run"]);
    assert!(output.status.success(), "{}", text(&output));
    let schema = schema();
    let lines: Vec<Value> = String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), pushed().len());
    assert!(lines.iter().all(|document| schema.is_valid(document)));
    let out = site.path("dry");
    let output = collector(
        &config,
        &["glpi", "push", "--dry-run", "--out", out.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", text(&output));
    let files: BTreeSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files,
        pushed().iter().map(|id| format!("{id}.json")).collect()
    );
    assert!(glpi.take().is_empty(), "a dry run sends nothing");
    // ... and records nothing: the real push sends every device.
    let output = collector(&config, &["glpi", "push"]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(inventory_requests(&glpi.take()).len(), pushed().len());
}

#[test]
fn serve_pushes_to_glpi_on_its_schedule() {
    let glpi = FakeGlpi::start(|_| Answer::ok());
    let mut site = Site::new(&format!(
        "[glpi]\nurl = \"{}\"\ninterval = \"1h\"\n",
        glpi.url("glpi")
    ));
    site.collector.start().unwrap();
    let file = site.path("observations.jsonl");
    append_jsonl(&file, &observations()).unwrap();
    let agent = site.agent("ward-3", vec![(file, false)]);
    site.wait_for_history(5, Duration::from_secs(30), &agent);
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let arrived = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        received.lock().unwrap().extend(glpi.take());
        received.lock().unwrap().len() >= 4
    });
    assert!(
        arrived,
        "no scheduled push arrived\n{}",
        site.collector.log()
    );
    let received = received.lock().unwrap();
    let documents = checked_documents(&inventory_requests(&received));
    assert!(
        documents.contains_key(&device_id(MONITOR)),
        "{:?}",
        documents.keys()
    );
    assert!(!documents.contains_key(&device_id(RANDOM)));
    assert!(
        site.collector.log().contains("GLPI push"),
        "{}",
        site.collector.log()
    );
    drop(agent);
    site.collector.stop();
}

#[test]
fn glpi_push_pages_through_an_inventory_larger_than_a_page() {
    const DEVICES: u32 = 700;
    let mut site = Site::new("");
    site.collector.start().unwrap();
    let file = site.path("observations.jsonl");
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    append_jsonl(
        &file,
        &hygie_tests::observations::devices(0, DEVICES, start),
    )
    .unwrap();
    let agent = site.agent("ward-3", vec![(file, false)]);
    site.wait_for_history(u64::from(DEVICES), Duration::from_secs(60), &agent);
    drop(agent);
    site.collector.stop();
    let glpi = FakeGlpi::start(|_| Answer::ok());
    let config = config_with(
        &site,
        "push.toml",
        &format!("[glpi]\nurl = \"{}\"\nconcurrency = 8\n", glpi.url("glpi")),
    );
    let output = collector(&config, &["glpi", "push"]);
    assert!(output.status.success(), "{}", text(&output));
    let sent = glpi.take();
    let ids: BTreeSet<String> = sent
        .iter()
        .map(|request| request.json()["deviceid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        (sent.len(), ids.len()),
        (DEVICES as usize, DEVICES as usize),
        "each device exactly once across the pages"
    );
    let output = collector(&config, &["glpi", "push"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("700 devices selected: 700 unchanged"),
        "{}",
        text(&output)
    );
    assert!(glpi.take().is_empty());
}
