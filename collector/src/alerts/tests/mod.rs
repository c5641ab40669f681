//! The dispatcher against real receivers on 127.0.0.1: syslog over UDP, TCP and TLS parsed
//! field by field, signed webhooks, receivers down and back, restarts, storms, and the read
//! port of a real inventory database.

mod delivery;
mod receivers;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::alert::tests::raised;
use super::core::Candidate;
use super::rules::Rules;
use super::source::{EventSource, SourceFactory};
use super::syslog::tests::{assert_unmanaged_pump, param, parse};
use super::webhook::{Secret, verify};
use super::{AlertSettings, AlertsSection, prepare, state};
use crate::http_client::tests::{make_pki, tls_acceptor};
use crate::inventory::flags::Flag;
use crate::store::StoreError;
use receivers::{Hook, Inbox, Receiver};

/// A scripted event log: `unmanaged` flags raised on event after event.
#[derive(Clone, Default)]
struct Script(Arc<Mutex<Vec<Candidate>>>);

impl Script {
    fn raise(&self, count: usize) {
        let mut events = self.0.lock().unwrap();
        for _ in 0..count {
            let id = i64::try_from(events.len()).unwrap() + 1;
            events.push(Candidate {
                id,
                alert: Some(Box::new(raised(id, Flag::Unmanaged))),
            });
        }
    }

    fn factory(&self) -> SourceFactory {
        let script = self.clone();
        Arc::new(move || Ok(Box::new(script.clone()) as Box<dyn EventSource>))
    }
}

impl EventSource for Script {
    fn head(&mut self) -> Result<i64, StoreError> {
        Ok(i64::try_from(self.0.lock().unwrap().len()).unwrap())
    }

    fn read(
        &mut self,
        first: i64,
        last: i64,
        _rules: &Rules,
    ) -> Result<Vec<Candidate>, StoreError> {
        let events = self.0.lock().unwrap();
        let from = usize::try_from(first - 1).unwrap();
        let to = usize::try_from(last).unwrap().min(events.len());
        Ok(events[from..to].to_vec())
    }
}

fn settings(dir: &Path, sinks: &str) -> AlertSettings {
    let text = format!("poll_interval = \"20ms\"\n{sinks}");
    let section: AlertsSection = toml::from_str(&text).unwrap();
    section.validate(dir).unwrap()
}

/// A sink's TOML with fast retries.
fn sink(name: &str, body: &str) -> String {
    format!("[[sinks]]\nname = \"{name}\"\nmax_retry_interval = \"100ms\"\n{body}\n")
}

fn secret_file(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("webhook.secret");
    std::fs::write(&path, "correct horse battery staple\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

struct Running {
    stopping: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stopping.cancel();
        self.task.await.unwrap();
    }
}

fn start(settings: &AlertSettings, script: &Script) -> Running {
    start_with(settings, script.factory())
}

fn start_with(settings: &AlertSettings, factory: SourceFactory) -> Running {
    let dispatcher = prepare(settings).unwrap();
    let stopping = CancellationToken::new();
    let task = tokio::spawn(dispatcher.run_with(factory, stopping.clone()));
    Running { stopping, task }
}

async fn eventually(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The cursor `sink` saved (0 before its first save). A receiver records a request before it
/// answers: waiting for what it got alone races the sink settling it.
fn settled(settings: &AlertSettings, sink: &str) -> i64 {
    state::load(&settings.state_dir, sink)
        .unwrap()
        .map_or(0, |state| state.progress.cursor)
}

/// Each syslog message parsed, checked against the alert of its event id; returns the ids.
fn check_syslog(inbox: &Inbox) -> Vec<i64> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .map(|message| {
            let (header, params, msg) = parse(message);
            let id: i64 = param(&params, "event_id").parse().unwrap();
            let expected = raised(id, Flag::Unmanaged);
            assert_eq!(header[0], "<132>1", "local0, warning");
            assert_eq!(header[3], "hygie");
            assert_eq!(header[5], "flag_raised");
            assert_eq!(param(&params, "event_hash"), expected.event_hash.to_hex());
            assert_unmanaged_pump(&params);
            assert!(msg.starts_with("\u{feff}unmanaged device 00:30:e6:11:22:04"));
            id
        })
        .collect()
}

#[tokio::test]
async fn syslog_over_udp_carries_the_structured_data() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::default();
    let receiver = receivers::udp(Arc::clone(&inbox)).await;
    let script = Script::default();
    let settings = settings(
        dir.path(),
        &sink(
            "siem",
            &format!(
                "type = \"syslog\"\ntransport = \"udp\"\naddress = \"{}\"",
                receiver.address
            ),
        ),
    );
    let running = start(&settings, &script);
    tokio::time::sleep(Duration::from_millis(100)).await;
    script.raise(3);
    eventually("3 datagrams", Duration::from_secs(10), || {
        inbox.lock().unwrap().len() >= 3
    })
    .await;
    running.stop().await;
    assert_eq!(check_syslog(&inbox), [1, 2, 3]);
    let saved = state::load(&settings.state_dir, "siem").unwrap().unwrap();
    assert_eq!(saved.progress.cursor, 3);
    assert_eq!(saved.progress.delivered, 3);
}

