//! The clinical scan policy end to end: a collector, an agent's stream over mutual TLS, and
//! the command line. A biomedical device an agent reports is in the policy its site's agents
//! are sent; `policy allow` and `policy deny` change it on the open stream within seconds;
//! every change is in the event log; a restart never sends a lower version.

use std::process::Output;
use std::time::{Duration, Instant};

use hygie_proto::{MacAddr, Observation, OutboxId, ProtectionReason, ScanPolicy, Source, pb};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::site::Site;
use crate::spine::channel;

/// A patient monitor's MAC block (Philips Medical Systems): biomedical by the default rules.
const PUMP: &str = "00:09:5c:11:22:09";
/// An HP block: a workstation, not biomedical.
const DESKTOP: &str = "9c:7b:ef:11:22:02";

fn observation(mac: &str, ip: &str, hostname: &str) -> pb::Observation {
    let mut observation =
        Observation::new(mac.parse().unwrap(), jiff::Timestamp::now(), Source::Mdns);
    observation.ips = vec![ip.parse().unwrap()];
    observation.hostname = Some(hostname.into());
    observation.interface = "eth0".into();
    pb::Observation::from(&observation)
}

/// An agent stream kept open: what it sends, what it receives.
struct Stream {
    _sender: mpsc::Sender<pb::AgentMessage>,
    inbound: Streaming<pb::CollectorMessage>,
}

async fn open(site: &Site, batch: Vec<pb::Observation>) -> Stream {
    let certs = site.pki.agent("ward-3", "chu-test").unwrap();
    let channel = channel(site.collector.port, &certs.ca, Some(&certs))
        .await
        .unwrap();
    let (sender, receiver) = mpsc::channel(8);
    sender
        .send(pb::AgentMessage {
            kind: Some(pb::agent_message::Kind::Hello(pb::Hello {
                agent_version: "test".into(),
                hostname: "policy-client".into(),
                interfaces: vec![],
                outbox_id: OutboxId(rand::random()).0.to_vec(),
            })),
        })
        .await
        .unwrap();
    if !batch.is_empty() {
        sender
            .send(pb::AgentMessage {
                kind: Some(pb::agent_message::Kind::Batch(pb::ObservationBatch {
                    sequence: 1,
                    observations: batch,
                })),
            })
            .await
            .unwrap();
    }
    let inbound = pb::inventory_client::InventoryClient::new(channel)
        .report(ReceiverStream::new(receiver))
        .await
        .unwrap()
        .into_inner();
    Stream {
        _sender: sender,
        inbound,
    }
}

impl Stream {
    /// The next policy that satisfies `wanted`, skipping Welcome, Acks and other policies.
    async fn policy_where(
        &mut self,
        timeout: Duration,
        what: &str,
        wanted: impl Fn(&ScanPolicy) -> bool,
    ) -> ScanPolicy {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = None;
        loop {
            let message = tokio::time::timeout_at(deadline, self.inbound.message())
                .await
                .unwrap_or_else(|_| panic!("no policy {what} within {timeout:?}; last: {last:?}"))
                .unwrap()
                .expect("the stream stays open");
            if let Some(pb::collector_message::Kind::ScanPolicy(policy)) = message.kind {
                let policy = ScanPolicy::try_from(policy).unwrap();
                if wanted(&policy) {
                    return policy;
                }
                last = Some(policy);
            }
        }
    }
}

fn lists(policy: &ScanPolicy, mac: &str) -> Option<ProtectionReason> {
    let mac: MacAddr = mac.parse().unwrap();
    policy
        .devices
        .iter()
        .find(|device| device.mac == mac)
        .map(|device| device.reason)
}

