//! The spine: agent → collector → SQLite, outages and refusals (random SIGKILLs: kills.rs).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use hygie_collector::ca::Validity;
use hygie_proto::{MacAddr, Observation, OutboxId, pb};
use hygie_tests::observations::{append_jsonl, devices};
use hygie_tests::pki::{AgentCerts, TestPki};
use hygie_tests::process::{Agent, AgentSpec, Collector};
use hygie_tests::wait_until;
use jiff::{SignedDuration, Timestamp};
use tokio_stream::wrappers::ReceiverStream;

use crate::site::Site;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

fn start() -> Timestamp {
    "2026-11-25T08:00:00Z".parse().unwrap()
}

/// (mac, seen_at) pairs in the history, and how many rows it has.
fn history_pairs(database: &Path) -> (BTreeSet<(i64, i64)>, u64) {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut statement = connection
        .prepare("SELECT mac, seen_at FROM observations")
        .unwrap();
    let pairs: Vec<(i64, i64)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let rows = pairs.len() as u64;
    (pairs.into_iter().collect(), rows)
}

/// Every expected observation is in the inventory exactly as sent, and nothing else is.
fn assert_inventory_matches(collector: &Collector, expected: &[Observation], agent_name: &str) {
    let snapshot = collector.snapshot().unwrap();
    assert_eq!(snapshot.inventory.len(), expected.len(), "asset count");
    let agent = snapshot
        .agents
        .iter()
        .find(|agent| agent.name == agent_name)
        .expect("the agent is registered");
    assert_eq!(agent.site, "chu-test");
    for observation in expected {
        let asset = snapshot
            .inventory
            .get(&observation.mac)
            .unwrap_or_else(|| panic!("{} missing", observation.mac));
        assert_eq!(asset.seen.first(), observation.seen_at);
        assert_eq!(asset.seen.last(), observation.seen_at);
        assert_eq!(
            asset.addresses.keys().copied().collect::<Vec<_>>(),
            observation.ips
        );
        assert_eq!(
            asset.hostnames.keys().cloned().collect::<Vec<_>>(),
            observation.hostname.iter().cloned().collect::<Vec<_>>()
        );
        let services = asset.services();
        assert_eq!(services, observation.services);
        let sighting = &asset.sightings[&agent.id];
        assert_eq!(&*sighting.interface, observation.interface);
    }
}

#[test]
fn observations_travel_from_agent_to_sqlite_exactly() {
    let mut facility = Site::new("");
    facility.collector.start().unwrap();
    let expected = devices(0, 300, start());
    let file = facility.path("observations.jsonl");
    append_jsonl(&file, &expected).unwrap();
    let agent = facility.agent("ward-3", vec![(file, false)]);

    facility.wait_for_history(300, Duration::from_secs(60), &agent);
    assert_inventory_matches(&facility.collector, &expected, "ward-3");
    assert_eq!(facility.collector.snapshot().unwrap().history, 300);

    // The command-line view agrees.
    let output = facility
        .collector
        .command()
        .unwrap()
        .args(["assets", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows.len(), 300);
    assert_eq!(rows[1]["mac"], "00:09:5c:00:00:01");
    assert_eq!(rows[1]["ips"][0], "198.18.0.1");
    assert_eq!(rows[1]["seen_by"][0], "chu-test/ward-3");
}

#[test]
fn outbox_holds_everything_through_an_outage_and_an_agent_crash() {
    let mut facility = Site::new("");
    let file = facility.path("observations.jsonl");
    std::fs::write(&file, "").unwrap();
    // The collector is down from the start.
    let mut agent = facility.agent("ward-3", vec![(file.clone(), true)]);
    for chunk in 0..5 {
        append_jsonl(&file, &devices(chunk * 200, 200, start())).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        if chunk == 2 {
            // The agent itself dies mid-outage; its outbox and file position survive.
            drop(agent);
            agent = Agent::start(
                &facility.path("ward-3"),
                &AgentSpec::new(
                    facility.pki.agent("ward-3", "chu-test").unwrap(),
                    facility.collector.port,
                    vec![(file.clone(), true)],
                ),
            )
            .unwrap();
        }
    }
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            agent.log().contains("collector unreachable")
        }),
        "{}",
        agent.log()
    );
    assert!(!facility.collector.database().exists());

    facility.collector.start().unwrap();
    facility.wait_for_history(1000, Duration::from_secs(60), &agent);
    let (pairs, rows) = history_pairs(&facility.collector.database());
    assert_eq!((rows, pairs.len()), (1000, 1000));
    assert_inventory_matches(&facility.collector, &devices(0, 1000, start()), "ward-3");
}