#[tokio::test]
async fn syslog_over_tcp_is_octet_counted_and_survives_a_receiver_restart() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let receiver = receivers::tcp_on(listener, Arc::clone(&inbox)).await;
    let script = Script::default();
    let settings = settings(
        dir.path(),
        &sink(
            "siem",
            &format!("type = \"syslog\"\ntransport = \"tcp\"\naddress = \"{address}\""),
        ),
    );
    let running = start(&settings, &script);
    tokio::time::sleep(Duration::from_millis(100)).await;
    script.raise(2);
    eventually("2 frames", Duration::from_secs(10), || {
        inbox.lock().unwrap().len() >= 2
    })
    .await;
    // The receiver goes away (its connections close) while events keep coming.
    drop(receiver);
    tokio::time::sleep(Duration::from_millis(100)).await;
    script.raise(3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _back = receivers::tcp_on(
        TcpListener::bind(address).await.unwrap(),
        Arc::clone(&inbox),
    )
    .await;
    eventually("5 distinct events", Duration::from_secs(10), || {
        let mut ids = check_syslog(&inbox);
        ids.sort_unstable();
        ids.dedup();
        ids.len() == 5
    })
    .await;
    running.stop().await;
    let mut ids = check_syslog(&inbox);
    ids.dedup();
    assert_eq!(ids, [1, 2, 3, 4, 5], "in order, each at least once");
}

#[tokio::test]
async fn syslog_over_tls_is_verified_against_the_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(&dir.path().join("siem"));
    let other = make_pki(&dir.path().join("other"));
    let inbox = Inbox::default();
    let handshakes = Arc::new(Mutex::new(Vec::new()));
    let receiver = receivers::tls(
        tls_acceptor(&pki),
        Arc::clone(&inbox),
        Arc::clone(&handshakes),
    )
    .await;
    let script = Script::default();
    let body = |ca: &Path| {
        format!(
            "type = \"syslog\"\ntransport = \"tls\"\naddress = \"127.0.0.1:{}\"\nserver_name = \"localhost\"\nca = \"{}\"",
            receiver.address.port(),
            ca.display()
        )
    };
    let settings = trusted_and_impostor(dir.path(), "siem", [&pki, &other], body);
    let running = start(&settings, &script);
    tokio::time::sleep(Duration::from_millis(100)).await;
    script.raise(3);
    eventually("3 messages over TLS", Duration::from_secs(10), || {
        inbox.lock().unwrap().len() >= 3
    })
    .await;
    // The sink trusting another CA refuses the receiver's certificate: nothing delivered.
    eventually("a refused handshake", Duration::from_secs(10), || {
        handshakes.lock().unwrap().iter().any(Result::is_err)
    })
    .await;
    running.stop().await;
    assert_eq!(check_syslog(&inbox), [1, 2, 3]);
    let trusted = state::load(&settings.state_dir, "siem").unwrap().unwrap();
    assert_eq!(trusted.progress.cursor, 3);
    let error = impostor_error(&settings);
    assert!(error.contains("TLS"), "{error}");
}

/// Sinks `name` and `impostor-ca`, each `body` given a CA file: the first trusting the
/// receiver's CA (`cas[0]`), the second another one.
fn trusted_and_impostor(
    dir: &Path,
    name: &str,
    cas: [&crate::ca::PkiPaths; 2],
    body: impl Fn(&Path) -> String,
) -> AlertSettings {
    settings(
        dir,
        &format!(
            "{}{}",
            sink(name, &body(&cas[0].ca_cert)),
            sink("impostor-ca", &body(&cas[1].ca_cert))
        ),
    )
}

/// What the impostor sink saved: nothing settled, and the error it met.
fn impostor_error(settings: &AlertSettings) -> String {
    let refused = state::load(&settings.state_dir, "impostor-ca")
        .unwrap()
        .unwrap();
    assert_eq!(
        refused.progress.cursor, 0,
        "nothing settled without delivery"
    );
    refused.last_error.unwrap_or_default()
}

