//! A console on a real inventory: the CA and signing key, assets put in by the real writer
//! (hostile host names among them), accounts of each role, the server on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;

use hygie_proto::{AgentHello, MacAddr, Observation, ObservationBatch, OutboxId, Source};
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::client::Client;
use crate::config::CollectorConfig;
use crate::console::{Console, hash_password};
use crate::identity::AgentIdentity;
use crate::store::{Durability, SqliteStore};

/// The password of every test account.
pub(super) const PASSWORD: &str = "correct horse battery";
/// A pulse oximeter nobody registered (Masimo's IEEE block).
pub(super) const OXIMETER: &str = "00:09:5c:00:00:01";
/// A device with a script for a host name.
pub(super) const SCRIPTED: &str = "00:09:5c:00:00:02";
/// A device with an attribute-breaking host name.
pub(super) const BREAKER: &str = "00:09:5c:00:00:03";
pub(super) const HOSTILE_SCRIPT: &str = "<script>alert(1)</script>";
pub(super) const HOSTILE_ATTRIBUTE: &str = "\"><img src=x onerror=alert(2)>";

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) config: CollectorConfig,
    pub(super) address: SocketAddr,
    ca: Vec<u8>,
    stop: CancellationToken,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Fixture {
    pub(super) fn client(&self) -> Client {
        Client::new(self.address, &self.ca)
    }

    /// A client signed in as `user`.
    pub(super) async fn signed_in(&self, user: &str) -> Client {
        let mut client = self.client();
        let reply = client.login(user, PASSWORD).await;
        assert_eq!(reply.status, 303, "{user} signs in: {}", reply.body);
        client
    }

    pub(super) fn reader(&self) -> SqliteStore {
        SqliteStore::open_reader(&self.config.database).unwrap()
    }
}

fn observation(mac: &str, ip: &str, hostname: &str, now: Timestamp) -> Observation {
    let mut observation = Observation::new(mac.parse::<MacAddr>().unwrap(), now, Source::Dhcp);
    observation.ips = vec![ip.parse().unwrap()];
    observation.hostname = Some(hostname.to_owned());
    observation
}

/// Assets through the real writer, as agents' batches would bring them.
async fn populate(config: &CollectorConfig) {
    // Sealed as serve seals: the auditors' chain check wants the seal.
    let signer = crate::export::signing::Signer25519::load(&config.signing_key).unwrap();
    let store = SqliteStore::open_writer(&config.database, Durability::Normal)
        .unwrap()
        .with_sealer(signer);
    let now = Timestamp::now();
    let clock: crate::ingest::Clock = Arc::new(Timestamp::now);
    let (ingest, writer) = crate::ingest::start_writer(
        store,
        config.writer.clone(),
        crate::classify::Rules::defaults().unwrap(),
        crate::policy::PolicyChannels::new(),
        clock,
        crate::metrics::IngestMetrics::default(),
    )
    .unwrap();
    let outbox = OutboxId([3; 16]);
    let registration = ingest
        .register(
            AgentIdentity::new("ward-3", "chu-nord").unwrap(),
            AgentHello {
                agent_version: "0.1.0".into(),
                hostname: "probe-3".into(),
                interfaces: Vec::new(),
                outbox_id: outbox,
            },
        )
        .await
        .unwrap();
    let batch = ObservationBatch {
        sequence: 1,
        observations: vec![
            observation(OXIMETER, "198.18.3.21", "rad97-icu", now),
            observation(SCRIPTED, "198.18.3.22", HOSTILE_SCRIPT, now),
            observation(BREAKER, "198.18.3.23", HOSTILE_ATTRIBUTE, now),
        ],
    };
    ingest
        .session(registration.agent, outbox)
        .submit(batch)
        .await
        .unwrap()
        .await
        .unwrap()
        .unwrap();
    drop(ingest);
    tokio::task::spawn_blocking(move || writer.join())
        .await
        .unwrap();
}

pub(super) async fn start() -> Fixture {
    start_with("").await
}

/// A console whose `[console]` section also has `console_toml`.
pub(super) async fn start_with(console_toml: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = CollectorConfig::from_toml(
        &format!(
            "data_dir = \"{}\"\n[console]\nlisten = \"127.0.0.1:0\"\n{console_toml}",
            dir.path().join("data").display()
        ),
        std::path::Path::new("/"),
    )
    .unwrap();
    crate::files::create_private_dir(&config.data_dir).unwrap();
    crate::ca::init(
        &config.pki,
        &["localhost".to_owned()],
        &["127.0.0.1".parse().unwrap()],
        false,
        Timestamp::now(),
        30,
        30,
    )
    .unwrap();
    crate::export::signing::ensure_key(&config.signing_key).unwrap();
    populate(&config).await;
    // Sealed, as `user add` seals its events.
    let signer = crate::export::signing::Signer25519::load(&config.signing_key).unwrap();
    let mut store = SqliteStore::open_writer(&config.database, Durability::Normal)
        .unwrap()
        .with_sealer(signer);
    let hash = hash_password(PASSWORD).unwrap();
    for (name, role) in [("vera", "viewer"), ("bruno", "biomed"), ("ada", "auditor")] {
        store
            .add_user(name, role, &hash, "root", Timestamp::now())
            .unwrap();
    }
    let settings = config.console.clone().unwrap();
    let console = Console::bind(&config, &settings).await.unwrap();
    let address = console.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(console.run(stop.clone()));
    let ca = std::fs::read(&config.pki.ca_cert).unwrap();
    Fixture {
        _dir: dir,
        config,
        address,
        ca,
        stop,
    }
}