fn cli(site: &Site, args: &[&str]) -> Output {
    let output = site
        .collector
        .command()
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_is_told_what_not_to_probe_and_operators_change_it_live() {
    let mut site =
        Site::new("[[policy.sites]]\nsite = \"chu-test\"\ndo_not_probe = [\"198.18.4.0/24\"]\n");
    site.collector.start().unwrap();
    let mut stream = open(
        &site,
        vec![
            observation(PUMP, "198.18.0.19", "pump-icu-09"),
            observation(DESKTOP, "198.18.0.20", "DESKTOP-AB12CD3"),
        ],
    )
    .await;

    // The pump is protected with the address it used; the workstation is not.
    let first = stream
        .policy_where(Duration::from_secs(20), "listing the pump", |policy| {
            lists(policy, PUMP).is_some()
        })
        .await;
    assert_eq!(lists(&first, PUMP), Some(ProtectionReason::Biomedical));
    assert_eq!(lists(&first, DESKTOP), None);
    let pump = first
        .devices
        .iter()
        .find(|device| device.mac == PUMP.parse::<MacAddr>().unwrap())
        .unwrap();
    assert_eq!(
        pump.addresses,
        vec!["198.18.0.19".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(first.networks, vec!["198.18.4.0/24".parse().unwrap()]);
    assert!(!first.passive_only);

    // An operator allows probing it: the open stream hears so within the writer's tick.
    let asked = Instant::now();
    cli(
        &site,
        &[
            "policy",
            "allow",
            PUMP,
            "--reason",
            "firmware inventory by the biomed team",
        ],
    );
    let allowed = stream
        .policy_where(Duration::from_secs(15), "without the pump", |policy| {
            lists(policy, PUMP).is_none()
        })
        .await;
    eprintln!("allow reached the stream in {:?}", asked.elapsed());
    assert!(allowed.version > first.version);

    // Denying the workstation adds it, at every site.
    cli(
        &site,
        &[
            "policy",
            "deny",
            DESKTOP,
            "--reason",
            "its network card hangs when scanned",
        ],
    );
    let denied = stream
        .policy_where(
            Duration::from_secs(15),
            "listing the workstation",
            |policy| lists(policy, DESKTOP).is_some(),
        )
        .await;
    assert_eq!(lists(&denied, DESKTOP), Some(ProtectionReason::Operator));
    assert_eq!(lists(&denied, PUMP), None);
    assert!(denied.version > allowed.version);

    // What agents are told, as the command line shows it.
    let shown = cli(
        &site,
        &["policy", "show", "--site", "chu-test", "--format", "json"],
    );
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let site_policy = &shown["sites"][0];
    assert_eq!(site_policy["version"], denied.version);
    assert_eq!(site_policy["devices"][0]["mac"], DESKTOP);
    assert_eq!(site_policy["devices"][0]["reasons"][0], "operator");
    assert_eq!(shown["overrides"].as_array().unwrap().len(), 2);

    // Every change is in the event log, about the device it concerns.
    let events = cli(&site, &["events", "--format", "json"]);
    let events: Vec<serde_json::Value> = serde_json::from_slice(&events.stdout).unwrap();
    let probing: Vec<(String, String)> = events
        .iter()
        .filter(|event| event["kind"].as_str().unwrap().starts_with("probing_"))
        .map(|event| {
            (
                event["kind"].as_str().unwrap().to_owned(),
                event["mac"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("probing_forbidden", PUMP),
        ("probing_allowed", PUMP),
        ("probing_permitted", PUMP),
        ("probing_denied", DESKTOP),
        ("probing_forbidden", DESKTOP),
    ]
    .iter()
    .map(|(kind, mac)| ((*kind).to_owned(), (*mac).to_owned()))
    .collect();
    assert_eq!(probing, expected);
    cli(&site, &["verify", "--events"]);

    // After a restart the agent is told the same policy, never under a lower version.
    drop(stream);
    site.collector.stop();
    site.collector.start().unwrap();
    let mut again = open(&site, Vec::new()).await;
    let restarted = again
        .policy_where(Duration::from_secs(20), "after the restart", |_| true)
        .await;
    assert!(
        restarted.version >= denied.version,
        "{} < {}",
        restarted.version,
        denied.version
    );
    assert_eq!(restarted.devices, denied.devices);
    assert_eq!(restarted.networks, denied.networks);
}