fn webhook_sink(name: &str, address: std::net::SocketAddr, dir: &Path, extra: &str) -> String {
    sink(
        name,
        &format!(
            "type = \"webhook\"\nurl = \"http://{address}/hooks/hygie?team=soc\"\nsecret_file = \"{}\"\ntimeout = \"2s\"\n{extra}",
            secret_file(dir).display()
        ),
    )
}

/// Each posted alert verified (method, path, signature, event id) and its id returned.
fn check_posts(hook: &Hook) -> Vec<i64> {
    let secret = Secret::from_bytes(b"correct horse battery staple");
    hook.posted()
        .iter()
        .filter(|posted| posted.json()["type"] == "alert")
        .map(|posted| {
            assert_eq!(posted.method, "POST");
            assert_eq!(posted.path, "/hooks/hygie?team=soc");
            assert_eq!(posted.headers["content-type"], "application/json");
            assert!(
                verify(&secret, &posted.body, &posted.headers["x-hygie-signature"]),
                "bad signature"
            );
            let body = posted.json();
            let id = body["event_id"].as_i64().unwrap();
            assert_eq!(posted.headers["x-hygie-event-id"], id.to_string());
            assert_eq!(
                body["event_hash"],
                raised(id, Flag::Unmanaged).event_hash.to_hex()
            );
            assert_eq!(body["flag"], "unmanaged");
            assert_eq!(body["site"], "chu-nord");
            id
        })
        .collect()
}

#[tokio::test]
async fn webhooks_are_signed_and_a_receiver_down_then_back_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on yet.
    let address = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let hook = Hook::new();
    let script = Script::default();
    let settings = settings(dir.path(), &webhook_sink("soc", address, dir.path(), ""));
    let running = start(&settings, &script);
    tokio::time::sleep(Duration::from_millis(100)).await;
    script.raise(4);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Up, but failing (503): retried too.
    hook.status.store(503, Ordering::SeqCst);
    let _receiver: Receiver = hook
        .serve_on(TcpListener::bind(address).await.unwrap())
        .await;
    eventually("a refused attempt", Duration::from_secs(10), || {
        !hook.posted().is_empty()
    })
    .await;
    script.raise(2);
    hook.status.store(200, Ordering::SeqCst);
    eventually("6 distinct events", Duration::from_secs(10), || {
        let mut ids = check_posts(&hook);
        ids.sort_unstable();
        ids.dedup();
        ids.len() == 6 && settled(&settings, "soc") == 6
    })
    .await;
    running.stop().await;
    let mut ids = check_posts(&hook);
    ids.dedup();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    let saved = state::load(&settings.state_dir, "soc").unwrap().unwrap();
    assert_eq!(saved.progress.cursor, 6);
}

#[tokio::test]
async fn a_restart_resends_what_was_not_delivered_and_only_that() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hook = Hook::new();
    let receiver = hook.serve_on(listener).await;
    let script = Script::default();
    let settings = settings(dir.path(), &webhook_sink("soc", address, dir.path(), ""));
    let running = start(&settings, &script);
    tokio::time::sleep(Duration::from_millis(100)).await;
    script.raise(2);
    eventually("2 alerts", Duration::from_secs(10), || {
        check_posts(&hook).len() == 2 && settled(&settings, "soc") == 2
    })
    .await;
    // The receiver goes down; more events come; the collector stops before delivering them.
    drop(receiver);
    script.raise(3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.stop().await;
    assert_eq!(
        state::load(&settings.state_dir, "soc")
            .unwrap()
            .unwrap()
            .progress
            .cursor,
        2
    );
    // Events also arrive while the collector is down.
    script.raise(1);
    let _back = hook
        .serve_on(TcpListener::bind(address).await.unwrap())
        .await;
    let running = start(&settings, &script);
    eventually("6 alerts", Duration::from_secs(10), || {
        check_posts(&hook).len() == 6
    })
    .await;
    running.stop().await;
    assert_eq!(check_posts(&hook), [1, 2, 3, 4, 5, 6], "none twice");
}