pub(crate) async fn channel(
    port: u16,
    ca: &Path,
    identity: Option<&AgentCerts>,
) -> Result<Channel, String> {
    let mut tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()));
    if let Some(certs) = identity {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(&certs.cert).unwrap(),
            std::fs::read(&certs.key).unwrap(),
        ));
    }
    Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|error| error.to_string())
}

fn hello() -> pb::AgentMessage {
    pb::AgentMessage {
        kind: Some(pb::agent_message::Kind::Hello(pb::Hello {
            agent_version: "test".into(),
            hostname: "raw-client".into(),
            interfaces: vec![],
            outbox_id: OutboxId(rand::random()).0.to_vec(),
        })),
    }
}

fn batch(sequence: u64, observations: Vec<pb::Observation>) -> pb::AgentMessage {
    pb::AgentMessage {
        kind: Some(pb::agent_message::Kind::Batch(pb::ObservationBatch {
            sequence,
            observations,
        })),
    }
}

/// Opens a stream, sends `messages`, and returns the collector's replies until the stream ends
/// (or the first error, as `Err`).
/// Sends `messages` on one stream and collects up to `replies` answers; scan policies (which a
/// collector may send at any time) are not counted nor kept.
async fn exchange(
    channel: Channel,
    messages: Vec<pb::AgentMessage>,
    replies: usize,
) -> Result<Vec<pb::CollectorMessage>, tonic::Status> {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    for message in messages {
        sender.send(message).await.unwrap();
    }
    let mut client = pb::inventory_client::InventoryClient::new(channel);
    let mut inbound = client
        .report(ReceiverStream::new(receiver))
        .await?
        .into_inner();
    let mut received = Vec::new();
    while received.len() < replies {
        match tokio::time::timeout(Duration::from_secs(10), inbound.message()).await {
            Ok(Ok(Some(pb::CollectorMessage {
                kind: Some(pb::collector_message::Kind::ScanPolicy(_)),
            }))) => {}
            Ok(Ok(Some(message))) => received.push(message),
            Ok(Ok(None)) | Err(_) => break,
            Ok(Err(status)) => return Err(status),
        }
    }
    Ok(received)
}

