//! The uplink against a fake collector: a real `hygie.v1` server over mutual TLS (tonic's own,
//! certificates made here with rcgen) that answers as each test scripts it.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use hygie_proto::{ScanPolicy, pb};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

use super::status::{StatusFile, UplinkState, read_status};
use super::{Uplink, UplinkEnd};
use crate::config::{CollectorSettings, UplinkSettings};
use crate::outbox::{Outbox, SharedOutbox};
use crate::policy::PolicyBoard;

/// What the fake collector does with a stream.
#[derive(Debug, Clone, Copy)]
enum Script {
    /// Refuses the Hello itself, as the collector does a Hello it cannot use.
    RefuseHello,
    /// Welcomes the agent, then ends the stream at its first message (a heartbeat) with an
    /// `invalid_argument` that names no batch.
    RefuseAfterWelcome,
    /// Welcomes the agent, sends scan policy version 2, then keeps the stream open.
    SendPolicy,
}

#[derive(Debug)]
struct FakeCollector {
    script: Script,
}

type Outgoing = Pin<Box<dyn Stream<Item = Result<pb::CollectorMessage, Status>> + Send>>;

fn welcome() -> pb::CollectorMessage {
    pb::CollectorMessage {
        kind: Some(pb::collector_message::Kind::Welcome(pb::Welcome {
            agent_name: "ward-3".into(),
            site: "chu-nord".into(),
            max_batch_observations: 500,
            collector_version: "fake".into(),
            last_committed_sequence: 0,
            // Soon, so the agent says something after the Welcome without any observation.
            heartbeat_interval_seconds: 1,
        })),
    }
}

fn policy_v2() -> pb::CollectorMessage {
    let policy = ScanPolicy {
        version: 2,
        ..ScanPolicy::default()
    };
    pb::CollectorMessage {
        kind: Some(pb::collector_message::Kind::ScanPolicy(
            pb::ScanPolicy::from(&policy),
        )),
    }
}

#[tonic::async_trait]
impl pb::inventory_server::Inventory for FakeCollector {
    type ReportStream = Outgoing;

    async fn report(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Outgoing>, Status> {
        let mut inbound = request.into_inner();
        let hello = inbound.message().await?;
        assert!(matches!(
            hello,
            Some(pb::AgentMessage {
                kind: Some(pb::agent_message::Kind::Hello(_))
            })
        ));
        if let Script::RefuseHello = self.script {
            return Err(Status::invalid_argument(
                "hello refused: hostname: too long",
            ));
        }
        let (outgoing, receiver) = mpsc::channel(8);
        let _ = outgoing.send(Ok(welcome())).await;
        let script = self.script;
        tokio::spawn(async move {
            if let Script::SendPolicy = script {
                let _ = outgoing.send(Ok(policy_v2())).await;
            }
            while let Ok(Some(_)) = inbound.message().await {
                if let Script::RefuseAfterWelcome = script {
                    let refusal = Status::invalid_argument(
                        "expected an ObservationBatch or a Heartbeat after the Hello",
                    );
                    let _ = outgoing.send(Err(refusal)).await;
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

/// A CA, the fake collector's identity for 127.0.0.1, and the agent's files in `dir`.
fn pki(dir: &Path) -> (ServerTlsConfig, [std::path::PathBuf; 3]) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, "test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let issue = |name: &str, purpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![purpose];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
        let certificate = params.signed_by(&key, &issuer).unwrap();
        (certificate.pem(), key.serialize_pem())
    };
    let (server_pem, server_key) = issue("collector", ExtendedKeyUsagePurpose::ServerAuth);
    let (agent_pem, agent_key) = issue("ward-3", ExtendedKeyUsagePurpose::ClientAuth);
    let files = [
        dir.join("ca.pem"),
        dir.join("agent.pem"),
        dir.join("agent.key"),
    ];
    for (path, contents) in files.iter().zip([&ca_pem, &agent_pem, &agent_key]) {
        std::fs::write(path, contents).unwrap();
    }
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(server_pem, server_key))
        .client_ca_root(Certificate::from_pem(ca_pem));
    (tls, files)
}

/// A running fake collector and an uplink for it, in `dir`.
async fn uplink(dir: &Path, script: Script, shutdown: &CancellationToken) -> Uplink {
    let (tls, [ca, cert, key]) = pki(dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Server::builder()
        .tls_config(tls)
        .unwrap()
        .add_service(pb::inventory_server::InventoryServer::new(FakeCollector {
            script,
        }))
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            shutdown.clone().cancelled_owned(),
        );
    tokio::spawn(server);
    let collector = CollectorSettings {
        endpoint: format!("https://127.0.0.1:{port}").parse().unwrap(),
        server_name: None,
        ca,
        cert,
        key,
        connect_timeout: Duration::from_secs(5),
    };
    let path = dir.join("outbox.sqlite");
    let outbox = SharedOutbox::new(Outbox::open(&path, 1 << 30).unwrap());
    Uplink::new(
        &collector,
        UplinkSettings::default(),
        outbox,
        Arc::new(Notify::new()),
        PolicyBoard::open(&path),
        StatusFile::new(&path),
    )
    .unwrap()
}

/// The reason the uplink gave up with, refused under `script`.
async fn refusal(script: Script) -> String {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let uplink = uplink(dir.path(), script, &shutdown).await;
    let end = tokio::time::timeout(
        Duration::from_secs(30),
        uplink.give_up_when_refused().run(shutdown.clone()),
    )
    .await
    .expect("the uplink gave up within 30 s");
    shutdown.cancel();
    match end {
        UplinkEnd::Refused(reason) => reason,
        UplinkEnd::Shutdown => panic!("not refused"),
    }
}

#[tokio::test]
async fn a_refused_hello_is_named_a_hello_refusal() {
    let reason = refusal(Script::RefuseHello).await;
    assert_eq!(
        reason,
        "the collector refused this agent's Hello: hello refused: hostname: too long"
    );
}

#[tokio::test]
async fn a_refusal_after_the_welcome_is_not_named_a_hello_refusal() {
    let reason = refusal(Script::RefuseAfterWelcome).await;
    assert!(!reason.contains("refused this agent's Hello"), "{reason}");
    assert_eq!(
        reason,
        "the collector refused a message this agent sent after the Welcome (not one batch it \
         could set aside): expected an ObservationBatch or a Heartbeat after the Hello"
    );
}

#[tokio::test]
async fn the_status_names_the_policy_applied_after_the_welcome() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let uplink = uplink(dir.path(), Script::SendPolicy, &shutdown).await;
    let running = tokio::spawn(uplink.run(shutdown.clone()));
    let outbox = dir.path().join("outbox.sqlite");
    let applied = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(status) = read_status(&outbox)
                && status.policy_version == 2
            {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the status names policy version 2 within 30 s");
    assert_eq!(applied.state, UplinkState::Connected);
    assert_eq!(applied.collector_version.as_deref(), Some("fake"));
    // What `hygie-agent outbox` reads beside it agrees.
    let saved = crate::policy::load(&crate::policy::policy_path(&outbox)).unwrap();
    assert_eq!(saved.version, 2);
    shutdown.cancel();
    assert_eq!(running.await.unwrap(), UplinkEnd::Shutdown);
}