#[tokio::test]
async fn a_burst_sends_the_budget_then_a_summary_of_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hook = Hook::new();
    let _receiver = hook.serve_on(listener).await;
    let script = Script::default();
    let settings = settings(
        dir.path(),
        &webhook_sink(
            "soc",
            address,
            dir.path(),
            "burst = 5\nrate_per_minute = 1\nsummary_interval = \"500ms\"",
        ),
    );
    let running = start(&settings, &script);
    tokio::time::sleep(Duration::from_millis(100)).await;
    script.raise(500);
    eventually("a summary", Duration::from_secs(10), || {
        hook.posted()
            .iter()
            .any(|posted| posted.json()["type"] == "suppressed")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.stop().await;
    let posted = hook.posted();
    assert_eq!(check_posts(&hook), [1, 2, 3, 4, 5], "the budget");
    assert_eq!(posted.len(), 6, "the budget and one summary");
    let summary = posted[5].json();
    assert_eq!(summary["count"], 495);
    assert_eq!(summary["first_event_id"], 6);
    assert_eq!(summary["last_event_id"], 500);
    assert!(
        summary["message"]
            .as_str()
            .unwrap()
            .starts_with("495 more alerts suppressed")
    );
    let saved = state::load(&settings.state_dir, "soc").unwrap().unwrap();
    assert_eq!(saved.progress.cursor, 500);
    assert_eq!(saved.progress.suppressed, 495);
}

#[tokio::test]
async fn a_refused_alert_is_skipped_and_a_dead_sink_holds_no_other_back() {
    let dir = tempfile::tempdir().unwrap();
    let refusing = Hook::new();
    refusing.status.store(422, Ordering::SeqCst);
    let refusing_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refusing_address = refusing_listener.local_addr().unwrap();
    let _refusing = refusing.serve_on(refusing_listener).await;
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let alive = Hook::new();
    let alive_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let alive_address = alive_listener.local_addr().unwrap();
    let _alive = alive.serve_on(alive_listener).await;
    let script = Script::default();
    let settings = settings(
        dir.path(),
        &format!(
            "{}{}{}",
            webhook_sink("refusing", refusing_address, dir.path(), ""),
            webhook_sink("dead", dead, dir.path(), ""),
            webhook_sink("alive", alive_address, dir.path(), ""),
        ),
    );
    let running = start(&settings, &script);
    tokio::time::sleep(Duration::from_millis(100)).await;
    script.raise(3);
    eventually("3 alerts at the live sink", Duration::from_secs(10), || {
        check_posts(&alive).len() == 3 && settled(&settings, "alive") == 3
    })
    .await;
    // Settled, not only received: the receiver records a request before it answers.
    eventually("3 refusals settled", Duration::from_secs(10), || {
        state::load(&settings.state_dir, "refusing")
            .unwrap()
            .is_some_and(|state| state.progress.refused == 3)
    })
    .await;
    assert_eq!(refusing.posted().len(), 3, "a refusal is not retried");
    running.stop().await;
    let load = |name: &str| state::load(&settings.state_dir, name).unwrap().unwrap();
    assert_eq!(load("refusing").progress.refused, 3);
    assert_eq!(load("refusing").progress.cursor, 3);
    assert_eq!(load("dead").progress.cursor, 0);
    assert_eq!(load("alive").progress.cursor, 3);
}

#[tokio::test]
async fn alerts_read_through_the_port_carry_the_registry_and_the_asset() {
    use super::source::StoreSource;
    use crate::registry::RegistryFields;
    use crate::store::{Durability, RegistryChange, SqliteStore};
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("inventory.sqlite");
    let mut writer = SqliteStore::open_writer(&database, Durability::Normal).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hook = Hook::new();
    let _receiver = hook.serve_on(listener).await;
    let settings = settings(dir.path(), &webhook_sink("soc", address, dir.path(), ""));
    let path = database.clone();
    let factory: SourceFactory = Arc::new(move || {
        SqliteStore::open_reader(&path)
            .map(|store| Box::new(StoreSource(store)) as Box<dyn EventSource>)
    });
    let running = start_with(&settings, factory);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mac = "00:09:5c:11:22:01".parse().unwrap();
    writer
        .change_registry(
            RegistryChange::Approve {
                mac,
                fields: RegistryFields {
                    name: "IntelliVue \"MX800\"]\u{1b}[2J".into(),
                    site: "chu-nord".into(),
                    category: Some(crate::classify::Category::Biomedical),
                    ..RegistryFields::default()
                },
                do_not_probe: None,
            },
            jiff::Timestamp::now(),
        )
        .unwrap();
    writer
        .change_registry(RegistryChange::Remove { mac }, jiff::Timestamp::now())
        .unwrap();
    eventually("2 registry alerts", Duration::from_secs(10), || {
        hook.posted().len() == 2
    })
    .await;
    running.stop().await;
    let posted = hook.posted();
    let added = posted[0].json();
    assert_eq!(added["kind"], "registry_added");
    assert_eq!(added["mac"], "00:09:5c:11:22:01");
    assert_eq!(added["name"], "IntelliVue \"MX800\"]\u{fffd}[2J");
    assert_eq!(added["site"], "chu-nord");
    assert_eq!(added["category"], "biomedical");
    assert_eq!(added["severity"], "notice");
    assert_eq!(posted[1].json()["kind"], "registry_removed");
    assert_eq!(
        posted[1].json()["event_id"].as_i64().unwrap(),
        added["event_id"].as_i64().unwrap() + 1
    );
}