/// Connecting and saying Hello: either step may fail for a refused client (TLS 1.3 reports a
/// refused client certificate on the first request, not at connect).
async fn try_hello(port: u16, ca: &Path, identity: Option<&AgentCerts>) -> Result<(), String> {
    let channel = channel(port, ca, identity).await?;
    exchange(channel, vec![hello()], 1)
        .await
        .map_err(|status| status.to_string())
        .and_then(|replies| match replies.first() {
            Some(pb::CollectorMessage {
                kind: Some(pb::collector_message::Kind::Welcome(_)),
            }) => Ok(()),
            other => Err(format!("no Welcome: {other:?}")),
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_certificates_do_not_stop_the_collector() {
    let mut facility = Site::new("");
    facility.collector.start().unwrap();
    let port = facility.collector.port;
    let ca = facility.pki.paths.ca_cert.clone();
    let file = facility.path("observations.jsonl");
    append_jsonl(&file, &devices(0, 50, start())).unwrap();
    let good = facility.agent("ward-3", vec![(file.clone(), true)]);

    // Without a certificate, with one from another CA, with an expired one: all refused.
    let other_ca = TestPki::create(&facility.path("other-pki")).unwrap();
    let foreign = other_ca.agent("intruder", "chu-test").unwrap();
    let foreign = AgentCerts {
        ca: ca.clone(),
        ..foreign
    };
    let past = Timestamp::now() - SignedDuration::from_hours(24 * 10);
    let expired = facility
        .pki
        .agent_valid("stale", "chu-test", Validity::days_from(past, 2))
        .unwrap();
    let valid = facility.pki.agent("raw", "chu-test").unwrap();

    assert!(try_hello(port, &ca, None).await.is_err(), "no certificate");
    assert!(
        try_hello(port, &ca, Some(&foreign)).await.is_err(),
        "other CA"
    );
    assert!(
        try_hello(port, &ca, Some(&expired)).await.is_err(),
        "expired"
    );
    assert_eq!(
        try_hello(port, &ca, Some(&valid)).await,
        Ok(()),
        "a valid client is welcome"
    );

    // A real agent with a foreign certificate says why at ERROR, keeps retrying (slowly: the
    // test's backoff is short) and records the refusal in its status file; it keeps running.
    let intruder_dir = facility.path("intruder");
    let mut intruder = Agent::start(
        &intruder_dir,
        &AgentSpec::new(foreign.clone(), port, vec![(file.clone(), false)]),
    )
    .unwrap();
    let refusals = |log: &str| log.matches("uplink refused").count();
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
            refusals(&intruder.log()) >= 2
        }),
        "{}",
        intruder.log()
    );
    let status =
        std::fs::read_to_string(intruder_dir.join("outbox.sqlite.uplink.json")).unwrap_or_default();
    assert!(status.contains("\"refused\""), "status file: {status}");
    assert!(
        intruder.is_running(),
        "collection goes on while the uplink is refused"
    );

    // The collector kept serving the legitimate agent throughout.
    append_jsonl(&file, &devices(50, 50, start())).unwrap();
    facility.wait_for_history(100, Duration::from_secs(30), &good);
    let names: Vec<_> = facility
        .collector
        .snapshot()
        .unwrap()
        .agents
        .into_iter()
        .map(|agent| agent.name)
        .collect();
    assert_eq!(
        names,
        ["raw", "ward-3"],
        "refused clients were never registered"
    );
    assert!(facility.collector.is_running());
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_messages_are_refused_with_the_reason() {
    let mut facility = Site::new("");
    facility.collector.start().unwrap();
    let port = facility.collector.port;
    let ca = facility.pki.paths.ca_cert.clone();
    let certs = facility.pki.agent("raw", "chu-test").unwrap();
    let good = pb::Observation::from(&devices(1, 1, start())[0]);

    // A batch before any Hello.
    let status = exchange(
        channel(port, &ca, Some(&certs)).await.unwrap(),
        vec![batch(1, vec![good.clone()])],
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    // A Hello with a malformed outbox id.
    let mut bad_hello = hello();
    if let Some(pb::agent_message::Kind::Hello(hello)) = &mut bad_hello.kind {
        hello.outbox_id = vec![1, 2, 3];
    }
    let status = exchange(
        channel(port, &ca, Some(&certs)).await.unwrap(),
        vec![bad_hello],
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "hello refused: outbox_id: expected 16 bytes, got 3"
    );

    // A good batch, then one with a multicast MAC: the first is acknowledged, the second refused
    // with its sequence, so an agent can set exactly that batch aside.
    let mut multicast = good.clone();
    multicast.mac = MacAddr::new([0x01, 0x00, 0x5e, 0, 0, 1]).octets().to_vec();
    let replies = exchange(
        channel(port, &ca, Some(&certs)).await.unwrap(),
        vec![
            hello(),
            batch(1, vec![good.clone()]),
            batch(2, vec![good, multicast]),
        ],
        3,
    )
    .await;
    let status = replies.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "batch 2 refused: observations[1].mac: 01:00:5e:00:00:01 is a multicast or broadcast address, not a device"
    );
    assert_eq!(
        status
            .metadata()
            .get(hygie_proto::REJECTED_SEQUENCE_METADATA)
            .unwrap(),
        "2"
    );
    assert!(wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || facility.collector.history_len() == 1
    ));
    assert!(facility.collector.is_running());
}

#[test]
fn a_restored_outbox_takes_a_new_id_instead_of_losing_batches() {
    let mut facility = Site::new("");
    facility.collector.start().unwrap();
    let certs = facility.pki.agent("ward-3", "chu-test").unwrap();
    let agent_dir = facility.path("ward-3");
    let run = |file: &str, first: u32, expected: u64| {
        let path = facility.path(file);
        append_jsonl(&path, &devices(first, 50, start())).unwrap();
        let spec = AgentSpec::new(certs.clone(), facility.collector.port, vec![(path, false)]);
        let mut agent = Agent::start(&agent_dir, &spec).unwrap();
        facility.wait_for_history(expected, Duration::from_secs(60), &agent);
        agent.stop();
        agent
    };
    run("first.jsonl", 0, 50);
    // Back the outbox up (stopped cleanly, so the database file is complete)...
    let outbox = agent_dir.join("outbox.sqlite");
    let backup = facility.path("outbox.backup");
    std::fs::copy(&outbox, &backup).unwrap();
    // ...send more, so the collector's cursor moves past the backup's last batch...
    run("second.jsonl", 50, 100);
    // ...and restore it. Its next batches reuse sequence numbers the collector already holds.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(agent_dir.join(format!("outbox.sqlite{suffix}")));
    }
    std::fs::copy(&backup, &outbox).unwrap();
    let agent = run("third.jsonl", 100, 150);
    assert!(
        agent.log().contains("taking a new outbox id"),
        "{}",
        agent.log()
    );
    let (pairs, rows) = history_pairs(&facility.collector.database());
    assert_eq!((rows, pairs.len()), (150, 150));
}

#[test]
fn the_collector_stops_promptly_with_agents_connected() {
    let mut facility = Site::new("");
    facility.collector.start().unwrap();
    let file = facility.path("observations.jsonl");
    append_jsonl(&file, &devices(0, 10, start())).unwrap();
    let agent = facility.agent("ward-3", vec![(file, true)]);
    facility.wait_for_history(10, Duration::from_secs(30), &agent);
    let started = std::time::Instant::now();
    facility.collector.stop();
    let log = facility.collector.log();
    assert!(log.contains("collector stopped"), "{log}");
    assert!(
        !log.contains("stopping anyway"),
        "streams did not end on shutdown:\n{log}"
    );
    // Generous: the point is that it does not wait for agents to hang up (it used to).
    assert!(
        started.elapsed() < Duration::from_secs(14),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn an_agent_silenced_by_an_impostor_heals_once_the_real_collector_answers() {
    // Whoever answers first on the collector's address holds a certificate of another CA: the
    // agent must refuse it (and send it nothing), then reach the real collector by itself.
    let mut facility = Site::new("");
    let impostor_pki = TestPki::create(&facility.path("impostor-pki")).unwrap();
    let mut impostor = Collector::configure(
        &facility.path("impostor"),
        &impostor_pki.paths,
        facility.collector.port,
        "",
    )
    .unwrap();
    impostor.start().unwrap();
    let file = facility.path("observations.jsonl");
    let expected = devices(0, 40, start());
    append_jsonl(&file, &expected).unwrap();
    let agent = facility.agent("ward-3", vec![(file, false)]);
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
            agent.log().matches("uplink refused").count() >= 2
        }),
        "{}",
        agent.log()
    );
    assert_eq!(
        impostor.history_len(),
        0,
        "nothing was sent to the impostor"
    );
    impostor.stop();
    facility.collector.start().unwrap();
    // No restart of the agent: it retries on its own.
    facility.wait_for_history(40, Duration::from_secs(30), &agent);
    let (pairs, rows) = history_pairs(&facility.collector.database());
    assert_eq!((rows, pairs.len()), (40, 40));
}
